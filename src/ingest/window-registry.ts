import type { DriftdConfig } from '../config/types.js';
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
}

export function createWindowRegistry(opts: {
  config: DriftdConfig;
  clock: Clock;
  metrics: Metrics;
  baselines: BaselineCache;
}): WindowRegistry {
  const { config, clock, metrics, baselines } = opts;
  const managers = new Map<string, WindowManager>();
  function reset(): void {
    for (const model of config.models) {
      managers.set(
        model.id,
        createWindowManager({
          model,
          clock,
          baselineFor: (version) => baselines.baselineFor(model, version),
          baselineById: (id) => baselines.byId(id),
          onRetire: (version) => {
            metrics.forgetVersion(model.id, version);
            baselines.forgetGauges(model.id, version);
          },
          // A retired version that comes back gets its baseline's gauges again.
          onAdmit: (version) => baselines.reportGauges(model.id, version),
        }),
      );
    }
  }
  reset();

  return {
    managers,
    get: (model) => managers.get(model),
    reset,
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
      return managers
        .get(model)!
        .openWindows()
        .some((o) => o.version === b.version && o.sizeLabel === b.sizeLabel && o.start === b.start);
    },
  };
}
