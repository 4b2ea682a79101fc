/**
 * The ClickHouse server executor: the store's SQL over HTTP through `@clickhouse/client`, the
 * only file importing it. It runs exactly the statements of sql.ts / migrations.ts, as the
 * embedded executor does; values travel as server-side `{name:Type}` parameters (URL
 * `param_*` entries, or multipart/form-data parts once they pass 4 KB, e.g. a baseline sample).
 *
 * Failure handling:
 * - Every request has a whole-request deadline (`requestTimeoutMs`: connect, send, server time,
 *   reading the answer). A refused or reset connection and the retriable ClickHouse codes of
 *   RETRIABLE_CLICKHOUSE_CODES are retried with capped, jittered exponential backoff while the
 *   call is younger than one deadline; a missed deadline is a retriable error for the caller.
 *   Everything else (syntax, unknown table, bad data, authentication) fails at once. Statements are safe to repeat: DDL is IF [NOT] EXISTS, reads are reads, and
 *   inserts carry `insert_deduplication_token` = sha256(table, payload) (unless the caller
 *   names the rows with a token of its own), so an INSERT whose
 *   answer was lost (the server may have committed it) is written once (migration 3 enables
 *   the deduplication window on the non-replicated tables; Replicated* tables have it anyway).
 * - Errors name the server by its URL without credentials and never carry the password.
 *   Connection-level failures are `DRIFTD_ERR_STORE_UNAVAILABLE`, so readiness reports them.
 * - TLS (an https:// url): `tls.ca` replaces Node's default CAs; `tls.cert` + `key` is a
 *   client certificate, by which the client asks ClickHouse to authenticate the user (X.509).
 *   A failed handshake (untrusted or wrong-host server certificate, refused client
 *   certificate, a plain-HTTP port) is `DRIFTD_ERR_STORE_UNAVAILABLE` with what to check: the
 *   daemon then waits, not ready, and logs why; it is not retried within a call.
 * - The client gets no `database`: every statement names its database, and `migrate()` must
 *   be able to run `CREATE DATABASE` before the database exists.
 */
import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import { getCACertificates } from 'node:tls';
import {
  type ClickHouseClient,
  ClickHouseError,
  ClickHouseLogLevel,
  type ClickHouseSettings,
  type Logger as ClientLogger,
  createClient,
  type ErrorLogParams,
  type LogParams,
  type WarnLogParams,
} from '@clickhouse/client';
import { DriftdError, InvalidInputError, LifecycleError, StoreError } from '../errors.js';
import type { Logger } from '../logger.js';
import {
  createInflight,
  type InsertOptions,
  type QueryParams,
  type RowBinaryColumn,
  type SqlExecutor,
  storeErrorFromClickHouse,
} from './types.js';

export interface ClickHouseRetryOptions {
  /** Attempts in total, the first included (default 4; 1 disables retries). */
  attempts?: number;
  /** Backoff before the first retry, ms (default 100); doubles per retry. */
  initialDelayMs?: number;
  /** Cap of one backoff, ms (default 2000). */
  maxDelayMs?: number;
}

export interface ClickHouseExecutorOptions {
  /** http(s)://host:port[/path]; credentials in the URL override `username`/`password`. */
  url: string;
  username: string;
  password: string;
  /** Whole-request deadline, ms. */
  requestTimeoutMs: number;
  retry?: ClickHouseRetryOptions;
  /** Sockets kept per host (default 10). */
  maxOpenConnections?: number;
  /** Retries are logged at warn, client-internal warnings too. */
  logger?: Logger;
  /** Jitter source in [0, 1) (default Math.random); tests pin it. */
  random?: () => number;
  /** PEM contents for an https:// url (see the file comment); absent = Node's default CAs. */
  tls?: ClickHouseTlsOptions;
}

export interface ClickHouseTlsOptions {
  /** CA certificate(s) trusted instead of Node's default ones. */
  ca?: Buffer;
  /** Client certificate, with `key`. */
  cert?: Buffer;
  key?: Buffer;
}

const MAX_MESSAGE = 1000;

/** Transport failures where the same request can succeed later: the server is (for now) unreachable. */
const NETWORK_ERROR_CODES: ReadonlySet<string> = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ECONNABORTED',
  'EPIPE',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'EHOSTDOWN',
  'ENETUNREACH',
  'ENETDOWN',
  'EAI_AGAIN',
  'ENOTFOUND',
  'ERR_STREAM_PREMATURE_CLOSE',
]);

/**
 * Handshake failures, by Node / OpenSSL code, with what to check. The server's certificate:
 * node:tls verification codes; the client's: the server's TLS alert as OpenSSL names it.
 */
const TLS_HINTS: readonly [RegExp, string][] = [
  [
    /^(UNABLE_TO_VERIFY_LEAF_SIGNATURE|UNABLE_TO_GET_ISSUER_CERT(_LOCALLY)?|SELF_SIGNED_CERT_IN_CHAIN|DEPTH_ZERO_SELF_SIGNED_CERT|CERT_SIGNATURE_FAILURE|CERT_UNTRUSTED|CERT_REJECTED)$/,
    "the server's certificate is not signed by a trusted CA (check store.clickhouse.tls.ca)",
  ],
  [
    /^ERR_TLS_CERT_ALTNAME_INVALID$/,
    "the server's certificate does not name this host (check the host in store.clickhouse.url)",
  ],
  [
    /^(CERT_HAS_EXPIRED|CERT_NOT_YET_VALID)$/,
    "the server's certificate is expired or not yet valid",
  ],
  [
    /^ERR_SSL_.*ALERT_(CERTIFICATE_REQUIRED|BAD_CERTIFICATE|UNKNOWN_CA|CERTIFICATE_UNKNOWN|UNSUPPORTED_CERTIFICATE|CERTIFICATE_EXPIRED|CERTIFICATE_REVOKED|ACCESS_DENIED|HANDSHAKE_FAILURE)$/,
    'the server refused the client certificate, or needs one (check store.clickhouse.tls.cert and key)',
  ],
];

/** What to check after a failed TLS handshake, or undefined when the error is not one. */
function tlsHint(err: NodeJS.ErrnoException): string | undefined {
  const code = err.code ?? '';
  // OpenSSL's record layer reading plain HTTP: Node reports only EPROTO and OpenSSL's text.
  if (code === 'EPROTO') {
    return /wrong version number|packet length too long|http request/i.test(err.message)
      ? 'the server does not speak TLS on this port (is it a plain http:// port?)'
      : "the TLS handshake failed (check store.clickhouse.tls and the server's TLS settings)";
  }
  return TLS_HINTS.find(([re]) => re.test(code))?.[1];
}

/** The client's `tls` option: absent without a CA or client certificate (Node's default CAs). */
function clientTls(
  tls: ClickHouseTlsOptions | undefined,
): { ca_cert: Buffer } | { ca_cert: Buffer; cert: Buffer; key: Buffer } | undefined {
  if (tls === undefined || (tls.ca === undefined && tls.cert === undefined)) return undefined;
  if ((tls.cert === undefined) !== (tls.key === undefined)) {
    throw new InvalidInputError('store.clickhouse.tls: cert and key go together');
  }
  // The client's mutual TLS takes a CA; without one configured, Node's default ones are meant.
  const ca = tls.ca ?? Buffer.from(getCACertificates('default').join('\n'));
  return tls.cert !== undefined && tls.key !== undefined
    ? { ca_cert: ca, cert: tls.cert, key: tls.key }
    : { ca_cert: ca };
}

/** Codes where the fix is the configured credentials, not the statement. */
const AUTH_CODES: ReadonlySet<number> = new Set([192, 193, 194, 516]);

/** The server as shown in messages and logs: scheme, host, port and path, never credentials. */
export function describeServer(url: URL): string {
  return `${url.protocol}//${url.host}${url.pathname === '/' ? '' : url.pathname}`;
}

function truncate(text: string): string {
  return text.length > MAX_MESSAGE ? `${text.slice(0, MAX_MESSAGE)}…` : text;
}

/** The client logs through driftd's logger: its warnings at warn, its error reports at debug (we report those ourselves). */
function clientLoggerClass(log: Logger | undefined): new () => ClientLogger {
  const fields = (p: LogParams & { err?: Error }) => ({
    module: p.module,
    ...(p.args ? { args: p.args } : {}),
    ...(p.err ? { err: p.err } : {}),
  });
  return class implements ClientLogger {
    trace(): void {}
    debug(p: LogParams): void {
      log?.debug(fields(p), `clickhouse client: ${p.message}`);
    }
    info(p: LogParams): void {
      log?.debug(fields(p), `clickhouse client: ${p.message}`);
    }
    warn(p: WarnLogParams): void {
      log?.warn(fields(p), `clickhouse client: ${p.message}`);
    }
    error(p: ErrorLogParams): void {
      log?.debug(fields(p), `clickhouse client: ${p.message}`);
    }
  };
}

/**
 * A retry's backoff. Not unref'd: when the retried request is the only work left (a CLI
 * command, the daemon's start), an unref'd timer let the event loop drain mid-retry and Node
 * ended the process with exit code 13 ("unsettled top-level await") and no message.
 */
function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Creates the executor; no connection is made until the first statement. */
export function createClickHouseExecutor(options: ClickHouseExecutorOptions): SqlExecutor {
  let url: URL;
  try {
    url = new URL(options.url);
  } catch {
    throw new InvalidInputError('store.clickhouse.url is not a valid URL');
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new InvalidInputError(
      `store.clickhouse.url must be http:// or https://, got ${url.protocol}`,
    );
  }
  const fromUrl = (part: string, fallback: string): string => {
    if (part === '') return fallback;
    try {
      return decodeURIComponent(part);
    } catch {
      throw new InvalidInputError('store.clickhouse.url has malformed credentials');
    }
  };
  const username = fromUrl(url.username, options.username);
  const password = fromUrl(url.password, options.password);
  url.username = '';
  url.password = '';
  const server = describeServer(url);
  const timeoutMs = options.requestTimeoutMs;
  if (!Number.isInteger(timeoutMs) || timeoutMs <= 0) {
    throw new InvalidInputError(`requestTimeoutMs must be a positive integer, got ${timeoutMs}`);
  }
  const attempts = Math.max(1, options.retry?.attempts ?? 4);
  const initialDelay = options.retry?.initialDelayMs ?? 100;
  const maxDelay = options.retry?.maxDelayMs ?? 2000;
  const random = options.random ?? Math.random;
  const log = options.logger;
  const tls = clientTls(options.tls);
  if (tls !== undefined && url.protocol !== 'https:') {
    throw new InvalidInputError('store.clickhouse.tls needs an https:// store.clickhouse.url');
  }

  const client: ClickHouseClient = createClient({
    url,
    username,
    password,
    // Our own deadline (below) covers the whole request; the client's is a socket-idle
    // timeout, kept longer so it never fires first with its code-less "Timeout error.".
    request_timeout: timeoutMs + 5000,
    max_open_connections: options.maxOpenConnections ?? 10,
    // A baseline sample (10 000 floats) would make a 200 KB URL that proxies refuse.
    use_multipart_params_auto: true,
    application: 'driftd',
    log: { LoggerClass: clientLoggerClass(log), level: ClickHouseLogLevel.WARN },
    ...(tls ? { tls } : {}),
  });

  const inflight = createInflight();
  let closing: Promise<void> | undefined;

  function toStoreError(err: unknown, what: string, timedOut: boolean): DriftdError {
    if (err instanceof DriftdError) return err;
    if (timedOut) {
      return new StoreError(
        `ClickHouse at ${server} did not answer within ${timeoutMs} ms (store.clickhouse.requestTimeoutMs) while ${what}`,
        { retriable: true, unavailable: true, cause: err },
      );
    }
    if (err instanceof ClickHouseError) {
      const code = Number(err.code);
      const name = err.type ? ` ${err.type}` : '';
      const hint = AUTH_CODES.has(code)
        ? ` (user ${JSON.stringify(username)}; check store.clickhouse.username and password)`
        : '';
      return storeErrorFromClickHouse(
        `ClickHouse at ${server} failed ${what} (code ${err.code}${name})${hint}: ${truncate(err.message.trim())}`,
        Number.isInteger(code) ? code : undefined,
        err,
      );
    }
    const sys = (err as NodeJS.ErrnoException | null)?.code;
    const hint = typeof sys === 'string' ? tlsHint(err as NodeJS.ErrnoException) : undefined;
    if (hint !== undefined) {
      // Not retried here (the same handshake fails the same way); unavailable, so a waiting
      // daemon keeps trying (a server certificate may be fixed) and is not ready meanwhile.
      return new StoreError(`TLS with ClickHouse at ${server} failed (${sys}): ${hint}`, {
        unavailable: true,
        cause: err,
      });
    }
    if (typeof sys === 'string' && NETWORK_ERROR_CODES.has(sys)) {
      // A server that rejects a client certificate after the handshake (TLS 1.3) may reset
      // the connection instead of sending its alert.
      const tlsNote =
        sys === 'ECONNRESET' && options.tls?.cert !== undefined
          ? '; a server refusing the client certificate may reset the connection (check store.clickhouse.tls.cert and key)'
          : '';
      return new StoreError(
        `cannot reach ClickHouse at ${server} (${sys}) while ${what}${tlsNote}`,
        {
          retriable: true,
          unavailable: true,
          cause: err,
        },
      );
    }
    const message = err instanceof Error ? err.message : String(err);
    return new StoreError(`ClickHouse at ${server}: ${what} failed: ${truncate(message)}`, {
      cause: err,
    });
  }

  /** One attempt under the deadline; the signal aborts the request (and the body read). */
  async function once<T>(what: string, op: (signal: AbortSignal) => Promise<T>): Promise<T> {
    const controller = new AbortController();
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      controller.abort();
    }, timeoutMs);
    try {
      return await op(controller.signal);
    } catch (err) {
      throw toStoreError(err, what, timedOut);
    } finally {
      clearTimeout(timer);
    }
  }

  /**
   * Retries fast failures while the call is younger than one request deadline: a refused
   * connection or a 202 is tried again at once, but a request that used up its whole deadline
   * is not repeated here (an overloaded server gets no second copy, a readiness probe no 4×
   * wait); its error is retriable for the caller, whose retry carries the same dedup token.
   */
  async function withRetry<T>(what: string, op: (signal: AbortSignal) => Promise<T>): Promise<T> {
    const started = Date.now();
    for (let attempt = 1; ; attempt++) {
      try {
        return await once(what, op);
      } catch (err) {
        const e = err as DriftdError;
        if (!e.retriable || attempt >= attempts || closing) throw e;
        // Equal jitter: half the exponential step fixed, half random, so retries of
        // several callers spread out but never collapse to zero wait.
        const step = Math.min(maxDelay, initialDelay * 2 ** (attempt - 1));
        const delayMs = Math.round(step / 2 + random() * (step / 2));
        if (Date.now() - started + delayMs >= timeoutMs) throw e;
        log?.warn(
          { err: e, attempt, attempts, delayMs, clickhouseCode: (e as StoreError).clickhouseCode },
          'ClickHouse request failed, retrying',
        );
        await sleep(delayMs);
        if (closing) throw e;
      }
    }
  }

  function run<T>(what: string, op: (signal: AbortSignal) => Promise<T>): Promise<T> {
    if (closing) return Promise.reject(new LifecycleError('ClickHouse store is closed'));
    const p = withRetry(what, op);
    return inflight.track(p);
  }

  const params = (p: QueryParams | undefined): Record<string, unknown> | undefined =>
    p !== undefined && Object.keys(p).length > 0 ? { ...p } : undefined;

  function insertBody(
    table: string,
    query: string,
    payload: Uint8Array | readonly Uint8Array[],
    opts: InsertOptions,
  ): Promise<void> {
    const body = (payload instanceof Uint8Array ? [payload] : payload)
      .filter((c) => c.length > 0)
      .map((c) => Buffer.from(c.buffer, c.byteOffset, c.byteLength));
    if (body.length === 0) return Promise.resolve();
    // Same table + same bytes = same rows: a retry of this call, or a repeat of an INSERT
    // whose answer was lost, is deduplicated by the server instead of written twice. A token
    // the caller gives (a finalised window's, src/cluster/types.ts) names the rows instead.
    let token = opts.settings?.insert_deduplication_token;
    if (token === undefined) {
      const hash = createHash('sha256').update(table).update('\0');
      for (const chunk of body) hash.update(chunk);
      token = hash.digest('hex');
    }
    const settings = {
      ...opts.settings,
      insert_deduplication_token: String(token),
    } as ClickHouseSettings;
    return run(`inserting into ${table}`, async (signal) => {
      const result = await client.exec({
        query,
        values: Readable.from(body, { objectMode: false }),
        clickhouse_settings: settings,
        abort_signal: signal,
      });
      // The answer of an INSERT is empty; read it to the end so the socket is reused.
      for await (const _ of result.stream) {
        // nothing to read
      }
    });
  }

  return {
    kind: 'clickhouse',

    command(sql: string, p?: QueryParams): Promise<void> {
      return run('running a statement', async (signal) => {
        const qp = params(p);
        await client.command({
          query: sql,
          abort_signal: signal,
          ...(qp ? { query_params: qp } : {}),
        });
      });
    },

    query<T>(sql: string, p?: QueryParams): Promise<T[]> {
      return run('running a query', async (signal) => {
        const qp = params(p);
        const rs = await client.query({
          query: sql,
          format: 'JSONEachRow',
          abort_signal: signal,
          ...(qp ? { query_params: qp } : {}),
        });
        return rs.json<T>();
      });
    },

    insertJsonEachRow(table: string, payload: Uint8Array, opts: InsertOptions = {}): Promise<void> {
      return insertBody(table, `INSERT INTO ${table} FORMAT JSONEachRow`, payload, opts);
    },

    insertRowBinary(
      table: string,
      columns: readonly RowBinaryColumn[],
      payload: Uint8Array | readonly Uint8Array[],
      opts: InsertOptions = {},
    ): Promise<void> {
      const names = columns.map((c) => c.name).join(', ');
      return insertBody(table, `INSERT INTO ${table} (${names}) FORMAT RowBinary`, payload, opts);
    },

    close(): Promise<void> {
      closing ??= (async () => {
        await inflight.settled();
        await client.close();
      })();
      return closing;
    },
  };
}
