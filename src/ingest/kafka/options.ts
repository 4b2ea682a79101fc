/** The Kafka source's options and interface: tuning knobs (and their environment overrides), its error. */

import type { LaneWindows } from '../../cluster/lane-windows.js';
import type { ClusterStore } from '../../cluster/types.js';
import type { KafkaConfig, ModelConfig } from '../../config/types.js';
import { DriftdError, type DriftdErrorOptions } from '../../errors.js';
import type { Metrics } from '../../export/metrics.js';
import type { Logger } from '../../logger.js';
import type { PiiKey } from '../../privacy/pii.js';
import type { Clock } from '../../window/index.js';
import type { CheckpointStore, KafkaCheckpoint } from '../checkpoint.js';
import type { HttpInputHooks } from '../checkpointer.js';
import type { BackoffOptions } from '../retry.js';
import type { EngineSource } from '../source.js';
import type { WriteOptions } from '../store-writes.js';

/** Operational knobs; not part of the config file (env overrides in `kafkaTuningFromEnv`). */
export interface KafkaTuning {
  /** Checkpoint + offset commit period, ms. @default 5000 */
  checkpointIntervalMs?: number;
  /** Consumer-lag gauge refresh period (admin fetchTopicOffsets), ms. @default 5000 */
  lagRefreshMs?: number;
  /** Group session timeout, ms (≥ the broker's group.min.session.timeout.ms, 6000). @default 30000 */
  sessionTimeoutMs?: number;
  /** @default 3000 */
  heartbeatIntervalMs?: number;
  /** Fetch long-poll, ms; also bounds how long a disconnect waits. @default 1000 */
  maxWaitTimeMs?: number;
  /** @default 4 MiB */
  maxBytesPerPartition?: number;
  /** @default 32 MiB */
  maxBytes?: number;
  /** Raw rows buffered before a store insert (fewer, larger inserts). @default 20000 */
  bufferRows?: number;
  /** Backoff of failed writes (store, dead-letter produce). */
  backoff?: BackoffOptions;
  /** Pause fetching once a write has been failing this long, ms. @default 5000 */
  pauseAfterMs?: number;
  /** How long close() lets the batch in flight and the final checkpoint retry, ms. @default 15000 */
  closeTimeoutMs?: number;
  /**
   * How long a config reload waits for its turn between batches (a batch or checkpoint may be
   * retrying a write through a store outage) before it is refused, retriable, ms. @default 15000
   */
  reloadWaitMs?: number;
  /** KafkaJS's own log level (routed to the daemon's logger). @default 'warn' */
  kafkaLogLevel?: 'nothing' | 'error' | 'warn' | 'info' | 'debug';
  /**
   * Parse and validate prediction values on a second thread (decode-batch.ts); off, the event
   * loop does it (env DRIFTD_KAFKA_DECODE_THREAD=0). @default true
   */
  decodeThread?: boolean;
}

const DEFAULTS = {
  checkpointIntervalMs: 5_000,
  lagRefreshMs: 5_000,
  sessionTimeoutMs: 30_000,
  heartbeatIntervalMs: 3_000,
  maxWaitTimeMs: 1_000,
  maxBytesPerPartition: 4 << 20,
  maxBytes: 32 << 20,
  bufferRows: 20_000,
  pauseAfterMs: 5_000,
  closeTimeoutMs: 15_000,
  reloadWaitMs: 15_000,
  kafkaLogLevel: 'warn',
  decodeThread: true,
} as const;

/**
 * Tuning from the environment, for deployments and for tests that start the daemon as a child
 * process: DRIFTD_KAFKA_CHECKPOINT_INTERVAL_MS, DRIFTD_KAFKA_SESSION_TIMEOUT_MS,
 * DRIFTD_KAFKA_HEARTBEAT_INTERVAL_MS, DRIFTD_KAFKA_MAX_WAIT_MS, DRIFTD_KAFKA_BUFFER_ROWS,
 * DRIFTD_KAFKA_LOG_LEVEL, DRIFTD_KAFKA_DECODE_THREAD (0 or 1).
 */
export function kafkaTuningFromEnv(env: NodeJS.ProcessEnv = process.env): KafkaTuning {
  const out: KafkaTuning = {};
  const int = (name: string): number | undefined => {
    const raw = env[name];
    if (raw === undefined || raw === '') return undefined;
    const n = Number(raw);
    if (!Number.isSafeInteger(n) || n <= 0) {
      throw new KafkaSourceError(`${name} must be a positive integer, got ${JSON.stringify(raw)}`);
    }
    return n;
  };
  const set = <K extends keyof KafkaTuning>(key: K, v: KafkaTuning[K] | undefined) => {
    if (v !== undefined) out[key] = v;
  };
  set('checkpointIntervalMs', int('DRIFTD_KAFKA_CHECKPOINT_INTERVAL_MS'));
  set('sessionTimeoutMs', int('DRIFTD_KAFKA_SESSION_TIMEOUT_MS'));
  set('heartbeatIntervalMs', int('DRIFTD_KAFKA_HEARTBEAT_INTERVAL_MS'));
  set('maxWaitTimeMs', int('DRIFTD_KAFKA_MAX_WAIT_MS'));
  set('bufferRows', int('DRIFTD_KAFKA_BUFFER_ROWS'));
  const thread = env.DRIFTD_KAFKA_DECODE_THREAD;
  if (thread !== undefined && thread !== '') {
    if (thread !== '0' && thread !== '1') {
      throw new KafkaSourceError(
        `DRIFTD_KAFKA_DECODE_THREAD must be 0 or 1, got ${JSON.stringify(thread)}`,
      );
    }
    out.decodeThread = thread === '1';
  }
  const level = env.DRIFTD_KAFKA_LOG_LEVEL;
  if (level !== undefined && level !== '') {
    if (!['nothing', 'error', 'warn', 'info', 'debug'].includes(level)) {
      throw new KafkaSourceError(`DRIFTD_KAFKA_LOG_LEVEL must be nothing|error|warn|info|debug`);
    }
    out.kafkaLogLevel = level as KafkaTuning['kafkaLogLevel'];
  }
  return out;
}

export class KafkaSourceError extends DriftdError {
  constructor(message: string, options: DriftdErrorOptions = {}) {
    super('DRIFTD_ERR_KAFKA', message, options);
  }
}

/** What the source needs from the pipeline: the engine's source-to-engine interface. */
export type KafkaPipeline = EngineSource;

export interface KafkaSourceOptions {
  config: KafkaConfig;
  models: ReadonlyMap<string, ModelConfig>;
  pipeline: KafkaPipeline;
  store: CheckpointStore;
  metrics: Metrics;
  logger: Logger;
  clock: Clock;
  /** Key of the PII HMAC (src/privacy/pii.ts); null when no model has PII fields. */
  piiKey: PiiKey | null;
  /** ingest.maxFutureSkew: later prediction events are dead-lettered (ts_in_future). @default 1 h */
  maxFutureSkewMs?: number;
  tuning?: KafkaTuning;
  /**
   * The HTTP input, when the daemon also takes HTTP events: its position is in the cut. Not in
   * cluster mode (the HTTP lane has a checkpointer of its own there).
   */
  http?: HttpInputHooks;
  /** Cluster mode (`cluster.enabled`): per-partition lanes (lane-checkpoints.ts). */
  cluster?: KafkaClusterOptions;
}

/**
 * The engine's per-lane windows as the Kafka source drives them (`pipeline.cluster.lanes`): a
 * predictions partition's lane is restored or opened when the partition is assigned, dropped
 * when it is revoked, snapshotted at each cut.
 */
export type KafkaLanes = Pick<
  LaneWindows,
  'has' | 'open' | 'restore' | 'drop' | 'snapshot' | 'progress'
>;

export interface KafkaClusterOptions {
  /** This instance's `cluster.instanceId` (written into lane checkpoints and progress rows). */
  instanceId: string;
  lanes: KafkaLanes;
  /** Where progress rows go (the store). */
  store: Pick<ClusterStore, 'insertLaneProgress'>;
}

/** The tuning with every default filled in. */
export function resolveTuning(tuning: KafkaTuning | undefined) {
  return { ...DEFAULTS, ...tuning };
}

export type Tuning = ReturnType<typeof resolveTuning>;

/** Writes retried until done (writes.ts); what the pipeline's writes go through. */
export type Write = NonNullable<WriteOptions['write']>;

export type KafkaSourceState = 'created' | 'connecting' | 'running' | 'closing' | 'closed';

export interface KafkaSource {
  readonly state: KafkaSourceState;
  /** Member of the group with an assignment (readiness). */
  readonly joined: boolean;
  /**
   * Loads the group's latest checkpoint into the (fresh) window managers; call before anything
   * is ingested. Returns it, or null when the group has none.
   */
  restore(): Promise<KafkaCheckpoint | null>;
  /** Connects and consumes in the background; retries while the brokers are unreachable. */
  start(): void;
  readiness(): { ok: boolean; detail: string };
  /** Takes a checkpoint now, between batches (tests, shutdown). */
  checkpoint(): Promise<void>;
  /**
   * Cluster mode: every partition of the predictions topic as a lane ("topic/p"), from the
   * brokers' metadata (refreshed with the lag); undefined until known, and outside cluster mode.
   */
  lanes(): string[] | undefined;
  /**
   * Runs `apply` (the pipeline's config swap of a reload) between batches, under the lock the
   * batches and checkpoints take; then the decode thread decodes with the new models (see
   * docs/config-reload.md).
   * @throws KafkaSourceError (retriable) when its turn has not come within `reloadWaitMs`:
   *   `apply` is then never run
   */
  reconfigure(apply: () => Promise<void>): Promise<void>;
  /** Final checkpoint and commit, then disconnects. Idempotent. */
  close(): Promise<void>;
}
