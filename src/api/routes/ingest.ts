import type { FastifyInstance, FastifyRequest, FastifySchemaCompiler } from 'fastify';
import { checkIdempotencyKey, KEY_PATTERN, MAX_KEY_LENGTH } from '../../ingest/idempotency.js';
import { splitNdjson } from '../../ingest/ndjson.js';
import { HttpError } from '../errors.js';
import { labelEventSchema, predictionEventSchema } from '../ingest-schemas.js';
import type { ApiDeps } from '../ports.js';
import { errorSchema, ingestReportSchema, ref } from '../schemas.js';

/** Items in one request; a larger batch is refused whole with 413. */
export const MAX_BATCH_ITEMS = 100_000;

/** The body as documented: a JSON array of items, or one item alone. */
function batchBody(item: { readonly $id: string }, what: string) {
  return {
    description: `A JSON array of ${what}s or one ${what} alone (a batch of one); at most ${MAX_BATCH_ITEMS} items. NDJSON is taken too (Content-Type: application/x-ndjson), one ${what} per line.`,
    anyOf: [{ type: 'array', items: ref(item), maxItems: MAX_BATCH_ITEMS }, ref(item)],
  } as const;
}

const idempotencyHeader = {
  type: 'object',
  properties: {
    'idempotency-key': {
      type: 'string',
      minLength: 1,
      maxLength: MAX_KEY_LENGTH,
      pattern: KEY_PATTERN,
      description:
        'Makes a retry safe: a request repeated with the key of an earlier one gets its answer and is counted once',
    },
  },
} as const;

/**
 * The framework's validator of the ingest routes. The documented schemas are not applied here:
 * the decoder validates each item and answers per item (one bad item is rejected alone, never
 * the batch), and the framework's validator would coerce values before the decoder saw them.
 * The body shape is checked by asBatch before this runs, the Idempotency-Key by
 * checkIdempotencyKey in the handler (one rule, one message, whichever way the key is sent).
 */
const ingestValidator: FastifySchemaCompiler<unknown> = ({ httpPart }) =>
  httpPart === 'body'
    ? (body) =>
        Array.isArray(body) ? { value: body } : { error: new Error('the body must be a batch') }
    : (value) => ({ value });

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

  const schema = (
    operationId: string,
    summary: string,
    item: { readonly $id: string },
    what: string,
  ) => ({
    operationId,
    summary,
    description:
      'Send an `Idempotency-Key` header (1 to 255 printable ASCII characters) to retry safely: a request repeated with the key of an earlier one gets its answer and is counted once (keys are kept 24 h, at most 100 000); the key sent again with another body is refused with 422.',
    tags: ['ingest'],
    headers: idempotencyHeader,
    body: batchBody(item, what),
    response: {
      202: ref(ingestReportSchema),
      // A report when every item was rejected; an Error when the body as a whole was refused
      // (not JSON, empty, not a batch).
      400: {
        description: 'Every item was rejected (IngestReport), or the body was refused (Error)',
        anyOf: [ref(ingestReportSchema), ref(errorSchema)],
      },
    },
  });
  const preValidation = async (req: FastifyRequest) => {
    req.body = asBatch(req.body);
  };

  app.post(
    '/api/v1/events',
    {
      schema: schema(
        'ingestEvents',
        'Ingest prediction events. Valid items are accepted, invalid ones reported per item.',
        predictionEventSchema,
        'event',
      ),
      config: { scope: 'write' },
      preValidation,
      validatorCompiler: ingestValidator,
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
      schema: schema(
        'ingestLabels',
        'Ingest ground-truth labels, joined to predictions by id.',
        labelEventSchema,
        'label',
      ),
      config: { scope: 'write' },
      preValidation,
      validatorCompiler: ingestValidator,
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
