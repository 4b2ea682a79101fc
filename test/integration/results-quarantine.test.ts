import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildProfileFromRows } from '../../src/baseline/index.js';
import { validateConfig } from '../../src/config/index.js';
import { createDaemon, type Daemon } from '../../src/daemon.js';
import { StoreError } from '../../src/errors.js';
import { createStore } from '../../src/store/index.js';
import type { Store } from '../../src/store/types.js';

const T0 = Date.parse('2026-11-22T10:00:00Z');
const MIN = 60_000;

describe('no poison results (real chDB; a store double refusing model "b"\'s window results and model "c"\'s performance results with a non-retriable StoreError)', () => {
  let dir: string;
  let daemon: Daemon;
  let refusals = 0;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'driftd-quarantine-'));
    const model = (id: string) => ({
      id,
      task: 'binary-classification',
      features: [{ name: 'x', type: 'numeric' }],
      windows: { sizes: ['1m'], allowedLateness: '0s', idleTimeout: '1h' },
      drift: { minWindowSize: 5 },
    });
    const config = validateConfig(
      {
        dataDir: dir,
        server: { port: 0 },
        logLevel: 'silent',
        models: [model('a'), model('b'), model('c')],
      },
      { env: {} },
    );
    const real = createStore(config.store);
    // The engine refuses any INSERT holding one of model b's window results or model c's
    // performance results, as it refuses a row it cannot store (TYPE_MISMATCH: not
    // retriable); everything else goes to the real store.
    const store: Store = Object.create(real) as Store;
    store.insertWindowResults = async (rows) => {
      if (rows.some((r) => r.model === 'b')) {
        refusals++;
        throw new StoreError('simulated refusal of a window result', { clickhouseCode: 53 });
      }
      return real.insertWindowResults(rows);
    };
    store.insertPerformance = async (rows) => {
      if (rows.some((r) => r.model === 'c')) {
        refusals++;
        throw new StoreError('simulated refusal of a performance result', { clickhouseCode: 53 });
      }
      return real.insertPerformance(rows);
    };
    daemon = createDaemon(config, { store, tickMs: 100 });
    await daemon.start();
    const rows = Array.from({ length: 200 }, (_, i) => ({
      features: { x: i % 20 },
      prediction: 0.8,
    }));
    for (const m of config.models) {
      await daemon.store.saveBaseline(buildProfileFromRows(m, '1', rows).profile);
    }
    await daemon.pipeline.refreshBaselines();
  });
  afterAll(async () => {
    await daemon?.close();
    await rm(dir, { recursive: true, force: true });
  });

  const post = async (ts: number, n: number) => {
    const payload = ['a', 'b', 'c'].flatMap((model) =>
      Array.from({ length: n }, (_, i) => ({
        model,
        version: '1',
        id: `${model}-${ts}-${i}`,
        ts: new Date(ts + i).toISOString(),
        features: { x: i % 20 },
        prediction: 0.8,
      })),
    );
    const res = await daemon.app.inject({ method: 'POST', url: '/api/v1/events', payload });
    expect(res.statusCode).toBe(202);
  };
  const windowOf = async (model: string, start: number) =>
    (await daemon.store.queryDrift({ model, window: '1m', from: start, to: start + 1 }))[0];
  const until = async (what: () => Promise<boolean> | boolean, ms = 10_000) => {
    const end = Date.now() + ms;
    while (!(await what())) {
      if (Date.now() > end) throw new Error('timed out');
      await new Promise((r) => setTimeout(r, 50));
    }
  };

  it("writes model a's windows, quarantines b's refused ones (file + counter), and never stalls", async () => {
    await post(T0, 30);
    await post(T0 + MIN, 20); // closes the first window of both models: one INSERT for both
    await until(async () => (await windowOf('a', T0)) !== undefined);
    expect((await windowOf('a', T0))?.eventCount).toBe(30);
    expect(refusals).toBeGreaterThan(0);

    await post(T0 + 2 * MIN, 10); // the next windows flow as well
    await until(async () => (await windowOf('a', T0 + MIN)) !== undefined);
    expect((await windowOf('a', T0 + MIN))?.eventCount).toBe(20);
    await until(() => daemon.pipeline.quiescent());

    expect(await windowOf('b', T0)).toBeUndefined();
    const lines = (await readFile(join(dir, 'quarantine', 'window_result.jsonl'), 'utf8'))
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(lines.map((l) => [l.kind, l.item.model, l.item.start, l.item.eventCount])).toEqual([
      ['window_result', 'b', T0, 30],
      ['window_result', 'b', T0 + MIN, 20],
    ]);
    expect(lines[0].reason).toMatch(/simulated refusal/);
    expect(lines[0].code).toBe(53);
    const counted = (await daemon.metrics.quarantinedTotal.get()).values.find(
      (v) => v.labels.kind === 'window_result',
    );
    expect(counted?.value).toBe(2);
    // Quarantined means gone from the queue: no retry keeps hitting the store.
    const before = refusals;
    await new Promise((r) => setTimeout(r, 500));
    expect(refusals).toBe(before);
  });

  it("writes model a's performance and quarantines c's refused one", async () => {
    const payload = ['a', 'c'].flatMap((model) =>
      Array.from({ length: 30 }, (_, i) => ({ model, id: `${model}-${T0}-${i}`, label: i % 2 })),
    );
    const res = await daemon.app.inject({ method: 'POST', url: '/api/v1/labels', payload });
    expect(res.statusCode).toBe(202);
    const perf = (model: string) =>
      daemon.store.queryPerformance({ model, window: '1m', from: T0, to: T0 + 1 });
    await until(async () => (await perf('a')).length > 0);
    expect((await perf('a'))[0]).toMatchObject({ start: T0, labeled: 30 });
    await until(() => daemon.pipeline.quiescent());
    expect(await perf('c')).toEqual([]);
    const lines = (await readFile(join(dir, 'quarantine', 'performance.jsonl'), 'utf8'))
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(lines.map((l) => [l.item.model, l.item.start, l.item.labeled])).toEqual([['c', T0, 30]]);
    const counted = (await daemon.metrics.quarantinedTotal.get()).values.find(
      (v) => v.labels.kind === 'performance',
    );
    expect(counted?.value).toBe(1);
  });
});
