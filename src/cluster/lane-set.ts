/**
 * Which lanes may hold a window back, and whether one does (docs/scale-out.md). Pure: the
 * finaliser (finaliser.ts) builds one per run from what it read from the store.
 *
 * The lane set is every partition of the predictions topic (Kafka metadata, when Kafka is
 * configured: a partition nobody has consumed yet holds everything back, as it would in one
 * instance) ∪ every HTTP lane with progress rows that is not retired and wrote progress within
 * `laneTimeoutMs` (an instance gone without retiring its lane stops holding windows back after
 * that long). Kafka lanes never time out: their owner may change, their input stays.
 *
 * Lane L holds window w of (model, version) unless its progress row for (L, model, version)
 * says it passed w (watermark ≥ end) or is idle; with no such row, its lane-level row
 * (L, '', '') decides the same way; with no row at all, L holds w.
 */
import { isHttpLane, type LaneProgressRow, type WindowKey } from './types.js';

export interface LaneSetInput {
  /** The latest progress row per (lane, model, version) (ClusterStore.laneProgress). */
  progress: readonly LaneProgressRow[];
  /** Kafka is configured: its partitions are lanes. */
  kafka: boolean;
  /** Every partition of the predictions topic as lanes; undefined while not known. */
  kafkaLanes: readonly string[] | undefined;
  /** Wall-clock ms. */
  now: number;
  laneTimeoutMs: number;
}

export interface LaneSet {
  /**
   * The lanes that may hold windows back, sorted; null when the set is not known (Kafka is
   * configured and its partitions are not known yet): then no window is ready.
   */
  readonly lanes: readonly string[] | null;
  /** Whether `lane` holds `w` back (see the file comment); independent of the set. */
  holds(lane: string, w: WindowKey): boolean;
  /** The lanes of the set holding `w` back; none: `w` is ready. Null when the set is unknown. */
  holding(w: WindowKey): string[] | null;
  /** Every lane of the set has passed `w` (false when the set is unknown). */
  ready(w: WindowKey): boolean;
}

const rowKey = (lane: string, model: string, version: string) =>
  `${lane}\u0000${model}\u0000${version}`;

/** Later by checkpoint sequence, then by write time (the store's own order). */
function newer(a: LaneProgressRow, b: LaneProgressRow): boolean {
  return a.seq !== b.seq ? a.seq > b.seq : a.writtenAt > b.writtenAt;
}

/** The row lets `w` go: the lane passed its end, or is idle. */
function passes(row: LaneProgressRow, w: WindowKey): boolean {
  return row.idle || (row.watermark !== null && row.watermark >= w.end);
}

export function laneSet(input: LaneSetInput): LaneSet {
  const rows = new Map<string, LaneProgressRow>();
  /** Per lane, its newest row (any model): when it last wrote. */
  const newest = new Map<string, LaneProgressRow>();
  for (const r of input.progress) {
    const k = rowKey(r.lane, r.model, r.version);
    const had = rows.get(k);
    if (had === undefined || newer(r, had)) rows.set(k, r);
    const n = newest.get(r.lane);
    if (n === undefined || newer(r, n)) newest.set(r.lane, r);
  }
  /** Retired: the lane-level row says so (written with every checkpoint), else the newest. */
  const retired = (lane: string, r: LaneProgressRow) =>
    (rows.get(rowKey(lane, '', '')) ?? r).retired;

  let lanes: string[] | null;
  if (input.kafka && input.kafkaLanes === undefined) {
    lanes = null;
  } else {
    const set = new Set<string>(input.kafka ? (input.kafkaLanes ?? []) : []);
    for (const [lane, r] of newest) {
      if (!isHttpLane(lane) || retired(lane, r)) continue;
      if (input.now - r.writtenAt > input.laneTimeoutMs) continue;
      set.add(lane);
    }
    lanes = [...set].sort();
  }

  function holds(lane: string, w: WindowKey): boolean {
    const row = rows.get(rowKey(lane, w.model, w.version)) ?? rows.get(rowKey(lane, '', ''));
    return row === undefined || !passes(row, w);
  }

  function holding(w: WindowKey): string[] | null {
    return lanes === null ? null : lanes.filter((l) => holds(l, w));
  }

  return {
    lanes,
    holds,
    holding,
    ready: (w) => holding(w)?.length === 0,
  };
}
