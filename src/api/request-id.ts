import type { FastifyInstance } from 'fastify';

/**
 * Every answer carries `x-request-id`: the id the daemon's log lines and error bodies name, so
 * a client reporting a failure can quote it and on-call can find the log line.
 */
export function installRequestId(app: FastifyInstance): void {
  app.addHook('onRequest', async (req, reply) => {
    void reply.header('x-request-id', req.id);
  });
}
