import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildProfileFromRows } from '../../src/baseline/index.js';
import { validateConfig } from '../../src/config/index.js';
import { createDaemon, type Daemon } from '../../src/daemon.js';

/** Deterministic standard normals (Box–Muller over a 32-bit LCG). */
function normals(seed: number) {
  let s = seed >>> 0;
  const u = () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return (s + 0.5) / 4294967296;
  };
  return () => Math.sqrt(-2 * Math.log(u())) * Math.cos(2 * Math.PI * u());
}

const T0 = Date.parse('2026-11-22T10:00:00Z');
const MINUTE = 60_000;
const REGIONS = ['EU', 'US', 'APAC'];

function event(i: number, ts: number, z: () => number, shift: number) {
  return {
    model: 'credit-risk',
    version: '3',
    id: `p-${i}`,
    ts: new Date(ts).toISOString(),
    features: {
      income: 50_000 + 10_000 * (z() + shift),
      age: 40 + 10 * z(),
      region: REGIONS[i % 3],
    },
    prediction: 1 / (1 + Math.exp(-z())),
  };
}

describe('daemon end to end on the embedded store (real chDB, real HTTP)', () => {
  let dir: string;
  let daemon: Daemon;
  let url: string;
  const token = 'e2e-token-0123456789abcdef';

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'driftd-e2e-'));
    const config = validateConfig(
      {
        dataDir: dir,
        server: { host: '127.0.0.1', port: 0, apiTokens: [token] },
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
    daemon = createDaemon(config, { tickMs: 100 });
    await daemon.start();
    url = daemon.url!;
    const z = normals(1);
    const rows = Array.from({ length: 5000 }, (_, i) => event(i, T0 - 3_600_000, z, 0));
    const { profile } = buildProfileFromRows(config.models[0]!, '3', rows);
    await daemon.store.saveBaseline(profile);
    await daemon.pipeline.refreshBaselines();
  });

  afterAll(async () => {
    await daemon?.close();
    await rm(dir, { recursive: true, force: true });
  });

  const post = (path: string, body: unknown, auth = true) =>
    fetch(`${url}${path}`, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        ...(auth ? { authorization: `Bearer ${token}` } : {}),
      },
      body: JSON.stringify(body),
    });

  /** GET with the bearer token: with tokens configured, reads need one too. */
  const get = (path: string) =>
    fetch(`${url}${path}`, { headers: { authorization: `Bearer ${token}` } });

  it('refuses reads and writes without the bearer token', async () => {
    const res = await post('/api/v1/events', [], false);
    expect(res.status).toBe(401);
    expect(((await res.json()) as { message: string }).message).toContain('Authorization: Bearer');
    for (const path of ['/api/v1/models', '/api/v1/predictions/p-1']) {
      expect((await fetch(`${url}${path}`)).status, path).toBe(401);
    }
  });

  it('accepts valid events, reports invalid ones per item, and finds the drift in API, store and /metrics', async () => {
    const z = normals(2);
    // Window 1 (10:00–10:01): baseline distribution. Window 2 (10:01–10:02): income +1.5σ.
    const w1 = Array.from({ length: 600 }, (_, i) =>
      event(10_000 + i, T0 + (i * MINUTE) / 600, z, 0),
    );
    const w2 = Array.from({ length: 600 }, (_, i) =>
      event(20_000 + i, T0 + MINUTE + (i * MINUTE) / 600, z, 1.5),
    );
    const bad = [{ ...w1[0], id: 'bad-1', features: { income: 'lots' } }, { model: 'nope' }];
    const res = await post('/api/v1/events', [...w1, ...bad]);
    expect(res.status).toBe(202);
    const report = (await res.json()) as {
      accepted: number;
      rejected: number;
      errors: Array<{ index: number; reason: string }>;
    };
    expect(report).toMatchObject({ accepted: 600, rejected: 2 });
    expect(report.errors.map((e) => [e.index, e.reason])).toEqual([
      [600, 'wrong_type'],
      [601, 'unknown_model'],
    ]);
    // NDJSON for the second window, then one event in window 3 moves the watermark past window 2.
    const ndjson = [...w2, event(30_000, T0 + 2 * MINUTE + 1, z, 0)]
      .map((e) => JSON.stringify(e))
      .join('\n');
    const res2 = await fetch(`${url}/api/v1/events`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-ndjson', authorization: `Bearer ${token}` },
      body: ndjson,
    });
    expect(res2.status).toBe(202);

    const drift = (await (await get(`/api/v1/models/credit-risk/drift?window=1m`)).json()) as {
      windows: Array<{
        start: string;
        eventCount: number;
        features: Array<{
          feature: string;
          test: string;
          drifted: boolean;
          statistic: number;
          threshold: number;
          effect: number;
          effectFloor: number;
          adjustedPValue: number;
          ksStatistic: number;
          ksBound: number;
          statisticBound: number | null;
          boundStraddlesThreshold: boolean;
          unseenRatio: number;
          otherRatio: number;
        }>;
      }>;
    };
    expect(drift.windows.map((w) => [w.start, w.eventCount])).toEqual([
      [new Date(T0).toISOString(), 600],
      [new Date(T0 + MINUTE).toISOString(), 600],
    ]);
    const byName = (w: (typeof drift.windows)[number], f: string) =>
      w.features.find((x) => x.feature === f)!;
    expect(byName(drift.windows[0]!, 'income').drifted).toBe(false);
    expect(byName(drift.windows[1]!, 'income').drifted).toBe(true);
    // 5000 baseline rows: the automatic choice for numeric features is normalised Wasserstein.
    const income = byName(drift.windows[1]!, 'income');
    expect(income.test).toBe('wasserstein');
    // Calibrated: significant after BH at α (threshold) and at least the effect floor.
    expect(income.adjustedPValue).toBeLessThanOrEqual(income.threshold);
    expect(income.effect).toBeGreaterThanOrEqual(income.effectFloor);
    expect(income.ksStatistic).toBeGreaterThan(0.4);
    // Every sketched statistic carries its bound through the store and the API.
    expect(income.ksBound).toBeGreaterThanOrEqual(0);
    expect(typeof income.statisticBound).toBe('number');
    expect(income.boundStraddlesThreshold).toBe(false);
    const region = byName(drift.windows[1]!, 'region');
    expect(region.statisticBound).toBeNull();
    expect(typeof region.unseenRatio).toBe('number');
    expect(typeof region.otherRatio).toBe('number');
    expect(byName(drift.windows[1]!, 'age').drifted).toBe(false);
    expect(byName(drift.windows[1]!, 'region').drifted).toBe(false);

    const summary = (await (await get(`/api/v1/models/credit-risk/summary`)).json()) as {
      ranked: Array<{
        feature: string;
        rank: number;
        drifted: boolean;
        driftingSince: string | null;
      }>;
    };
    expect(summary.ranked[0]).toMatchObject({
      feature: 'income',
      rank: 1,
      drifted: true,
      driftingSince: new Date(T0 + MINUTE).toISOString(),
    });

    const hist = (await (
      await get(`/api/v1/models/credit-risk/features/income/histogram?window=1m`)
    ).json()) as {
      reference: number[];
      current: number[];
    };
    expect(hist.reference.length).toBe(hist.current.length);
    expect(hist.reference.reduce((a, b) => a + b, 0)).toBeCloseTo(1, 9);

    // The same results straight from ClickHouse through the store.
    const stored = await daemon.store.queryDrift({
      model: 'credit-risk',
      from: T0,
      to: T0 + 2 * MINUTE,
      window: '1m',
    });
    expect(stored.map((r) => r.features.find((f) => f.feature === 'income')!.drifted)).toEqual([
      false,
      true,
    ]);
    expect(stored[1]!.baselineId).toMatch(/^bl_/);

    const metrics = await (await fetch(`${url}/metrics`)).text();
    expect(metrics).toMatch(
      /driftd_feature_drift_detected\{model="credit-risk",version="3",window="1m",feature="income"\} 1/,
    );
    expect(metrics).toMatch(
      /driftd_feature_drift_detected\{model="credit-risk",version="3",window="1m",feature="age"\} 0/,
    );
    expect(metrics).toMatch(/driftd_events_total\{model="credit-risk",result="accepted"\} 1201/);
    // Bounds and data-quality shares are exported next to the statistics.
    expect(metrics).toMatch(/driftd_feature_ks_bound\{[^}]*feature="income"\} [0-9.e-]+/);
    expect(metrics).toMatch(
      /driftd_feature_statistic_bound\{[^}]*feature="income",test="wasserstein"\} [0-9.e-]+/,
    );
    expect(metrics).toMatch(/driftd_feature_bound_straddles_threshold\{[^}]*feature="income"\} 0/);
    expect(metrics).toMatch(/driftd_feature_other_ratio\{[^}]*feature="region"\} [0-9.e-]+/);
    expect(metrics).toMatch(/driftd_events_total\{model="unknown",result="invalid"\} 1/);
  });

  it('joins late labels to their predictions and recomputes the window performance', async () => {
    // Labels for window 2: the "model" is right exactly when prediction ≥ 0.5.
    const labels = Array.from({ length: 300 }, (_, i) => ({
      model: 'credit-risk',
      id: `p-${20_000 + i}`,
      label: i % 2,
    }));
    const res = await post('/api/v1/labels', labels);
    expect(res.status).toBe(202);
    let perf: {
      windows: Array<{ labeled: number; coverage: number; metrics: Record<string, number> }>;
    } = { windows: [] };
    for (let i = 0; i < 50 && perf.windows.length === 0; i++) {
      await new Promise((r) => setTimeout(r, 100));
      perf = (await (
        await get(`/api/v1/models/credit-risk/performance?window=1m`)
      ).json()) as typeof perf;
    }
    expect(perf.windows).toHaveLength(1);
    expect(perf.windows[0]).toMatchObject({ labeled: 300, coverage: 0.5 });
    expect(perf.windows[0]!.metrics.accuracy).toBeGreaterThan(0);
    const audit = (await (await get(`/api/v1/predictions/p-20000`)).json()) as {
      label: { label: number } | null;
      raw: string | null;
      windows: Array<{ closed: boolean; baselineId: string | null }>;
    };
    expect(audit.label?.label).toBe(0);
    // The audit record is the NDJSON line as it was posted (JSON.stringify in this test).
    const posted = JSON.parse(audit.raw!) as { id: string; features: Record<string, unknown> };
    expect(posted.id).toBe('p-20000');
    expect(audit.raw).toBe(JSON.stringify(posted));
    expect(audit.windows[0]).toMatchObject({ closed: true });
  });

  it('serves OpenAPI, health and readiness', async () => {
    const spec = (await (await fetch(`${url}/openapi.json`)).json()) as {
      paths: Record<string, unknown>;
    };
    expect(Object.keys(spec.paths)).toEqual(
      expect.arrayContaining([
        '/api/v1/events',
        '/api/v1/labels',
        '/api/v1/models/{model}/summary',
        '/api/v1/predictions/{id}',
      ]),
    );
    expect((await fetch(`${url}/healthz`)).status).toBe(200);
    const ready = await fetch(`${url}/readyz`);
    expect(ready.status).toBe(200);
  });

  it('answers bad queries with a 4xx that names the problem', async () => {
    const r1 = await get(`/api/v1/models/nope/drift`);
    expect(r1.status).toBe(404);
    expect(((await r1.json()) as { message: string }).message).toContain(
      'model "nope" is not configured',
    );
    const r2 = await get(`/api/v1/models/credit-risk/drift?window=7m`);
    expect(r2.status).toBe(400);
    expect(((await r2.json()) as { message: string }).message).toContain(
      'window "7m" is not configured',
    );
    const r3 = await get(`/api/v1/models/credit-risk/drift?from=yesterday`);
    expect(r3.status).toBe(400);
  });
});
