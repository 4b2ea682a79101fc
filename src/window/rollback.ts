import { LOWER_IS_BETTER } from '../config/alerts.js';
import type { PerformanceMetric, ResolvedAlerts } from '../config/types.js';
import type { PairedMetric, VersionComparison } from './comparison-types.js';
import { severity } from './verdict.js';

/*
 * The rollback signal: is the challenger worse than the champion in one window? A verdict per
 * comparison (src/window/comparison-types.ts); the run of consecutive worse windows, on which
 * DriftdChallengerWorse and the rollout controllers (deploy/argo-rollouts, deploy/flagger) act,
 * is counted like the drift runs (src/export/streaks.ts).
 *
 * Noise. A metric is worse when the challenger's drop (challenger − champion, sign-flipped for
 * error metrics) exceeds the configured drop AND, when the difference carries a standard error
 * (label-free estimates do), the drop is distinguishable from zero: drop >= Z × SE, one-sided
 * 95 %. A drop inside the noise of a small canary window is no evidence; a drop beyond it but
 * under the configured size is real but too small to matter. Requiring the point estimate (not
 * its lower bound) above the threshold keeps the signal timely; the K-window run supplies the
 * confidence: a challenger truly exactly at the threshold passes it in one window with
 * probability ≤ 1/2, in K independent windows with ≤ 2^-K.
 */

/** One-sided 95 % normal quantile. */
export const NOISE_Z = 1.6448536269514722;

/** `alerts.rollback` resolved for one model, plus the metrics its performance is judged on. */
export interface RollbackThresholds {
  /** Worse on a label-free estimate when the drop exceeds this (in the metric's units). */
  estimatedDrop: number;
  /** Worse on realised (labelled) performance when the drop exceeds this. */
  realisedDrop: number;
  /** Prediction drift between the versions' windows counts as worse. */
  predictionDrift: boolean;
  /**
   * Metrics judged: those of the model's `alerts.performance` (the same ones
   * DriftdPerformanceDegraded judges), so a threshold never meets a metric in units it was
   * not written for (a regression model's MAE is in the target's units).
   */
  metrics: readonly string[];
}

export type RollbackReason =
  | {
      kind: 'estimated' | 'realised';
      metric: string;
      champion: number;
      challenger: number;
      /** How much worse the challenger is (positive = worse, whatever the metric's direction). */
      drop: number;
      standardError: number | null;
      threshold: number;
    }
  | {
      kind: 'prediction_drift';
      test: string;
      /** Drift severity on the scale of driftd_prediction_drift_score (drifted at 1 or more). */
      score: number;
      pValue: number | null;
    };

export interface RollbackVerdict {
  /** true: worse; false: judged and not worse; null: nothing could be judged in this window. */
  worse: boolean | null;
  reasons: RollbackReason[];
}

/** The thresholds of a model from its resolved alerts. */
export function rollbackThresholds(alerts: Pick<ResolvedAlerts, 'rollback' | 'performance'>) {
  return { ...alerts.rollback, metrics: Object.keys(alerts.performance) };
}

/** Whether the challenger of `c` is worse than its champion in c's window, and why. */
export function judgeRollback(c: VersionComparison, t: RollbackThresholds): RollbackVerdict {
  const reasons: RollbackReason[] = [];
  let judged = false;
  const sources = [
    ['estimated', c.estimated, t.estimatedDrop],
    ['realised', c.realised, t.realisedDrop],
  ] as const;
  for (const [kind, paired, threshold] of sources) {
    for (const metric of t.metrics) {
      const p = paired[metric];
      if (p === undefined) continue;
      const r = judgeMetric(metric, p, threshold);
      if (r === null) continue;
      judged = true;
      if (r.worse) reasons.push({ kind, metric, ...r.detail, threshold });
    }
  }
  const pred = c.prediction;
  if (t.predictionDrift && pred !== null && !pred.insufficient) {
    judged = true;
    if (pred.drifted) {
      reasons.push({
        kind: 'prediction_drift',
        test: pred.test,
        score: severity(pred),
        pValue: pred.pValue,
      });
    }
  }
  return { worse: judged ? reasons.length > 0 : null, reasons };
}

function judgeMetric(
  metric: string,
  p: PairedMetric,
  threshold: number,
): {
  worse: boolean;
  detail: { champion: number; challenger: number; drop: number; standardError: number | null };
} | null {
  const { champion, challenger } = p;
  if (champion === null || challenger === null) return null;
  if (!Number.isFinite(champion) || !Number.isFinite(challenger)) return null;
  const lowerIsBetter = LOWER_IS_BETTER.has(metric as PerformanceMetric);
  const difference = challenger - champion;
  const drop = lowerIsBetter ? difference : -difference;
  const se = p.standardError;
  // A non-finite or negative error is no error: the drop alone decides (as without one).
  const standardError = se !== null && Number.isFinite(se) && se >= 0 ? se : null;
  const beyondNoise = standardError === null || drop >= NOISE_Z * standardError;
  return {
    worse: drop > threshold && beyondNoise,
    detail: { champion, challenger, drop, standardError },
  };
}
