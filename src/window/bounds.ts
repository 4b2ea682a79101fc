import type { FeatureDrift } from '../types.js';
import { isPValueTest } from './verdict.js';

/*
 * Whether a verdict could flip if the sketched statistic were replaced by its exact value on
 * the raw data: every sketched statistic carries a bound (DESIGN.md, Guarantees), and a
 * verdict whose bound straddles its verdict line says so in `boundStraddlesThreshold`.
 *
 * The exact statistic lies in an interval known from the bound:
 * - KS: statistic ≤ exact ≤ statistic + bound (binning only merges steps of the ECDFs);
 * - Wasserstein: |statistic − exact| ≤ bound, so exact ∈ [max(0, statistic − bound),
 *   statistic + bound].
 * The verdict is re-derived at both ends of that interval by the feature's own rule
 * (src/window/verdict.ts, `decide`, re-applied here), and the feature straddles when the two verdicts differ:
 * - the p-value at each end comes from the same law the window close used (KS: Kolmogorov's
 *   limit at √n_eff·D, as `binnedKsTest`; Wasserstein: the simulated null at n_eff); every
 *   one of them decreases as the statistic grows;
 * - the effect at each end is the statistic itself (KS: D, Wasserstein: normed W1), so the
 *   calibrated rule's effect floor is checked at each end too;
 * - Benjamini–Hochberg is recomputed with this feature's p-value replaced and every other
 *   feature's kept as reported (the family is every test with a verdict in the window; the
 *   prediction is outside it: its adjusted p-value is its raw one). This replaces the earlier
 *   approximation that the adjusted p-value scales with the raw one, which is wrong when the
 *   feature changes rank.
 * - fixed-threshold rule: a distance is drifted at statistic ≥ threshold, so a Wasserstein
 *   feature straddles exactly when statistic − bound < threshold ≤ statistic + bound, as
 *   before; KS compares its adjusted p-value at each end with the threshold.
 * Because the verdict is monotone in the statistic (p-values fall, the effect grows) and the
 * reported statistic lies in the interval, only one end needs checking: the low end for a
 * drifted feature, the high end for one that is not; a KS feature that is drifted stays
 * drifted (its low end is the reported statistic). Tests without a bound (PSI, chi-square,
 * Jensen-Shannon: defined on the bins) are never uncertain, nor is a feature without a
 * verdict (insufficient).
 */

/** The interval the exact statistic lies in, and the p-value law at the window's size. */
export interface BoundNote {
  low: number;
  high: number;
  pValueAt: (statistic: number) => number;
}

const notes = new WeakMap<FeatureDrift, BoundNote>();

/** Records what `flagStraddles` needs for one feature (called while evaluating it). */
export function noteBound(d: FeatureDrift, note: BoundNote): void {
  notes.set(d, note);
}

/**
 * BH-adjusted p-value of one member of a family whose ascending p-values are `sorted`, when
 * that member's p-value `own` is replaced by `x` (the others unchanged). O(m).
 */
function adjustedWith(sorted: readonly number[], own: number, x: number): number {
  const m = sorted.length;
  const list: number[] = [];
  let removed = false;
  for (const p of sorted) {
    if (!removed && p === own) {
      removed = true;
      continue;
    }
    list.push(p);
  }
  // Insert x after any equal value: tied members share the adjusted value of the last one.
  let r = 0;
  while (r < list.length && (list[r] as number) <= x) r++;
  list.splice(r, 0, x);
  let running = Number.POSITIVE_INFINITY;
  for (let i = m - 1; i >= r; i--) {
    const scaled = (list[i] as number) * (m / (i + 1));
    if (scaled < running) running = scaled;
  }
  return Math.min(running, 1);
}

/**
 * Sets `boundStraddlesThreshold` on each feature from its final verdict (after BH).
 *
 * @param inFamily whether `features` are the BH family (a window's features) or stand alone
 *   (the prediction: adjusted p = raw p)
 */
export function flagStraddles(features: readonly FeatureDrift[], inFamily = true): void {
  let sorted: number[] | null = null;
  for (const d of features) {
    d.boundStraddlesThreshold = false;
    const bound = d.statisticBound;
    const note = notes.get(d);
    if (d.insufficient || bound === null || !(bound > 0) || note === undefined) continue;
    if (d.pValue === null || d.adjustedPValue === null) continue;
    if (inFamily && sorted === null) {
      sorted = [];
      for (const f of features) {
        if (f.pValue !== null && !f.insufficient) sorted.push(f.pValue);
      }
      sorted.sort((a, b) => a - b);
    }
    const own = d.pValue;
    const ownAdjusted = d.adjustedPValue;
    const calibrated = d.verdictRule === 'calibrated';
    const verdictAt = (statistic: number): boolean => {
      // `decide` (src/window/verdict.ts) with the statistic as the effect, without BH where it
      // cannot matter: the adjusted p-value is ≥ the raw one and does not decrease as it grows.
      if (!calibrated && !isPValueTest(d.test)) return statistic >= d.threshold;
      if (calibrated && statistic < (d.effectFloor ?? 0)) return false;
      const p = note.pValueAt(statistic);
      if (p > d.threshold) return false;
      let adjusted: number;
      if (sorted === null) adjusted = p;
      else if (p <= own && ownAdjusted <= d.threshold) adjusted = ownAdjusted;
      else if (p >= own && ownAdjusted > d.threshold) adjusted = ownAdjusted;
      else adjusted = adjustedWith(sorted, own, p);
      // `decide` at this statistic: the effect floor (calibrated) was checked above.
      return adjusted <= d.threshold;
    };
    // Every verdict is monotone in the statistic and the reported one lies between the ends:
    // a drifted feature can only flip at the low end, one that is not at the high end.
    d.boundStraddlesThreshold = d.drifted ? !verdictAt(note.low) : verdictAt(note.high);
  }
}
