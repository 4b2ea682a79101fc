import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Metrics } from '../export/metrics.js';

/** The `route` label of a request no route matched (404s for unknown paths, one series). */
export const UNMATCHED_ROUTE = 'unmatched';

/**
 * The route pattern a request matched (`/api/v1/models/:model/drift`), never its URL: the label
 * set stays bounded by the routes the app declares, whatever paths clients send.
 */
export function routeLabel(req: FastifyRequest): string {
  // A 404 runs fastify's not-found handler: no pattern of ours matched.
  if (req.is404) return UNMATCHED_ROUTE;
  return req.routeOptions.url ?? UNMATCHED_ROUTE;
}

/**
 * Counts every answered request and times it (driftd_http_requests_total{method,route,code},
 * driftd_http_request_duration_seconds{method,route,status_class}), in fastify's onResponse,
 * after the reply is sent: 4xx/5xx rates and latency per route without touching a route.
 * Requests Node refuses before fastify sees them (malformed request line, header timeouts)
 * never reach a route and are not counted.
 */
export function installRequestMetrics(app: FastifyInstance, metrics: Metrics): void {
  app.addHook('onResponse', (req: FastifyRequest, reply: FastifyReply, done) => {
    const route = routeLabel(req);
    const code = reply.statusCode;
    metrics.httpRequests.inc({ method: req.method, route, code: String(code) });
    metrics.httpRequestSeconds.observe(
      { method: req.method, route, status_class: `${Math.floor(code / 100)}xx` },
      reply.elapsedTime / 1000,
    );
    done();
  });
}
