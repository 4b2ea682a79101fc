import type { ShadowAgreement, VersionComparison } from '../window/comparison-types.js';
import { formatDateTime64, tableRef } from './sql.js';

/*
 * version_comparisons (migration 16): one row per comparison of a (champion, challenger) pair
 * and window, append-only (plain MergeTree): a comparison written again when labels arrive is
 * a new row with a later `written_at`, and readers take the newest per (pair, window)
 * (LIMIT 1 BY). The nested parts (per-feature drift, paired metrics, shadow agreement) are
 * JSON text: they are read back whole, never filtered on. Lineage: driftd_version, config_hash.
 */

const TS = "DateTime64(3, 'UTC')";
const from = "fromUnixTimestamp64Milli({from:Int64}, 'UTC')";
const to = "fromUnixTimestamp64Milli({to:Int64}, 'UTC')";
const READ_SETTINGS =
  'SETTINGS output_format_json_quote_64bit_integers = 1, output_format_json_quote_denormals = 1';

export function createComparisonsTableSql(db: string): string {
  return `CREATE TABLE IF NOT EXISTS ${tableRef(db, 'version_comparisons')}
(
  model LowCardinality(String),
  champion LowCardinality(String),
  challenger LowCardinality(String),
  window LowCardinality(String),
  window_start ${TS} CODEC(Delta, ZSTD(1)),
  window_end ${TS} CODEC(Delta, ZSTD(1)),
  champion_events UInt64,
  challenger_events UInt64,
  challenger_share Nullable(Float64),
  features String CODEC(ZSTD(1)),
  prediction String CODEC(ZSTD(1)),
  estimated String CODEC(ZSTD(1)),
  realised String CODEC(ZSTD(1)),
  shadow String CODEC(ZSTD(1)),
  driftd_version LowCardinality(String),
  config_hash LowCardinality(String),
  written_at ${TS} CODEC(Delta, ZSTD(1))
)
ENGINE = MergeTree
PARTITION BY toYYYYMM(window_start)
ORDER BY (model, window, window_start, champion, challenger, written_at)
SETTINGS non_replicated_deduplication_window = 1000`;
}

/** A comparison as stored: the comparison and its lineage. */
export interface StoredComparison extends VersionComparison {
  driftdVersion: string;
  configHash: string;
  writtenAt: number;
}

export interface ComparisonQuery {
  model: string;
  from: number;
  to: number;
  window?: string;
  champion?: string;
  challenger?: string;
}

/** Finite number or null as JSON (JSON.stringify writes NaN / ±Infinity as null too). */
function num(v: number | null): string {
  return v === null || !Number.isFinite(v) ? 'null' : String(v);
}

export function encodeComparison(c: StoredComparison): string {
  return JSON.stringify({
    model: c.model,
    champion: c.champion,
    challenger: c.challenger,
    window: c.window,
    window_start: formatDateTime64(c.windowStart, 'window start'),
    window_end: formatDateTime64(c.windowEnd, 'window end'),
    champion_events: c.championEvents,
    challenger_events: c.challengerEvents,
    challenger_share: c.challengerShare === null ? null : Number(num(c.challengerShare)),
    features: JSON.stringify(c.features),
    prediction: JSON.stringify(c.prediction),
    estimated: JSON.stringify(c.estimated),
    realised: JSON.stringify(c.realised),
    shadow: JSON.stringify(c.shadow),
    driftd_version: c.driftdVersion,
    config_hash: c.configHash,
    written_at: formatDateTime64(c.writtenAt, 'writtenAt'),
  });
}

export interface ComparisonRow {
  model: string;
  champion: string;
  challenger: string;
  window: string;
  window_start_ms: string | number;
  window_end_ms: string | number;
  champion_events: string | number;
  challenger_events: string | number;
  challenger_share: number | string | null;
  features: string;
  prediction: string;
  estimated: string;
  realised: string;
  shadow: string;
  driftd_version: string;
  config_hash: string;
  written_at_ms: string | number;
}

export function decodeComparison(r: ComparisonRow): StoredComparison {
  return {
    model: r.model,
    champion: r.champion,
    challenger: r.challenger,
    window: r.window,
    windowStart: Number(r.window_start_ms),
    windowEnd: Number(r.window_end_ms),
    championEvents: Number(r.champion_events),
    challengerEvents: Number(r.challenger_events),
    challengerShare: r.challenger_share === null ? null : Number(r.challenger_share),
    features: JSON.parse(r.features) as VersionComparison['features'],
    prediction: JSON.parse(r.prediction) as VersionComparison['prediction'],
    estimated: JSON.parse(r.estimated) as VersionComparison['estimated'],
    realised: JSON.parse(r.realised) as VersionComparison['realised'],
    shadow: JSON.parse(r.shadow) as VersionComparison['shadow'],
    driftdVersion: r.driftd_version,
    configHash: r.config_hash,
    writtenAt: Number(r.written_at_ms),
  };
}

/**
 * Params: model, from, to, [window], [champion], [challenger]. The newest row of every
 * (pair, window) starting in `[from, to)`, by start.
 */
export function comparisonsSql(
  db: string,
  f: { window: boolean; champion: boolean; challenger: boolean },
): string {
  return `SELECT model, champion, challenger, window,
  toUnixTimestamp64Milli(window_start) AS window_start_ms, toUnixTimestamp64Milli(window_end) AS window_end_ms,
  champion_events, challenger_events, challenger_share, features, prediction, estimated, realised,
  shadow, driftd_version, config_hash, toUnixTimestamp64Milli(written_at) AS written_at_ms
FROM ${tableRef(db, 'version_comparisons')}
WHERE model = {model:String} AND window_start >= ${from} AND window_start < ${to}${
    f.window ? ' AND window = {window:String}' : ''
  }${f.champion ? ' AND champion = {champion:String}' : ''}${
    f.challenger ? ' AND challenger = {challenger:String}' : ''
  }
ORDER BY window_start, window, champion, challenger, written_at DESC
LIMIT 1 BY window_start, window, champion, challenger
LIMIT {limit:UInt64}
${READ_SETTINGS}`;
}

/**
 * Params: model, per. Startup (gauges, rollback runs): the newest comparison of each of the
 * newest `per` windows of every (pair, window size), newest window first.
 */
export function latestComparisonsSql(db: string): string {
  return `SELECT * FROM
(
  SELECT model, champion, challenger, window,
    toUnixTimestamp64Milli(window_start) AS window_start_ms, toUnixTimestamp64Milli(window_end) AS window_end_ms,
    champion_events, challenger_events, challenger_share, features, prediction, estimated, realised,
    shadow, driftd_version, config_hash, toUnixTimestamp64Milli(written_at) AS written_at_ms
  FROM ${tableRef(db, 'version_comparisons')}
  WHERE model = {model:String}
  ORDER BY window_start DESC, window, champion, challenger, written_at DESC
  LIMIT 1 BY window_start, window, champion, challenger
)
ORDER BY window_start_ms DESC
LIMIT {per:UInt64} BY window, champion, challenger
${READ_SETTINGS}`;
}

export interface ShadowQuery {
  model: string;
  champion: string;
  challenger: string;
  from: number;
  to: number;
  /**
   * How a prediction's class is read: binary (a score ≥ threshold, or the positive class
   * itself), category (the value itself), or none (regression: no agreement).
   */
  classes: 'binary' | 'category' | 'none';
  threshold: number;
  positive: string;
}

export interface ShadowRow {
  matched: string | number;
  agreed: string | number;
  classified: string | number;
  scored: string | number;
  mean: number | string | null;
  p50: number | string | null;
  p90: number | string | null;
  p99: number | string | null;
  max: number | string | null;
}

const NUMBER_TYPES = "('Int64', 'UInt64', 'Double')";

/**
 * Params: those of ShadowQuery (classes as the String `classes`). Both versions' stored
 * predictions of the same ids in `[from, to)` (newest copy per id and version), joined by id
 * and aggregated in the store: matched ids, ids of the same class, and the distribution of
 * |challenger − champion| over ids where both predictions are numbers. One row, whatever the
 * window holds.
 */
export function shadowAgreementSql(db: string): string {
  const side = (version: string) => `SELECT id, argMax(prediction, ingested_at) AS p
  FROM ${tableRef(db, 'events')}
  WHERE model = {model:String} AND version = {${version}:String} AND ts >= ${from} AND ts < ${to}
  GROUP BY id`;
  const cls = (p: string) => `multiIf(
    {classes:String} = 'binary',
      multiIf(
        JSONType(${p}) IN ${NUMBER_TYPES},
          if(JSONExtractFloat(${p}) >= 0 AND JSONExtractFloat(${p}) <= 1,
            toString(JSONExtractFloat(${p}) >= {threshold:Float64}), ''),
        JSONType(${p}) = 'String', toString(JSONExtractString(${p}) = {positive:String}),
        JSONType(${p}) = 'Bool', toString(${p} = {positive:String}),
        ''),
    {classes:String} = 'category',
      multiIf(JSONType(${p}) = 'String', JSONExtractString(${p}), JSONType(${p}) = 'Null', '', ${p}),
    '')`;
  return `SELECT count() AS matched,
  countIf(ca != '' AND cb != '' AND ca = cb) AS agreed,
  countIf(ca != '' AND cb != '') AS classified,
  countIf(numeric) AS scored,
  avgIf(d, numeric) AS mean,
  quantileExactIf(0.5)(d, numeric) AS p50,
  quantileExactIf(0.9)(d, numeric) AS p90,
  quantileExactIf(0.99)(d, numeric) AS p99,
  maxIf(d, numeric) AS max
FROM
(
  SELECT ${cls('a.p')} AS ca, ${cls('b.p')} AS cb,
    JSONType(a.p) IN ${NUMBER_TYPES} AND JSONType(b.p) IN ${NUMBER_TYPES} AS numeric,
    abs(JSONExtractFloat(b.p) - JSONExtractFloat(a.p)) AS d
  FROM (${side('champion')}) AS a
  INNER JOIN (${side('challenger')}) AS b ON a.id = b.id
)
${READ_SETTINGS}`;
}

export function decodeShadow(
  r: ShadowRow | undefined,
  classes: ShadowQuery['classes'],
): ShadowAgreement {
  const matched = Number(r?.matched ?? 0);
  const classified = Number(r?.classified ?? 0);
  const scored = Number(r?.scored ?? 0);
  const n = (v: number | string | null | undefined) =>
    v === null || v === undefined ? 0 : Number(v);
  return {
    matched,
    agreement: classes === 'none' || classified === 0 ? null : Number(r?.agreed ?? 0) / classified,
    scoreDifference:
      scored === 0
        ? null
        : { mean: n(r?.mean), p50: n(r?.p50), p90: n(r?.p90), p99: n(r?.p99), max: n(r?.max) },
  };
}
