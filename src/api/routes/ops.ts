import type { FastifyInstance } from 'fastify';
import type { ApiDeps } from '../ports.js';
import { healthSchema, readinessSchema, ref } from '../schemas.js';

/** /healthz and /readyz are open and name no host; /metrics needs scope read when server.auth.metrics is `read`. */
export function registerOpsRoutes(app: FastifyInstance, deps: ApiDeps) {
  const metricsScope = deps.config.server.auth.metrics === 'read' ? 'read' : undefined;
  app.get(
    '/metrics',
    {
      ...(metricsScope === undefined ? {} : { config: { scope: metricsScope } }),
      schema: {
        operationId: 'getMetrics',
        summary: 'Prometheus metrics',
        tags: ['ops'],
        hide: false,
      },
    },
    async (_req, reply) => {
      const body = await deps.metrics.registry.metrics();
      return reply.type(deps.metrics.registry.contentType).send(body);
    },
  );

  app.get(
    '/healthz',
    {
      schema: {
        operationId: 'getHealth',
        summary: 'Liveness: the process serves requests',
        tags: ['ops'],
        response: { 200: ref(healthSchema) },
      },
    },
    async () => ({ status: 'ok', version: deps.version }),
  );

  app.get(
    '/readyz',
    {
      schema: {
        operationId: 'getReadiness',
        summary:
          'Readiness: store reachable, pipeline started (and consumer group joined when Kafka is on)',
        tags: ['ops'],
        response: { 200: ref(readinessSchema), 503: ref(readinessSchema) },
      },
    },
    async (_req, reply) => {
      const r = await deps.readiness();
      return reply.status(r.ready ? 200 : 503).send(r);
    },
  );
}
