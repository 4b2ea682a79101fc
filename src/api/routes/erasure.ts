import type { FastifyInstance, FastifyRequest } from 'fastify';
import { MAX_ID_LENGTH, MAX_MODEL_LENGTH } from '../../limits.js';
import { erasePrediction } from '../../privacy/erase.js';
import { piiKeyOf } from '../../privacy/pii.js';
import { modelOf } from '../lookup.js';
import type { ApiDeps } from '../ports.js';
import { ref } from '../schemas.js';

/** The answer of both erasure routes; a component of the OpenAPI document, registered here. */
const erasureSchema = {
  $id: 'Erasure',
  type: 'object',
  description: 'What an erasure removed',
  properties: {
    model: { type: 'string' },
    ref: { type: 'string', description: 'Reference of this erasure in the audit log' },
    removed: {
      type: 'object',
      properties: { events: { type: 'integer' }, labels: { type: 'integer' } },
      required: ['events', 'labels'],
    },
  },
  required: ['model', 'ref', 'removed'],
} as const;

const idSchema = { type: 'string', minLength: 1, maxLength: MAX_ID_LENGTH } as const;
const modelSchema = { type: 'string', minLength: 1, maxLength: MAX_MODEL_LENGTH } as const;

/**
 * Scope admin (auth.ts): erasure of one prediction and its labels (GDPR Art. 17), by model and id as the producer
 * sent them. The path form, and a body form for ids a URL path cannot carry ("." and "..").
 */
export function registerErasureRoutes(app: FastifyInstance, deps: ApiDeps) {
  app.addSchema(erasureSchema);
  const key = piiKeyOf(deps.config);
  async function erase(req: FastifyRequest, modelId: string, id: string) {
    const model = modelOf(deps.models, modelId);
    return erasePrediction({
      model,
      id,
      piiKey: key,
      store: deps.store,
      logger: deps.logger.child({ stage: 'erasure' }),
      requestedBy: `api ${req.ip}`,
    });
  }

  app.delete(
    '/api/v1/models/:model/predictions/:id',
    {
      config: { scope: 'admin' },
      schema: {
        operationId: 'erasePrediction',
        summary:
          'Erase one prediction and its labels (GDPR Art. 17); aggregates and results are kept',
        tags: ['privacy'],
        security: [{ bearerAuth: [] }],
        params: {
          type: 'object',
          properties: { model: modelSchema, id: idSchema },
          required: ['model', 'id'],
        },
        response: { 200: ref(erasureSchema) },
      },
    },
    async (req) => {
      const { model, id } = req.params as { model: string; id: string };
      return erase(req, model, id);
    },
  );

  app.post(
    '/api/v1/erasure',
    {
      config: { scope: 'admin' },
      schema: {
        operationId: 'erasePredictionById',
        summary:
          'Erase one prediction and its labels, the id in the body (any id, "." and ".." included)',
        tags: ['privacy'],
        security: [{ bearerAuth: [] }],
        body: {
          type: 'object',
          additionalProperties: false,
          properties: { model: modelSchema, id: idSchema },
          required: ['model', 'id'],
        },
        response: { 200: ref(erasureSchema) },
      },
    },
    async (req) => {
      const { model, id } = req.body as { model: string; id: string };
      return erase(req, model, id);
    },
  );
}
