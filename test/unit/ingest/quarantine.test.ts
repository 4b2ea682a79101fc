import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Registry } from 'prom-client';
import { afterEach, describe, expect, it } from 'vitest';
import { StoreError } from '../../../src/errors.js';
import { createMetrics } from '../../../src/export/metrics.js';
import { createQuarantine, insertOrQuarantine } from '../../../src/ingest/quarantine.js';
import { createLogger } from '../../../src/logger.js';

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function setup(maxBytes?: number) {
  const dir = mkdtempSync(join(tmpdir(), 'driftd-quarantine-'));
  dirs.push(dir);
  const metrics = createMetrics(new Registry(), { version: 'test' });
  const quarantine = createQuarantine({
    dir,
    counter: metrics.quarantinedTotal,
    logger: createLogger('silent'),
    ...(maxBytes === undefined ? {} : { maxBytes }),
  });
  const count = async () =>
    (await metrics.quarantinedTotal.get()).values.reduce((s, v) => s + v.value, 0);
  return { dir, quarantine, count };
}

/** A store double: refuses items named `bad-*` for good, and fails `flaky` times retriably first. */
function fakeInsert(flaky = 0) {
  const written: string[] = [];
  let failures = flaky;
  const insert = async (batch: readonly string[]) => {
    if (failures > 0) {
      failures--;
      throw new StoreError('connection reset', { retriable: true });
    }
    const bad = batch.find((x) => x.startsWith('bad'));
    if (bad) throw new StoreError(`Cannot parse input: ${bad}`, { clickhouseCode: 27 });
    written.push(...batch);
  };
  return { insert, written };
}

describe('quarantine (store double refusing some items)', () => {
  it('writes the good items of a batch and quarantines each refused one with its reason', async () => {
    const { dir, quarantine, count } = setup();
    const store = fakeInsert();
    const done = await insertOrQuarantine(
      ['a', 'bad-1', 'b', 'bad-2', 'c'],
      store.insert,
      quarantine,
      'window_result',
    );
    expect(done).toEqual(['a', 'b', 'c']);
    expect(store.written).toEqual(['a', 'b', 'c']);
    expect(await count()).toBe(2);
    const lines = readFileSync(join(dir, 'window_result.jsonl'), 'utf8').trim().split('\n');
    expect(lines.map((l) => JSON.parse(l))).toMatchObject([
      { kind: 'window_result', reason: 'Cannot parse input: bad-1', code: 27, item: 'bad-1' },
      { kind: 'window_result', reason: 'Cannot parse input: bad-2', code: 27, item: 'bad-2' },
    ]);
  });

  it('hands a retriable failure back to the caller instead of quarantining', async () => {
    const { quarantine, count } = setup();
    const store = fakeInsert(1);
    await expect(insertOrQuarantine(['a'], store.insert, quarantine, 'events')).rejects.toThrow(
      'connection reset',
    );
    expect(await count()).toBe(0);
    expect(await insertOrQuarantine(['a'], store.insert, quarantine, 'events')).toEqual(['a']);
  });

  it('stops keeping items past maxBytes, and still counts them', async () => {
    const { dir, quarantine, count } = setup(300);
    const store = fakeInsert();
    for (let i = 0; i < 10; i++) {
      await insertOrQuarantine([`bad-${i}`], store.insert, quarantine, 'labels');
    }
    expect(await count()).toBe(10);
    const kept = readFileSync(join(dir, 'labels.jsonl'), 'utf8').trim().split('\n');
    expect(kept.length).toBeGreaterThan(0);
    expect(kept.length).toBeLessThan(10);
    expect(readFileSync(join(dir, 'labels.jsonl')).length).toBeLessThanOrEqual(300);
  });
});
