import type { FastifyInstance } from 'fastify';
import { LATEST_STORABLE_TS } from '../../limits.js';
import { badRequest, notFound } from '../errors.js';
import { modelOf } from '../lookup.js';
import type { ApiDeps } from '../ports.js';
import { modelParams } from '../schemas.js';
import { parseTime } from './models.js';

/**
 * Fairness per protected group of one model version, window by window, as stored: each
 * window's latest computation in `fairness_results` (written at its close and again when
 * labels arrive, src/ingest/performance-scheduler.ts), with the driftd version and config hash
 * that produced it. It reads no raw event, so it answers for windows whose raw events the
 * retention (`store.rawEventsTtlDays`) has already removed (docs/fairness.md).
 */

const object = { type: 'object', additionalProperties: true } as const;
/** Windows answered at most (the newest of the range). */
export const MAX_FAIRNESS_WINDOWS = 1000;

export function registerFairnessRoutes(app: FastifyInstance, deps: ApiDeps) {
  app.get(
    '/api/v1/models/:model/fairness',
    {
      config: { scope: 'read' },
      schema: {
        operationId: 'getFairness',
        summary: 'Fairness per protected group, window by window, as stored',
        description:
          "The stored fairness result of each window of the version that overlaps [`from`, `to`): its latest computation (at the close, or after labels arrived), independent of the raw events' retention. Per protected attribute of models[].fairness: per group the selection rate (all predictions), TPR and FPR (labelled ones) with Wilson intervals, their ratios to the reference group with Katz intervals and verdicts, Fairlearn's demographic parity and equalised-odds difference. Each window names the driftd version and config hash that computed it. At most `limit` windows, the newest.",
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
            window: {
              type: 'string',
              maxLength: 64,
              description: 'One configured window size (default: every size).',
            },
            limit: {
              type: 'integer',
              minimum: 1,
              maximum: MAX_FAIRNESS_WINDOWS,
              default: MAX_FAIRNESS_WINDOWS,
            },
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
              windows: {
                type: 'array',
                items: {
                  type: 'object',
                  properties: {
                    window: { type: 'string' },
                    start: { type: 'string' },
                    end: { type: 'string' },
                    writtenAt: { type: 'string' },
                    driftdVersion: { type: 'string' },
                    configHash: { type: 'string' },
                    attributes: { type: 'object', additionalProperties: object },
                  },
                },
              },
            },
          },
        },
      },
    },
    async (req) => {
      const { model } = req.params as { model: string };
      const qs = req.query as {
        version: string;
        from: string;
        to: string;
        window?: string;
        limit: number;
      };
      const m = modelOf(deps.models, model);
      if (!m.fairness) throw notFound(`model "${m.id}" has no fairness configured`);
      if (qs.window !== undefined && !m.windows.sizes.some((s) => s.label === qs.window)) {
        throw badRequest(
          `window "${qs.window}" is not configured for model "${m.id}" (configured: ${m.windows.sizes.map((s) => s.label).join(', ')})`,
        );
      }
      // Clamped to the times the store can hold, so no range reaches the engine as an error.
      const clamp = (t: number) => Math.min(LATEST_STORABLE_TS, Math.max(0, t));
      const from = clamp(parseTime('from', qs.from, 0));
      const to = clamp(parseTime('to', qs.to, 0));
      if (!(from < to)) throw badRequest(`"from" (${qs.from}) must be before "to" (${qs.to})`);
      const stored = await deps.store.queryFairness({
        model: m.id,
        version: qs.version,
        from,
        to,
        limit: qs.limit,
        ...(qs.window === undefined ? {} : { window: qs.window }),
      });
      const iso = (t: number) => new Date(t).toISOString();
      return {
        model: m.id,
        version: qs.version,
        from: iso(from),
        to: iso(to),
        windows: stored.map((r) => ({
          window: r.sizeLabel,
          start: iso(r.start),
          end: iso(r.end),
          writtenAt: iso(r.writtenAt),
          driftdVersion: r.driftdVersion,
          configHash: r.configHash,
          attributes: r.attributes,
        })),
      };
    },
  );
}
