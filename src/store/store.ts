/**
 * The store logic, written once against any `SqlExecutor`: encodes rows, runs the statements
 * of sql.ts, and decodes results into the domain types.
 */

import type {
  DedupOptions,
  FinalisationRow,
  LaneProgressRow,
  PartialRow,
  RevisableWindow,
  WindowKey,
} from '../cluster/types.js';
import { InvalidInputError, LifecycleError, StoreError } from '../errors.js';
import type { Logger } from '../logger.js';
import type { FairnessGroupResult, FairnessResult } from '../stats/fairness.js';
import { declaredGroups } from '../stats/fairness-groups.js';
import type {
  BaselineParams,
  BaselineProfile,
  DriftTest,
  EventSource,
  FeatureDrift,
  FeatureHistogram,
  FeatureType,
  FeatureValue,
  LabelEvent,
  PerformanceResult,
  ResultLineage,
  RevisionReason,
  WindowResult,
} from '../types.js';
import type { ShadowAgreement } from '../window/comparison-types.js';
import { parseReference } from '../window/reference.js';
import {
  decodeFinalisation,
  decodeLaneProgress,
  decodePartial,
  decodeRevisable,
  decodeWindowKey,
  encodeFinalisation,
  encodeLaneProgress,
  encodePartial,
  type FinalisationSqlRow,
  finalisationsSql,
  finalisationToken,
  type LaneProgressSqlRow,
  laneProgressSql,
  type PartialSqlRow,
  partialsOfSql,
  pendingWindowsSql,
  type RevisableSqlRow,
  revisableWindowsSql,
  type WindowKeySqlRow,
} from './cluster-sql.js';
import {
  type ComparisonQuery,
  type ComparisonRow,
  comparisonsSql,
  decodeComparison,
  decodeShadow,
  encodeComparison,
  latestComparisonsSql,
  type ShadowQuery,
  type ShadowRow,
  type StoredComparison,
  shadowAgreementSql,
} from './comparison-sql.js';
import { MIGRATIONS, type Migration, type MigrationContext, runMigrations } from './migrations.js';
import {
  decodeRetrainRecommendation,
  encodeRetrainRecommendation,
  type RetrainRecommendationRow,
  retrainRecommendationsSql,
  type StoredRetrainRecommendation,
} from './retrain-sql.js';
import {
  anyLabelSql,
  type BaselineSummaryRow,
  baselineExistsSql,
  baselineProfileSql,
  type CheckpointRow,
  countByIdSql,
  EVENT_INSERT_SETTINGS,
  EVENT_ROW_BINARY_COLUMNS,
  type EventRow,
  type ExactKsRow,
  encodeBaseline,
  encodeCheckpoint,
  encodeEventRowBinary,
  encodeFairnessResult,
  encodeLabel,
  encodePerformance,
  encodeWindowResult,
  eraseByIdSql,
  eventSourcesSql,
  exactKsSql,
  type FairnessResultRow,
  type FairnessRowSql,
  type FairnessVerdictRow,
  fairnessResultsSql,
  fairnessRowsSql,
  fairnessVerdictHistorySql,
  formatDateTime64,
  httpEventsAfterSql,
  INSERT_SETTINGS,
  insertTarget,
  JsonLinesWriter,
  type LabeledPredictionRow,
  type LabelRow,
  labelByIdSql,
  labeledPredictionsSql,
  latestBaselineIdSql,
  latestCheckpointSql,
  latestFairnessSql,
  latestPerformanceSql,
  latestWindowKeySql,
  latestWindowResultsSql,
  listBaselinesSql,
  newestVersionsSql,
  type PerformanceRow,
  parseFairnessJson,
  performanceRevisionsSql,
  performanceSql,
  pingSql,
  predictionByIdSql,
  predictionTimesSql,
  RowBinaryWriter,
  recentRequestKeysSql,
  type TableName,
  tableEngineSql,
  toNullableNumber,
  toNumber,
  type VerdictRow,
  type VersionEndRow,
  validateIdentifier,
  verdictHistorySql,
  type WindowKeyRow,
  type WindowResultRow,
  windowEventsSql,
  windowResultsSql,
  windowRevisionsSql,
} from './sql.js';
import type {
  BaselineSummary,
  DriftQuery,
  EncodedEvents,
  ErasureCounts,
  EventBuffer,
  EventSourceSummary,
  ExactKsQuery,
  ExactKsResult,
  FairnessQuery,
  FairnessRow,
  FairnessRowsQuery,
  FairnessSeriesVerdicts,
  FairnessWindowResult,
  LabeledPrediction,
  LabeledPredictionsQuery,
  LatestFairness,
  LatestFairnessQuery,
  LatestResults,
  LatestResultsQuery,
  MigrationReport,
  PerformanceQuery,
  PredictionRecord,
  PredictionTime,
  RetrainQuery,
  SeriesVerdicts,
  SqlExecutor,
  Store,
  StoredCheckpoint,
  StoredEvent,
  WindowEventsQuery,
  WindowHistory,
  WindowHistoryQuery,
} from './types.js';

export interface SqlStoreOptions {
  database: string;
  rawEventsTtlDays: number;
  /** Days results are kept (RESULT_TABLES); 0 or absent = forever. */
  resultsTtlDays?: number;
  /** Clock for ingestion times of labels; default Date.now. */
  now?: () => number;
  /** Migration list; default MIGRATIONS (tests append to it). */
  migrations?: readonly Migration[];
  /**
   * Rows per INSERT. Large batches make few, large parts (what MergeTree wants) while
   * bounding the size of one payload.
   */
  maxInsertRows?: number;
  logger?: Logger;
}

const DEFAULT_MAX_INSERT_ROWS = 100_000;
const MAX_PAYLOAD_BYTES = 64 << 20;
/**
 * Encode buffers kept for reuse, in bytes: the requests and inserts in flight at once (an idle
 * daemon holds at most this much after a burst).
 */
const SPARE_BYTES = 48 << 20;
/** Encoding 50k events takes a few hundred ms: let timers, I/O and heartbeats run meanwhile. */
const YIELD_EVERY_ROWS = 4096;

function yieldToEventLoop(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}
/**
 * The settings of an INSERT that must land once however many instances make it: the engine
 * drops a repeat of the token in the table and, through the views it feeds, in theirs.
 */
function dedupSettings(
  options: DedupOptions | undefined,
): Readonly<Record<string, string | number>> {
  const token = options?.dedupToken;
  if (token === undefined) return INSERT_SETTINGS;
  if (token === '') throw new InvalidInputError('dedupToken must not be empty');
  return {
    ...INSERT_SETTINGS,
    insert_deduplication_token: token,
    deduplicate_blocks_in_dependent_materialized_views: 1,
  };
}

/** Keeps one bound Array(String) parameter (and the IN set) to a few hundred KB. */
const MAX_IDS_PER_QUERY = 10_000;
/** Most comparisons one query answers (pairs × windows of the range). */
const MAX_COMPARISON_ROWS = 10_000;

/** Builds the store on an executor; the store owns (and closes) the executor. */
export function createSqlStore(exec: SqlExecutor, options: SqlStoreOptions): Store {
  const db = validateIdentifier(options.database, 'database');
  const now = options.now ?? Date.now;
  const migrations = options.migrations ?? MIGRATIONS;
  const maxRows = options.maxInsertRows ?? DEFAULT_MAX_INSERT_ROWS;
  let state: 'open' | 'closing' | 'closed' = 'open';
  let closing: Promise<void> | undefined;

  function ensureOpen(): void {
    if (state !== 'open') throw new LifecycleError('store is closed');
  }

  /**
   * Encodes every item first (a bad row fails the call before anything is written), yielding
   * to the event loop every few thousand rows, then sends one INSERT per `maxRows` rows. An
   * item's rows never straddle two INSERTs, so a window result is written atomically.
   */
  async function insert<T>(
    table: TableName,
    items: readonly T[],
    encode: (item: T, out: JsonLinesWriter) => void,
    settings: Readonly<Record<string, string | number>> = INSERT_SETTINGS,
  ): Promise<void> {
    const payloads: Buffer[] = [];
    const perPayload = Math.min(items.length, maxRows);
    let out = new JsonLinesWriter();
    let sized = false;
    for (let i = 0; i < items.length; i++) {
      encode(items[i]!, out);
      if (!sized) {
        // Size the payload from its first item: one allocation instead of repeated doubling.
        out.reserve(Math.min(MAX_PAYLOAD_BYTES, out.bytes * perPayload * 1.15));
        sized = true;
      }
      if (out.rows >= maxRows || out.bytes >= MAX_PAYLOAD_BYTES) {
        payloads.push(out.finish());
        out = new JsonLinesWriter();
        sized = false;
      }
      if (i % YIELD_EVERY_ROWS === YIELD_EVERY_ROWS - 1) await yieldToEventLoop();
    }
    if (out.rows > 0) payloads.push(out.finish());
    const token = settings.insert_deduplication_token;
    for (let i = 0; i < payloads.length; i++) {
      // A deduplication token names one INSERT: the payloads after the first get their own.
      const own =
        token !== undefined && i > 0
          ? { ...settings, insert_deduplication_token: `${token}#${i}` }
          : settings;
      await exec.insertJsonEachRow(insertTarget(db, table), payloads[i]!, { settings: own });
    }
  }

  async function windowResults(
    sql: string,
    params: Record<string, unknown>,
  ): Promise<WindowResult[]> {
    return assembleWindows(await exec.query<WindowResultRow>(sql, params));
  }

  /**
   * Encode buffers are reused once their insert has landed. Under HTTP load a fresh 4–5 MB
   * buffer per request (and a concatenation per grouped insert) was ~100 MB/s of ArrayBuffer
   * allocation, which V8 counts toward the old generation's limit: a major GC ran twice a
   * second on a heap that had hardly grown. `lent` holds the buffers handed out and not yet
   * back, so a payload is returned at most once and a foreign one never.
   */
  const spare: Buffer[] = [];
  let spareBytes = 0;
  const lent = new WeakSet<ArrayBufferLike>();
  /** The smallest spare buffer that holds `bytes`, else a new one. */
  function borrow(bytes: number): Buffer {
    let best = -1;
    for (let i = 0; i < spare.length; i++) {
      const n = spare[i]!.length;
      if (n >= bytes && (best < 0 || n < spare[best]!.length)) best = i;
    }
    // Else its own ArrayBuffer (never a slice of Node's shared pool), to be handed back whole.
    const b = best >= 0 ? spare.splice(best, 1)[0]! : Buffer.allocUnsafeSlow(bytes);
    if (best >= 0) spareBytes -= b.length;
    lent.add(b.buffer);
    return b;
  }
  /** Keeps a landed payload's buffer, up to SPARE_BYTES in all (the smallest go first). */
  function giveBack(payload: Uint8Array): void {
    const ab = payload.buffer;
    if (!lent.delete(ab)) return;
    spare.push(Buffer.from(ab));
    spareBytes += ab.byteLength;
    spare.sort((a, b) => b.length - a.length);
    while (spareBytes > SPARE_BYTES) spareBytes -= spare.pop()!.length;
  }

  /** `sizeHint`: bytes to reserve up front (untouched reserve costs nothing until written). */
  function createEventBuffer(sizeHint = 1 << 16): EventBuffer {
    sizeHint = Math.min(MAX_PAYLOAD_BYTES, Math.max(1 << 12, sizeHint));
    let out: RowBinaryWriter | null = null;
    // Borrowed at the first row: an idle buffer holds no memory.
    const writer = () => {
      out ??= new RowBinaryWriter(borrow(sizeHint));
      return out;
    };
    return {
      add(row: StoredEvent): void {
        encodeEventRowBinary(row, writer());
      },
      get rows() {
        return out?.rows ?? 0;
      },
      get bytes() {
        return out?.bytes ?? 0;
      },
      take(): EncodedEvents {
        if (out === null || out.rows === 0) return { rows: 0, payload: new Uint8Array(0) };
        const taken = { rows: out.rows, payload: out.finish() };
        // The next batch is likely the size of this one: one allocation, no regrowth.
        sizeHint = Math.min(MAX_PAYLOAD_BYTES, Math.max(sizeHint, taken.payload.length * 1.15));
        out = null;
        return taken;
      },
    };
  }

  /** Whole batches per INSERT, up to maxRows rows and MAX_PAYLOAD_BYTES (a larger batch goes alone). */
  async function insertEncoded(batches: readonly EncodedEvents[]): Promise<void> {
    let group: Uint8Array[] = [];
    let rows = 0;
    let bytes = 0;
    const send = async () => {
      if (group.length === 0) return;
      const payload = group.length === 1 ? group[0]! : group;
      group = [];
      rows = 0;
      bytes = 0;
      await exec.insertRowBinary(insertTarget(db, 'events'), EVENT_ROW_BINARY_COLUMNS, payload, {
        settings: EVENT_INSERT_SETTINGS,
      });
    };
    for (const b of batches) {
      if (b.rows === 0) continue;
      if (
        group.length > 0 &&
        (rows + b.rows > maxRows || bytes + b.payload.length > MAX_PAYLOAD_BYTES)
      ) {
        await send();
      }
      group.push(b.payload);
      rows += b.rows;
      bytes += b.payload.length;
    }
    await send();
    // Every group landed: the bytes are durable and the buffers can be written again. (After a
    // failure none is returned: the caller retries with the same batches.)
    for (const b of batches) giveBack(b.payload);
  }

  const store: Store = {
    kind: exec.kind,

    async migrate(): Promise<MigrationReport> {
      ensureOpen();
      const ctx: MigrationContext = {
        db,
        rawEventsTtlDays: options.rawEventsTtlDays,
        resultsTtlDays: options.resultsTtlDays ?? 0,
      };
      if (options.logger) ctx.logger = options.logger;
      return runMigrations(exec, ctx, migrations);
    },

    async ping(): Promise<void> {
      ensureOpen();
      await exec.query(pingSql());
    },

    async insertEvents(rows: readonly StoredEvent[]): Promise<void> {
      ensureOpen();
      if (rows.length === 0) return;
      const batches: EncodedEvents[] = [];
      const buffer = createEventBuffer();
      for (let i = 0; i < rows.length; i++) {
        buffer.add(rows[i]!);
        if (buffer.rows >= maxRows || buffer.bytes >= MAX_PAYLOAD_BYTES)
          batches.push(buffer.take());
        if (i % YIELD_EVERY_ROWS === YIELD_EVERY_ROWS - 1) await yieldToEventLoop();
      }
      if (buffer.rows > 0) batches.push(buffer.take());
      await insertEncoded(batches);
    },

    createEventBuffer,

    async insertEncodedEvents(batches: readonly EncodedEvents[]): Promise<void> {
      ensureOpen();
      await insertEncoded(batches);
    },

    async insertLabels(rows: readonly LabelEvent[]): Promise<void> {
      ensureOpen();
      if (rows.length === 0) return;
      // Rows of one INSERT share ingested_at, the ReplacingMergeTree version: keep only the
      // last label per (model, id) so "latest wins" holds inside a batch too.
      const last = new Map<string, LabelEvent>();
      for (const l of rows) last.set(`${l.model}\u0000${l.id}`, l);
      const at = formatDateTime64(now(), 'now');
      await insert('labels', [...last.values()], (l, out) => out.push(encodeLabel(l, at)));
    },

    async saveBaseline(profile: BaselineProfile): Promise<boolean> {
      ensureOpen();
      if (profile.id === '') throw new InvalidInputError('baseline id must not be empty');
      const [row] = await exec.query<{ n: string | number }>(baselineExistsSql(db), {
        id: profile.id,
      });
      if (row && Number(row.n) > 0) return false;
      // A concurrent save of the same id collapses in the ReplacingMergeTree (same content).
      await insert('baselines', [profile], (p, out) => out.push(encodeBaseline(p)));
      return true;
    },

    async getBaseline(id: string): Promise<BaselineProfile | null> {
      ensureOpen();
      const [row] = await exec.query<{ profile: string }>(baselineProfileSql(db), { id });
      return row ? (JSON.parse(row.profile) as BaselineProfile) : null;
    },

    async listBaselines(query: { model?: string } = {}): Promise<BaselineSummary[]> {
      ensureOpen();
      const withModel = query.model !== undefined;
      const rows = await exec.query<BaselineSummaryRow>(
        listBaselinesSql(db, withModel),
        withModel ? { model: query.model } : {},
      );
      return rows.map((r) => ({
        id: r.id,
        hash: r.hash,
        model: r.model,
        version: r.version,
        createdAt: Number(r.created_at_ms),
        source: r.source,
        rowCount: Number(r.row_count),
        badRows: Number(r.bad_rows),
        params: JSON.parse(r.params) as BaselineParams,
        featureNames: r.feature_names,
      }));
    },

    async latestBaseline(model: string, version: string): Promise<BaselineProfile | null> {
      ensureOpen();
      // Two steps so the sort never touches the heavy profile column.
      const [row] = await exec.query<{ id: string }>(latestBaselineIdSql(db), { model, version });
      return row ? store.getBaseline(row.id) : null;
    },

    async insertWindowResults(
      rows: readonly WindowResult[],
      options?: DedupOptions,
    ): Promise<void> {
      ensureOpen();
      if (rows.length === 0) return;
      // The view of migration 12 feeds window_results from the record.
      await insert('window_result_revisions', rows, encodeWindowResult, dedupSettings(options));
    },

    async windowHistory(q: WindowHistoryQuery): Promise<WindowHistory> {
      ensureOpen();
      const withVersion = q.version !== undefined;
      const params: Record<string, unknown> = { model: q.model, window: q.window, start: q.start };
      if (withVersion) params.version = q.version;
      const rows = await exec.query<WindowResultRow>(windowRevisionsSql(db, withVersion), params);
      const perf = await exec.query<PerformanceRow>(
        performanceRevisionsSql(db, withVersion),
        params,
      );
      return {
        results: assembleWindows(rows, true),
        performance: perf.map((p) => decodePerformance(p, true)),
      };
    },

    async queryDrift(q: DriftQuery): Promise<WindowResult[]> {
      ensureOpen();
      const params: Record<string, unknown> = { model: q.model, from: q.from, to: q.to };
      if (q.window !== undefined) params.window = q.window;
      if (q.version !== undefined) params.version = q.version;
      if (q.feature !== undefined) params.feature = q.feature;
      if (q.segment !== undefined && q.segment !== '*') params.segment = q.segment;
      const sql = windowResultsSql(db, {
        by: 'range',
        window: q.window !== undefined,
        version: q.version !== undefined,
        feature: q.feature !== undefined,
        ...(q.segment === undefined || q.segment === ''
          ? {}
          : { segment: q.segment === '*' ? 'all' : 'one' }),
      });
      return windowResults(sql, params);
    },

    async latestWindowResult(
      model: string,
      opts: { window?: string; version?: string } = {},
    ): Promise<WindowResult | null> {
      ensureOpen();
      const keyParams: Record<string, unknown> = { model };
      if (opts.window !== undefined) keyParams.window = opts.window;
      if (opts.version !== undefined) keyParams.version = opts.version;
      const [key] = await exec.query<WindowKeyRow>(
        latestWindowKeySql(db, opts.window !== undefined, opts.version !== undefined),
        keyParams,
      );
      if (!key) return null;
      const results = await windowResults(windowResultsSql(db, { by: 'window' }), {
        model,
        version: key.version,
        window: key.window,
        start: Number(key.window_start_ms),
      });
      return results[0] ?? null;
    },

    async latestResults(q: LatestResultsQuery): Promise<LatestResults> {
      ensureOpen();
      const none: LatestResults = { versions: [], windows: [], performance: [], verdicts: [] };
      if (q.windows.length === 0 || !(q.maxVersions >= 1)) return none;
      const common = { model: q.model, windows: [...q.windows] };
      const newest = await exec.query<VersionEndRow>(newestVersionsSql(db), {
        ...common,
        limit: Math.min(q.maxVersions, 2 ** 32 - 1),
      });
      if (newest.length === 0) return none;
      const params = { ...common, versions: newest.map((v) => v.version) };
      const history = Math.max(1, Math.min(q.history, 2 ** 32 - 1));
      const windows = await windowResults(latestWindowResultsSql(db), params);
      // Histories over `horizon` windows before each version and size's newest one.
      const keys: string[] = [];
      const since: number[] = [];
      for (const w of windows) {
        keys.push(`${w.version}\u0000${w.sizeLabel}`);
        since.push(Math.max(0, w.start - Math.max(history, q.horizon) * w.size));
      }
      const sinceMin = since.length > 0 ? Math.min(...since) : 0;
      const ranged = { ...params, history, keys, since, sinceMin };
      const perf = await exec.query<PerformanceRow>(latestPerformanceSql(db), ranged);
      const rows = await exec.query<VerdictRow>(verdictHistorySql(db), ranged);
      return {
        versions: params.versions,
        windows,
        performance: perf.map((p) => decodePerformance(p)),
        verdicts: assembleVerdicts(rows),
      };
    },

    async insertRetrainRecommendations(
      rows: readonly StoredRetrainRecommendation[],
    ): Promise<void> {
      ensureOpen();
      if (rows.length === 0) return;
      await insert('retrain_recommendations', rows, (r, out) =>
        out.push(encodeRetrainRecommendation(r)),
      );
    },

    async retrainRecommendations(q: RetrainQuery): Promise<StoredRetrainRecommendation[]> {
      ensureOpen();
      const params: Record<string, unknown> = {
        model: q.model,
        limit: Math.max(1, Math.min(q.limit ?? 100, 2 ** 32 - 1)),
      };
      if (q.version !== undefined) params.version = q.version;
      const rows = await exec.query<RetrainRecommendationRow>(
        retrainRecommendationsSql(db, q.version !== undefined, q.open === true),
        params,
      );
      return rows.map(decodeRetrainRecommendation);
    },

    async insertPerformance(
      rows: readonly PerformanceResult[],
      options?: DedupOptions,
    ): Promise<void> {
      ensureOpen();
      if (rows.length === 0) return;
      await insert(
        'performance_revisions',
        rows,
        (p, out) => out.push(encodePerformance(p)),
        dedupSettings(options),
      );
    },

    async insertFairness(rows: readonly FairnessWindowResult[]): Promise<void> {
      ensureOpen();
      if (rows.every((r) => Object.keys(r.attributes).length === 0)) return;
      await insert('fairness_results', rows, encodeFairnessResult);
    },

    async queryFairness(q: FairnessQuery): Promise<FairnessWindowResult[]> {
      ensureOpen();
      const params: Record<string, unknown> = {
        model: q.model,
        version: q.version,
        from: q.from,
        to: q.to,
        limit: Math.max(1, Math.min(q.limit, 2 ** 32 - 1)),
      };
      if (q.window !== undefined) params.window = q.window;
      const rows = await exec.query<FairnessResultRow>(
        fairnessResultsSql(db, q.window !== undefined),
        params,
      );
      return assembleFairness(rows);
    },

    async latestFairness(q: LatestFairnessQuery): Promise<LatestFairness> {
      ensureOpen();
      if (q.windows.length === 0 || q.versions.length === 0) return { windows: [], verdicts: [] };
      const params = { model: q.model, windows: [...q.windows], versions: [...q.versions] };
      const windows = assembleFairness(
        await exec.query<FairnessResultRow>(latestFairnessSql(db), params),
      );
      if (windows.length === 0) return { windows, verdicts: [] };
      const history = Math.max(1, Math.min(q.history, 2 ** 32 - 1));
      // Histories over `horizon` windows before each version and size's newest one.
      const keys: string[] = [];
      const since: number[] = [];
      for (const w of windows) {
        keys.push(`${w.version}\u0000${w.sizeLabel}`);
        since.push(Math.max(0, w.start - Math.max(history, q.horizon) * w.size));
      }
      const rows = await exec.query<FairnessVerdictRow>(fairnessVerdictHistorySql(db), {
        ...params,
        history,
        keys,
        since,
        sinceMin: Math.min(...since),
      });
      return { windows, verdicts: assembleFairnessVerdicts(rows) };
    },

    async insertComparisons(rows: readonly StoredComparison[]): Promise<void> {
      ensureOpen();
      if (rows.length === 0) return;
      await insert('version_comparisons', rows, (c, out) => out.push(encodeComparison(c)));
    },

    async queryComparisons(q: ComparisonQuery): Promise<StoredComparison[]> {
      ensureOpen();
      const params: Record<string, unknown> = {
        model: q.model,
        from: q.from,
        to: q.to,
        limit: MAX_COMPARISON_ROWS,
      };
      if (q.window !== undefined) params.window = q.window;
      if (q.champion !== undefined) params.champion = q.champion;
      if (q.challenger !== undefined) params.challenger = q.challenger;
      const sql = comparisonsSql(db, {
        window: q.window !== undefined,
        champion: q.champion !== undefined,
        challenger: q.challenger !== undefined,
      });
      const rows = await exec.query<ComparisonRow>(sql, params);
      return rows.map(decodeComparison);
    },

    async latestComparisons(model: string, per: number): Promise<StoredComparison[]> {
      ensureOpen();
      const rows = await exec.query<ComparisonRow>(latestComparisonsSql(db), { model, per });
      return rows.map(decodeComparison).reverse();
    },

    async shadowAgreement(q: ShadowQuery): Promise<ShadowAgreement> {
      ensureOpen();
      const [row] = await exec.query<ShadowRow>(shadowAgreementSql(db), { ...q });
      return decodeShadow(row, q.classes);
    },

    async httpEventsAfter(after: number, limit: number, lane = ''): Promise<StoredEvent[]> {
      ensureOpen();
      const rows = await exec.query<EventRow>(httpEventsAfterSql(db), { after, limit, lane });
      return rows.map(decodeEvent);
    },

    async insertPartials(rows: readonly PartialRow[]): Promise<void> {
      ensureOpen();
      if (rows.length === 0) return;
      await insert('window_partials', rows, (p, out) => out.push(encodePartial(p)));
    },

    async insertLaneProgress(rows: readonly LaneProgressRow[]): Promise<void> {
      ensureOpen();
      if (rows.length === 0) return;
      await insert('lane_progress', rows, (r, out) => out.push(encodeLaneProgress(r)));
    },

    async laneProgress(): Promise<LaneProgressRow[]> {
      ensureOpen();
      const rows = await exec.query<LaneProgressSqlRow>(laneProgressSql(db));
      return rows.map(decodeLaneProgress);
    },

    async pendingWindows(limit: number, since = 0): Promise<WindowKey[]> {
      ensureOpen();
      if (!Number.isSafeInteger(since) || since < 0)
        throw new InvalidInputError(
          `pendingWindows: since ${String(since)} is not a time (epoch ms)`,
        );
      const rows = await exec.query<WindowKeySqlRow>(pendingWindowsSql(db), {
        limit: boundedLimit(limit),
        since,
      });
      return rows.map(decodeWindowKey);
    },

    async partialsOf(w: WindowKey): Promise<PartialRow[]> {
      ensureOpen();
      const rows = await exec.query<PartialSqlRow>(partialsOfSql(db), {
        model: w.model,
        version: w.version,
        label: w.sizeLabel,
        start: w.start,
      });
      return rows.map(decodePartial);
    },

    async insertFinalisation(row: FinalisationRow): Promise<void> {
      ensureOpen();
      await insert(
        'window_finalisations',
        [row],
        (f, out) => out.push(encodeFinalisation(f)),
        dedupSettings({ dedupToken: finalisationToken(row, row.revision) }),
      );
    },

    async revisableWindows(since: number, limit: number): Promise<RevisableWindow[]> {
      ensureOpen();
      if (!Number.isFinite(since)) {
        throw new InvalidInputError(`revisableWindows: since must be a time in ms, got ${since}`);
      }
      const rows = await exec.query<RevisableSqlRow>(revisableWindowsSql(db), {
        since: Math.floor(since),
        limit: boundedLimit(limit),
      });
      return rows.map(decodeRevisable);
    },

    async finalisations(
      since: number,
      limit: number,
      opts?: { revisions?: boolean },
    ): Promise<FinalisationRow[]> {
      ensureOpen();
      if (!Number.isFinite(since)) {
        throw new InvalidInputError(`finalisations: since must be a time in ms, got ${since}`);
      }
      const rows = await exec.query<FinalisationSqlRow>(finalisationsSql(db, opts?.revisions), {
        since: Math.floor(since),
        limit: boundedLimit(limit),
      });
      return rows.map(decodeFinalisation);
    },

    async recentRequestKeys(since: number, limit: number): Promise<string[]> {
      ensureOpen();
      const rows = await exec.query<{ key: string }>(recentRequestKeysSql(db), { since, limit });
      return rows.map((r) => r.key);
    },

    async saveCheckpoint(c: StoredCheckpoint): Promise<void> {
      ensureOpen();
      await insert('checkpoints', [c], (row, out) => out.push(encodeCheckpoint(row)));
    },

    async eventSources(q: {
      model: string;
      from: number;
      to: number;
      limit: number;
    }): Promise<EventSourceSummary[]> {
      ensureOpen();
      const rows = await exec.query<{
        source: string;
        kafka_topic: string;
        kafka_partition: number;
        replay_file: string;
        first_offset: string | number;
        last_offset: string | number;
        n: string | number;
        first_ts: string | number;
        last_ts: string | number;
      }>(eventSourcesSql(db), q);
      return rows.map((r) => {
        const kafka = r.source === 'kafka';
        return {
          source: r.source as EventSourceSummary['source'],
          topic: kafka ? r.kafka_topic : '',
          partition: kafka ? Number(r.kafka_partition) : -1,
          firstOffset: kafka ? String(r.first_offset) : '',
          lastOffset: kafka ? String(r.last_offset) : '',
          file: r.source === 'replay' ? r.replay_file : '',
          events: Number(r.n),
          firstTs: Number(r.first_ts),
          lastTs: Number(r.last_ts),
        };
      });
    },

    async latestCheckpoint(groupId: string): Promise<StoredCheckpoint | null> {
      ensureOpen();
      const [row] = await exec.query<CheckpointRow>(latestCheckpointSql(db), { group: groupId });
      if (!row) return null;
      return {
        groupId: row.group_id,
        seq: Number(row.seq),
        takenAt: Number(row.taken_at_ms),
        payload: row.payload,
      };
    },

    async queryPerformance(q: PerformanceQuery): Promise<PerformanceResult[]> {
      ensureOpen();
      const params: Record<string, unknown> = { model: q.model, from: q.from, to: q.to };
      if (q.window !== undefined) params.window = q.window;
      if (q.version !== undefined) params.version = q.version;
      if (q.segment !== undefined && q.segment !== '*') params.segment = q.segment;
      const rows = await exec.query<PerformanceRow>(
        performanceSql(
          db,
          q.window !== undefined,
          q.version !== undefined,
          q.segment === undefined || q.segment === ''
            ? undefined
            : q.segment === '*'
              ? 'all'
              : 'one',
        ),
        params,
      );
      return rows.map((p) => decodePerformance(p));
    },

    async getPrediction(
      id: string,
      opts: { model?: string } = {},
    ): Promise<PredictionRecord | null> {
      ensureOpen();
      const withModel = opts.model !== undefined;
      const [row] = await exec.query<EventRow>(
        predictionByIdSql(db, withModel),
        withModel ? { id, model: opts.model } : { id },
      );
      if (!row) return null;
      const stored = decodeEvent(row);
      const [labelRow] = await exec.query<LabelRow>(labelByIdSql(db), { model: row.model, id });
      const { late, source, ingestedAt, position: _p, requestKey: _k, lane: _l, ...event } = stored;
      return {
        event,
        label: labelRow
          ? {
              model: labelRow.model,
              id: labelRow.id,
              ts: Number(labelRow.ts_ms),
              label: JSON.parse(labelRow.label) as number | string,
            }
          : null,
        late,
        source,
        ingestedAt,
        raw: row.raw === '' ? null : row.raw,
      };
    },

    async erasePrediction(model: string, id: string): Promise<ErasureCounts> {
      ensureOpen();
      const removed: ErasureCounts = { events: 0, labels: 0 };
      for (const table of ['events', 'labels'] as const) {
        const count = async () => {
          const [row] = await exec.query<{ n: string | number }>(countByIdSql(db, table), {
            model,
            id,
          });
          return Number(row?.n ?? 0);
        };
        const before = await count();
        if (before === 0) continue;
        const [engine] = await exec.query<{ engine: string }>(tableEngineSql, { db, table });
        const onCluster = engine?.engine === 'Distributed';
        await exec.command(eraseByIdSql(db, table, onCluster), { model, id });
        // Rows written meanwhile (a redelivery) are not counted as removed.
        removed[table] = before - (await count());
      }
      return removed;
    },

    async predictionTimes(model: string, ids: readonly string[]): Promise<PredictionTime[]> {
      ensureOpen();
      const out: PredictionTime[] = [];
      const unique = [...new Set(ids)];
      for (let i = 0; i < unique.length; i += MAX_IDS_PER_QUERY) {
        const rows = await exec.query<{ id: string; version: string; ts_ms: string | number }>(
          predictionTimesSql(db),
          { model, ids: unique.slice(i, i + MAX_IDS_PER_QUERY) },
        );
        for (const r of rows) out.push({ id: r.id, version: r.version, ts: Number(r.ts_ms) });
      }
      return out;
    },

    async hasLabels(model: string): Promise<boolean> {
      ensureOpen();
      const rows = await exec.query<{ found: number }>(anyLabelSql(db), { model });
      return rows.length > 0;
    },

    async labeledPredictions(q: LabeledPredictionsQuery): Promise<LabeledPrediction[]> {
      ensureOpen();
      const fields = q.segmentFields ?? [];
      const withSegments = fields.length > 0;
      const rows = await exec.query<LabeledPredictionRow>(labeledPredictionsSql(db, withSegments), {
        model: q.model,
        version: q.version,
        from: q.from,
        to: q.to,
        ...(withSegments ? { fields: [...fields] } : {}),
      });
      return rows.map((r) => {
        const p: LabeledPrediction = {
          id: r.id,
          ts: Number(r.ts_ms),
          prediction: JSON.parse(r.prediction) as FeatureValue,
          label: JSON.parse(r.label) as number | string,
        };
        if (withSegments) {
          p.segmentValues = fields.map((_f, i) => {
            const v = r.segment_values?.[i];
            return v === undefined || v === '' ? null : (JSON.parse(v) as FeatureValue);
          });
        }
        return p;
      });
    },

    async fairnessRows(q: FairnessRowsQuery): Promise<FairnessRow[]> {
      ensureOpen();
      const a = q.attribute;
      const names = declaredGroups(a);
      // A categorical group matches a number v when String(v) is the group: only groups
      // written the way JavaScript writes their number can (-0 matches "0").
      // Hashed (PII) values are matched by their hash, and named back below.
      const hashed = a.kind === 'categorical' ? a.hashed : undefined;
      const numeric =
        a.kind === 'categorical' && hashed === undefined ? a.groups.filter(isCanonicalNumber) : [];
      const grouping =
        a.kind === 'numeric'
          ? { edges: a.edges.map(String) }
          : {
              groups: hashed === undefined ? [...a.groups] : Object.keys(hashed),
              numbers: numeric,
            };
      const rows = await exec.query<FairnessRowSql>(fairnessRowsSql(db, a.kind), {
        model: q.model,
        version: q.version,
        from: q.from,
        to: q.to,
        field: q.field,
        ...grouping,
        threshold: q.threshold,
        positive: q.positive,
        limit: q.limit,
      });
      const flag = (v: number | string) => (Number(v) < 0 ? null : Number(v) === 1);
      return rows.map((r) => ({
        group:
          r.grp === 'other' || r.grp === 'missing'
            ? r.grp
            : a.kind === 'numeric'
              ? (names[Number(r.grp)] as string)
              : (hashed?.[r.grp] ?? r.grp),
        selected: flag(r.selected),
        positive: flag(r.positive),
        count: Number(r.n),
      }));
    },

    async windowEvents(q: WindowEventsQuery): Promise<StoredEvent[]> {
      ensureOpen();
      const params: Record<string, unknown> = {
        model: q.model,
        version: q.version,
        from: q.from,
        to: q.to,
      };
      if (q.limit !== undefined) params.limit = q.limit;
      const rows = await exec.query<EventRow>(windowEventsSql(db, q.limit !== undefined), params);
      return rows.map(decodeEvent);
    },

    async exactKs(q: ExactKsQuery): Promise<ExactKsResult> {
      ensureOpen();
      for (let i = 0; i < q.reference.length; i++) {
        if (!Number.isFinite(q.reference[i])) {
          throw new InvalidInputError(
            `exactKs: reference value ${q.reference[i]} at index ${i} is not a finite number`,
          );
        }
      }
      const [row] = await exec.query<ExactKsRow>(exactKsSql(db), {
        model: q.model,
        version: q.version,
        from: q.from,
        to: q.to,
        feature: q.feature,
        reference: q.reference,
      });
      if (!row) throw new StoreError('exactKs: the engine returned no row');
      return {
        n: Number(row.n),
        m: Number(row.m),
        statistic: toNullableNumber(row.statistic),
        pValue: toNullableNumber(row.p_value),
        lateEvents: Number(row.late_events),
      };
    },

    close(): Promise<void> {
      if (closing) return closing;
      state = 'closing';
      closing = exec.close().finally(() => {
        state = 'closed';
      });
      return closing;
    },
  };
  return store;
}

// ---------------------------------------------------------------------------------------------
// Decoding

function decodeSource(r: EventRow): EventSource {
  switch (r.source) {
    case 'kafka':
      return {
        kind: 'kafka',
        topic: r.kafka_topic,
        partition: Number(r.kafka_partition),
        offset: r.kafka_offset,
      };
    case 'replay': {
      const src: EventSource = { kind: 'replay' };
      if (r.replay_file !== '') src.file = r.replay_file;
      if (Number(r.replay_line) > 0) src.line = Number(r.replay_line);
      return src;
    }
    case 'http':
      return { kind: 'http' };
    default:
      throw new StoreError(`stored event ${r.id} has unknown source ${JSON.stringify(r.source)}`);
  }
}

function decodeEvent(r: EventRow): StoredEvent {
  const e: StoredEvent = {
    model: r.model,
    version: r.version,
    id: r.id,
    ts: Number(r.ts_ms),
    features:
      r.raw === ''
        ? (JSON.parse(r.features) as Record<string, FeatureValue>)
        : (JSON.parse(r.raw) as { features: Record<string, FeatureValue> }).features,
    prediction: JSON.parse(r.prediction) as FeatureValue,
    late: Number(r.late) === 1,
    source: decodeSource(r),
    ingestedAt: Number(r.ingested_at_ms),
  };
  const position = Number(r.ingest_seq ?? 0);
  if (position > 0) e.position = position;
  if (r.request_key) e.requestKey = r.request_key;
  if (r.lane) e.lane = r.lane;
  return e;
}

function decodeDrift(r: WindowResultRow): FeatureDrift {
  const d: FeatureDrift = {
    feature: r.feature,
    type: r.feature_type as FeatureType,
    test: r.test as DriftTest,
    statistic: toNumber(r.statistic),
    pValue: toNullableNumber(r.p_value),
    adjustedPValue: toNullableNumber(r.adjusted_p_value),
    threshold: toNumber(r.threshold),
    drifted: Number(r.drifted) === 1,
    psi: toNumber(r.psi),
    ksStatistic: toNullableNumber(r.ks_statistic),
    ksBound: toNullableNumber(r.ks_bound),
    ksPValue: toNullableNumber(r.ks_p_value),
    verdictRule: r.verdict_rule === 'calibrated' ? 'calibrated' : 'threshold',
    effect: toNumber(r.effect),
    effectFloor: toNullableNumber(r.effect_floor),
    statisticBound: toNullableNumber(r.statistic_bound),
    boundStraddlesThreshold: Number(r.bound_straddles_threshold) === 1,
    count: Number(r.count),
    missingRatio: toNumber(r.missing_ratio),
    outOfRangeRatio: toNumber(r.out_of_range_ratio),
    unseenRatio: toNumber(r.unseen_ratio),
    otherRatio: toNumber(r.other_ratio),
    insufficient: Number(r.insufficient) === 1,
  };
  if (r.insufficient_reason === 'window' || r.insufficient_reason === 'reference') {
    d.insufficientReason = r.insufficient_reason;
  }
  if (r.histogram !== '') d.histogram = JSON.parse(r.histogram) as FeatureHistogram;
  return d;
}

/** Rows arrive ordered by (window_start, window, version, kind, feature): a window's rows are contiguous. */
function assembleWindows(rows: readonly WindowResultRow[], revisions = false): WindowResult[] {
  const out: WindowResult[] = [];
  let current: WindowResult | undefined;
  let currentKey = '';
  for (const r of rows) {
    // Revisions of one window: each is the rows written together (one written_at).
    const key = `${r.window_start_ms}\u0000${r.window}\u0000${r.version}\u0000${r.segment}${
      revisions ? `\u0000${r.written_at_ms}\u0000${r.closed_at_ms}` : ''
    }`;
    if (!current || key !== currentKey) {
      // Every row carries the window-level columns, so any row can open the window.
      current = {
        model: r.model,
        version: r.version,
        size: Number(r.window_size_ms),
        sizeLabel: r.window,
        start: Number(r.window_start_ms),
        end: Number(r.window_end_ms),
        baselineId: r.baseline_id,
        baselineHash: r.baseline_hash,
        eventCount: Number(r.event_count),
        lateCount: Number(r.late_count),
        closedAt: Number(r.closed_at_ms),
        features: [],
        prediction: null,
        driftShare: toNumber(r.drift_share),
        datasetDrift: Number(r.dataset_drift) === 1,
        reference: parseReference(r.reference, {
          found: Number(r.reference_found),
          start: r.reference_start_ms === null ? null : Number(r.reference_start_ms),
          end: r.reference_end_ms === null ? null : Number(r.reference_end_ms),
          eventCount: Number(r.reference_event_count),
          note: r.reference_note === '' ? null : r.reference_note,
        }),
        provisional: Number(r.provisional) === 1,
        ...decodeLineage(r, revisions),
      };
      if (r.segment) current.segment = r.segment;
      currentKey = key;
      out.push(current);
    }
    if (r.kind === 'feature') current.features.push(decodeDrift(r));
    else if (r.kind === 'prediction') current.prediction = decodeDrift(r);
  }
  return out;
}

/** Verdict rows (ordered by series, then start) grouped into series. */
function assembleVerdicts(rows: readonly VerdictRow[]): SeriesVerdicts[] {
  const out: SeriesVerdicts[] = [];
  let current: SeriesVerdicts | undefined;
  let currentKey = '';
  for (const r of rows) {
    const key = `${r.version}\u0000${r.window}\u0000${r.kind}\u0000${r.feature}`;
    if (!current || key !== currentKey) {
      // The first row listed is the oldest: its run before is the series' base.
      current = {
        version: r.version,
        window: r.window,
        series: r.kind === 'feature' ? `feature:${r.feature}` : r.kind,
        base: Number(r.before),
        truncated: Number(r.rn) > 1,
        verdicts: [],
      };
      currentKey = key;
      out.push(current);
    }
    current.verdicts.push({ start: Number(r.start_ms), drifted: Number(r.drifted) === 1 });
  }
  return out;
}

/** Rows of computations (ordered by window, then attribute and group) as one result per window. */
function assembleFairness(rows: readonly FairnessResultRow[]): FairnessWindowResult[] {
  const out: FairnessWindowResult[] = [];
  let current: FairnessWindowResult | undefined;
  let currentKey = '';
  const groups = new Map<FairnessResult, Map<string, FairnessGroupResult>>();
  for (const r of rows) {
    const key = `${r.version}\u0000${r.window}\u0000${r.window_start_ms}`;
    if (!current || key !== currentKey) {
      current = {
        model: r.model,
        version: r.version,
        size: Number(r.window_size_ms),
        sizeLabel: r.window,
        start: Number(r.window_start_ms),
        end: Number(r.window_end_ms),
        attributes: {},
        writtenAt: Number(r.written_at_ms),
        driftdVersion: r.driftd_version,
        configHash: r.config_hash,
      };
      currentKey = key;
      out.push(current);
    }
    let a = current.attributes[r.attribute];
    if (a === undefined) {
      a = parseFairnessJson<FairnessResult>(r.attribute_result);
      current.attributes[r.attribute] = a;
      groups.set(a, new Map());
    }
    groups.get(a)!.set(r.protected_group, parseFairnessJson<FairnessGroupResult>(r.group_result));
  }
  // Groups in the attribute's own order (stored by name in its result).
  for (const [a, byName] of groups) {
    const names = a.groups as unknown as string[];
    a.groups = names.flatMap((n) => byName.get(n) ?? []);
  }
  return out;
}

function assembleFairnessVerdicts(rows: readonly FairnessVerdictRow[]): FairnessSeriesVerdicts[] {
  const out: FairnessSeriesVerdicts[] = [];
  let current: FairnessSeriesVerdicts | undefined;
  let currentKey = '';
  for (const r of rows) {
    const key = JSON.stringify([r.version, r.window, r.attribute, r.grp]);
    if (!current || key !== currentKey) {
      // The first row listed is the oldest: its run before is the series' base.
      current = {
        version: r.version,
        window: r.window,
        attribute: r.attribute,
        group: r.grp,
        base: Number(r.before),
        truncated: Number(r.rn) > 1,
        verdicts: [],
      };
      currentKey = key;
      out.push(current);
    }
    current.verdicts.push({ start: Number(r.start_ms), drifted: Number(r.drifted) === 1 });
  }
  return out;
}

function decodePerformance(r: PerformanceRow, revisions = false): PerformanceResult {
  const metrics: Record<string, number> = {};
  for (const [k, v] of Object.entries(r.metrics)) metrics[k] = toNumber(v);
  return {
    model: r.model,
    version: r.version,
    size: Number(r.window_size_ms),
    sizeLabel: r.window,
    start: Number(r.window_start_ms),
    end: Number(r.window_end_ms),
    labeled: Number(r.labeled),
    coverage: toNumber(r.coverage),
    metrics,
    computedAt: Number(r.computed_at_ms),
    ...(r.segment ? { segment: r.segment } : {}),
    ...decodeLineage(r, revisions),
  };
}

function decodeLineage(
  r: {
    driftd_version: string;
    config_hash: string;
    revision_reason: string;
    written_at_ms: string | number;
  },
  revisions: boolean,
): ResultLineage {
  // '' = not recorded (a row from before migration 12, or a result built without lineage).
  const out: ResultLineage = {};
  if (r.driftd_version !== '') out.driftdVersion = r.driftd_version;
  if (r.config_hash !== '') out.configHash = r.config_hash;
  if (r.revision_reason !== '') out.revisionReason = r.revision_reason as RevisionReason;
  // When a revision was written matters in its history; the latest row's is its closedAt.
  if (revisions) out.writtenAt = Number(r.written_at_ms);
  return out;
}

/** A row limit the engine's UInt64 parameter takes: at least 1, a whole number. */
function boundedLimit(limit: number): number {
  if (!(limit >= 1)) throw new InvalidInputError(`limit must be at least 1, got ${limit}`);
  return Math.min(Math.floor(limit), Number.MAX_SAFE_INTEGER);
}

/** Whether `s` is how JavaScript writes the number it denotes (String(Number(s)) === s). */
function isCanonicalNumber(s: string): boolean {
  const n = Number(s);
  return s !== '' && Number.isFinite(n) && String(n) === s;
}
