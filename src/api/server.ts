import { timingSafeEqual } from 'node:crypto';
import swagger from '@fastify/swagger';
import Fastify, {
  type FastifyBaseLogger,
  type FastifyInstance,
  type FastifyRequest,
} from 'fastify';
import { HttpError, installErrorHandler } from './errors.js';
import type { ApiDeps } from './ports.js';
import { registerIngestRoutes } from './routes/ingest.js';
import { registerModelRoutes } from './routes/models.js';
import { registerOpsRoutes } from './routes/ops.js';
import { registerPredictionRoutes } from './routes/predictions.js';
import { registerRecomputeRoutes } from './routes/recompute.js';

/**
 * The HTTP app, not listening: the daemon calls `listen`, tests call `inject()`.
 * Writes require a bearer token when tokens are configured.
 */
export async function buildServer(deps: ApiDeps): Promise<FastifyInstance> {
  const app = Fastify({
    // Per-request lines are noise at 50k events/s: the API logs at warn and above only.
    loggerInstance: deps.logger.child(
      { stage: 'api' },
      { level: deps.logger.levelVal > 40 ? deps.logger.level : 'warn' },
    ) as FastifyBaseLogger,
    bodyLimit: deps.config.server.bodyLimitBytes,
    ajv: { customOptions: { coerceTypes: true, removeAdditional: false, allErrors: true } },
  });
  installErrorHandler(app);

  await app.register(swagger, {
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

  const tokens = deps.config.server.apiTokens.map((t) => Buffer.from(t));
  const auth = (req: FastifyRequest): void => {
    if (tokens.length === 0) return;
    const header = req.headers.authorization ?? '';
    const m = /^Bearer\s+(.+)$/i.exec(header);
    const given = m ? Buffer.from(m[1]!.trim()) : undefined;
    const ok =
      given !== undefined &&
      tokens.some((t) => t.length === given.length && timingSafeEqual(t, given));
    if (!ok) {
      throw new HttpError(
        401,
        'DRIFTD_ERR_UNAUTHORIZED',
        m ? 'bearer token not accepted' : 'this route needs "Authorization: Bearer <token>"',
      );
    }
  };

  registerIngestRoutes(app, deps, auth);
  registerModelRoutes(app, deps);
  registerPredictionRoutes(app, deps);
  registerRecomputeRoutes(app, deps, auth);
  registerOpsRoutes(app, deps);

  app.get('/openapi.json', { schema: { hide: true } }, async () => app.swagger());
  return app;
}
