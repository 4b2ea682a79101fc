import type { FastifyInstance } from 'fastify';
import { MAX_ID_LENGTH } from '../../limits.js';
import { idIsPii, piiKeyOf, storedId } from '../../privacy/pii.js';
import { windowAt } from '../../window/identity.js';
import { notFound } from '../errors.js';
import type { ApiDeps } from '../ports.js';
import { presentSource } from '../present.js';
import { predictionRecordSchema, ref } from '../schemas.js';

export function registerPredictionRoutes(app: FastifyInstance, deps: ApiDeps) {
  const key = piiKeyOf(deps.config);

  /** The id as sent, or for a model whose ids are PII fields, its hash (as stored). */
  async function find(id: string, model: string | undefined) {
    if (model !== undefined) {
      const config = deps.models.get(model);
      const stored = config !== undefined && idIsPii(config) ? storedId(config, id, key) : id;
      return deps.store.getPrediction(stored, { model });
    }
    const found = await deps.store.getPrediction(id, {});
    if (found || key === null) return found;
    for (const config of deps.models.values()) {
      if (!idIsPii(config)) continue;
      const hashed = await deps.store.getPrediction(storedId(config, id, key), {
        model: config.id,
      });
      if (hashed) return hashed;
    }
    return null;
  }

  async function lookup(id: string, model: string | undefined) {
    const found = await find(id, model);
    if (!found)
      throw notFound(`no prediction with id "${id}"${model ? ` for model "${model}"` : ''}`);
    const config = deps.models.get(found.event.model);
    const windows = [];
    for (const size of config?.windows.sizes ?? []) {
      const { start, end } = windowAt(
        found.event.model,
        found.event.version,
        size,
        found.event.ts,
        config?.timeZone,
      );
      const [result] = await deps.store.queryDrift({
        model: found.event.model,
        window: size.label,
        from: start,
        to: start + 1,
      });
      windows.push({
        window: size.label,
        start: new Date(start).toISOString(),
        end: new Date(end).toISOString(),
        closed: result !== undefined,
        baselineId: result?.baselineId ?? null,
        baselineHash: result?.baselineHash ?? null,
        driftShare: result?.driftShare ?? null,
      });
    }
    return {
      event: { ...found.event, ts: new Date(found.event.ts).toISOString() },
      label: found.label ? { ...found.label, ts: new Date(found.label.ts).toISOString() } : null,
      late: found.late,
      source: presentSource(found.source),
      ingestedAt: new Date(found.ingestedAt).toISOString(),
      raw: found.raw,
      windows,
    };
  }

  app.get(
    '/api/v1/predictions/:id',
    {
      config: { scope: 'read' },
      schema: {
        operationId: 'getPrediction',
        summary:
          'Audit lookup of one prediction: the stored event, the text it arrived as, its label, its windows and lineage',
        tags: ['audit'],
        params: {
          type: 'object',
          properties: { id: { type: 'string', maxLength: 512 } },
          required: ['id'],
        },
        querystring: {
          type: 'object',
          additionalProperties: false,
          properties: { model: { type: 'string' } },
        },
        response: { 200: ref(predictionRecordSchema) },
      },
    },
    async (req) => {
      const { id } = req.params as { id: string };
      const { model } = req.query as { model?: string };
      return lookup(id, model);
    },
  );

  // The same lookup with the id in the query string: a URL path cannot carry every id ("."
  // and ".." are dot segments, which clients resolve away before sending).
  app.get(
    '/api/v1/predictions',
    {
      config: { scope: 'read' },
      schema: {
        operationId: 'findPrediction',
        summary:
          'Audit lookup of one prediction by an id in the query string (any id, "." and ".." included)',
        tags: ['audit'],
        querystring: {
          type: 'object',
          additionalProperties: false,
          properties: {
            id: { type: 'string', minLength: 1, maxLength: MAX_ID_LENGTH },
            model: { type: 'string' },
          },
          required: ['id'],
        },
        response: { 200: ref(predictionRecordSchema) },
      },
    },
    async (req) => {
      const { id, model } = req.query as { id: string; model?: string };
      return lookup(id, model);
    },
  );
}
