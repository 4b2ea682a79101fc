/**
 * SQL of cluster mode's tables (migrations 20–22, 25, src/cluster/types.ts): lanes' partials,
 * their progress, and window finalisations. Every table is insert-only; the reads never rely
 * on merges: they pick the row that counts with ORDER BY … LIMIT 1 BY.
 */

import type {
  FinalisationRow,
  LaneProgressRow,
  PartialRow,
  RevisableWindow,
  WindowKey,
} from '../cluster/types.js';
import { windowKeyString } from '../cluster/types.js';
import { InvalidInputError } from '../errors.js';
import { EARLIEST_STORABLE_TS } from '../limits.js';
import { formatDateTime64, READ_SETTINGS, tableRef, toNumber } from './sql.js';

const str = JSON.stringify as (v: string) => string;

function u64(v: number, what: string): string {
  if (!Number.isSafeInteger(v) || v < 0) {
    throw new InvalidInputError(`${what} must be a non-negative integer, got ${v}`);
  }
  return String(v);
}

function f64(v: number): string {
  if (Number.isFinite(v)) return String(v);
  if (Number.isNaN(v)) return '"nan"';
  return v > 0 ? '"inf"' : '"-inf"';
}

/**
 * The token of a finalised window's INSERTs (results, performance, the finalisation row):
 * `final:<window>`, and `final:<window>#<n>` for its n-th revision.
 */
export function finalisationToken(w: WindowKey, revision = 0): string {
  const base = `final:${windowKeyString(w)}`;
  return revision > 0 ? `${base}#${revision}` : base;
}

function windowColumns(w: WindowKey): string {
  return `"model":${str(w.model)},"version":${str(w.version)},"size_label":${str(w.sizeLabel)},"window_size_ms":${u64(w.size, 'window size')},"window_start":"${formatDateTime64(w.start, 'window start')}","window_end":"${formatDateTime64(w.end, 'window end')}"`;
}

export function encodePartial(p: PartialRow): string {
  return `{${windowColumns(p)},"lane":${str(p.lane)},"final":${p.final ? 1 : 0},"position":${str(p.position)},"baseline_id":${str(p.baselineId)},"events":${u64(p.events, 'partial events')},"state":${str(p.state)},"instance":${str(p.instance)},"written_at":"${formatDateTime64(p.writtenAt, 'partial writtenAt')}"}`;
}

/**
 * A watermark below the storable range (the earliest events' time minus the allowed lateness)
 * is stored as the range's start: no window with an event ends before it, so it says the same.
 */
function watermarkColumn(ms: number | null): string {
  if (ms === null) return 'null';
  return `"${formatDateTime64(Math.max(ms, EARLIEST_STORABLE_TS), 'lane watermark')}"`;
}

export function encodeLaneProgress(r: LaneProgressRow): string {
  return `{"lane":${str(r.lane)},"model":${str(r.model)},"version":${str(r.version)},"watermark":${watermarkColumn(r.watermark)},"idle":${r.idle ? 1 : 0},"retired":${r.retired ? 1 : 0},"position":${str(r.position)},"seq":${u64(r.seq, 'lane progress seq')},"instance":${str(r.instance)},"written_at":"${formatDateTime64(r.writtenAt, 'lane progress writtenAt')}"}`;
}

export function encodeFinalisation(f: FinalisationRow): string {
  const lanes = f.lanes.map((l) => str(l)).join(',');
  return `{${windowColumns(f)},"revision":${u64(f.revision ?? 0, 'finalisation revision')},"lanes":[${lanes}],"events":${u64(f.events, 'finalisation events')},"instance":${str(f.instance)},"written_at":"${formatDateTime64(f.finalisedAt, 'finalisedAt')}","delay_seconds":${f64(f.delaySeconds)}}`;
}

const WINDOW_COLUMNS = `model, version, size_label, window_size_ms,
  toUnixTimestamp64Milli(window_start) AS window_start_ms, toUnixTimestamp64Milli(window_end) AS window_end_ms`;

export interface WindowKeySqlRow {
  model: string;
  version: string;
  size_label: string;
  window_size_ms: string | number;
  window_start_ms: string | number;
  window_end_ms: string | number;
}

export interface PartialSqlRow extends WindowKeySqlRow {
  lane: string;
  final: number;
  position: string;
  baseline_id: string;
  events: string | number;
  state: string;
  instance: string;
  written_at_ms: string | number;
}

export interface LaneProgressSqlRow {
  lane: string;
  model: string;
  version: string;
  watermark_ms: string | number | null;
  idle: number;
  retired: number;
  position: string;
  seq: string | number;
  instance: string;
  written_at_ms: string | number;
}

export interface FinalisationSqlRow extends WindowKeySqlRow {
  revision: string | number;
  lanes: string[];
  events: string | number;
  instance: string;
  written_at_ms: string | number;
  delay_seconds: number | string;
}

/**
 * Params: model, version, label, start. Per lane its final partial, else its newest
 * provisional one; by lane.
 */
export function partialsOfSql(db: string): string {
  return `SELECT ${WINDOW_COLUMNS}, lane, final, position, baseline_id, events, state, instance,
  toUnixTimestamp64Milli(written_at) AS written_at_ms
FROM ${tableRef(db, 'window_partials')}
WHERE model = {model:String} AND version = {version:String} AND size_label = {label:String}
  AND window_start = fromUnixTimestamp64Milli({start:Int64}, 'UTC')
ORDER BY lane, final DESC, written_at DESC
LIMIT 1 BY lane
${READ_SETTINGS}`;
}

/**
 * Params: limit. Windows with a partial and no finalisation, oldest end first. Reads the keys
 * of both tables (the sort key's columns), never a partial's state.
 */
export function pendingWindowsSql(db: string): string {
  return `SELECT model, version, size_label, any(window_size_ms) AS window_size_ms,
  toUnixTimestamp64Milli(window_start) AS window_start_ms,
  toUnixTimestamp64Milli(any(window_end)) AS window_end_ms
FROM ${tableRef(db, 'window_partials')}
WHERE written_at >= fromUnixTimestamp64Milli({since:Int64}, 'UTC')
  AND (model, version, size_label, window_start) NOT IN (
  SELECT model, version, size_label, window_start FROM ${tableRef(db, 'window_finalisations')}
)
GROUP BY model, version, size_label, window_start
ORDER BY window_end_ms, window_start_ms, model, version, size_label
LIMIT {limit:UInt64}
${READ_SETTINGS}`;
}

/** The latest row per (lane, model, version): highest seq, then newest. */
export function laneProgressSql(db: string): string {
  return `SELECT lane, model, version, toUnixTimestamp64Milli(watermark) AS watermark_ms, idle, retired,
  position, seq, instance, toUnixTimestamp64Milli(written_at) AS written_at_ms
FROM ${tableRef(db, 'lane_progress')}
ORDER BY lane, model, version, seq DESC, written_at DESC
LIMIT 1 BY lane, model, version
${READ_SETTINGS}`;
}

/**
 * Params: since, limit. Finalisations written at or after `since`, oldest first: one per
 * window (its first finalisation, revision 0) even if a copy got past the insert
 * deduplication (the first one counts); with `revisions`, one per window and revision.
 */
export function finalisationsSql(db: string, revisions = false): string {
  return `SELECT ${WINDOW_COLUMNS}, revision, lanes, events, instance,
  toUnixTimestamp64Milli(written_at) AS written_at_ms, delay_seconds
FROM ${tableRef(db, 'window_finalisations')}
WHERE written_at >= fromUnixTimestamp64Milli({since:Int64}, 'UTC')${revisions ? '' : ' AND revision = 0'}
ORDER BY written_at, model, version, size_label, window_start, revision
LIMIT 1 BY model, version, size_label, window_start${revisions ? ', revision' : ''}
LIMIT {limit:UInt64}
${READ_SETTINGS}`;
}

export interface RevisableSqlRow extends WindowKeySqlRow {
  revision: string | number;
  events: string | number;
  partial_events: string | number;
}

/**
 * Params: since, limit. Finalised windows with a final partial written at or after `since`
 * whose lanes' latest partials (per lane the final row, else the newest provisional one) sum
 * to more events than the window's latest finalisation (highest revision) merged; oldest end
 * first. Bounded by time: only windows with a final partial written since `since` are looked
 * at (the minmax index on window_partials.written_at, migration 25, skips older parts); their
 * rows are then read by the sorting key, never a partial's state.
 */
export function revisableWindowsSql(db: string): string {
  const partials = tableRef(db, 'window_partials');
  const recent = `SELECT model, version, size_label, window_start FROM ${partials}
    WHERE final = 1 AND written_at >= fromUnixTimestamp64Milli({since:Int64}, 'UTC')`;
  return `SELECT p.model AS model, p.version AS version, p.size_label AS size_label,
  p.window_size_ms AS window_size_ms,
  toUnixTimestamp64Milli(p.window_start) AS window_start_ms,
  toUnixTimestamp64Milli(p.window_end) AS window_end_ms,
  f.last_revision AS revision, f.merged_events AS events, p.partial_events AS partial_events
FROM (
  SELECT model, version, size_label, window_start, any(window_size_ms) AS window_size_ms,
    any(window_end) AS window_end, sum(events) AS partial_events
  FROM (
    SELECT model, version, size_label, window_start, window_size_ms, window_end, lane, events
    FROM ${partials}
    WHERE (model, version, size_label, window_start) IN (${recent})
    ORDER BY model, version, size_label, window_start, lane, final DESC, written_at DESC
    LIMIT 1 BY model, version, size_label, window_start, lane
  )
  GROUP BY model, version, size_label, window_start
) AS p
INNER JOIN (
  SELECT model, version, size_label, window_start, max(revision) AS last_revision,
    argMax(events, (revision, written_at)) AS merged_events
  FROM ${tableRef(db, 'window_finalisations')}
  WHERE (model, version, size_label, window_start) IN (${recent})
  GROUP BY model, version, size_label, window_start
) AS f
ON p.model = f.model AND p.version = f.version AND p.size_label = f.size_label
  AND p.window_start = f.window_start
WHERE p.partial_events > f.merged_events
ORDER BY window_end_ms, window_start_ms, model, version, size_label
LIMIT {limit:UInt64}
${READ_SETTINGS}`;
}

export function decodeRevisable(r: RevisableSqlRow): RevisableWindow {
  return {
    ...decodeWindowKey(r),
    revision: Number(r.revision),
    events: Number(r.events),
    partialEvents: Number(r.partial_events),
  };
}

export function decodeWindowKey(r: WindowKeySqlRow): WindowKey {
  return {
    model: r.model,
    version: r.version,
    sizeLabel: r.size_label,
    size: Number(r.window_size_ms),
    start: Number(r.window_start_ms),
    end: Number(r.window_end_ms),
  };
}

export function decodePartial(r: PartialSqlRow): PartialRow {
  return {
    ...decodeWindowKey(r),
    lane: r.lane,
    final: Number(r.final) === 1,
    position: r.position,
    baselineId: r.baseline_id,
    events: Number(r.events),
    state: r.state,
    instance: r.instance,
    writtenAt: Number(r.written_at_ms),
  };
}

export function decodeLaneProgress(r: LaneProgressSqlRow): LaneProgressRow {
  return {
    lane: r.lane,
    model: r.model,
    version: r.version,
    watermark: r.watermark_ms === null ? null : Number(r.watermark_ms),
    idle: Number(r.idle) === 1,
    retired: Number(r.retired) === 1,
    position: r.position,
    seq: Number(r.seq),
    instance: r.instance,
    writtenAt: Number(r.written_at_ms),
  };
}

export function decodeFinalisation(r: FinalisationSqlRow): FinalisationRow {
  const revision = Number(r.revision ?? 0);
  return {
    ...decodeWindowKey(r),
    // Absent for a window's first finalisation (most rows).
    ...(revision > 0 ? { revision } : {}),
    lanes: r.lanes,
    events: Number(r.events),
    instance: r.instance,
    finalisedAt: Number(r.written_at_ms),
    delaySeconds: toNumber(r.delay_seconds),
  };
}
