import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { importBaseline } from '../../src/baseline/import.js';
import { validateConfig } from '../../src/config/index.js';
import { createDaemon, type Daemon } from '../../src/daemon.js';
import { mulberry32 } from '../helpers/random.js';

/*
 * Label-free performance estimation end to end (real chDB, real HTTP): `baseline import` of a
 * file with a label column fits the estimator; a healthy window and a window where the model
 * lost its confidence are estimated at close, before any label, in the API and on /metrics;
 * labels arriving later put the gap between estimate and realised metric next to them.
 * The model: score 0.3 + 0.4·u with P(label = 1) = u, so its true accuracy is 0.75; in the
 * degraded window its scores collapse to 0.45 + 0.1·u (true accuracy about 0.56).
 */

const T0 = Date.parse('2026-11-22T10:00:00Z');
const MINUTE = 60_000;

describe('label-free performance estimate through the daemon', () => {
  let dir: string;
  let daemon: Daemon;
  let url: string;
  const token = 'e2e-token-0123456789abcdef';
  const random = mulberry32(42);
  const truth = new Map<string, number>();

  const post = (path: string, body: unknown) =>
    fetch(`${url}${path}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
      body: JSON.stringify(body),
    });
  const get = (path: string) =>
    fetch(`${url}${path}`, { headers: { authorization: `Bearer ${token}` } });

  function event(id: string, ts: number, degraded: boolean) {
    const u = random();
    truth.set(id, random() < u ? 1 : 0);
    return {
      model: 'credit-risk',
      version: '3',
      id,
      ts: new Date(ts).toISOString(),
      features: { income: 1000 + 5000 * random() },
      prediction: degraded ? 0.45 + 0.1 * u : 0.3 + 0.4 * u,
    };
  }

  type Perf = {
    windows: Array<{ start: string; labeled: number; metrics: Record<string, number> }>;
  };
  async function performance(until: (p: Perf) => boolean): Promise<Perf> {
    let perf: Perf = { windows: [] };
    for (let i = 0; i < 100 && !until(perf); i++) {
      await new Promise((r) => setTimeout(r, 100));
      perf = (await (await get('/api/v1/models/credit-risk/performance?window=1m')).json()) as Perf;
    }
    return perf;
  }

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'driftd-e2e-estimate-'));
    const config = validateConfig(
      {
        dataDir: dir,
        server: { host: '127.0.0.1', port: 0, apiTokens: [token] },
        logLevel: 'silent',
        models: [
          {
            id: 'credit-risk',
            task: 'binary-classification',
            features: [{ name: 'income', type: 'numeric' }],
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
    const train = mulberry32(7);
    const lines = Array.from({ length: 5000 }, () => {
      const u = train();
      return `${1000 + 5000 * train()},${0.3 + 0.4 * u},${train() < u ? 1 : 0}`;
    });
    const file = join(dir, 'train.csv');
    await writeFile(file, `income,prediction,label\n${lines.join('\n')}\n`);
    const { profile, report } = await importBaseline({
      model: config.models[0]!,
      version: '3',
      file,
    });
    expect(report.cbpe).toMatchObject({ rows: 5000, skipped: null });
    await daemon.store.saveBaseline(profile);
    await daemon.pipeline.refreshBaselines();
  });

  afterAll(async () => {
    await daemon?.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('estimates each window at close, before any label, in the API and on /metrics', async () => {
    const w1 = Array.from({ length: 600 }, (_, i) => event(`a-${i}`, T0 + i * 90, false));
    const w2 = Array.from({ length: 600 }, (_, i) => event(`b-${i}`, T0 + MINUTE + i * 90, true));
    const closer = event('c-0', T0 + 2 * MINUTE + 1, false);
    expect((await post('/api/v1/events', [...w1, ...w2, closer])).status).toBe(202);

    const perf = await performance((p) => p.windows.length >= 2);
    expect(perf.windows.map((w) => w.labeled)).toEqual([0, 0]);
    const [healthy, degraded] = perf.windows.map((w) => w.metrics);
    expect(Math.abs(healthy!.estimated_accuracy! - 0.75)).toBeLessThan(0.06);
    expect(Math.abs(degraded!.estimated_accuracy! - 0.56)).toBeLessThan(0.06);
    // The degradation shows before any label: the healthy window's band lies above.
    expect(healthy!.estimated_accuracy_lower).toBeGreaterThan(degraded!.estimated_accuracy!);
    expect(healthy!.estimated_roc_auc).toBeGreaterThan(degraded!.estimated_roc_auc!);

    const metrics = await (await fetch(`${url}/metrics`)).text();
    const gauge = metrics.match(
      /driftd_model_performance_estimate\{model="credit-risk",version="3",window="1m",metric="accuracy",band="estimate"\} ([0-9.e-]+)/,
    );
    expect(Number(gauge?.[1])).toBeCloseTo(degraded!.estimated_accuracy!, 9);
    expect(metrics).not.toMatch(/driftd_model_label_coverage_ratio\{/);
  });

  it('puts the gap to the realised metric next to the estimate once labels arrive', async () => {
    const labels = [...truth.entries()]
      .filter(([id]) => id.startsWith('a-'))
      .map(([id, label]) => ({ model: 'credit-risk', id, label }));
    expect((await post('/api/v1/labels', labels)).status).toBe(202);
    const perf = await performance((p) => (p.windows[0]?.labeled ?? 0) > 0);
    const w = perf.windows[0]!;
    expect(w.labeled).toBe(600);
    const m = w.metrics;
    expect(m.estimate_gap_accuracy).toBeCloseTo(m.accuracy! - m.estimated_accuracy!, 12);
    // Clean window: the realised accuracy is inside the estimate's band.
    expect(m.accuracy).toBeGreaterThanOrEqual(m.estimated_accuracy_lower!);
    expect(m.accuracy).toBeLessThanOrEqual(m.estimated_accuracy_upper!);
    const metrics = await (await fetch(`${url}/metrics`)).text();
    expect(metrics).toMatch(
      /driftd_model_performance\{[^}]*metric="estimate_gap_accuracy"\} -?[0-9.e-]+/,
    );
  });
});
