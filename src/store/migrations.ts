/**
 * Versioned schema migrations. Each applied version is recorded in `schema_migrations`
 * (version, name, applied_at); `migrate()` applies, in order, only the versions not recorded.
 *
 * ClickHouse DDL is not transactional, so every statement is idempotent on its own
 * (IF NOT EXISTS / IF EXISTS): a migration interrupted halfway is simply run again, and is
 * recorded only once all its statements succeeded. Two processes migrating at once are
 * harmless for the same reason (the record table collapses duplicate versions).
 *
 * Schema decisions (see also sql.ts for how each table is read):
 * - Raw data (`events`, `labels`) carries a TTL of `rawEventsTtlDays` (0 = keep forever),
 *   counted from ingestion (migration 4), so a backfill of old data is kept as long as live
 *   data. Results are the audit trail: append-only with every revision (migrations 12, 13),
 *   kept forever unless `resultsTtlDays` (never shorter than the raw TTL) says otherwise;
 *   baselines are kept forever.
 * - `events` is partitioned by day of event time, so time-range reads prune partitions and
 *   TTL drops whole parts (ttl_only_drop_parts) once all their rows have expired.
 * - Rewritable things are ReplacingMergeTree with the rewrite time as version; readers use
 *   FINAL (or argMax / ORDER BY … LIMIT) so a duplicate never shows. The result tables among
 *   them are fed from append-only revision tables that keep what a rewrite replaces.
 * - `window_results` holds one `dataset` row per window (window-level lineage) plus one row
 *   per feature and one for the prediction, told apart by `kind`, so a feature can be named
 *   anything and one INSERT writes a whole window atomically (one block, one partition).
 * - Timestamps DateTime64(3, 'UTC') with Delta+ZSTD where the column is sorted; statistics
 *   Float64 with Gorilla+ZSTD; JSON blobs ZSTD; names LowCardinality(String).
 * - Every table deduplicates repeated INSERT blocks (migration 3), so a retried insert whose
 *   first answer was lost is not written twice.
 * - deploy/clickhouse/cluster.sql is the replicated + sharded variant of the same schema; a
 *   test keeps it in sync with these migrations (columns, keys, codecs, TTL, versions).
 */
import { InvalidInputError, StoreError } from '../errors.js';
import type { Logger } from '../logger.js';
import { createComparisonsTableSql } from './comparison-sql.js';
import {
  formatDateTime64,
  insertTarget,
  JsonLinesWriter,
  type TableName,
  tableRef,
  validateIdentifier,
} from './sql.js';
import type { AppliedMigration, MigrationReport, SqlExecutor } from './types.js';

export interface MigrationContext {
  db: string;
  rawEventsTtlDays: number;
  /** Retention of results (RESULT_TABLES), days; 0 or absent = forever. */
  resultsTtlDays?: number;
  logger?: Logger;
}

export interface Migration {
  /** Strictly increasing, never reused. */
  version: number;
  name: string;
  /** Idempotent statements, run in order. */
  up(ctx: MigrationContext): string[];
}

const TTL_SETTING_KEY = 'raw_events_ttl_days';
const RESULTS_TTL_SETTING_KEY = 'results_ttl_days';
/** Raw rows expire this long after they were received (migration 4; event time before). */
const TTL_COLUMN = 'ingested_at';
const RAW_TABLES = ['events', 'labels'] as const;

/**
 * A TTL in whole days on the Date of `column`. Not DateTime: DateTime ends in 2106, so a
 * long retention (e.g. 36 500 days) overflowed and every row received expired at once; Date
 * reaches 2149, beyond any allowed retention counted from today.
 */
function ttlClause(column: string, days: number): string {
  return days > 0 ? `\nTTL toDate(${column}) + toIntervalDay(${days})` : '';
}

const TS = "DateTime64(3, 'UTC')";

/*
 * Results are evidence (migrations 12, 13). Every result row ever written is kept in an
 * append-only MergeTree (`<x>_revisions`), with why it was written (`revision_reason`), the
 * driftd version and the model's config hash that produced it, and when (`written_at`). The
 * writers INSERT only there; a MATERIALIZED VIEW (`<x>_latest_mv`, `SELECT *`) feeds each row
 * on to the ReplacingMergeTree the readers use (`window_results`, `performance`), so one
 * INSERT writes both and "latest" is derived from the record. A revision's number is its
 * order by written_at within its window (read time).
 *
 * A later migration that adds a column to a result table (e.g. `segment`) must:
 *   1. ADD COLUMN to the latest table first (`window_results`), with its DEFAULT;
 *   2. then the same ADD COLUMN to the revisions table (`window_result_revisions`), so the
 *      view's `SELECT *` never yields a column the latest table lacks;
 *   3. a column that joins the latest table's sorting key (MODIFY ORDER BY) joins the
 *      revisions' key too; the view itself needs no change: its `SELECT *` is resolved at
 *      every insert (test/integration/store/migrations.test.ts adds a column and checks it
 *      reaches both tables);
 *   4. the same in deploy/clickhouse/cluster.sql, on the `_local` tables.
 * A NEW result table is append-only from the start (plain MergeTree with written_at,
 * driftd_version, config_hash; latest derived at read) and joins RESULT_TABLES so
 * `store.resultsTtlDays` applies to it.
 */

/** The result tables that existed at migration 18 (which set their TTL again). */
const RESULT_TABLES_AT_18 = [
  'window_results',
  'window_result_revisions',
  'performance',
  'performance_revisions',
  'fairness_results',
  'version_comparisons',
  'retrain_recommendations',
] as const satisfies readonly TableName[];
/**
 * Result tables: their rows expire after `resultsTtlDays` (0 = never), counted from written_at.
 * The cluster tables (migrations 20–22) are created with it; later changes reach all of them.
 */
export const RESULT_TABLES = [
  ...RESULT_TABLES_AT_18,
  'window_partials',
  'lane_progress',
  'window_finalisations',
] as const satisfies readonly TableName[];
/** Every result table has this column: when its row was produced. */
const RESULT_TTL_COLUMN = 'written_at';

/** The lineage columns added to the latest tables and carried by their revisions. */
function lineageColumns(table: string, writtenDefault: string, after: string): string {
  return `ALTER TABLE ${table} ADD COLUMN IF NOT EXISTS driftd_version LowCardinality(String) DEFAULT '' AFTER ${after}, ADD COLUMN IF NOT EXISTS config_hash LowCardinality(String) DEFAULT '' AFTER driftd_version, ADD COLUMN IF NOT EXISTS revision_reason LowCardinality(String) DEFAULT 'migrated' AFTER config_hash, ADD COLUMN IF NOT EXISTS written_at ${TS} DEFAULT ${writtenDefault} CODEC(Delta, ZSTD(1)) AFTER revision_reason`;
}

/**
 * The statements of one result table's revisions: lineage columns on the latest table, the
 * append-only table with the same columns, the rows already stored copied into it once (a
 * re-run after an interruption copies only what is missing), then the view.
 */
function revisionsOf(
  db: string,
  latest: 'window_results' | 'performance',
  revisions: 'window_result_revisions' | 'performance_revisions',
  o: { written: string; after: string; order: string; key: string },
): string[] {
  const view = `\`${db}\`.\`${latest}_latest_mv\``;
  return [
    lineageColumns(tableRef(db, latest), o.written, o.after),
    `CREATE TABLE IF NOT EXISTS ${tableRef(db, revisions)} AS ${tableRef(db, latest)}
ENGINE = MergeTree
PARTITION BY toYYYYMM(window_start)
ORDER BY (${o.order})
SETTINGS non_replicated_deduplication_window = ${DEDUPLICATION_WINDOW}`,
    `INSERT INTO ${tableRef(db, revisions)}
SELECT * FROM ${tableRef(db, latest)}
WHERE (${o.key}) NOT IN (SELECT ${o.key} FROM ${tableRef(db, revisions)})`,
    `CREATE MATERIALIZED VIEW IF NOT EXISTS ${view} TO ${tableRef(db, latest)}
AS SELECT * FROM ${tableRef(db, revisions)}`,
  ];
}

/** Blocks remembered per table for insert deduplication (ClickHouse's replicated default). */
const DEDUPLICATION_WINDOW = 1000;
/**
 * Blocks remembered by the tables a cluster's finalisation writes (migration 23): a window's
 * token must still be known when a second instance finalises it, after every other insert
 * into the table meanwhile (each window and each performance recompute is a block).
 */
const FINALISATION_DEDUPLICATION_WINDOW = 10_000;
/** The tables a finalised window is written to with its token (src/cluster/types.ts). */
const FINALISED_TABLES = [
  'window_result_revisions',
  'window_results',
  'performance_revisions',
  'performance',
] as const satisfies readonly TableName[];
/** Wider merge steps for raw events (migration 6). */
const EVENTS_MERGE_SELECTOR_BASE = 30;
const DEDUPLICATED_TABLES = [
  'store_settings',
  'events',
  'labels',
  'baselines',
  'window_results',
  'performance',
  'checkpoints',
] as const satisfies readonly TableName[];

export const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    name: 'initial schema: events, labels, baselines, window_results, performance',
    up: ({ db, rawEventsTtlDays }) => [
      `CREATE TABLE IF NOT EXISTS ${tableRef(db, 'store_settings')}
(
  key LowCardinality(String),
  value String,
  updated_at ${TS}
)
ENGINE = ReplacingMergeTree(updated_at)
ORDER BY key`,

      // Sorting key = dedup identity of an event (see encodeEvent) and serves the
      // (model, version, ts-range) reads; point lookups by id go through the bloom filter.
      `CREATE TABLE IF NOT EXISTS ${tableRef(db, 'events')}
(
  model LowCardinality(String),
  version LowCardinality(String),
  id String CODEC(ZSTD(1)),
  ts ${TS} CODEC(Delta, ZSTD(1)),
  features String CODEC(ZSTD(1)),
  prediction String CODEC(ZSTD(1)),
  late UInt8,
  source LowCardinality(String),
  kafka_topic LowCardinality(String),
  kafka_partition Int32,
  kafka_offset Int64,
  replay_file LowCardinality(String),
  replay_line UInt64,
  ingested_at ${TS} CODEC(Delta, ZSTD(1)),
  INDEX idx_id id TYPE bloom_filter(0.001) GRANULARITY 1
)
ENGINE = ReplacingMergeTree(ingested_at)
PARTITION BY toYYYYMMDD(ts)
ORDER BY (model, version, ts, id, source, kafka_topic, kafka_partition, kafka_offset)${ttlClause('ts', rawEventsTtlDays)}
SETTINGS ttl_only_drop_parts = 1`,

      // Not partitioned: a corrected label may carry another ts, and ReplacingMergeTree only
      // collapses rows within one partition.
      `CREATE TABLE IF NOT EXISTS ${tableRef(db, 'labels')}
(
  model LowCardinality(String),
  id String CODEC(ZSTD(1)),
  ts ${TS} CODEC(ZSTD(1)),
  label String CODEC(ZSTD(1)),
  ingested_at ${TS} CODEC(ZSTD(1))
)
ENGINE = ReplacingMergeTree(ingested_at)
ORDER BY (model, id)${ttlClause('ts', rawEventsTtlDays)}`,

      `CREATE TABLE IF NOT EXISTS ${tableRef(db, 'baselines')}
(
  id String,
  hash String,
  model LowCardinality(String),
  version LowCardinality(String),
  created_at ${TS},
  source String,
  row_count UInt64,
  bad_rows UInt64,
  feature_names Array(String),
  params String,
  profile String CODEC(ZSTD(3))
)
ENGINE = ReplacingMergeTree
ORDER BY (model, version, id)`,

      `CREATE TABLE IF NOT EXISTS ${tableRef(db, 'window_results')}
(
  model LowCardinality(String),
  version LowCardinality(String),
  window LowCardinality(String),
  window_size_ms UInt64,
  window_start ${TS} CODEC(Delta, ZSTD(1)),
  window_end ${TS} CODEC(Delta, ZSTD(1)),
  kind LowCardinality(String),
  feature LowCardinality(String),
  feature_type LowCardinality(String),
  test LowCardinality(String),
  statistic Float64 CODEC(Gorilla, ZSTD(1)),
  p_value Nullable(Float64) CODEC(Gorilla, ZSTD(1)),
  adjusted_p_value Nullable(Float64) CODEC(Gorilla, ZSTD(1)),
  threshold Float64 CODEC(Gorilla, ZSTD(1)),
  drifted UInt8,
  psi Float64 CODEC(Gorilla, ZSTD(1)),
  ks_statistic Nullable(Float64) CODEC(Gorilla, ZSTD(1)),
  ks_bound Nullable(Float64) CODEC(Gorilla, ZSTD(1)),
  count UInt64 CODEC(T64, ZSTD(1)),
  missing_ratio Float64 CODEC(Gorilla, ZSTD(1)),
  out_of_range_ratio Float64 CODEC(Gorilla, ZSTD(1)),
  unseen_ratio Float64 CODEC(Gorilla, ZSTD(1)),
  insufficient UInt8,
  histogram String CODEC(ZSTD(3)),
  baseline_id LowCardinality(String),
  baseline_hash LowCardinality(String),
  event_count UInt64 CODEC(T64, ZSTD(1)),
  late_count UInt64 CODEC(T64, ZSTD(1)),
  drift_share Float64 CODEC(Gorilla, ZSTD(1)),
  dataset_drift UInt8,
  closed_at ${TS} CODEC(Delta, ZSTD(1))
)
ENGINE = ReplacingMergeTree(closed_at)
PARTITION BY toYYYYMM(window_start)
ORDER BY (model, window, window_start, version, kind, feature)`,

      `CREATE TABLE IF NOT EXISTS ${tableRef(db, 'performance')}
(
  model LowCardinality(String),
  version LowCardinality(String),
  window LowCardinality(String),
  window_size_ms UInt64,
  window_start ${TS} CODEC(Delta, ZSTD(1)),
  window_end ${TS} CODEC(Delta, ZSTD(1)),
  labeled UInt64,
  coverage Float64 CODEC(Gorilla, ZSTD(1)),
  metrics Map(LowCardinality(String), Float64) CODEC(ZSTD(1)),
  computed_at ${TS} CODEC(Delta, ZSTD(1))
)
ENGINE = ReplacingMergeTree(computed_at)
PARTITION BY toYYYYMM(window_start)
ORDER BY (model, window, window_start, version)`,
    ],
  },
  {
    version: 2,
    name: 'checkpoints: Kafka consumer checkpoints (window snapshots + offsets) per group',
    // One row per consumer group survives merges (latest `seq` wins); readers take the highest
    // seq, so unmerged older rows never show. A checkpoint row is written by one INSERT, so a
    // crash leaves either the previous checkpoint or the new one, never a torn one.
    up: ({ db }) => [
      `CREATE TABLE IF NOT EXISTS ${tableRef(db, 'checkpoints')}
(
  group_id String,
  seq UInt64,
  taken_at ${TS},
  payload String CODEC(ZSTD(3))
)
ENGINE = ReplacingMergeTree(seq)
ORDER BY group_id`,
    ],
  },
  {
    version: 3,
    name: 'insert deduplication window on every table: a repeated INSERT block is written once',
    // The server driver retries an INSERT whose answer was lost (timeout, reset): the server
    // may already have committed it. Replicated tables deduplicate repeated blocks by default;
    // plain MergeTree only with this window, and then by `insert_deduplication_token` (the
    // driver sends sha256(table, payload)) or else by the block's hash. ReplacingMergeTree
    // would collapse the copy at merge time anyway and every read is FINAL/argMax/LIMIT BY,
    // but a duplicate part still costs merges and skews raw counts until then. An identical
    // block is identical rows, so dropping it never changes what a reader sees.
    up: ({ db }) =>
      DEDUPLICATED_TABLES.map(
        (t) =>
          `ALTER TABLE ${tableRef(db, t)} MODIFY SETTING non_replicated_deduplication_window = ${DEDUPLICATION_WINDOW}`,
      ),
  },
  {
    version: 4,
    name: 'raw-data TTL counts from ingestion, not event time',
    // An event-time TTL dropped a backfill or replay of data older than the retention the
    // moment it was written (a silent loss of the raw events the audit and the exact
    // recompute read). Retention is about how long driftd keeps what it received.
    up: ({ db, rawEventsTtlDays }) =>
      rawEventsTtlDays > 0
        ? RAW_TABLES.map(
            (t) =>
              `ALTER TABLE ${tableRef(db, t)} MODIFY${ttlClause(TTL_COLUMN, rawEventsTtlDays)}`,
          )
        : [],
  },
  {
    version: 5,
    name: 'events.raw: the received event text, the features read from it',
    // The text of an event as received is the better audit record, and storing it costs the
    // ingest path nothing, where re-encoding the features cost as much as parsing the event.
    // Rows written before keep `raw` empty and their `features`; readers handle both.
    up: ({ db }) => [
      `ALTER TABLE ${tableRef(db, 'events')} ADD COLUMN IF NOT EXISTS raw String CODEC(ZSTD(1)) AFTER prediction`,
    ],
  },
  {
    version: 6,
    name: 'events: merge parts in wider steps (less rewriting of raw rows)',
    // Background merges rewrote every raw event about four times over its first hours: with
    // the default merge_selector_base (5) the engine spent ~22 µs of CPU per event on insert +
    // merges, with 30 ~11 µs (bench: 2 M and 4 M events of 20 features in 15 000-row inserts,
    // same bytes on disk). The price is more parts alive at once (23 after 4 M events instead
    // of a handful), which the time-range reads of a day partition do not notice.
    up: ({ db }) => [
      `ALTER TABLE ${tableRef(db, 'events')} MODIFY SETTING merge_selector_base = ${EVENTS_MERGE_SELECTOR_BASE}`,
    ],
  },
  {
    version: 7,
    name: 'events.ingest_seq, events.request_key: the HTTP input position and Idempotency-Key',
    // HTTP windows are checkpointed with an input position (src/ingest/checkpointer.ts): every
    // accepted HTTP event gets the next position, and after a crash the events above the
    // checkpoint's position are read back in position order and replayed into the windows.
    // The position joins the sorting key (ClickHouse allows appending a column added by the
    // same ALTER), so two HTTP events the windows counted never collapse into one row: the raw
    // rows hold exactly what the windows hold. Kafka and replay rows keep position 0 and their
    // dedup identity. `request_key` lets a restarted daemon recognise a retried request.
    // Both startup reads (events above a position, keys received since a time) skip whole
    // parts through minmax indices: a part holds one insert's positions and times, or a
    // merge of neighbouring ones.
    up: ({ db }) => [
      `ALTER TABLE ${tableRef(db, 'events')} ADD COLUMN IF NOT EXISTS ingest_seq UInt64 CODEC(Delta, ZSTD(1)), ADD COLUMN IF NOT EXISTS request_key String CODEC(ZSTD(1)), MODIFY ORDER BY (model, version, ts, id, source, kafka_topic, kafka_partition, kafka_offset, ingest_seq)`,
      `ALTER TABLE ${tableRef(db, 'events')} ADD INDEX IF NOT EXISTS idx_ingest_seq ingest_seq TYPE minmax GRANULARITY 1`,
      `ALTER TABLE ${tableRef(db, 'events')} ADD INDEX IF NOT EXISTS idx_ingested_at ingested_at TYPE minmax GRANULARITY 1`,
    ],
  },
  {
    version: 8,
    name: 'window_results.provisional: a quiet window’s result, replaced by its final one',
    // A stream quiet for the idle timeout gets results from its still-open windows; they must
    // say so, since the final result (later closed_at) replaces them once the window closes.
    up: ({ db }) => [
      `ALTER TABLE ${tableRef(db, 'window_results')} ADD COLUMN IF NOT EXISTS provisional UInt8 DEFAULT 0 AFTER dataset_drift`,
    ],
  },
  {
    version: 9,
    name: 'window_results: statistic_bound, bound_straddles_threshold, other_ratio',
    // Every sketched statistic carries its error bound, and a verdict whose bound straddles its
    // threshold says so. unseen_ratio now means "never seen in the baseline"; the share
    // outside the top-N gets its own column. Rows written before held that share under
    // unseen_ratio, so other_ratio defaults to it for them.
    up: ({ db }) => [
      `ALTER TABLE ${tableRef(db, 'window_results')} ADD COLUMN IF NOT EXISTS statistic_bound Nullable(Float64) CODEC(Gorilla, ZSTD(1)) AFTER ks_bound`,
      `ALTER TABLE ${tableRef(db, 'window_results')} ADD COLUMN IF NOT EXISTS bound_straddles_threshold UInt8 DEFAULT 0 AFTER statistic_bound`,
      `ALTER TABLE ${tableRef(db, 'window_results')} ADD COLUMN IF NOT EXISTS other_ratio Float64 DEFAULT unseen_ratio CODEC(Gorilla, ZSTD(1)) AFTER unseen_ratio`,
    ],
  },
  {
    version: 10,
    name: 'window_results: calibrated verdicts (rule, effect, effect floor) and the KS p-value of every numeric feature',
    // Rows written before it were judged by fixed thresholds: verdict_rule defaults to that.
    up: ({ db }) => [
      `ALTER TABLE ${tableRef(db, 'window_results')} ADD COLUMN IF NOT EXISTS ks_p_value Nullable(Float64) CODEC(Gorilla, ZSTD(1)) AFTER ks_bound`,
      `ALTER TABLE ${tableRef(db, 'window_results')} ADD COLUMN IF NOT EXISTS verdict_rule LowCardinality(String) DEFAULT 'threshold' AFTER ks_p_value`,
      `ALTER TABLE ${tableRef(db, 'window_results')} ADD COLUMN IF NOT EXISTS effect Float64 DEFAULT 0 CODEC(Gorilla, ZSTD(1)) AFTER verdict_rule`,
      `ALTER TABLE ${tableRef(db, 'window_results')} ADD COLUMN IF NOT EXISTS effect_floor Nullable(Float64) CODEC(Gorilla, ZSTD(1)) AFTER effect`,
    ],
  },
  {
    version: 11,
    name: 'window_results: the reference each window was compared with, and why a verdict is insufficient',
    // Every row names its reference (lineage): baseline, previous or rolling:N, the windows
    // summed and their events, and why the reference falls short. Rows written before it were
    // all compared with their baseline.
    up: ({ db }) => [
      `ALTER TABLE ${tableRef(db, 'window_results')} ADD COLUMN IF NOT EXISTS insufficient_reason LowCardinality(String) DEFAULT '' AFTER insufficient`,
      `ALTER TABLE ${tableRef(db, 'window_results')} ADD COLUMN IF NOT EXISTS reference LowCardinality(String) DEFAULT 'baseline' AFTER baseline_hash`,
      `ALTER TABLE ${tableRef(db, 'window_results')} ADD COLUMN IF NOT EXISTS reference_found UInt16 DEFAULT 0 AFTER reference`,
      `ALTER TABLE ${tableRef(db, 'window_results')} ADD COLUMN IF NOT EXISTS reference_start Nullable(${TS}) AFTER reference_found`,
      `ALTER TABLE ${tableRef(db, 'window_results')} ADD COLUMN IF NOT EXISTS reference_end Nullable(${TS}) AFTER reference_start`,
      `ALTER TABLE ${tableRef(db, 'window_results')} ADD COLUMN IF NOT EXISTS reference_event_count UInt64 DEFAULT 0 CODEC(T64, ZSTD(1)) AFTER reference_end`,
      `ALTER TABLE ${tableRef(db, 'window_results')} ADD COLUMN IF NOT EXISTS reference_note String DEFAULT '' CODEC(ZSTD(1)) AFTER reference_event_count`,
    ],
  },
  {
    version: 12,
    name: 'window_result_revisions: every window result ever written, with its reason, driftd version and config hash; window_results fed from it',
    // Rows written before keep '' for version and hash (unknown) and the reason 'migrated';
    // their written_at is their closed_at. Every stored row is copied, unmerged rewrites too.
    up: ({ db }) =>
      revisionsOf(db, 'window_results', 'window_result_revisions', {
        written: 'closed_at',
        after: 'closed_at',
        order: 'model, window, window_start, version, written_at, kind, feature',
        key: 'model, window, window_start, version, closed_at, kind, feature',
      }),
  },
  {
    version: 13,
    name: 'performance_revisions: every performance row ever written (late labels), with its reason, driftd version and config hash; performance fed from it',
    up: ({ db }) =>
      revisionsOf(db, 'performance', 'performance_revisions', {
        written: 'computed_at',
        after: 'computed_at',
        order: 'model, window, window_start, version, written_at',
        key: 'model, window, window_start, version, computed_at',
      }),
  },
  {
    version: 14,
    name: 'fairness_results: every fairness computation of a window, per protected attribute and group',
    // Fairness was computed from raw events and only exported as gauges: it vanished with the
    // raw TTL and a restart lost the gauges. Append-only (plain MergeTree): a window is
    // computed at its close and again when labels arrive, each computation is kept (audit) and
    // readers take the newest `written_at` of a window. Counts, rates and ratios are columns
    // (queryable); the full result (intervals, per-metric verdicts, the attribute's
    // equalised odds and demographic parity) is JSON beside them.
    up: ({ db }) => [
      `CREATE TABLE IF NOT EXISTS ${tableRef(db, 'fairness_results')}
(
  model LowCardinality(String),
  version LowCardinality(String),
  window LowCardinality(String),
  window_size_ms UInt64,
  window_start ${TS} CODEC(Delta, ZSTD(1)),
  window_end ${TS} CODEC(Delta, ZSTD(1)),
  attribute LowCardinality(String),
  protected_group String,
  reference LowCardinality(String),
  predictions UInt64,
  selected UInt64,
  tp UInt64,
  fp UInt64,
  fn UInt64,
  tn UInt64,
  selection_rate Nullable(Float64),
  true_positive_rate Nullable(Float64),
  false_positive_rate Nullable(Float64),
  selection_rate_ratio Nullable(Float64),
  true_positive_rate_ratio Nullable(Float64),
  false_positive_rate_ratio Nullable(Float64),
  verdict LowCardinality(String),
  disparity Nullable(UInt8),
  attribute_verdict LowCardinality(String),
  group_result String CODEC(ZSTD(1)),
  attribute_result String CODEC(ZSTD(1)),
  written_at ${TS} CODEC(Delta, ZSTD(1)),
  driftd_version LowCardinality(String),
  config_hash LowCardinality(String)
)
ENGINE = MergeTree
PARTITION BY toYYYYMM(window_start)
ORDER BY (model, window, window_start, version, attribute, protected_group, written_at)
SETTINGS non_replicated_deduplication_window = ${DEDUPLICATION_WINDOW}`,
    ],
  },
  {
    version: 15,
    name: 'window_results.segment: the results of each segment of a window beside the whole traffic',
    // '' (the type's default: no DEFAULT, which the key may not use) = the whole traffic, every
    // row written before. The segment is part of the key, or a
    // segment's row would replace the whole window's row of the same feature.
    up: ({ db }) => [
      `ALTER TABLE ${tableRef(db, 'window_results')} ADD COLUMN IF NOT EXISTS segment LowCardinality(String) AFTER version, MODIFY ORDER BY (model, window, window_start, version, kind, feature, segment)`,
      // The record the latest table is fed from (migration 12) carries it too, in its key.
      `ALTER TABLE ${tableRef(db, 'window_result_revisions')} ADD COLUMN IF NOT EXISTS segment LowCardinality(String) AFTER version, MODIFY ORDER BY (model, window, window_start, version, written_at, kind, feature, segment)`,
    ],
  },
  {
    version: 16,
    name: 'version_comparisons: champion/challenger comparisons per window, append-only',
    // A comparison is written when both versions' windows of a span closed, and again when
    // labels arrive: every write is a new row (plain MergeTree, no TTL), readers take the
    // newest per (pair, window) by written_at (src/store/comparison-sql.ts).
    up: ({ db }) => [createComparisonsTableSql(db)],
  },
  {
    version: 17,
    name: 'retrain_recommendations: one row per retrain episode transition (opened, closed)',
    // Append-only (src/window/retrain.ts): an episode is written when it opens and again when
    // it closes; readers take each episode's newest row (written_at). `evidence` is the
    // recommendation as JSON (its windows, features and estimates: why).
    up: ({ db }) => [
      `CREATE TABLE IF NOT EXISTS ${tableRef(db, 'retrain_recommendations')}
(
  model LowCardinality(String),
  version LowCardinality(String),
  episode_id String,
  status LowCardinality(String),
  window LowCardinality(String),
  triggers Array(LowCardinality(String)),
  opened_at ${TS},
  closed_at Nullable(${TS}),
  first_window_start ${TS},
  last_window_end ${TS},
  evidence String CODEC(ZSTD(3)),
  driftd_version LowCardinality(String),
  config_hash LowCardinality(String),
  written_at ${TS}
)
ENGINE = MergeTree
ORDER BY (model, version, episode_id, written_at)
SETTINGS non_replicated_deduplication_window = ${DEDUPLICATION_WINDOW}`,
    ],
  },
  {
    version: 18,
    name: 'raw-data and results TTL on the Date of the row: a DateTime TTL overflowed past 2106 and dropped rows at once',
    // Stores with a TTL get it again in the Date form (ttlClause); the reconciliation below
    // then follows any change of the configured days as before.
    up: ({ db, rawEventsTtlDays, resultsTtlDays }) => [
      ...(rawEventsTtlDays > 0
        ? RAW_TABLES.map(
            (t) =>
              `ALTER TABLE ${tableRef(db, t)} MODIFY${ttlClause(TTL_COLUMN, rawEventsTtlDays)}`,
          )
        : []),
      ...((resultsTtlDays ?? 0) > 0
        ? RESULT_TABLES_AT_18.map(
            (t) =>
              `ALTER TABLE ${tableRef(db, t)} MODIFY${ttlClause(RESULT_TTL_COLUMN, resultsTtlDays ?? 0)}`,
          )
        : []),
    ],
  },
  {
    version: 19,
    name: 'performance.segment: the performance of each segment of a window beside the whole traffic',
    // As migration 15 for window_results: '' (no DEFAULT, which the key may not use) = the
    // whole traffic, every row written before; in the key, or a segment's row would replace the
    // whole window's. The latest table first, then the record it is fed from.
    up: ({ db }) => [
      `ALTER TABLE ${tableRef(db, 'performance')} ADD COLUMN IF NOT EXISTS segment LowCardinality(String) AFTER version, MODIFY ORDER BY (model, window, window_start, version, segment)`,
      `ALTER TABLE ${tableRef(db, 'performance_revisions')} ADD COLUMN IF NOT EXISTS segment LowCardinality(String) AFTER version, MODIFY ORDER BY (model, window, window_start, version, written_at, segment)`,
    ],
  },
  {
    version: 20,
    name: 'window_partials: each lane’s part of a window (cluster mode), final or provisional',
    // Cluster mode (docs/scale-out.md): a lane (Kafka partition, an instance's HTTP input)
    // writes its window state here when it closes a window (final = 1), or a provisional copy
    // at an idle tick (final = 0). Insert-only; readers take per lane the final row, else the
    // newest provisional one (ORDER BY final DESC, written_at DESC … LIMIT 1 BY lane), never
    // relying on merges. `final` is in the key so a merge never lets a later provisional copy
    // replace the final row; a lane's rows of one kind collapse to the newest.
    up: ({ db, resultsTtlDays }) => [
      `CREATE TABLE IF NOT EXISTS ${tableRef(db, 'window_partials')}
(
  model LowCardinality(String),
  version LowCardinality(String),
  size_label LowCardinality(String),
  window_size_ms UInt64,
  window_start ${TS} CODEC(Delta, ZSTD(1)),
  window_end ${TS} CODEC(Delta, ZSTD(1)),
  lane LowCardinality(String),
  final UInt8,
  position String,
  baseline_id LowCardinality(String),
  events UInt64,
  state String CODEC(ZSTD(3)),
  instance LowCardinality(String),
  written_at ${TS} CODEC(Delta, ZSTD(1))
)
ENGINE = ReplacingMergeTree(written_at)
PARTITION BY toYYYYMM(window_start)
ORDER BY (model, version, size_label, window_start, lane, final)${ttlClause(RESULT_TTL_COLUMN, resultsTtlDays ?? 0)}
SETTINGS non_replicated_deduplication_window = ${DEDUPLICATION_WINDOW}`,
    ],
  },
  {
    version: 21,
    name: 'lane_progress: where each lane stands per model version (cluster mode), with each lane checkpoint',
    // The finaliser's input: the latest row per (lane, model, version) by seq, then
    // written_at (read with LIMIT 1 BY); the row of the lane as a whole has model = version
    // = ''. A new owner of a lane continues its seq, so the version column orders owners too.
    up: ({ db, resultsTtlDays }) => [
      `CREATE TABLE IF NOT EXISTS ${tableRef(db, 'lane_progress')}
(
  lane LowCardinality(String),
  model LowCardinality(String),
  version LowCardinality(String),
  watermark Nullable(${TS}),
  idle UInt8,
  retired UInt8,
  position String,
  seq UInt64,
  instance LowCardinality(String),
  written_at ${TS} CODEC(Delta, ZSTD(1))
)
ENGINE = ReplacingMergeTree(seq)
ORDER BY (lane, model, version)${ttlClause(RESULT_TTL_COLUMN, resultsTtlDays ?? 0)}
SETTINGS non_replicated_deduplication_window = ${DEDUPLICATION_WINDOW}`,
    ],
  },
  {
    version: 22,
    name: 'window_finalisations: one row per window finalised from its lanes’ partials (cluster mode)',
    // Written with insert_deduplication_token 'final:<window>' by whichever instance
    // finalises the window: the engine drops a second instance's INSERT (the dedup window
    // below), so there is one row per window. Plain MergeTree: nothing to replace.
    up: ({ db, resultsTtlDays }) => [
      `CREATE TABLE IF NOT EXISTS ${tableRef(db, 'window_finalisations')}
(
  model LowCardinality(String),
  version LowCardinality(String),
  size_label LowCardinality(String),
  window_size_ms UInt64,
  window_start ${TS} CODEC(Delta, ZSTD(1)),
  window_end ${TS} CODEC(Delta, ZSTD(1)),
  lanes Array(LowCardinality(String)),
  events UInt64,
  instance LowCardinality(String),
  written_at ${TS} CODEC(Delta, ZSTD(1)),
  delay_seconds Float64
)
ENGINE = MergeTree
PARTITION BY toYYYYMM(window_start)
ORDER BY (model, version, size_label, window_start)${ttlClause(RESULT_TTL_COLUMN, resultsTtlDays ?? 0)}
SETTINGS non_replicated_deduplication_window = ${FINALISATION_DEDUPLICATION_WINDOW}`,
    ],
  },
  {
    version: 23,
    name: 'results and performance remember 10 000 inserted blocks: a finalised window’s token outlives the inserts between two instances’ writes',
    // Two instances may finalise the same window; both INSERT its result with the token
    // 'final:<window>' (and deduplicate_blocks_in_dependent_materialized_views, so the view
    // of migration 12 drops the copy in the latest table too). A token is only remembered for
    // the table's last N blocks: 1000 (migration 3) is a few hours of windows of a large
    // deployment, 10 000 is days. Replicated tables (deploy/clickhouse/cluster.sql) have
    // their own replicated_deduplication_window.
    up: ({ db }) =>
      FINALISED_TABLES.map(
        (t) =>
          `ALTER TABLE ${tableRef(db, t)} MODIFY SETTING non_replicated_deduplication_window = ${FINALISATION_DEDUPLICATION_WINDOW}`,
      ),
  },
  {
    version: 24,
    name: 'events.lane: the lane (HTTP input of an instance) a raw event was counted in',
    // Cluster mode: every instance numbers its HTTP events from its own position (ingest_seq),
    // so the lane joins the sorting key (as segment did in migration 15) or two instances'
    // events of one id, time and position would collapse into one row; an instance replays
    // its own lane's events after a restart. '' (the type's default: no DEFAULT, which the key
    // may not use) for every other row and for every row written before.
    up: ({ db }) => [
      `ALTER TABLE ${tableRef(db, 'events')} ADD COLUMN IF NOT EXISTS lane LowCardinality(String), MODIFY ORDER BY (model, version, ts, id, source, kafka_topic, kafka_partition, kafka_offset, ingest_seq, lane)`,
    ],
  },
  {
    version: 25,
    name: 'window_finalisations.revision and a written_at index on window_partials: a finalised window is revised when a lane’s final partial brings events beyond what was merged',
    // Cluster mode: an event that reached an idle lane after its last progress row, for a
    // window finalised from the lane's provisional partial, reaches the store in the lane's
    // final partial; the finaliser finalises the window again (revision n, token
    // 'final:<window>#<n>', reason 'lane_late') and records it as the row of revision n. The
    // finalisers look for such windows among those with a final partial written recently:
    // the minmax index skips older parts. IF NOT EXISTS: re-runnable.
    up: ({ db }) => [
      `ALTER TABLE ${tableRef(db, 'window_finalisations')} ADD COLUMN IF NOT EXISTS revision UInt32 DEFAULT 0 AFTER window_end`,
      `ALTER TABLE ${tableRef(db, 'window_partials')} ADD INDEX IF NOT EXISTS written_at_minmax written_at TYPE minmax GRANULARITY 1`,
    ],
  },
];

function checkMigrations(migrations: readonly Migration[]): void {
  let last = 0;
  for (const m of migrations) {
    if (!Number.isInteger(m.version) || m.version <= last) {
      throw new InvalidInputError(
        `migration versions must be strictly increasing positive integers (${m.version} after ${last})`,
      );
    }
    last = m.version;
  }
}

function checkTtl(days: number, key = 'rawEventsTtlDays'): number {
  if (!Number.isInteger(days) || days < 0 || days > 36500) {
    throw new InvalidInputError(`${key} must be an integer in 0..36500, got ${days}`);
  }
  return days;
}

/** Results are evidence: kept forever (0) or at least as long as the raw data they came from. */
function checkResultsTtl(ctx: MigrationContext): number {
  const days = checkTtl(ctx.resultsTtlDays ?? 0, 'resultsTtlDays');
  if (days > 0 && (ctx.rawEventsTtlDays === 0 || days < ctx.rawEventsTtlDays)) {
    throw new InvalidInputError(
      `store.resultsTtlDays (${days}) must be 0 (keep forever) or at least store.rawEventsTtlDays (${ctx.rawEventsTtlDays === 0 ? '0, forever' : ctx.rawEventsTtlDays}): results may not expire before the raw data they came from`,
    );
  }
  return days;
}

/** Creates the database and the migrations table, applies pending migrations, reconciles the TTL. */
export async function runMigrations(
  exec: SqlExecutor,
  ctx: MigrationContext,
  migrations: readonly Migration[] = MIGRATIONS,
): Promise<MigrationReport> {
  const db = validateIdentifier(ctx.db, 'database');
  checkTtl(ctx.rawEventsTtlDays);
  checkResultsTtl(ctx);
  checkMigrations(migrations);

  await exec.command(`CREATE DATABASE IF NOT EXISTS \`${db}\``);
  await exec.command(`CREATE TABLE IF NOT EXISTS ${tableRef(db, 'schema_migrations')}
(
  version UInt32,
  name String,
  applied_at ${TS}
)
ENGINE = ReplacingMergeTree
ORDER BY version`);

  const recorded = async () => {
    const rows = await exec.query<{ version: number | string }>(
      `SELECT DISTINCT version FROM ${tableRef(db, 'schema_migrations')} ORDER BY version`,
    );
    return new Set(rows.map((r) => Number(r.version)));
  };
  const done = await recorded();
  const known = migrations.at(-1)?.version ?? 0;
  const newest = Math.max(0, ...done);
  if (newest > known) {
    // Never run an old build against a schema it does not know (e.g. after a rollback).
    throw new StoreError(
      `database ${db} is at schema version ${newest}, newer than this build knows (${known}); upgrade driftd`,
    );
  }

  const applied: AppliedMigration[] = [];
  const pending = migrations.filter((m) => !done.has(m.version));
  for (const [i, m] of pending.entries()) {
    // Instances of a cluster start together and migrate at once: one that fell behind must
    // not run a migration another already applied, since an old statement run again on a
    // newer schema can undo a later one (migration 7's sort key drops the lane of 24, which
    // ClickHouse can then never add back). So what is recorded is read again each time.
    if (i > 0 && (await recorded()).has(m.version)) continue;
    ctx.logger?.info({ version: m.version, name: m.name }, 'applying store migration');
    for (const statement of m.up(ctx)) await exec.command(statement);
    await exec.command(
      `INSERT INTO ${tableRef(db, 'schema_migrations')} (version, name, applied_at)
SELECT {version:UInt32}, {name:String}, now64(3, 'UTC')`,
      { version: m.version, name: m.name },
    );
    applied.push({ version: m.version, name: m.name });
  }

  // store_settings comes with version 1; a list without it (tests) has no TTL to reconcile.
  if (migrations.some((m) => m.version === 1)) await reconcileTtl(exec, ctx, !done.has(1));
  if (migrations.some((m) => m.version === 13)) await reconcileResultsTtl(exec, ctx);
  return { applied, version: Math.max(newest, known) };
}

/**
 * The raw-data TTL is configuration, not schema: when `rawEventsTtlDays` changes between
 * restarts, the tables' TTL is altered to match (and existing parts re-evaluated).
 */
async function reconcileTtl(
  exec: SqlExecutor,
  ctx: MigrationContext,
  created: boolean,
): Promise<void> {
  const settings = tableRef(ctx.db, 'store_settings');
  const want = String(ctx.rawEventsTtlDays);
  if (!created) {
    const rows = await exec.query<{ value: string }>(
      `SELECT argMax(value, updated_at) AS value FROM ${settings} WHERE key = {key:String} GROUP BY key`,
      { key: TTL_SETTING_KEY },
    );
    const have = rows[0]?.value;
    if (have === want) return;
    ctx.logger?.info(
      { from: have ?? null, to: ctx.rawEventsTtlDays },
      'raw data TTL changed: altering events and labels',
    );
    for (const table of RAW_TABLES) {
      if (ctx.rawEventsTtlDays > 0) {
        await exec.command(
          `ALTER TABLE ${tableRef(ctx.db, table)} MODIFY${ttlClause(TTL_COLUMN, ctx.rawEventsTtlDays)}`,
        );
      } else if (have !== undefined && have !== '0') {
        await exec.command(`ALTER TABLE ${tableRef(ctx.db, table)} REMOVE TTL`);
      }
    }
  }
  await recordSetting(exec, ctx.db, TTL_SETTING_KEY, want);
}

/**
 * The results TTL (`store.resultsTtlDays`) is configuration like the raw one: reconciled at
 * every start against what store_settings records, on every table of RESULT_TABLES, counted
 * from written_at. Baselines have none: they never expire.
 */
async function reconcileResultsTtl(exec: SqlExecutor, ctx: MigrationContext): Promise<void> {
  const settings = tableRef(ctx.db, 'store_settings');
  const days = ctx.resultsTtlDays ?? 0;
  const want = String(days);
  const rows = await exec.query<{ value: string }>(
    `SELECT argMax(value, updated_at) AS value FROM ${settings} WHERE key = {key:String} GROUP BY key`,
    { key: RESULTS_TTL_SETTING_KEY },
  );
  const have = rows[0]?.value;
  if (have === want || (have === undefined && days === 0)) {
    if (have === undefined) await recordSetting(exec, ctx.db, RESULTS_TTL_SETTING_KEY, want);
    return;
  }
  ctx.logger?.info({ from: have ?? null, to: days }, 'results TTL changed: altering result tables');
  for (const table of RESULT_TABLES) {
    if (days > 0) {
      await exec.command(
        `ALTER TABLE ${tableRef(ctx.db, table)} MODIFY${ttlClause(RESULT_TTL_COLUMN, days)}`,
      );
    } else if (have !== undefined && have !== '0') {
      await exec.command(`ALTER TABLE ${tableRef(ctx.db, table)} REMOVE TTL`);
    }
  }
  await recordSetting(exec, ctx.db, RESULTS_TTL_SETTING_KEY, want);
}

async function recordSetting(
  exec: SqlExecutor,
  db: string,
  key: string,
  value: string,
): Promise<void> {
  const row = new JsonLinesWriter();
  row.push(JSON.stringify({ key, value, updated_at: formatDateTime64(Date.now()) }));
  await exec.insertJsonEachRow(insertTarget(db, 'store_settings'), row.finish());
}
