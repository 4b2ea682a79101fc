import type { FastifyInstance } from 'fastify';
import { LATEST_STORABLE_TS } from '../../limits.js';
import {
  countStoredOutcomes,
  evaluateWindowFairness,
  storedOutcomeQuery,
} from '../../window/index.js';
import { badRequest, notFound } from '../errors.js';
import { modelOf } from '../lookup.js';
import type { ApiDeps } from '../ports.js';
import { modelParams } from '../schemas.js';
import { parseTime } from './models.js';

/**
 * Fairness per protected group of one model version over a time range, recomputed on demand
 * from the stored predictions and their labels (late labels included), with the model's
 * reference groups and thresholds (docs/fairness.md). Exact, like the exact KS recompute:
 * what the windows would show with every label known now.
 */

const object = { type: 'object', additionalProperties: true } as const;

export function registerFairnessRoutes(app: FastifyInstance, deps: ApiDeps) {
  app.get(
    '/api/v1/models/:model/fairness',
    {
      config: { scope: 'read' },
      schema: {
        operationId: 'getFairness',
        summary:
          'Fairness per protected group over a time range, from stored predictions and labels',
        description:
          "Per protected attribute of models[].fairness: per group the selection rate (all predictions), TPR and FPR (labelled ones) with Wilson intervals, their ratios to the reference group with Katz intervals and verdicts, Fairlearn's demographic parity and equalised-odds difference. Every stored prediction of the version with `from` ≤ ts < `to` counts, late ones included.",
        tags: ['fairness'],
        params: modelParams,
        querystring: {
          type: 'object',
          additionalProperties: false,
          required: ['version', 'from', 'to'],
          properties: {
            version: { type: 'string', maxLength: 200 },
            from: { type: 'string', description: 'Start (inclusive): ISO-8601 or epoch ms.' },
            to: { type: 'string', description: 'End (exclusive): ISO-8601 or epoch ms.' },
          },
        },
        response: {
          200: {
            type: 'object',
            properties: {
              model: { type: 'string' },
              version: { type: 'string' },
              from: { type: 'string' },
              to: { type: 'string' },
              attributes: { type: 'object', additionalProperties: object },
            },
          },
        },
      },
    },
    async (req) => {
      const { model } = req.params as { model: string };
      const qs = req.query as { version: string; from: string; to: string };
      const m = modelOf(deps.models, model);
      if (!m.fairness) throw notFound(`model "${m.id}" has no fairness configured`);
      // Clamped to the times the store can hold, so no range reaches the engine as an error.
      const clamp = (t: number) => Math.min(LATEST_STORABLE_TS, Math.max(0, t));
      const from = clamp(parseTime('from', qs.from, 0));
      const to = clamp(parseTime('to', qs.to, 0));
      if (!(from < to)) throw badRequest(`"from" (${qs.from}) must be before "to" (${qs.to})`);
      const counts: Parameters<typeof evaluateWindowFairness>[1] = {};
      for (const a of m.fairness.attributes) {
        const rows = await deps.store.fairnessRows({
          model: m.id,
          version: qs.version,
          from,
          to,
          ...storedOutcomeQuery(m, a),
        });
        counts[a.field] = countStoredOutcomes(m, a.field, rows);
      }
      return {
        model: m.id,
        version: qs.version,
        from: new Date(from).toISOString(),
        to: new Date(to).toISOString(),
        attributes: evaluateWindowFairness(m, counts),
      };
    },
  );
}
