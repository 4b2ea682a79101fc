import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import Fastify from 'fastify';
import { Registry } from 'prom-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { installAuth, routeScope } from '../../../src/api/auth.js';
import { buildServer } from '../../../src/api/server.js';
import { validateConfig } from '../../../src/config/index.js';
import type { ApiScope } from '../../../src/config/types.js';
import { createDaemon, type Daemon } from '../../../src/daemon.js';
import { createMetrics } from '../../../src/export/metrics.js';
import { createLogger } from '../../../src/logger.js';

/**
 * Scoped API tokens on a real daemon (real chDB, requests through inject()): every registered
 * route is walked with no token, a wrong one, and a token of each scope, and must answer the
 * matrix below; the access log has one line per authenticated request and per refusal.
 */

const SECRETS = {
  reader: 'rd-0123456789abcdef0123',
  writer: 'wr-0123456789abcdef0123',
  admin: 'ad-0123456789abcdef0123',
  legacy: 'lg-0123456789abcdef0123',
};
const MODEL = { id: 'm', task: 'regression', features: [{ name: 'x', type: 'numeric' }] };

/** Every route as [method, url] from fastify's own route tree (printRoutes), not from driftd's records. */
function registeredRoutes(tree: string): Array<[string, string]> {
  const out: Array<[string, string]> = [];
  const stack: string[] = [];
  for (const line of tree.split('\n')) {
    const m = /^((?:│ {3}| {4})*)[├└]── (\S+) \(([A-Z, ]+)\)$/.exec(line);
    if (!m) continue;
    const depth = m[1]!.length / 4;
    stack.length = depth;
    const url = (depth > 0 ? stack[depth - 1]! : '') + m[2]!;
    stack.push(url);
    for (const method of m[3]!.split(', ')) out.push([method, url]);
  }
  return out;
}

/** The policy: reads need read, ingestion write, everything else under /api/v1 admin. */
function policyScope(method: string, url: string): ApiScope {
  if (method === 'GET' || method === 'HEAD') return 'read';
  if (url === '/api/v1/events' || url === '/api/v1/labels') return 'write';
  return 'admin';
}

describe('scoped API tokens (real chDB)', () => {
  let dir: string;
  let daemon: Daemon;
  const logLines: Array<Record<string, unknown>> = [];
  let logText = '';

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'driftd-auth-'));
    await writeFile(join(dir, 'writer.token'), `${SECRETS.writer}\n`);
    const config = validateConfig(
      {
        dataDir: dir,
        server: {
          host: '127.0.0.1',
          port: 0,
          auth: {
            metrics: 'read',
            tokens: [
              { name: 'reader', scopes: ['read'], secretEnv: 'DRIFTD_TEST_READER' },
              { name: 'writer', scopes: ['write'], secretFile: join(dir, 'writer.token') },
              { name: 'admin', scopes: ['admin'], secretEnv: 'DRIFTD_TEST_ADMIN' },
            ],
          },
        },
        logLevel: 'info',
        models: [MODEL],
      },
      {
        env: {
          DRIFTD_TEST_READER: SECRETS.reader,
          DRIFTD_TEST_ADMIN: SECRETS.admin,
          DRIFTD_API_TOKENS: SECRETS.legacy,
        },
      },
    );
    const sink = new Writable({
      write(chunk, _enc, done) {
        const text = String(chunk);
        logText += text;
        for (const line of text.split('\n')) if (line) logLines.push(JSON.parse(line));
        done();
      },
    });
    daemon = createDaemon(config, { listen: false, logger: createLogger('info', sink) });
    await daemon.start();
  });
  afterAll(async () => {
    await daemon?.close();
    await rm(dir, { recursive: true, force: true });
  });

  /** `secret` goes in a bearer header; `authorization` is sent as it is. */
  const call = (method: string, url: string, secret?: string, authorization?: string) =>
    daemon.app.inject({
      method: method as 'GET',
      url: url.replace(':model', 'm').replace(':feature', 'x').replace(':id', 'p-1'),
      headers: {
        ...(secret === undefined ? {} : { authorization: `Bearer ${secret}` }),
        ...(authorization === undefined ? {} : { authorization }),
        ...(method === 'POST' ? { 'content-type': 'application/json' } : {}),
      },
      ...(method === 'POST' ? { payload: url.includes('recompute') ? '{}' : '[]' } : {}),
    });

  it('every /api/v1 route declares the scope the policy gives it', () => {
    const routes = registeredRoutes(daemon.app.printRoutes({ commonPrefix: false }));
    const api = routes.filter(([, url]) => url.startsWith('/api/'));
    expect(api.length).toBeGreaterThanOrEqual(17);
    const undeclared = api.filter(([m, url]) => !routeScope(daemon.app, m, url));
    expect(undeclared, 'routes without a scope').toEqual([]);
    for (const [method, url] of api) {
      expect(routeScope(daemon.app, method, url), `${method} ${url}`).toBe(
        policyScope(method, url),
      );
    }
  });

  it('a route under /api/ without a scope cannot be registered', async () => {
    const app = Fastify();
    const server = validateConfig({ models: [MODEL] }, { env: {} }).server;
    installAuth(app, { server, logger: createLogger('silent') });
    expect(() => app.delete('/api/v1/models/:model/events', async () => ({}))).toThrow(
      /declares no scope/,
    );
    app.delete('/api/v1/models/:model/events', { config: { scope: 'admin' } }, async () => ({}));
    expect(routeScope(app, 'DELETE', '/api/v1/models/:model/events')).toBe('admin');
    await app.close();
  });

  it('walks every route: no or a wrong token 401, a token without the scope 403, with it allowed', async () => {
    const routes = registeredRoutes(daemon.app.printRoutes({ commonPrefix: false }));
    const failures: string[] = [];
    for (const [method, url] of routes) {
      const scope = routeScope(daemon.app, method, url) ?? null;
      const expect401 = scope !== null;
      const cases: Array<[string, string | undefined, 'open' | 401 | 403 | 'allowed']> = [
        ['no token', undefined, expect401 ? 401 : 'open'],
        ['a wrong token', 'xx-0123456789abcdef0123', expect401 ? 401 : 'open'],
        ['reader', SECRETS.reader, scope === null || scope === 'read' ? 'allowed' : 403],
        ['writer', SECRETS.writer, scope === null || scope === 'write' ? 'allowed' : 403],
        ['admin', SECRETS.admin, scope === null || scope === 'admin' ? 'allowed' : 403],
        ['DRIFTD_API_TOKENS', SECRETS.legacy, 'allowed'],
      ];
      for (const [who, secret, want] of cases) {
        const res = await call(method, url, secret);
        const got = res.statusCode;
        const ok =
          want === 'open' || want === 'allowed'
            ? got !== 401 && got !== 403 && got < 500
            : got === want;
        if (!ok) failures.push(`${method} ${url} with ${who}: ${got}, expected ${want}`);
        if ((got === 401 || got === 403) && method !== 'HEAD') {
          expect(res.json()).toMatchObject({
            statusCode: got,
            code: got === 401 ? 'DRIFTD_ERR_UNAUTHORIZED' : 'DRIFTD_ERR_FORBIDDEN',
          });
          expect(res.headers['www-authenticate']).toMatch(/^Bearer realm="driftd"/);
        }
      }
    }
    expect(failures).toEqual([]);
    // The ops routes stay open (and /metrics is protected here by server.auth.metrics: read).
    expect(routeScope(daemon.app, 'GET', '/healthz')).toBeNull();
    expect(routeScope(daemon.app, 'GET', '/readyz')).toBeNull();
    expect(routeScope(daemon.app, 'GET', '/metrics')).toBe('read');
  });

  it('a path under /api/ that matches no route needs a token too (no route map for strangers)', async () => {
    expect((await call('GET', '/api/v1/nope')).statusCode).toBe(401);
    expect((await call('DELETE', '/api/v1/events')).statusCode).toBe(401);
    const known = await call('GET', '/api/v1/nope', SECRETS.reader);
    expect(known.statusCode).toBe(404);
  });

  it('logs one access line per authenticated request and per refusal, never a secret', async () => {
    const from = logLines.length;
    await call('GET', '/api/v1/models', SECRETS.reader);
    await call('GET', '/api/v1/models');
    await call('GET', '/api/v1/models', 'zz-0123456789abcdef0123');
    await call('POST', '/api/v1/models/:model/recompute', SECRETS.reader);
    await call('GET', '/api/v1/models', undefined, 'Basic Zm9vOmJhcg==');
    const access = logLines.slice(from).filter((l) => l.stage === 'access');
    expect(access.map((l) => [l.msg, l.reason ?? null, l.token ?? null, l.status])).toEqual([
      ['api access', null, 'reader', 200],
      ['api access refused', 'no token', null, 401],
      ['api access refused', 'unknown token', null, 401],
      ['api access refused', 'missing scope', 'reader', 403],
      ['api access refused', 'not a bearer token', null, 401],
    ]);
    expect(access[0]).toMatchObject({ scope: 'read', method: 'GET', route: '/api/v1/models' });
    expect(access[3]).toMatchObject({
      scope: 'admin',
      method: 'POST',
      route: '/api/v1/models/:model/recompute',
      level: 40,
    });
    for (const secret of Object.values(SECRETS)) expect(logText).not.toContain(secret);
    // Boot says which tokens exist, by name and scopes.
    expect(logLines.find((l) => l.msg === 'API tokens configured')).toMatchObject({
      tokens: expect.arrayContaining([{ name: 'writer', scopes: ['write'] }]),
    });
  });

  it('OpenAPI: every route with a scope takes a bearer token and names its scope', async () => {
    const doc = (await daemon.app.inject({ method: 'GET', url: '/openapi.json' })).json() as {
      components: { securitySchemes: Record<string, unknown> };
      paths: Record<
        string,
        Record<string, { security?: unknown; description?: string; summary?: string }>
      >;
    };
    expect(doc.components.securitySchemes.bearerAuth).toEqual({ type: 'http', scheme: 'bearer' });
    let checked = 0;
    for (const [path, ops] of Object.entries(doc.paths)) {
      for (const [method, op] of Object.entries(ops)) {
        const url = path.replace(/\{(\w+)\}/g, ':$1');
        const scope = routeScope(daemon.app, method.toUpperCase(), url);
        if (scope) {
          expect(op.security, `${method} ${path}`).toEqual([{ bearerAuth: [] }]);
          expect(op.description).toContain(`scope \`${scope}\``);
          checked++;
        } else {
          expect(op.security, `${method} ${path}`).toBeUndefined();
        }
      }
    }
    expect(checked).toBeGreaterThanOrEqual(10);
  });
});

describe('without server.auth.metrics: read', () => {
  it('/metrics, /healthz and /readyz stay open while /api/v1 needs a token', async () => {
    const config = validateConfig(
      {
        server: { auth: { tokens: [{ name: 'r', scopes: ['read'], secretEnv: 'T' }] } },
        models: [MODEL],
      },
      { env: { T: SECRETS.reader } },
    );
    const app = await buildServer({
      config,
      models: new Map(),
      store: { ping: async () => {} } as never,
      ingest: {} as never,
      metrics: createMetrics(new Registry(), { version: 'test' }),
      logger: createLogger('silent'),
      readiness: async () => ({ ready: true, checks: {} }),
      version: 'test',
    });
    for (const url of ['/metrics', '/healthz', '/readyz', '/openapi.json']) {
      expect((await app.inject({ method: 'GET', url })).statusCode, url).toBe(200);
    }
    expect((await app.inject({ method: 'GET', url: '/api/v1/models' })).statusCode).toBe(401);
    await app.close();
  });
});
