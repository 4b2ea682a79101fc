import { join } from 'node:path';
import { FAIRNESS_DEFAULTS, type FairnessVerdictRule } from '../stats/fairness.js';
import { declaredGroups, MISSING_GROUP, OTHER_GROUP } from '../stats/fairness-groups.js';
import type { DriftTest, FeatureType, ModelTask } from '../types.js';
import { checkTimeZone } from '../window/identity.js';
import { DEFAULT_EFFECT_FLOORS } from '../window/verdict.js';
import type { AlertsYaml, ModelAlertsYaml } from './alerts.js';
import { type AlertsInput, readModelAlerts, readTopAlerts, resolveAlerts } from './alerts.js';
import { type ClusterInput, checkClusterMode, readCluster } from './cluster.js';
import { checkDuration } from './duration.js';
import { pemFileProblem } from './tls.js';
import type {
  ApiScope,
  ApiTokenConfig,
  ClickHouseTlsConfig,
  ComparisonConfig,
  DriftdConfig,
  FairnessAttributeConfig,
  FairnessConfig,
  FeatureConfig,
  IngestConfig,
  KafkaConfig,
  KafkaMessageKey,
  KafkaSaslConfig,
  KafkaSaslMechanism,
  KafkaTlsConfig,
  ModelConfig,
  PrivacyConfig,
  ReferenceConfig,
  ReferenceKind,
  SegmentsConfig,
  ServerAuthConfig,
  ServerConfig,
  ServerTlsConfig,
  StoreConfig,
  VerdictRule,
  WindowSizeConfig,
} from './types.js';

// ---------------------------------------------------------------------------------------------
// The config file as written (YAML shape). Every field's default is documented here, where it
// is declared; the reader below is the single place that applies it.
// ---------------------------------------------------------------------------------------------

export type LogLevel = DriftdConfig['logLevel'];

export interface DriftdConfigInput {
  /**
   * Directory for local state; the embedded store lives in `<dataDir>/store`.
   * Relative paths resolve against the config file's directory. Env: DRIFTD_DATA_DIR.
   * @default ".driftd"
   */
  dataDir?: string;
  server?: ServerInput;
  /** Exactly one of `embedded` or `clickhouse`. @default { embedded: { path: "<dataDir>/store" } } */
  store?: StoreInput;
  /** Omit (or null) to run without Kafka: events then come over HTTP or replay. @default null */
  kafka?: KafkaInput | null;
  /** Rules on ingested items (see src/limits.ts for the fixed limits). */
  ingest?: IngestInput;
  /** pino level. @default "info" */
  logLevel?: LogLevel;
  /** At least one model. */
  models: ModelInput[];
  /** Personal data (see docs/security.md "Personal data"). */
  privacy?: PrivacyInput;
  /** Alert rules and performance verdicts: defaults for every model, and the pipeline alerts. */
  alerts?: AlertsYaml;
  /** Several instances, one answer (src/config/cluster.ts, docs/scale-out.md). @default absent (one instance) */
  cluster?: ClusterInput;
}

export interface PrivacyInput {
  /**
   * File holding the secret key of the PII HMAC (its text; one trailing newline is ignored),
   * at least 32 bytes. Required (or DRIFTD_PII_KEY) when any model has `piiFields`. Relative
   * paths resolve against the config file's directory. Env: DRIFTD_PII_KEY_FILE. The key
   * itself may come from DRIFTD_PII_KEY instead, never from this file. @default null
   */
  piiKeyFile?: string;
}

export interface IngestInput {
  /**
   * How far ahead of the daemon's clock a prediction event's `ts` may be on a live source
   * (HTTP, Kafka); a later one is rejected with reason `ts_in_future` (one such event would
   * make every later on-time event of its model version late). Replay accepts any storable
   * time. A duration (e.g. 15m, 1h), not zero. @default "1h"
   */
  maxFutureSkew?: string;
}

export interface ServerInput {
  /** Interface the HTTP API and /metrics bind to. Env: DRIFTD_HOST. @default "127.0.0.1" */
  host?: string;
  /** 0 picks a free port. Env: DRIFTD_PORT. @default 8080 */
  port?: number;
  /**
   * Unnamed bearer tokens, each holding every scope (read, write, admin); at least
   * MIN_TOKEN_LENGTH characters. Prefer `auth.tokens`. With no token at all, /api/v1 is open,
   * which the daemon logs as a warning at boot. Env: DRIFTD_API_TOKENS (comma-separated).
   * @default []
   */
  apiTokens?: string[];
  /** Named, scoped API tokens and what /metrics needs. */
  auth?: ServerAuthInput;
  /** Largest accepted request body, in bytes (1 KiB .. 1 GiB). @default 10485760 (10 MiB) */
  bodyLimitBytes?: number;
  /**
   * Largest training file `POST /api/v1/models/:model/versions/:version/baseline` accepts, in
   * bytes (1 KiB .. 1 TiB); it is streamed to `<dataDir>/uploads`, never held in memory.
   * @default 4294967296 (4 GiB)
   */
  baselineUploadMaxBytes?: number;
  /**
   * Longest a client may take to send one whole request (headers and body), ms; a slower one
   * is answered 408 and disconnected, so slow senders cannot pile up connections and memory.
   * @default 60000
   */
  requestTimeoutMs?: number;
  /** Longest a client may take to send the request headers, ms; at most requestTimeoutMs. @default 10000 */
  headersTimeoutMs?: number;
  /**
   * How long an idle keep-alive connection stays open between requests, ms. Keep it above the
   * idle timeout of a load balancer in front (AWS ALB: 60 s), or it may reuse a closing socket.
   * @default 72000
   */
  keepAliveTimeoutMs?: number;
  /**
   * Serve HTTPS instead of HTTP on `port` (plain HTTP is then not served). PEM file paths;
   * relative ones resolve against the config file's directory. @default null (plain HTTP)
   */
  tls?: {
    /** Server certificate (chain). Required. */
    cert?: string;
    /** Its private key (unencrypted). Required. */
    key?: string;
    /** When set, clients must present a certificate signed by this CA (mutual TLS). @default null */
    ca?: string | null;
  } | null;
}

export interface ServerAuthInput {
  /** Named tokens; when any token is configured, every /api/v1 route needs one with its scope. @default [] */
  tokens?: ApiTokenInput[];
  /** open: /metrics needs no token; read: a token with scope read (when tokens are configured). @default "open" */
  metrics?: 'open' | 'read';
}

export interface ApiTokenInput {
  /** Shown in the access log; lowercase letters, digits, "-" and "_". Required. */
  name?: string;
  /** read (results, audit), write (ingestion), admin (recompute, baselines, erasure). Required. */
  scopes?: ApiScope[];
  /** Environment variable holding the secret (exactly one of secretEnv, secretFile). */
  secretEnv?: string;
  /** File holding the secret (surrounding whitespace ignored); relative to the config file. */
  secretFile?: string;
}

export interface StoreInput {
  /** Days raw events are kept (ClickHouse TTL), 1..36500. Aggregates and results are kept. @default 30 */
  rawEventsTtlDays?: number;
  /**
   * Days window results and performance (every revision) are kept, counted from when each was
   * written: 0 = forever, else at least rawEventsTtlDays. Baselines never expire. @default 0
   */
  resultsTtlDays?: number;
  /** In-process ClickHouse (chdb): no server needed. */
  embedded?: {
    /** Relative paths resolve against the config file's directory. @default "<dataDir>/store" */
    path?: string;
  } | null;
  /** A ClickHouse server over HTTP(S). */
  clickhouse?: {
    /** e.g. http://clickhouse:8123. Required. Env: DRIFTD_CLICKHOUSE_URL. */
    url?: string;
    /** @default "driftd" */
    database?: string;
    /** @default "default" */
    username?: string;
    /** Env: DRIFTD_CLICKHOUSE_PASSWORD (preferred over the file). @default "" */
    password?: string;
    /** @default 30000 */
    requestTimeoutMs?: number;
    /**
     * TLS to the server (needs an https:// url). PEM file paths; relative ones resolve against
     * the config file's directory. @default null (an https:// url trusts Node's default CAs)
     */
    tls?: {
      /** CA certificate(s) the server's certificate must be signed by, instead of Node's default ones. @default null */
      ca?: string | null;
      /**
       * Client certificate (with `key`): ClickHouse then authenticates `username` by this
       * certificate (X.509 authentication), so `password` must be empty. @default null
       */
      cert?: string | null;
      /** Private key of `cert` (unencrypted). @default null */
      key?: string | null;
    } | null;
  } | null;
}

export interface KafkaInput {
  /** host:port list. Required when `kafka` is present. Env: DRIFTD_KAFKA_BROKERS (comma-separated). */
  brokers?: string[];
  /** @default "driftd" */
  clientId?: string;
  /** Consumer group shared by every daemon instance. @default "driftd" */
  groupId?: string;
  /** @default "driftd.predictions" */
  predictionsTopic?: string;
  /** @default "driftd.labels" */
  labelsTopic?: string;
  /** Undecodable or invalid messages go here with the reason in a header. @default "driftd.dlq" */
  deadLetterTopic?: string;
  /** Larger messages are dead-lettered (1 KiB .. 1 GiB). @default 1048576 (1 MiB) */
  maxMessageBytes?: number;
  /**
   * What the key of a prediction message carries for values without `model`/`version`: none,
   * model, or model:version. The value's own fields win, then the driftd-model/driftd-version
   * headers, then the key. @default "none"
   */
  messageKey?: KafkaMessageKey;
  /**
   * TLS to the brokers, the broker's certificate always verified (chain and host name).
   * `true` = Node's default CAs; a mapping names PEM files (relative paths resolve against the
   * config file's directory), read at startup. @default null (plaintext)
   */
  ssl?: boolean | KafkaTlsInput | null;
  /**
   * SASL authentication. The password comes from the environment variable
   * DRIFTD_KAFKA_SASL_PASSWORD or the file `passwordFile`, never from this file.
   * `plain` needs `ssl` (its password would cross the network in clear). @default null
   */
  sasl?: KafkaSaslInput | null;
}

export interface KafkaTlsInput {
  /** CA certificates (PEM) the brokers' certificates must chain to. @default Node's default CAs */
  ca?: string;
  /** Client certificate (PEM) for mTLS; needs `key`. @default none */
  cert?: string;
  /** The client certificate's private key (PEM, unencrypted); needs `cert`. @default none */
  key?: string;
}

export interface KafkaSaslInput {
  /** plain | scram-sha-256 | scram-sha-512. Required. */
  mechanism?: KafkaSaslMechanism;
  /** Required. */
  username?: string;
  /**
   * A file holding the password (one trailing newline ignored), read at startup; exactly one
   * of it and the env DRIFTD_KAFKA_SASL_PASSWORD.
   */
  passwordFile?: string;
}

export interface ModelInput {
  /** The `model` field of events and the `model` metric label: lowercase letters, digits, - and _. Required. */
  id?: string;
  /** binary-classification | multiclass | regression. Required. */
  task?: ModelTask;
  /** At least one; names unique within the model. */
  features?: FeatureInput[];
  prediction?: {
    /** Column of the prediction in baseline files. @default "prediction" */
    field?: string;
    /** @default "categorical" for multiclass, "numeric" otherwise (a score or a value) */
    type?: FeatureType;
  };
  label?: {
    /** Column of the ground truth in baseline files. @default "label" */
    field?: string;
    /** Class treated as positive for binary metrics (number or string). @default 1 */
    positive?: number | string;
    /** Probability at or above which a binary prediction counts as positive, 0..1. @default 0.5 */
    threshold?: number;
  };
  windows?: {
    /** Tumbling event-time window sizes, each at least 1s; as written they become the `window` label. @default ["5m", "1h"] */
    sizes?: string[];
    /** How far behind the newest event time an event may arrive and still count. "0" allowed. @default "1m" */
    allowedLateness?: string;
    /** A window with no new events for this long (wall clock) is closed anyway. @default "2m" */
    idleTimeout?: string;
  };
  drift?: {
    /** Events a window needs before any verdict. @default 100 */
    minWindowSize?: number;
    /** Dataset drift when at least this share of features drifted, in (0, 1]. @default 0.5 */
    shareThreshold?: number;
    /** Benjamini–Hochberg false discovery rate across features, in (0, 1). @default 0.05 */
    fdr?: number;
    /** Fine quantile bins per numeric feature (KS error ≤ 1/bins), 10..100000. @default 1000 */
    bins?: number;
    /** Coarse PSI buckets derived from the fine bins, 2..1000 and ≤ bins. @default 10 */
    psiBuckets?: number;
    /**
     * PSI at or above which a distribution counts as shifted: the effect floor of PSI under
     * calibrated verdicts, its threshold under fixed ones. @default 0.2
     */
    psiThreshold?: number;
    /**
     * calibrated: drifted = significant at the window's size after Benjamini–Hochberg at
     * `fdr` AND effect ≥ effectFloor (src/window/verdict.ts); threshold: fixed thresholds
     * per test as before (distance ≥ 0.1 / psiThreshold, adjusted p ≤ fdr). @default "calibrated"
     */
    verdict?: VerdictRule;
    /**
     * Minimum effect per test under calibrated verdicts (≥ 0): wasserstein (normed),
     * jensen-shannon, psi, ks (D) and chi-square (Cohen's w).
     * @default {"wasserstein":0.1,"jensen-shannon":0.1,"psi":psiThreshold,"ks":0.1,"chi-square":0.1}
     */
    effectFloor?: Partial<Record<DriftTest, number>>;
    /** Categories tracked per categorical feature; the rest is "other", 1..100000. @default 100 */
    topCategories?: number;
    /** Reservoir sample of raw baseline values per numeric feature, 1..1000000. @default 10000 */
    sampleSize?: number;
  };
  /**
   * Event fields replaced by HMAC-SHA-256 under the secret PII key (DRIFTD_PII_KEY or
   * privacy.piiKeyFile) before anything keeps them, the same way in baselines, labels and
   * lookups: keys of `features` (monitored categorical features, or unmonitored fields kept
   * by storeUnlistedFields) or `id`. A numeric feature cannot be one (its hash is no number).
   * The event text as received is not kept for such a model. @default []
   */
  piiFields?: string[];
  /**
   * Keep event fields this config does not name (features not configured, extra top-level
   * members) in the stored record. false: they are dropped before storage (data
   * minimisation); an unlisted field named in piiFields is kept hashed. @default false
   */
  storeUnlistedFields?: boolean;
  /**
   * IANA time zone (e.g. "America/New_York") that windows of a whole number of days are
   * aligned in: local midnight to midnight, DST days 23 h / 25 h long. @default "UTC"
   */
  timeZone?: string;
  /**
   * What each window is compared with: kind baseline (the training baseline), previous (the
   * window just before) or rolling (the sum of the `windows` windows before, 2..60, required
   * for rolling). @default {"kind":"baseline"}
   */
  reference?: { kind?: ReferenceKind; windows?: number };
  /** This model's alert settings, merged over the top-level `alerts` key by key. */
  alerts?: ModelAlertsYaml;
  /**
   * Fairness per protected group (binary-classification models only; docs/fairness.md): per
   * window and group, selection rate, TPR and FPR with Wilson intervals, their ratios to the
   * reference group (Katz intervals) and the equalised-odds difference, with verdicts.
   * @default absent (not monitored)
   */
  fairness?: FairnessInput | null;
  /**
   * Segments (docs/segments.md): every window is also evaluated per value of each field,
   * against the baseline's rows of that value. `fields`: categorical features of this model,
   * 1..5, required. `maxPerField`: the field's most frequent baseline values that are a
   * segment each, 1..100; the rest (and values the baseline never had) is "__other__".
   * Changing segments needs the baseline imported again. @default absent (none)
   */
  segments?: { fields?: string[]; maxPerField?: number };
  /**
   * Champion/challenger comparison of this model's versions (docs/comparison.md): per window,
   * each challenger's window tested against the champion's of the same span, their estimated
   * and realised performance and traffic share. @default absent (no comparison)
   */
  comparison?: ComparisonInput | null;
}

export interface ComparisonInput {
  /** The champion version. Required. */
  champion?: string;
  /** Challenger versions, 1..20, unique, not the champion. @default every other version */
  challengers?: string[];
  /** Shadow mode: both versions score the same event ids (agreement, score difference). @default false */
  shadow?: boolean;
}

export interface FairnessInput {
  /** Protected attributes, 1..10, fields unique. Required. */
  attributes?: FairnessAttributeInput[];
  /** Two-sided confidence level of every interval, in (0, 1). @default 0.95 */
  confidence?: number;
  /** A rate (and its reference's) needs a denominator of at least this for a verdict, ≥ 1. @default 30 */
  minGroupSize?: number;
  /** A disparity ratio outside [min, max] is a disparity, 0 < min ≤ 1 ≤ max. @default {"min":0.8,"max":1.25} (four-fifths) */
  ratioBounds?: { min?: number; max?: number };
  /** An equalised-odds difference above this is a disparity, in [0, 1]. @default 0.1 */
  maxEqualizedOddsDifference?: number;
  /**
   * significant: outside the bounds AND the interval excludes parity at `confidence`;
   * point: the point estimate alone (the literal four-fifths rule). @default "significant"
   */
  verdict?: FairnessVerdictRule;
}

export interface FairnessAttributeInput {
  /**
   * A feature of this model (`features[].name`): categorical with `groups`, numeric with
   * `edges`. A categorical one may be in piiFields: its values are then kept only hashed and
   * its groups keep the names given here. Required.
   */
  field?: string;
  /** Categorical attribute: its groups (1..100 values); other values count as "other". */
  groups?: string[];
  /** Numeric attribute: band edges (1..99, finite, strictly increasing); bands are [a, b). */
  edges?: number[];
  /** Numeric attribute: one name per band (edges + 1). @default "<e0", "[e0,e1)", …, ">=ek" */
  labels?: string[];
  /** The group every ratio is taken against; one of groups / band names. Required. */
  reference?: string;
}

export interface FeatureInput {
  /** Key in the event's `features` object and column in baseline files. Required. */
  name?: string;
  /** numeric | categorical. Required. */
  type?: FeatureType;
  /**
   * Drift test; null = automatic choice. numeric: ks, psi, wasserstein, jensen-shannon;
   * categorical: chi-square, psi, jensen-shannon. @default null
   */
  test?: DriftTest | null;
  /**
   * Threshold of `test` (needs `test`): a p-value in (0, 1) for ks and chi-square, a distance
   * > 0 otherwise. null = the test's default. @default null
   */
  threshold?: number | null;
  /** Calibrated verdicts: level of this feature's adjusted p-value, in (0, 1). null = drift.fdr. @default null */
  alpha?: number | null;
  /** Calibrated verdicts: minimum effect of this feature (≥ 0). null = drift.effectFloor of its test. @default null */
  effectFloor?: number | null;
}

type DeepPartial<T> = T extends readonly (infer U)[]
  ? U[]
  : T extends object
    ? { [K in keyof T]?: DeepPartial<T[K]> | undefined }
    : T;

/** Programmatic overrides (e.g. CLI flags), same shape as the file; they win over file and env. */
export type ConfigOverrides = DeepPartial<DriftdConfigInput>;

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
export const MODEL_TASKS = ['binary-classification', 'multiclass', 'regression'] as const;
export const FEATURE_TYPES = ['numeric', 'categorical'] as const;
export const BASELINE_FALLBACKS = ['none', 'latest'] as const;
export const VERDICT_RULES = ['calibrated', 'threshold'] as const satisfies readonly VerdictRule[];
export const API_SCOPES = ['read', 'write', 'admin'] as const satisfies readonly ApiScope[];
export const METRICS_ACCESS = ['open', 'read'] as const;
/** Shortest accepted API token secret: a guessable token is no protection. */
export const MIN_TOKEN_LENGTH = 16;
/** Longest accepted API token secret (it travels in a header). */
export const MAX_TOKEN_LENGTH = 4096;
export const REFERENCE_KINDS = [
  'baseline',
  'previous',
  'rolling',
] as const satisfies readonly ReferenceKind[];
/** Most windows a rolling reference sums (memory: this many closed windows per version and size). */
export const MAX_REFERENCE_WINDOWS = 60;
export const KAFKA_MESSAGE_KEYS = [
  'none',
  'model',
  'model:version',
] as const satisfies readonly KafkaMessageKey[];

/** Which tests apply to which feature type, and whether their threshold is a p-value. */
const DRIFT_TESTS: Record<DriftTest, { types: readonly FeatureType[]; pValue: boolean }> = {
  ks: { types: ['numeric'], pValue: true },
  'chi-square': { types: ['categorical'], pValue: true },
  psi: { types: ['numeric', 'categorical'], pValue: false },
  'jensen-shannon': { types: ['numeric', 'categorical'], pValue: false },
  wasserstein: { types: ['numeric'], pValue: false },
};
const DRIFT_TEST_NAMES = Object.keys(DRIFT_TESTS) as DriftTest[];

const MIB = 1024 * 1024;
const SLUG = /^[a-z0-9][a-z0-9_-]{0,63}$/;
const CLICKHOUSE_IDENTIFIER = /^[A-Za-z_][A-Za-z0-9_]*$/;
const KAFKA_TOPIC = /^[A-Za-z0-9._-]{1,249}$/;
const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;
export const KAFKA_SASL_MECHANISMS = [
  'plain',
  'scram-sha-256',
  'scram-sha-512',
] as const satisfies readonly KafkaSaslMechanism[];
const HOST_PORT = /^(?:\[[0-9A-Fa-f:.]+\]|[^\s:/[\]]+):\d{1,5}$/;

// ---------------------------------------------------------------------------------------------
// The schema: reads a parsed document into a DriftdConfig, recording every issue with its path
// and never stopping at the first one.
// ---------------------------------------------------------------------------------------------

export function readConfig(input: unknown, ctx: ReadContext): DriftdConfig {
  return readMap(ctx, [], input, (r) => {
    // `x-` keys are ignored (as in docker-compose): a place for YAML anchors shared by models.
    r.ignoreKeys((key) => key.startsWith('x-'));
    const dataDir = r.path('dataDir', '.driftd');
    const server = r.map('server', readServer);
    const store = r.map('store', (s) => readStore(s, dataDir));
    const kafka = r.optionalMap('kafka', readKafka);
    const ingest = r.map('ingest', readIngest);
    const privacy = r.map('privacy', readPrivacy);
    const logLevel = r.choice('logLevel', LOG_LEVELS, 'info');
    const alerts = r.map('alerts', readTopAlerts);
    const cluster = r.optionalMap('cluster', readCluster);
    const models = r.list('models', { minItems: 1 }, (c, path, value) =>
      readMap(c, path, value, (m) => readModel(m, alerts.defaults)),
    );
    reportDuplicates(
      ctx,
      models.map((m, i) => ({ value: m.id, path: ['models', i, 'id'], at: `models[${i}]` })),
      (id, at) => `duplicate model id ${JSON.stringify(id)} (also at ${at})`,
    );
    const config: DriftdConfig = {
      dataDir,
      server,
      store,
      kafka,
      ingest,
      logLevel,
      models,
      privacy,
      alerts: alerts.pipeline,
    };
    // Only when configured: a config without it keeps the shape it had before cluster mode.
    if (cluster !== null) config.cluster = cluster;
    checkClusterMode(ctx, config, input);
    return config;
  });
}

/**
 * The key's sources: `piiKey` only from DRIFTD_PII_KEY or programmatic overrides (load.ts
 * refuses it in the file), `piiKeyFile` a path; load.ts reads the file and checks the key.
 */
function readPrivacy(r: MapReader): PrivacyConfig {
  const piiKey = r.read<string | null>('piiKey', null, (c, path, value) =>
    readString(c, path, value, { secret: true }),
  );
  const piiKeyFile = r.optionalPath('piiKeyFile') ?? null;
  if (piiKey !== null && piiKeyFile !== null) {
    r.issue(['piiKeyFile'], 'is set and so is DRIFTD_PII_KEY: give the PII key one way only');
  }
  return { piiKey, piiKeyFile };
}

function readIngest(r: MapReader): IngestConfig {
  return { maxFutureSkewMs: r.duration('maxFutureSkew', '1h').ms };
}

function readServer(r: MapReader): ServerConfig {
  const host = r.string('host', { default: '127.0.0.1' });
  const port = r.integer('port', { default: 8080, min: 0, max: 65535 });
  const apiTokens = r.list('apiTokens', { default: [] }, (c, path, value) =>
    readString(c, path, value, { secret: true, check: checkTokenSecret }),
  );
  const auth = r.map('auth', readAuth);
  // Two tokens with one secret would be one token under two names and two sets of scopes.
  reportDuplicates(
    r.ctx,
    [
      ...apiTokens.map((secret, i) => ({
        value: secret,
        path: [...r.at, 'apiTokens', i],
        at: `apiTokens[${i}]`,
      })),
      ...auth.tokens.map((t, i) => ({
        value: t.secret,
        path: [...r.at, 'auth', 'tokens', i],
        at: `token ${JSON.stringify(t.name)}`,
      })),
    ],
    (_, at) => `has the same secret as ${at}`,
  );
  return {
    host,
    port,
    apiTokens,
    auth,
    bodyLimitBytes: r.integer('bodyLimitBytes', { default: 10 * MIB, min: 1024, max: 1024 * MIB }),
    baselineUploadMaxBytes: r.integer('baselineUploadMaxBytes', {
      default: 4096 * MIB,
      min: 1024,
      max: 1024 * 1024 * MIB,
    }),
    ...readServerTimeouts(r),
    tls: r.optionalMap('tls', readServerTls),
  };
}

/** Why a token secret is refused, never echoing it. */
export function checkTokenSecret(secret: string): string | undefined {
  if (secret.length < MIN_TOKEN_LENGTH) {
    return `must be at least ${MIN_TOKEN_LENGTH} characters (use a random secret, e.g. openssl rand -hex 32)`;
  }
  if (secret.length > MAX_TOKEN_LENGTH) return `must be at most ${MAX_TOKEN_LENGTH} characters`;
  if (!/^[\x21-\x7e]+$/.test(secret) || secret.includes(',')) {
    return 'must be printable ASCII without whitespace or commas';
  }
  return undefined;
}

function readAuth(r: MapReader): ServerAuthConfig {
  const tokens = r.list('tokens', { default: [] }, (c, path, value) =>
    readMap(c, path, value, readToken),
  );
  reportDuplicates(
    r.ctx,
    tokens.map((t, i) => ({
      value: t.name,
      path: [...r.at, 'tokens', i, 'name'],
      at: `tokens[${i}]`,
    })),
    (name, at) => `duplicate token name ${JSON.stringify(name)} (also at ${at})`,
  );
  return { tokens, metrics: r.choice('metrics', METRICS_ACCESS, 'open') };
}

function readToken(r: MapReader): ApiTokenConfig {
  const name = r.string('name', {
    check: (value) =>
      SLUG.test(value)
        ? undefined
        : `${JSON.stringify(value)} is not a valid token name (lowercase letters, digits, "-" and "_", at most 64 characters)`,
  });
  const token = `token ${JSON.stringify(name)}`;
  const scopes = r.list('scopes', { minItems: 1 }, (c, path, value) =>
    readChoice(c, path, value, API_SCOPES),
  );
  reportDuplicates(
    r.ctx,
    scopes.map((value, i) => ({ value, path: [...r.at, 'scopes', i], at: `scopes[${i}]` })),
    (scope, at) => `${JSON.stringify(scope)} is listed twice (also at ${at})`,
  );
  if (r.has('secret')) {
    r.issue(
      ['secret'],
      `${token}: a secret never goes in the config file; name where it is with secretEnv (an environment variable) or secretFile`,
    );
  }
  const secretEnv = r.read<string | null>('secretEnv', null, (c, path, value) =>
    readString(c, path, value, {
      check: (v) => (ENV_NAME.test(v) ? undefined : 'must be an environment variable name'),
    }),
  );
  const secretFile = r.optionalPath('secretFile');
  let secret = '';
  if ((secretEnv === null) === (secretFile === undefined)) {
    r.issue([], `${token}: set exactly one of "secretEnv" or "secretFile"`);
  } else if (secretEnv !== null && secretEnv !== '') {
    secret = readTokenSecret(r, ['secretEnv'], token, { env: secretEnv });
  } else if (secretFile !== undefined) {
    secret = readTokenSecret(r, ['secretFile'], token, { file: secretFile });
  }
  return { name, scopes, secret };
}

function readTokenSecret(
  r: MapReader,
  at: PathSegment[],
  token: string,
  source: SecretSource,
): string {
  const read = r.ctx.readSecret(source);
  if (!read.ok) {
    r.issue(at, `${token}: ${read.message}`);
    return '';
  }
  const where = 'env' in source ? source.env : source.file;
  const problem = checkTokenSecret(read.value);
  if (problem !== undefined) {
    r.issue(at, `${token}: the secret in ${where} ${problem}`);
    return '';
  }
  return read.value;
}

function readServerTls(r: MapReader): ServerTlsConfig {
  return {
    cert: r.pemFile('cert', true) ?? '',
    key: r.pemFile('key', true) ?? '',
    ca: r.pemFile('ca'),
  };
}

function readClickHouseTls(r: MapReader): ClickHouseTlsConfig {
  const tls = { ca: r.pemFile('ca'), cert: r.pemFile('cert'), key: r.pemFile('key') };
  if (r.isValid([]) && (tls.cert === null) !== (tls.key === null)) {
    const [missing, given] = tls.cert === null ? ['cert', 'key'] : ['key', 'cert'];
    r.issue([missing], `is required with ${given}`);
  }
  return tls;
}

function readServerTimeouts(
  r: MapReader,
): Pick<ServerConfig, 'requestTimeoutMs' | 'headersTimeoutMs' | 'keepAliveTimeoutMs'> {
  const requestTimeoutMs = r.integer('requestTimeoutMs', {
    default: 60_000,
    min: 100,
    max: 3_600_000,
  });
  const headersTimeoutMs = r.integer('headersTimeoutMs', {
    default: 10_000,
    min: 100,
    max: 3_600_000,
  });
  const keepAliveTimeoutMs = r.integer('keepAliveTimeoutMs', {
    default: 72_000,
    min: 100,
    max: 3_600_000,
  });
  // Node refuses a header deadline later than the whole-request one.
  if (headersTimeoutMs > requestTimeoutMs) {
    r.issue(['headersTimeoutMs'], `must not exceed server.requestTimeoutMs (${requestTimeoutMs})`);
  }
  return { requestTimeoutMs, headersTimeoutMs, keepAliveTimeoutMs };
}

function readStore(r: MapReader, dataDir: string): StoreConfig {
  const rawEventsTtlDays = r.integer('rawEventsTtlDays', { default: 30, min: 1, max: 36500 });
  // Results are the evidence: never gone before the raw data they were computed from.
  const resultsTtlDays = r.integer('resultsTtlDays', { default: 0, min: 0, max: 36500 });
  if (resultsTtlDays > 0 && resultsTtlDays < rawEventsTtlDays) {
    r.issue(
      ['resultsTtlDays'],
      `must be 0 (keep forever) or at least store.rawEventsTtlDays (${rawEventsTtlDays}), got ${resultsTtlDays}: results may not expire before the raw events they were computed from`,
    );
  }
  const ttl = { rawEventsTtlDays, resultsTtlDays };
  const embedded = r.optionalMap('embedded', (e) => ({ path: e.optionalPath('path') }));
  const clickhouse = r.optionalMap('clickhouse', (c) => ({
    url: c.string('url', {
      secret: true,
      check: (url) =>
        isHttpUrl(url)
          ? undefined
          : 'must be an http:// or https:// URL (e.g. http://localhost:8123)',
    }),
    database: c.string('database', {
      default: 'driftd',
      check: (db) =>
        CLICKHOUSE_IDENTIFIER.test(db)
          ? undefined
          : `${JSON.stringify(db)} is not a ClickHouse identifier (letters, digits and _, not starting with a digit)`,
    }),
    username: c.string('username', { default: 'default' }),
    password: c.string('password', { default: '', allowEmpty: true, secret: true }),
    requestTimeoutMs: c.integer('requestTimeoutMs', { default: 30_000, min: 1, max: 3_600_000 }),
    tls: c.optionalMap('tls', readClickHouseTls),
  }));
  if (clickhouse?.tls) {
    const { url, password, tls } = clickhouse;
    if (url !== '' && new URL(url).protocol !== 'https:') {
      r.issue(['clickhouse', 'tls'], 'needs an https:// url (store.clickhouse.url is not https)');
    }
    // ClickHouse refuses a password together with certificate authentication.
    if (tls.cert !== null && password !== '') {
      r.issue(
        ['clickhouse', 'tls', 'cert'],
        'ClickHouse authenticates the user by this certificate: store.clickhouse.password must be empty',
      );
    }
  }
  if (embedded !== null && clickhouse !== null) {
    r.issue([], 'set exactly one of "embedded" or "clickhouse"');
  }
  if (clickhouse !== null) return { kind: 'clickhouse', ...clickhouse, ...ttl };
  return { kind: 'embedded', path: embedded?.path ?? join(dataDir, 'store'), ...ttl };
}

function readKafka(r: MapReader): KafkaConfig {
  const topic = (key: string, fallback: string) =>
    r.string(key, {
      default: fallback,
      check: (name) =>
        KAFKA_TOPIC.test(name)
          ? undefined
          : `${JSON.stringify(name)} is not a Kafka topic name (letters, digits, ".", "_" and "-", at most 249 characters)`,
    });
  const config: KafkaConfig = {
    brokers: r.list('brokers', { minItems: 1 }, (c, path, value) =>
      readString(c, path, value, {
        check: (broker) =>
          HOST_PORT.test(broker)
            ? undefined
            : `${JSON.stringify(broker)} must be host:port (e.g. localhost:9092)`,
      }),
    ),
    clientId: r.string('clientId', { default: 'driftd' }),
    groupId: r.string('groupId', { default: 'driftd' }),
    predictionsTopic: topic('predictionsTopic', 'driftd.predictions'),
    labelsTopic: topic('labelsTopic', 'driftd.labels'),
    deadLetterTopic: topic('deadLetterTopic', 'driftd.dlq'),
    maxMessageBytes: r.integer('maxMessageBytes', { default: MIB, min: 1024, max: 1024 * MIB }),
    messageKey: r.choice('messageKey', KAFKA_MESSAGE_KEYS, 'none'),
    ssl: r.read('ssl', null, readKafkaTls),
    sasl: r.optionalMap('sasl', readKafkaSasl),
  };
  if (
    config.sasl?.mechanism === 'plain' &&
    config.ssl === null &&
    r.isValid(['sasl', 'mechanism'])
  ) {
    r.issue(
      ['sasl', 'mechanism'],
      'plain sends the password in clear: set kafka.ssl too (or use scram-sha-256 / scram-sha-512)',
    );
  }
  reportDuplicates(
    r.ctx,
    (['predictionsTopic', 'labelsTopic', 'deadLetterTopic'] as const).map((key) => ({
      value: config[key],
      path: [...r.at, key],
      at: key,
    })),
    (name, at) => `${JSON.stringify(name)} is also the ${at}`,
  );
  return config;
}

function readKafkaTls(
  ctx: ReadContext,
  path: PathSegment[],
  value: unknown,
): KafkaTlsConfig | null {
  if (value === false) return null;
  if (value === true) return { ca: null, cert: null, key: null };
  if (typeof value === 'boolean' || !isPlainObject(value)) {
    ctx.issue(path, 'must be true, false or a mapping (ca, cert, key)');
    return null;
  }
  return readMap(ctx, path, value, (r) => {
    const tls = {
      ca: r.optionalPath('ca') ?? null,
      cert: r.optionalPath('cert') ?? null,
      key: r.optionalPath('key') ?? null,
    };
    if ((tls.cert === null) !== (tls.key === null)) {
      const [missing, given] = tls.cert === null ? ['cert', 'key'] : ['key', 'cert'];
      r.issue(
        [missing],
        `is required with kafka.ssl.${given} (a client certificate and its key go together)`,
      );
    }
    return tls;
  });
}

function readKafkaSasl(r: MapReader): KafkaSaslConfig {
  const sasl: KafkaSaslConfig = {
    mechanism: r.choice('mechanism', KAFKA_SASL_MECHANISMS),
    username: r.string('username'),
    // From DRIFTD_KAFKA_SASL_PASSWORD (load.ts refuses one written in the file).
    password: r.read('password', null, (c, path, value) =>
      readString(c, path, value, { secret: true }),
    ),
    passwordFile: r.optionalPath('passwordFile') ?? null,
  };
  if (sasl.password === null && sasl.passwordFile === null) {
    r.issue([], 'has no password: set DRIFTD_KAFKA_SASL_PASSWORD or kafka.sasl.passwordFile');
  } else if (sasl.password !== null && sasl.passwordFile !== null) {
    r.issue(['passwordFile'], 'is set and so is DRIFTD_KAFKA_SASL_PASSWORD: keep one of the two');
  }
  return sasl;
}

function readModel(r: MapReader, alertDefaults: AlertsInput): ModelConfig {
  const id = r.string('id', {
    check: (value) =>
      SLUG.test(value)
        ? undefined
        : `${JSON.stringify(value)} is not a valid id (lowercase letters, digits, "-" and "_", starting with a letter or digit, at most 64 characters)`,
  });
  const task = r.choice('task', MODEL_TASKS);
  const features = r.list('features', { minItems: 1 }, (c, path, value) =>
    readMap(c, path, value, readFeature),
  );
  const prediction = r.map('prediction', (p) => ({
    field: p.string('field', { default: 'prediction' }),
    type: p.choice('type', FEATURE_TYPES, task === 'multiclass' ? 'categorical' : 'numeric'),
  }));
  const label = r.map('label', (l) => ({
    field: l.string('field', { default: 'label' }),
    positive: l.read('positive', 1, (c, path, value) => {
      if (typeof value === 'string' && value.length > 0) return value;
      if (typeof value === 'number' && Number.isFinite(value)) return value;
      c.issue(path, 'must be a number or a non-empty string');
      return 1;
    }),
    threshold: l.number('threshold', { default: 0.5, min: 0, max: 1 }),
  }));
  const windows = r.map('windows', (w) => {
    const sizes = w.list('sizes', { default: ['5m', '1h'], minItems: 1 }, (c, path, value) =>
      readDuration(c, path, value, { minMs: 1000 }),
    );
    reportDuplicates(
      w.ctx,
      sizes.map((s, i) => ({ value: s.ms, path: [...w.at, 'sizes', i], at: s.label })),
      (_, at) => `is the same window size as ${JSON.stringify(at)}`,
    );
    return {
      sizes,
      allowedLatenessMs: w.duration('allowedLateness', '1m', { allowZero: true }).ms,
      idleTimeoutMs: w.duration('idleTimeout', '2m').ms,
    };
  });
  const versions = r.map('versions', (v) => ({
    allow: v.read<string[] | null>('allow', null, (c, path, value) =>
      readList(c, path, value, { minItems: 1 }, readString),
    ),
    maxActive: v.integer('maxActive', { default: 10, min: 1, max: 1000 }),
    baselineFallback: v.choice('baselineFallback', BASELINE_FALLBACKS, 'none'),
  }));
  const drift = r.map('drift', (d) => {
    const bins = d.integer('bins', { default: 1000, min: 10, max: 100_000 });
    const psiBuckets = d.integer('psiBuckets', { default: 10, min: 2, max: 1000 });
    if (psiBuckets > bins) d.issue(['psiBuckets'], `must not exceed drift.bins (${bins})`);
    const psiThreshold = d.number('psiThreshold', { default: 0.2, min: 0, exclusiveMin: true });
    return {
      minWindowSize: d.integer('minWindowSize', { default: 100, min: 1 }),
      shareThreshold: d.number('shareThreshold', {
        default: 0.5,
        min: 0,
        max: 1,
        exclusiveMin: true,
      }),
      fdr: d.number('fdr', {
        default: 0.05,
        min: 0,
        max: 1,
        exclusiveMin: true,
        exclusiveMax: true,
      }),
      bins,
      psiBuckets,
      psiThreshold,
      verdict: d.choice('verdict', VERDICT_RULES, 'calibrated'),
      effectFloor: d.map('effectFloor', (e) => {
        const floors: Partial<Record<DriftTest, number>> = {};
        for (const test of DRIFT_TEST_NAMES) {
          const fallback = test === 'psi' ? psiThreshold : DEFAULT_EFFECT_FLOORS[test];
          floors[test] = e.number(test, { default: fallback, min: 0 });
        }
        return floors;
      }),
      topCategories: d.integer('topCategories', { default: 100, min: 1, max: 100_000 }),
      sampleSize: d.integer('sampleSize', { default: 10_000, min: 1, max: 1_000_000 }),
    };
  });
  const piiFields = r.list('piiFields', { default: [] }, readString);
  const storeUnlistedFields = r.read('storeUnlistedFields', false, readBoolean);
  const timeZone = r.string('timeZone', {
    default: 'UTC',
    check: (value) => {
      try {
        checkTimeZone(value);
        return undefined;
      } catch {
        return `${JSON.stringify(value)} is not an IANA time zone name (e.g. "UTC", "America/New_York")`;
      }
    },
  });
  const reference = r.map('reference', (f): ReferenceConfig => {
    const kind = f.choice('kind', REFERENCE_KINDS, 'baseline');
    if (kind !== 'rolling') {
      f.read('windows', null, (c, path) => {
        c.issue(path, `is only for kind "rolling" (kind is "${kind}")`);
        return null;
      });
      return { kind, windows: kind === 'previous' ? 1 : 0 };
    }
    const windows = f.integer('windows', { min: 2, max: MAX_REFERENCE_WINDOWS });
    return { kind, windows };
  });

  const fairness = r.read<FairnessConfig | null>('fairness', null, (c, path, value) =>
    readMap(c, path, value, readFairness),
  );

  const segments = r.read<SegmentsConfig | null>('segments', null, (c, path, value) =>
    readMap(c, path, value, readSegments),
  );

  const comparison = r.optionalMap('comparison', (c) => readComparison(c, versions.allow));

  const names = features.map((f, i) => ({
    value: f.name,
    path: [...r.at, 'features', i, 'name'],
    at: `features[${i}]`,
  }));
  reportDuplicates(
    r.ctx,
    names,
    (name, at) => `duplicate feature name ${JSON.stringify(name)} (also at ${at})`,
  );
  const featureNames = new Set(features.map((f) => f.name));
  for (const [key, field] of [
    ['prediction', prediction.field],
    ['label', label.field],
  ] as const) {
    if (field !== '' && featureNames.has(field)) {
      r.issue([key, 'field'], `${JSON.stringify(field)} is also a feature name`);
    }
  }
  if (prediction.field !== '' && prediction.field === label.field) {
    r.issue(['label', 'field'], `${JSON.stringify(label.field)} is also the prediction field`);
  }
  const featureTypes = new Map(features.map((f) => [f.name, f.type]));
  piiFields.forEach((field, i) => {
    const not = (what: string) => r.issue(['piiFields', i], `${JSON.stringify(field)} ${what}`);
    if (field === prediction.field || field === label.field) {
      not('is the prediction or label field, which driftd must read in clear to monitor it');
    } else if (['model', 'version', 'ts', 'features'].includes(field)) {
      not('is an event field driftd needs in clear (PII fields are keys of "features" or "id")');
    } else if (featureTypes.get(field) === 'numeric') {
      not(
        'is a numeric feature: its hash is no number, so it could not be monitored (declare it categorical, or remove it from features)',
      );
    }
  });
  reportDuplicates(
    r.ctx,
    piiFields.map((value, i) => ({
      value,
      path: [...r.at, 'piiFields', i],
      at: `piiFields[${i}]`,
    })),
    (field, at) => `${JSON.stringify(field)} is listed twice (also at ${at})`,
  );
  fairness?.attributes.forEach((a, i) => {
    const at = ['fairness', 'attributes', i, 'field'];
    const not = (what: string) => r.issue(at, `${JSON.stringify(a.field)} ${what}`);
    const type = featureTypes.get(a.field);
    const wanted = a.kind === 'numeric' ? 'numeric' : 'categorical';
    if (type === undefined) {
      // Only configured features reach the windows (and the store, by default).
      not(`is not a feature of this model: add it to features (type ${wanted})`);
    } else if (type !== wanted) {
      not(
        a.kind === 'numeric'
          ? 'is a categorical feature: give "groups", not "edges"'
          : 'is a numeric feature: give "edges" (bands), not "groups"',
      );
    }
  });
  segments?.fields.forEach((field, i) => {
    const type = featureTypes.get(field);
    if (type === undefined) {
      r.issue(
        ['segments', 'fields', i],
        `${JSON.stringify(field)} is not a feature of this model: add it to features (type categorical)`,
      );
    } else if (type !== 'categorical') {
      r.issue(
        ['segments', 'fields', i],
        `${JSON.stringify(field)} is a numeric feature: a segment field must be categorical`,
      );
    } else if (field.includes('=')) {
      // Segments are named "<field>=<value>": the field must be readable back from the name.
      r.issue(
        ['segments', 'fields', i],
        `${JSON.stringify(field)} contains "=", which segment names use`,
      );
    }
  });
  if (fairness !== null && task !== 'binary-classification') {
    r.issue(
      ['fairness'],
      `needs task "binary-classification" (selection, TPR, FPR), not "${task}"`,
    );
  }
  return {
    id,
    task,
    features,
    prediction,
    label,
    windows,
    versions,
    drift,
    piiFields,
    storeUnlistedFields,
    timeZone,
    reference,
    alerts: resolveAlerts(
      task,
      alertDefaults,
      r.map('alerts', (a) => readModelAlerts(a, task)),
    ),
    // Only when configured: a model without it keeps the shape it had before fairness existed.
    ...(fairness === null ? {} : { fairness }),
    ...(segments === null ? {} : { segments }),
    ...(comparison === null ? {} : { comparison }),
  };
}

/** Bounds on segments: windows per (version, size) are 1 + Σ over fields (maxPerField + 1). */
export const MAX_SEGMENT_FIELDS = 5;
export const MAX_SEGMENTS_PER_FIELD = 100;

function readSegments(r: MapReader): SegmentsConfig {
  const fields = r.list('fields', { minItems: 1 }, readString);
  if (fields.length > MAX_SEGMENT_FIELDS) {
    r.issue(['fields'], `at most ${MAX_SEGMENT_FIELDS} segment fields`);
  }
  reportDuplicates(
    r.ctx,
    fields.map((value, i) => ({ value, path: [...r.at, 'fields', i], at: `fields[${i}]` })),
    (field, at) => `${JSON.stringify(field)} is listed twice (also at ${at})`,
  );
  const maxPerField = r.integer('maxPerField', {
    default: 10,
    min: 1,
    max: MAX_SEGMENTS_PER_FIELD,
  });
  return { fields, maxPerField };
}

/** Most challengers one champion is compared with (series: pairs × windows × features). */
export const MAX_CHALLENGERS = 20;

function readComparison(c: MapReader, allow: readonly string[] | null): ComparisonConfig {
  const notAllowed = (v: string) =>
    allow !== null && v !== '' && !allow.includes(v)
      ? `${JSON.stringify(v)} is not in versions.allow, so it never has a window`
      : undefined;
  const champion = c.string('champion', { check: notAllowed });
  const challengers = c.read<string[] | null>('challengers', null, (ctx, path, value) =>
    readList(ctx, path, value, { minItems: 1 }, (ic, ip, iv) =>
      readString(ic, ip, iv, {
        check: (v) =>
          v === champion ? 'is the champion: a version is not compared with itself' : notAllowed(v),
      }),
    ),
  );
  if (challengers !== null && challengers.length > MAX_CHALLENGERS) {
    c.issue(['challengers'], `has ${challengers.length} versions, at most ${MAX_CHALLENGERS}`);
  }
  reportDuplicates(
    c.ctx,
    (challengers ?? []).map((value, i) => ({
      value,
      path: [...c.at, 'challengers', i],
      at: `challengers[${i}]`,
    })),
    (v, at) => `${JSON.stringify(v)} is listed twice (also at ${at})`,
  );
  const shadow = c.read('shadow', false, readBoolean);
  return { champion, challengers, shadow };
}

export const FAIRNESS_VERDICT_RULES = [
  'significant',
  'point',
] as const satisfies readonly FairnessVerdictRule[];
/** Bounds on fairness config: series per window are Σ over attributes 5 × (groups + 2) + 1. */
const MAX_FAIRNESS_ATTRIBUTES = 10;
const MAX_FAIRNESS_GROUPS = 100;

function readFairness(r: MapReader): FairnessConfig {
  const attributes = r.list('attributes', {}, (c, path, value) =>
    readMap(c, path, value, readFairnessAttribute),
  );
  if (r.isValid(['attributes'])) {
    if (attributes.length === 0) r.issue(['attributes'], 'needs at least one protected attribute');
    if (attributes.length > MAX_FAIRNESS_ATTRIBUTES) {
      r.issue(['attributes'], `at most ${MAX_FAIRNESS_ATTRIBUTES} protected attributes`);
    }
  }
  reportDuplicates(
    r.ctx,
    attributes.map((a, i) => ({
      value: a.field,
      path: [...r.at, 'attributes', i, 'field'],
      at: `attributes[${i}]`,
    })),
    (field, at) => `${JSON.stringify(field)} is listed twice (also at ${at})`,
  );
  const confidence = r.number('confidence', {
    default: FAIRNESS_DEFAULTS.confidence,
    min: 0,
    max: 1,
    exclusiveMin: true,
    exclusiveMax: true,
  });
  const minGroupSize = r.integer('minGroupSize', {
    default: FAIRNESS_DEFAULTS.minGroupSize,
    min: 1,
  });
  const ratioBounds = r.map('ratioBounds', (b) => ({
    min: b.number('min', {
      default: FAIRNESS_DEFAULTS.ratioBounds.min,
      min: 0,
      max: 1,
      exclusiveMin: true,
    }),
    max: b.number('max', { default: FAIRNESS_DEFAULTS.ratioBounds.max, min: 1 }),
  }));
  const maxEqualizedOddsDifference = r.number('maxEqualizedOddsDifference', {
    default: FAIRNESS_DEFAULTS.maxEqualizedOddsDifference,
    min: 0,
    max: 1,
  });
  const verdict = r.choice('verdict', FAIRNESS_VERDICT_RULES, FAIRNESS_DEFAULTS.verdict);
  return { attributes, confidence, minGroupSize, ratioBounds, maxEqualizedOddsDifference, verdict };
}

function readFairnessAttribute(r: MapReader): FairnessAttributeConfig {
  const field = r.string('field');
  const hasGroups = r.has('groups');
  const hasEdges = r.has('edges');
  let attribute: FairnessAttributeConfig;
  if (hasGroups === hasEdges) {
    r.issue(
      hasGroups ? ['edges'] : [],
      hasGroups
        ? 'give either "groups" (categorical) or "edges" (numeric), not both'
        : 'needs "groups" (a categorical attribute\'s values) or "edges" (numeric band edges)',
    );
    attribute = { kind: 'categorical', groups: [], field, reference: '' };
  } else if (hasGroups) {
    const groups = r.list('groups', { minItems: 1 }, readString);
    if (groups.length > MAX_FAIRNESS_GROUPS) {
      r.issue(['groups'], `at most ${MAX_FAIRNESS_GROUPS} groups (the rest counts as "other")`);
    }
    if (r.has('labels')) r.issue(['labels'], 'is only for numeric attributes (with "edges")');
    attribute = { kind: 'categorical', groups, field, reference: '' };
  } else {
    const edges = r.list('edges', { minItems: 1 }, (c, path, value) =>
      readNumber(c, path, value, {}),
    );
    if (edges.length >= MAX_FAIRNESS_GROUPS) {
      r.issue(['edges'], `at most ${MAX_FAIRNESS_GROUPS - 1} edges`);
    }
    edges.forEach((e, i) => {
      if (i > 0 && !(e > (edges[i - 1] as number))) {
        r.issue(
          ['edges', i],
          `must be greater than edges[${i - 1}] (${edges[i - 1]}): edges are strictly increasing`,
        );
      }
    });
    const labels = r.read<string[] | null>('labels', null, (c, path, value) =>
      readList(c, path, value, {}, readString),
    );
    if (labels !== null && labels.length !== edges.length + 1) {
      r.issue(
        ['labels'],
        `needs ${edges.length + 1} names, one per band (edges + 1), got ${labels.length}`,
      );
    }
    attribute =
      labels === null
        ? { kind: 'numeric', edges, field, reference: '' }
        : { kind: 'numeric', edges, labels, field, reference: '' };
  }
  const names = r.isValid([]) ? declaredGroups(attribute) : [];
  const key = attribute.kind === 'categorical' ? 'groups' : 'labels';
  names.forEach((name, i) => {
    if (name === OTHER_GROUP || name === MISSING_GROUP) {
      r.issue(
        [key, i],
        `${JSON.stringify(name)} is reserved (values outside the groups / absent values)`,
      );
    }
  });
  reportDuplicates(
    r.ctx,
    names.map((value, i) => ({ value, path: [...r.at, key, i], at: `${key}[${i}]` })),
    (name, at) => `${JSON.stringify(name)} is listed twice (also at ${at})`,
  );
  attribute.reference = r.string('reference', {
    check: (value) =>
      names.length === 0 || names.includes(value)
        ? undefined
        : `${JSON.stringify(value)} is not one of the groups (${names.map((n) => JSON.stringify(n)).join(', ')})`,
  });
  return attribute;
}

function readFeature(r: MapReader): FeatureConfig {
  const name = r.string('name');
  const type = r.choice('type', FEATURE_TYPES);
  const test = r.read<DriftTest | null>('test', null, (c, path, value) =>
    readChoice(c, path, value, DRIFT_TEST_NAMES),
  );
  const threshold = r.read<number | null>('threshold', null, (c, path, value) =>
    readNumber(c, path, value, { min: 0, exclusiveMin: true }),
  );
  const alpha = r.read<number | null>('alpha', null, (c, path, value) =>
    readNumber(c, path, value, { min: 0, max: 1, exclusiveMin: true, exclusiveMax: true }),
  );
  const effectFloor = r.read<number | null>('effectFloor', null, (c, path, value) =>
    readNumber(c, path, value, { min: 0 }),
  );
  const testValid = r.isValid(['test']);
  if (test !== null && testValid && r.isValid(['type'])) {
    if (!DRIFT_TESTS[test].types.includes(type)) {
      const usable = DRIFT_TEST_NAMES.filter((t) => DRIFT_TESTS[t].types.includes(type));
      r.issue(
        ['test'],
        `${JSON.stringify(test)} does not apply to ${type} features (use ${joinOr(usable)})`,
      );
    }
  }
  if (threshold !== null && testValid && r.isValid(['threshold'])) {
    if (test === null) {
      r.issue(
        ['threshold'],
        'needs "test" too (the threshold is a p-value for ks and chi-square, a distance otherwise)',
      );
    } else if (DRIFT_TESTS[test].pValue && threshold >= 1) {
      r.issue(
        ['threshold'],
        `must be a number greater than 0 and less than 1 (a p-value for ${test})`,
      );
    }
  }
  if (threshold !== null && (alpha !== null || effectFloor !== null)) {
    r.issue(
      [alpha !== null ? 'alpha' : 'effectFloor'],
      'applies to calibrated verdicts; a feature with a fixed "threshold" has none',
    );
  }
  return { name, type, test, threshold, alpha, effectFloor };
}

// ---------------------------------------------------------------------------------------------
// Reader machinery.
// ---------------------------------------------------------------------------------------------

export type PathSegment = string | number;

export interface SchemaIssue {
  /** Where the problem is; for an unknown key, the mapping that holds it. */
  path: readonly PathSegment[];
  message: string;
  /** Set for unknown keys. */
  unknownKey?: string;
}

/** Where a secret named by the config is: an environment variable or a file (absolute path). */
export type SecretSource = { env: string } | { file: string };

export type SecretRead = { ok: true; value: string } | { ok: false; message: string };

export interface ReadContext {
  readonly issues: SchemaIssue[];
  issue(path: readonly PathSegment[], message: string): void;
  /** Absolute form of a path-valued setting found at `at`; the base depends on where it came from. */
  resolvePath(value: string, at: readonly PathSegment[]): string;
  /** The secret a setting names (see secrets.ts); a message saying why when it cannot be read. */
  readSecret(source: SecretSource): SecretRead;
}

export function createReadContext(
  resolvePath: (value: string, at: readonly PathSegment[]) => string,
  readSecret: (source: SecretSource) => SecretRead = () => ({
    ok: false,
    message: 'secrets cannot be read here',
  }),
): ReadContext {
  const issues: SchemaIssue[] = [];
  return {
    issues,
    issue: (path, message) => issues.push({ path, message }),
    resolvePath,
    readSecret,
  };
}

/** `models[0].features[3].type`; empty for the top level. */
export function formatPath(path: readonly PathSegment[]): string {
  let out = '';
  for (const segment of path) {
    if (typeof segment === 'number') out += `[${segment}]`;
    else out += out === '' ? segment : `.${segment}`;
  }
  return out;
}

/** The issue as one line: `server.port: must be ...` or `unknown key "x" at models[0] (...)`. */
export function formatIssue(issue: SchemaIssue, origin?: string): string {
  const where = formatPath(issue.path);
  const from = origin === undefined ? '' : ` (from ${origin})`;
  if (issue.unknownKey !== undefined) {
    return `unknown key ${JSON.stringify(issue.unknownKey)} at ${where === '' ? 'the top level' : where}${from}${issue.message}`;
  }
  return where === '' ? `${issue.message}${from}` : `${where}${from}: ${issue.message}`;
}

type ItemReader<T> = (ctx: ReadContext, path: PathSegment[], value: unknown) => T;

function isPresent(value: unknown): boolean {
  return value !== undefined && value !== null;
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

interface StringRule {
  default?: string;
  allowEmpty?: boolean;
  /** Never echo the value in messages. */
  secret?: boolean;
  /** Returns a message when the value is not acceptable. */
  check?: (value: string) => string | undefined;
}

function readString(
  ctx: ReadContext,
  path: PathSegment[],
  value: unknown,
  rule: StringRule = {},
): string {
  if (!isPresent(value)) {
    if (rule.default !== undefined) return rule.default;
    ctx.issue(path, 'is required');
    return '';
  }
  if (typeof value !== 'string') {
    const hint =
      !rule.secret && (typeof value === 'number' || typeof value === 'boolean')
        ? ` (quote it: "${String(value)}")`
        : '';
    ctx.issue(path, `must be a string${hint}`);
    return '';
  }
  if (value === '' && !rule.allowEmpty) {
    ctx.issue(path, 'must not be empty');
    return '';
  }
  const problem = value === '' ? undefined : rule.check?.(value);
  if (problem !== undefined) {
    ctx.issue(path, problem);
    return '';
  }
  return value;
}

interface IntegerRule {
  default?: number;
  min: number;
  max?: number;
}

function readInteger(
  ctx: ReadContext,
  path: PathSegment[],
  value: unknown,
  rule: IntegerRule,
): number {
  if (!isPresent(value)) {
    if (rule.default !== undefined) return rule.default;
    ctx.issue(path, 'is required');
    return rule.min;
  }
  const { min, max } = rule;
  if (
    typeof value !== 'number' ||
    !Number.isSafeInteger(value) ||
    value < min ||
    (max !== undefined && value > max)
  ) {
    const range = max === undefined ? `of at least ${min}` : `between ${min} and ${max}`;
    ctx.issue(path, `must be an integer ${range}`);
    return rule.default ?? min;
  }
  return value;
}

interface NumberRule {
  default?: number;
  min?: number;
  max?: number;
  exclusiveMin?: boolean;
  exclusiveMax?: boolean;
}

function describeRange(rule: NumberRule): string {
  const low =
    rule.min === undefined ? '' : `${rule.exclusiveMin ? 'greater than' : 'at least'} ${rule.min}`;
  const high =
    rule.max === undefined ? '' : `${rule.exclusiveMax ? 'less than' : 'at most'} ${rule.max}`;
  if (!rule.exclusiveMin && !rule.exclusiveMax && low !== '' && high !== '') {
    return ` between ${rule.min} and ${rule.max}`;
  }
  return [low, high]
    .filter((s) => s !== '')
    .map((s, i) => (i === 0 ? ` ${s}` : ` and ${s}`))
    .join('');
}

function readNumber(
  ctx: ReadContext,
  path: PathSegment[],
  value: unknown,
  rule: NumberRule,
): number {
  if (!isPresent(value)) {
    if (rule.default !== undefined) return rule.default;
    ctx.issue(path, 'is required');
    return rule.min ?? 0;
  }
  const ok =
    typeof value === 'number' &&
    Number.isFinite(value) &&
    (rule.min === undefined || (rule.exclusiveMin ? value > rule.min : value >= rule.min)) &&
    (rule.max === undefined || (rule.exclusiveMax ? value < rule.max : value <= rule.max));
  if (!ok) {
    ctx.issue(path, `must be a number${describeRange(rule)}`);
    return rule.default ?? rule.min ?? 0;
  }
  return value as number;
}

function readBoolean(ctx: ReadContext, path: PathSegment[], value: unknown): boolean {
  if (typeof value === 'boolean') return value;
  ctx.issue(path, 'must be true or false');
  return false;
}

function joinOr(values: readonly string[]): string {
  if (values.length <= 1) return values.join('');
  const head = values.slice(0, -1).join(', ');
  return `${values.length > 3 ? 'one of ' : ''}${head} or ${values.at(-1)}`;
}

function readChoice<T extends string>(
  ctx: ReadContext,
  path: PathSegment[],
  value: unknown,
  choices: readonly T[],
  fallback?: T,
): T {
  if (!isPresent(value)) {
    if (fallback !== undefined) return fallback;
    ctx.issue(path, `is required (${joinOr(choices).replace(/^one of /, '')})`);
    return choices[0]!;
  }
  if (typeof value !== 'string' || !choices.includes(value as T)) {
    ctx.issue(path, `must be ${joinOr(choices)}`);
    return fallback ?? choices[0]!;
  }
  return value as T;
}

function readDuration(
  ctx: ReadContext,
  path: PathSegment[],
  value: unknown,
  options: { default?: string; allowZero?: boolean; minMs?: number },
): WindowSizeConfig {
  if (!isPresent(value) && options.default !== undefined) {
    return readDuration(ctx, path, options.default, options);
  }
  if (!isPresent(value)) {
    ctx.issue(path, 'is required');
    return { label: '', ms: 0 };
  }
  const result = checkDuration(value, options);
  if (!result.ok) {
    ctx.issue(path, result.message);
    return { label: '', ms: 0 };
  }
  return { label: String(value), ms: result.ms };
}

function readList<T>(
  ctx: ReadContext,
  path: PathSegment[],
  value: unknown,
  rule: { default?: readonly unknown[]; minItems?: number },
  item: ItemReader<T>,
): T[] {
  if (!isPresent(value)) {
    if (rule.default !== undefined) return rule.default.map((v, i) => item(ctx, [...path, i], v));
    ctx.issue(path, 'is required');
    return [];
  }
  if (!Array.isArray(value)) {
    ctx.issue(path, 'must be a list');
    return [];
  }
  if (value.length < (rule.minItems ?? 0)) {
    ctx.issue(
      path,
      rule.minItems === 1 ? 'must not be empty' : `must have at least ${rule.minItems} items`,
    );
  }
  return value.map((v, i) => item(ctx, [...path, i], v));
}

/**
 * Reads a mapping. An absent mapping reads as `{}` so defaults apply; a value that is not a
 * mapping is one issue, and its fields are read silently (no cascade of "is required").
 */
function readMap<T>(
  ctx: ReadContext,
  path: PathSegment[],
  value: unknown,
  body: (reader: MapReader) => T,
): T {
  if (!isPresent(value) || isPlainObject(value)) {
    const reader = new MapReader(ctx, path, isPlainObject(value) ? value : {});
    const result = body(reader);
    reader.reportUnknownKeys();
    return result;
  }
  const shape = Array.isArray(value) ? 'a list' : `a ${typeof value}`;
  ctx.issue(
    path,
    path.length === 0
      ? `the file must hold a mapping of settings (dataDir, server, store, kafka, logLevel, models), not ${shape}`
      : `must be a mapping (key: value), not ${shape}`,
  );
  return body(new MapReader({ ...ctx, issues: [], issue: () => {} }, path, {}));
}

/** Reads one mapping; every key asked for is known, so the rest are reported as unknown. */
export class MapReader {
  private readonly asked = new Set<string>();
  private ignored: (key: string) => boolean = () => false;

  constructor(
    readonly ctx: ReadContext,
    readonly at: PathSegment[],
    private readonly value: Record<string, unknown>,
  ) {}

  private take(key: string): unknown {
    this.asked.add(key);
    return Object.hasOwn(this.value, key) ? this.value[key] : undefined;
  }

  /** Whether the key is written with the value null (and marks it known). */
  isNull(key: string): boolean {
    return this.take(key) === null && Object.hasOwn(this.value, key);
  }

  /** Whether the key is present (and marks it known). */
  has(key: string): boolean {
    return isPresent(this.take(key));
  }

  private child(key: string): PathSegment[] {
    return [...this.at, key];
  }

  issue(relative: readonly PathSegment[], message: string): void {
    this.ctx.issue([...this.at, ...relative], message);
  }

  /** True when no issue was recorded at or below `relative` so far. */
  isValid(relative: readonly PathSegment[]): boolean {
    const prefix = formatPath([...this.at, ...relative]);
    return !this.ctx.issues.some((i) => {
      const p = formatPath(i.path);
      return p === prefix || p.startsWith(`${prefix}.`) || p.startsWith(`${prefix}[`);
    });
  }

  read<T>(key: string, fallback: T, item: ItemReader<T>): T {
    const value = this.take(key);
    return isPresent(value) ? item(this.ctx, this.child(key), value) : fallback;
  }

  string(key: string, rule: StringRule = {}): string {
    return readString(this.ctx, this.child(key), this.take(key), rule);
  }

  integer(key: string, rule: IntegerRule): number {
    return readInteger(this.ctx, this.child(key), this.take(key), rule);
  }

  number(key: string, rule: NumberRule): number {
    return readNumber(this.ctx, this.child(key), this.take(key), rule);
  }

  choice<T extends string>(key: string, choices: readonly T[], fallback?: T): T {
    return readChoice(this.ctx, this.child(key), this.take(key), choices, fallback);
  }

  duration(
    key: string,
    fallback: string,
    options: { allowZero?: boolean; minMs?: number } = {},
  ): WindowSizeConfig {
    return readDuration(this.ctx, this.child(key), this.take(key), {
      ...options,
      default: fallback,
    });
  }

  /** A filesystem path, made absolute (see ReadContext.resolvePath). */
  path(key: string, fallback: string): string {
    const value = this.string(key, { default: fallback });
    return value === '' ? value : this.ctx.resolvePath(value, this.child(key));
  }

  /**
   * A PEM file's path, made absolute and checked readable (src/config/tls.ts); null when absent
   * (an issue as well when `required`).
   */
  pemFile(key: string, required = false): string | null {
    const path = this.optionalPath(key);
    if (path === undefined) {
      if (required && this.isValid([key])) this.issue([key], 'is required');
      return null;
    }
    const problem = pemFileProblem(path);
    if (problem !== undefined) this.issue([key], problem);
    return path;
  }

  optionalPath(key: string): string | undefined {
    const value = this.take(key);
    if (!isPresent(value)) return undefined;
    const text = readString(this.ctx, this.child(key), value);
    return text === '' ? undefined : this.ctx.resolvePath(text, this.child(key));
  }

  list<T>(
    key: string,
    rule: { default?: readonly unknown[]; minItems?: number },
    item: ItemReader<T>,
  ): T[] {
    return readList(this.ctx, this.child(key), this.take(key), rule, item);
  }

  map<T>(key: string, body: (reader: MapReader) => T): T {
    return readMap(this.ctx, this.child(key), this.take(key), body);
  }

  /** null when absent or null. */
  optionalMap<T>(key: string, body: (reader: MapReader) => T): T | null {
    const value = this.take(key);
    return isPresent(value) ? readMap(this.ctx, this.child(key), value, body) : null;
  }

  ignoreKeys(ignored: (key: string) => boolean): void {
    this.ignored = ignored;
  }

  reportUnknownKeys(): void {
    for (const key of Object.keys(this.value)) {
      if (this.asked.has(key) || this.ignored(key)) continue;
      const suggestion = suggestKey(key, [...this.asked]);
      this.ctx.issues.push({
        path: this.at,
        unknownKey: key,
        message: suggestion === undefined ? '' : ` (did you mean ${JSON.stringify(suggestion)}?)`,
      });
    }
  }
}

/** Marks every repeat of a value (ignoring the '' / 0 fallbacks of invalid entries). */
function reportDuplicates<T>(
  ctx: ReadContext,
  entries: readonly { value: T; path: readonly PathSegment[]; at: string }[],
  message: (value: T, firstAt: string) => string,
): void {
  const first = new Map<T, string>();
  for (const entry of entries) {
    if (entry.value === '' || entry.value === 0) continue;
    const seen = first.get(entry.value);
    if (seen === undefined) first.set(entry.value, entry.at);
    else ctx.issue(entry.path, message(entry.value, seen));
  }
}

function isHttpUrl(value: string): boolean {
  try {
    const url = new URL(value);
    return url.protocol === 'http:' || url.protocol === 'https:';
  } catch {
    return false;
  }
}

/** Closest known key, if it is close enough to be a likely typo (or a snake_case spelling). */
export function suggestKey(key: string, known: readonly string[]): string | undefined {
  const normalize = (s: string) => s.toLowerCase().replace(/[-_\s]/g, '');
  const target = normalize(key);
  let best: string | undefined;
  let bestDistance = Number.POSITIVE_INFINITY;
  for (const candidate of known) {
    const distance = editDistance(target, normalize(candidate));
    if (distance < bestDistance) {
      best = candidate;
      bestDistance = distance;
    }
  }
  if (best === undefined) return undefined;
  const allowed = Math.max(1, Math.floor(0.4 * Math.max(target.length, normalize(best).length)));
  return bestDistance <= allowed ? best : undefined;
}

/** Optimal-string-alignment distance: edits plus adjacent transpositions ("prot" → "port" is 1). */
function editDistance(a: string, b: string): number {
  const d: number[][] = Array.from({ length: a.length + 1 }, (_, i) =>
    Array.from({ length: b.length + 1 }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)),
  );
  for (let i = 1; i <= a.length; i++) {
    const row = d[i]!;
    const above = d[i - 1]!;
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      row[j] = Math.min(above[j]! + 1, row[j - 1]! + 1, above[j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) {
        row[j] = Math.min(row[j]!, d[i - 2]![j - 2]! + 1);
      }
    }
  }
  return d[a.length]![b.length]!;
}
