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

/*
 * A comparison the store cannot take never costs a window result nor stops the comparisons of
 * other models: refused for good, it is quarantined (file + counter) like a window result;
 * failing for a while (retriable), it is logged and the windows are stored all the same.
 */
describe('comparison write failures (real chDB; a store double refusing model "b"\'s comparisons with a non-retriable StoreError and model "c"\'s with a retriable one)', () => {
  let dir: string;
  let daemon: Daemon;
  let refusals = 0;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'driftd-compare-faults-'));
    const model = (id: string) => ({
      id,
      task: 'binary-classification',
      features: [{ name: 'x', type: 'numeric' }],
      windows: { sizes: ['1m'], allowedLateness: '0s', idleTimeout: '1h' },
      versions: { baselineFallback: 'latest' },
      drift: { minWindowSize: 5 },
      comparison: { champion: '1' },
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
    const store: Store = Object.create(real) as Store;
    store.insertComparisons = async (rows) => {
      if (rows.some((r) => r.model === 'b')) {
        refusals++;
        throw new StoreError('simulated refusal of a comparison', { clickhouseCode: 53 });
      }
      if (rows.some((r) => r.model === 'c')) {
        refusals++;
        throw new StoreError('simulated outage', { unavailable: true, retriable: true });
      }
      return real.insertComparisons(rows);
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
      ['1', '2'].flatMap((version) =>
        Array.from({ length: n }, (_, i) => ({
          model,
          version,
          id: `${model}-${version}-${ts}-${i}`,
          ts: new Date(ts + i).toISOString(),
          features: { x: i % 20 },
          prediction: 0.8,
        })),
      ),
    );
    const res = await daemon.app.inject({ method: 'POST', url: '/api/v1/events', payload });
    expect(res.statusCode).toBe(202);
  };
  const until = async (what: () => Promise<boolean> | boolean, ms = 20_000) => {
    const end = Date.now() + ms;
    while (!(await what())) {
      if (Date.now() > end) throw new Error('timed out');
      await new Promise((r) => setTimeout(r, 50));
    }
  };
  const windows = (model: string) =>
    daemon.store.queryDrift({ model, window: '1m', from: T0, to: T0 + 1 });
  const compared = (model: string) =>
    daemon.store.queryComparisons({ model, from: T0, to: T0 + 1 });

  it("stores every model's windows and a's comparison; quarantines b's; c's outage loses only its comparison", async () => {
    await post(T0, 30);
    await post(T0 + MIN, 20); // closes the first window of both versions of every model
    await until(async () => (await compared('a')).length > 0);
    await until(() => daemon.pipeline.quiescent());
    for (const m of ['a', 'b', 'c']) {
      expect((await windows(m)).map((w) => [w.version, w.eventCount]).sort()).toEqual([
        ['1', 30],
        ['2', 30],
      ]);
    }
    expect(await compared('a')).toMatchObject([
      { champion: '1', challenger: '2', challengerShare: 0.5 },
    ]);
    expect(await compared('b')).toEqual([]);
    expect(await compared('c')).toEqual([]);
    expect(refusals).toBeGreaterThanOrEqual(2);
    // a's comparison went all the way (gauges, the rollback judge), whatever happened to b and c.
    const text = (await daemon.app.inject({ method: 'GET', url: '/metrics' })).body;
    expect(text).toMatch(
      /driftd_version_comparison_drift_detected\{model="a",champion="1",challenger="2",window="1m",feature="x"\} 0/,
    );
    expect(text).not.toMatch(/driftd_version_comparison_drift_detected\{model="[bc]"/);

    const lines = (await readFile(join(dir, 'quarantine', 'version_comparison.jsonl'), 'utf8'))
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(lines.map((l) => [l.kind, l.item.model, l.item.windowStart])).toEqual([
      ['version_comparison', 'b', T0],
    ]);
    const counted = (await daemon.metrics.quarantinedTotal.get()).values.find(
      (v) => v.labels.kind === 'version_comparison',
    );
    expect(counted?.value).toBe(1);

    // The next windows flow as before.
    await post(T0 + 2 * MIN, 10);
    await until(
      async () =>
        (await daemon.store.queryComparisons({ model: 'a', from: T0, to: T0 + 2 * MIN })).length ===
        2,
    );
  });
});
