/**
 * GET /api/v1/models/:model/retrain-recommendations: the store's episodes, newest state each,
 * with times as ISO-8601; the query is validated (4xx naming the bad parameter, never a 5xx).
 */
import { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { buildServer } from '../../../src/api/server.js';
import { validateConfig } from '../../../src/config/index.js';
import { createMetrics } from '../../../src/export/metrics.js';
import { createLogger } from '../../../src/logger.js';
import type { RetrainQuery, StoredRetrainRecommendation } from '../../../src/store/types.js';

const T0 = Date.UTC(2026, 0, 1);
const MIN = 60_000;

const stored: StoredRetrainRecommendation = {
  id: `5m@${new Date(T0).toISOString()}`,
  model: 'credit-risk',
  version: '3',
  status: 'closed',
  triggers: ['drift'],
  window: '5m',
  driftWindows: 2,
  estimatedDegradationWindows: 2,
  openedAt: T0 + 11 * MIN,
  closedAt: T0 + 30 * MIN,
  windows: [
    {
      start: T0,
      end: T0 + 5 * MIN,
      drifted: true,
      driftShare: 1,
      features: [{ feature: 'income', test: 'ks', effect: 0.3, statistic: 0.3 }],
      estimates: [],
      degraded: null,
    },
  ],
  features: [{ feature: 'income', test: 'ks', windows: 1, maxEffect: 0.3 }],
  configHash: 'sha256:abc',
  driftdVersion: '0.9.0',
  writtenAt: T0 + 30 * MIN,
};

async function server() {
  const config = validateConfig(
    {
      models: [
        {
          id: 'credit-risk',
          task: 'binary-classification',
          features: [{ name: 'income', type: 'numeric' }],
          windows: { sizes: ['5m'] },
        },
      ],
    },
    { env: {} },
  );
  const queries: RetrainQuery[] = [];
  const app = await buildServer({
    config,
    models: new Map(config.models.map((m) => [m.id, m])),
    store: {
      retrainRecommendations: async (q: RetrainQuery) => {
        queries.push(q);
        return [stored];
      },
      ping: async () => {},
    } as never,
    ingest: {} as never,
    metrics: createMetrics(new Registry(), { version: 'test' }),
    logger: createLogger('silent'),
    readiness: async () => ({ ready: true, checks: {} }),
    version: 'test',
  });
  return { app, queries };
}

describe('GET /api/v1/models/:model/retrain-recommendations', () => {
  it('answers each episode with why, times as ISO-8601', async () => {
    const { app, queries } = await server();
    const res = await app.inject({
      method: 'GET',
      url: '/api/v1/models/credit-risk/retrain-recommendations?version=3&status=open&limit=5',
    });
    expect(res.statusCode).toBe(200);
    expect(queries).toEqual([{ model: 'credit-risk', version: '3', open: true, limit: 5 }]);
    expect(res.json()).toEqual({
      model: 'credit-risk',
      recommendations: [
        {
          id: stored.id,
          version: '3',
          status: 'closed',
          triggers: ['drift'],
          window: '5m',
          openedAt: new Date(T0 + 11 * MIN).toISOString(),
          closedAt: new Date(T0 + 30 * MIN).toISOString(),
          settings: { driftWindows: 2, estimatedDegradationWindows: 2 },
          features: stored.features,
          windows: [
            {
              ...stored.windows[0],
              start: new Date(T0).toISOString(),
              end: new Date(T0 + 5 * MIN).toISOString(),
            },
          ],
          driftdVersion: '0.9.0',
          configHash: 'sha256:abc',
          writtenAt: new Date(T0 + 30 * MIN).toISOString(),
        },
      ],
    });
    // Defaults: every episode, 100 at most.
    await app.inject({ method: 'GET', url: '/api/v1/models/credit-risk/retrain-recommendations' });
    expect(queries[1]).toEqual({ model: 'credit-risk', open: false, limit: 100 });
  });

  it.each([
    ['status=closed', 400, /status/],
    ['limit=0', 400, /limit/],
    ['limit=1001', 400, /limit/],
    ['limit=x', 400, /limit/],
    // The shared validation message does not name an unknown parameter (src/api/errors.ts).
    ['since=1', 400, /additional properties/],
  ])('refuses %s naming the parameter', async (qs, status, message) => {
    const { app, queries } = await server();
    const res = await app.inject({
      method: 'GET',
      url: `/api/v1/models/credit-risk/retrain-recommendations?${qs}`,
    });
    expect(res.statusCode).toBe(status);
    expect(res.body, res.body).toMatch(message);
    expect(queries).toEqual([]);
  });

  it('404 for a model that is not configured', async () => {
    const { app } = await server();
    const res = await app.inject({
      method: 'GET',
      url: '/api/v1/models/nope/retrain-recommendations',
    });
    expect(res.statusCode).toBe(404);
  });
});
