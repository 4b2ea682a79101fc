import { Gauge, type Registry } from 'prom-client';
import type { TrafficShare } from '../window/comparison.js';
import type { VersionComparison } from '../window/comparison-types.js';
import { METRIC } from './metrics.js';

/*
 * Gauges of the champion/challenger comparison (src/window/comparison.ts): the newest
 * comparison of each (pair, window size) and the traffic share of each version. A comparison
 * of an older window than the one shown is ignored (a realised update of an old window
 * arrives after newer windows); the series of the comparison shown are replaced as a whole,
 * so a feature or metric missing from the newer one does not linger.
 */

/** The feature label of the prediction's series. */
export const PREDICTION_FEATURE = '__prediction__';

export interface ComparisonMetrics {
  recordComparison(c: VersionComparison): void;
  recordTrafficShare(s: TrafficShare): void;
  /** Removes the series naming a retired version (as champion, challenger or version). */
  forgetVersion(model: string, version: string): void;
}

export function createComparisonMetrics(registry: Registry): ComparisonMetrics {
  const registers = [registry];
  const pair = ['model', 'champion', 'challenger', 'window'] as const;
  const share = new Gauge({
    name: METRIC.versionTrafficShare,
    help: "Share of the model's events in the newest window span that went to this version (events of the version / events of every version).",
    labelNames: ['model', 'version', 'window'] as const,
    registers,
  });
  const detected = new Gauge({
    name: METRIC.comparisonDriftDetected,
    help: "1 when the challenger's window drifted from the champion's window of the same span (feature __prediction__: the prediction), else 0.",
    labelNames: [...pair, 'feature'] as const,
    registers,
  });
  const score = new Gauge({
    name: METRIC.comparisonDriftScore,
    help: "Drift statistic of the challenger's window against the champion's window of the same span.",
    labelNames: [...pair, 'feature'] as const,
    registers,
  });
  const difference = new Gauge({
    name: METRIC.performanceDifference,
    help: 'Challenger minus champion performance in the same window: source="estimated" (label-free, CBPE) or "realised" (labels).',
    labelNames: [...pair, 'metric', 'source'] as const,
    registers,
  });
  const agreement = new Gauge({
    name: METRIC.shadowAgreement,
    help: 'Shadow mode: share of event ids scored by both versions whose predicted class is the same.',
    labelNames: pair,
    registers,
  });
  const scoreDiff = new Gauge({
    name: METRIC.shadowScoreDifference,
    help: 'Shadow mode: quantile of |challenger − champion| score over event ids scored by both versions.',
    labelNames: [...pair, 'quantile'] as const,
    registers,
  });

  type Series = Array<[Gauge<string>, Record<string, string>]>;
  const shown = new Map<string, { start: number; series: Series }>();
  const shareShown = new Map<string, number>();

  return {
    recordComparison(c) {
      const key = `${c.model}\0${c.champion}\0${c.challenger}\0${c.window}`;
      const old = shown.get(key);
      if (old !== undefined && old.start > c.windowStart) return;
      for (const [g, labels] of old?.series ?? []) g.remove(labels);
      const series: Series = [];
      const set = (g: Gauge<string>, labels: Record<string, string>, v: number | null) => {
        if (v === null || !Number.isFinite(v)) return;
        g.set(labels, v);
        series.push([g, labels]);
      };
      const pl = {
        model: c.model,
        champion: c.champion,
        challenger: c.challenger,
        window: c.window,
      };
      const drifts = c.prediction === null ? c.features : [...c.features, c.prediction];
      for (const d of drifts) {
        if (d.insufficient) continue;
        const feature = d === c.prediction ? PREDICTION_FEATURE : d.feature;
        set(detected as Gauge<string>, { ...pl, feature }, d.drifted ? 1 : 0);
        set(score as Gauge<string>, { ...pl, feature }, d.statistic);
      }
      for (const [source, metrics] of [
        ['estimated', c.estimated],
        ['realised', c.realised],
      ] as const) {
        for (const [metric, p] of Object.entries(metrics)) {
          set(difference as Gauge<string>, { ...pl, metric, source }, p.difference);
        }
      }
      if (c.shadow !== null) {
        set(agreement as Gauge<string>, pl, c.shadow.agreement);
        const q = c.shadow.scoreDifference;
        if (q !== null) {
          for (const [quantile, v] of [
            ['0.5', q.p50],
            ['0.9', q.p90],
            ['0.99', q.p99],
            ['1', q.max],
          ] as const) {
            set(scoreDiff as Gauge<string>, { ...pl, quantile }, v);
          }
        }
      }
      shown.set(key, { start: c.windowStart, series });
    },
    recordTrafficShare(s) {
      const key = `${s.model}\0${s.version}\0${s.window}`;
      if ((shareShown.get(key) ?? Number.NEGATIVE_INFINITY) > s.start) return;
      shareShown.set(key, s.start);
      share.set({ model: s.model, version: s.version, window: s.window }, s.share);
    },
    forgetVersion(model, version) {
      for (const [key, { series }] of shown) {
        const [m, champion, challenger] = key.split('\0');
        if (m !== model || (champion !== version && challenger !== version)) continue;
        for (const [g, labels] of series) g.remove(labels);
        shown.delete(key);
      }
      for (const key of shareShown.keys()) {
        const [m, v, window] = key.split('\0');
        if (m !== model || v !== version) continue;
        share.remove({ model, version, window: window! });
        shareShown.delete(key);
      }
    },
  };
}
