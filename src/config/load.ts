import { readFile } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { type Document, isMap, isScalar, isSeq, LineCounter, type Node, parseDocument } from 'yaml';
import { ConfigError, type DriftdErrorOptions } from '../errors.js';
import { resolvePrivacy, resolveProtectedHashes } from './privacy.js';
import {
  type ConfigOverrides,
  createReadContext,
  formatIssue,
  formatPath,
  type PathSegment,
  readConfig,
  type SchemaIssue,
} from './schema.js';
import { createSecretReader } from './secrets.js';
import type { DriftdConfig } from './types.js';

export type ConfigEnv = Readonly<Record<string, string | undefined>>;

/** Config file used when neither `path` nor DRIFTD_CONFIG is given, relative to the cwd. */
export const DEFAULT_CONFIG_PATH = 'driftd.yaml';

/** One problem found in a config. */
export interface ConfigIssue {
  /** The line as it appears in `ConfigError.issues`, e.g. `server.port: must be an integer between 0 and 65535`. */
  text: string;
  /** Dotted path of the offending setting (`models[0].windows`), '' for file-level problems. */
  path: string;
  /** Where the offending value came from: "file", an env var name, or "overrides". */
  origin: string;
  /** 1-based position in the file, when the value came from the file and could be located. */
  line?: number;
  column?: number;
}

/** A config that cannot be used; `issues` (and `details`) list every problem, in file order. */
export class InvalidConfigError extends ConfigError {
  /** The config file as named by the user (or the `source` given to parseConfig). */
  readonly source: string;
  readonly details: readonly ConfigIssue[];

  constructor(source: string, details: readonly ConfigIssue[], options: DriftdErrorOptions = {}) {
    super(
      describeIssues(source, details),
      details.map((d) => d.text),
      options,
    );
    this.source = source;
    this.details = details;
  }
}

export interface ParseConfigOptions {
  /** File name used in messages, and (unless `baseDir` is given) the base of relative paths. @default "<inline>" */
  source?: string;
  /** Env overrides (DRIFTD_*). Pass `{}` to ignore the environment. @default process.env */
  env?: ConfigEnv;
  /** Win over the file and the env; relative paths in them resolve against `cwd`. */
  overrides?: ConfigOverrides;
  /** Base of relative paths written in the file. @default dirname(source), or cwd without a source */
  baseDir?: string;
  /** Base of relative paths from env and overrides. @default process.cwd() */
  cwd?: string;
  /**
   * Whether a model with PII fields needs the PII key. Only what never touches event data
   * (generating rules and dashboards) passes false. @default true
   */
  needsPiiKey?: boolean;
}

export interface LoadConfigOptions {
  /** Config file (e.g. from --config). @default env.DRIFTD_CONFIG, else "driftd.yaml" */
  path?: string;
  /** @default process.env */
  env?: ConfigEnv;
  overrides?: ConfigOverrides;
  /** @default process.cwd() */
  cwd?: string;
  /** See ParseConfigOptions.needsPiiKey. @default true */
  needsPiiKey?: boolean;
}

/** The config file to read: `path`, else DRIFTD_CONFIG, else driftd.yaml, as given (not resolved). */
export function resolveConfigPath(options: { path?: string; env?: ConfigEnv } = {}): string {
  const fromEnv = options.env?.DRIFTD_CONFIG;
  return options.path ?? (fromEnv !== undefined && fromEnv !== '' ? fromEnv : DEFAULT_CONFIG_PATH);
}

/** Reads, validates and freezes the config file. Throws InvalidConfigError listing every problem. */
export async function loadConfig(options: LoadConfigOptions = {}): Promise<DriftdConfig> {
  const env = options.env ?? process.env;
  const cwd = options.cwd ?? process.cwd();
  const source = resolveConfigPath({ ...options, env });
  const absolute = resolve(cwd, source);
  let text: string;
  try {
    text = await readFile(absolute, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const reason =
      code === 'ENOENT'
        ? `file not found: ${absolute} (pass --config <file> or set DRIFTD_CONFIG)`
        : `cannot read ${absolute}: ${(err as Error).message}`;
    throw new InvalidConfigError(source, [{ text: reason, path: '', origin: 'file' }], {
      cause: err,
    });
  }
  return parseConfig(text, {
    source,
    env,
    cwd,
    baseDir: dirname(absolute),
    ...(options.needsPiiKey === undefined ? {} : { needsPiiKey: options.needsPiiKey }),
    ...(options.overrides === undefined ? {} : { overrides: options.overrides }),
  });
}

/** Parses YAML text into a validated, deeply frozen config. */
export function parseConfig(text: string, options: ParseConfigOptions = {}): DriftdConfig {
  const source = options.source ?? '<inline>';
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, {
    lineCounter,
    merge: true,
    uniqueKeys: true,
    prettyErrors: false,
  });
  const syntax = [...doc.errors, ...doc.warnings].map((e): ConfigIssue => {
    const { line, col } = lineCounter.linePos(e.pos[0]);
    const message = e.message.split('\n')[0]!.replace(/ at line \d+, column \d+:?$/, '');
    return {
      text: `${source}:${line}:${col}: ${message}`,
      path: '',
      origin: 'file',
      line,
      column: col,
    };
  });
  if (syntax.length > 0) throw new InvalidConfigError(source, syntax);
  let input: unknown;
  try {
    input = doc.toJS({ maxAliasCount: 1000 });
  } catch (err) {
    const text = `${source}: ${(err as Error).message}`;
    throw new InvalidConfigError(source, [{ text, path: '', origin: 'file' }], { cause: err });
  }
  return validate(input, source, options, (issue) => locate(doc, lineCounter, issue));
}

/**
 * Validates an already-parsed document (same shape as the YAML file), e.g. a config built in
 * code. Same defaults, env overrides and errors as parseConfig, without line numbers.
 */
export function validateConfig(input: unknown, options: ParseConfigOptions = {}): DriftdConfig {
  return validate(input, options.source ?? '<inline>', options, () => undefined);
}

function validate(
  input: unknown,
  source: string,
  options: ParseConfigOptions,
  locateIssue: (issue: SchemaIssue) => { line: number; column: number } | undefined,
): DriftdConfig {
  const cwd = options.cwd ?? process.cwd();
  const baseDir =
    options.baseDir ?? (options.source === undefined ? cwd : dirname(resolve(cwd, options.source)));
  const origins = new Map<string, string>();
  const early: ConfigIssue[] = [];
  const filePassword = refuseFilePassword(input, locateIssue);
  if (filePassword !== undefined) early.push(filePassword);
  let layered = applyEnv(input, options.env ?? process.env, origins, early);
  if (options.overrides !== undefined) {
    layered = mergeOverrides(layered, options.overrides, [], origins);
  }
  const originOf = (path: readonly PathSegment[]): string => {
    for (let n = path.length; n >= 0; n--) {
      const origin = origins.get(formatPath(path.slice(0, n)));
      if (origin !== undefined) return origin;
    }
    return 'file';
  };
  const ctx = createReadContext(
    (value, at) => resolve(originOf(at) === 'file' ? baseDir : cwd, value),
    createSecretReader(options.env ?? process.env),
  );
  const config = readConfig(layered, ctx);
  resolvePrivacy(config, ctx, originOf, options.needsPiiKey ?? true);
  if (ctx.issues.length === 0 && early.length === 0) {
    resolveProtectedHashes(config);
    return deepFreeze(config);
  }

  const details: ConfigIssue[] = ctx.issues.map((issue) => {
    const origin = originOf(issue.path);
    const position = origin === 'file' ? locateIssue(issue) : undefined;
    return {
      text: formatIssue(issue, origin === 'file' ? undefined : origin),
      path: formatPath(issue.path),
      origin,
      ...(position === undefined ? {} : { line: position.line, column: position.column }),
    };
  });
  // File order reads best; problems without a position (env, overrides) go last.
  const sorted = details
    .map((d, i) => ({ d, i }))
    .sort(
      (a, b) =>
        (a.d.line ?? Number.POSITIVE_INFINITY) - (b.d.line ?? Number.POSITIVE_INFINITY) ||
        (a.d.column ?? 0) - (b.d.column ?? 0) ||
        a.i - b.i,
    )
    .map(({ d }) => d);
  throw new InvalidConfigError(source, [...sorted, ...early]);
}

// ---------------------------------------------------------------------------------------------
// Environment overrides. Empty variables count as unset.
// ---------------------------------------------------------------------------------------------

const splitList = (text: string): string[] =>
  text
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '');

/** The DRIFTD_* variables that override the file (see src/config/README.md). */
export const CONFIG_ENV_VARS = [
  { name: 'DRIFTD_DATA_DIR', path: ['dataDir'], parse: (s: string): unknown => s },
  { name: 'DRIFTD_HOST', path: ['server', 'host'], parse: (s: string): unknown => s },
  {
    name: 'DRIFTD_PORT',
    path: ['server', 'port'],
    parse: (s: string): unknown => (/^\d+$/.test(s.trim()) ? Number(s.trim()) : s),
  },
  { name: 'DRIFTD_API_TOKENS', path: ['server', 'apiTokens'], parse: splitList },
  { name: 'DRIFTD_CLICKHOUSE_URL', path: ['store', 'clickhouse', 'url'], parse: (s: string) => s },
  {
    name: 'DRIFTD_CLICKHOUSE_PASSWORD',
    path: ['store', 'clickhouse', 'password'],
    parse: (s: string): unknown => s,
  },
  { name: 'DRIFTD_KAFKA_BROKERS', path: ['kafka', 'brokers'], parse: splitList },
  { name: 'DRIFTD_PII_KEY', path: ['privacy', 'piiKey'], parse: (s: string): unknown => s },
  {
    name: 'DRIFTD_PII_KEY_FILE',
    path: ['privacy', 'piiKeyFile'],
    parse: (s: string): unknown => s,
  },
  {
    name: 'DRIFTD_KAFKA_SASL_PASSWORD',
    path: ['kafka', 'sasl', 'password'],
    parse: (s: string): unknown => s,
  },
  {
    name: 'DRIFTD_CLUSTER_ENABLED',
    path: ['cluster', 'enabled'],
    // Anything but true/false reaches the schema as text and is reported there.
    parse: (s: string): unknown => (s.trim() === 'true' ? true : s.trim() === 'false' ? false : s),
  },
  {
    name: 'DRIFTD_CLUSTER_INSTANCE_ID',
    path: ['cluster', 'instanceId'],
    parse: (s: string): unknown => s,
  },
] as const satisfies readonly {
  name: string;
  path: readonly string[];
  parse: (s: string) => unknown;
}[];

function applyEnv(
  input: unknown,
  env: ConfigEnv,
  origins: Map<string, string>,
  issues: ConfigIssue[],
): unknown {
  const store = isRecord(input) ? input.store : undefined;
  const fileEmbedded = isRecord(store) && store.embedded != null;
  const fileClickhouse = isRecord(store) && store.clickhouse != null;
  const urlFromEnv = (env.DRIFTD_CLICKHOUSE_URL ?? '') !== '';
  if ((env.DRIFTD_PII_SALT ?? '') !== '') {
    // A salted SHA-256 of a postcode is reversed by hashing every postcode: refuse to run
    // with the old setting rather than hash weakly or silently ignore it.
    issues.push({
      text: 'DRIFTD_PII_SALT: is no longer read: PII fields are now HMAC-SHA-256 under a secret key; set DRIFTD_PII_KEY (at least 32 random bytes) or privacy.piiKeyFile instead, and unset DRIFTD_PII_SALT (stored hashes and baselines of PII features change: re-import those baselines)',
      path: '',
      origin: 'DRIFTD_PII_SALT',
    });
  }
  const kafka = isRecord(input) ? input.kafka : undefined;
  const fileSasl = isRecord(kafka) && kafka.sasl != null;
  let out = input;
  for (const variable of CONFIG_ENV_VARS) {
    const raw = env[variable.name];
    if (raw === undefined || raw === '') continue;
    if (variable.path[1] === 'clickhouse') {
      const conflict = fileEmbedded
        ? 'store.embedded is configured: a store is either embedded or clickhouse'
        : !fileClickhouse && !urlFromEnv
          ? 'store.clickhouse is not configured (set it in the file or set DRIFTD_CLICKHOUSE_URL)'
          : undefined;
      if (conflict !== undefined) {
        issues.push({
          text: `${variable.name}: is set but ${conflict}`,
          path: '',
          origin: variable.name,
        });
        continue;
      }
    }
    if (variable.path[1] === 'sasl' && !fileSasl) {
      issues.push({
        text: `${variable.name}: is set but kafka.sasl is not configured (set its mechanism and username in the file)`,
        path: '',
        origin: variable.name,
      });
      continue;
    }
    out = setIn(out, variable.path, variable.parse(raw));
    origins.set(formatPath(variable.path), variable.name);
  }
  return out;
}

/**
 * A SASL password written in the file is refused (it would sit in a file that is copied,
 * diffed and logged): the env or a file of its own, readable by the daemon only.
 */
function refuseFilePassword(
  input: unknown,
  locateIssue: (issue: SchemaIssue) => { line: number; column: number } | undefined,
): ConfigIssue | undefined {
  const kafka = isRecord(input) ? input.kafka : undefined;
  const sasl = isRecord(kafka) ? kafka.sasl : undefined;
  if (!isRecord(sasl) || !Object.hasOwn(sasl, 'password')) return undefined;
  const path = ['kafka', 'sasl', 'password'];
  const position = locateIssue({ path, message: '' });
  return {
    text: 'kafka.sasl.password: a password is not accepted in the config file; set the environment variable DRIFTD_KAFKA_SASL_PASSWORD or name a file holding it in kafka.sasl.passwordFile',
    path: formatPath(path),
    origin: 'file',
    ...(position === undefined ? {} : { line: position.line, column: position.column }),
  };
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Copy-on-write set: YAML anchors can make parts of the document shared. */
function setIn(target: unknown, path: readonly string[], value: unknown): unknown {
  const [head, ...rest] = path;
  if (head === undefined) return value;
  if (target !== undefined && target !== null && !isRecord(target)) return target; // reported by the schema
  const base = isRecord(target) ? target : {};
  return { ...base, [head]: setIn(base[head], rest, value) };
}

function mergeOverrides(
  target: unknown,
  overrides: unknown,
  path: PathSegment[],
  origins: Map<string, string>,
): unknown {
  if (!isRecord(overrides) || (target !== undefined && target !== null && !isRecord(target))) {
    origins.set(formatPath(path), 'overrides');
    return overrides;
  }
  const out: Record<string, unknown> = { ...(isRecord(target) ? target : {}) };
  for (const [key, value] of Object.entries(overrides)) {
    if (value === undefined) continue;
    out[key] = mergeOverrides(out[key], value, [...path, key], origins);
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Positions, freezing, messages, redaction.
// ---------------------------------------------------------------------------------------------

/** Line and column of the value an issue is about (or of the unknown key, or of the nearest parent). */
function locate(
  doc: Document,
  lineCounter: LineCounter,
  issue: SchemaIssue,
): { line: number; column: number } | undefined {
  const resolveAlias = (node: unknown): unknown =>
    node !== null && typeof node === 'object' && 'source' in node && 'resolve' in node
      ? (node as { resolve(d: Document): unknown }).resolve(doc)
      : node;
  let node: unknown = resolveAlias(doc.contents);
  let best: unknown = node;
  const segments = [...issue.path, ...(issue.unknownKey === undefined ? [] : [issue.unknownKey])];
  for (const [index, segment] of segments.entries()) {
    const isUnknownKey = issue.unknownKey !== undefined && index === segments.length - 1;
    if (isMap(node)) {
      const pair = node.items.find(
        (p) => String(isScalar(p.key) ? p.key.value : p.key) === segment,
      );
      if (pair === undefined) break;
      best = isUnknownKey || pair.value === null ? pair.key : pair.value;
      node = resolveAlias(pair.value);
    } else if (isSeq(node) && typeof segment === 'number') {
      const item = node.items[segment];
      if (item === undefined) break;
      best = item;
      node = resolveAlias(item);
    } else break;
  }
  const range = (best as Node | null | undefined)?.range;
  if (range === undefined || range === null) return undefined;
  const { line, col } = lineCounter.linePos(range[0]);
  return { line, column: col };
}

function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const child of Object.values(value)) deepFreeze(child);
  }
  return value;
}

function describeIssues(source: string, details: readonly ConfigIssue[]): string {
  const count = `${details.length} problem${details.length === 1 ? '' : 's'}`;
  // file:line:column first, like a compiler, so terminals and editors can jump to it.
  const lines = details.map((d) =>
    d.line === undefined || d.text.startsWith(`${source}:`)
      ? `  ${d.text}`
      : `  ${source}:${d.line}:${d.column}: ${d.text}`,
  );
  return [`${source}: ${count}:`, ...lines].join('\n');
}

/**
 * What the CLI prints for a config error: `driftd.yaml: 2 problems:` then one indented line per
 * problem, with its line in the file when known. Other errors are returned as their message.
 */
export function describeConfigIssues(err: unknown): string {
  if (err instanceof InvalidConfigError) return err.message;
  if (err instanceof ConfigError) {
    return err.issues.length === 0
      ? err.message
      : [`${err.message}:`, ...err.issues.map((i) => `  ${i}`)].join('\n');
  }
  return err instanceof Error ? err.message : String(err);
}

export const REDACTED = '[redacted]';

/**
 * A frozen copy safe to log: API tokens, the ClickHouse password and URL credentials, the Kafka
 * SASL password replaced.
 */
export function redactConfig(config: DriftdConfig): DriftdConfig {
  const copy = structuredClone(config) as DriftdConfig;
  copy.server.apiTokens = copy.server.apiTokens.map(() => REDACTED);
  for (const token of copy.server.auth.tokens) token.secret = REDACTED;
  if (copy.kafka?.sasl?.password != null) copy.kafka.sasl.password = REDACTED;
  if (copy.privacy !== undefined && copy.privacy.piiKey !== null) copy.privacy.piiKey = REDACTED;
  if (copy.store.kind === 'clickhouse') {
    copy.store.password = REDACTED;
    copy.store.url = redactUrl(copy.store.url);
  }
  return deepFreeze(copy);
}

function redactUrl(text: string): string {
  try {
    const url = new URL(text);
    if (url.password === '' && !url.searchParams.has('password')) return text;
    // Built by hand: URL would percent-encode the brackets of the marker.
    const user = url.username === '' ? '' : `${url.username}:${REDACTED}@`;
    const query = url.searchParams.has('password')
      ? url.search.replace(/([?&]password=)[^&]*/, `$1${REDACTED}`)
      : url.search;
    return `${url.protocol}//${user}${url.host}${url.pathname}${query}${url.hash}`;
  } catch {
    return REDACTED;
  }
}
