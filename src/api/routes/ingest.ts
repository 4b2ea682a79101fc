import { isAscii, isUtf8 } from 'node:buffer';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { PendingLine } from '../../ingest/decode.js';
import { checkIdempotencyKey } from '../../ingest/idempotency.js';
import { badRequest } from '../errors.js';
import type { ApiDeps } from '../ports.js';
import { ingestReportSchema } from '../schemas.js';

const batchBody = {
  description:
    'A JSON array of events, or NDJSON (Content-Type: application/x-ndjson), one event per line.',
  type: 'array',
  maxItems: 100_000,
} as const;

function isSpace(c: number): boolean {
  return c === 0x20 || c === 0x09 || c === 0x0d || c === 0x0a;
}

/**
 * NDJSON body → one item per non-blank line: a PendingLine, parsed when the pipeline decodes
 * it (an unparseable line is then rejected with its line number). Lines are found on the bytes:
 * newline and blanks are the same bytes in UTF-8, so no text is made of the whole body.
 */
export function parseNdjson(body: Buffer): PendingLine[] {
  const ascii = isAscii(body);
  const source = { bytes: body, ascii, utf8: ascii || isUtf8(body) };
  const items: PendingLine[] = [];
  let lineNo = 0;
  for (let start = 0; start < body.length; ) {
    let end = body.indexOf(0x0a, start);
    if (end === -1) end = body.length;
    lineNo++;
    let s = start;
    let e = end;
    while (s < e && isSpace(body[s]!)) s++;
    while (e > s && isSpace(body[e - 1]!)) e--;
    start = end + 1;
    if (s < e) items.push(new PendingLine(source, s, e, lineNo));
  }
  return items;
}

export function registerIngestRoutes(
  app: FastifyInstance,
  deps: ApiDeps,
  auth: (req: FastifyRequest) => void,
) {
  app.addContentTypeParser(
    ['application/x-ndjson', 'application/jsonl', 'application/ndjson'],
    { parseAs: 'buffer' },
    (_req, body, done) => done(null, parseNdjson(body as Buffer)),
  );

  const schema = (summary: string, tag: string) => ({
    summary,
    description:
      'Send an `Idempotency-Key` header (1 to 255 printable ASCII characters) to retry safely: a request repeated with the key of an earlier one gets its answer and is counted once (keys are kept 24 h, at most 100 000).',
    tags: [tag],
    security: [{ bearerAuth: [] }],
    body: batchBody,
    response: { 200: ingestReportSchema, 202: ingestReportSchema, 400: ingestReportSchema },
  });

  app.post(
    '/api/v1/events',
    {
      schema: schema(
        'Ingest prediction events. Valid items are accepted, invalid ones reported per item.',
        'ingest',
      ),
      onRequest: async (req) => auth(req),
    },
    async (req, reply) => {
      const items = req.body as unknown[];
      if (!Array.isArray(items)) throw badRequest('body must be a JSON array or NDJSON');
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
      onRequest: async (req) => auth(req),
    },
    async (req, reply) => {
      const items = req.body as unknown[];
      if (!Array.isArray(items)) throw badRequest('body must be a JSON array or NDJSON');
      const key = checkIdempotencyKey(req.headers['idempotency-key']);
      const report = await deps.ingest.ingestLabels(
        items,
        key === undefined ? {} : { idempotencyKey: key },
      );
      return reply.status(report.accepted === 0 && report.rejected > 0 ? 400 : 202).send(report);
    },
  );
}
