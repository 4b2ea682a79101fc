import type { FastifyInstance, FastifyRequest } from 'fastify';
import { checkIdempotencyKey } from '../../ingest/idempotency.js';
import { splitNdjson } from '../../ingest/ndjson.js';
import { HttpError } from '../errors.js';
import type { ApiDeps } from '../ports.js';
import { ingestReportSchema } from '../schemas.js';

/** Items in one request; a larger batch is refused whole with 413. */
export const MAX_BATCH_ITEMS = 100_000;

const batchBody = {
  description: `A JSON array of events, one JSON object (one event), or NDJSON (Content-Type: application/x-ndjson), one event per line; at most ${MAX_BATCH_ITEMS} items.`,
  type: 'array',
  maxItems: MAX_BATCH_ITEMS,
} as const;

/**
 * The body as a batch, before schema validation: a single JSON object is a batch of one (the
 * first thing a new user posts), an array is taken as it is, and anything else (no body, a
 * bare number, string or null) is refused whole with the reason. Too many items is 413.
 */
export function asBatch(body: unknown): unknown[] {
  if (Array.isArray(body)) {
    if (body.length > MAX_BATCH_ITEMS) {
      throw new HttpError(
        413,
        'DRIFTD_ERR_TOO_MANY_ITEMS',
        `the batch has ${body.length} items; at most ${MAX_BATCH_ITEMS} per request`,
      );
    }
    return body;
  }
  if (body === undefined) {
    throw new HttpError(
      400,
      'DRIFTD_ERR_EMPTY_BODY',
      'the body is empty: send a JSON array of items, one JSON object, or NDJSON',
    );
  }
  if (body !== null && typeof body === 'object') return [body];
  throw new HttpError(
    400,
    'DRIFTD_ERR_BAD_BODY',
    `the body must be a JSON array of items, one JSON object, or NDJSON; got ${body === null ? 'null' : typeof body}`,
  );
}

export function registerIngestRoutes(app: FastifyInstance, deps: ApiDeps) {
  app.addContentTypeParser(
    ['application/x-ndjson', 'application/jsonl', 'application/ndjson'],
    { parseAs: 'buffer' },
    (_req, body, done) => done(null, splitNdjson(body as Buffer)),
  );

  const schema = (summary: string, tag: string) => ({
    summary,
    description:
      'Send an `Idempotency-Key` header (1 to 255 printable ASCII characters) to retry safely: a request repeated with the key of an earlier one gets its answer and is counted once (keys are kept 24 h, at most 100 000); the key sent again with another body is refused with 422.',
    tags: [tag],
    body: batchBody,
    response: { 200: ingestReportSchema, 202: ingestReportSchema, 400: ingestReportSchema },
  });
  const preValidation = async (req: FastifyRequest) => {
    req.body = asBatch(req.body);
  };

  app.post(
    '/api/v1/events',
    {
      schema: schema(
        'Ingest prediction events. Valid items are accepted, invalid ones reported per item.',
        'ingest',
      ),
      config: { scope: 'write' },
      preValidation,
    },
    async (req, reply) => {
      const items = req.body as unknown[];
      const key = checkIdempotencyKey(req.headers['idempotency-key']);
      const report = await deps.ingest.ingestEvents(
        items,
        'http',
        key === undefined ? {} : { idempotencyKey: key },
      );
      return reply.status(report.accepted === 0 && report.rejected > 0 ? 400 : 202).send(report);
    },
  );

  app.post(
    '/api/v1/labels',
    {
      schema: schema('Ingest ground-truth labels, joined to predictions by id.', 'ingest'),
      config: { scope: 'write' },
      preValidation,
    },
    async (req, reply) => {
      const items = req.body as unknown[];
      const key = checkIdempotencyKey(req.headers['idempotency-key']);
      const report = await deps.ingest.ingestLabels(
        items,
        key === undefined ? {} : { idempotencyKey: key },
      );
      return reply.status(report.accepted === 0 && report.rejected > 0 ? 400 : 202).send(report);
    },
  );
}
