/**
 * The store contract: the `Store` interface every driver implements, its row types, and the
 * `SqlExecutor` seam between the driver-independent store logic (store.ts, one set of SQL in
 * sql.ts / migrations.ts) and a concrete engine (chdb.ts in-process, clickhouse.ts over HTTP).
 */

import type { ClusterStore, DedupOptions } from '../cluster/types.js';
import { StoreError } from '../errors.js';
import type { FairnessResult } from '../stats/fairness.js';
import type { ProtectedAttribute } from '../stats/fairness-groups.js';
import type {
  BaselineParams,
  BaselineProfile,
  EventSource,
  FeatureValue,
  LabelEvent,
  PerformanceResult,
  PredictionEvent,
  WindowBounds,
  WindowResult,
} from '../types.js';
import type { StoredRetrainRecommendation } from './retrain-sql.js';

export type { StoredRetrainRecommendation } from './retrain-sql.js';

import type { ShadowAgreement } from '../window/comparison-types.js';
import type { ComparisonQuery, ShadowQuery, StoredComparison } from './comparison-sql.js';

/** A prediction event as stored: the event plus how and when it reached driftd. */
export interface StoredEvent extends PredictionEvent {
  /** Arrived after its window had closed (counted, stored, never dropped). */
  late: boolean;
  source: EventSource;
  /** Wall-clock time of ingestion, epoch ms. */
  ingestedAt: number;
  /**
   * HTTP ingest position (migration 7): strictly increasing per accepted HTTP event, the input
   * position the HTTP checkpoint records (src/ingest/checkpointer.ts). 0 or absent: none
   * (Kafka, replay and rows written before migration 7).
   */
  position?: number;
  /**
   * The `Idempotency-Key` of the HTTP request that carried the event, with its body's
   * fingerprint (`requestTag`, src/ingest/idempotency.ts; '' or absent: none).
   */
  requestKey?: string;
  /**
   * The lane that counted it, for HTTP events in cluster mode (`http:<instanceId>`, the
   * instance's input; its positions are that lane's): '' or absent otherwise.
   */
  lane?: string;
}

/** Events encoded for the events table, as `EventBuffer.take()` hands them out. */
export interface EncodedEvents {
  readonly rows: number;
  readonly payload: Uint8Array;
}

export interface EventBuffer {
  /**
   * Encodes one event. Validates first, so a refused event (InvalidInputError: a timestamp
   * outside the storable range, bad Kafka coordinates) leaves the buffer as it was.
   */
  add(row: StoredEvent): void;
  readonly rows: number;
  readonly bytes: number;
  /** The events added since the last take (none: rows 0), and an empty buffer. */
  take(): EncodedEvents;
}

/** A baseline without its (heavy) profile, for listings. */
export interface BaselineSummary {
  id: string;
  hash: string;
  model: string;
  version: string;
  createdAt: number;
  source: string;
  rowCount: number;
  badRows: number;
  params: BaselineParams;
  /** Names of the profiled features, in profile order. */
  featureNames: string[];
}

export interface RetrainQuery {
  model: string;
  version?: string;
  /** Only episodes still open. */
  open?: boolean;
  /** At most this many episodes (default 100). */
  limit?: number;
}

/** Time ranges are half-open `[from, to)` in epoch ms. */
export interface DriftQuery {
  model: string;
  from: number;
  to: number;
  /** Only this feature in `features` (the prediction drift is always returned). */
  feature?: string;
  /** Window size label, e.g. "5m". */
  window?: string;
  version?: string;
  /**
   * A segment's results ("<field>=<value>"), '*' for every segment's; absent or '' = the
   * whole traffic's.
   */
  segment?: string;
}

/** One window (model, size label, start) of one or every version. */
export interface WindowHistoryQuery {
  model: string;
  window: string;
  start: number;
  version?: string;
}

/**
 * Every revision of a window ever written, oldest first per version (by written_at): its
 * drift results and its performance rows, each with its reason and lineage.
 */
export interface WindowHistory {
  results: WindowResult[];
  performance: PerformanceResult[];
}

export interface PerformanceQuery {
  model: string;
  from: number;
  to: number;
  window?: string;
  version?: string;
  /** As DriftQuery's: absent or '' = the whole traffic's rows only. */
  segment?: string;
}

/** Raw events of one model version in `[from, to)` of event time. */
export interface EventRangeQuery {
  model: string;
  version: string;
  from: number;
  to: number;
}

export interface FairnessRowsQuery extends EventRangeQuery {
  /** The protected attribute: a key of the events' `features`. */
  field: string;
  /** Its groups: declared categories, or numeric band edges (src/stats/fairness-groups.ts). */
  attribute: ProtectedAttribute;
  /** The model's label.threshold and String(label.positive): what selects, what is positive. */
  threshold: number;
  positive: string;
  limit: number;
}

/** `count` stored predictions of this group with this selection and label. */
export interface FairnessRow {
  /** A declared group or band name, 'other' or 'missing'. */
  group: string;
  /** null: the prediction is neither a probability in [0, 1] nor a class (not counted). */
  selected: boolean | null;
  /** Whether the label is the positive class; null when unlabelled. */
  positive: boolean | null;
  count: number;
}

export interface WindowEventsQuery extends EventRangeQuery {
  /** Cap on returned rows (default: none); callers recomputing huge ranges should page by time. */
  limit?: number;
}

/** An exact KS recompute of one numeric feature over raw events (see `Store.exactKs`). */
export interface ExactKsQuery extends EventRangeQuery {
  feature: string;
  /** The reference side, e.g. the baseline's reservoir sample of the feature; finite numbers. */
  reference: readonly number[];
}

export interface ExactKsResult {
  /** Reference size. */
  n: number;
  /** Window values: one per id, on-time events whose feature is a JSON number. */
  m: number;
  /** sup |F_reference − F_window|; null when either side is empty. */
  statistic: number | null;
  /** ClickHouse's p-value ('auto': exact while max(n, m) ≤ 10 000, else asymptotic); null when empty. */
  pValue: number | null;
  /** Events of the range stored as late (not in any streamed window of their size), left out. */
  lateEvents: number;
}

export interface LatestResultsQuery {
  model: string;
  /** Window size labels to read (the configured ones). */
  windows: readonly string[];
  maxVersions: number;
  /** Verdicts per series (see src/export/streaks.ts), performance windows per series. */
  history: number;
  /**
   * Windows (of each version and size, before its newest) that verdicts and performance are
   * read from: a drift run longer than this is restored as this long.
   */
  horizon: number;
}

/** One consecutive-drift series as stored: its newest verdicts and the run before them. */
export interface SeriesVerdicts {
  version: string;
  window: string;
  /** `dataset`, `prediction` or `feature:<name>`. */
  series: string;
  /** Drifted windows in a row just before the first verdict listed. */
  base: number;
  /** Older verdicts exist than those listed. */
  truncated: boolean;
  /** Ascending window starts. */
  verdicts: Array<{ start: number; drifted: boolean }>;
}

export interface LatestResults {
  /** Newest first. */
  versions: string[];
  windows: WindowResult[];
  performance: PerformanceResult[];
  verdicts: SeriesVerdicts[];
}

/**
 * One fairness computation of a window (close, or labels that arrived later): per protected
 * attribute its result, with the lineage of who computed it. Stored append-only (one row per
 * attribute and group, `fairness_results`); the latest computation of a window is what counts.
 * An attribute without any prediction in the window has no groups and is not stored.
 */
export interface FairnessWindowResult extends WindowBounds {
  attributes: Record<string, FairnessResult>;
  /** When this computation was written, epoch ms (the newest of a window wins). */
  writtenAt: number;
  driftdVersion: string;
  /** `modelConfigHash` of the model config the verdicts were judged with. */
  configHash: string;
}

/** Stored fairness results of one model version (and size) overlapping `[from, to)`. */
export interface FairnessQuery {
  model: string;
  version: string;
  from: number;
  to: number;
  window?: string;
  /** Cap on windows returned (the newest ones are kept). */
  limit: number;
}

/** One consecutive-disparity series as stored: like `SeriesVerdicts`, per attribute and group. */
export interface FairnessSeriesVerdicts {
  version: string;
  window: string;
  attribute: string;
  group: string;
  base: number;
  truncated: boolean;
  verdicts: Array<{ start: number; drifted: boolean }>;
}

export interface LatestFairnessQuery {
  model: string;
  windows: readonly string[];
  /** The versions whose fairness is restored (those `latestResults` answered). */
  versions: readonly string[];
  history: number;
  horizon: number;
}

export interface LatestFairness {
  /** The newest window with a stored computation per version and size (its latest computation). */
  windows: FairnessWindowResult[];
  /** Disparity verdicts per (version, size, attribute, group): 'disparity' or 'fair' only. */
  verdicts: FairnessSeriesVerdicts[];
}

/** Audit view of one prediction; window lineage is derived by the caller from model, version and ts. */
export interface PredictionRecord {
  event: PredictionEvent;
  label: LabelEvent | null;
  late: boolean;
  source: EventSource;
  ingestedAt: number;
  /** The JSON text as received (NDJSON line, Kafka value); null when not kept (PII models, events with unlisted fields). */
  raw: string | null;
}

/** Rows removed by an erasure, per raw table (copies of one event count each). */
export interface ErasureCounts {
  events: number;
  labels: number;
}

export interface LabeledPrediction {
  id: string;
  ts: number;
  prediction: FeatureValue;
  label: number | string;
  /** The event's value of each of `segmentFields` (as stored, null when absent), in order. */
  segmentValues?: FeatureValue[];
}

export interface LabeledPredictionsQuery extends EventRangeQuery {
  /** Keys of the events' `features` whose values come with each prediction (segments). */
  segmentFields?: readonly string[];
}

export interface PredictionTime {
  id: string;
  version: string;
  ts: number;
}

/**
 * A Kafka consumer checkpoint: window state and offsets as one opaque JSON payload (its
 * layout belongs to src/ingest/checkpoint.ts). `seq` increases per group; the highest wins.
 */
export interface StoredCheckpoint {
  groupId: string;
  seq: number;
  takenAt: number;
  payload: string;
}

/** Where a model's stored events of a time range came from (see `Store.eventSources`). */
export interface EventSourceSummary {
  source: EventSource['kind'];
  /** Kafka: topic, partition and the first and last stored offset (decimal text); else ''/-1. */
  topic: string;
  partition: number;
  firstOffset: string;
  lastOffset: string;
  /** Replay: the file as recorded; else ''. */
  file: string;
  /** Stored rows (copies of one event count each). */
  events: number;
  firstTs: number;
  lastTs: number;
}

export interface AppliedMigration {
  version: number;
  name: string;
}

export interface MigrationReport {
  /** Migrations applied by this call, in order (empty when the schema was current). */
  applied: AppliedMigration[];
  /** Schema version after the call. */
  version: number;
}

/**
 * The one store interface. Every method is async and never blocks the event loop. Engine
 * failures surface as `StoreError` carrying the ClickHouse code and a `retriable` verdict;
 * calls after `close()` reject with `LifecycleError`.
 */
export interface Store extends ClusterStore {
  readonly kind: 'embedded' | 'clickhouse';
  /** Creates the database if needed and applies pending versioned migrations. Idempotent. */
  migrate(): Promise<MigrationReport>;
  /** Cheap round trip to the engine. */
  ping(): Promise<void>;

  /**
   * Batched raw-event insert (one INSERT per `maxInsertRows`). Re-inserting an event with the
   * same model, version, ts, id and source coordinates collapses into one row.
   */
  insertEvents(rows: readonly StoredEvent[]): Promise<void>;
  /**
   * A buffer that encodes events for `insertEncodedEvents` as they come (callers encode on
   * their own schedule and keep bytes instead of event objects until the insert).
   */
  createEventBuffer(sizeHint?: number): EventBuffer;
  /**
   * Inserts encoded batches, several per INSERT up to `maxInsertRows`; same dedup as
   * `insertEvents`. Once it resolves, the batches' payloads belong to the store again (their
   * buffers are reused for new events): do not read or resend them. After a rejection they
   * are untouched and the same batches can be retried.
   */
  insertEncodedEvents(batches: readonly EncodedEvents[]): Promise<void>;
  /** The latest label per (model, id) wins. */
  insertLabels(rows: readonly LabelEvent[]): Promise<void>;

  /** Idempotent by id: returns false (and writes nothing) when the id is already stored. */
  saveBaseline(profile: BaselineProfile): Promise<boolean>;
  getBaseline(id: string): Promise<BaselineProfile | null>;
  listBaselines(query?: { model?: string }): Promise<BaselineSummary[]>;
  /**
   * The most recently created baseline of `model` + `version`; when that version has none,
   * the most recently created baseline of `model` with any version (check `.version`).
   */
  latestBaseline(model: string, version: string): Promise<BaselineProfile | null>;

  /**
   * Writing a window again (late data) replaces the earlier result as a whole for the
   * readers; every revision stays in the record (`windowHistory`). With `dedupToken` (a
   * finalised window, cluster mode) a second call with the same token writes nothing, in the
   * record nor in the latest table.
   */
  insertWindowResults(rows: readonly WindowResult[], options?: DedupOptions): Promise<void>;
  /** Every stored revision of one window's results and performance, oldest first. */
  windowHistory(query: WindowHistoryQuery): Promise<WindowHistory>;
  /** Windows overlapping `[from, to)`, ordered by start (then window label, version). */
  queryDrift(query: DriftQuery): Promise<WindowResult[]>;
  /** The window with the latest end (ties: latest closed) of the model. */
  latestWindowResult(
    model: string,
    options?: { window?: string; version?: string },
  ): Promise<WindowResult | null>;

  /**
   * What /metrics showed for `model` before a restart: its `maxVersions` versions with the
   * newest windows (among `windows` sizes), the newest window result of each version and size,
   * the newest `history` windows with performance of each (ascending), and the newest
   * `history` verdicts of each consecutive-drift series.
   */
  latestResults(query: LatestResultsQuery): Promise<LatestResults>;

  /** Appends retrain episode transitions (src/window/retrain.ts); never replaces a row. */
  insertRetrainRecommendations(rows: readonly StoredRetrainRecommendation[]): Promise<void>;
  /** Each episode's newest state, newest episodes first (src/store/retrain-sql.ts). */
  retrainRecommendations(query: RetrainQuery): Promise<StoredRetrainRecommendation[]>;

  /**
   * Writing a window's performance again replaces it (latest `computedAt` wins); `dedupToken`
   * as for `insertWindowResults`.
   */
  insertPerformance(rows: readonly PerformanceResult[], options?: DedupOptions): Promise<void>;
  /** Windows overlapping `[from, to)`, ordered by start. */
  queryPerformance(query: PerformanceQuery): Promise<PerformanceResult[]>;

  /** Appends comparisons (src/window/comparison.ts); the newest per (pair, window) is current. */
  insertComparisons(rows: readonly StoredComparison[]): Promise<void>;
  /** The newest comparison of every (pair, window) starting in `[from, to)`, by start. */
  queryComparisons(query: ComparisonQuery): Promise<StoredComparison[]>;
  /**
   * Startup: the newest comparison of each of the newest `per` windows of every pair and
   * window size of `model`, oldest window first.
   */
  latestComparisons(model: string, per: number): Promise<StoredComparison[]>;
  /** Agreement of two versions' stored predictions of the same ids in `[from, to)`. */
  shadowAgreement(query: ShadowQuery): Promise<ShadowAgreement>;

  /**
   * Deletes every stored copy of the prediction `id` of `model` and its label(s) (ClickHouse
   * lightweight DELETE); `id` as stored (hashed first when it is a PII field). Aggregates,
   * window results and baselines are not touched. Answers the rows removed per table.
   */
  erasePrediction(model: string, id: string): Promise<ErasureCounts>;
  /** Latest stored copy of the prediction `id` (of `model` when given) and its latest label. */
  getPrediction(id: string, options?: { model?: string }): Promise<PredictionRecord | null>;
  /**
   * Version and event time of stored predictions of `model` (one row per id and version;
   * unknown ids are absent), to find the windows a late label belongs to.
   */
  predictionTimes(model: string, ids: readonly string[]): Promise<PredictionTime[]>;
  /** Whether any label of `model` is stored (cheap: lets callers skip label joins). */
  hasLabels(model: string): Promise<boolean>;
  /** Predictions of one model version in `[from, to)` that have a label, one per id. */
  labeledPredictions(query: LabeledPredictionsQuery): Promise<LabeledPrediction[]>;
  /** Raw events of one model version in `[from, to)`, one per id, ordered by ts. */
  windowEvents(query: WindowEventsQuery): Promise<StoredEvent[]>;
  /**
   * Stored predictions of one model version in `[from, to)` with their labels, counted per
   * (group of feature `field`, selected, label positive), at most `limit` rows: fairness from
   * stored data (the group and selection rules, pushed down into the SQL).
   */
  fairnessRows(query: FairnessRowsQuery): Promise<FairnessRow[]>;
  /** Appends fairness computations (never replaces: every computation is kept). */
  insertFairness(rows: readonly FairnessWindowResult[]): Promise<void>;
  /**
   * The latest stored computation of each window of the version overlapping `[from, to)`,
   * ordered by start (then size); independent of the raw events' TTL.
   */
  queryFairness(query: FairnessQuery): Promise<FairnessWindowResult[]>;
  /** What a restart puts back on /metrics for fairness (src/export/restore.ts). */
  latestFairness(query: LatestFairnessQuery): Promise<LatestFairness>;
  /**
   * Two-sample KS of `reference` against the feature's raw values in `[from, to)`, computed
   * inside ClickHouse (`kolmogorovSmirnovTest`), for incident diagnosis next to the streamed
   * (binned) result.
   */
  exactKs(query: ExactKsQuery): Promise<ExactKsResult>;

  /**
   * HTTP events of `lane` ('' outside cluster mode, else `http:<instanceId>`) stored with an
   * ingest position above `after`, in position order, at most `limit` (the checkpointer
   * replays them into the windows after a restart).
   */
  httpEventsAfter(after: number, limit: number, lane?: string): Promise<StoredEvent[]>;
  /** Idempotency keys of HTTP events received at or after `since` (epoch ms), at most `limit`. */
  recentRequestKeys(since: number, limit: number): Promise<string[]>;

  /** Writes a consumer checkpoint in one INSERT (atomic: a crash leaves the old or the new). */
  saveCheckpoint(checkpoint: StoredCheckpoint): Promise<void>;
  /** The checkpoint with the highest `seq` of the group, or null. */
  latestCheckpoint(groupId: string): Promise<StoredCheckpoint | null>;

  /**
   * Where the stored events of `model` in `[from, to)` came from, per source, Kafka partition
   * or replayed file, at most `limit` rows in a stable order (the period report's lineage).
   */
  eventSources(query: {
    model: string;
    from: number;
    to: number;
    limit: number;
  }): Promise<EventSourceSummary[]>;

  /** Waits for in-flight work, then releases the engine. Idempotent. */
  close(): Promise<void>;
}

// ---------------------------------------------------------------------------------------------
// Executor seam

/** A column of a RowBinary payload: its name and ClickHouse type, in payload order. */
export interface RowBinaryColumn {
  name: string;
  type: string;
}

/** Values bound server-side to `{name:Type}` placeholders. */
export type QueryParams = Readonly<Record<string, unknown>>;

export interface InsertOptions {
  /** Per-insert ClickHouse settings. */
  settings?: Readonly<Record<string, string | number>>;
}

/**
 * The driver-specific part of a store: run SQL, read JSONEachRow, insert JSONEachRow. All
 * SQL text comes from sql.ts / migrations.ts, so two executors run identical statements.
 * Implementations map engine failures to `StoreError` (see `storeErrorFromClickHouse`).
 */
export interface SqlExecutor {
  readonly kind: 'embedded' | 'clickhouse';
  /** A statement whose result is not needed (DDL, INSERT … SELECT). */
  command(sql: string, params?: QueryParams): Promise<void>;
  /** A SELECT read as JSONEachRow, one parsed object per row. */
  query<T>(sql: string, params?: QueryParams): Promise<T[]>;
  /**
   * Insert a JSONEachRow payload (UTF-8, one JSON object per line, newline-terminated) into
   * `table` (`db.table`, identifiers already validated). The store owns row encoding, so both
   * drivers send identical bytes; the payload must not be mutated until the promise settles.
   */
  insertJsonEachRow(table: string, payload: Uint8Array, options?: InsertOptions): Promise<void>;
  /**
   * Insert a RowBinary payload holding `columns`, in that order, into `table`: one buffer, or
   * several sent one after the other as one INSERT (whole rows each, so batches encoded apart
   * go together without a copy). Same contract as `insertJsonEachRow`. Column names and types
   * come from sql.ts, never from input.
   */
  insertRowBinary(
    table: string,
    columns: readonly RowBinaryColumn[],
    payload: Uint8Array | readonly Uint8Array[],
    options?: InsertOptions,
  ): Promise<void>;
  /** Waits for in-flight work, then releases the engine. Idempotent. */
  close(): Promise<void>;
}

/**
 * Work an executor has started and must let finish before it closes: `track` adds a call's
 * promise until it settles, `settled` waits for all of them (never rejects).
 */
export function createInflight(): {
  track<T>(p: Promise<T>): Promise<T>;
  settled(): Promise<void>;
} {
  const pending = new Set<Promise<unknown>>();
  return {
    track(p) {
      const done = p.then(
        () => undefined,
        () => undefined,
      );
      pending.add(done);
      void done.then(() => pending.delete(done));
      return p;
    },
    async settled() {
      await Promise.allSettled([...pending]);
    },
  };
}

// ---------------------------------------------------------------------------------------------
// Error classification, shared by every driver (branch on codes, never on message text)

/**
 * ClickHouse error codes where trying the same statement again later can succeed. Anything
 * else (syntax, unknown table, type mismatch, bad data) fails the same way every time.
 */
export const RETRIABLE_CLICKHOUSE_CODES: ReadonlyMap<number, string> = new Map([
  [159, 'TIMEOUT_EXCEEDED'],
  [160, 'TOO_SLOW'],
  [202, 'TOO_MANY_SIMULTANEOUS_QUERIES'],
  [203, 'NO_FREE_CONNECTION'],
  [209, 'SOCKET_TIMEOUT'],
  [210, 'NETWORK_ERROR'],
  [241, 'MEMORY_LIMIT_EXCEEDED'],
  [242, 'TABLE_IS_READ_ONLY'],
  [252, 'TOO_MANY_PARTS'],
  [285, 'TOO_FEW_LIVE_REPLICAS'],
  [319, 'UNKNOWN_STATUS_OF_INSERT'],
  [425, 'SYSTEM_ERROR'],
  [473, 'DEADLOCK_AVOIDED'],
  [999, 'KEEPER_EXCEPTION'],
]);

/** Codes meaning the engine itself is gone or unreachable (reported as STORE_UNAVAILABLE). */
export const UNAVAILABLE_CLICKHOUSE_CODES: ReadonlySet<number> = new Set([
  203, 209, 210, 236 /* ABORTED: the embedded engine shut down after a fatal error */,
]);

/** Wrap an engine failure as a `StoreError`, classifying it by its ClickHouse code. */
export function storeErrorFromClickHouse(
  message: string,
  clickhouseCode: number | undefined,
  cause: unknown,
): StoreError {
  const retriable = clickhouseCode !== undefined && RETRIABLE_CLICKHOUSE_CODES.has(clickhouseCode);
  const unavailable =
    clickhouseCode !== undefined && UNAVAILABLE_CLICKHOUSE_CODES.has(clickhouseCode);
  const opts: ConstructorParameters<typeof StoreError>[1] = { retriable, unavailable, cause };
  if (clickhouseCode !== undefined) opts.clickhouseCode = clickhouseCode;
  return new StoreError(message, opts);
}
