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

export function registerIngestRoutes(
  app: FastifyInstance,
  deps: ApiDeps,
  auth: (req: FastifyRequest) => void,
) {
  app.addContentTypeParser(
    ['application/x-ndjson', 'application/jsonl', 'application/ndjson'],
    { parseAs: 'string' },
    (_req, body, done) => {
      const items: unknown[] = [];
      const lines = (body as string).split('\n');
      for (let i = 0; i < lines.length; i++) {
        const line = lines[i]!.trim();
        if (line === '') continue;
        try {
          items.push(new TextItem(JSON.parse(line), line));
        } catch (err) {
          items.push(
            new UnparseableItem(`line ${i + 1}: not valid JSON: ${(err as Error).message}`),
          );
        }
      }
      done(null, items);
    },
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
