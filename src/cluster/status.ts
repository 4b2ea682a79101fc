/**
 * What GET /api/v1/cluster answers (cluster mode): every lane the store knows of, who last
 * wrote its progress, where it stands, whether it counts for finalisation; the windows waiting
 * and which lanes hold each back. Pure: the finaliser reads the store and calls it.
 */
import type { LaneSet } from './lane-set.js';
import type { LaneProgressRow, WindowKey } from './types.js';

export interface LaneStatus {
  lane: string;
  /** The lane counts for finalisation (lane-set.ts). */
  inSet: boolean;
  /** The instance that wrote its latest progress (its owner then); null: none written. */
  owner: string | null;
  /** Lane-level progress (model = version = ''); null: none written. */
  watermark: number | null;
  idle: boolean;
  retired: boolean;
  /** Wall-clock ms of its latest progress row; null: none. */
  progressAt: number | null;
}

export interface PendingStatus extends WindowKey {
  /** Lanes holding it back; null: the lane set is not known yet (Kafka metadata). */
  holding: string[] | null;
}

export interface ClusterStatus {
  instance: string;
  /** Lanes whose window state this instance holds. */
  lanesHere: string[];
  /** False while Kafka is configured and its partitions are not known: nothing is finalised. */
  laneSetKnown: boolean;
  lanes: LaneStatus[];
  /** Oldest end first, at most the limit asked. */
  pending: PendingStatus[];
}

export function clusterStatus(opts: {
  instance: string;
  lanesHere: readonly string[];
  set: LaneSet;
  progress: readonly LaneProgressRow[];
  pending: readonly WindowKey[];
}): ClusterStatus {
  const { set } = opts;
  const newer = (a: LaneProgressRow, b: LaneProgressRow) =>
    a.seq !== b.seq ? a.seq > b.seq : a.writtenAt > b.writtenAt;
  const latest = new Map<string, LaneProgressRow>();
  const laneLevel = new Map<string, LaneProgressRow>();
  for (const r of opts.progress) {
    const l = latest.get(r.lane);
    if (l === undefined || newer(r, l)) latest.set(r.lane, r);
    if (r.model === '' && r.version === '') {
      const had = laneLevel.get(r.lane);
      if (had === undefined || newer(r, had)) laneLevel.set(r.lane, r);
    }
  }
  const inSet = new Set(set.lanes ?? []);
  const names = new Set([...latest.keys(), ...inSet, ...opts.lanesHere]);
  const lanes = [...names].sort().map((lane): LaneStatus => {
    const l = latest.get(lane);
    const top = laneLevel.get(lane);
    return {
      lane,
      inSet: inSet.has(lane),
      owner: l?.instance ?? null,
      watermark: top?.watermark ?? null,
      idle: top?.idle ?? false,
      retired: top?.retired ?? false,
      progressAt: l?.writtenAt ?? null,
    };
  });
  return {
    instance: opts.instance,
    lanesHere: [...opts.lanesHere].sort(),
    laneSetKnown: set.lanes !== null,
    lanes,
    pending: opts.pending.map((w) => ({ ...w, holding: set.holding(w) })),
  };
}
