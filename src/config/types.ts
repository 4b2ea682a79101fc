import type { FairnessVerdictRule } from '../stats/fairness.js';
import type { ProtectedAttribute } from '../stats/fairness-groups.js';
import type { DriftTest, FeatureType, ModelTask } from '../types.js';
import type { AlertName, PipelineAlertName } from './alerts.js';

/**
 * The validated, frozen configuration. Durations are already parsed to milliseconds; the
 * original strings are kept where they become metric labels. Defaults are documented in
 * schema.ts where each field is declared.
 */
export interface DriftdConfig {
  /** Directory for the embedded store and local state. */
  dataDir: string;
  server: ServerConfig;
  store: StoreConfig;
  kafka: KafkaConfig | null;
  ingest: IngestConfig;
  logLevel: 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';
  models: ModelConfig[];
  /** Personal data: the PII key (absent in configs built by hand = no key). */
  privacy?: PrivacyConfig;
  /** The pipeline alerts' settings (top-level `alerts:`); absent in configs built by hand = defaults. */
  alerts?: PipelineAlerts;
  /** Several instances, one answer (top-level `cluster:`); absent = single instance. */
  cluster?: ClusterConfig;
}

/**
 * Cluster mode (docs/scale-out.md, src/cluster/): several daemons share one ClickHouse server
 * store and one Kafka consumer group; window state is kept per input lane (a Kafka partition,
 * an instance's HTTP input) and merged into one result per window in the store.
 */
export interface ClusterConfig {
  enabled: boolean;
  /**
   * This instance's stable name ([A-Za-z0-9._-], 1–63): names its HTTP lane, so a restarted
   * instance resumes its own lane (the pod name of a StatefulSet).
   */
  instanceId: string;
  /** How often an instance looks for windows every lane has passed, ms. @default 1000 */
  finaliseIntervalMs: number;
  /**
   * An HTTP lane whose instance wrote no progress for this long no longer holds windows back
   * (an instance gone for good), ms. @default 600000
   */
  laneTimeoutMs: number;
}

/** `off` = the alert is not generated. */
export type AlertSeverity = 'critical' | 'warning' | 'info' | 'off';

/** Binary: accuracy, precision, recall, f1, roc_auc, log_loss, brier; multiclass: accuracy; regression: mae, rmse, mape. */
export type PerformanceMetric =
  | 'accuracy'
  | 'precision'
  | 'recall'
  | 'f1'
  | 'roc_auc'
  | 'log_loss'
  | 'brier'
  | 'mae'
  | 'rmse'
  | 'mape';

/**
 * Degraded when the metric is below / above a fixed value, or worse than the baseline's own
 * value by more than `dropFromBaseline` (direction-aware: for error metrics, above baseline + x).
 */
export type PerformanceThreshold =
  | { below: number }
  | { above: number }
  | { dropFromBaseline: number };

/** A model's alert settings: its `alerts:` merged over the top-level one, defaults applied. */
export interface ResolvedAlerts {
  /** Routing labels on every alert of the model (e.g. team). */
  labels: Record<string, string>;
  /** Absolute http(s) base of `runbook_url` (no trailing slash); null = no runbook link. */
  runbookBaseUrl: string | null;
  /** Absolute http(s) URL of the driftd API as on-call reaches it; null = no API link in alerts. */
  apiBaseUrl: string | null;
  /** K: drift and performance alerts fire once K consecutive windows are drifted / degraded. */
  consecutiveWindows: number;
  severity: Record<AlertName, AlertSeverity>;
  /** Only metrics of the model's task; a metric without an entry has no verdict. */
  performance: Partial<Record<PerformanceMetric, PerformanceThreshold>>;
  labelCoverage: {
    /** DriftdLabelCoverageLow fires below this share of labelled predictions. */
    alertBelow: number;
    /** A performance verdict needs at least this share of the window's predictions labelled. */
    minForPerformance: number;
  };
  dataQuality: {
    /** DriftdFeatureMissing: missing ratio above the baseline's by more than this. */
    missingIncrease: number;
    /** DriftdUnseenCategories: share of categorical values never seen in the baseline. */
    unseenRatio: number;
    /** DriftdOutOfRange: share of numeric values outside the baseline's range. */
    outOfRangeRatio: number;
    /** DriftdInvalidEvents: share of the model's events rejected as invalid. */
    invalidRatio: number;
  };
  /** Events per second the model normally receives; sizes DriftdNoData. null = unknown. */
  expectedEventsPerSecond: number | null;
  /** DriftdChallengerWorse: when a challenger version is worse than its champion. */
  rollback: {
    /** Drop of a label-free estimate (beyond its noise) that makes the challenger worse. */
    estimatedDrop: number;
    /** Drop of realised performance that makes the challenger worse. */
    realisedDrop: number;
    /** Prediction drift between the versions makes the challenger worse. */
    predictionDrift: boolean;
  };
  /** Retrain recommendation (src/window/retrain.ts): consecutive windows that open an episode. */
  retrain: {
    /** Dataset drift in this many consecutive windows of one size. */
    driftWindows: number;
    /** The label-free estimate degraded (vs `performance`) in this many consecutive windows. */
    estimatedDegradationWindows: number;
  };
}

/** Settings of the pipeline alerts (top-level `alerts:` only). */
export interface PipelineAlerts {
  labels: Record<string, string>;
  runbookBaseUrl: string | null;
  apiBaseUrl: string | null;
  severity: Record<PipelineAlertName, AlertSeverity>;
  /** Prometheus job scraping driftd (DriftdDown). */
  job: string;
  /** DriftdConsumerLagHigh: total lag of a topic, in messages. */
  consumerLagMessages: number;
  /** DriftdDeadLetterRate: dead-lettered messages per second, per reason. */
  deadLettersPerSecond: number;
}

export interface PrivacyConfig {
  /**
   * Secret key of the PII HMAC (DRIFTD_PII_KEY, or read from `piiKeyFile`), at least 32 bytes;
   * null when none is configured (then no model may have PII fields). Redacted in dumps.
   */
  piiKey: string | null;
  /** Where the key was read from, when it came from a file. */
  piiKeyFile: string | null;
}

/** Rules every source's items are checked by (the rest are constants: src/limits.ts). */
export interface IngestConfig {
  /**
   * Live sources (HTTP, Kafka) reject a prediction event whose time is further ahead of the
   * daemon's clock than this; replay accepts any storable time.
   */
  maxFutureSkewMs: number;
}

export interface ServerConfig {
  host: string;
  port: number;
  /**
   * Unnamed bearer tokens (DRIFTD_API_TOKENS), each holding every scope. With `auth.tokens`
   * empty too, /api/v1 is open (logged at boot as a warning).
   */
  apiTokens: string[];
  auth: ServerAuthConfig;
  bodyLimitBytes: number;
  /** Largest baseline upload through the API, bytes (absent in configs built by hand: 4 GiB). */
  baselineUploadMaxBytes?: number;
  /** Whole request (headers and body) must arrive within this, ms; else 408 and disconnect. */
  requestTimeoutMs: number;
  /** Request headers must arrive within this, ms (≤ requestTimeoutMs). */
  headersTimeoutMs: number;
  /** Idle keep-alive connections are closed after this, ms. */
  keepAliveTimeoutMs: number;
  /** HTTPS instead of plain HTTP on the port; absent or null = plain HTTP. */
  tls?: ServerTlsConfig | null;
}

/** PEM file paths (absolute) of the API's TLS; read when the server is built. */
export interface ServerTlsConfig {
  cert: string;
  key: string;
  /** Clients must present a certificate signed by this CA (mutual TLS); null = not asked. */
  ca: string | null;
}

/**
 * PEM file paths (absolute) of the ClickHouse connection's TLS. `ca` null = Node's default CAs
 * (bundled, NODE_EXTRA_CA_CERTS, the OS's with --use-system-ca); `cert` + `key` = a client certificate, by which ClickHouse authenticates the user.
 */
export interface ClickHouseTlsConfig {
  ca: string | null;
  cert: string | null;
  key: string | null;
}

/** What a bearer token may do: read results and audit records, ingest, or administer. */
export type ApiScope = 'read' | 'write' | 'admin';

export interface ApiTokenConfig {
  /** Shown in the access log (never the secret). */
  name: string;
  scopes: ApiScope[];
  /** Read from the environment or a file at config load; never written in the config file. */
  secret: string;
}

export interface ServerAuthConfig {
  tokens: ApiTokenConfig[];
  /** `open`: /metrics needs no token; `read`: it needs a token with scope read (when tokens are configured). */
  metrics: 'open' | 'read';
}

export type StoreConfig =
  | {
      kind: 'embedded';
      path: string;
      rawEventsTtlDays: number;
      /** Days results are kept (0 or absent = forever; never below rawEventsTtlDays). */
      resultsTtlDays?: number;
    }
  | {
      kind: 'clickhouse';
      url: string;
      database: string;
      username: string;
      password: string;
      requestTimeoutMs: number;
      rawEventsTtlDays: number;
      /** Days results are kept (0 or absent = forever; never below rawEventsTtlDays). */
      resultsTtlDays?: number;
      /** null or absent = no TLS settings (an https:// URL then trusts Node's default CAs). */
      tls?: ClickHouseTlsConfig | null;
    };

export interface KafkaConfig {
  brokers: string[];
  clientId: string;
  groupId: string;
  predictionsTopic: string;
  labelsTopic: string;
  deadLetterTopic: string;
  maxMessageBytes: number;
  /** What a prediction message's key carries (see KAFKA_MESSAGE_KEYS). */
  messageKey: KafkaMessageKey;
  /** TLS to the brokers; null = plaintext. */
  ssl: KafkaTlsConfig | null;
  /** SASL authentication; null = none. */
  sasl: KafkaSaslConfig | null;
}

/** Absolute paths of PEM files, read when the Kafka source is made (src/ingest/kafka/security.ts). */
export interface KafkaTlsConfig {
  /** CA certificates the brokers' certificates must chain to; null = Node's default CAs. */
  ca: string | null;
  /** Client certificate (mTLS); set together with `key`. */
  cert: string | null;
  key: string | null;
}

export type KafkaSaslMechanism = 'plain' | 'scram-sha-256' | 'scram-sha-512';

export interface KafkaSaslConfig {
  mechanism: KafkaSaslMechanism;
  username: string;
  /** From DRIFTD_KAFKA_SASL_PASSWORD (never from the file); null = read `passwordFile`. */
  password: string | null;
  /** Absolute path of a file holding the password; null = `password`. */
  passwordFile: string | null;
}

/**
 * What the key of a prediction message carries, for values that lack `model`/`version`:
 * nothing, the model id, or `<model>:<version>` (split at the first colon; model ids have none).
 */
export type KafkaMessageKey = 'none' | 'model' | 'model:version';

export type BaselineFallback = 'none' | 'latest';

export interface FeatureConfig {
  name: string;
  type: FeatureType;
  /** Override of the automatic test choice. */
  test: DriftTest | null;
  /**
   * A fixed threshold instead of the calibrated verdict (driftd ≤ 0.x behaviour): drift when the
   * distance is at or above it, or for KS / chi-square when the BH-adjusted p-value is at or
   * below it. null = calibrated (see src/window/verdict.ts).
   */
  threshold: number | null;
  /** Calibrated verdicts: this feature's level for its BH-adjusted p-value; null = drift.fdr. */
  alpha?: number | null;
  /** Calibrated verdicts: this feature's minimum effect; null = drift.effectFloor of its test. */
  effectFloor?: number | null;
}

/** Verdict rule of a model: calibrated (significance at the window's n and an effect floor) or fixed thresholds. */
export type VerdictRule = 'calibrated' | 'threshold';

export interface WindowSizeConfig {
  /** As written, e.g. "5m": the `window` label. */
  label: string;
  ms: number;
}

export interface ModelConfig {
  id: string;
  task: ModelTask;
  features: FeatureConfig[];
  prediction: { field: string; type: FeatureType };
  label: {
    field: string;
    /** Class treated as positive for binary metrics. */
    positive: number | string;
    /** Score threshold turning a probability into a class for binary classification. */
    threshold: number;
  };
  windows: {
    sizes: WindowSizeConfig[];
    allowedLatenessMs: number;
    idleTimeoutMs: number;
  };
  /** Which model versions are monitored, and against which baseline. */
  versions: {
    /** Only these versions are accepted (others are rejected with a reason); null = any. */
    allow: string[] | null;
    /** Versions with window state at once; a new one beyond it is stored but not evaluated. */
    maxActive: number;
    /**
     * A version without a baseline of its own: `none` = not evaluated (stored raw, counted
     * `no_baseline`); `latest` = evaluated against the model's most recently imported one.
     */
    baselineFallback: BaselineFallback;
  };
  drift: {
    /** Events a window needs before any verdict is given. */
    minWindowSize: number;
    /** Dataset drift when at least this share of features drifted. */
    shareThreshold: number;
    /**
     * α: false discovery rate for Benjamini–Hochberg across the p-values of every feature's
     * test (calibrated verdicts), and the default level of each feature.
     */
    fdr: number;
    /** `calibrated` (default) or `threshold` (fixed thresholds for every feature, as before). */
    verdict?: VerdictRule;
    /**
     * Minimum practical effect per test for a calibrated verdict, in each test's effect
     * measure (src/window/verdict.ts). Defaults: wasserstein 0.1, jensen-shannon 0.1, psi =
     * psiThreshold, ks 0.1, chi-square 0.1.
     */
    effectFloor?: Partial<Record<DriftTest, number>>;
    bins: number;
    psiBuckets: number;
    psiThreshold: number;
    topCategories: number;
    sampleSize: number;
  };
  /**
   * Event fields replaced by their HMAC-SHA-256 (src/privacy/pii.ts) before anything keeps
   * them: features (monitored or not) or `id`.
   */
  piiFields: string[];
  /**
   * Keep event fields the config does not name (features not configured, extra top-level
   * members) in the stored record; false/absent = they are dropped (data minimisation).
   */
  storeUnlistedFields?: boolean;
  /**
   * IANA time zone whole-day windows are aligned in (local midnight to midnight, DST
   * included; src/window/identity.ts). Absent = UTC.
   */
  timeZone?: string;
  /** What each window is compared with (src/window/reference.ts). Absent = the baseline. */
  reference?: ReferenceConfig;
  /** Alert rules and the performance verdict (src/config/alerts.ts). */
  alerts: ResolvedAlerts;
  /** Fairness per protected group (src/stats/fairness.ts); absent = not monitored. */
  fairness?: FairnessConfig | null;
  /** Segments every window is also evaluated on (src/window/segments.ts); absent = none. */
  segments?: SegmentsConfig;
  /** Champion/challenger comparison of versions (src/window/comparison.ts); absent = none. */
  comparison?: ComparisonConfig;
}

/** Categorical features whose values split the traffic into segments, each evaluated alone. */
export interface SegmentsConfig {
  /** Categorical features of the model, 1..5, unique. */
  fields: string[];
  /** Segments per field: its most frequent baseline values; the rest is "__other__". */
  maxPerField: number;
}

/** models[].comparison: which versions are compared with which. */
export interface ComparisonConfig {
  /** The version every challenger is compared with. */
  champion: string;
  /** The versions compared with the champion; null = every other version with a window. */
  challengers: string[] | null;
  /** Both versions score the same event ids: agreement and score differences too. */
  shadow: boolean;
}

/** One protected attribute: a key of the event's `features`, its groups and reference group. */
export type FairnessAttributeConfig = ProtectedAttribute & { field: string; reference: string };

export interface FairnessConfig {
  attributes: FairnessAttributeConfig[];
  confidence: number;
  minGroupSize: number;
  ratioBounds: { min: number; max: number };
  maxEqualizedOddsDifference: number;
  verdict: FairnessVerdictRule;
}

/**
 * The reference of a model's windows: its training baseline, the window just before, or the
 * sum of the `windows` windows before (of the same version and size).
 */
export type ReferenceKind = 'baseline' | 'previous' | 'rolling';

export interface ReferenceConfig {
  kind: ReferenceKind;
  /** Windows summed: 1 for `previous`, N for `rolling`, 0 for `baseline`. */
  windows: number;
}
