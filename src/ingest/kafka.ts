/**
 * The Kafka source: one consumer group on the predictions and labels topics, a dead-letter
 * topic for invalid messages, and crash-consistent checkpoints. The only file importing kafkajs.
 *
 * Delivery: at-least-once from Kafka, exactly-once in effect for the window results and raw
 * events. The invariant:
 *
 *   (I) The latest checkpoint row of the group, C = (windows W, offsets O), is a consistent
 *       cut: W is exactly the window state built from the events of each predictions partition
 *       p at offsets < O[p] and from no other Kafka event; every window closed before the cut
 *       has its result in the store; the raw rows of every event before O are in the store.
 *
 * How (I) is kept:
 * - Batches run one at a time (eachBatch, autoCommit off, one partition per call) under the
 *   source's lock, in arrival order; eachBatch queues a batch and returns, so kafkajs fetches
 *   the next while earlier ones are processed (a few queued at most). Per batch: stale ones
 *   (a seek happened) and those of revoked partitions are dropped; messages at or below the
 *   partition's processed offset are skipped (Kafka re-delivers after a rebalance; a failed
 *   batch seeks its partition back to the first unprocessed offset, `MAX_BATCH_ATTEMPTS`
 *   times, then its messages are processed one at a time and those that still fail are
 *   dead-lettered as `processing_failed`); invalid messages, and the placeholders of a batch
 *   kafkajs could not decompress (kafka-undecodable.ts, one dead letter per batch), are
 *   dead-lettered first (awaited); then the valid events are recorded into the
 *   windows and the processed offset advances in the same synchronous step. Raw rows are
 *   buffered, closed windows queued; every store write is retried until it succeeds
 *   (retry.ts), heartbeating the group meanwhile and pausing fetches when it takes long.
 * - Checkpoint, every `checkpointIntervalMs` between batches (under the lock): write out every
 *   queued row and window result (`pipeline.settle`), then, synchronously — JS is
 *   single-threaded, so this is one cut — snapshot every window manager and the processed
 *   offsets; write that as ONE store row; then commit the same offsets (+ the labels') to
 *   Kafka. A crash before the row is written leaves the previous checkpoint; a crash between
 *   the row and the commit leaves Kafka one commit behind, which is harmless because:
 * - On (re)start the latest checkpoint is restored into the window managers, and on every
 *   partition assignment each partition is sought to the processed offset + 1 known from the
 *   checkpoint (or from this process's own progress after a rebalance). The checkpoint, not
 *   Kafka's committed offset, is the source of truth. Partitions it does not know start from
 *   the committed offset, or the earliest one.
 * - Replaying events after O rebuilds the same windows, whatever order the partitions' fetches
 *   interleave in, because lateness and watermarks are per partition (src/window/manager.ts,
 *   lanes; each partition is announced as a lane on assignment). Windows that closed after the
 *   cut close again with identical results and are rewritten (the store replaces them; only
 *   closedAt differs). Raw rows re-inserted with the same Kafka coordinates collapse: the events
 *   table is a ReplacingMergeTree keyed by (model, version, ts, id, source, topic, partition,
 *   offset); read it with FINAL or one row per id.
 * - Labels are idempotent in the store (latest per (model, id)). A label batch is stored, and
 *   the closed windows it touches are marked for a performance recompute; its offsets are
 *   committed with the next checkpoint, after `settle` made the recomputes durable.
 * - Dead letters are at-least-once: a crash after the produce and before the next checkpoint
 *   produces them again.
 * - Codecs: snappy, lz4 and zstd are registered with kafkajs before the consumer is made
 *   (kafka-codecs.ts); every codec is guarded so that no batch can stall its partition.
 * - Lag: refreshed for the partitions last assigned even while the consumer is not a member
 *   (crash loop, rejoin), so that a stuck partition shows its growing lag.
 * - Clean shutdown: stop taking batches, let the one in flight finish (then abort its retries
 *   after `closeTimeoutMs`), final checkpoint + commit, disconnect.
 *
 * Scope: exact for one daemon instance per consumer group. Several instances in one group each
 * write the group's single checkpoint row, and a partition that moves between instances
 * arrives without its window state; that is at-least-once, not exact (not implemented: per-
 * instance checkpoints and merging partial window states).
 *
 * Model and version may come from the headers `driftd-model` / `driftd-version` when the JSON
 * value lacks them (the value wins when both are present). Taking them from the message key is
 * not supported.
 */

import { isUtf8 } from 'node:buffer';
import type {
  Admin,
  Batch,
  Consumer,
  ConsumerGroupJoinEvent,
  EachBatchPayload,
  IHeaders,
  KafkaMessage,
  LogEntry,
  Message,
  Producer,
} from 'kafkajs';
import kafkajs from 'kafkajs';
import type { KafkaConfig, KafkaMessageKey, ModelConfig } from '../config/types.js';
import { DriftdError, type DriftdErrorOptions } from '../errors.js';
import type { Metrics } from '../export/metrics.js';
import { DEFAULT_MAX_FUTURE_SKEW_MS as MAX_SKEW_MS } from '../limits.js';
import type { Logger } from '../logger.js';
import type { LabelEvent } from '../types.js';
import type { Clock, WindowManager } from '../window/index.js';
import {
  type CheckpointStore,
  decodeCheckpoint,
  encodeCheckpoint,
  type KafkaCheckpoint,
  type PartitionOffset,
  restoreWindows,
} from './checkpoint.js';
import type { HttpInputHooks } from './checkpointer.js';
import {
  type Decoded,
  type DecodeOptions,
  decodeLabel,
  INVALID_UTF8_MESSAGE,
  type RejectReason,
} from './decode.js';
import {
  DecodedBatch,
  type DecodedMessage,
  decodeMessage,
  type HeaderLookup,
  modelLabel,
  modelList,
  type ParsedValue,
  parseValue,
} from './decode-batch.js';
import { createDecodeThread, type DecodeThread } from './decode-thread.js';
import { registerKafkaCodecs } from './kafka-codecs.js';
import { type UndecodableBatch, undecodableBatchOf } from './kafka-undecodable.js';
import type { SourcedEvent, WriteOptions } from './pipeline.js';
import {
  type BackoffOptions,
  backoffDelay,
  RetryAbortedError,
  retryUntilDone,
  sleep,
} from './retry.js';

const { Kafka, logLevel: KafkaLogLevel } = kafkajs;

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

/** What the source needs from the pipeline (the Pipeline satisfies it). */
export interface KafkaPipeline {
  readonly managers: ReadonlyMap<string, WindowManager>;
  recordSourced(events: readonly SourcedEvent[]): void;
  persist(opts?: WriteOptions & { bufferRows?: number; resultDelayMs?: number }): Promise<void>;
  settle(opts?: WriteOptions): Promise<void>;
  quiescent(): boolean;
  ingestLabelEvents(labels: readonly LabelEvent[], opts?: WriteOptions): Promise<void>;
  openWindows(): number;
}

export interface KafkaSourceOptions {
  config: KafkaConfig;
  models: ReadonlyMap<string, ModelConfig>;
  pipeline: KafkaPipeline;
  store: CheckpointStore;
  metrics: Metrics;
  logger: Logger;
  clock: Clock;
  piiSalt: string;
  /** ingest.maxFutureSkew: later prediction events are dead-lettered (ts_in_future). @default 1 h */
  maxFutureSkewMs?: number;
  tuning?: KafkaTuning;
  /** The HTTP input, when the daemon also takes HTTP events: its position is in the cut. */
  http?: HttpInputHooks;
}

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
  /** Final checkpoint and commit, then disconnects. Idempotent. */
  close(): Promise<void>;
}

/** Dead-letter headers set on every dead-lettered message (original headers are kept). */
export const DEAD_LETTER_HEADERS = {
  reason: 'driftd-reason',
  error: 'driftd-error',
  topic: 'driftd-source-topic',
  partition: 'driftd-source-partition',
  offset: 'driftd-source-offset',
  /** An undecodable batch (reason `undecodable_batch`): its last offset (`offset`: its first). */
  lastOffset: 'driftd-source-last-offset',
  /** An undecodable batch: its codec and how many records its header announces. */
  compression: 'driftd-compression',
  records: 'driftd-records',
} as const;

/**
 * Dead-letter reasons of the Kafka source itself, beside the decoders' `RejectReason`s:
 * - `undecodable_batch`: a record batch kafkajs could not decompress (kafka-undecodable.ts);
 *   one dead letter per batch, its value the compressed records.
 * - `processing_failed`: a message whose processing kept failing (`MAX_BATCH_ATTEMPTS`).
 */
export type KafkaRejectReason = 'undecodable_batch' | 'processing_failed';

/**
 * Attempts at a batch whose processing throws (not a write: those are retried until they
 * succeed) before its messages are processed one at a time, the failing ones dead-lettered.
 */
export const MAX_BATCH_ATTEMPTS = 3;

export const MODEL_HEADER = 'driftd-model';
export const VERSION_HEADER = 'driftd-version';

const MAX_ERROR_HEADER = 1000;

interface Dead {
  message: KafkaMessage;
  reason: RejectReason | KafkaRejectReason;
  error: string;
  /** Configured model of the message, else "unknown" (metric label). */
  model: string;
  /** The undecodable batch this dead letter stands for (its placeholders, counted). */
  batch?: { of: UndecodableBatch; placeholders: number };
}

/** The part of a kafkajs batch the source reads (a batch of one message when isolating). */
type BatchView = Pick<Batch, 'topic' | 'partition' | 'highWatermark' | 'messages'>;

/**
 * When `m` is a placeholder of an undecodable batch (kafka-undecodable.ts): one dead letter per
 * batch in `dead`, counting its placeholders, and true.
 */
function takeUndecodable(m: KafkaMessage, dead: Dead[]): boolean {
  const of = undecodableBatchOf(m);
  if (of === undefined) return false;
  const prev = dead[dead.length - 1];
  if (prev?.batch?.of === of) {
    prev.batch.placeholders++;
    return true;
  }
  const headers: IHeaders = {
    [DEAD_LETTER_HEADERS.lastOffset]: of.lastOffset,
    [DEAD_LETTER_HEADERS.compression]: of.codec,
    [DEAD_LETTER_HEADERS.records]: String(of.records),
  };
  dead.push({
    message: {
      key: null,
      value: of.compressed,
      headers,
      offset: of.baseOffset,
      timestamp: m.timestamp,
      attributes: 0,
    },
    reason: 'undecodable_batch',
    error: of.error,
    model: 'unknown',
    batch: { of, placeholders: 1 },
  });
  return true;
}

/**
 * Model and version a prediction message's key carries (kafka.messageKey); an empty part is
 * none. Asked for only when the value and the headers lack the field.
 */
export function keyTexts(
  key: Buffer | null | undefined,
  carries: KafkaMessageKey,
): { model?: string; version?: string } | undefined {
  if (carries === 'none' || key === null || key === undefined || key.length === 0) {
    return undefined;
  }
  const text = key.toString('utf8');
  const colon = carries === 'model:version' ? text.indexOf(':') : -1;
  const model = colon < 0 ? text : text.slice(0, colon);
  const version = colon < 0 ? '' : text.slice(colon + 1);
  return {
    ...(model !== '' ? { model } : {}),
    ...(version !== '' ? { version } : {}),
  };
}

function headerText(headers: IHeaders | undefined, name: string): string | undefined {
  const v = headers?.[name];
  const first = Array.isArray(v) ? v[0] : v;
  if (first === undefined) return undefined;
  return typeof first === 'string' ? first : first.toString('utf8');
}

/**
 * Bytes of dead letters per produce request: well under the broker's default
 * message.max.bytes (1 MiB), so a batch's dead letters go in a few requests, not one by one.
 */
export const DEAD_LETTER_REQUEST_BYTES = 512 * 1024;

/** About what a message weighs in a produce request (value, key, headers, framing). */
function messageBytes(m: Message): number {
  const len = (v: unknown) => (typeof v === 'string' || Buffer.isBuffer(v) ? v.length : 0);
  let n = 32 + len(m.value) + len(m.key);
  for (const [k, v] of Object.entries(m.headers ?? {})) {
    n += 8 + k.length + (Array.isArray(v) ? v.reduce((s: number, x) => s + len(x), 0) : len(v));
  }
  return n;
}

/**
 * Dead letters cut into produce requests of at most `maxBytes` each (as estimated; a message
 * larger than that alone in its request), in order.
 */
export function deadLetterRequests(messages: readonly Message[], maxBytes: number): Message[][] {
  const out: Message[][] = [];
  let part: Message[] = [];
  let bytes = 0;
  for (const m of messages) {
    const size = messageBytes(m);
    if (part.length > 0 && bytes + size > maxBytes) {
      out.push(part);
      part = [];
      bytes = 0;
    }
    part.push(m);
    bytes += size;
  }
  if (part.length > 0) out.push(part);
  return out;
}

/**
 * Whether `event` took its version from a `driftd-version` header whose bytes are not UTF-8:
 * decoded, they became U+FFFD, and the event would be stored under a version other than sent
 * (as a value that is not UTF-8 would be: reason invalid_utf8). A model header cannot match a
 * configured model that way, so only the version is checked.
 */
export function versionFromInvalidHeader(
  headers: IHeaders | undefined,
  event: { version: string },
): boolean {
  const v = headers?.[VERSION_HEADER];
  const first = Array.isArray(v) ? v[0] : v;
  return Buffer.isBuffer(first) && !isUtf8(first) && first.toString('utf8') === event.version;
}

/** Size errors the broker will repeat forever for the same message. */
function isTooLarge(err: unknown): boolean {
  for (let e = err as { type?: unknown; cause?: unknown } | undefined, i = 0; e && i < 5; i++) {
    if (e.type === 'MESSAGE_TOO_LARGE' || e.type === 'RECORD_LIST_TOO_LARGE') return true;
    e = e.cause as typeof e;
  }
  return false;
}

function createLock(): <T>(fn: () => Promise<T>) => Promise<T> {
  let tail: Promise<unknown> = Promise.resolve();
  return <T>(fn: () => Promise<T>): Promise<T> => {
    const run = tail.then(fn, fn);
    tail = run.catch(() => undefined);
    return run;
  };
}

const KAFKAJS_LEVELS = {
  nothing: KafkaLogLevel.NOTHING,
  error: KafkaLogLevel.ERROR,
  warn: KafkaLogLevel.WARN,
  info: KafkaLogLevel.INFO,
  debug: KafkaLogLevel.DEBUG,
} as const;

/** Events of a batch made and recorded together (see onPredictions). */
const RECORD_SLICE = 256;

/** Batches queued ahead of processing (see onBatch): about one fetch of three partitions. */
const MAX_QUEUED_BATCHES = 4;

export function createKafkaSource(options: KafkaSourceOptions): KafkaSource {
  registerKafkaCodecs();
  const { config: cfg, pipeline, store, metrics, clock } = options;
  const tuning = { ...DEFAULTS, ...options.tuning };
  const log = options.logger.child({ stage: 'kafka' });
  const decodeOpts: DecodeOptions = {
    models: options.models,
    piiSalt: options.piiSalt,
    live: { now: () => clock.now(), maxFutureSkewMs: options.maxFutureSkewMs ?? MAX_SKEW_MS },
  };
  const models = modelList(options.models);
  /** Parses and validates prediction values off the event loop (see decode-batch.ts). */
  let decoder: DecodeThread | undefined;
  let decodeThreadFailed = false;
  const groupId = cfg.groupId;
  const predictionsTopic = cfg.predictionsTopic;
  const labelsTopic = cfg.labelsTopic;

  let state: KafkaSourceState = 'created';
  let joined = false;
  let stopping = false;
  const abort = new AbortController();
  const exclusive = createLock();

  let consumer: Consumer | undefined;
  let producer: Producer | undefined;
  let admin: Admin | undefined;
  let connecting: Promise<void> | undefined;
  let closing: Promise<void> | undefined;
  let checkpointTimer: NodeJS.Timeout | undefined;
  let lagTimer: NodeJS.Timeout | undefined;
  let checkpointing = false;
  let refreshingLag = false;

  /** "topic/partition" → last processed offset (predictions: what the windows hold). */
  const processed = new Map<string, number>();
  const labelsProcessed = new Map<string, number>();
  /** Current assignment: topic → partitions. */
  let assigned = new Map<string, number[]>();
  let seq = 0;
  let lastCheckpointAt = clock.now();
  let changes = 0;
  let openAtCheckpoint = 0;
  let lastHeartbeat: (() => Promise<void>) | undefined;
  let paused = false;
  let failingSince: number | undefined;

  const key = (topic: string, partition: number) => `${topic}/${partition}`;

  // --- writes with retry ---------------------------------------------------------------------

  function pauseFetching(): void {
    if (paused || !consumer) return;
    paused = true;
    const topics = [...assigned.keys()].map((topic) => ({ topic }));
    try {
      consumer.pause(topics);
      log.warn({ topics: [...assigned.keys()] }, 'writes keep failing: paused fetching');
    } catch (err) {
      log.debug({ err }, 'pause failed');
    }
  }

  function resumeFetching(): void {
    if (!paused || !consumer) return;
    paused = false;
    try {
      consumer.resume([...assigned.keys()].map((topic) => ({ topic })));
      log.info('writes succeed again: resumed fetching');
    } catch (err) {
      log.debug({ err }, 'resume failed');
    }
  }

  /** A write wrapper: retry until done (or close), heartbeating and pausing meanwhile. */
  const write: NonNullable<WriteOptions['write']> = async (operation, fn) => {
    const result = await retryUntilDone(fn, {
      ...tuning.backoff,
      operation,
      signal: abort.signal,
      onRetry: ({ attempt, err, retriable, delayMs }) => {
        failingSince ??= clock.now();
        if (attempt === 1 || attempt % 10 === 0) {
          const msg = retriable
            ? 'write failed; retrying (offsets not committed, nothing skipped)'
            : 'write failed with a non-retriable error; retrying slowly (offsets not committed, nothing skipped)';
          if (retriable) log.warn({ err, operation, attempt, delayMs }, msg);
          else log.error({ err, operation, attempt, delayMs }, msg);
        }
      },
      whileWaiting: async () => {
        if (failingSince !== undefined && clock.now() - failingSince >= tuning.pauseAfterMs) {
          pauseFetching();
        }
        if (lastHeartbeat) await lastHeartbeat();
      },
    });
    if (failingSince !== undefined) {
      log.info({ operation, failedForMs: clock.now() - failingSince }, 'write succeeded again');
      failingSince = undefined;
    }
    resumeFetching();
    return result;
  };

  // --- decoding --------------------------------------------------------------------------------

  function headersOf(m: KafkaMessage): HeaderLookup | undefined {
    const h = m.headers;
    if (h === undefined) return undefined;
    return (field) => headerText(h, field === 'model' ? MODEL_HEADER : VERSION_HEADER);
  }

  /** A prediction's model/version beside its value: the headers, then the key (if configured). */
  function predictionSourcesOf(m: KafkaMessage): HeaderLookup | undefined {
    const h = m.headers;
    const k = keyTexts(m.key, cfg.messageKey);
    if (k === undefined) return headersOf(m);
    return (field) => headerText(h, field === 'model' ? MODEL_HEADER : VERSION_HEADER) ?? k[field];
  }

  function parse(m: KafkaMessage): ParsedValue {
    return parseValue(m.value, cfg.maxMessageBytes, headersOf(m));
  }

  /** A prediction's model/version texts beside its value, for the decode thread (none: undefined). */
  function headerTexts(i: number, messages: KafkaMessage[]) {
    const m = messages[i]!;
    const h = m.headers;
    const k = keyTexts(m.key, cfg.messageKey);
    if (
      k === undefined &&
      (h === undefined || (h[MODEL_HEADER] === undefined && h[VERSION_HEADER] === undefined))
    ) {
      return undefined;
    }
    const model = headerText(h, MODEL_HEADER) ?? k?.model;
    const version = headerText(h, VERSION_HEADER) ?? k?.version;
    return {
      ...(model !== undefined ? { model } : {}),
      ...(version !== undefined ? { version } : {}),
    };
  }

  // --- dead letters ----------------------------------------------------------------------------

  function toDeadLetter(batch: BatchView, d: Dead): Message {
    const headers: IHeaders = { ...(d.message.headers ?? {}) };
    headers[DEAD_LETTER_HEADERS.reason] = d.reason;
    headers[DEAD_LETTER_HEADERS.error] =
      d.error.length > MAX_ERROR_HEADER ? `${d.error.slice(0, MAX_ERROR_HEADER)}…` : d.error;
    headers[DEAD_LETTER_HEADERS.topic] = batch.topic;
    headers[DEAD_LETTER_HEADERS.partition] = String(batch.partition);
    headers[DEAD_LETTER_HEADERS.offset] = d.message.offset;
    return { key: d.message.key, value: d.message.value, headers };
  }

  async function sendDeadLetters(messages: Message[]): Promise<void> {
    const p = producer;
    if (!p)
      throw new KafkaSourceError('dead-letter producer is not connected', { retriable: true });
    // In requests the broker takes whole: a batch's dead letters over its message.max.bytes
    // made the request fail and every dead letter of the batch go one by one (each awaited,
    // acks=all), a few hundred per second while the partition waited.
    for (const part of deadLetterRequests(messages, DEAD_LETTER_REQUEST_BYTES)) {
      await sendDeadLetterRequest(p, part);
    }
  }

  async function sendDeadLetterRequest(p: Producer, messages: Message[]): Promise<void> {
    const send = (list: Message[]) =>
      p.send({ topic: cfg.deadLetterTopic, acks: -1, messages: list });
    try {
      await send(messages);
    } catch (err) {
      if (!isTooLarge(err)) throw err;
      // One message too large for the dead-letter topic: send one by one, and the ones that
      // still do not fit without their value (the source coordinates point at the original).
      for (const m of messages) {
        try {
          await send([m]);
        } catch (e) {
          if (!isTooLarge(e)) throw e;
          const size = m.value === null || m.value === undefined ? 0 : m.value.length;
          await send([
            {
              key: m.key ?? null,
              value: null,
              headers: { ...m.headers, 'driftd-value-dropped': String(size) },
            },
          ]);
        }
      }
    }
  }

  async function deadLetter(batch: BatchView, dead: Dead[], kind: 'prediction' | 'label') {
    const messages = dead.map((d) => toDeadLetter(batch, d));
    await write('dead_letter', () => sendDeadLetters(messages));
    const reasons: Partial<Record<Dead['reason'], number>> = {};
    for (const d of dead) {
      metrics.deadLetterTotal.inc({ reason: d.reason });
      // An undecodable batch is one dead letter and as many invalid items as it held.
      const items = d.batch?.placeholders ?? 1;
      if (kind === 'prediction') {
        metrics.eventsTotal.inc({ model: d.model, result: 'invalid' }, items);
      } else {
        metrics.labelsTotal.inc({ model: d.model, result: 'invalid' }, items);
      }
      reasons[d.reason] = (reasons[d.reason] ?? 0) + 1;
    }
    log.warn(
      {
        topic: batch.topic,
        partition: batch.partition,
        deadLetterTopic: cfg.deadLetterTopic,
        reasons,
        first: { offset: dead[0]!.message.offset, error: dead[0]!.error },
      },
      'invalid messages dead-lettered',
    );
  }

  // --- batches ---------------------------------------------------------------------------------

  /**
   * The messages of a batch past `last`: decoded ones, and dead letters for the rest.
   * `newest` is the last offset looked at (equal to `last` when the batch held nothing new).
   */
  function classify<T>(
    batch: BatchView,
    last: number,
    decode: (parsed: Extract<ParsedValue, { ok: true }>) => Decoded<T>,
  ): { newest: number; valid: Array<{ value: T; message: KafkaMessage }>; dead: Dead[] } {
    let newest = last;
    const valid: Array<{ value: T; message: KafkaMessage }> = [];
    const dead: Dead[] = [];
    for (const m of batch.messages) {
      const offset = Number(m.offset);
      if (offset <= last) continue; // already processed
      newest = offset;
      if (takeUndecodable(m, dead)) continue;
      const parsed = parse(m);
      if (!parsed.ok) {
        dead.push({ message: m, reason: parsed.reason, error: parsed.message, model: 'unknown' });
        continue;
      }
      const d = decode(parsed);
      if (!d.ok) {
        dead.push({
          message: m,
          reason: d.reason,
          error: d.message,
          model: modelLabel(parsed.value, options.models),
        });
        continue;
      }
      valid.push({ value: d.value, message: m });
    }
    return { newest, valid, dead };
  }

  /**
   * The decode thread's answer for a predictions batch when it took the batch (started when the
   * batch was queued, so it overlaps with the batches before it); null when the event loop
   * decodes every message itself (`decodeMessage`).
   */
  async function decodePredictions(
    batch: BatchView,
    decoding: Promise<Uint8Array> | undefined,
  ): Promise<DecodedBatch | null> {
    if (decoding === undefined) return null;
    try {
      return new DecodedBatch(
        await decoding,
        batch.messages.map((m) => m.value),
        models,
      );
    } catch (err) {
      if (!decodeThreadFailed) {
        decodeThreadFailed = true;
        log.warn({ err }, 'decode thread answer unusable; decoding on the event loop');
      }
      return null;
    }
  }

  async function onPredictions(batch: BatchView, decoding?: Promise<Uint8Array>): Promise<void> {
    const { topic, partition } = batch;
    const k = key(topic, partition);
    const last = processed.get(k) ?? -1;
    const answer = await decodePredictions(batch, decoding);
    const messages = batch.messages;
    // First pass: the newest offset, the rejected messages, and the ones decoded here (no
    // answer, or a model with PII fields). The thread's events stay in its answer for now.
    let newest = last;
    const dead: Dead[] = [];
    const local: Array<DecodedMessage | undefined> = [];
    /** Decoded, but refused: the version came from a header that is not UTF-8. */
    const refused = new Set<number>();
    const refuse = (i: number, m: KafkaMessage, d: DecodedMessage | null): boolean => {
      if (!d?.ok || !versionFromInvalidHeader(m.headers, d.event)) return false;
      refused.add(i);
      const error = `header ${VERSION_HEADER}: ${INVALID_UTF8_MESSAGE}`;
      dead.push({ message: m, reason: 'invalid_utf8', error, model: d.event.model });
      return true;
    };
    for (let i = 0; i < messages.length; i++) {
      const m = messages[i]!;
      const offset = Number(m.offset);
      if (offset <= last) continue; // already processed
      newest = offset;
      if (takeUndecodable(m, dead)) continue;
      const kind = answer === null ? 'local' : answer.kind(i);
      if (kind === 'event') {
        if (m.headers?.[VERSION_HEADER] !== undefined) refuse(i, m, answer!.message(i));
        continue;
      }
      const d =
        (kind === 'dead' ? answer!.message(i) : null) ??
        decodeMessage(m.value, cfg.maxMessageBytes, decodeOpts, predictionSourcesOf(m));
      if (refuse(i, m, d)) continue;
      if (d.ok) local[i] = d;
      else dead.push({ message: m, reason: d.reason, error: d.message, model: d.model });
    }
    if (newest === last) return;
    if (dead.length > 0) await deadLetter(batch, dead, 'prediction');
    // One synchronous step: the windows and the processed offset move together. Events are
    // made and recorded a slice at a time, so each is garbage before the next scavenge instead
    // of a whole batch of them being promoted to the old generation.
    const slice: SourcedEvent[] = [];
    for (let i = 0; i < messages.length; i++) {
      const m = messages[i]!;
      if (Number(m.offset) <= last || undecodableBatchOf(m) !== undefined || refused.has(i)) {
        continue;
      }
      const d = local[i] ?? (answer?.kind(i) === 'event' ? answer.message(i) : undefined);
      if (d === undefined || d === null || !d.ok) continue;
      slice.push({ event: d.event, source: { kind: 'kafka', topic, partition, offset: m.offset } });
      if (slice.length === RECORD_SLICE) {
        pipeline.recordSourced(slice);
        slice.length = 0;
      }
    }
    pipeline.recordSourced(slice);
    processed.set(k, newest);
    changes++;
    setLag(topic, partition, Number(batch.highWatermark) - newest - 1);
    await pipeline.persist({ write, bufferRows: tuning.bufferRows });
  }

  async function onLabels(batch: BatchView): Promise<void> {
    const { topic, partition } = batch;
    const k = key(topic, partition);
    const last = labelsProcessed.get(k) ?? -1;
    const {
      newest,
      valid: decoded,
      dead,
    } = classify(batch, last, (p) => decodeLabel(p.value, decodeOpts));
    const valid: LabelEvent[] = decoded.map((d) => d.value);
    if (newest === last) return;
    if (dead.length > 0) await deadLetter(batch, dead, 'label');
    await pipeline.ingestLabelEvents(valid, { write });
    labelsProcessed.set(k, newest);
    changes++;
    setLag(topic, partition, Number(batch.highWatermark) - newest - 1);
  }

  /**
   * Batches handed over by kafkajs and not processed yet. kafkajs fetches again only once
   * eachBatch has returned for every batch of a fetch: returning as soon as a batch is queued
   * lets the next fetch (the broker's round trip, the decoding) overlap with processing.
   * Queued batches are processed in order under the lock, with every check made when their
   * turn comes (stale after a seek, partition revoked, closing); the offset guard skips what
   * a re-delivery repeats. At most MAX_QUEUED_BATCHES wait: then eachBatch waits too.
   */
  const queuedBatches = new Set<Promise<void>>();

  async function onBatch(payload: EachBatchPayload): Promise<void> {
    lastHeartbeat = payload.heartbeat;
    const { batch } = payload;
    let decoding: Promise<Uint8Array> | undefined;
    if (decoder !== undefined && batch.topic === predictionsTopic && batch.messages.length > 0) {
      const messages = batch.messages;
      decoding = decoder.decode(
        messages.map((m) => m.value),
        (i) => headerTexts(i, messages),
      );
      // A batch turned stale never reads its answer.
      decoding.catch(() => undefined);
    }
    const job = exclusive(() => processBatch(payload, decoding));
    queuedBatches.add(job);
    void job.finally(() => queuedBatches.delete(job));
    while (queuedBatches.size > MAX_QUEUED_BATCHES) await Promise.race(queuedBatches);
  }

  async function processBatch(
    payload: EachBatchPayload,
    decoding: Promise<Uint8Array> | undefined,
  ): Promise<void> {
    const { batch } = payload;
    if (stopping || batch.messages.length === 0) return;
    // A partition no longer ours (or with a seek pending) would be counted by its new owner.
    if (!assigned.get(batch.topic)?.includes(batch.partition) || payload.isStale()) return;
    const k = key(batch.topic, batch.partition);
    try {
      if (batch.topic === predictionsTopic) await onPredictions(batch, decoding);
      else if (batch.topic === labelsTopic) await onLabels(batch);
      failures.delete(k);
      if (clock.now() - lastCheckpointAt >= tuning.checkpointIntervalMs) await takeCheckpoint();
    } catch (err) {
      // Closing: the batch's unwritten work is simply not checkpointed; a restart replays it.
      if (err instanceof RetryAbortedError) return;
      // Anything else is a bug or a poison message (writes never end up here: they are retried
      // until they succeed). Fetch the partition again from the first offset not processed
      // (batches queued behind this one turn stale; the offset guard skips what the windows
      // already hold), a bounded number of times; then isolate the failing messages.
      const done = batch.topic === predictionsTopic ? processed : labelsProcessed;
      const last = done.get(k);
      const offset = last === undefined ? batch.firstOffset() : String(last + 1);
      if (offset === null) return;
      const prev = failures.get(k);
      const attempt = prev?.offset === offset ? prev.attempts + 1 : 1;
      failures.set(k, { offset, attempts: attempt });
      if (attempt < MAX_BATCH_ATTEMPTS) {
        log.error(
          { err, topic: batch.topic, partition: batch.partition, offset, attempt },
          'batch failed; fetching the partition again',
        );
        consumer?.seek({ topic: batch.topic, partition: batch.partition, offset });
        return;
      }
      log.error(
        { err, topic: batch.topic, partition: batch.partition, offset, attempt },
        'batch failed again; processing its messages one at a time, dead-lettering those that fail',
      );
      try {
        await isolate(batch);
        failures.delete(k);
      } catch (e) {
        if (e instanceof RetryAbortedError) return;
        log.error({ err: e, topic: batch.topic, partition: batch.partition }, 'isolating failed');
        consumer?.seek({ topic: batch.topic, partition: batch.partition, offset });
      }
    }
  }

  /** Partition ("topic/partition") → the offset its batches keep failing at, and how often. */
  const failures = new Map<string, { offset: string; attempts: number }>();

  /**
   * A batch that failed `MAX_BATCH_ATTEMPTS` times, one message at a time: each message that
   * still fails is dead-lettered (`processing_failed`, with the error) and passed, so the
   * partition moves on and the messages around it are processed as usual.
   */
  async function isolate(batch: Batch): Promise<void> {
    const { topic, partition } = batch;
    const k = key(topic, partition);
    const predictions = topic === predictionsTopic;
    const done = predictions ? processed : labelsProcessed;
    for (const m of batch.messages) {
      if (stopping) return;
      const offset = Number(m.offset);
      if (offset <= (done.get(k) ?? -1)) continue;
      const one: BatchView = {
        topic,
        partition,
        highWatermark: batch.highWatermark,
        messages: [m],
      };
      try {
        if (predictions) await onPredictions(one);
        else await onLabels(one);
      } catch (err) {
        if (err instanceof RetryAbortedError) throw err;
        const error = err instanceof Error ? `${err.name}: ${err.message}` : String(err);
        await deadLetter(
          one,
          [{ message: m, reason: 'processing_failed', error, model: 'unknown' }],
          predictions ? 'prediction' : 'label',
        );
        // A failure after the offset moved (the event is in the windows, a later step failed)
        // is dead-lettered too: its bytes are kept, the offset stays where it is.
        if (offset > (done.get(k) ?? -1)) done.set(k, offset);
        changes++;
      }
    }
  }

  // --- checkpoint ------------------------------------------------------------------------------

  /** Call under the lock. */
  async function takeCheckpoint(): Promise<void> {
    for (let i = 0; ; i++) {
      await pipeline.settle({ write });
      if (pipeline.quiescent()) break;
      if (i >= 50) {
        log.warn('pipeline never quiet (concurrent HTTP ingestion?); checkpoint postponed');
        return;
      }
    }
    // The cut: synchronous from the snapshots to the encoded row.
    const windows: KafkaCheckpoint['windows'] = {};
    for (const [model, manager] of pipeline.managers) windows[model] = manager.snapshot();
    const offsets: PartitionOffset[] = [];
    for (const [k, offset] of processed) {
      const slash = k.lastIndexOf('/');
      offsets.push({
        topic: k.slice(0, slash),
        partition: Number(k.slice(slash + 1)),
        offset: String(offset + 1),
      });
    }
    const labelOffsets: PartitionOffset[] = [];
    for (const [k, offset] of labelsProcessed) {
      const slash = k.lastIndexOf('/');
      labelOffsets.push({
        topic: k.slice(0, slash),
        partition: Number(k.slice(slash + 1)),
        offset: String(offset + 1),
      });
    }
    const cp: KafkaCheckpoint = {
      format: 1,
      groupId,
      seq: seq + 1,
      takenAt: clock.now(),
      offsets,
      ...(options.http ? { httpPosition: options.http.position() } : {}),
      windows,
    };
    const row = encodeCheckpoint(cp);
    const changesAtCut = changes;
    await write('save_checkpoint', () => store.saveCheckpoint(row));
    seq = cp.seq;
    lastCheckpointAt = cp.takenAt;
    changes -= changesAtCut;
    openAtCheckpoint = pipeline.openWindows();
    log.debug({ seq, offsets, bytes: row.payload.length }, 'checkpoint written');
    await commit([...offsets, ...labelOffsets]);
  }

  async function commit(list: PartitionOffset[]): Promise<void> {
    const c = consumer;
    if (!c || !joined) return;
    // Only partitions this member owns: committing another member's would move its position.
    const mine = list.filter((o) => assigned.get(o.topic)?.includes(o.partition));
    if (mine.length === 0) return;
    try {
      await c.commitOffsets(mine);
    } catch (err) {
      log.warn(
        { err, offsets: mine },
        'offset commit failed; the checkpoint stays the source of truth and the next one commits again',
      );
    }
  }

  function scheduleCheckpoints(): void {
    checkpointTimer = setInterval(
      () => {
        if (checkpointing || stopping) return;
        const due = clock.now() - lastCheckpointAt >= tuning.checkpointIntervalMs;
        if (!due || (changes === 0 && pipeline.openWindows() === openAtCheckpoint)) return;
        checkpointing = true;
        exclusive(async () => {
          if (stopping || clock.now() - lastCheckpointAt < tuning.checkpointIntervalMs) return;
          await takeCheckpoint();
        })
          .catch((err) => {
            if (!(err instanceof RetryAbortedError)) log.error({ err }, 'checkpoint failed');
          })
          .finally(() => {
            checkpointing = false;
          });
      },
      Math.max(50, Math.min(1000, tuning.checkpointIntervalMs)),
    );
    checkpointTimer.unref();
  }

  // --- lag ---------------------------------------------------------------------------------------

  function setLag(topic: string, partition: number, lag: number): void {
    if (!Number.isFinite(lag)) return;
    metrics.kafkaConsumerLag.set({ topic, partition: String(partition) }, Math.max(0, lag));
  }

  /**
   * Lag of the partitions last assigned: high watermark − the next offset to process (this
   * process's own progress, else the group's committed offset, else the log start). Refreshed
   * whether or not the consumer is a member right now: while it is stuck (crash-looping,
   * rejoining) the lag grows and the gauge must say so; the admin client outlives consumer
   * reconnects for this (see `reconnect`).
   */
  async function refreshLag(): Promise<void> {
    const a = admin;
    if (!a) return;
    for (const [topic, partitions] of assigned) {
      const done = topic === predictionsTopic ? processed : labelsProcessed;
      const high = await a.fetchTopicOffsets(topic);
      let committed: Map<number, number> | undefined;
      for (const p of high) {
        if (!partitions.includes(p.partition)) continue;
        const last = done.get(key(topic, p.partition));
        if (last !== undefined) {
          setLag(topic, p.partition, Number(p.high) - last - 1);
          continue;
        }
        if (committed === undefined) {
          const [fetched] = await a.fetchOffsets({ groupId, topics: [topic] });
          committed = new Map(
            (fetched?.partitions ?? []).map((x) => [x.partition, Number(x.offset)]),
          );
        }
        const c = committed.get(p.partition);
        const from = c !== undefined && c >= 0 ? c : Number(p.low);
        setLag(topic, p.partition, Number(p.high) - from);
      }
    }
  }

  function scheduleLag(): void {
    lagTimer = setInterval(() => {
      if (refreshingLag || stopping) return;
      refreshingLag = true;
      refreshLag()
        .catch((err) => log.debug({ err }, 'consumer lag refresh failed'))
        .finally(() => {
          refreshingLag = false;
        });
    }, tuning.lagRefreshMs);
    lagTimer.unref();
  }

  // --- group membership --------------------------------------------------------------------------

  function onGroupJoin(event: ConsumerGroupJoinEvent): void {
    crashReconnects = 0;
    const assignment = event.payload.memberAssignment;
    const next = new Map<string, number[]>();
    for (const [topic, partitions] of Object.entries(assignment)) {
      next.set(
        topic,
        [...partitions].sort((a, b) => a - b),
      );
    }
    // Revoked partitions: their lag is another member's to report.
    for (const [topic, partitions] of assigned) {
      for (const p of partitions) {
        if (!next.get(topic)?.includes(p)) {
          metrics.kafkaConsumerLag.remove({ topic, partition: String(p) });
        }
      }
    }
    assigned = next;
    joined = true;
    metrics.kafkaRebalances.inc();
    const lanes = (next.get(predictionsTopic) ?? []).map((p) => key(predictionsTopic, p));
    for (const manager of pipeline.managers.values()) manager.addLanes(lanes);
    const seeks: PartitionOffset[] = [];
    for (const [topic, partitions] of next) {
      const done = topic === predictionsTopic ? processed : labelsProcessed;
      for (const partition of partitions) {
        const last = done.get(key(topic, partition));
        if (last === undefined) continue;
        const offset = String(last + 1);
        consumer?.seek({ topic, partition, offset });
        seeks.push({ topic, partition, offset });
      }
    }
    log.info(
      {
        groupId,
        memberId: event.payload.memberId,
        assignment: Object.fromEntries(next),
        seeks,
      },
      'joined consumer group',
    );
  }

  // --- lifecycle ---------------------------------------------------------------------------------

  function kafkaLogger() {
    const kafkaLog = options.logger.child({ stage: 'kafkajs' });
    return () =>
      ({ namespace, level, log: entry }: LogEntry) => {
        const { message, timestamp: _ts, ...extra } = entry;
        const obj = { namespace, ...extra };
        if (level === KafkaLogLevel.ERROR) kafkaLog.error(obj, message);
        else if (level === KafkaLogLevel.WARN) kafkaLog.warn(obj, message);
        else if (level === KafkaLogLevel.INFO) kafkaLog.info(obj, message);
        else kafkaLog.debug(obj, message);
      };
  }

  /** A connect loop (`connect`) is running. */
  let connectRunning = false;
  /** A consumer that crashed for good while the connect loop that made it was still running. */
  let crashedWhileConnecting: Consumer | undefined;
  /** Reconnects after crashes since the group was last joined (their backoff grows). */
  let crashReconnects = 0;

  /**
   * Connects admin, producer and consumer (connectOnce) until it works or the source closes;
   * never rejects. At start, and again after a crash kafkajs does not recover from.
   */
  function connect(): Promise<void> {
    connectRunning = true;
    return retryUntilDone(connectOnce, {
      operation: 'kafka_connect',
      signal: abort.signal,
      initialMs: 1_000,
      maxMs: 30_000,
      retriable: () => true,
      onRetry: ({ err, attempt, delayMs }) =>
        log.warn(
          { err, attempt, delayMs, brokers: cfg.brokers },
          'cannot start the Kafka consumer; retrying',
        ),
    }).then(
      () => {
        connectRunning = false;
        if (state === 'connecting') state = 'running';
        log.info(
          {
            groupId,
            topics: [predictionsTopic, labelsTopic],
            deadLetterTopic: cfg.deadLetterTopic,
          },
          'consuming from Kafka',
        );
        // kafkajs reports a failed first join as a crash and still resolves run().
        const dead = crashedWhileConnecting;
        crashedWhileConnecting = undefined;
        if (dead !== undefined) reconnect(dead);
      },
      (err) => {
        connectRunning = false;
        if (!(err instanceof RetryAbortedError)) log.error({ err }, 'Kafka consumer not started');
      },
    );
  }

  /**
   * The consumer `dead` crashed and kafkajs will not restart it: its clients are let go and
   * the source connects again after a backoff (not ready meanwhile). The windows and processed
   * offsets stay: the group join seeks every partition back to the first offset not
   * processed, as after any restart.
   */
  function reconnect(dead: Consumer): void {
    if (stopping || consumer !== dead) return;
    if (connectRunning) {
      crashedWhileConnecting = dead;
      return;
    }
    // The admin client stays: it keeps the lag gauge true meanwhile, and the next connect
    // reuses it.
    const clients = [dead, producer];
    consumer = undefined;
    producer = undefined;
    state = 'connecting';
    const delayMs = backoffDelay(++crashReconnects, { initialMs: 1_000, maxMs: 30_000 });
    log.warn(
      { groupId, delayMs, attempt: crashReconnects },
      'Kafka consumer stopped after a crash kafkajs does not restart from; connecting again',
    );
    connectRunning = true;
    connecting = (async () => {
      await Promise.allSettled(clients.map((x) => x?.disconnect()));
      try {
        await sleep(delayMs, abort.signal);
      } catch {
        connectRunning = false;
        return; // closing
      }
      await connect();
    })();
  }

  async function connectOnce(): Promise<void> {
    const kafka = new Kafka({
      clientId: cfg.clientId,
      brokers: cfg.brokers,
      logLevel: KAFKAJS_LEVELS[tuning.kafkaLogLevel],
      logCreator: kafkaLogger(),
      connectionTimeout: 3_000,
      requestTimeout: 30_000,
      retry: { retries: 5 },
    });
    const a = admin ?? kafka.admin();
    const p = kafka.producer({ allowAutoTopicCreation: false, retry: { retries: 3 } });
    const c = kafka.consumer({
      groupId,
      sessionTimeout: tuning.sessionTimeoutMs,
      heartbeatInterval: tuning.heartbeatIntervalMs,
      maxWaitTimeInMs: tuning.maxWaitTimeMs,
      maxBytesPerPartition: tuning.maxBytesPerPartition,
      maxBytes: tuning.maxBytes,
      allowAutoTopicCreation: false,
      retry: {
        retries: 10,
        // A crashed consumer (e.g. the brokers were gone for a while) starts again by itself.
        restartOnFailure: async (err) => {
          log.error({ err }, 'Kafka consumer crashed; restarting');
          return !stopping;
        },
      },
    });
    try {
      await a.connect();
      const existing = new Set(await a.listTopics());
      const topics = [
        ['kafka.predictionsTopic', predictionsTopic],
        ['kafka.labelsTopic', labelsTopic],
        ['kafka.deadLetterTopic', cfg.deadLetterTopic],
      ] as const;
      const missing = topics.filter(([, t]) => !existing.has(t));
      if (missing.length > 0) {
        throw new KafkaSourceError(
          `Kafka topics missing on ${cfg.brokers.join(',')}: ${missing.map(([k, t]) => `${k} "${t}"`).join(', ')}; create them (driftd does not create topics)`,
          { retriable: true },
        );
      }
      await p.connect();
      c.on(c.events.GROUP_JOIN, onGroupJoin);
      c.on(c.events.REBALANCING, () => {
        joined = false;
      });
      c.on(c.events.CRASH, (e) => {
        joined = false;
        log.warn({ err: e.payload.error, restart: e.payload.restart }, 'Kafka consumer crash');
        // kafkajs restarts a consumer only after an error it deems retriable. Others leave it
        // dead for good: "Failed to find group coordinator" when the broker went away during a
        // coordinator lookup (seen in the outage test, one run in five under load) stopped
        // consumption until the daemon was restarted. Connect again from scratch instead.
        if (!e.payload.restart) reconnect(c);
      });
      c.on(c.events.STOP, () => {
        joined = false;
      });
      consumer = c;
      producer = p;
      admin = a;
      await c.connect();
      await c.subscribe({ topics: [predictionsTopic, labelsTopic], fromBeginning: true });
      // Resolves once the group is joined and fetching has started.
      await c.run({
        autoCommit: false,
        eachBatchAutoResolve: true,
        partitionsConsumedConcurrently: 1,
        eachBatch: onBatch,
      });
    } catch (err) {
      consumer = undefined;
      producer = undefined;
      admin = undefined;
      joined = false;
      await Promise.allSettled([c.disconnect(), p.disconnect(), a.disconnect()]);
      throw err;
    }
  }

  return {
    get state() {
      return state;
    },
    get joined() {
      return joined;
    },

    async restore() {
      const row = await store.latestCheckpoint(groupId);
      if (row === null) {
        log.info({ groupId }, 'no checkpoint for this consumer group: starting from Kafka offsets');
        await options.http?.resume(0);
        return null;
      }
      const cp = decodeCheckpoint(row);
      const report = restoreWindows(pipeline.managers, cp, log);
      // The HTTP events stored after the cut, in arrival order (their own lane).
      await options.http?.resume(cp.httpPosition ?? 0);
      for (const o of cp.offsets) {
        if (o.topic !== predictionsTopic) {
          log.warn(
            { topic: o.topic },
            'checkpoint offsets of a topic no longer configured as kafka.predictionsTopic; ignored',
          );
          continue;
        }
        processed.set(key(o.topic, o.partition), Number(o.offset) - 1);
      }
      seq = cp.seq;
      lastCheckpointAt = clock.now();
      openAtCheckpoint = pipeline.openWindows();
      log.info(
        {
          groupId,
          seq: cp.seq,
          takenAt: new Date(cp.takenAt).toISOString(),
          offsets: cp.offsets,
          restored: report.restored,
          failed: report.failed.map((f) => f.model),
          openWindows: openAtCheckpoint,
        },
        'restored Kafka checkpoint: resuming from its offsets',
      );
      return cp;
    },

    start() {
      if (state !== 'created') throw new KafkaSourceError(`start() called in state ${state}`);
      state = 'connecting';
      if (tuning.decodeThread) {
        try {
          decoder = createDecodeThread(models, decodeOpts, cfg.maxMessageBytes, log);
        } catch (err) {
          log.warn({ err }, 'cannot start the decode thread; decoding on the event loop');
        }
      }
      scheduleCheckpoints();
      scheduleLag();
      connecting = connect();
    },

    readiness() {
      if (joined && state === 'running') {
        const partitions = [...assigned.values()].reduce((n, p) => n + p.length, 0);
        return { ok: true, detail: `joined group ${groupId} (${partitions} partitions)` };
      }
      return {
        ok: false,
        detail: state === 'running' ? `not a member of group ${groupId} (rebalancing)` : state,
      };
    },

    checkpoint() {
      return exclusive(takeCheckpoint);
    },

    close() {
      if (closing) return closing;
      closing = (async () => {
        if (state === 'created' || state === 'closed') {
          state = 'closed';
          return;
        }
        state = 'closing';
        stopping = true;
        if (checkpointTimer) clearInterval(checkpointTimer);
        if (lagTimer) clearInterval(lagTimer);
        // The batch in flight (maybe retrying a failing store) gets closeTimeoutMs, and the
        // final checkpoint what is left of it; then retries are aborted.
        const deadline = setTimeout(
          () => abort.abort(new KafkaSourceError('close timed out')),
          tuning.closeTimeoutMs,
        );
        deadline.unref();
        try {
          await exclusive(async () => {
            if (changes > 0 || pipeline.openWindows() !== openAtCheckpoint) await takeCheckpoint();
          });
        } catch (err) {
          log.error(
            { err },
            'no final checkpoint: the next start replays from the previous one (nothing is lost)',
          );
        } finally {
          clearTimeout(deadline);
        }
        abort.abort();
        await connecting;
        await Promise.allSettled([
          consumer?.disconnect(),
          producer?.disconnect(),
          admin?.disconnect(),
          decoder?.close(),
        ]);
        joined = false;
        state = 'closed';
        log.info({ groupId, seq }, 'Kafka consumer stopped');
      })();
      return closing;
    },
  };
}
