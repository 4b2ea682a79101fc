/**
 * POST /api/v1/models/:model/recompute on a real daemon (createDaemon → buildServer, requests
 * through inject()): a window with known drift is closed by the pipeline, then its KS is
 * recomputed exactly in ClickHouse from the raw events against the baseline's reservoir sample.
 * Runs on both drivers: the embedded engine, and the @clickhouse/client driver against the
 * STAND-IN ClickHouse HTTP interface (test/helpers/clickhouse-http.ts; no server can be
 * installed here).
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dkwEpsilon, type RecomputeResult } from '../../src/api/routes/recompute.js';
import { buildProfileFromRows } from '../../src/baseline/index.js';
import { validateConfig } from '../../src/config/index.js';
import { createDaemon, type Daemon } from '../../src/daemon.js';
import { ksTest } from '../../src/stats/ks.js';
import { createClickHouseExecutor, createStore } from '../../src/store/index.js';
import type { Store } from '../../src/store/types.js';
import type { BaselineProfile, NumericProfile } from '../../src/types.js';
import { type ClickHouseStandIn, startClickHouseStandIn } from '../helpers/clickhouse-http.js';

const T0 = Date.parse('2026-11-22T10:00:00Z');
const MINUTE = 60_000;
const TOKEN = 'recompute-token-0123456789';

/** Deterministic standard normals (Box–Muller over a 32-bit LCG). */
function normals(seed: number) {
  let s = seed >>> 0;
  const u = () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return (s + 0.5) / 4294967296;
  };
  return () => Math.sqrt(-2 * Math.log(u())) * Math.cos(2 * Math.PI * u());
}

interface Driver {
  name: string;
  open(path: string): Promise<{ store: Store; stop: () => Promise<void> }>;
}

const DRIVERS: Driver[] = [
  {
    name: 'embedded engine',
    open: async (path) => ({
      store: createStore({ kind: 'embedded', path, rawEventsTtlDays: 30 }),
      stop: async () => {},
    }),
  },
  {
    name: 'ClickHouse server driver via the stand-in HTTP interface',
    open: async (path) => {
      const standIn: ClickHouseStandIn = await startClickHouseStandIn({ path });
      const config = {
        kind: 'clickhouse',
        url: standIn.url,
        database: 'driftd',
        username: 'default',
        password: '',
        requestTimeoutMs: 20_000,
        rawEventsTtlDays: 30,
      } as const;
      return {
        store: createStore(config, { executor: createClickHouseExecutor(config) }),
        stop: () => standIn.close(),
      };
    },
  },
];

describe.each(DRIVERS)('exact KS recompute on the $name', (driver) => {
  let dir: string;
  let daemon: Daemon;
  let stop: () => Promise<void>;
  let baseline: BaselineProfile;
  const sent = { income: [] as number[], age: [] as number[] };

  const post = (body: unknown, auth = true) =>
    daemon.app.inject({
      method: 'POST',
      url: '/api/v1/models/credit-risk/recompute',
      headers: auth ? { authorization: `Bearer ${TOKEN}` } : {},
      payload: body as Record<string, unknown>,
    });

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'driftd-recompute-'));
    const config = validateConfig(
      {
        dataDir: dir,
        server: { host: '127.0.0.1', port: 0, apiTokens: [TOKEN] },
        logLevel: 'silent',
        models: [
          {
            id: 'credit-risk',
            task: 'binary-classification',
            features: [
              { name: 'income', type: 'numeric' },
              { name: 'age', type: 'numeric' },
              { name: 'region', type: 'categorical' },
            ],
            windows: { sizes: ['1m'], allowedLateness: '0s', idleTimeout: '1h' },
            drift: { minWindowSize: 100 },
          },
        ],
      },
      { env: {} },
    );
    const opened = await driver.open(join(dir, 'store'));
    stop = opened.stop;
    daemon = createDaemon(config, { store: opened.store, listen: false, tickMs: 50 });
    await daemon.start();

    // 20 000 training rows: the stored sample (drift.sampleSize = 10 000) is a real subsample.
    const z = normals(11);
    const rows = Array.from({ length: 20_000 }, (_, i) => ({
      income: 50_000 + 10_000 * z(),
      age: Math.round(40 + 10 * z()),
      region: ['EU', 'US'][i % 2],
    }));
    baseline = buildProfileFromRows(config.models[0]!, '3', rows).profile;
    await daemon.store.saveBaseline(baseline);
    await daemon.pipeline.refreshBaselines();

    // Window [T0, T0 + 1m): income shifted by +0.4σ, age unchanged (integer ages: ties).
    const w = normals(12);
    const lines: string[] = [];
    for (let i = 0; i < 800; i++) {
      const income = 50_000 + 10_000 * (w() + 0.4);
      const age = Math.round(40 + 10 * w());
      sent.income.push(income);
      sent.age.push(age);
      lines.push(
        JSON.stringify({
          model: 'credit-risk',
          version: '3',
          id: `p-${i}`,
          ts: new Date(T0 + i * 50).toISOString(),
          features: { income, age, region: i % 3 ? 'EU' : 'US' },
          prediction: 0.5,
        }),
      );
    }
    // The next window's first event moves the watermark past the first window.
    lines.push(
      JSON.stringify({
        model: 'credit-risk',
        version: '3',
        id: 'p-next',
        ts: new Date(T0 + MINUTE + 1).toISOString(),
        features: { income: 50_000, age: 40, region: 'EU' },
        prediction: 0.5,
      }),
    );
    const res = await daemon.app.inject({
      method: 'POST',
      url: '/api/v1/events',
      headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/x-ndjson' },
      payload: lines.join('\n'),
    });
    expect(res.statusCode).toBe(202);
    const deadline = Date.now() + 20_000;
    for (;;) {
      const found = await daemon.store.queryDrift({ model: 'credit-risk', from: T0, to: T0 + 1 });
      if (found.length > 0) break;
      if (Date.now() > deadline) throw new Error('window [T0, T0+1m) never closed');
      await new Promise((r) => setTimeout(r, 50));
    }
  });

  afterAll(async () => {
    await daemon?.close();
    await stop?.();
    await rm(dir, { recursive: true, force: true });
  });

  it('equals ksTest on the same raw values and sample, and lies within the reported tolerance of the streamed KS', async () => {
    const res = await post({ window: '1m', start: new Date(T0).toISOString() });
    expect(res.statusCode).toBe(200);
    const body = res.json() as {
      version: string;
      start: string;
      end: string;
      baselineId: string;
      reference: string;
      results: RecomputeResult[];
    };
    expect(body).toMatchObject({
      version: '3',
      start: new Date(T0).toISOString(),
      end: new Date(T0 + MINUTE).toISOString(),
      baselineId: baseline.id,
    });
    expect(body.reference).toContain('reservoir sample');
    expect(body.results.map((r) => r.feature).sort()).toEqual(['age', 'income']);

    for (const r of body.results) {
      const sample = (baseline.features[r.feature] as NumericProfile).sample;
      expect(sample).toHaveLength(10_000);
      const values = sent[r.feature as 'income' | 'age'];
      const want = ksTest(sample, values);
      expect(r.exact).toMatchObject({
        n: 10_000,
        m: 800,
        method: 'clickhouse kolmogorovSmirnovTest',
        pValueMethod: 'exact',
        lateEvents: 0,
      });
      expect(Math.abs(r.exact!.statistic! - want.statistic)).toBeLessThan(1e-12);
      // Both exact here; ClickHouse's exact p-value agrees with SciPy's to ~1e-5 relative.
      expect(Math.abs(r.exact!.pValue! - want.pValue)).toBeLessThanOrEqual(
        1e-4 * want.pValue + 1e-15,
      );
      expect(r.countsMatch).toBe(true);
      expect(r.streamed.count).toBe(800);
      expect(r.tolerance!.binning).toBe(r.streamed.ksBound);
      expect(r.tolerance!.sample).toBeCloseTo(dkwEpsilon(10_000), 15);
      expect(r.tolerance!.sample).toBeCloseTo(Math.sqrt(Math.log(2000) / 20_000), 15);
      expect(r.difference).toBeCloseTo(r.exact!.statistic! - r.streamed.ksStatistic!, 15);
      expect(Math.abs(r.difference!)).toBeLessThanOrEqual(
        r.tolerance!.binning + r.tolerance!.sample,
      );
      expect(r.withinBound).toBe(true);
      expect(r.skipped).toBeNull();
    }
    const income = body.results.find((r) => r.feature === 'income')!;
    const age = body.results.find((r) => r.feature === 'age')!;
    // The known drift shows on both paths; the undrifted feature does not.
    expect(income.exact!.pValue!).toBeLessThan(1e-6);
    expect(income.streamed.ksStatistic!).toBeGreaterThan(0.1);
    expect(income.exact!.statistic!).toBeGreaterThan(0.1);
    expect(age.exact!.pValue!).toBeGreaterThan(0.001);
  });

  it('recomputes one feature when asked; start may be any time inside the window, as epoch ms', async () => {
    const res = await post({ window: '1m', start: T0 + 30_000, feature: 'income' });
    expect(res.statusCode).toBe(200);
    const body = res.json() as { start: string; results: RecomputeResult[] };
    expect(body.start).toBe(new Date(T0).toISOString());
    expect(body.results.map((r) => r.feature)).toEqual(['income']);
  });

  it('is documented in the OpenAPI document, with bearer auth', async () => {
    const doc = (await daemon.app.inject({ method: 'GET', url: '/openapi.json' })).json() as {
      paths: Record<string, { post?: { security?: unknown; description?: string } }>;
    };
    const op = doc.paths['/api/v1/models/{model}/recompute']?.post;
    expect(op?.security).toEqual([{ bearerAuth: [] }]);
    expect(op?.description).toContain('reservoir sample');
  });

  it('needs the bearer token and names what is wrong', async () => {
    expect((await post({ start: T0 }, false)).statusCode).toBe(401);
    const categorical = await post({ start: T0, feature: 'region' });
    expect(categorical.statusCode).toBe(400);
    expect(categorical.json().message).toContain('numeric');
    const none = await post({ start: T0 + 60 * MINUTE });
    expect(none.statusCode).toBe(404);
    expect(none.json().message).toContain('no closed 1m window');
    expect((await post({ start: T0, window: '7m' })).statusCode).toBe(400);
    expect((await post({ start: 'yesterday' })).statusCode).toBe(400);
    expect((await post({ start: T0, extra: 1 })).statusCode).toBe(400);
    const unknown = await daemon.app.inject({
      method: 'POST',
      url: '/api/v1/models/nope/recompute',
      headers: { authorization: `Bearer ${TOKEN}` },
      payload: { start: T0 },
    });
    expect(unknown.statusCode).toBe(404);
  });
});
