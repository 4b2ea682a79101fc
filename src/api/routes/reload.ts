import { basename } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { type ConfigIssue, InvalidConfigError } from '../../config/load.js';
import { ConfigReloadRefusedError } from '../../reload.js';
import type { ApiDeps } from '../ports.js';
import { errorSchema } from '../schemas.js';

const paths = { type: 'array', items: { type: 'string' } } as const;

const { $id: _errorId, ...errorShape } = errorSchema;

/** The error schema plus every problem found, one line each. */
const refusedSchema = {
  ...errorShape,
  description: 'Why the reload changed nothing, and every problem found',
  properties: {
    ...errorSchema.properties,
    issues: { ...paths, description: 'Every problem, with the setting it is about' },
  },
  required: [...errorSchema.required, 'issues'],
} as const;

/**
 * One problem as the answer states it. A file that cannot be read is described without its
 * path (answers never reveal the host's paths; the daemon's log names the file).
 */
function answerable(issue: ConfigIssue, source: string): string {
  if (issue.path === '' && issue.origin === 'file' && issue.line === undefined) {
    return 'the config file cannot be read or parsed (the daemon log names it and why)';
  }
  return issue.text.split(source).join(basename(source));
}

/** POST /api/v1/admin/reload: the SIGHUP of the API (src/reload.ts). */
export function registerReloadRoutes(app: FastifyInstance, deps: ApiDeps) {
  const reload = deps.reload;
  if (reload === undefined) return;
  app.post(
    '/api/v1/admin/reload',
    {
      config: { scope: 'admin' },
      schema: {
        operationId: 'reloadConfig',
        summary: 'Reload the config file',
        description:
          'Reads the config file again and puts it in force without a restart: models added or removed, thresholds, drift and alert settings. Open windows are kept (a removed model’s are closed and written). Settings that only a restart applies (server, store, kafka, ingest, logLevel, privacy, dataDir) keep their running values and are listed in `needsRestart`. An invalid file (422), a change the running daemon cannot take (409) or a Kafka consumer retrying a failing write (503, retry) changes nothing.',
        tags: ['ops'],
        response: {
          200: {
            type: 'object',
            properties: {
              result: { type: 'string', enum: ['applied', 'unchanged'] },
              added: { ...paths, description: 'Models added' },
              removed: { ...paths, description: 'Models removed (their open windows written)' },
              changed: { ...paths, description: 'Settings changed live, by path' },
              needsRestart: {
                ...paths,
                description: 'Settings the file changes that only a restart applies',
              },
            },
            required: ['result', 'added', 'removed', 'changed', 'needsRestart'],
          },
          409: refusedSchema,
          422: refusedSchema,
        },
      },
    },
    async (_req, reply) => {
      try {
        return await reload();
      } catch (err) {
        const invalid = err instanceof InvalidConfigError;
        if (!invalid && !(err instanceof ConfigReloadRefusedError)) throw err;
        const status = invalid ? 422 : 409;
        return reply.code(status).send({
          statusCode: status,
          code: err.code,
          error: invalid ? 'Unprocessable Content' : 'Conflict',
          message: invalid
            ? 'the config file is invalid; the running config stays in force'
            : err.message,
          issues: invalid ? err.details.map((i) => answerable(i, err.source)) : err.issues,
        });
      }
    },
  );
}
