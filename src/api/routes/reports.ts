import type { FastifyInstance } from 'fastify';
import { MAX_MODEL_LENGTH } from '../../limits.js';
import {
  buildReport,
  MAX_REPORT_DAYS,
  periodProblem,
  REPORT_FORMATS,
  REPORT_MEDIA_TYPES,
  type ReportFormat,
  renderReport,
  reportTime,
} from '../../report/index.js';
import { badRequest, HttpError } from '../errors.js';
import { modelOf } from '../lookup.js';
import type { ApiDeps } from '../ports.js';

/** A body time: ISO-8601 with a zone, or epoch ms; 400 naming the member otherwise. */
function timeOf(name: 'from' | 'to', v: string): number {
  const ms = reportTime(v);
  if (ms === undefined) {
    throw badRequest(`"${name}" must be ISO-8601 with a zone or epoch ms, got "${v}"`);
  }
  return ms;
}

/**
 * POST /api/v1/admin/reports: the period report of one model (src/report, docs/report.md),
 * as self-contained HTML or as JSON, built from the store like `driftd report`. Admin scope:
 * the report carries the model's whole configuration and the lineage of its inputs.
 */
export function registerReportRoutes(app: FastifyInstance, deps: ApiDeps) {
  let building = false;
  app.post(
    '/api/v1/admin/reports',
    {
      config: { scope: 'admin' },
      schema: {
        operationId: 'buildReport',
        summary: 'The period report of a model: HTML (self-contained) or JSON',
        description: `Everything a model review needs for one model and period, from the stored results: the baselines (ids, hashes, sources, profiles), the configuration in force and its hash, every window's verdicts, drift over time per feature, performance and label coverage, fairness by group, segments that moved, the alerts the results fired (K consecutive windows) and the lineage (baselines, Kafka offsets, replayed files). The same store and period give byte-identical output. A period is at most ${MAX_REPORT_DAYS} days; one report is built at a time (409 while another is).`,
        tags: ['reports'],
        body: {
          type: 'object',
          additionalProperties: false,
          required: ['model', 'from', 'to'],
          properties: {
            model: { type: 'string', minLength: 1, maxLength: MAX_MODEL_LENGTH },
            from: {
              type: 'string',
              maxLength: 64,
              description: 'Start (inclusive): ISO-8601 with a zone, or epoch ms',
            },
            to: {
              type: 'string',
              maxLength: 64,
              description: 'End (exclusive): ISO-8601 with a zone, or epoch ms',
            },
            format: { type: 'string', enum: [...REPORT_FORMATS], default: 'html' },
          },
        },
        response: {
          200: {
            description: 'The report: text/html or application/json (format)',
            content: {
              'text/html': { schema: { type: 'string' } },
              'application/json': { schema: { type: 'object', additionalProperties: true } },
            },
          },
        },
      },
    },
    async (req, reply) => {
      const body = req.body as { model: string; from: string; to: string; format?: ReportFormat };
      const model = modelOf(deps.models, body.model);
      const from = timeOf('from', body.from);
      const to = timeOf('to', body.to);
      const problem = periodProblem(from, to);
      if (problem !== null) throw badRequest(problem);
      const format = body.format ?? 'html';
      // One report at a time: each reads a whole period from the store, next to live traffic.
      if (building) {
        throw new HttpError(
          409,
          'DRIFTD_ERR_REPORT_RUNNING',
          'another report is being built on this daemon; retry when it is done',
        );
      }
      building = true;
      try {
        const report = await buildReport({
          store: deps.store,
          model,
          from,
          to,
          version: deps.version,
        });
        return reply.type(REPORT_MEDIA_TYPES[format]).send(renderReport(report, format));
      } finally {
        building = false;
      }
    },
  );
}
