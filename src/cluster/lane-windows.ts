/**
 * Cluster mode's window state: one window registry (one manager per model,
 * src/ingest/window-registry.ts) per input lane (src/cluster/types.ts). Each lane's managers
 * see only that lane's events, so their watermark is the lane's own and their windows hold
 * exactly what one instance would count of that lane (manager.ts: lateness is per lane). A
 * lane's closed windows are its partials (partial-writer.ts); the finaliser merges them.
 *
 * `LaneWindows` is what the sources, the checkpointers and the finaliser ask of the lanes;
 * `LaneRegistry` adds what the pipeline asks of all of them at once, in the shape of a
 * `WindowRegistry`, so the pipeline's drain/tick/flush/settle code runs unchanged.
 */
import type { LiveConfig } from '../config/live.js';
import type { Metrics } from '../export/metrics.js';
import type { BaselineCache } from '../ingest/baselines.js';
import { type RestoreReport, restoreWindows } from '../ingest/checkpoint.js';
import { createWindowRegistry, type WindowRegistry } from '../ingest/window-registry.js';
import type { Logger } from '../logger.js';
import type { EventSource, WindowBounds, WindowResult } from '../types.js';
import type { Clock, ClosedWindow, WindowManager, WindowManagerSnapshot } from '../window/index.js';
import { httpLane, isHttpLane, laneOfSource } from './types.js';

/** Where one lane stands for one (model, version); model = version = '' for the lane. */
export interface LaneProgress {
  model: string;
  version: string;
  watermark: number | null;
  idle: boolean;
}

export interface LaneWindows {
  /** The lanes held, in the order they were opened. */
  ids(): string[];
  has(lane: string): boolean;
  /** Empty windows for a new lane (no-op if present). */
  open(lane: string): void;
  /** Replaces the lane's windows with the snapshots (a checkpoint's); opens it if absent. */
  restore(lane: string, windows: Record<string, WindowManagerSnapshot>): RestoreReport;
  /** Revoked: the lane's windows are discarded, nothing is written. */
  drop(lane: string): void;
  /** The lane's windows; call when `pipeline.quiescent()` (nothing closed and unwritten). */
  snapshot(lane: string): Record<string, WindowManagerSnapshot>;
  /**
   * Where the lane stands: per (model, version) it has a stream for, and one lane-level entry
   * (model = version = ''): the max watermark over its versions (null: nothing delivered);
   * idle when nothing at all came for the smallest idle timeout — for a Kafka lane counted from
   * when it was opened or restored here (its partition may hold messages not fetched yet, as
   * one instance holds an announced partition back), while an HTTP lane that never delivered
   * is idle at once (one instance has no such lane). A version is idle once quiet for its idle
   * timeout with its open windows' provisional copies queued (a tick). Windows of the lane
   * closed and not yet stored hold it back: its watermark stays below the first one's end and
   * it is not idle (`pendingFrom`). Kafka lag is the source's to add.
   */
  progress(lane: string): LaneProgress[];
  /**
   * A window finalised elsewhere: every lane closes its windows of that size ending ≤ end
   * (one holding events is queued as the lane's final partial: the finaliser revises the
   * window if it holds more than was merged; an empty one is dropped) and counts later events
   * for them late; so does every lane opened or restored later.
   */
  closeThrough(model: string, version: string, sizeLabel: string, end: number): void;
}

/** The engine's cluster side, as the finaliser and the sources see it (`pipeline.cluster`). */
export interface ClusterEngine {
  readonly instanceId: string;
  readonly lanes: LaneWindows;
  /**
   * Evaluates and writes final windows (the finaliser's): one INSERT per window, with
   * dedupToken(c) → DedupOptions.dedupToken; same metrics/performance/log as today.
   */
  writeFinal(
    closed: readonly ClosedWindow[],
    dedupToken: (c: ClosedWindow) => string,
  ): Promise<WindowResult[]>;
  /** Label ingest asks this instead of windows.isOpen: a window is open until finalised. */
  setWindowOpen(isOpen: (model: string, b: WindowBounds) => boolean): void;
}

/** Every lane at once, for the pipeline (see the file comment). */
export interface LaneRegistry
  extends Omit<LaneWindows, 'snapshot'>,
    Omit<WindowRegistry, 'managers' | 'snapshot'> {
  /** Empty: in cluster mode managers are per lane (`registryOf`). */
  readonly managers: ReadonlyMap<string, WindowManager>;
  /** This instance's HTTP lane. */
  readonly httpLane: string;
  /**
   * The registry of the lane `source` belongs to. The HTTP lane opens on first use; a Kafka
   * lane must have been opened or restored by its source.
   * @throws Error for a Kafka lane not held (a bug: its partition is not assigned here)
   */
  registryOf(source: EventSource): { lane: string; registry: WindowRegistry };
  /** The lane's registry, if held. */
  registry(lane: string): WindowRegistry | undefined;
  /** A lane's windows (see LaneWindows); without a lane, the HTTP lane's (its checkpoint). */
  snapshot(lane?: string): Record<string, WindowManagerSnapshot>;
  /**
   * The closed windows not yet stored (the partial writer's queue, the HTTP gate): a lane's
   * progress holds back for them (a window's partial is stored before progress passes it).
   */
  pendingFrom(pending: () => Iterable<ClosedWindow>): void;
}

/** Series whose finalised mark a new lane receives (see `finalised` below). */
const MAX_FINALISED_SERIES = 10_000;

export function createLaneWindows(opts: {
  instanceId: string;
  live: LiveConfig;
  clock: Clock;
  metrics: Metrics;
  baselines: BaselineCache;
  logger: Logger;
}): LaneRegistry {
  const { instanceId, live, clock, metrics, baselines } = opts;
  const log = opts.logger;
  const http = httpLane(instanceId);
  const lanes = new Map<string, WindowRegistry>();
  /**
   * Wall-clock of each lane's last delivery (lane-level idleness); a Kafka lane's opening or
   * restore counts as one. Absent: an HTTP lane that never delivered.
   */
  const lastDelivery = new Map<string, number>();
  const none: ReadonlyMap<string, WindowManager> = new Map();
  let pending: () => Iterable<ClosedWindow> = () => [];

  /**
   * The windows finalised so far, per series (model, version, size): the latest end. Every
   * lane built later (opened, restored, rebuilt) is closed through them too, so no lane ever
   * counts an event into a window already finalised. Bounded: the oldest series go first.
   */
  const finalised = new Map<
    string,
    { model: string; version: string; size: string; end: number }
  >();
  const applyFinalised = (r: WindowRegistry): WindowRegistry => {
    for (const f of finalised.values()) r.get(f.model)?.closeThrough(f.version, f.size, f.end);
    return r;
  };
  const build = (): WindowRegistry =>
    applyFinalised(createWindowRegistry({ live, clock, metrics, baselines }));

  function open(lane: string): WindowRegistry {
    let r = lanes.get(lane);
    if (r === undefined) {
      r = build();
      lanes.set(lane, r);
    }
    return r;
  }

  // One-entry cache: a batch's events share their source's lane (Kafka: a partition's batch).
  let lastSource: EventSource | undefined;
  let last: { lane: string; registry: WindowRegistry } | undefined;
  function registryOf(source: EventSource) {
    if (source !== lastSource || last === undefined || lanes.get(last.lane) !== last.registry) {
      const lane = laneOfSource(source, instanceId);
      let registry = lanes.get(lane);
      if (registry === undefined) {
        if (!isHttpLane(lane))
          throw new Error(
            `lane ${lane} is not held by this instance: its partition was not assigned here`,
          );
        registry = open(lane);
      }
      lastSource = source;
      last = { lane, registry };
    }
    // Once per run of a lane's events (stream-intake.ts), not per event.
    lastDelivery.set(last.lane, clock.now());
    return last;
  }

  function minIdleTimeout(): number {
    let min = Number.POSITIVE_INFINITY;
    for (const m of live.current.models) {
      const t = m.windows.idleTimeoutMs;
      if (t > 0 && t < min) min = t;
    }
    return min;
  }

  /** Closed windows of every lane, each marked with its lane. */
  function collect(take: (r: WindowRegistry) => ClosedWindow[]): ClosedWindow[] {
    const out: ClosedWindow[] = [];
    for (const [lane, r] of lanes) {
      for (const c of take(r)) {
        c.lane = lane;
        out.push(c);
      }
    }
    return out;
  }

  return {
    managers: none,
    httpLane: http,
    registryOf,
    registry: (lane) => lanes.get(lane),
    ids: () => [...lanes.keys()],
    has: (lane) => lanes.has(lane),
    open(lane) {
      if (!lanes.has(lane) && !isHttpLane(lane)) lastDelivery.set(lane, clock.now());
      open(lane);
    },
    restore(lane, windows) {
      const r = createWindowRegistry({ live, clock, metrics, baselines });
      lanes.set(lane, r);
      last = undefined;
      if (!isHttpLane(lane)) lastDelivery.set(lane, clock.now());
      const report = restoreWindows(r.managers, { windows, seq: 0 }, log);
      // After the restore (a fresh manager takes a snapshot only): the marks since the cut.
      applyFinalised(r);
      return report;
    },
    drop(lane) {
      lanes.delete(lane);
      lastDelivery.delete(lane);
      last = undefined;
    },
    snapshot(lane = http) {
      return lanes.get(lane)?.snapshot() ?? {};
    },
    pendingFrom(fn) {
      pending = fn;
    },
    progress(lane) {
      // A window of the lane still on its way holds its version back: the watermark stays
      // below its end, and the version is not idle (its provisional copy counts only stored).
      const held = new Map<string, number>();
      let heldAny = Number.POSITIVE_INFINITY;
      for (const c of pending()) {
        if (c.lane !== lane) continue;
        const key = `${c.bounds.model}\u0000${c.bounds.version}`;
        const below = c.bounds.end - 1;
        if (below < (held.get(key) ?? Number.POSITIVE_INFINITY)) held.set(key, below);
        if (below < heldAny) heldAny = below;
      }
      const r = lanes.get(lane);
      const out: LaneProgress[] = [];
      let top: number | null = null;
      if (r !== undefined) {
        for (const [model, m] of r.managers) {
          for (const v of m.versions()) {
            const cap = held.get(`${model}\u0000${v.version}`);
            const watermark =
              cap === undefined || v.watermark === null ? v.watermark : Math.min(v.watermark, cap);
            out.push({ model, version: v.version, watermark, idle: v.quiet && cap === undefined });
            if (watermark !== null && (top === null || watermark > top)) top = watermark;
          }
        }
      }
      const at = lastDelivery.get(lane);
      const quiet = at === undefined || clock.now() - at >= minIdleTimeout();
      if (top !== null && top > heldAny) top = heldAny;
      out.push({
        model: '',
        version: '',
        watermark: top,
        idle: quiet && heldAny === Number.POSITIVE_INFINITY,
      });
      return out;
    },
    closeThrough(model, version, sizeLabel, end) {
      const key = `${model}\u0000${version}\u0000${sizeLabel}`;
      const had = finalised.get(key);
      if (had === undefined || had.end < end) {
        finalised.delete(key);
        finalised.set(key, { model, version, size: sizeLabel, end });
        if (finalised.size > MAX_FINALISED_SERIES) finalised.delete(finalised.keys().next().value!);
      }
      for (const r of lanes.values()) r.get(model)?.closeThrough(version, sizeLabel, end);
    },

    // --- every lane at once (WindowRegistry's shape, for the pipeline) ---
    get: (model) => open(http).get(model),
    reset() {
      // A rebuild after a failed HTTP raw write: only the HTTP lane held those events.
      lanes.set(http, build());
      last = undefined;
    },
    drain: () => collect((r) => r.drain()),
    tick: () => collect((r) => r.tick()),
    flushAll: () => collect((r) => r.flushAll()),
    reconcile(previous) {
      return collect((r) => r.reconcile(previous));
    },
    updateOpenGauge() {
      const open = new Map<string, number>();
      for (const m of live.current.models) open.set(m.id, 0);
      for (const r of lanes.values()) {
        for (const [model, m] of r.managers)
          open.set(model, (open.get(model) ?? 0) + m.openWindows().length);
      }
      for (const [model, n] of open) metrics.openWindows.set({ model }, n);
    },
    openWindows() {
      let n = 0;
      for (const r of lanes.values()) n += r.openWindows();
      return n;
    },
    isOpen(model, b) {
      for (const r of lanes.values()) if (r.isOpen(model, b)) return true;
      return false;
    },
  };
}
