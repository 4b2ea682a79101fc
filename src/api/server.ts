import swagger from '@fastify/swagger';
import Fastify, { type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import { MAX_ID_LENGTH } from '../limits.js';
import { installAuth } from './auth.js';
import { clientErrorHandler, frameworkErrors, installErrorHandler } from './errors.js';
import { installRequestGuards } from './guards.js';
import { installJsonBodyParser } from './json-body.js';
import type { ApiDeps } from './ports.js';
import { installRequestId } from './request-id.js';
import { installRequestMetrics } from './request-metrics.js';
import { registerBaselineRoutes } from './routes/baselines.js';
import { registerClusterRoutes } from './routes/cluster.js';
import { registerComparisonRoutes } from './routes/comparison.js';
import { registerErasureRoutes } from './routes/erasure.js';
import { registerFairnessRoutes } from './routes/fairness.js';
import { registerHistoryRoutes } from './routes/history.js';
import { registerIngestRoutes } from './routes/ingest.js';
import { registerModelRoutes } from './routes/models.js';
import { registerOpsRoutes } from './routes/ops.js';
import { registerPredictionRoutes } from './routes/predictions.js';
import { registerRecomputeRoutes } from './routes/recompute.js';
import { registerReloadRoutes } from './routes/reload.js';
import { registerReportRoutes } from './routes/reports.js';
import { registerRetrainRoutes } from './routes/retrain.js';
import { registerSegmentRoutes } from './routes/segments.js';
import { addComponentSchemas, errorSchema, ref } from './schemas.js';
import { httpsOptions } from './tls.js';

/**
 * Node checks the request and header deadlines on a timer, not per socket: a deadline is
 * enforced within this much of its time (Node's own default is 30 s, longer than the deadlines).
 */
function connectionsCheckingInterval(server: ApiDeps['config']['server']): number {
  const tightest = Math.min(server.requestTimeoutMs, server.headersTimeoutMs);
  return Math.max(50, Math.min(1000, Math.floor(tightest / 4)));
}

/**
 * The HTTP app, not listening: the daemon calls `listen`, tests call `inject()`.
 * When tokens are configured, every /api/v1 route needs one holding the route's scope (auth.ts).
 *
 * Slow clients are bounded by the server's deadlines (server.requestTimeoutMs for a whole
 * request, headersTimeoutMs for its headers, keepAliveTimeoutMs between requests): a client
 * trickling a body is answered 408 and disconnected instead of holding a socket and its
 * buffered body for ever.
 */
export async function buildServer(deps: ApiDeps): Promise<FastifyInstance> {
  const server = deps.config.server;
  const http = {
    headersTimeout: server.headersTimeoutMs,
    connectionsCheckingInterval: connectionsCheckingInterval(server),
  };
  // server.tls: HTTPS only on the port (fastify passes its node:https options through).
  const app = Fastify({
    requestTimeout: server.requestTimeoutMs,
    keepAliveTimeout: server.keepAliveTimeoutMs,
    ...(server.tls ? { https: { ...http, ...httpsOptions(server.tls) } } : { http }),
    // Per-request lines are noise at 50k events/s: the API logs at warn and above only.
    loggerInstance: deps.logger.child(
      { stage: 'api' },
      { level: deps.logger.levelVal > 40 ? deps.logger.level : 'warn' },
    ) as FastifyBaseLogger,
    bodyLimit: server.bodyLimitBytes,
    frameworkErrors,
    // A path parameter may be a whole prediction id: MAX_ID_LENGTH UTF-16 units, each up to 9
    // characters percent-encoded (fastify's default of 100 refused longer ids with 414).
    routerOptions: { maxParamLength: MAX_ID_LENGTH * 9 },
    clientErrorHandler,
    ajv: { customOptions: { coerceTypes: true, removeAdditional: false, allErrors: true } },
  });
  installRequestId(app);
  installRequestMetrics(app, deps.metrics);
  installErrorHandler(app, server.bodyLimitBytes);
  // Before the guards: an unauthenticated client learns nothing, not even that driftd is starting.
  installAuth(app, { server, logger: deps.logger });
  installRequestGuards(app, deps);
  installJsonBodyParser(app);
  addComponentSchemas(app);
  // OpenAPI: every route documents the error answer as its 4xx and 5xx (a route's own 400,
  // e.g. ingestion's all-rejected report, stays as declared).
  app.addHook('onRoute', (route) => {
    if (!route.schema) return;
    const response = (route.schema.response ?? {}) as Record<string, unknown>;
    route.schema.response = { '4xx': ref(errorSchema), '5xx': ref(errorSchema), ...response };
  });

  await app.register(swagger, {
    // Shared schemas appear in components.schemas under their $id (schemas.ts), not def-N.
    refResolver: {
      buildLocalReference: (json, _base, _fragment, i) => String(json.$id ?? `def-${i}`),
    },
    openapi: {
      openapi: '3.0.3',
      info: {
        title: 'driftd',
        description:
          'Drift monitoring for deployed ML models: what moved, since when, by how much.',
        version: deps.version,
      },
      components: {
        securitySchemes: { bearerAuth: { type: 'http', scheme: 'bearer' } },
      },
    },
  });

  registerIngestRoutes(app, deps);
  registerModelRoutes(app, deps);
  registerHistoryRoutes(app, deps);
  registerFairnessRoutes(app, deps);
  registerSegmentRoutes(app, deps);
  registerRetrainRoutes(app, deps);
  registerComparisonRoutes(app, deps);
  registerPredictionRoutes(app, deps);
  registerRecomputeRoutes(app, deps);
  registerOpsRoutes(app, deps);
  registerErasureRoutes(app, deps);
  registerReloadRoutes(app, deps);
  registerClusterRoutes(app, deps);
  registerReportRoutes(app, deps);
  await registerBaselineRoutes(app, deps);

  app.get('/openapi.json', { schema: { hide: true } }, async () => app.swagger());
  return app;
}
