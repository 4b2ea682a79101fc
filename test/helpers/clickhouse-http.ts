/**
 * A STAND-IN for a ClickHouse server's HTTP interface, for tests only. No ClickHouse server can
 * be installed on this machine (DESIGN.md), so the `@clickhouse/client` driver is tested
 * against this small node:http server on 127.0.0.1 that speaks the part of the HTTP protocol
 * the client uses, and runs every statement on the embedded ClickHouse engine (chDB 26.x) of
 * the test process. The SQL is real ClickHouse; the HTTP layer is ours.
 *
 * Covered (as clickhouse-js 1.x sends it and a 26.x server answers it):
 * - `GET /ping` and `GET /` without a query → "Ok.\n".
 * - `GET|POST /?query=…`; for POST the statement is the `query` parameter, then "\n", then the
 *   body (ClickHouse's rule), so `INSERT … FORMAT JSONEachRow` + data and DDL in the body both
 *   work. GET is read-only (code 164 READONLY otherwise), as on a server.
 * - Query parameters: `param_<name>` in the URL or as multipart/form-data parts (the client's
 *   `use_multipart_params[_auto]`), bound server-side by chDB `queryBindAsync`: the text is
 *   decoded by the `{name:Type}` its placeholder declares (escaped scalars, `\N` for Nullable,
 *   Array literals); Map/Tuple parameters answer 457 BAD_QUERY_PARAMETER.
 * - `database`, `default_format`, `query_id`, and any other URL parameter as a setting (applied
 *   with SET on a connection of its own for that request; an unknown one is 115, as on a server).
 * - Basic auth (`Authorization`, `X-ClickHouse-User`/`-Key` headers, `user`/`password` params)
 *   against a user table: a wrong password is 516 AUTHENTICATION_FAILED with HTTP 403.
 * - Answers carry `X-ClickHouse-Query-Id`, `-Format`, `-Timezone`, `-Server-Display-Name`,
 *   `-Summary`, `Keep-Alive`; errors are `Code: <n>. DB::Exception: … (NAME) (version …)` with
 *   `X-ClickHouse-Exception-Code` and the server's HTTP status for the code. Request bodies in
 *   gzip/deflate/br are decoded; answers are gzip-compressed when `enable_http_compression=1`.
 * - Fault injection for driver tests: an error code before or after executing, a dropped
 *   connection before or after executing (a lost answer), or a delay.
 * - `INSERT INTO t (columns) FORMAT RowBinary` + binary body: chDB takes only text formats as
 *   inline data, so the body is spooled to a file and inserted with the `file` table function,
 *   the column types read from `system.columns` (as the embedded driver does, src/store/chdb.ts).
 * - HTTPS (`tls`): node:https with the given certificate; with `tls.ca`, clients must present a
 *   certificate it signed, refused in the handshake (ClickHouse's `verificationMode: strict`).
 *   X.509 user authentication (`X-ClickHouse-SSL-Certificate-Auth: on`, which the client sends
 *   with a client certificate): the verified peer certificate's CN must be the one
 *   `certificateUsers` gives the user, and no password may be sent, as on a server.
 * Not covered: sessions, progress headers, external tables, other binary formats.
 *
 * chDB binds one data directory per process: give the stand-in the directory the test would
 * otherwise use, and open embedded stores in the same process only on that same directory.
 */
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import {
  createServer,
  type IncomingHttpHeaders,
  type IncomingMessage,
  type ServerResponse,
} from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TLSSocket } from 'node:tls';
import { brotliDecompressSync, gunzipSync, gzipSync, inflateSync } from 'node:zlib';
import { drainPending, Session } from 'chdb';
import { rowBinaryFileInsertSql } from '../../src/store/sql.js';

export interface ClickHouseStandInOptions {
  /** chDB data directory (created if missing). */
  path: string;
  /** user → password (default: `{ default: '' }`). */
  users?: Readonly<Record<string, string>>;
  /** Port on 127.0.0.1 (default 0: a free one), e.g. the one a daemon already waits on. */
  port?: number;
  /** Serve HTTPS with this certificate (PEM contents); `ca` = require client certificates it signed. */
  tls?: { cert: Buffer; key: Buffer; ca?: Buffer };
  /** Users authenticated by certificate instead of password: user → their certificate's CN. */
  certificateUsers?: Readonly<Record<string, string>>;
}

/** What the stand-in does to a request instead of (or besides) answering it normally. */
export type StandInFault =
  /** Answer with this ClickHouse error without executing. */
  | { kind: 'error'; code: number; name: string; message?: string }
  /** Execute, then answer with this error (e.g. 319 UNKNOWN_STATUS_OF_INSERT). */
  | { kind: 'error-after-execute'; code: number; name: string; message?: string }
  /** Reset the connection without executing. */
  | { kind: 'drop' }
  /** Execute, then reset the connection: the client never learns that it worked. */
  | { kind: 'drop-after-execute' }
  /** Wait this long before handling the request (the client may give up meanwhile). */
  | { kind: 'delay'; ms: number };

export type StandInRequestKind = 'ping' | 'insert' | 'query';

export interface StandInRequest {
  method: string;
  kind: StandInRequestKind;
  /** Statement text, without INSERT data. */
  sql: string;
  /** `param_*` values as received (name without the prefix). */
  params: Record<string, string>;
  settings: Record<string, string>;
  multipart: boolean;
  user: string;
  database: string | undefined;
  queryId: string;
  fault?: StandInFault['kind'];
  /** HTTP status sent; 0 when the connection was dropped or the client left. */
  status: number;
  exceptionCode?: number;
}

export interface ClickHouseStandIn {
  /** http://127.0.0.1:<port>, or https:// with `tls` */
  readonly url: string;
  /** Every request, in arrival order. */
  readonly requests: readonly StandInRequest[];
  /**
   * Apply `fault` to the next `times` (default 1) requests of the given kind (default: insert
   * and query requests, not pings) or matching the predicate.
   */
  inject(
    fault: StandInFault,
    opts?: { times?: number; match?: StandInRequestKind | ((r: StandInRequest) => boolean) },
  ): void;
  /** Runs SQL on the backing engine directly (for assertions), rows as JSONEachRow objects. */
  query<T>(sql: string): Promise<T[]>;
  /** Stops listening, resets open connections, releases the engine. Idempotent. */
  close(): Promise<void>;
}

const VERSION = '26.7.2.1';
const DISPLAY_NAME = 'driftd-test-standin';

/** URL parameters of the HTTP interface that are not settings. */
const NOT_SETTINGS = new Set([
  'query',
  'database',
  'default_format',
  'query_id',
  'session_id',
  'session_timeout',
  'session_check',
  'user',
  'password',
  'quota_key',
  'compress',
  'decompress',
  'buffer_size',
  'wait_end_of_query',
  'role',
]);

/** exceptionCodeToHTTPStatus of ClickHouse (src/Server/HTTP/exceptionCodeToHTTPStatus.cpp), by name. */
const HTTP_STATUS_BY_NAME: ReadonlyMap<string, number> = new Map([
  ['REQUIRED_PASSWORD', 401],
  ...[
    'UNKNOWN_USER',
    'WRONG_PASSWORD',
    'AUTHENTICATION_FAILED',
    'SET_NON_GRANTED_ROLE',
    'ACCESS_DENIED',
  ].map((n) => [n, 403] as const),
  ...[
    'BAD_ARGUMENTS',
    'CANNOT_COMPILE_REGEXP',
    'CANNOT_PARSE_TEXT',
    'CANNOT_PARSE_ESCAPE_SEQUENCE',
    'CANNOT_PARSE_QUOTED_STRING',
    'CANNOT_PARSE_DATE',
    'CANNOT_PARSE_DATETIME',
    'CANNOT_PARSE_NUMBER',
    'CANNOT_PARSE_DOMAIN_VALUE_FROM_STRING',
    'CANNOT_PARSE_IPV4',
    'CANNOT_PARSE_IPV6',
    'CANNOT_PARSE_INPUT_ASSERTION_FAILED',
    'CANNOT_PARSE_UUID',
    'DUPLICATE_COLUMN',
    'ILLEGAL_COLUMN',
    'UNKNOWN_ELEMENT_IN_AST',
    'UNKNOWN_TYPE_OF_AST_NODE',
    'THERE_IS_NO_COLUMN',
    'TOO_DEEP_AST',
    'TOO_BIG_AST',
    'UNEXPECTED_AST_STRUCTURE',
    'SYNTAX_ERROR',
    'INCORRECT_DATA',
    'TYPE_MISMATCH',
    'VALUE_IS_OUT_OF_RANGE_OF_DATA_TYPE',
  ].map((n) => [n, 400] as const),
  ...[
    'UNKNOWN_TABLE',
    'UNKNOWN_FUNCTION',
    'UNKNOWN_IDENTIFIER',
    'UNKNOWN_TYPE',
    'UNKNOWN_STORAGE',
    'UNKNOWN_DATABASE',
    'UNKNOWN_SETTING',
    'UNKNOWN_DIRECTION_OF_SORTING',
    'UNKNOWN_AGGREGATE_FUNCTION',
    'UNKNOWN_FORMAT',
    'UNKNOWN_DATABASE_ENGINE',
    'UNKNOWN_TYPE_OF_QUERY',
    'UNKNOWN_ROLE',
  ].map((n) => [n, 404] as const),
  ['QUERY_IS_TOO_LARGE', 413],
  ['NOT_IMPLEMENTED', 501],
  ['SOCKET_TIMEOUT', 503],
  ['CANNOT_OPEN_FILE', 503],
  ['HTTP_LENGTH_REQUIRED', 411],
  ['TIMEOUT_EXCEEDED', 408],
  ['CANNOT_SCHEDULE_TASK', 503],
  ['UNSUPPORTED_MEDIA_TYPE', 415],
]);

/** A ClickHouse exception as the stand-in answers it. */
class ServerException extends Error {
  constructor(
    readonly code: number,
    readonly exceptionName: string,
    message: string,
  ) {
    super(message);
  }
}

function exceptionFrom(err: unknown): ServerException {
  if (err instanceof ServerException) return err;
  const e = (typeof err === 'object' && err !== null ? err : {}) as {
    message?: unknown;
    clickhouseCode?: unknown;
  };
  let text = typeof e.message === 'string' ? e.message : String(err);
  const code = typeof e.clickhouseCode === 'number' ? e.clickhouseCode : 1001;
  // chDB messages already read "Code: <n>. DB::Exception: <text> (NAME)".
  text = text.replace(/^Code: \d+\. DB::Exception: /, '').trim();
  const m = /\(([A-Z][A-Z0-9_]{2,})\)\s*$/.exec(text);
  const name = m?.[1] ?? (typeof e.clickhouseCode === 'number' ? 'UNKNOWN' : 'STD_EXCEPTION');
  if (m) text = text.slice(0, m.index).trimEnd();
  return new ServerException(code, name, text);
}

function exceptionBody(e: ServerException): string {
  return `Code: ${e.code}. DB::Exception: ${e.message}. (${e.exceptionName}) (version ${VERSION} (official build))\n`;
}

// ---------------------------------------------------------------------------------------------
// Parameters: the text the client sent, decoded by the declared type, then bound by chDB

/** ClickHouse's escaped-text rules (what a server applies to a `param_*` value). */
function unescapeTsv(text: string): string {
  if (!text.includes('\\')) return text;
  const map: Record<string, string> = {
    b: '\b',
    f: '\f',
    n: '\n',
    r: '\r',
    t: '\t',
    '0': '\0',
    a: '\x07',
    v: '\v',
    e: '\x1b',
  };
  let out = '';
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (c !== '\\' || i === text.length - 1) {
      out += c;
      continue;
    }
    const next = text[++i]!;
    if (next === 'x' && /^[0-9A-Fa-f]{2}$/.test(text.slice(i + 1, i + 3))) {
      out += String.fromCharCode(Number.parseInt(text.slice(i + 1, i + 3), 16));
      i += 2;
    } else {
      out += map[next] ?? next;
    }
  }
  return out;
}

class LiteralParser {
  private pos = 0;
  constructor(
    private readonly text: string,
    private readonly name: string,
  ) {}

  parseAll(): unknown {
    const v = this.value();
    this.ws();
    if (this.pos !== this.text.length) this.fail('trailing characters');
    return v;
  }

  private fail(why: string): never {
    throw new ServerException(
      457,
      'BAD_QUERY_PARAMETER',
      `Value ${this.text.slice(0, 100)} cannot be parsed for query parameter '${this.name}': ${why} at position ${this.pos}`,
    );
  }

  private ws(): void {
    while (this.pos < this.text.length && /\s/.test(this.text[this.pos]!)) this.pos++;
  }

  private value(): unknown {
    this.ws();
    const c = this.text[this.pos];
    if (c === '[') return this.array();
    if (c === "'") return this.string();
    if (c === '(' || c === '{') this.fail('the stand-in binds scalar and Array parameters only');
    const m = /^[^,\]\s]+/.exec(this.text.slice(this.pos));
    if (!m) this.fail('expected a value');
    this.pos += m[0].length;
    const tok = m[0];
    if (/^null$/i.test(tok)) return null;
    if (/^true$/i.test(tok)) return true;
    if (/^false$/i.test(tok)) return false;
    if (/^[-+]?\d+$/.test(tok)) {
      const n = Number(tok);
      return Number.isSafeInteger(n) ? n : BigInt(tok);
    }
    const f = Number(tok);
    if (!Number.isFinite(f)) this.fail(`unsupported literal ${tok}`);
    return f;
  }

  private array(): unknown[] {
    this.pos++;
    const out: unknown[] = [];
    this.ws();
    if (this.text[this.pos] === ']') {
      this.pos++;
      return out;
    }
    for (;;) {
      out.push(this.value());
      this.ws();
      const c = this.text[this.pos++];
      if (c === ']') return out;
      if (c !== ',') this.fail("expected ',' or ']'");
    }
  }

  private string(): string {
    this.pos++;
    let raw = '';
    for (;;) {
      if (this.pos >= this.text.length) this.fail('unterminated string');
      const c = this.text[this.pos++]!;
      if (c === "'") return unescapeTsv(raw);
      if (c === '\\') {
        raw += c + (this.text[this.pos++] ?? '');
        continue;
      }
      raw += c;
    }
  }
}

const PLACEHOLDER_RE = /\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*:\s*([^{}]+?)\s*\}/g;

function bindParams(sql: string, raw: Record<string, string>): Record<string, unknown> {
  const types = new Map<string, string>();
  for (const m of sql.matchAll(PLACEHOLDER_RE)) types.set(m[1]!, m[2]!);
  const out: Record<string, unknown> = {};
  for (const [name, text] of Object.entries(raw)) {
    const type = types.get(name);
    if (type === undefined) continue; // a server ignores parameters the query does not use
    const inner = type.replace(/^LowCardinality\((.*)\)$/, '$1');
    if (/^(Map|Tuple)\(/.test(inner)) {
      throw new ServerException(
        457,
        'BAD_QUERY_PARAMETER',
        `the test stand-in does not bind ${inner} parameters ('${name}')`,
      );
    }
    if (inner.startsWith('Array(')) out[name] = new LiteralParser(text, name).parseAll();
    else if (text === '\\N' && inner.startsWith('Nullable(')) out[name] = null;
    else out[name] = unescapeTsv(text);
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Request parsing

function parseMultipart(body: Buffer, contentType: string): Map<string, string> {
  const boundary = /boundary=(?:"([^"]+)"|([^;]+))/i.exec(contentType);
  const b = boundary?.[1] ?? boundary?.[2];
  if (!b) throw new ServerException(1001, 'STD_EXCEPTION', 'multipart body without a boundary');
  const parts = new Map<string, string>();
  const chunks = body.toString('utf8').split(`--${b}`);
  for (const chunk of chunks.slice(1)) {
    if (chunk.startsWith('--')) break;
    const part = chunk.startsWith('\r\n') ? chunk.slice(2) : chunk;
    const headerEnd = part.indexOf('\r\n\r\n');
    if (headerEnd < 0) continue;
    const name = /name="([^"]*)"/i.exec(part.slice(0, headerEnd))?.[1];
    let value = part.slice(headerEnd + 4);
    if (value.endsWith('\r\n')) value = value.slice(0, -2);
    if (name !== undefined) parts.set(name, value);
  }
  return parts;
}

function decodeBody(body: Buffer, encoding: string | undefined): Buffer {
  switch ((encoding ?? '').toLowerCase()) {
    case '':
    case 'identity':
      return body;
    case 'gzip':
      return gunzipSync(body);
    case 'deflate':
      return inflateSync(body);
    case 'br':
      return brotliDecompressSync(body);
    default:
      throw new ServerException(
        1001,
        'UNKNOWN_COMPRESSION_METHOD',
        `Unknown HTTP Content-Encoding ${encoding} (the test stand-in decodes gzip, deflate, br)`,
      );
  }
}

function credentials(
  headers: IncomingHttpHeaders,
  qs: URLSearchParams,
): { user: string; password: string } {
  const auth = headers.authorization;
  if (typeof auth === 'string' && /^basic /i.test(auth)) {
    const decoded = Buffer.from(auth.slice(6).trim(), 'base64').toString('utf8');
    const i = decoded.indexOf(':');
    return i < 0
      ? { user: decoded, password: '' }
      : { user: decoded.slice(0, i), password: decoded.slice(i + 1) };
  }
  const hUser = headers['x-clickhouse-user'];
  if (typeof hUser === 'string') {
    const key = headers['x-clickhouse-key'];
    return { user: hUser, password: typeof key === 'string' ? key : '' };
  }
  return { user: qs.get('user') ?? 'default', password: qs.get('password') ?? '' };
}

const INSERT_RE =
  /^\s*INSERT\s+INTO\s+(`?[A-Za-z0-9_]+`?(?:\.`?[A-Za-z0-9_]+`?)?)\s*(?:\(([^)]*)\))?\s*FORMAT\s+([A-Za-z]+)\s*$/i;
const READ_ONLY_RE = /^\s*(SELECT|WITH|SHOW|DESC|DESCRIBE|EXISTS|EXPLAIN|\()/i;
const CHDB_RAW_FORMATS = new Set([
  'JSONEachRow',
  'JSONCompactEachRow',
  'TSV',
  'TabSeparated',
  'TSVWithNames',
  'TabSeparatedWithNames',
  'CSV',
  'CSVWithNames',
]);

function contentTypeOf(format: string): string {
  if (/^JSON(Compact)?(Strings)?EachRow/.test(format)) return 'application/x-ndjson; charset=UTF-8';
  if (format.startsWith('JSON')) return 'application/json; charset=UTF-8';
  if (format.startsWith('TabSeparated') || format.startsWith('TSV'))
    return 'text/tab-separated-values; charset=UTF-8';
  if (format.startsWith('CSV')) return 'text/csv; charset=UTF-8; header=absent';
  return 'text/plain; charset=UTF-8';
}

function sqlString(v: string): string {
  return `'${v.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;
}

/** The empty answer of an INSERT, with the server's X-ClickHouse-Summary counters. */
function insertAnswer(rows: number, bytes: number, elapsedNs: string): Executed {
  return {
    body: Buffer.alloc(0),
    format: undefined,
    summary: {
      read_rows: '0',
      read_bytes: '0',
      written_rows: String(rows),
      written_bytes: String(bytes),
      total_rows_to_read: '0',
      result_rows: String(rows),
      result_bytes: String(bytes),
      elapsed_ns: elapsedNs,
    },
  };
}

function readBody(req: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

// ---------------------------------------------------------------------------------------------
// The server

interface FaultRule {
  fault: StandInFault;
  times: number;
  match: (r: StandInRequest) => boolean;
}

interface Executed {
  body: Buffer;
  format: string | undefined;
  summary: Record<string, string>;
}

/** Starts the stand-in on 127.0.0.1 (a free port unless `opts.port`). */
export async function startClickHouseStandIn(
  opts: ClickHouseStandInOptions,
): Promise<ClickHouseStandIn> {
  const users = opts.users ?? { default: '' };
  const certificateUsers = opts.certificateUsers ?? {};
  const shared = new Session(opts.path);
  const spool = mkdtempSync(join(tmpdir(), 'driftd-standin-spool-'));
  const requests: StandInRequest[] = [];
  const rules: FaultRule[] = [];
  const handlers = new Set<Promise<void>>();
  /** Pending delays: close() ends them early. */
  const delays = new Map<NodeJS.Timeout, () => void>();
  let closing: Promise<void> | undefined;

  function sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const t = setTimeout(() => {
        delays.delete(t);
        resolve();
      }, ms);
      delays.set(t, resolve);
    });
  }

  function takeFault(r: StandInRequest): StandInFault | undefined {
    const i = rules.findIndex((rule) => rule.match(r));
    if (i < 0) return undefined;
    const rule = rules[i]!;
    if (--rule.times <= 0) rules.splice(i, 1);
    return rule.fault;
  }

  async function execute(
    r: StandInRequest,
    statement: string,
    data: Buffer | undefined,
    defaultFormat: string,
  ): Promise<Executed> {
    const started = process.hrtime.bigint();
    const own = r.database !== undefined || Object.keys(r.settings).length > 0;
    // Settings and the default database live on a connection: a request that sets them
    // gets a connection of its own, so nothing leaks into the next request.
    const conn = own ? new Session(opts.path) : shared;
    try {
      if (r.database !== undefined) {
        if (!/^[A-Za-z0-9_]+$/.test(r.database)) {
          throw new ServerException(
            81,
            'UNKNOWN_DATABASE',
            `Database ${r.database} does not exist`,
          );
        }
        await conn.queryAsync(`USE \`${r.database}\``);
      }
      for (const [k, v] of Object.entries(r.settings)) {
        if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(k)) {
          throw new ServerException(115, 'UNKNOWN_SETTING', `Unknown setting '${k}'`);
        }
        await conn.queryAsync(`SET ${k} = ${sqlString(v)}`);
      }
      const elapsed = () => String(process.hrtime.bigint() - started);
      const insert = data !== undefined ? INSERT_RE.exec(statement) : null;
      if (insert && data !== undefined && insert[3] === 'RowBinary') {
        const table = insert[1]!.replace(/`/g, '');
        const names = (insert[2] ?? '').split(',').map((c) => c.trim().replace(/`/g, ''));
        const [dbName, tableName] = table.includes('.') ? table.split('.') : [undefined, table];
        const typeRows = await conn.queryBindAsync(
          `SELECT name, type FROM system.columns WHERE database = ${dbName === undefined ? 'currentDatabase()' : '{db:String}'} AND table = {table:String}`,
          dbName === undefined ? { table: tableName } : { db: dbName, table: tableName },
          { format: 'JSONEachRow' },
        );
        const types = new Map(
          typeRows
            .text()
            .split('\n')
            .filter(Boolean)
            .map((l) => JSON.parse(l) as { name: string; type: string })
            .map((c) => [c.name, c.type]),
        );
        const columns = names.map((name) => {
          const type = types.get(name);
          if (type === undefined) {
            throw new ServerException(
              16,
              'NO_SUCH_COLUMN_IN_TABLE',
              `No such column ${name} in table ${table}`,
            );
          }
          return { name, type };
        });
        const file = join(spool, `${randomUUID()}.rowbinary`);
        writeFileSync(file, data);
        try {
          await conn.queryAsync(rowBinaryFileInsertSql(table, columns, file));
        } finally {
          rmSync(file, { force: true });
        }
        // file() reports no written rows to chDB's caller; the bytes are what was sent.
        return insertAnswer(0, data.length, elapsed());
      }
      if (insert && data !== undefined && CHDB_RAW_FORMATS.has(insert[3]!)) {
        const columns = insert[2]?.split(',').map((c) => c.trim().replace(/`/g, ''));
        const res = await conn.insert({
          table: insert[1]!.replace(/`/g, ''),
          values: data,
          format: insert[3]! as 'JSONEachRow',
          ...(columns && columns.length > 0 ? { columns } : {}),
        });
        return insertAnswer(res.rowsWritten, res.bytesWritten, elapsed());
      }
      const text = data !== undefined ? `${statement}\n${data.toString('utf8')}` : statement;
      const format = /\bFORMAT\s+([A-Za-z]+)\s*;?\s*$/i.exec(statement)?.[1] ?? defaultFormat;
      const bound = bindParams(text, r.params);
      const result =
        Object.keys(bound).length > 0
          ? await conn.queryBindAsync(text, bound, { format })
          : await conn.queryAsync(text, { format });
      const bytes = result.bytes();
      return {
        body: Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength),
        format,
        summary: {
          read_rows: String(result.rowsRead),
          read_bytes: String(result.bytesRead),
          written_rows: '0',
          written_bytes: '0',
          total_rows_to_read: String(result.rowsRead),
          result_rows: '0',
          result_bytes: String(bytes.byteLength),
          elapsed_ns: elapsed(),
        },
      };
    } finally {
      if (own) conn.close();
    }
  }

  /** X.509 authentication as ClickHouse's HTTP handler does it (no password alongside). */
  function certificateAuth(
    req: IncomingMessage,
    qs: URLSearchParams,
    who: { user: string; password: string },
  ): void {
    const fail = (why: string): never => {
      throw new ServerException(516, 'AUTHENTICATION_FAILED', `Invalid authentication: ${why}`);
    };
    if (req.headers.authorization !== undefined || qs.has('user') || qs.has('password')) {
      fail(
        'it is not allowed to use SSL certificate authentication and other credentials simultaneously',
      );
    }
    if (who.password !== '') {
      fail('it is not allowed to use SSL certificate authentication and a password simultaneously');
    }
    const socket = req.socket as Partial<TLSSocket>;
    const peer = socket.authorized ? socket.getPeerCertificate?.() : undefined;
    const cn = peer?.subject?.CN;
    const expected = certificateUsers[who.user];
    if (cn === undefined)
      fail('SSL certificate authentication requires a verified client certificate');
    if (expected === undefined || cn !== expected) {
      fail(`${who.user}: the client certificate (CN ${cn}) does not authenticate this user`);
    }
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://stand-in');
    const qs = url.searchParams;
    const queryId = qs.get('query_id') ?? randomUUID();
    const r: StandInRequest = {
      method: req.method ?? 'GET',
      kind: 'query',
      sql: '',
      params: {},
      settings: {},
      multipart: false,
      user: 'default',
      database: qs.get('database') ?? undefined,
      queryId,
      status: 0,
    };
    const common = {
      'X-ClickHouse-Query-Id': queryId,
      'X-ClickHouse-Timezone': 'UTC',
      'X-ClickHouse-Server-Display-Name': DISPLAY_NAME,
      'Keep-Alive': 'timeout=10',
    };
    const fail = (e: ServerException) => {
      r.status = HTTP_STATUS_BY_NAME.get(e.exceptionName) ?? 500;
      r.exceptionCode = e.code;
      if (res.destroyed) return;
      res.writeHead(r.status, {
        ...common,
        'Content-Type': 'text/plain; charset=UTF-8',
        'X-ClickHouse-Exception-Code': String(e.code),
      });
      res.end(exceptionBody(e));
    };

    try {
      let body = await readBody(req);
      if (
        url.pathname === '/ping' ||
        (url.pathname === '/' && req.method === 'GET' && !qs.has('query'))
      ) {
        r.kind = 'ping';
        requests.push(r);
        r.status = 200;
        res.writeHead(200, { 'Content-Type': 'text/html; charset=UTF-8' });
        res.end('Ok.\n');
        return;
      }
      requests.push(r);
      if (url.pathname !== '/') {
        throw new ServerException(
          1001,
          'STD_EXCEPTION',
          `There is no handle ${url.pathname} (the test stand-in serves / and /ping)`,
        );
      }
      const who = credentials(req.headers, qs);
      r.user = who.user;
      if (String(req.headers['x-clickhouse-ssl-certificate-auth']).toLowerCase() === 'on') {
        certificateAuth(req, qs, who);
      } else if (users[who.user] === undefined || users[who.user] !== who.password) {
        throw new ServerException(
          516,
          'AUTHENTICATION_FAILED',
          `${who.user}: Authentication failed: password is incorrect, or there is no user with such name`,
        );
      }
      body = decodeBody(body, req.headers['content-encoding']);
      const parts = /^multipart\/form-data/i.test(req.headers['content-type'] ?? '')
        ? parseMultipart(body, req.headers['content-type'] ?? '')
        : undefined;
      for (const [k, v] of qs) {
        if (k.startsWith('param_')) r.params[k.slice(6)] = v;
        else if (!NOT_SETTINGS.has(k)) r.settings[k] = v;
      }
      let statement: string;
      let data: Buffer | undefined;
      if (parts) {
        r.multipart = true;
        for (const [k, v] of parts) if (k.startsWith('param_')) r.params[k.slice(6)] = v;
        statement = parts.get('query') ?? qs.get('query') ?? '';
      } else if (qs.has('query') && body.length > 0 && INSERT_RE.test(qs.get('query')!)) {
        statement = qs.get('query')!;
        data = body;
      } else {
        const q = qs.get('query');
        statement =
          q !== null && body.length > 0
            ? `${q}\n${body.toString('utf8')}`
            : (q ?? body.toString('utf8'));
      }
      r.sql = statement;
      r.kind = /^\s*INSERT\b/i.test(statement) ? 'insert' : 'query';
      if (statement.trim() === '') throw new ServerException(62, 'SYNTAX_ERROR', 'Empty query');
      if (req.method === 'GET' && !READ_ONLY_RE.test(statement)) {
        throw new ServerException(
          164,
          'READONLY',
          'Cannot execute query in readonly mode. For queries over HTTP, method GET implies readonly. You should use method POST for modifying queries',
        );
      }

      const fault = takeFault(r);
      if (fault) r.fault = fault.kind;
      if (fault?.kind === 'delay') await sleep(fault.ms);
      if (fault?.kind === 'error') {
        throw new ServerException(
          fault.code,
          fault.name,
          fault.message ?? `injected ${fault.name}`,
        );
      }
      if (fault?.kind === 'drop') {
        req.socket.destroy();
        return;
      }
      if (res.destroyed || req.socket.destroyed || closing) return;

      const out = await execute(r, statement, data, qs.get('default_format') ?? 'TabSeparated');
      if (fault?.kind === 'drop-after-execute') {
        req.socket.destroy();
        return;
      }
      if (fault?.kind === 'error-after-execute') {
        throw new ServerException(
          fault.code,
          fault.name,
          fault.message ?? `injected ${fault.name}`,
        );
      }
      let payload = out.body;
      const headers: Record<string, string> = {
        ...common,
        'X-ClickHouse-Summary': JSON.stringify(out.summary),
        'Content-Type': contentTypeOf(out.format ?? 'TabSeparated'),
      };
      if (out.format) headers['X-ClickHouse-Format'] = out.format;
      if (
        r.settings.enable_http_compression === '1' &&
        /\bgzip\b/.test(String(req.headers['accept-encoding'] ?? ''))
      ) {
        payload = gzipSync(payload);
        headers['Content-Encoding'] = 'gzip';
      }
      r.status = 200;
      if (res.destroyed) {
        r.status = 0;
        return;
      }
      res.writeHead(200, headers);
      res.end(payload);
    } catch (err) {
      fail(exceptionFrom(err));
    }
  }

  const onRequest = (req: IncomingMessage, res: ServerResponse) => {
    const p = handle(req, res).catch(() => {
      if (!res.headersSent) res.destroy();
    });
    handlers.add(p);
    void p.finally(() => handlers.delete(p));
  };
  const serverOptions = { maxHeaderSize: 1 << 20, keepAliveTimeout: 10_000 };
  const tls = opts.tls;
  const server = tls
    ? createHttpsServer(
        {
          ...serverOptions,
          cert: tls.cert,
          key: tls.key,
          ...(tls.ca ? { ca: tls.ca, requestCert: true, rejectUnauthorized: true } : {}),
        },
        onRequest,
      )
    : createServer(serverOptions, onRequest);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port ?? 0, '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as AddressInfo;

  return {
    url: `${tls ? 'https' : 'http'}://127.0.0.1:${port}`,
    requests,
    inject(fault, o = {}) {
      const m = o.match;
      const match =
        typeof m === 'function'
          ? m
          : m !== undefined
            ? (r: StandInRequest) => r.kind === m
            : (r: StandInRequest) => r.kind !== 'ping';
      rules.push({ fault, times: o.times ?? 1, match });
    },
    async query<T>(sql: string): Promise<T[]> {
      const text = (await shared.queryAsync(sql, { format: 'JSONEachRow' })).text();
      return text
        .split('\n')
        .filter((l) => l !== '')
        .map((l) => JSON.parse(l) as T);
    },
    close() {
      closing ??= (async () => {
        for (const [t, wake] of delays) {
          clearTimeout(t);
          wake();
        }
        delays.clear();
        server.closeAllConnections();
        await new Promise<void>((resolve) => server.close(() => resolve()));
        await Promise.allSettled([...handlers]);
        shared.close();
        await drainPending();
        rmSync(spool, { recursive: true, force: true });
      })();
      return closing;
    },
  };
}
