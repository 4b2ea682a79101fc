import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import type { FastifyInstance, FastifyRequest, RouteOptions } from 'fastify';
import type { ApiScope, ServerConfig } from '../config/types.js';
import type { Logger } from '../logger.js';
import { HttpError } from './errors.js';

/**
 * API authentication: named bearer tokens with scopes, one declaration per route.
 *
 * - Every route under /api/ declares the scope it needs in its options, `config: { scope }`
 *   (read: results and audit records; write: ingestion; admin: recompute, baselines, erasure).
 *   A route without one is refused when it is registered, so none can be added open by mistake.
 *   Other routes (/metrics) may declare one; /healthz, /readyz and /openapi.json do not.
 * - When any token is configured, a request to a route with a scope needs a token holding that
 *   scope: no or an unknown token is 401, a token without the scope 403. A path under /api/ that
 *   matches no route needs a valid token too (its 404 would otherwise map the API to anyone).
 *   With no token configured the API is open, which the daemon warns about at boot.
 * - Secrets are compared as HMAC-SHA-256 digests (a per-process random key) with
 *   timingSafeEqual against every configured token on every request: the time taken depends
 *   neither on the given secret's length nor on which token, if any, it matched.
 * - One access log line per authenticated request (token name, scope, route, status) and per
 *   refusal (reason, route, client address), on the `access` stage; never a secret.
 */

declare module 'fastify' {
  interface FastifyContextConfig {
    /** The scope a token needs for this route (see src/api/auth.ts). */
    scope?: ApiScope;
  }
  interface FastifyRequest {
    /** The token that authenticated this request (null: none configured, or an open route). */
    apiToken: ApiCredential | null;
  }
}

export interface ApiCredential {
  /** The token's name (a DRIFTD_API_TOKENS entry: `apiTokens[i]`). */
  readonly name: string;
  readonly scopes: readonly ApiScope[];
}

const ALL_SCOPES: readonly ApiScope[] = ['read', 'write', 'admin'];

/** The tokens the API accepts: the named, scoped ones and the unnamed DRIFTD_API_TOKENS (every scope). */
export function configuredTokens(
  server: Pick<ServerConfig, 'apiTokens' | 'auth'>,
): Array<ApiCredential & { secret: string }> {
  return [
    ...server.auth.tokens,
    ...server.apiTokens.map((secret, i) => ({
      name: `apiTokens[${i}]`,
      scopes: ALL_SCOPES,
      secret,
    })),
  ];
}

/**
 * The credential a presented secret belongs to, or undefined. Constant time over the tokens:
 * every configured digest is compared, whatever matched.
 */
export function createTokenVerifier(
  tokens: ReadonlyArray<ApiCredential & { secret: string }>,
): (given: string) => ApiCredential | undefined {
  const key = randomBytes(32);
  const digest = (s: string) => createHmac('sha256', key).update(s, 'utf8').digest();
  const known = tokens.map((t) => ({
    credential: { name: t.name, scopes: [...t.scopes] } as ApiCredential,
    digest: digest(t.secret),
  }));
  return (given) => {
    const presented = digest(given);
    let found = -1;
    for (let i = 0; i < known.length; i++) {
      // No early exit: the loop does the same work whichever token (if any) matches.
      const equal = timingSafeEqual(presented, known[i]!.digest);
      found = equal ? i : found;
    }
    return found < 0 ? undefined : known[found]!.credential;
  };
}

const BEARER = /^Bearer[ \t]+([^\s]+)[ \t]*$/i;

/** Route scopes recorded as routes are registered, per app (for tests and tooling). */
const declared = new WeakMap<FastifyInstance, Map<string, ApiScope | null>>();

/** The scope `method url` declared (null: an open route; undefined: no such route). */
export function routeScope(
  app: FastifyInstance,
  method: string,
  url: string,
): ApiScope | null | undefined {
  return declared.get(app)?.get(`${method.toUpperCase()} ${url}`);
}

const isApiPath = (url: string) => url.startsWith('/api/');

/** Installs the scope check; call before any route is registered. */
export function installAuth(
  app: FastifyInstance,
  opts: { server: Pick<ServerConfig, 'apiTokens' | 'auth'>; logger: Logger },
): void {
  const routes = new Map<string, ApiScope | null>();
  declared.set(app, routes);
  const tokens = configuredTokens(opts.server);
  app.addHook('onRoute', (route: RouteOptions) => {
    const scope = route.config?.scope;
    const methods = Array.isArray(route.method) ? route.method : [route.method];
    if (isApiPath(route.url) && scope === undefined) {
      throw new Error(
        `route ${methods.join(',')} ${route.url} declares no scope: add config: { scope: 'read' | 'write' | 'admin' }`,
      );
    }
    for (const m of methods) routes.set(`${m} ${route.url}`, scope ?? null);
    if (scope !== undefined && route.schema) {
      // OpenAPI: the route takes a bearer token, and says which scope.
      route.schema = {
        ...route.schema,
        security: [{ bearerAuth: [] }],
        description: [route.schema.description, `Needs a bearer token with scope \`${scope}\`.`]
          .filter(Boolean)
          .join('\n\n'),
      };
    }
  });
  app.decorateRequest('apiToken', null);
  if (tokens.length === 0) return;

  const verify = createTokenVerifier(tokens);
  const access = opts.logger.child({ stage: 'access' });
  const routeOf = (req: FastifyRequest) =>
    req.routeOptions.url ?? req.url.split('?')[0]!.slice(0, 200);

  app.addHook('onRequest', async (req, reply) => {
    const scope = req.routeOptions.config.scope;
    // Unmatched paths under /api/ need some valid token (scope undefined), others nothing.
    if (scope === undefined && (req.routeOptions.url !== undefined || !isApiPath(req.url))) return;
    const refuse = (status: 401 | 403, reason: string, token?: string) => {
      access.warn(
        {
          reason,
          ...(token === undefined ? {} : { token }),
          scope: scope ?? null,
          method: req.method,
          route: routeOf(req),
          ip: req.ip,
          status,
          reqId: req.id,
        },
        'api access refused',
      );
    };
    const header = req.headers.authorization;
    const match = header === undefined ? null : BEARER.exec(header);
    const credential = match ? verify(match[1]!) : undefined;
    if (!credential) {
      void reply.header('www-authenticate', 'Bearer realm="driftd"');
      refuse(
        401,
        match ? 'unknown token' : header === undefined ? 'no token' : 'not a bearer token',
      );
      throw new HttpError(
        401,
        'DRIFTD_ERR_UNAUTHORIZED',
        match ? 'bearer token not accepted' : 'this route needs "Authorization: Bearer <token>"',
      );
    }
    if (scope !== undefined && !credential.scopes.includes(scope)) {
      void reply.header(
        'www-authenticate',
        `Bearer realm="driftd", error="insufficient_scope", scope="${scope}"`,
      );
      refuse(403, 'missing scope', credential.name);
      throw new HttpError(
        403,
        'DRIFTD_ERR_FORBIDDEN',
        `this route needs a token with scope "${scope}"`,
      );
    }
    req.apiToken = credential;
  });

  app.addHook('onResponse', async (req, reply) => {
    if (req.apiToken === null) return;
    access.info(
      {
        token: req.apiToken.name,
        scope: req.routeOptions.config.scope ?? null,
        method: req.method,
        route: routeOf(req),
        ip: req.ip,
        status: reply.statusCode,
        reqId: req.id,
      },
      'api access',
    );
  });
}
