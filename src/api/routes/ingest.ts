import { isAscii } from 'node:buffer';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { TextItem, UnparseableItem } from '../../ingest/decode.js';
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
 * NDJSON body → one item per non-blank line: the parsed value with its text, or an
 * UnparseableItem naming the line. For an ASCII body (the usual case) characters are bytes,
 * so each line also carries its bytes (a view of the body): the store copies them as the raw
 * record instead of re-encoding the text.
 */
export function parseNdjson(body: Buffer): unknown[] {
  const ascii = isAscii(body);
  const text = body.toString(ascii ? 'latin1' : 'utf8');
  const items: unknown[] = [];
  let lineNo = 0;
  for (let start = 0; start < text.length; ) {
    let end = text.indexOf('\n', start);
    if (end === -1) end = text.length;
    lineNo++;
    let s = start;
    let e = end;
    while (s < e && isSpace(text.charCodeAt(s))) s++;
    while (e > s && isSpace(text.charCodeAt(e - 1))) e--;
    start = end + 1;
    if (s === e) continue;
    const line = text.slice(s, e);
    try {
      const value: unknown = JSON.parse(line);
      items.push(new TextItem(value, line, ascii ? body.subarray(s, e) : undefined));
    } catch (err) {
      items.push(new UnparseableItem(`line ${lineNo}: not valid JSON: ${(err as Error).message}`));
    }
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
      const report = await deps.ingest.ingestEvents(items, 'http');
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
      const report = await deps.ingest.ingestLabels(items);
      return reply.status(report.accepted === 0 && report.rejected > 0 ? 400 : 202).send(report);
    },
  );
}
