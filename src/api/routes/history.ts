import type { FastifyInstance } from 'fastify';
import type { ModelConfig } from '../../config/types.js';
import { LATEST_STORABLE_TS } from '../../limits.js';
import type { ResultLineage } from '../../types.js';
import { badRequest, notFound } from '../errors.js';
import { modelOf as configuredModel } from '../lookup.js';
import type { ApiDeps } from '../ports.js';
import { presentPerformanceRow, presentWindow } from '../present.js';
import { modelParams, ref, windowHistorySchema } from '../schemas.js';
import { parseTime } from './models.js';

/*
 * The history of one window: every revision of its drift result and performance ever written
 * (the append-only record of migrations 12, 13), oldest first, each with why it was written,
 * when, by which driftd and with which config. What an auditor asks when a number changed.
 */

interface HistoryQs {
  window?: string;
  start?: string;
  version?: string;
}

const historyQuery = {
  type: 'object',
  additionalProperties: false,
  required: ['start'],
  properties: {
    window: { type: 'string', description: 'Window size label (e.g. 5m). Default: the smallest.' },
    start: { type: 'string', description: 'The window start (ISO-8601 with a zone, or epoch ms)' },
    version: { type: 'string', maxLength: 200, description: 'Only this model version' },
  },
} as const;

/** 1-based revision numbers per version, in the order the store lists them (oldest first). */
function numbered<T extends { version: string } & ResultLineage>(
  rows: readonly T[],
): Array<{ row: T; revision: number }> {
  const seen = new Map<string, number>();
  return rows.map((row) => {
    const revision = (seen.get(row.version) ?? 0) + 1;
    seen.set(row.version, revision);
    return { row, revision };
  });
}

export function registerHistoryRoutes(app: FastifyInstance, deps: ApiDeps) {
  app.get(
    '/api/v1/models/:model/windows/history',
    {
      config: { scope: 'read' },
      schema: {
        operationId: 'getWindowHistory',
        summary:
          "Every revision of one window's drift result and performance (rewrites by late labels, replay, provisional results), oldest first",
        tags: ['drift'],
        params: modelParams,
        querystring: historyQuery,
        response: { 200: ref(windowHistorySchema) },
      },
    },
    async (req) => {
      const { model } = req.params as { model: string };
      const qs = req.query as HistoryQs;
      const m: ModelConfig = configuredModel(deps.models, model);
      const sizes = m.windows.sizes;
      const window = qs.window ?? sizes[0]!.label;
      if (!sizes.some((s) => s.label === window)) {
        throw badRequest(
          `window "${window}" is not configured for model "${m.id}" (configured: ${sizes.map((s) => s.label).join(', ')})`,
        );
      }
      const start = parseTime('start', qs.start, 0);
      if (!Number.isSafeInteger(start) || start < 0 || start > LATEST_STORABLE_TS) {
        throw badRequest(
          `query parameter "start" must be a time between 1970 and ${new Date(LATEST_STORABLE_TS).toISOString()}, got "${qs.start}"`,
        );
      }
      const history = await deps.store.windowHistory({
        model: m.id,
        window,
        start,
        ...(qs.version === undefined ? {} : { version: qs.version }),
      });
      if (history.results.length === 0 && history.performance.length === 0) {
        throw notFound(
          `no result is stored for model "${m.id}", window ${window} starting at ${new Date(start).toISOString()}${
            qs.version === undefined ? '' : `, version "${qs.version}"`
          } (start must be a window's start)`,
        );
      }
      return {
        model: m.id,
        window,
        start: new Date(start).toISOString(),
        results: numbered(history.results).map(({ row, revision }) => ({
          revision,
          writtenAt: new Date(row.writtenAt ?? row.closedAt).toISOString(),
          ...presentWindow(row),
        })),
        performance: numbered(history.performance).map(({ row, revision }) => ({
          revision,
          writtenAt: new Date(row.writtenAt ?? row.computedAt).toISOString(),
          ...presentPerformanceRow(row),
        })),
      };
    },
  );
}
