import type { FastifyInstance } from 'fastify';
import { HttpError } from './errors.js';
import type { ApiDeps } from './ports.js';

/**
 * Checks every request passes before it is routed to a handler or its body is read:
 *
 * - A body in a content coding (gzip, br, …) is refused with 415: driftd reads bodies as they
 *   arrive, and compressed bytes parsed as JSON would only fail later with a misleading reason.
 * - While the daemon is not running (starting, waiting for its store, stopping), /api/v1
 *   answers 503 `DRIFTD_ERR_NOT_READY`; /healthz, /readyz, /metrics and /openapi.json are
 *   served throughout.
 */
export function installRequestGuards(app: FastifyInstance, deps: ApiDeps): void {
  const accepting = deps.accepting ?? (() => true);
  app.addHook('onRequest', async (req) => {
    const coding = req.headers['content-encoding']?.trim().toLowerCase();
    if (coding && coding !== 'identity') {
      throw new HttpError(
        415,
        'DRIFTD_ERR_UNSUPPORTED_CONTENT_ENCODING',
        `Content-Encoding ${JSON.stringify(coding.slice(0, 50))} is not supported: send the body uncompressed`,
      );
    }
    if (req.url.startsWith('/api/') && !accepting()) {
      throw new HttpError(503, 'DRIFTD_ERR_NOT_READY', 'driftd is not running');
    }
  });
}
