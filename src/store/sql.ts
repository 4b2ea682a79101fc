/**
 * Every statement the store runs after migrations, and the JSONEachRow encoding of every row
 * it writes. Both drivers execute exactly this text. Values only ever travel as server-side
 * `{name:Type}` parameters or inside JSONEachRow payloads; the only identifier spliced into
 * SQL is the database name, validated by `validateIdentifier` and backquoted.
 *
 * Timestamps cross the boundary as epoch-ms Int64 (`fromUnixTimestamp64Milli` in,
 * `toUnixTimestamp64Milli(x) AS x_ms` out: never alias to the column's own name, ClickHouse
 * aliases are visible in WHERE and would silently replace the column there) and as 'YYYY-MM-DD hh:mm:ss.fff' UTC text in payloads: both
 * parse identically under every `date_time_input_format`.
 */
import { GrowableBuffer } from '../bytes.js';
import { InvalidInputError } from '../errors.js';
import { isStorableTime } from '../limits.js';
import type { FairnessGroupResult } from '../stats/fairness.js';
import type {
  BaselineProfile,
  EventSource,
  FeatureDrift,
  LabelEvent,
  PerformanceResult,
  ResultLineage,
  WindowResult,
} from '../types.js';
import { groupDisparity } from '../window/fairness.js';
import { referenceName } from '../window/reference.js';
import type {
  FairnessWindowResult,
  RowBinaryColumn,
  StoredCheckpoint,
  StoredEvent,
} from './types.js';

const IDENTIFIER_RE = /^[A-Za-z_][A-Za-z0-9_]{0,62}$/;

/** Database names are the only identifiers taken from configuration. */
export function validateIdentifier(name: string, what: string): string {
  if (!IDENTIFIER_RE.test(name)) {
    throw new InvalidInputError(
      `${what} ${JSON.stringify(name)} is not a valid identifier (letters, digits, _; not starting with a digit; at most 63 chars)`,
    );
  }
  return name;
}

export const TABLES = [
  'schema_migrations',
  'store_settings',
  'events',
  'labels',
  'baselines',
  'window_results',
  'performance',
  'checkpoints',
  'fairness_results',
  'retrain_recommendations',
  'window_result_revisions',
  'performance_revisions',
  'version_comparisons',
  'window_partials',
  'lane_progress',
  'window_finalisations',
] as const;
export type TableName = (typeof TABLES)[number];

/** `db`.`table` for SQL text. */
export function tableRef(db: string, table: TableName): string {
  return `\`${db}\`.\`${table}\``;
}

/** db.table for an insert target (both identifiers validated, so no quoting needed). */
export function insertTarget(db: string, table: TableName): string {
  return `${db}.${table}`;
}

/** A ClickHouse string literal. */
export function sqlString(v: string): string {
  return `'${v.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;
}

const SETTING_RE = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** ` SETTINGS k = v, …` for statement text (names checked, values literals), or ''. */
export function settingsClause(
  settings: Readonly<Record<string, string | number>> | undefined,
): string {
  const entries = Object.entries(settings ?? {});
  if (entries.length === 0) return '';
  return ` SETTINGS ${entries
    .map(([k, v]) => {
      if (!SETTING_RE.test(k))
        throw new InvalidInputError(`invalid setting name ${JSON.stringify(k)}`);
      if (typeof v === 'number' && !Number.isFinite(v)) {
        throw new InvalidInputError(`setting ${k} must be finite, got ${v}`);
      }
      return `${k} = ${typeof v === 'number' ? String(v) : sqlString(v)}`;
    })
    .join(', ')}`;
}

/**
 * The embedded engine takes text formats only as inline INSERT data; a RowBinary payload is
 * spooled to `file` and read back with the `file` table function (see chdb.ts).
 */
export function rowBinaryFileInsertSql(
  table: string,
  columns: readonly RowBinaryColumn[],
  file: string,
  settings?: Readonly<Record<string, string | number>>,
): string {
  const names = columns.map((c) => c.name).join(', ');
  const structure = columns.map((c) => `${c.name} ${c.type}`).join(', ');
  return `INSERT INTO ${table} (${names}) SELECT * FROM file(${sqlString(file)}, 'RowBinary', ${sqlString(structure)})${settingsClause(settings)}`;
}

/**
 * Appended to every read so both drivers return the same JSON: 64-bit integers as strings
 * (never rounded by JSON.parse) and NaN/±Inf as "nan"/"inf"/"-inf" rather than null.
 */
export const READ_SETTINGS =
  'SETTINGS output_format_json_quote_64bit_integers = 1, output_format_json_quote_denormals = 1';

/** A replay batch can span many days (daily partitions); the default of 100 would fail it. */
const MAX_PARTITIONS_PER_INSERT = 1000;

/**
 * Settings for every JSONEachRow insert. Object-valued fields (features, profiles) are sent
 * as JSON objects and stored verbatim as String: one JSON.stringify instead of two, and no
 * escaping of the largest field.
 */
export const INSERT_SETTINGS: Readonly<Record<string, string | number>> = {
  input_format_json_read_objects_as_strings: 1,
  date_time_input_format: 'basic',
  max_partitions_per_insert_block: MAX_PARTITIONS_PER_INSERT,
};

/**
 * Raw events go in as RowBinary (see `RowBinaryWriter`): this column list, in this order, with
 * the table's own types. ClickHouse parses JSONEachRow at several times the cost per byte, and
 * events are most of what driftd writes.
 */
export const EVENT_ROW_BINARY_COLUMNS: readonly RowBinaryColumn[] = [
  { name: 'model', type: 'LowCardinality(String)' },
  { name: 'version', type: 'LowCardinality(String)' },
  { name: 'id', type: 'String' },
  { name: 'ts', type: "DateTime64(3, 'UTC')" },
  { name: 'features', type: 'String' },
  { name: 'prediction', type: 'String' },
  { name: 'raw', type: 'String' },
  { name: 'late', type: 'UInt8' },
  { name: 'source', type: 'LowCardinality(String)' },
  { name: 'kafka_topic', type: 'LowCardinality(String)' },
  { name: 'kafka_partition', type: 'Int32' },
  { name: 'kafka_offset', type: 'Int64' },
  { name: 'replay_file', type: 'LowCardinality(String)' },
  { name: 'replay_line', type: 'UInt64' },
  { name: 'ingested_at', type: "DateTime64(3, 'UTC')" },
  { name: 'ingest_seq', type: 'UInt64' },
  { name: 'request_key', type: 'String' },
  { name: 'lane', type: 'LowCardinality(String)' },
];

/**
 * The partition allowance of every insert, and one thread per insert: a RowBinary insert of a
 * few MB is sequential work, and the extra pipeline threads only cost coordination (embedded
 * engine, 2 M events in 10 000-row inserts: ~13.4 µs of CPU per event with the defaults, ~11 µs
 * with one thread).
 */
export const EVENT_INSERT_SETTINGS: Readonly<Record<string, number>> = {
  max_partitions_per_insert_block: MAX_PARTITIONS_PER_INSERT,
  max_threads: 1,
  max_insert_threads: 1,
};

const from = "fromUnixTimestamp64Milli({from:Int64}, 'UTC')";
const to = "fromUnixTimestamp64Milli({to:Int64}, 'UTC')";

// ---------------------------------------------------------------------------------------------
// Statements

export function pingSql(): string {
  return `SELECT 1 AS ok ${READ_SETTINGS}`;
}

/**
 * The features JSON of an `events` row in SQL: from the received text when the row has one
 * (migration 5), else the re-encoded column.
 */
const EVENT_FEATURES = "if(raw = '', features, JSONExtractRaw(raw, 'features'))";

const EVENT_COLUMNS = `model, version, id, toUnixTimestamp64Milli(ts) AS ts_ms, features, prediction, raw, late,
  source, kafka_topic, kafka_partition, toString(kafka_offset) AS kafka_offset, replay_file,
  replay_line, toUnixTimestamp64Milli(ingested_at) AS ingested_at_ms, ingest_seq, request_key, lane`;

export interface EventRow {
  model: string;
  version: string;
  id: string;
  ts_ms: string | number;
  features: string;
  prediction: string;
  /** The received event text; '' when the row was re-encoded (then `features` holds them). */
  raw: string;
  late: number;
  source: string;
  kafka_topic: string;
  kafka_partition: number;
  kafka_offset: string;
  replay_file: string;
  replay_line: number | string;
  ingested_at_ms: string | number;
  ingest_seq: string | number;
  request_key: string;
  /** The lane the event was counted in (cluster mode's HTTP input: `http:<instance>`); '' else. */
  lane: string;
}

/** Params: id, [model]. The newest copy wins when one id was stored through several sources. */
export function predictionByIdSql(db: string, withModel: boolean): string {
  return `SELECT ${EVENT_COLUMNS}
FROM ${tableRef(db, 'events')}
WHERE id = {id:String}${withModel ? ' AND model = {model:String}' : ''}
ORDER BY ingested_at DESC
LIMIT 1
${READ_SETTINGS}`;
}

/** Params: model, version, from, to, [limit]. One row per id (copies from several sources collapse). */
export function windowEventsSql(db: string, withLimit: boolean): string {
  return `SELECT ${EVENT_COLUMNS}
FROM ${tableRef(db, 'events')}
WHERE model = {model:String} AND version = {version:String} AND ts >= ${from} AND ts < ${to}
ORDER BY ts, id, ingested_at DESC
LIMIT 1 BY id${withLimit ? '\nLIMIT {limit:UInt64}' : ''}
${READ_SETTINGS}`;
}

/**
 * Params: after, limit, lane. HTTP events of one lane ('' outside cluster mode) above an
 * ingest position, in position order. A position is one event of its lane: copies of a row (a
 * retried INSERT) collapse with LIMIT 1 BY.
 */
export function httpEventsAfterSql(db: string): string {
  return `SELECT ${EVENT_COLUMNS}
FROM ${tableRef(db, 'events')}
WHERE source = 'http' AND lane = {lane:String} AND ingest_seq > {after:UInt64}
ORDER BY ingest_seq
LIMIT 1 BY ingest_seq
LIMIT {limit:UInt64}
${READ_SETTINGS}`;
}

/** Params: since, limit. Idempotency keys of recent HTTP requests. */
export function recentRequestKeysSql(db: string): string {
  return `SELECT DISTINCT request_key AS key
FROM ${tableRef(db, 'events')}
WHERE source = 'http' AND request_key != '' AND ingested_at >= fromUnixTimestamp64Milli({since:Int64}, 'UTC')
LIMIT {limit:UInt64}
${READ_SETTINGS}`;
}

export interface ExactKsRow {
  n: string | number;
  m: string | number;
  late_events: string | number;
  statistic: number | string | null;
  p_value: number | string | null;
}

/**
 * Params: model, version, from, to, feature, reference (Array(Float64)). The exact two-sample
 * KS of the reference against the feature's values in the raw events of `[from, to)`, computed
 * by ClickHouse's `kolmogorovSmirnovTest('two-sided')` (p-value method 'auto': exact while
 * max(n, m) ≤ 10 000, asymptotic above).
 *
 * The window side is what the streaming sketch saw: one value per id (copies from several
 * sources or redeliveries collapse, the newest copy's features win), events on time for at
 * least one copy (`min(late) = 0`), and only JSON numbers (null, absent and non-numeric values
 * are missing, as in the sketch). The aggregate runs through `arrayReduce` so that an empty
 * side yields NULL instead of the aggregate's BAD_ARGUMENTS, and the result is two plain
 * Nullable(Float64) columns (servers before 24.x refuse Nullable(Tuple)).
 */
export function exactKsSql(db: string): string {
  return `SELECT
  length({reference:Array(Float64)}) AS n,
  length(current) AS m,
  late_events,
  n = 0 OR m = 0 AS empty,
  arrayReduce('kolmogorovSmirnovTest(\\'two-sided\\')',
    if(empty, [0., 0.], arrayConcat({reference:Array(Float64)}, current)),
    if(empty, [0, 1], arrayConcat(arrayWithConstant(n, 0), arrayWithConstant(m, 1)))) AS ks,
  if(empty, NULL, tupleElement(ks, 1)) AS statistic,
  if(empty, NULL, tupleElement(ks, 2)) AS p_value
FROM
(
  SELECT
    groupArrayIf(JSONExtractFloat(newest_features, {feature:String}),
      on_time AND JSONType(newest_features, {feature:String}) IN ('Int64', 'UInt64', 'Double')) AS current,
    countIf(NOT on_time) AS late_events
  FROM
  (
    SELECT id, argMax(${EVENT_FEATURES}, ingested_at) AS newest_features, min(late) = 0 AS on_time
    FROM ${tableRef(db, 'events')}
    WHERE model = {model:String} AND version = {version:String} AND ts >= ${from} AND ts < ${to}
    GROUP BY id
  )
)
${READ_SETTINGS}`;
}

/** Params: model, ids. */
export function predictionTimesSql(db: string): string {
  return `SELECT id, version, toUnixTimestamp64Milli(min(ts)) AS ts_ms
FROM ${tableRef(db, 'events')}
WHERE model = {model:String} AND id IN {ids:Array(String)}
GROUP BY id, version
ORDER BY id, version
${READ_SETTINGS}`;
}

export interface LabelRow {
  model: string;
  id: string;
  ts_ms: string | number;
  label: string;
}

/** Params: model, id. */
/** Params: model, id. Rows of one prediction (or its labels) in a raw table, copies included. */
export function countByIdSql(db: string, table: 'events' | 'labels'): string {
  return `SELECT count() AS n FROM ${tableRef(db, table)} WHERE model = {model:String} AND id = {id:String}
${READ_SETTINGS}`;
}

/**
 * Params: model, id. A lightweight DELETE: the rows disappear from every read at once and
 * are dropped from disk when their parts next merge. Synchronous (the statement returns once
 * the rows are masked on every replica). ClickHouse deletes nothing through a Distributed
 * table: on a cluster (deploy/clickhouse/cluster.sql) the statement goes to the local tables
 * of every node.
 */
export function eraseByIdSql(db: string, table: 'events' | 'labels', onCluster = false): string {
  const target = onCluster
    ? `\`${db}\`.\`${table}_local\` ON CLUSTER '{cluster}'`
    : tableRef(db, table);
  return `DELETE FROM ${target} WHERE model = {model:String} AND id = {id:String}
SETTINGS lightweight_deletes_sync = 2`;
}

/** Params: db, table. The engine of a table (`Distributed` on a cluster schema). */
export const tableEngineSql = `SELECT engine FROM system.tables WHERE database = {db:String} AND name = {table:String}
${READ_SETTINGS}`;

export function labelByIdSql(db: string): string {
  return `SELECT model, id, toUnixTimestamp64Milli(ts) AS ts_ms, label
FROM ${tableRef(db, 'labels')}
WHERE model = {model:String} AND id = {id:String}
ORDER BY ingested_at DESC
LIMIT 1
${READ_SETTINGS}`;
}

export interface LabeledPredictionRow {
  id: string;
  ts_ms: string | number;
  prediction: string;
  label: string;
  /** Per segment field asked for, its stored value (raw JSON, '' when absent). */
  segment_values?: string[];
}

/**
 * Params: model, version, from, to, [fields] (segment fields whose stored values come along,
 * one query for the whole traffic and every segment). Labels are pre-filtered to the ids of
 * the range so the join's hash table stays the size of the range, not of the model's whole
 * label history.
 */
export function labeledPredictionsSql(db: string, withSegments = false): string {
  const inRange = `model = {model:String} AND version = {version:String} AND ts >= ${from} AND ts < ${to}`;
  // Only the fields' values come along, not the events' whole features.
  const segments = withSegments
    ? `,
    argMax(arrayMap(f -> JSONExtractRaw(${EVENT_FEATURES}, f), {fields:Array(String)}), ingested_at) AS segment_values`
    : '';
  return `SELECT e.id AS id, e.ts_ms AS ts_ms, e.prediction AS prediction, l.label AS label${
    withSegments ? ', e.segment_values AS segment_values' : ''
  }
FROM
(
  SELECT id, toUnixTimestamp64Milli(min(ts)) AS ts_ms, argMax(prediction, ingested_at) AS prediction${segments}
  FROM ${tableRef(db, 'events')}
  WHERE ${inRange}
  GROUP BY id
) AS e
INNER JOIN
(
  SELECT id, argMax(label, ingested_at) AS label
  FROM ${tableRef(db, 'labels')}
  WHERE model = {model:String} AND id IN (SELECT id FROM ${tableRef(db, 'events')} WHERE ${inRange})
  GROUP BY id
) AS l ON e.id = l.id
ORDER BY ts_ms, id
${READ_SETTINGS}`;
}

export interface FairnessRowSql {
  /** The group: a declared category, a band index (numeric), 'other' or 'missing'. */
  grp: string;
  /** 1 selected, 0 not, -1 neither a probability nor a class (not counted). */
  selected: number;
  /** 1 the positive class, 0 another, -1 unlabelled. */
  positive: number;
  n: string | number;
}

const NUMBER_TYPES = "('Int64', 'UInt64', 'Double')";

/**
 * The group of a stored protected-attribute value `v` (raw JSON; '' when absent), as
 * `createGroupAssigner` (src/stats/fairness-groups.ts) gives it, so that rows are per group:
 * categorical: a declared string, boolean or (canonically written) number, else 'other';
 * numeric: the band index, the number of edges ≤ v. Params: groups and numbers (categorical;
 * the groups JavaScript writes as numbers) or edges (numeric), numbers as their JavaScript
 * strings (the engine's binder refuses integers beyond 2^53).
 */
function groupSql(kind: 'categorical' | 'numeric', v: string): string {
  const missing = `${v} = '' OR JSONType(${v}) = 'Null'`;
  if (kind === 'numeric') {
    return `multiIf(${missing}, 'missing',
      JSONType(${v}) IN ${NUMBER_TYPES},
        toString(arrayCount(e -> toFloat64(e) <= JSONExtractFloat(${v}), {edges:Array(String)})),
      'other')`;
  }
  return `multiIf(${missing}, 'missing',
      JSONType(${v}) = 'String',
        if(has({groups:Array(String)}, JSONExtractString(${v})), JSONExtractString(${v}), 'other'),
      JSONType(${v}) = 'Bool', if(has({groups:Array(String)}, ${v}), ${v}, 'other'),
      JSONType(${v}) IN ${NUMBER_TYPES},
        if(has(arrayMap(x -> toFloat64(x), {numbers:Array(String)}), JSONExtractFloat(${v})),
          {numbers:Array(String)}[indexOf(arrayMap(x -> toFloat64(x), {numbers:Array(String)}), JSONExtractFloat(${v}))],
          'other'),
      'other')`;
}

/**
 * Params: model, version, from, to, field, threshold, positive, limit, and those of
 * `groupSql`. The stored predictions of one model version in `[from, to)` (newest copy per
 * id, late ones included) with their newest label, counted per (group of the feature `field`,
 * selected, label positive): the input of a fairness recompute (src/window/fairness.ts). The
 * group, `selected` and `positive` push down the rules of `createGroupAssigner`, `toScore`
 * and `computePerformance`, so that the rows are at most groups × 3 × 3 whatever the events
 * hold; test/integration/store/fairness-rows.test.ts holds the two implementations equal.
 */
export function fairnessRowsSql(db: string, kind: 'categorical' | 'numeric'): string {
  const inRange = `model = {model:String} AND version = {version:String} AND ts >= ${from} AND ts < ${to}`;
  return `SELECT e.grp AS grp, e.selected AS selected,
  multiIf(l.label = '', -1,
    if(JSONType(l.label) = 'String', JSONExtractString(l.label), l.label) = {positive:String}, 1, 0)
    AS positive,
  count() AS n
FROM
(
  SELECT id, JSONExtractRaw(argMax(${EVENT_FEATURES}, ingested_at), {field:String}) AS value,
    ${groupSql(kind, 'value')} AS grp,
    argMax(prediction, ingested_at) AS p,
    JSONExtractFloat(p) AS score,
    multiIf(
      JSONType(p) IN ${NUMBER_TYPES},
        if(score >= 0 AND score <= 1, toInt8(score >= {threshold:Float64}), -1),
      JSONType(p) = 'String',
        toInt8(if(JSONExtractString(p) = {positive:String}, 1., 0.) >= {threshold:Float64}),
      JSONType(p) = 'Bool', toInt8(if(p = {positive:String}, 1., 0.) >= {threshold:Float64}),
      -1) AS selected
  FROM ${tableRef(db, 'events')}
  WHERE ${inRange}
  GROUP BY id
) AS e
LEFT JOIN
(
  SELECT id, argMax(label, ingested_at) AS label
  FROM ${tableRef(db, 'labels')}
  WHERE model = {model:String} AND id IN (SELECT id FROM ${tableRef(db, 'events')} WHERE ${inRange})
  GROUP BY id
) AS l ON e.id = l.id
GROUP BY grp, selected, positive
ORDER BY grp, selected, positive
LIMIT {limit:UInt64}
SETTINGS join_use_nulls = 0, output_format_json_quote_64bit_integers = 1, output_format_json_quote_denormals = 1`;
}

/** Params: model. Whether the model has any label at all (one row or none). */
export function anyLabelSql(db: string): string {
  return `SELECT 1 AS found FROM ${tableRef(db, 'labels')} WHERE model = {model:String} LIMIT 1 ${READ_SETTINGS}`;
}

/** Params: id. */
export function baselineExistsSql(db: string): string {
  return `SELECT count() AS n FROM ${tableRef(db, 'baselines')} WHERE id = {id:String} ${READ_SETTINGS}`;
}

/** Params: id. */
export function baselineProfileSql(db: string): string {
  return `SELECT profile FROM ${tableRef(db, 'baselines')} WHERE id = {id:String}
ORDER BY created_at
LIMIT 1
${READ_SETTINGS}`;
}

export interface BaselineSummaryRow {
  id: string;
  hash: string;
  model: string;
  version: string;
  created_at_ms: string | number;
  source: string;
  row_count: string | number;
  bad_rows: string | number;
  params: string;
  feature_names: string[];
}

/** Params: [model]. */
export function listBaselinesSql(db: string, withModel: boolean): string {
  return `SELECT id, hash, model, version, toUnixTimestamp64Milli(created_at) AS created_at_ms, source,
  row_count, bad_rows, params, feature_names
FROM ${tableRef(db, 'baselines')} FINAL
${withModel ? 'WHERE model = {model:String}\n' : ''}ORDER BY model, version, created_at DESC, id
${READ_SETTINGS}`;
}

/** Params: model, version. Prefers the exact version, then the newest of any version. */
export function latestBaselineIdSql(db: string): string {
  return `SELECT id FROM ${tableRef(db, 'baselines')}
WHERE model = {model:String}
ORDER BY version = {version:String} DESC, created_at DESC, id DESC
LIMIT 1
${READ_SETTINGS}`;
}

/** Row kinds of `window_results`: one `dataset` row per window, then its feature and prediction rows. */
export type WindowRowKind = 'dataset' | 'feature' | 'prediction';

export interface WindowResultRow {
  model: string;
  version: string;
  /** '' for the whole traffic, else "<field>=<value>" (migration 15). */
  segment: string;
  window: string;
  window_size_ms: string | number;
  window_start_ms: string | number;
  window_end_ms: string | number;
  kind: WindowRowKind;
  feature: string;
  feature_type: string;
  test: string;
  statistic: number | string;
  p_value: number | string | null;
  adjusted_p_value: number | string | null;
  threshold: number | string;
  drifted: number;
  psi: number | string;
  ks_statistic: number | string | null;
  ks_bound: number | string | null;
  ks_p_value: number | string | null;
  verdict_rule: string;
  effect: number | string;
  effect_floor: number | string | null;
  statistic_bound: number | string | null;
  bound_straddles_threshold: number;
  count: string | number;
  missing_ratio: number | string;
  out_of_range_ratio: number | string;
  unseen_ratio: number | string;
  other_ratio: number | string;
  insufficient: number;
  /** '' when there is a verdict, or on rows from before migration 11. */
  insufficient_reason: string;
  /** JSON FeatureHistogram, '' when the result carried none. */
  histogram: string;
  baseline_id: string;
  baseline_hash: string;
  /** "baseline", "previous" or "rolling:N". */
  reference: string;
  reference_found: number | string;
  reference_start_ms: string | number | null;
  reference_end_ms: string | number | null;
  reference_event_count: string | number;
  reference_note: string;
  event_count: string | number;
  late_count: string | number;
  drift_share: number | string;
  dataset_drift: number;
  provisional: number;
  closed_at_ms: string | number;
  driftd_version: string;
  config_hash: string;
  revision_reason: string;
  written_at_ms: string | number;
}

const WINDOW_RESULT_COLUMNS = `model, version, segment, window, window_size_ms,
  toUnixTimestamp64Milli(window_start) AS window_start_ms, toUnixTimestamp64Milli(window_end) AS window_end_ms,
  kind, feature, feature_type, test, statistic, p_value, adjusted_p_value, threshold, drifted, psi,
  ks_statistic, ks_bound, ks_p_value, verdict_rule, effect, effect_floor, statistic_bound,
  bound_straddles_threshold, count, missing_ratio, out_of_range_ratio, unseen_ratio, other_ratio,
  insufficient, insufficient_reason,
  histogram, baseline_id, baseline_hash, reference, reference_found,
  toUnixTimestamp64Milli(reference_start) AS reference_start_ms,
  toUnixTimestamp64Milli(reference_end) AS reference_end_ms, reference_event_count, reference_note,
  event_count, late_count, drift_share, dataset_drift,
  provisional, toUnixTimestamp64Milli(closed_at) AS closed_at_ms,
  driftd_version, config_hash, revision_reason, toUnixTimestamp64Milli(written_at) AS written_at_ms`;

export interface WindowResultsFilter {
  /** By `[from, to)` overlap (params from, to) or one exact window (params version, window, start). */
  by: 'range' | 'window';
  window?: boolean;
  version?: boolean;
  feature?: boolean;
  /**
   * Absent: the whole traffic's results only; 'one': the segment of param segment; 'all':
   * every segment's (never the whole traffic's).
   */
  segment?: 'one' | 'all';
}

/** Whole-traffic results only: every reader of window_results that is not about segments. */
const WHOLE = "segment = ''";

/** The `segment` condition of a result read: whole traffic (absent), one segment, or all. */
function segmentFilter(segment: 'one' | 'all' | undefined): string {
  return segment === 'one'
    ? 'segment = {segment:String}'
    : segment === 'all'
      ? "segment != ''"
      : WHOLE;
}
/** One revision per window and segment (see windowResultsSql). */
const REVISION = 'max(closed_at) OVER (PARTITION BY version, window, window_start, segment)';

/**
 * Rows of whole windows. A rewrite of a window carries a newer `closed_at`; FINAL collapses a
 * row with its own rewrite, and the `revision` filter drops rows that the newest revision no
 * longer has (a feature removed from the model), so a reader only ever sees one revision.
 */
export function windowResultsSql(db: string, f: WindowResultsFilter): string {
  const where = ['model = {model:String}'];
  if (f.by === 'range') {
    where.push(`window_start < ${to}`, `window_end > ${from}`);
    if (f.window) where.push('window = {window:String}');
    if (f.version) where.push('version = {version:String}');
  } else {
    where.push(
      'window = {window:String}',
      "window_start = fromUnixTimestamp64Milli({start:Int64}, 'UTC')",
      'version = {version:String}',
    );
  }
  if (f.feature) where.push("(kind != 'feature' OR feature = {feature:String})");
  where.push(segmentFilter(f.segment));
  return `SELECT ${WINDOW_RESULT_COLUMNS}
FROM
(
  SELECT *, ${REVISION} AS revision
  FROM ${tableRef(db, 'window_results')} FINAL
  WHERE ${where.join('\n    AND ')}
)
WHERE closed_at = revision
ORDER BY window_start, window, version, segment, kind, feature
${READ_SETTINGS}`;
}

export interface WindowKeyRow {
  version: string;
  window: string;
  window_start_ms: string | number;
}

/** Params: model, [window], [version]. */
export function latestWindowKeySql(db: string, withWindow: boolean, withVersion: boolean): string {
  return `SELECT version, window, toUnixTimestamp64Milli(window_start) AS window_start_ms
FROM ${tableRef(db, 'window_results')}
WHERE model = {model:String} AND kind = 'dataset' AND ${WHOLE}${withWindow ? ' AND window = {window:String}' : ''}${
    withVersion ? ' AND version = {version:String}' : ''
  }
ORDER BY window_end DESC, closed_at DESC
LIMIT 1
${READ_SETTINGS}`;
}

export interface PerformanceRow {
  model: string;
  version: string;
  segment: string;
  window: string;
  window_size_ms: string | number;
  window_start_ms: string | number;
  window_end_ms: string | number;
  labeled: string | number;
  coverage: number | string;
  metrics: Record<string, number | string>;
  computed_at_ms: string | number;
  driftd_version: string;
  config_hash: string;
  revision_reason: string;
  written_at_ms: string | number;
}

const PERFORMANCE_LINEAGE = `driftd_version, config_hash, revision_reason,
  toUnixTimestamp64Milli(written_at) AS written_at_ms`;

/**
 * Params: model, from, to, [window], [version], [segment]. Segment absent: the whole
 * traffic's rows only (every reader that is not about segments); 'one': param segment's;
 * 'all': every segment's (never the whole traffic's).
 */
export function performanceSql(
  db: string,
  withWindow: boolean,
  withVersion: boolean,
  segment?: 'one' | 'all',
): string {
  return `SELECT model, version, segment, window, window_size_ms,
  toUnixTimestamp64Milli(window_start) AS window_start_ms, toUnixTimestamp64Milli(window_end) AS window_end_ms,
  labeled, coverage, metrics, toUnixTimestamp64Milli(computed_at) AS computed_at_ms,
  ${PERFORMANCE_LINEAGE}
FROM ${tableRef(db, 'performance')} FINAL
WHERE model = {model:String} AND window_start < ${to} AND window_end > ${from}${
    withWindow ? ' AND window = {window:String}' : ''
  }${withVersion ? ' AND version = {version:String}' : ''} AND ${segmentFilter(segment)}
ORDER BY window_start, window, version, segment
${READ_SETTINGS}`;
}

/**
 * Every revision of one window (params model, window, start, [version]), oldest first, from
 * the append-only record: rows as `windowResultsSql`, ordered by version, then written_at. A
 * revision is the rows of one INSERT of the window, told apart by written_at.
 */
export function windowRevisionsSql(db: string, withVersion: boolean): string {
  return `SELECT ${WINDOW_RESULT_COLUMNS}
FROM ${tableRef(db, 'window_result_revisions')}
WHERE model = {model:String} AND window = {window:String} AND segment = ''
  AND window_start = fromUnixTimestamp64Milli({start:Int64}, 'UTC')${withVersion ? '\n  AND version = {version:String}' : ''}
ORDER BY version, written_at, closed_at, kind, feature
${READ_SETTINGS}`;
}

/** Every performance revision of one window (params as windowRevisionsSql), oldest first. */
export function performanceRevisionsSql(db: string, withVersion: boolean): string {
  return `SELECT model, version, segment, window, window_size_ms,
  toUnixTimestamp64Milli(window_start) AS window_start_ms, toUnixTimestamp64Milli(window_end) AS window_end_ms,
  labeled, coverage, metrics, toUnixTimestamp64Milli(computed_at) AS computed_at_ms,
  ${PERFORMANCE_LINEAGE}
FROM ${tableRef(db, 'performance_revisions')}
WHERE model = {model:String} AND window = {window:String} AND ${WHOLE}
  AND window_start = fromUnixTimestamp64Milli({start:Int64}, 'UTC')${withVersion ? '\n  AND version = {version:String}' : ''}
ORDER BY version, written_at, computed_at
${READ_SETTINGS}`;
}

// ---------------------------------------------------------------------------------------------
// What a restarted daemon shows on /metrics (Store.latestResults): params model,
// windows Array(String), and versions Array(String) or limit UInt32.

const LATEST_FILTER = 'model = {model:String} AND window IN {windows:Array(String)}';
const LATEST_VERSIONS = `${LATEST_FILTER} AND version IN {versions:Array(String)}`;
/**
 * Histories are read over a horizon per version and size (params keys Array(String) of
 * `version\0window`, since Array(Int64) epoch ms, sinceMin Int64): memory stays bounded by
 * the horizon, not by how long the model has been monitored.
 */
const WITHIN_HORIZON = `window_start >= fromUnixTimestamp64Milli({sinceMin:Int64}, 'UTC')
  AND toUnixTimestamp64Milli(window_start) >= {since:Array(Int64)}[indexOf({keys:Array(String)}, concat(version, '\\0', window))]`;

export interface VersionEndRow {
  version: string;
  end_ms: string | number;
}

/** The model's `limit` versions with the newest window ends among `windows`. */
export function newestVersionsSql(db: string): string {
  return `SELECT version, toUnixTimestamp64Milli(max(window_end)) AS end_ms
FROM ${tableRef(db, 'window_results')}
WHERE ${LATEST_FILTER} AND kind = 'dataset' AND ${WHOLE}
GROUP BY version
ORDER BY max(window_end) DESC, version DESC
LIMIT {limit:UInt32}
${READ_SETTINGS}`;
}

/** The newest window (by start) of every version and window size, rows as `windowResultsSql`. */
export function latestWindowResultsSql(db: string): string {
  return `SELECT ${WINDOW_RESULT_COLUMNS}
FROM
(
  SELECT *, ${REVISION} AS revision
  FROM ${tableRef(db, 'window_results')} FINAL
  WHERE ${LATEST_VERSIONS} AND ${WHOLE}
    AND (version, window, window_start) IN (
      SELECT version, window, max(window_start)
      FROM ${tableRef(db, 'window_results')}
      WHERE ${LATEST_VERSIONS} AND kind = 'dataset' AND ${WHOLE}
      GROUP BY version, window
    )
)
WHERE closed_at = revision
ORDER BY window_start, window, version, kind, feature
${READ_SETTINGS}`;
}

/**
 * The newest `history` windows with labelled performance of every version and window size (a
 * restart replays them in order: the degraded-window counts are rebuilt from them). Records
 * with only the label-free estimate (`labeled` 0, written at each window's close) are left
 * out: with labels arriving weeks late they would fill `history` and hide every labelled one.
 */
export function latestPerformanceSql(db: string): string {
  return `SELECT model, version, segment, window, window_size_ms, window_start_ms, window_end_ms,
  labeled, coverage, metrics, computed_at_ms, driftd_version, config_hash, revision_reason,
  written_at_ms
FROM
(
  SELECT model, version, segment, window, window_size_ms,
    toUnixTimestamp64Milli(window_start) AS window_start_ms, toUnixTimestamp64Milli(window_end) AS window_end_ms,
    labeled, coverage, metrics, toUnixTimestamp64Milli(computed_at) AS computed_at_ms,
    ${PERFORMANCE_LINEAGE},
    row_number() OVER (PARTITION BY version, window ORDER BY window_start DESC) AS from_end
  FROM ${tableRef(db, 'performance')} FINAL
  WHERE ${LATEST_VERSIONS} AND ${WITHIN_HORIZON} AND labeled > 0 AND ${WHOLE}
)
WHERE from_end <= {history:UInt32}
ORDER BY window_start_ms, window, version
${READ_SETTINGS}`;
}

export interface VerdictRow {
  version: string;
  window: string;
  kind: WindowRowKind;
  feature: string;
  start_ms: string | number;
  drifted: number | string;
  /** The series' run of drifted windows just before this one. */
  before: number | string;
  /** 1-based position of the window among the series' windows with a verdict. */
  rn: number | string;
}

/**
 * The newest `history` verdicts of every series (dataset, prediction, each feature) of the
 * versions, each with the run of drifted windows before it (src/export/streaks.ts):
 * `before` = (rn − 1) − the position of the latest clean window before it (0 when none).
 * A window's rewrites collapse to its newest revision first, so a provisional result and its
 * final one are one window. Windows without a verdict are left out as streaks.ts says: a
 * feature or prediction row marked insufficient, a dataset row none of whose features has a
 * verdict, a provisional row found clean. Param history UInt32 besides the common ones.
 */
export function verdictHistorySql(db: string): string {
  const series = 'PARTITION BY version, window, kind, feature ORDER BY window_start';
  return `SELECT version, window, kind, feature, toUnixTimestamp64Milli(window_start) AS start_ms,
  d AS drifted, before, rn
FROM
(
  SELECT version, window, kind, feature, window_start, d, rn,
    (rn - 1) - max(if(d = 0, rn, 0)) OVER (${series} ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING) AS before,
    row_number() OVER (PARTITION BY version, window, kind, feature ORDER BY window_start DESC) AS from_end
  FROM
  (
    SELECT version, window, kind, feature, window_start, d, row_number() OVER (${series}) AS rn
    FROM
    (
      SELECT version, window, kind, feature, window_start, d, provisional,
        if(kind = 'dataset', no_feature_verdict, insufficient) AS no_verdict
      FROM
      (
        SELECT version, window, kind, feature, window_start, closed_at, provisional, insufficient,
          if(kind = 'dataset', dataset_drift, drifted) AS d,
          max(closed_at) OVER (PARTITION BY version, window, window_start) AS revision,
          min(if(kind = 'feature', insufficient, 1)) OVER (PARTITION BY version, window, window_start, closed_at) AS no_feature_verdict
        FROM ${tableRef(db, 'window_results')} FINAL
        WHERE ${LATEST_VERSIONS} AND ${WITHIN_HORIZON} AND ${WHOLE}
      )
      WHERE closed_at = revision
    )
    WHERE no_verdict = 0 AND NOT (provisional = 1 AND d = 0)
  )
)
WHERE from_end <= {history:UInt32}
ORDER BY version, window, kind, feature, window_start
${READ_SETTINGS}`;
}

// ---------------------------------------------------------------------------------------------
// Row encoding (JSONEachRow) and value decoding

/**
 * Builds a JSONEachRow payload by writing each row's UTF-8 bytes straight into one growing
 * buffer. Keeping rows as strings and joining them costs a third more CPU (retained string
 * ropes, GC, a flattening copy) on the ingest hot path.
 */
export class JsonLinesWriter extends GrowableBuffer {
  push(line: string): void {
    // UTF-8 needs at most 3 bytes per UTF-16 code unit.
    this.room(line.length * 3 + 1);
    this.len += this.buf.write(line, this.len, 'utf8');
    this.buf[this.len++] = 0x0a;
    this.rows++;
  }
}

const TWO_32 = 4294967296;

/**
 * Builds a RowBinary payload (ClickHouse's native row format: little-endian numbers, strings as
 * a LEB128 byte length then the UTF-8 bytes) straight into one growing buffer. Nothing is
 * escaped and the engine copies values instead of parsing text.
 *
 * A string's UTF-8 length is only known once written, so the writer reserves the LEB128 width
 * of the largest length the string could have (3 bytes per UTF-16 unit), writes the bytes
 * after it, and fills the length in padded to that width (continuation bits set on leading
 * 7-bit groups of zero): ClickHouse reads a padded LEB128 as the same number. One pass over
 * the string instead of two (`Buffer.byteLength` + write).
 */
export class RowBinaryWriter extends GrowableBuffer {
  /**
   * The last row's lineage columns (late … ingested_at, see encodeEventRowBinary) as bytes,
   * and what they were made of: the rows of a replay or HTTP batch share them, so they are
   * copied instead of encoded column by column.
   */
  private tail = new Uint8Array(0);
  private tailKind = '';
  private tailFile = '';
  private tailLine = -1;
  private tailLate = -1;
  private tailAt = Number.NaN;

  /** Writes the lineage bytes kept by `keepTail` if they were made of these values. */
  sameTail(kind: string, file: string, line: number, late: number, at: number): boolean {
    if (
      at !== this.tailAt ||
      late !== this.tailLate ||
      line !== this.tailLine ||
      kind !== this.tailKind ||
      file !== this.tailFile
    ) {
      return false;
    }
    const tail = this.tail;
    this.room(tail.length);
    const buf = this.buf;
    let to = this.len;
    for (let i = 0; i < tail.length; i++) buf[to++] = tail[i]!;
    this.len = to;
    return true;
  }

  /** Keeps the bytes written since `start` as the lineage of these values (see sameTail). */
  keepTail(
    start: number,
    kind: string,
    file: string,
    line: number,
    late: number,
    at: number,
  ): void {
    this.tail = Uint8Array.prototype.slice.call(this.buf, start, this.len);
    this.tailKind = kind;
    this.tailFile = file;
    this.tailLine = line;
    this.tailLate = late;
    this.tailAt = at;
  }

  string(s: string): void {
    const len = s.length;
    if (len < 0x80) {
      // Short ASCII (names, ids, lineage): bytes by hand, no native call. Falls through to the
      // general path at the first non-ASCII unit.
      this.room(len + 1);
      const buf = this.buf;
      const at = this.len;
      let i = 0;
      for (; i < len; i++) {
        const c = s.charCodeAt(i);
        if (c >= 0x80) break;
        buf[at + 1 + i] = c;
      }
      if (i === len) {
        buf[at] = len;
        this.len = at + 1 + len;
        return;
      }
    }
    const max = len * 3;
    const width = max < 0x80 ? 1 : max < 0x4000 ? 2 : max < 0x200000 ? 3 : max < 0x10000000 ? 4 : 5;
    this.room(width + max);
    const at = this.len;
    const n = max === 0 ? 0 : this.buf.write(s, at + width, 'utf8');
    let v = n;
    for (let i = 0; i < width - 1; i++) {
      this.buf[at + i] = (v & 0x7f) | 0x80;
      v = Math.floor(v / 128);
    }
    this.buf[at + width - 1] = v;
    this.len = at + width + n;
  }

  /** A String value from its UTF-8 bytes (copied as they are). */
  utf8(b: Uint8Array): void {
    const n = b.length;
    this.room(n + 5);
    let v = n;
    while (v >= 0x80) {
      this.buf[this.len++] = (v & 0x7f) | 0x80;
      v = Math.floor(v / 128);
    }
    this.buf[this.len++] = v;
    this.buf.set(b, this.len);
    this.len += n;
  }

  uint8(v: number): void {
    this.room(1);
    this.buf[this.len++] = v;
  }

  int32(v: number): void {
    this.room(4);
    this.buf.writeInt32LE(v, this.len);
    this.len += 4;
  }

  /** Int64/UInt64/DateTime64 from a safe integer (two's complement for negatives). */
  int64(v: number): void {
    this.room(8);
    this.buf.writeUInt32LE(v >>> 0, this.len);
    this.buf.writeInt32LE(Math.floor(v / TWO_32), this.len + 4);
    this.len += 8;
  }

  /** Int64 from its decimal text (Kafka offsets may exceed 2^53). */
  int64Decimal(text: string): void {
    if (text.length <= 15) {
      this.int64(Number(text));
      return;
    }
    this.room(8);
    this.buf.writeBigInt64LE(BigInt(text), this.len);
    this.len += 8;
  }

  endRow(): void {
    this.rows++;
  }
}

// Events of one batch mostly share their second: cache its 'YYYY-MM-DD hh:mm:ss.' prefix.
let cachedSecond = Number.NaN;
let cachedPrefix = '';

/** Epoch ms → 'YYYY-MM-DD hh:mm:ss.fff' (UTC), the DateTime64(3) text every input format accepts. */
export function formatDateTime64(ms: number, what = 'timestamp'): string {
  const whole = checkedDateTime64(ms, what);
  const second = Math.floor(whole / 1000);
  if (second !== cachedSecond) {
    const iso = new Date(second * 1000).toISOString();
    cachedPrefix = `${iso.slice(0, 10)} ${iso.slice(11, 19)}.`;
    cachedSecond = second;
  }
  const frac = whole - second * 1000;
  return cachedPrefix + (frac < 10 ? '00' : frac < 100 ? '0' : '') + frac;
}

/**
 * Epoch ms as the integer a DateTime64(3) column holds, refusing what the engine would clamp
 * (the range is src/limits.ts's, which the decoders check first).
 */
export function checkedDateTime64(ms: number, what: string): number {
  if (!isStorableTime(ms)) {
    throw new InvalidInputError(
      `${what} ${ms} is outside the storable range 1900-01-01..2299-12-31`,
    );
  }
  return Math.floor(ms);
}

/** JSON text for a Float64 column: NaN/±Inf as the strings ClickHouse parses, not JSON null. */
function f64(v: number): string {
  if (Number.isFinite(v)) return String(v);
  if (Number.isNaN(v)) return '"nan"';
  return v > 0 ? '"inf"' : '"-inf"';
}

function nf64(v: number | null): string {
  return v === null ? 'null' : f64(v);
}

function u64(v: number, what: string): string {
  if (!Number.isSafeInteger(v) || v < 0) {
    throw new InvalidInputError(`${what} must be a non-negative integer, got ${v}`);
  }
  return String(v);
}

const str = JSON.stringify as (v: string) => string;

/** Reads a Float64 column value back ("nan"/"inf"/"-inf" included). */
export function toNumber(v: number | string | null | undefined): number {
  if (typeof v === 'number') return v;
  if (v === 'nan' || v === '-nan') return Number.NaN;
  if (v === 'inf' || v === '+inf') return Number.POSITIVE_INFINITY;
  if (v === '-inf') return Number.NEGATIVE_INFINITY;
  return Number(v);
}

export function toNullableNumber(v: number | string | null | undefined): number | null {
  return v === null || v === undefined ? null : toNumber(v);
}

const KAFKA_OFFSET_RE = /^(0|[1-9][0-9]{0,18})$/;

/**
 * One `events` row in RowBinary, columns as in `EVENT_ROW_BINARY_COLUMNS`. The
 * ReplacingMergeTree sorting key (model, version, ts, id, source, kafka_topic, kafka_partition,
 * kafka_offset, ingest_seq, lane) is the dedup identity: a re-replayed file collapses on (model,
 * version, ts, id, source) since replay rows carry empty coordinates and position 0; a Kafka
 * redelivery collapses on its unchanged coordinates; an HTTP event is kept once per ingest
 * position of its lane, i.e. once per time the windows counted it (a retried request with its
 * `Idempotency-Key` is counted, and stored, once; see src/ingest/idempotency.ts).
 *
 * An event with its received text (`raw`, or its UTF-8 bytes `rawBytes`) is stored as that
 * text with `features` empty: readers take the features from `raw` (see `EVENT_FEATURES`);
 * other events store `raw` empty and `features` re-encoded.
 */
export function encodeEventRowBinary(e: StoredEvent, out: RowBinaryWriter): void {
  let topic = '';
  let partition = -1;
  let offset = '-1';
  let file = '';
  let line = 0;
  const src: EventSource = e.source;
  switch (src.kind) {
    case 'kafka':
      if (!KAFKA_OFFSET_RE.test(src.offset)) {
        throw new InvalidInputError(
          `kafka offset ${JSON.stringify(src.offset)} is not a non-negative integer`,
        );
      }
      if (!Number.isInteger(src.partition) || src.partition < 0 || src.partition > 2147483647) {
        throw new InvalidInputError(`kafka partition ${src.partition} is not a valid partition`);
      }
      topic = src.topic;
      partition = src.partition;
      offset = src.offset;
      break;
    case 'replay':
      file = src.file ?? '';
      line = src.line ?? 0;
      break;
    case 'http':
      break;
  }
  if (!Number.isSafeInteger(line) || line < 0) {
    throw new InvalidInputError(`replay line must be a non-negative integer, got ${line}`);
  }
  const ts = checkedDateTime64(e.ts, 'event ts');
  const ingestedAt = checkedDateTime64(e.ingestedAt, 'ingestedAt');
  out.string(e.model);
  out.string(e.version);
  out.string(e.id);
  out.int64(ts);
  // The received bytes, else the received text: either is the raw record, and then `features`
  // may hold only the monitored fields (the Kafka decode thread hands over no more).
  const raw = e.raw ?? '';
  const hasRaw = raw !== '' || (e.rawBytes !== undefined && e.rawBytes.length > 0);
  out.string(hasRaw ? '' : JSON.stringify(e.features));
  out.string(JSON.stringify(e.prediction));
  if (hasRaw && e.rawBytes !== undefined) out.utf8(e.rawBytes);
  else out.string(raw);
  // Lineage: the same for every row of a replay or HTTP batch (a Kafka row has its offset).
  const late = e.late ? 1 : 0;
  const kafka = src.kind === 'kafka';
  if (kafka || !out.sameTail(src.kind, file, line, late, ingestedAt)) {
    const start = out.bytes;
    out.uint8(late);
    out.string(src.kind);
    out.string(topic);
    out.int32(partition);
    out.int64Decimal(offset);
    out.string(file);
    out.int64(line);
    out.int64(ingestedAt);
    if (!kafka) out.keepTail(start, src.kind, file, line, late, ingestedAt);
  }
  const position = e.position ?? 0;
  if (!Number.isSafeInteger(position) || position < 0) {
    throw new InvalidInputError(`ingest position must be a non-negative integer, got ${position}`);
  }
  out.int64(position);
  out.string(e.requestKey ?? '');
  out.string(e.lane ?? '');
  out.endRow();
}

/** Labels keep their JSON type (1 vs "1") by being stored as JSON text. */
export function encodeLabel(l: LabelEvent, ingestedAt: string): string {
  return `{"model":${str(l.model)},"id":${str(l.id)},"ts":"${formatDateTime64(l.ts, 'label ts')}","label":${str(JSON.stringify(l.label))},"ingested_at":"${ingestedAt}"}`;
}

export function encodeBaseline(p: BaselineProfile): string {
  return `{"id":${str(p.id)},"hash":${str(p.hash)},"model":${str(p.model)},"version":${str(p.version)},"created_at":"${formatDateTime64(p.createdAt, 'baseline createdAt')}","source":${str(p.source)},"row_count":${u64(p.rowCount, 'rowCount')},"bad_rows":${u64(p.badRows, 'badRows')},"feature_names":${JSON.stringify(Object.keys(p.features))},"params":${str(JSON.stringify(p.params))},"profile":${JSON.stringify(p)}}`;
}

/**
 * The lineage columns of a result row. `written_at` is when the result was produced (a
 * window's closedAt, a performance row's computedAt), not the wall clock of the INSERT: a
 * write retried after a lost answer sends the same bytes, so the insert deduplication drops
 * it instead of recording a second revision.
 */
function lineage(r: ResultLineage, writtenAt: number): string {
  return `"driftd_version":${str(r.driftdVersion ?? '')},"config_hash":${str(r.configHash ?? '')},"revision_reason":${str(r.revisionReason ?? '')},"written_at":"${formatDateTime64(writtenAt, 'writtenAt')}"`;
}

interface WindowHeader {
  prefix: string;
  suffix: string;
}

function windowHeader(w: WindowResult): WindowHeader {
  const r = w.reference;
  const time = (ms: number | null | undefined, what: string) =>
    ms === null || ms === undefined ? 'null' : `"${formatDateTime64(ms, what)}"`;
  const reference = `"reference":${str(r === undefined ? 'baseline' : referenceName(r))},"reference_found":${u64(r?.found ?? 0, 'reference found')},"reference_start":${time(r?.start, 'reference start')},"reference_end":${time(r?.end, 'reference end')},"reference_event_count":${u64(r?.eventCount ?? 0, 'reference eventCount')},"reference_note":${str(r?.note ?? '')}`;
  return {
    prefix: `{"model":${str(w.model)},"version":${str(w.version)},"segment":${str(w.segment ?? '')},"window":${str(w.sizeLabel)},"window_size_ms":${u64(w.size, 'window size')},"window_start":"${formatDateTime64(w.start, 'window start')}","window_end":"${formatDateTime64(w.end, 'window end')}"`,
    suffix: `"baseline_id":${str(w.baselineId)},"baseline_hash":${str(w.baselineHash)},${reference},"event_count":${u64(w.eventCount, 'eventCount')},"late_count":${u64(w.lateCount, 'lateCount')},"drift_share":${f64(w.driftShare)},"dataset_drift":${w.datasetDrift ? 1 : 0},"provisional":${w.provisional ? 1 : 0},"closed_at":"${formatDateTime64(w.closedAt, 'closedAt')}",${lineage(w, w.closedAt)}}`,
  };
}

function encodeDrift(h: WindowHeader, kind: WindowRowKind, d: FeatureDrift): string {
  return `${h.prefix},"kind":"${kind}","feature":${str(d.feature)},"feature_type":${str(d.type)},"test":${str(d.test)},"statistic":${f64(d.statistic)},"p_value":${nf64(d.pValue)},"adjusted_p_value":${nf64(d.adjustedPValue)},"threshold":${f64(d.threshold)},"drifted":${d.drifted ? 1 : 0},"psi":${f64(d.psi)},"ks_statistic":${nf64(d.ksStatistic)},"ks_bound":${nf64(d.ksBound)},"ks_p_value":${nf64(d.ksPValue)},"verdict_rule":${str(d.verdictRule)},"effect":${f64(d.effect)},"effect_floor":${nf64(d.effectFloor)},"statistic_bound":${nf64(d.statisticBound)},"bound_straddles_threshold":${d.boundStraddlesThreshold ? 1 : 0},"count":${u64(d.count, 'count')},"missing_ratio":${f64(d.missingRatio)},"out_of_range_ratio":${f64(d.outOfRangeRatio)},"unseen_ratio":${f64(d.unseenRatio)},"other_ratio":${f64(d.otherRatio)},"insufficient":${d.insufficient ? 1 : 0},"insufficient_reason":${str(d.insufficientReason ?? '')},"histogram":${d.histogram ? str(JSON.stringify(d.histogram)) : '""'},${h.suffix}`;
}

/** All rows of one window result: its `dataset` row, one per feature, and the prediction row. */
export function encodeWindowResult(w: WindowResult, out: { push(line: string): void }): void {
  const h = windowHeader(w);
  out.push(
    `${h.prefix},"kind":"dataset","feature":"","feature_type":"","test":"","statistic":${f64(w.driftShare)},"p_value":null,"adjusted_p_value":null,"threshold":0,"drifted":${w.datasetDrift ? 1 : 0},"psi":0,"ks_statistic":null,"ks_bound":null,"ks_p_value":null,"verdict_rule":"","effect":0,"effect_floor":null,"statistic_bound":null,"bound_straddles_threshold":0,"count":${u64(w.eventCount, 'eventCount')},"missing_ratio":0,"out_of_range_ratio":0,"unseen_ratio":0,"other_ratio":0,"insufficient":0,"insufficient_reason":"","histogram":"",${h.suffix}`,
  );
  for (const d of w.features) out.push(encodeDrift(h, 'feature', d));
  if (w.prediction) out.push(encodeDrift(h, 'prediction', w.prediction));
}

/** Params: group. The newest checkpoint of a consumer group. */
export function latestCheckpointSql(db: string): string {
  return `SELECT group_id, seq, toUnixTimestamp64Milli(taken_at) AS taken_at_ms, payload
FROM ${tableRef(db, 'checkpoints')}
WHERE group_id = {group:String}
ORDER BY seq DESC
LIMIT 1
${READ_SETTINGS}`;
}

export interface CheckpointRow {
  group_id: string;
  seq: string | number;
  taken_at_ms: string | number;
  payload: string;
}

export function encodeCheckpoint(c: StoredCheckpoint): string {
  return `{"group_id":${str(c.groupId)},"seq":${u64(c.seq, 'checkpoint seq')},"taken_at":"${formatDateTime64(c.takenAt, 'takenAt')}","payload":${str(c.payload)}}`;
}

export function encodePerformance(p: PerformanceResult): string {
  const metrics = Object.entries(p.metrics)
    .map(([k, v]) => `${str(k)}:${f64(v)}`)
    .join(',');
  return `{"model":${str(p.model)},"version":${str(p.version)},"segment":${str(p.segment ?? '')},"window":${str(p.sizeLabel)},"window_size_ms":${u64(p.size, 'window size')},"window_start":"${formatDateTime64(p.start, 'window start')}","window_end":"${formatDateTime64(p.end, 'window end')}","labeled":${u64(p.labeled, 'labeled')},"coverage":${f64(p.coverage)},"metrics":{${metrics}},"computed_at":"${formatDateTime64(p.computedAt, 'computedAt')}",${lineage(p, p.computedAt)}}`;
}

// ---------------------------------------------------------------------------------------------
// Fairness results (append-only): every computation of a window is a set of rows with one
// `written_at`; a window's latest computation is the rows with its newest `written_at` (two
// computations in the same millisecond: one row per attribute and group is kept).

/** JSON with non-finite numbers as the strings "inf", "-inf", "nan" (JSON has no form for them). */
export function fairnessJson(value: unknown): string {
  return JSON.stringify(value, (_k, v: unknown) =>
    typeof v === 'number' && !Number.isFinite(v)
      ? Number.isNaN(v)
        ? 'nan'
        : v > 0
          ? 'inf'
          : '-inf'
      : v,
  );
}

/** Reads `fairnessJson` text back. */
export function parseFairnessJson<T>(text: string): T {
  return JSON.parse(text, (_k, v: unknown) =>
    v === 'nan' || v === 'inf' || v === '-inf' ? toNumber(v) : v,
  ) as T;
}

/** The group's consecutive-disparity verdict as stored: 1, 0 or null (`groupDisparity`). */
function disparityOf(g: FairnessGroupResult): string {
  const d = groupDisparity(g);
  return d === null ? 'null' : d ? '1' : '0';
}

/** One row per attribute and group of a fairness computation. */
export function encodeFairnessResult(
  r: FairnessWindowResult,
  out: { push(line: string): void },
): void {
  const head =
    `{"model":${str(r.model)},"version":${str(r.version)},"window":${str(r.sizeLabel)},` +
    `"window_size_ms":${u64(r.size, 'window size')},"window_start":"${formatDateTime64(r.start, 'window start')}",` +
    `"window_end":"${formatDateTime64(r.end, 'window end')}"`;
  const tail =
    `"written_at":"${formatDateTime64(r.writtenAt, 'writtenAt')}",` +
    `"driftd_version":${str(r.driftdVersion)},"config_hash":${str(r.configHash)}}`;
  for (const [attribute, a] of Object.entries(r.attributes)) {
    const { groups, ...rest } = a;
    // The attribute's result once per row, its groups by name (their order kept).
    const attributeResult = fairnessJson({ ...rest, groups: groups.map((g) => g.group) });
    for (const g of groups) {
      const sr = g.rates['selection-rate'];
      const tpr = g.rates['true-positive-rate'];
      const fpr = g.rates['false-positive-rate'];
      out.push(
        `${head},"attribute":${str(attribute)},"protected_group":${str(g.group)},"reference":${str(a.reference)},` +
          `"predictions":${u64(g.predictions, 'predictions')},"selected":${u64(sr.count, 'selected')},` +
          `"tp":${u64(tpr.count, 'tp')},"fp":${u64(fpr.count, 'fp')},` +
          `"fn":${u64(tpr.size - tpr.count, 'fn')},"tn":${u64(fpr.size - fpr.count, 'tn')},` +
          `"selection_rate":${nf64(sr.value)},"true_positive_rate":${nf64(tpr.value)},` +
          `"false_positive_rate":${nf64(fpr.value)},` +
          `"selection_rate_ratio":${nf64(g.ratios['selection-rate'].value)},` +
          `"true_positive_rate_ratio":${nf64(g.ratios['true-positive-rate'].value)},` +
          `"false_positive_rate_ratio":${nf64(g.ratios['false-positive-rate'].value)},` +
          `"verdict":${str(g.verdict)},"disparity":${disparityOf(g)},"attribute_verdict":${str(a.verdict)},` +
          `"group_result":${str(fairnessJson(g))},"attribute_result":${str(attributeResult)},${tail}`,
      );
    }
  }
}

export interface FairnessResultRow {
  model: string;
  version: string;
  window: string;
  window_size_ms: string | number;
  window_start_ms: string | number;
  window_end_ms: string | number;
  attribute: string;
  protected_group: string;
  group_result: string;
  attribute_result: string;
  written_at_ms: string | number;
  driftd_version: string;
  config_hash: string;
}

const FAIRNESS_COLUMNS = `model, version, window, window_size_ms,
  toUnixTimestamp64Milli(window_start) AS window_start_ms, toUnixTimestamp64Milli(window_end) AS window_end_ms,
  attribute, protected_group, group_result, attribute_result,
  toUnixTimestamp64Milli(written_at) AS written_at_ms, driftd_version, config_hash`;

/** The rows of each window's latest computation, of the windows `keys` selects. */
function latestComputationSql(db: string, filter: string, keys: string): string {
  return `SELECT ${FAIRNESS_COLUMNS}
FROM
(
  SELECT *, max(written_at) OVER (PARTITION BY version, window, window_start) AS revision
  FROM ${tableRef(db, 'fairness_results')}
  WHERE ${filter} AND (version, window, window_start) IN (${keys})
)
WHERE written_at = revision
ORDER BY window_start, window, version, attribute, protected_group
LIMIT 1 BY version, window, window_start, attribute, protected_group
${READ_SETTINGS}`;
}

/** Params: model, version, from, to, limit, [window]: the newest `limit` windows of the range. */
export function fairnessResultsSql(db: string, withWindow: boolean): string {
  const filter = `model = {model:String} AND version = {version:String}${
    withWindow ? ' AND window = {window:String}' : ''
  }`;
  const keys = `SELECT version, window, window_start FROM ${tableRef(db, 'fairness_results')}
    WHERE ${filter} AND window_start < ${to} AND window_end > ${from}
    GROUP BY version, window, window_start
    ORDER BY window_start DESC, window
    LIMIT {limit:UInt32}`;
  return latestComputationSql(db, filter, keys);
}

/** Params: model, windows, versions: the newest window of each version and size. */
export function latestFairnessSql(db: string): string {
  const keys = `SELECT version, window, max(window_start) FROM ${tableRef(db, 'fairness_results')}
    WHERE ${LATEST_VERSIONS}
    GROUP BY version, window`;
  return latestComputationSql(db, LATEST_VERSIONS, keys);
}

export interface FairnessVerdictRow {
  version: string;
  window: string;
  attribute: string;
  grp: string;
  start_ms: string | number;
  drifted: number | string;
  before: number | string;
  rn: number | string;
}

/**
 * The newest `history` disparity verdicts of every (version, size, attribute, group), from each
 * window's latest computation, with the run of disparity windows before each, as
 * `verdictHistorySql` does for drift: a group without a verdict (`groupDisparity` null: the
 * reference, or no ratio that could be judged) is left out. Params as `verdictHistorySql`.
 */
export function fairnessVerdictHistorySql(db: string): string {
  const series = 'PARTITION BY version, window, attribute, protected_group ORDER BY window_start';
  return `SELECT version, window, attribute, protected_group AS grp,
  toUnixTimestamp64Milli(window_start) AS start_ms, d AS drifted, before, rn
FROM
(
  SELECT version, window, attribute, protected_group, window_start, d, rn,
    (rn - 1) - max(if(d = 0, rn, 0)) OVER (${series} ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING) AS before,
    row_number() OVER (PARTITION BY version, window, attribute, protected_group ORDER BY window_start DESC) AS from_end
  FROM
  (
    SELECT version, window, attribute, protected_group, window_start, d, row_number() OVER (${series}) AS rn
    FROM
    (
      SELECT version, window, attribute, protected_group, window_start, assumeNotNull(disparity) AS d
      FROM
      (
        SELECT version, window, attribute, protected_group, window_start, written_at, disparity,
          max(written_at) OVER (PARTITION BY version, window, window_start) AS revision
        FROM ${tableRef(db, 'fairness_results')}
        WHERE ${LATEST_VERSIONS} AND ${WITHIN_HORIZON}
      )
      WHERE written_at = revision AND disparity IS NOT NULL
      LIMIT 1 BY version, window, window_start, attribute, protected_group
    )
  )
)
WHERE from_end <= {history:UInt32}
ORDER BY version, window, attribute, protected_group, window_start
${READ_SETTINGS}`;
}

/**
 * Params: model, from, to, limit. Where the stored events of `model` in `[from, to)` came from
 * (the period report's lineage): per source, Kafka topic and partition with the first and last
 * offset, or replayed file, the events (every stored copy) and their event-time span. Ordered,
 * so the same store answers the same rows in the same order.
 */
export function eventSourcesSql(db: string): string {
  return `SELECT source, kafka_topic, kafka_partition, replay_file,
  min(kafka_offset) AS first_offset, max(kafka_offset) AS last_offset, count() AS n,
  toUnixTimestamp64Milli(min(ts)) AS first_ts, toUnixTimestamp64Milli(max(ts)) AS last_ts
FROM ${tableRef(db, 'events')}
WHERE model = {model:String} AND ts >= ${from} AND ts < ${to}
GROUP BY source, kafka_topic, kafka_partition, replay_file
ORDER BY source, kafka_topic, kafka_partition, replay_file
LIMIT {limit:UInt64}
${READ_SETTINGS}`;
}
