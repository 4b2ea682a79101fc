import type { FastifyInstance } from 'fastify';
import { modelOf } from '../lookup.js';
import type { ApiDeps } from '../ports.js';
import { modelParams } from '../schemas.js';

/**
 * The retrain recommendations of a model (src/window/retrain.ts): one record per episode, in
 * its newest state (open, or closed and when), with the evidence that opened it.
 */

const object = { type: 'object', additionalProperties: true } as const;
const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());

export function registerRetrainRoutes(app: FastifyInstance, deps: ApiDeps) {
  app.get(
    '/api/v1/models/:model/retrain-recommendations',
    {
      config: { scope: 'read' },
      schema: {
        operationId: 'listRetrainRecommendations',
        summary: 'Retrain recommendations of a model: one per episode, with why',
        description:
          'An episode opens when a model version shows dataset drift for alerts.retrain.driftWindows consecutive windows of one size, or its label-free performance estimate is worse than alerts.performance for alerts.retrain.estimatedDegradationWindows; it closes at the first clean window. Each record lists the windows of the run, the features that drifted with their effect sizes, and the estimates against their limits. Newest episodes first.',
        tags: ['models'],
        params: modelParams,
        querystring: {
          type: 'object',
          additionalProperties: false,
          properties: {
            version: { type: 'string', maxLength: 200 },
            status: { type: 'string', enum: ['open', 'all'], default: 'all' },
            limit: { type: 'integer', minimum: 1, maximum: 1000, default: 100 },
          },
        },
        response: {
          200: {
            type: 'object',
            properties: {
              model: { type: 'string' },
              recommendations: { type: 'array', items: object },
            },
          },
        },
      },
    },
    async (req) => {
      const { model } = req.params as { model: string };
      const qs = req.query as { version?: string; status: 'open' | 'all'; limit: number };
      const m = modelOf(deps.models, model);
      const rows = await deps.store.retrainRecommendations({
        model: m.id,
        ...(qs.version !== undefined ? { version: qs.version } : {}),
        open: qs.status === 'open',
        limit: qs.limit,
      });
      return {
        model: m.id,
        recommendations: rows.map((r) => ({
          id: r.id,
          version: r.version,
          status: r.status,
          triggers: r.triggers,
          window: r.window,
          openedAt: iso(r.openedAt),
          closedAt: iso(r.closedAt),
          settings: {
            driftWindows: r.driftWindows,
            estimatedDegradationWindows: r.estimatedDegradationWindows,
          },
          features: r.features,
          windows: r.windows.map((w) => ({
            ...w,
            start: iso(w.start),
            end: iso(w.end),
          })),
          driftdVersion: r.driftdVersion,
          configHash: r.configHash,
          writtenAt: iso(r.writtenAt),
        })),
      };
    },
  );
}
