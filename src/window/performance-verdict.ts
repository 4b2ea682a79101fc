import { LOWER_IS_BETTER } from '../config/alerts.js';
import type { ModelConfig, PerformanceMetric, PerformanceThreshold } from '../config/types.js';
import type { PerformanceResult } from '../types.js';

/**
 * Whether a window's performance is degraded, per metric of the model's `alerts.performance`:
 * under / over a fixed line, or worse than the model's own performance on its baseline data by
 * more than `dropFromBaseline` (direction-aware: error metrics are worse when higher). A model
 * that performs as it did on its training data is never degraded, whatever a universal bar says.
 */
export interface PerformanceVerdict {
  metric: PerformanceMetric;
  /** The window's value; null when the window has none (e.g. ROC AUC with one class). */
  value: number | null;
  threshold: PerformanceThreshold;
  /** The baseline's own value of the metric; null when the baseline has none. */
  baseline: number | null;
  /** The line the value is compared with (fixed, or baseline ∓ drop); null without a verdict. */
  limit: number | null;
  /** True when the value is worse than `limit`; null = no verdict (see `reason`). */
  degraded: boolean | null;
  /** Why there is no verdict; null when there is one. */
  reason: string | null;
}

/** The verdicts of one window; `baseline` is the model version's baseline performance, if any. */
export function judgePerformance(
  p: Pick<PerformanceResult, 'metrics' | 'coverage'>,
  model: Pick<ModelConfig, 'alerts'>,
  baseline: Readonly<Record<string, number>> | undefined,
): PerformanceVerdict[] {
  const { performance, labelCoverage } = model.alerts;
  const out: PerformanceVerdict[] = [];
  for (const [metric, threshold] of Object.entries(performance) as [
    PerformanceMetric,
    PerformanceThreshold,
  ][]) {
    const raw = p.metrics[metric];
    const value = raw !== undefined && Number.isFinite(raw) ? raw : null;
    const base = baseline?.[metric];
    const baselineValue = base !== undefined && Number.isFinite(base) ? base : null;
    const worseAbove = LOWER_IS_BETTER.has(metric);
    const none = (reason: string): PerformanceVerdict => ({
      metric,
      value,
      threshold,
      baseline: baselineValue,
      limit: null,
      degraded: null,
      reason,
    });
    if (value === null) {
      out.push(none(`the window has no ${metric} (undefined for its labels, e.g. one class only)`));
      continue;
    }
    if (p.coverage < labelCoverage.minForPerformance) {
      out.push(
        none(
          `label coverage ${round(p.coverage)} is below alerts.labelCoverage.minForPerformance (${labelCoverage.minForPerformance})`,
        ),
      );
      continue;
    }
    let limit: number;
    let degraded: boolean;
    if ('below' in threshold) {
      limit = threshold.below;
      degraded = value < limit;
    } else if ('above' in threshold) {
      limit = threshold.above;
      degraded = value > limit;
    } else if (baselineValue === null) {
      out.push(
        none(
          `the threshold is relative to the baseline's ${metric}, and the baseline has none (import it from a file with label and prediction columns)`,
        ),
      );
      continue;
    } else if (worseAbove) {
      limit = baselineValue + threshold.dropFromBaseline;
      degraded = value > limit;
    } else {
      limit = baselineValue - threshold.dropFromBaseline;
      degraded = value < limit;
    }
    out.push({ metric, value, threshold, baseline: baselineValue, limit, degraded, reason: null });
  }
  return out;
}

function round(x: number): number {
  return Number(x.toPrecision(4));
}
