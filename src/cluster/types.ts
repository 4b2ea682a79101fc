/**
 * Cluster mode's shared vocabulary (docs/scale-out.md): lanes, the rows instances exchange
 * through the store, and the store's part. One file, so the engine (per-lane windows,
 * src/ingest/window-registry.ts), the sources (kafka/, checkpointer.ts), the finaliser
 * (src/cluster/finaliser.ts) and the store drivers meet one contract.
 *
 * A lane is an ordered input whose events only its owner counts: a Kafka partition
 * (`topic/partition`, moved between instances by the group), or one instance's HTTP input
 * (`http:<instanceId>`). Each lane keeps window state of its own, checkpointed with the lane's
 * position; when the lane's watermark passes a window's end it writes its part of the window
 * (a partial: the window state of that lane's events, final) and, with each checkpoint, its
 * progress. A window is finalised — its partials merged by exact addition, evaluated once, and
 * written as the one result — once every lane has passed its end (or is idle); any instance
 * may do it, and the store keeps one (insert deduplication by a token per window).
 */
import type { EventSource, WindowBounds } from '../types.js';

export const HTTP_LANE_PREFIX = 'http:';

/** The lane of an instance's HTTP input. */
export function httpLane(instanceId: string): string {
  return `${HTTP_LANE_PREFIX}${instanceId}`;
}

/** The lane of a Kafka partition (the same string as src/window/manager.ts `laneOf`). */
export function kafkaLane(topic: string, partition: number): string {
  return `${topic}/${partition}`;
}

/** The lane an event from `source` belongs to, on instance `instanceId`. */
export function laneOfSource(source: EventSource, instanceId: string): string {
  return source.kind === 'kafka' ? kafkaLane(source.topic, source.partition) : httpLane(instanceId);
}

export function isHttpLane(lane: string): boolean {
  return lane.startsWith(HTTP_LANE_PREFIX);
}

/** A window of the whole traffic (no segment), as the cluster tables key it. */
export type WindowKey = Pick<
  WindowBounds,
  'model' | 'version' | 'sizeLabel' | 'size' | 'start' | 'end'
>;

/** "model|version|sizeLabel|start": the insert deduplication token's body, and a map key. */
export function windowKeyString(w: WindowKey): string {
  return `${w.model}|${w.version}|${w.sizeLabel}|${w.start}`;
}

/** One lane's part of one window (table `window_partials`). */
export interface PartialRow extends WindowKey {
  lane: string;
  /**
   * true: the lane closed the window (its watermark passed the end, or a flush): its last
   * word. false: a provisional copy of a window still open in a quiet lane (written at each
   * idle tick); a final row of the same lane always wins over provisional ones.
   */
  final: boolean;
  /** The lane's position when written (Kafka: next offset; HTTP: ingest position), decimal. */
  position: string;
  baselineId: string;
  /** Events of the whole traffic in this lane's part. */
  events: number;
  /** JSON of the lane's WindowStateSnapshot (src/window/state.ts), segments included. */
  state: string;
  /** The instance that wrote it. */
  instance: string;
  /** Wall-clock ms. */
  writtenAt: number;
}

/**
 * Where a lane stands for one (model, version) — or for the lane as a whole when model and
 * version are '' — written with each lane checkpoint (table `lane_progress`; the latest row per
 * (lane, model, version) by `seq`, then `writtenAt`, counts).
 */
export interface LaneProgressRow {
  lane: string;
  model: string;
  version: string;
  /**
   * The lane's watermark, epoch ms: every window of (model, version) ending at or before it is
   * closed in this lane and its final partial is stored. null: nothing delivered yet.
   */
  watermark: number | null;
  /**
   * The owner saw nothing of it for the model's idle timeout (and, for Kafka, had no lag): it
   * does not hold windows back; its open windows' provisional partials count as they are.
   */
  idle: boolean;
  /** An HTTP lane whose instance left for good: never holds windows back again. */
  retired: boolean;
  /** The lane position of the checkpoint it was written with, decimal. */
  position: string;
  /** The lane checkpoint's sequence number (increases per lane, across owners). */
  seq: number;
  instance: string;
  writtenAt: number;
}

/**
 * The record that a window was finalised (table `window_finalisations`): one row per window
 * and revision (a window is revised when a lane's final partial brings events beyond what was
 * merged: `revisableWindows`).
 */
export interface FinalisationRow extends WindowKey {
  /** 0 (or absent): the window's first finalisation; n: its n-th revision ('lane_late'). */
  revision?: number;
  /** The lanes whose partials were merged, sorted. */
  lanes: string[];
  events: number;
  instance: string;
  finalisedAt: number;
  /** Seconds from the last lane's final partial to the finalisation. */
  delaySeconds: number;
}

/**
 * A finalised window whose lanes' latest partials (a final row over provisional ones) hold
 * more events than its latest finalisation merged: a lane counted events into it after the
 * partial it was finalised from (src/window/manager.ts closeThrough).
 */
export interface RevisableWindow extends WindowKey {
  /** The latest finalisation's revision (the next one is revision + 1). */
  revision: number;
  /** Events the latest finalisation merged. */
  events: number;
  /** Events of the lanes' latest partials, summed. */
  partialEvents: number;
}

/** Options of an insert that must land once however many instances make it. */
export interface DedupOptions {
  /**
   * ClickHouse's insert_deduplication_token: a second INSERT with the same token into the same
   * table is dropped by the engine (also for the tables its materialized views feed).
   */
  dedupToken?: string;
}

/** The store's part in cluster mode (both drivers). */
export interface ClusterStore {
  insertPartials(rows: readonly PartialRow[]): Promise<void>;
  insertLaneProgress(rows: readonly LaneProgressRow[]): Promise<void>;
  /** The latest progress row per (lane, model, version). */
  laneProgress(): Promise<LaneProgressRow[]>;
  /**
   * Windows with at least one partial and no finalisation, oldest end first; only partials
   * written at or after `since` (wall-clock ms, default 0: all) are looked at.
   */
  pendingWindows(limit: number, since?: number): Promise<WindowKey[]>;
  /** The latest partial of every lane of the window (a final row wins over provisional ones). */
  partialsOf(window: WindowKey): Promise<PartialRow[]>;
  /** Written with dedupToken `final:<windowKeyString>`: one row per window, whoever writes. */
  insertFinalisation(row: FinalisationRow): Promise<void>;
  /**
   * Finalisations with finalisedAt ≥ `since` (wall-clock ms), oldest first: each window's
   * first (revision 0); with `revisions`, every revision's row too.
   */
  finalisations(
    since: number,
    limit: number,
    opts?: { revisions?: boolean },
  ): Promise<FinalisationRow[]>;
  /**
   * Finalised windows with a final partial written at or after `since` (wall-clock ms) whose
   * lanes' latest partials hold more events than the latest finalisation: oldest end first.
   */
  revisableWindows(since: number, limit: number): Promise<RevisableWindow[]>;
}

/** Lane checkpoint group names in the `checkpoints` table. */
export function laneCheckpointGroup(groupId: string, lane: string): string {
  return isHttpLane(lane) ? `driftd:${lane}` : `${groupId}#${lane}`;
}
