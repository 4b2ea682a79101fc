import { describe, expect, it } from 'vitest';
import { createInputLog } from '../../../src/ingest/input-log.js';

const tick = () => new Promise((r) => setTimeout(r, 0));

describe('input log: positions in arrival order, writes in position order, fail-stop', () => {
  it('writes one group at a time in position order; durable follows', async () => {
    const writes: string[][] = [];
    let release: (() => void) | undefined;
    const log = createInputLog<string>(async (batches) => {
      writes.push([...batches]);
      await new Promise<void>((r) => {
        release = r;
      });
    });
    const a = log.submit('a', log.next());
    log.next();
    const b = log.submit('b', log.next()); // positions 2..3
    const c = log.submit('c', log.next());
    expect(log.recorded).toBe(4);
    expect(log.durable).toBe(0);
    const cut = log.whenDurable(3);
    await tick();
    expect(writes).toEqual([['a']]);
    release!();
    await a;
    expect(log.durable).toBe(1);
    await tick();
    // b and c queued while a was written: one group.
    expect(writes).toEqual([['a'], ['b', 'c']]);
    release!();
    await Promise.all([b, c, cut]);
    expect(log.durable).toBe(4);
    expect(log.idle()).toBe(true);
  });

  it('a failed write fails its group and everything queued behind it, and refuses more until reset', async () => {
    let fail = true;
    let release: (() => void) | undefined;
    const log = createInputLog<string>(async () => {
      await new Promise<void>((r) => {
        release = r;
      });
      if (fail) throw new Error('disk full');
    });
    const failures: unknown[] = [];
    log.onFailure((err) => failures.push(err));
    const a = log.submit('a', log.next());
    await tick();
    const b = log.submit('b', log.next());
    const waiting = log.whenDurable(2);
    release!();
    await expect(a).rejects.toThrow('disk full');
    await expect(b).rejects.toThrow(/earlier raw-event write failed/);
    await expect(waiting).rejects.toThrow();
    expect(failures).toHaveLength(1);
    expect(log.healthy).toBe(false);
    await expect(log.submit('c', 3)).rejects.toThrow(/recovered/);
    expect(log.durable).toBe(0);
    // Rebuilt: positions handed out to failed batches are not reused.
    log.reset(log.recorded);
    fail = false;
    expect(log.next()).toBe(3);
    const d = log.submit('d', 3);
    await tick();
    release!();
    await d;
    expect(log.durable).toBe(3);
  });

  it('abort lets the write in flight land, then fails what is queued', async () => {
    let release: (() => void) | undefined;
    const log = createInputLog<string>(async () => {
      await new Promise<void>((r) => {
        release = r;
      });
    });
    const failures: unknown[] = [];
    log.onFailure((err) => failures.push(err));
    const a = log.submit('a', log.next());
    await tick();
    const b = log.submit('b', log.next());
    log.abort(new Error('unstorable'));
    expect(log.healthy).toBe(false);
    expect(failures).toHaveLength(0);
    release!();
    await a;
    await expect(b).rejects.toThrow();
    expect(failures).toHaveLength(1);
    expect(log.durable).toBe(1);
  });
  it('holdFor: writes wait until that many rows are queued, or a flush; whenDurable only waits', async () => {
    const writes: number[][] = [];
    const log = createInputLog<number>(
      async (batches) => {
        writes.push([...batches]);
      },
      { maxRows: 10, rows: (n) => n },
    );
    log.holdFor(6);
    for (let i = 0; i < 3; i++) log.next();
    const a = log.submit(3, log.recorded);
    const cut = log.whenDurable(3);
    await tick();
    expect(writes).toEqual([]); // 3 < 6 rows, and whenDurable does not force a write
    for (let i = 0; i < 4; i++) log.next();
    const b = log.submit(4, log.recorded);
    await Promise.all([a, b, cut]);
    expect(writes).toEqual([[3, 4]]); // 7 ≥ 6 rows: one INSERT
    log.next();
    const c = log.submit(1, log.recorded);
    await tick();
    expect(writes).toHaveLength(1);
    log.flush();
    await c;
    expect(writes).toEqual([[3, 4], [1]]);
    expect(log.durable).toBe(8);
    // Unheld again: every batch goes at once.
    log.holdFor(0);
    log.next();
    await log.submit(1, log.recorded);
    expect(writes).toHaveLength(3);
  });
});
