import type { ModelConfig, VerdictRule } from '../config/types.js';
import type { SimulatedNull, SimulatedNullOptions } from '../stats/index.js';
import { benjaminiHochberg, createSimulatedNull } from '../stats/index.js';
import type { DriftTest, FeatureDrift, FeatureProfile } from '../types.js';

/*
 * Calibrated verdicts (DESIGN.md, Guarantees): a feature drifted when its shift is
 * statistically significant at the window's own size AND at least a minimum practical effect.
 *
 * 1. A p-value per feature for every test, at the window's size n against a baseline of N
 *    rows:
 *    - KS: Kolmogorov's limiting distribution at √(nN/(n + N))·D on the fine bins
 *      (`binnedKsTest`); conservative with ties and binning (D_binned ≤ D_exact).
 *    - chi-square: Pearson's χ² distribution when every expected window count is ≥ 5
 *      (Cochran 1954, "Some methods for strengthening the common χ² tests"); with sparser bins
 *      the χ² law is anti-conservative, so the p-value is simulated as for the distances.
 *    - PSI, Jensen-Shannon, Wasserstein: their null distribution at n is simulated from the
 *      baseline's own bins (multinomial windows, cached per baseline and window size; method
 *      and accuracy in src/stats/null-distribution.ts).
 * 2. Benjamini–Hochberg (1995) across the p-values of every feature with a verdict in the
 *    window, whatever its test, at the model's α (drift.fdr): the expected share of false
 *    discoveries among the flagged features is ≤ α (BH holds under independence and positive
 *    regression dependence, Benjamini & Yekutieli 2001).
 * 3. Significant = adjusted p ≤ the feature's α (drift.fdr unless the feature sets `alpha`).
 * 4. Effect floor: drifted = significant AND effect ≥ floor. Significance alone flags any
 *    shift at large n (at n = 100 000 a KS D of 0.006 is significant); the floor is what makes
 *    "drifted" mean "moved by an amount that matters". Effect measures and default floors:
 *    - wasserstein: normed W1 (÷ baseline std), floor 0.1 (Evidently's threshold);
 *    - jensen-shannon: the distance, floor 0.1 (Evidently's threshold);
 *    - psi: PSI, floor drift.psiThreshold (0.2, "significant shift" in Siddiqi 2006);
 *    - ks: D, floor 0.1 (a location shift of ≈ 0.25 σ of a normal feature: D = 2Φ(δ/2) − 1);
 *    - chi-square: Cohen's w = √(Σ(q − p)²/π) = √(χ²/n_eff), floor 0.1 ("small", Cohen 1988).
 *    Every floor is configurable per model (drift.effectFloor.<test>) and per feature
 *    (features[].effectFloor).
 * 5. A feature with a fixed `threshold`, or every feature of a model with
 *    drift.verdict = threshold, keeps the earlier rule: distance ≥ threshold, or for KS /
 *    chi-square adjusted p ≤ threshold. Its p-value is still computed, reported and part of
 *    the BH family (the family is every test made in the window).
 *
 * Severity, one scale for every test and rule: how far past the verdict line a feature is,
 * 1 = exactly on it, drifted ⇔ severity ≥ 1 (for a feature with a verdict):
 *    calibrated: min(log(adjusted p)/log(α), effect/floor)
 *    fixed, distance: statistic/threshold; fixed, p-value test: log(adjusted p)/log(threshold)
 * p-values are floored at 1e-300 so the scale stays finite; insufficient windows get 0.
 */

export const DEFAULT_EFFECT_FLOORS: Readonly<Record<Exclude<DriftTest, 'psi'>, number>> = {
  wasserstein: 0.1,
  'jensen-shannon': 0.1,
  ks: 0.1,
  'chi-square': 0.1,
};

/** Null rate exponent per simulated test (see src/stats/null-distribution.ts). */
export const NULL_SCALE: Readonly<Record<DriftTest, number>> = {
  ks: 0.5,
  wasserstein: 0.5,
  'jensen-shannon': 0.5,
  psi: 1,
  'chi-square': 0,
};

/** Smallest p-value used in the severity scale. */
const P_FLOOR = 1e-300;

/** The rule, level and effect floor of one feature. */
export interface FeatureRule {
  rule: VerdictRule;
  /** Calibrated: the feature's α; fixed: the threshold. */
  threshold: number;
  /** Calibrated only. */
  effectFloor: number | null;
}

/** The effect floor of `test` for a model, before any per-feature override. */
export function modelEffectFloor(test: DriftTest, model: ModelConfig): number {
  const configured = model.drift.effectFloor?.[test];
  if (configured !== undefined) return configured;
  return test === 'psi' ? model.drift.psiThreshold : DEFAULT_EFFECT_FLOORS[test];
}

const nulls = new WeakMap<FeatureProfile, Map<string, SimulatedNull>>();

/**
 * The simulated null of one statistic on one baseline profile, created on first use and kept
 * as long as the profile (profiles are immutable; a new baseline is a new object).
 */
export function simulatedNull(
  profile: FeatureProfile,
  key: string,
  make: () => SimulatedNullOptions,
): SimulatedNull {
  let byKey = nulls.get(profile);
  if (byKey === undefined) {
    byKey = new Map();
    nulls.set(profile, byKey);
  }
  let hit = byKey.get(key);
  if (hit === undefined) {
    hit = createSimulatedNull(make());
    byKey.set(key, hit);
  }
  return hit;
}

/**
 * Benjamini–Hochberg across every feature with a verdict and a p-value, then each feature's
 * verdict by its rule (module comment). Mutates `adjustedPValue` and `drifted`.
 */
export function applyVerdicts(drafts: FeatureDrift[], fdr: number): void {
  const family: FeatureDrift[] = [];
  for (const d of drafts) if (d.pValue !== null && !d.insufficient) family.push(d);
  if (family.length === 0) return;
  const bh = benjaminiHochberg(
    family.map((d) => d.pValue as number),
    fdr,
  );
  family.forEach((d, i) => {
    d.adjustedPValue = bh.adjusted[i] as number;
    d.drifted = decide(d);
  });
}

/** The verdict of a feature whose adjustedPValue is set (the prediction: its raw p). */
export function decide(d: FeatureDrift): boolean {
  if (d.insufficient || d.adjustedPValue === null) return false;
  if (d.verdictRule === 'threshold') {
    return isPValueTest(d.test) ? d.adjustedPValue <= d.threshold : d.statistic >= d.threshold;
  }
  return d.adjustedPValue <= d.threshold && d.effect >= (d.effectFloor ?? 0);
}

export function isPValueTest(test: DriftTest): boolean {
  return test === 'ks' || test === 'chi-square';
}

/** One scale for every test and rule (module comment): drifted ⇔ ≥ 1. */
export function severity(d: FeatureDrift): number {
  if (d.insufficient) return 0;
  const p = Math.max(d.adjustedPValue ?? d.pValue ?? 1, P_FLOOR);
  const significance = (level: number) => (level >= 1 ? 0 : Math.log(p) / Math.log(level));
  if (d.verdictRule === 'threshold') {
    if (isPValueTest(d.test)) return significance(d.threshold);
    return d.threshold > 0 ? d.statistic / d.threshold : d.statistic;
  }
  const floor = d.effectFloor ?? 0;
  const effect = floor > 0 ? d.effect / floor : Number.MAX_VALUE;
  return Math.min(significance(d.threshold), effect);
}
