import { describe, expect, it } from 'vitest';
import { createGroupCommit } from '../../../src/ingest/group-commit.js';

/** A write whose completion the test controls, recording each call's rows. */
function controlledWrite() {
  const calls: number[][] = [];
  const pending: Array<{ resolve: () => void; reject: (e: unknown) => void }> = [];
  const write = (rows: readonly number[]) =>
    new Promise<void>((resolve, reject) => {
      calls.push([...rows]);
      pending.push({ resolve, reject });
    });
  return { calls, pending, write };
}

const tick = () => new Promise((r) => setImmediate(r));

describe('createGroupCommit', () => {
  it('writes the first submission at once and coalesces those that arrive while it is in flight', async () => {
    const w = controlledWrite();
    const gc = createGroupCommit(w.write);
    const a = gc.submit([1, 2]);
    const b = gc.submit([3]);
    const c = gc.submit([4, 5]);
    expect(w.calls).toEqual([[1, 2]]);
    w.pending[0]!.resolve();
    await a;
    await tick();
    expect(w.calls).toEqual([
      [1, 2],
      [3, 4, 5],
    ]);
    w.pending[1]!.resolve();
    await Promise.all([b, c]);
  });

  it('a failed insert rejects exactly the submissions it carried; later ones still go', async () => {
    const w = controlledWrite();
    const gc = createGroupCommit(w.write);
    const a = gc.submit([1]);
    const b = gc.submit([2]);
    w.pending[0]!.reject(new Error('boom'));
    await expect(a).rejects.toThrow('boom');
    await tick();
    w.pending[1]!.resolve();
    await expect(b).resolves.toBeUndefined();
    expect(w.calls).toEqual([[1], [2]]);
  });

  it('caps one insert at maxRows without splitting a submission', async () => {
    const w = controlledWrite();
    const gc = createGroupCommit(w.write, { maxRows: 3 });
    const first = gc.submit([0]);
    const rest = [gc.submit([1, 2]), gc.submit([3, 4]), gc.submit([5, 6, 7, 8])];
    for (let i = 0; i < 4; i++) {
      w.pending[i]?.resolve();
      await tick();
    }
    await Promise.all([first, ...rest]);
    expect(w.calls).toEqual([[0], [1, 2], [3, 4], [5, 6, 7, 8]]);
  });

  it('resolves an empty submission without writing', async () => {
    const w = controlledWrite();
    await createGroupCommit(w.write).submit([]);
    expect(w.calls).toEqual([]);
  });
});

describe('createGroupCommit with sized items', () => {
  it('counts maxRows by each item size (pre-encoded batches of rows)', async () => {
    const calls: number[][] = [];
    const gc = createGroupCommit<number>(
      async (items) => {
        calls.push([...items]);
      },
      { maxRows: 10, size: (n) => n },
    );
    // Items are row counts: 4 goes alone (first), then 3 + 5 fit 10, 6 would not.
    await Promise.all([gc.submit([4]), gc.submit([3]), gc.submit([5]), gc.submit([6])]);
    expect(calls).toEqual([[4], [3, 5], [6]]);
  });
});
