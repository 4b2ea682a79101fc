import type { FastifyInstance } from 'fastify';
import { LATEST_STORABLE_TS } from '../../limits.js';
import type { StoredComparison } from '../../store/comparison-sql.js';
import { badRequest, notFound } from '../errors.js';
import { modelOf } from '../lookup.js';
import type { ApiDeps } from '../ports.js';
import { modelParams, timeRangeQuery } from '../schemas.js';
import { parseTime } from './models.js';

/*
 * Champion/challenger comparisons of one model (models[].comparison, docs/comparison.md):
 * per pair and window starting in [from, to), the newest stored comparison (a window's
 * comparison is written again when labels arrive).
 */

const object = { type: 'object', additionalProperties: true } as const;
const nullableNumber = { type: ['number', 'null'] } as const;

const comparisonSchema = {
  type: 'object',
  properties: {
    champion: { type: 'string' },
    challenger: { type: 'string' },
    start: { type: 'string' },
    end: { type: 'string' },
    championEvents: { type: 'integer' },
    challengerEvents: { type: 'integer' },
    challengerShare: nullableNumber,
    features: { type: 'array', items: object },
    prediction: { anyOf: [object, { type: 'null' }] },
    estimated: { type: 'object', additionalProperties: object },
    realised: { type: 'object', additionalProperties: object },
    shadow: { anyOf: [object, { type: 'null' }] },
    driftdVersion: { type: 'string' },
    configHash: { type: 'string' },
    writtenAt: { type: 'string' },
  },
} as const;

function present(c: StoredComparison) {
  const iso = (ms: number) => new Date(ms).toISOString();
  return {
    champion: c.champion,
    challenger: c.challenger,
    start: iso(c.windowStart),
    end: iso(c.windowEnd),
    championEvents: c.championEvents,
    challengerEvents: c.challengerEvents,
    challengerShare: c.challengerShare,
    features: c.features,
    prediction: c.prediction,
    estimated: c.estimated,
    realised: c.realised,
    shadow: c.shadow,
    driftdVersion: c.driftdVersion,
    configHash: c.configHash,
    writtenAt: iso(c.writtenAt),
  };
}

export function registerComparisonRoutes(app: FastifyInstance, deps: ApiDeps) {
  app.get(
    '/api/v1/models/:model/comparison',
    {
      config: { scope: 'read' },
      schema: {
        operationId: 'getComparison',
        summary: 'Champion/challenger comparisons of the model’s versions over a time range',
        description:
          "Per configured pair (models[].comparison) and window starting in [from, to): the challenger's window tested against the champion's window of the same span (same tests and calibration as against a baseline), both versions' events and the challenger's share, their label-free performance estimates (CBPE) with the standard error of the difference, their realised performance once labels arrive, and in shadow mode the agreement on the ids both scored. The newest comparison of each pair and window (one is written again when labels arrive).",
        tags: ['drift'],
        params: modelParams,
        querystring: timeRangeQuery,
        response: {
          200: {
            type: 'object',
            properties: {
              model: { type: 'string' },
              window: { type: 'string' },
              champion: { type: 'string' },
              comparisons: { type: 'array', items: comparisonSchema },
            },
          },
        },
      },
    },
    async (req) => {
      const { model } = req.params as { model: string };
      const qs = req.query as { from?: string; to?: string; window?: string; limit?: number };
      const m = modelOf(deps.models, model);
      if (!m.comparison) throw notFound(`model "${m.id}" has no comparison configured`);
      const sizes = m.windows.sizes;
      const window = qs.window ?? sizes[0]!.label;
      if (!sizes.some((s) => s.label === window)) {
        throw badRequest(
          `window "${window}" is not configured for model "${m.id}" (configured: ${sizes.map((s) => s.label).join(', ')})`,
        );
      }
      // Clamped to the times the store can hold, so no range reaches the engine as an error.
      const clamp = (t: number) => Math.min(LATEST_STORABLE_TS, Math.max(0, t));
      const from = clamp(parseTime('from', qs.from, 0));
      const to = clamp(parseTime('to', qs.to, LATEST_STORABLE_TS));
      if (from > to) throw badRequest(`"from" (${qs.from}) is after "to" (${qs.to ?? 'the end'})`);
      const rows = await deps.store.queryComparisons({ model: m.id, window, from, to });
      return {
        model: m.id,
        window,
        champion: m.comparison.champion,
        comparisons: rows.slice(-(qs.limit ?? 500)).map(present),
      };
    },
  );
}
