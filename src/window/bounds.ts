import { kolmogorovSurvival } from '../stats/special.js';
import type { FeatureDrift } from '../types.js';

/*
 * Whether a verdict could flip if the sketched statistic were replaced by its exact value on
 * the raw data: every sketched statistic carries a bound (DESIGN.md, Guarantees), and a
 * verdict whose bound straddles the threshold says so in `boundStraddlesThreshold`.
 *
 * - Distance tests (Wasserstein): |statistic − exact| ≤ bound, so the verdict is uncertain
 *   when the threshold lies in [statistic − bound, statistic + bound].
 * - KS: statistic ≤ exact ≤ statistic + bound, so the exact p-value is at most the p-value at
 *   statistic + bound and at least the reported one. A drifted verdict stays drifted (the
 *   exact statistic is only larger); one that is not drifted is uncertain when the adjusted
 *   p-value at statistic + bound would reach the threshold. BH's adjusted p-value is taken to
 *   scale with the raw one (same rank); that is exact unless the feature changes rank.
 * Tests without a bound (PSI, chi-square, Jensen-Shannon: defined on the bins) are never
 * uncertain, nor is a feature without a verdict (insufficient).
 */

/** KS p-values at statistic + bound, noted while evaluating (the p-value needs n and m). */
const ksLowP = new WeakMap<FeatureDrift, number>();

/**
 * Notes the smallest p-value the exact KS statistic could give, for `flagStraddles`. Uses the
 * same p-value formula as the binned test (Kolmogorov's limit at √(nm/(n+m))·D).
 */
export function noteKsBound(d: FeatureDrift, referenceSize: number, count: number): void {
  if (d.statisticBound === null || count === 0 || referenceSize === 0) return;
  const en = (referenceSize * count) / (referenceSize + count);
  const upper = Math.min(1, d.statistic + d.statisticBound);
  ksLowP.set(d, kolmogorovSurvival(Math.sqrt(en) * upper));
}

/** Sets `boundStraddlesThreshold` on each feature from its final verdict (after BH). */
export function flagStraddles(features: readonly FeatureDrift[]): void {
  for (const d of features) {
    d.boundStraddlesThreshold = false;
    const bound = d.statisticBound;
    if (d.insufficient || bound === null || bound <= 0) continue;
    if (d.pValue !== null) {
      if (d.drifted) continue;
      const low = ksLowP.get(d);
      if (low === undefined) continue;
      const adjusted = d.adjustedPValue ?? d.pValue;
      const lowAdjusted = d.pValue > 0 ? Math.min(1, (adjusted * low) / d.pValue) : low;
      d.boundStraddlesThreshold = lowAdjusted <= d.threshold;
    } else {
      d.boundStraddlesThreshold =
        d.statistic - bound < d.threshold && d.threshold <= d.statistic + bound;
    }
  }
}
