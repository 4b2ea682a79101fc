import { changedPaths, type LiveConfig } from '../config/live.js';
import type { ModelConfig } from '../config/types.js';
import type { Metrics } from '../export/metrics.js';
import type { WindowBounds } from '../types.js';
import {
  type Clock,
  type ClosedWindow,
  createWindowManager,
  type WindowManager,
  type WindowManagerSnapshot,
} from '../window/index.js';
import type { BaselineCache } from './baselines.js';

/**
 * The engine's windows: one window manager per configured model (one Map, replaced in place by
 * `reset`, so holders of `managers` always see the current ones), and what the engine asks of
 * all of them at once.
 */
export interface WindowRegistry {
  readonly managers: ReadonlyMap<string, WindowManager>;
  /** The model's manager (configured models only). */
  get(model: string): WindowManager | undefined;
  /** Fresh, empty managers for every model. */
  reset(): void;
  /** The windows every manager closed since the last drain. */
  drain(): ClosedWindow[];
  /** Closes idle windows (their managers' `tick`). */
  tick(): ClosedWindow[];
  /** Closes every open window. */
  flushAll(): ClosedWindow[];
  snapshot(): Record<string, WindowManagerSnapshot>;
  /** Sets the open-windows gauge of every model. */
  updateOpenGauge(): void;
  openWindows(): number;
  isOpen(model: string, b: WindowBounds): boolean;
  /**
   * Brings the managers in line with the live config after a reload (src/reload.ts), in one
   * synchronous step: a changed model's windows move, open, into a manager built from its
   * new config (what a restart restoring a checkpoint does); a removed model's open windows
   * are closed. Returns the windows closed on the way, to be written like any other (with the
   * config in force: a removed model's last one, see pipeline.reconfigure).
   */
  reconcile(previous: ReadonlyMap<string, ModelConfig>): ClosedWindow[];
}

export function createWindowRegistry(opts: {
  live: LiveConfig;
  clock: Clock;
  metrics: Metrics;
  baselines: BaselineCache;
  /** A version retired by its model's manager (after its gauges are dropped). */
  onRetire?: (model: string, version: string) => void;
}): WindowRegistry {
  const { live, clock, metrics, baselines } = opts;
  const managers = new Map<string, WindowManager>();
  const managerOf = (model: ModelConfig): WindowManager =>
    createWindowManager({
      model,
      clock,
      baselineFor: (version) => baselines.baselineFor(model, version),
      baselineById: (id) => baselines.byId(id),
      onRetire: (version) => {
        metrics.forgetVersion(model.id, version);
        baselines.forgetGauges(model.id, version);
        opts.onRetire?.(model.id, version);
      },
      // A retired version that comes back gets its baseline's gauges again.
      onAdmit: (version) => baselines.reportGauges(model.id, version),
    });
  function reset(): void {
    managers.clear();
    for (const model of live.current.models) managers.set(model.id, managerOf(model));
  }
  reset();

  /** The windows of `old` in a manager built from `model` (see reconcile). */
  function move(old: WindowManager, model: ModelConfig): ClosedWindow[] {
    // Like every window written from now on, evaluated under the new config (evaluation leaves
    // out a feature the window has no sketch of).
    const closed = old.drainClosed();
    const lanes = old.lanes();
    let next = managerOf(model);
    try {
      next.restore(old.snapshot());
    } catch {
      // A feature was added (or the version's baseline changed): the open windows' sketches
      // cannot take the new config. They are closed and written as they stand; the versions'
      // watermarks and closed marks move over (events for the rest of those windows count as
      // late, stored raw), their window references start over.
      for (const c of old.flushAll()) closed.push(c);
      const snap = old.snapshot();
      next = managerOf(model);
      try {
        next.restore({ ...snap, streams: snap.streams.map((s) => ({ ...s, history: [] })) });
      } catch {
        next = managerOf(model);
      }
    }
    next.addLanes(lanes);
    managers.set(model.id, next);
    return closed;
  }

  function reconcile(previous: ReadonlyMap<string, ModelConfig>): ClosedWindow[] {
    const closed: ClosedWindow[] = [];
    // The lanes the sources announced (every manager hears the same: the Kafka partitions
    // assigned). An added model's manager hears them too, so a partition that has not
    // delivered its events yet holds the watermark, as for every other model: without them,
    // one partition's newer events would close windows another's on-time events belong to.
    const announced = new Set<string>();
    for (const m of managers.values()) for (const lane of m.lanes()) announced.add(lane);
    for (const [id, old] of managers) {
      if (live.models.has(id)) continue;
      for (const c of old.flushAll()) closed.push(c);
      managers.delete(id);
      metrics.openWindows.remove({ model: id });
    }
    for (const model of live.current.models) {
      const old = managers.get(model.id);
      const was = previous.get(model.id);
      if (old === undefined || was === undefined) {
        const fresh = managerOf(model);
        fresh.addLanes([...announced]);
        managers.set(model.id, fresh);
      } else if (changedPaths(was, model).length > 0) closed.push(...move(old, model));
    }
    return closed;
  }

  return {
    managers,
    get: (model) => managers.get(model),
    reset,
    reconcile,
    drain() {
      const closed: ClosedWindow[] = [];
      for (const m of managers.values()) for (const c of m.drainClosed()) closed.push(c);
      return closed;
    },
    tick() {
      const closed: ClosedWindow[] = [];
      for (const m of managers.values()) closed.push(...m.tick());
      return closed;
    },
    flushAll() {
      const closed: ClosedWindow[] = [];
      for (const m of managers.values()) closed.push(...m.flushAll());
      return closed;
    },
    snapshot() {
      const windows: Record<string, WindowManagerSnapshot> = {};
      for (const [model, m] of managers) windows[model] = m.snapshot();
      return windows;
    },
    updateOpenGauge() {
      for (const m of managers.values())
        metrics.openWindows.set({ model: m.model }, m.openWindows().length);
    },
    openWindows() {
      let n = 0;
      for (const m of managers.values()) n += m.openWindows().length;
      return n;
    },
    isOpen(model, b) {
      return (managers.get(model)?.openWindows() ?? []).some(
        (o) => o.version === b.version && o.sizeLabel === b.sizeLabel && o.start === b.start,
      );
    },
  };
}
