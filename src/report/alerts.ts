import type { ModelConfig } from '../config/types.js';
import { iso, seriesKey } from './keys.js';
import type { ReportAlert, ReportPerformance, StoredWindow } from './model.js';

/*
 * The alerts of a period report, derived from the stored results as the alert rules fire them
 * (src/export/rules.ts): a series (dataset, prediction, each feature; each performance metric)
 * alerts once K = alerts.consecutiveWindows windows in a row are drifted or degraded.
 */

/**
 * Runs of K (alerts.consecutiveWindows) or more consecutive windows with the verdict, per series:
 * the alerts the rules fire, derived from the stored results. Windows follow each other when
 * one's end is the next one's start; a gap (no result) or a window without a verdict ends a run.
 */
export function runs(
  points: ReadonlyArray<{ start: number; end: number; hit: boolean | null }>,
  k: number,
): Array<{ first: number; last: number; firedAt: number; length: number }> {
  const out: Array<{ first: number; last: number; firedAt: number; length: number }> = [];
  let run: { first: number; last: number; firedAt: number; length: number } | null = null;
  let prevEnd: number | null = null;
  const close = () => {
    if (run && run.length >= k) out.push(run);
    run = null;
  };
  for (const p of points) {
    if (prevEnd !== null && p.start !== prevEnd) close();
    prevEnd = p.end;
    if (p.hit !== true) {
      close();
      continue;
    }
    if (run === null) run = { first: p.start, last: p.end, firedAt: p.end, length: 0 };
    run.length += 1;
    run.last = p.end;
    if (run.length === k) run.firedAt = p.end;
  }
  close();
  return out;
}

export function driftAlerts(all: readonly StoredWindow[], model: ModelConfig): ReportAlert[] {
  const k = model.alerts.consecutiveWindows;
  const groups = new Map<string, StoredWindow[]>();
  for (const r of all) {
    const key = seriesKey(r);
    groups.set(key, [...(groups.get(key) ?? []), r]);
  }
  const out: ReportAlert[] = [];
  for (const rows of groups.values()) {
    const first = rows[0]!;
    const series: Array<[string, string, (r: StoredWindow) => boolean | null]> = [
      [
        'DriftdDatasetDrift',
        'dataset',
        (r) => (r.features.some((f) => !f.insufficient) ? r.datasetDrift : null),
      ],
      [
        'DriftdPredictionDrift',
        'prediction',
        (r) => (r.prediction && !r.prediction.insufficient ? r.prediction.drifted : null),
      ],
      ...model.features.map((f): [string, string, (r: StoredWindow) => boolean | null] => [
        'DriftdFeatureDrift',
        `feature:${f.name}`,
        (r) => {
          const d = r.features.find((x) => x.feature === f.name);
          return d === undefined || d.insufficient ? null : d.drifted;
        },
      ]),
    ];
    for (const [alert, name, hit] of series) {
      const points = rows.map((r) => ({ start: r.start, end: r.end, hit: hit(r) }));
      for (const run of runs(points, k)) {
        out.push({
          alert,
          version: first.version,
          window: first.sizeLabel,
          series: name,
          firstStart: iso(run.first),
          lastEnd: iso(run.last),
          windows: run.length,
          firedAt: iso(run.firedAt),
        });
      }
    }
  }
  return out;
}

export function performanceAlerts(
  perf: readonly ReportPerformance[],
  model: ModelConfig,
): ReportAlert[] {
  const k = model.alerts.consecutiveWindows;
  const groups = new Map<string, ReportPerformance[]>();
  for (const p of perf) {
    const key = `${p.version}\u0000${p.window}`;
    groups.set(key, [...(groups.get(key) ?? []), p]);
  }
  const out: ReportAlert[] = [];
  for (const rows of groups.values()) {
    const metrics = [...new Set(rows.flatMap((p) => p.verdicts.map((v) => v.metric)))].sort();
    for (const metric of metrics) {
      const points = rows.map((p) => ({
        start: Date.parse(p.start),
        end: Date.parse(p.end),
        hit: p.verdicts.find((v) => v.metric === metric)?.degraded ?? null,
      }));
      for (const run of runs(points, k)) {
        out.push({
          alert: 'DriftdPerformanceDegraded',
          version: rows[0]!.version,
          window: rows[0]!.window,
          series: `performance:${metric}`,
          firstStart: iso(run.first),
          lastEnd: iso(run.last),
          windows: run.length,
          firedAt: iso(run.firedAt),
        });
      }
    }
  }
  return out;
}
