import type { ModelConfig } from '../config/types.js';
import type { Metrics } from '../export/metrics.js';
import type { Logger } from '../logger.js';
import type { BaselineProfile } from '../types.js';
import { type Clock, nullWarmups } from '../window/index.js';

/** What the baseline cache reads from the store. */
export interface BaselineStore {
  listBaselines(opts?: {
    model?: string;
  }): Promise<Array<{ id: string; model: string; version: string; createdAt: number }>>;
  getBaseline(id: string): Promise<BaselineProfile | null>;
}

/**
 * The engine's baselines: every configured model's stored baselines, loaded once each (a
 * baseline is immutable, its id a content hash) and re-listed on `refresh`, and the one policy
 * that picks a model version's baseline.
 */
export interface BaselineCache {
  /** Lists the store's baselines and loads the new ones. */
  refresh(): Promise<void>;
  /**
   * Refreshes in the background (failures logged) when the last refresh is older than
   * `afterMs`: an event met a version without a baseline, maybe one imported since.
   */
  refreshSoon(afterMs?: number): void;
  /** Refreshes when the last refresh is older than `afterMs`. */
  refreshIfOlder(afterMs: number): Promise<void>;
  /**
   * The baseline a model version is evaluated against: its own (the newest import of that
   * version), else — only when the model's `versions.baselineFallback` allows it — the
   * model's newest baseline; undefined when there is none.
   */
  baselineFor(model: ModelConfig, version: string): BaselineProfile | undefined;
  /** Whether the model has any baseline. */
  has(model: string): boolean;
  /** A loaded baseline by id (any import, not only a version's newest). */
  byId(id: string): BaselineProfile | undefined;
  /** The version's gauges were removed (retired): none until `reportGauges` sets them again. */
  forgetGauges(model: string, version: string): void;
  /** Sets the gauges of the version's own baseline unless they are set already. */
  reportGauges(model: string, version: string): void;
}

export function createBaselineCache(opts: {
  store: BaselineStore;
  models: ReadonlyMap<string, ModelConfig>;
  clock: Clock;
  logger: Logger;
  /** Told of each version's baseline when it becomes the one evaluated (its gauges). */
  metrics?: Pick<Metrics, 'recordBaseline'>;
}): BaselineCache {
  const { store, models, clock } = opts;
  // model → version → baseline; `latest` serves versions that have no baseline of their own.
  const baselines = new Map<
    string,
    { byVersion: Map<string, BaselineProfile>; latest: BaselineProfile | undefined }
  >();
  const baselinesById = new Map<string, BaselineProfile>();
  // model \0 version → id of the baseline last reported to the metrics.
  const reported = new Map<string, string>();
  // Versions whose window state was retired: no gauges until they come back (bounded series).
  const retired = new Set<string>();
  let lastRefresh = 0;

  async function refresh(): Promise<void> {
    lastRefresh = clock.now();
    const list = await store.listBaselines();
    for (const summary of list) {
      if (!models.has(summary.model) || baselinesById.has(summary.id)) continue;
      const profile = await store.getBaseline(summary.id);
      if (!profile) continue;
      baselinesById.set(profile.id, profile);
      // Simulate the calibrated verdicts' null distributions now, a feature at a time between
      // turns of the event loop, rather than in the first window close.
      const model = models.get(profile.model);
      if (model === undefined) continue;
      for (const task of nullWarmups(profile, model)) {
        task();
        await new Promise<void>((done) => setImmediate(done));
      }
    }
    baselines.clear();
    const sorted = [...baselinesById.values()].sort((a, b) => a.createdAt - b.createdAt);
    for (const p of sorted) {
      let entry = baselines.get(p.model);
      if (!entry) {
        entry = { byVersion: new Map(), latest: undefined };
        baselines.set(p.model, entry);
      }
      entry.byVersion.set(p.version, p); // newest import of a version wins
      entry.latest = p;
    }
    for (const entry of baselines.values()) {
      for (const p of entry.byVersion.values()) report(p);
    }
  }

  function report(p: BaselineProfile): void {
    const key = `${p.model}\u0000${p.version}`;
    if (retired.has(key) || reported.get(key) === p.id) return;
    reported.set(key, p.id);
    opts.metrics?.recordBaseline(p);
  }

  return {
    refresh,
    refreshSoon(afterMs = 5_000) {
      if (clock.now() - lastRefresh > afterMs) {
        void refresh().catch((err) => opts.logger.warn({ err }, 'baseline refresh failed'));
      }
    },
    async refreshIfOlder(afterMs) {
      if (clock.now() - lastRefresh > afterMs) await refresh();
    },
    baselineFor(model, version) {
      const b = baselines.get(model.id);
      const own = b?.byVersion.get(version);
      if (own !== undefined || model.versions.baselineFallback === 'none') return own;
      return b?.latest;
    },
    has(model) {
      return baselines.has(model);
    },
    byId: (id) => baselinesById.get(id),
    forgetGauges(model, version) {
      // Only versions with a baseline of their own have gauges: the set stays bounded by the
      // stored baselines, whatever versions producers make up.
      if (baselines.get(model)?.byVersion.has(version) !== true) return;
      const key = `${model}\u0000${version}`;
      reported.delete(key);
      retired.add(key);
    },
    reportGauges(model, version) {
      if (retired.size > 0) retired.delete(`${model}\u0000${version}`);
      const own = baselines.get(model)?.byVersion.get(version);
      if (own !== undefined) report(own);
    },
  };
}
