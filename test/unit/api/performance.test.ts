/**
 * GET /api/v1/models/:model/performance shows the daemon's verdict next to each window's
 * metrics: the same judge as /metrics (src/window/performance-verdict.ts), with the line it
 * compared against, or why there is no verdict.
 */
import { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { buildServer } from '../../../src/api/server.js';
import { validateConfig } from '../../../src/config/index.js';
import { createMetrics } from '../../../src/export/metrics.js';
import { createLogger } from '../../../src/logger.js';
import type { PerformanceResult } from '../../../src/types.js';
import { judgePerformance } from '../../../src/window/performance-verdict.js';

const MIN = 60_000;

function result(i: number, auc: number, coverage: number): PerformanceResult {
  return {
    model: 'credit-risk',
    version: '3',
    size: 5 * MIN,
    sizeLabel: '5m',
    start: i * 5 * MIN,
    end: (i + 1) * 5 * MIN,
    labeled: 100,
    coverage,
    metrics: { roc_auc: auc, brier: 0.2 },
    computedAt: 0,
  };
}

async function server(baseline: Record<string, number> | undefined) {
  const config = validateConfig(
    {
      models: [
        {
          id: 'credit-risk',
          task: 'binary-classification',
          features: [{ name: 'income', type: 'numeric' }],
          windows: { sizes: ['5m'] },
          alerts: { performance: { recall: { below: 0.5 } } },
        },
      ],
    },
    { env: {} },
  );
  const models = new Map(config.models.map((m) => [m.id, m]));
  const rows = [result(0, 0.689, 0.5), result(1, 0.6, 0.5), result(2, 0.5, 0.01)];
  return buildServer({
    config,
    models,
    store: {
      queryPerformance: async () => rows,
      // No stored drift results nor baselines: each window's baseline is null.
      queryDrift: async () => [],
      listBaselines: async () => [],
      getBaseline: async () => null,
      ping: async () => {},
    } as never,
    ingest: {} as never,
    metrics: createMetrics(new Registry(), { version: 'test' }),
    logger: createLogger('silent'),
    readiness: async () => ({ ready: true, checks: {} }),
    version: 'test',
    judgePerformance: (p) => judgePerformance(p, models.get(p.model)!, baseline),
  });
}

describe('GET /api/v1/models/:model/performance', () => {
  it('gives each window its verdict per metric, against the baseline-relative line', async () => {
    const app = await server({ roc_auc: 0.689, brier: 0.2 });
    const res = await app.inject({ method: 'GET', url: '/api/v1/models/credit-risk/performance' });
    expect(res.statusCode).toBe(200);
    const windows = res.json().windows as {
      metrics: Record<string, number>;
      verdicts: {
        metric: string;
        degraded: boolean | null;
        limit: number | null;
        reason: string | null;
      }[];
    }[];
    const auc = windows.map((w) => w.verdicts.find((v) => v.metric === 'roc_auc')!);
    // At its baseline's AUC (0.689): not degraded; 0.6 is below 0.689 - 0.05.
    expect(auc.map((v) => v.degraded)).toEqual([false, true, null]);
    expect(auc[0]!.limit).toBeCloseTo(0.639, 12);
    expect(auc[2]!.reason).toMatch(/label coverage 0\.01 is below/);
    expect(windows[0]!.verdicts.find((v) => v.metric === 'roc_auc')).toEqual({
      metric: 'roc_auc',
      value: 0.689,
      threshold: { dropFromBaseline: 0.05 },
      baseline: 0.689,
      limit: expect.closeTo(0.639, 12),
      degraded: false,
      reason: null,
    });
    // recall has a threshold but the windows have no recall value: no verdict, and why.
    expect(windows[0]!.verdicts.find((v) => v.metric === 'recall')).toMatchObject({
      degraded: null,
      reason: expect.stringMatching(/has no recall/),
    });
    await app.close();
  });

  it('without baseline performance, a relative threshold has no verdict and says so', async () => {
    const app = await server(undefined);
    const res = await app.inject({ method: 'GET', url: '/api/v1/models/credit-risk/performance' });
    const first = res
      .json()
      .windows[0].verdicts.find((v: { metric: string }) => v.metric === 'roc_auc');
    expect(first.degraded).toBeNull();
    expect(first.reason).toMatch(/relative to the baseline's roc_auc, and the baseline has none/);
    await app.close();
  });
});
