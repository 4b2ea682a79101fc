import type { ModelConfig } from '../config/types.js';
import type { Logger } from '../logger.js';
import type { Store } from '../store/types.js';
import type { PerformanceResult } from '../types.js';
import type { Metrics } from './metrics.js';
import { STREAK_HISTORY, STREAK_HORIZON } from './streaks.js';

/**
 * Startup: puts back on /metrics what the last run showed, from the store. Without it a restart
 * leaves no `driftd_feature_psi` series (nor any other window gauge) until each window size
 * closes again, up to a week on 7d windows, and restarts every "K consecutive drifted windows"
 * count from zero: a restart in the middle of a drift would cancel its page.
 *
 * Per configured model and window size, the newest stored window result of each of its
 * `versions.maxActive` versions with the newest windows is replayed through `recordWindow`,
 * after the consecutive-drift series are seeded with their stored verdicts, and the newest
 * `STREAK_HISTORY` windows with performance through `recordPerformance`, oldest first (the
 * gauges end on the newest; counts derived from the sequence are rebuilt). Fairness likewise
 * (models[].fairness): the consecutive-disparity series of each protected group are seeded
 * with their stored verdicts (`fairness_results`), then the newest stored computation of each
 * version and size is replayed through `recordFairness`. The segments of each replayed window
 * (models[].segments) are replayed through `recordSegment`, and the segments' performance of
 * each version and size's newest labelled window through `recordSegmentPerformance`. Features and protected attributes
 * no longer configured get no series back. Runs before anything is ingested.
 */
export async function restoreGauges(opts: {
  store: Pick<Store, 'latestResults' | 'latestFairness' | 'queryDrift'> &
    Partial<Pick<Store, 'queryPerformance'>>;
  models: readonly ModelConfig[];
  metrics: Metrics;
  logger: Logger;
}): Promise<void> {
  const { store, metrics } = opts;
  for (const model of opts.models) {
    const stored = await store.latestResults({
      model: model.id,
      windows: model.windows.sizes.map((s) => s.label),
      maxVersions: model.versions.maxActive,
      history: STREAK_HISTORY,
      horizon: STREAK_HORIZON,
    });
    const configured = new Set(model.features.map((f) => f.name));
    for (const s of stored.verdicts) {
      if (s.series.startsWith('feature:') && !configured.has(s.series.slice('feature:'.length))) {
        continue;
      }
      metrics.seedStreak(
        { model: model.id, version: s.version, window: s.window, series: s.series },
        s,
      );
    }
    // Oldest version first: the shown-version cap keeps the newest, as a live run would.
    const order = new Map(stored.versions.map((v, i) => [v, -i]));
    const rank = (v: string) => order.get(v) ?? 0;
    for (const r of [...stored.windows].sort(
      (a, b) => rank(a.version) - rank(b.version) || a.end - b.end,
    )) {
      metrics.recordWindow(
        { ...r, features: r.features.filter((f) => configured.has(f.feature)) },
        { restored: true },
      );
      if (model.segments === undefined) continue;
      const segments = await store.queryDrift({
        model: model.id,
        window: r.sizeLabel,
        version: r.version,
        from: r.start,
        to: r.start + 1,
        segment: '*',
      });
      for (const s of segments) {
        metrics.recordSegment({
          ...s,
          features: s.features.filter((f) => configured.has(f.feature)),
        });
      }
    }
    // In window order: each window's performance after the one before, as they were recorded.
    for (const p of stored.performance) metrics.recordPerformance(p);
    if (model.segments !== undefined && store.queryPerformance !== undefined) {
      // Oldest first: the last of each version and size is its newest labelled window.
      const newest = new Map<string, PerformanceResult>();
      for (const p of stored.performance) newest.set(`${p.version}\u0000${p.sizeLabel}`, p);
      for (const p of newest.values()) {
        const segments = await store.queryPerformance({
          model: model.id,
          window: p.sizeLabel,
          version: p.version,
          from: p.start,
          to: p.start + 1,
          segment: '*',
        });
        for (const s of segments) metrics.recordSegmentPerformance(s);
      }
    }
    if (model.fairness && stored.versions.length > 0) {
      const fairness = await store.latestFairness({
        model: model.id,
        windows: model.windows.sizes.map((s) => s.label),
        versions: stored.versions,
        history: STREAK_HISTORY,
        horizon: STREAK_HORIZON,
      });
      const attributes = new Set(model.fairness.attributes.map((a) => a.field));
      for (const s of fairness.verdicts) {
        if (!attributes.has(s.attribute)) continue;
        metrics.seedFairnessStreak(
          {
            model: model.id,
            version: s.version,
            window: s.window,
            attribute: s.attribute,
            group: s.group,
          },
          s,
        );
      }
      for (const r of [...fairness.windows].sort(
        (a, b) => rank(a.version) - rank(b.version) || a.end - b.end,
      )) {
        const kept = Object.entries(r.attributes).filter(([a]) => attributes.has(a));
        metrics.recordFairness(r, Object.fromEntries(kept));
      }
    }
    if (stored.windows.length > 0) {
      opts.logger.info(
        { model: model.id, versions: stored.versions, windows: stored.windows.length },
        'latest window results restored on /metrics',
      );
    }
  }
}
