import { InvalidInputError } from '../errors.js';
import { normalQuantile } from './special.js';

/*
 * Confidence intervals for a binomial proportion and for the ratio of two independent
 * proportions, matching statsmodels 0.15 (checked in test/unit/stats/fairness.test.ts against
 * test/fixtures/fairness-german.json):
 * - proportion: the Wilson score interval without continuity correction,
 *   `statsmodels.stats.proportion.proportion_confint(x, n, alpha, method="wilson")`. Chosen over
 *   the Wald interval (zero width at 0 and 1, poor coverage for small n) and Clopper-Pearson
 *   (conservative: wider than needed, so disparities are flagged later).
 * - ratio p1/p2: Katz's log method, exp(ln r̂ ± z·√(1/x1 − 1/n1 + 1/x2 − 1/n2)),
 *   `confint_proportions_2indep(x1, n1, x2, n2, compare="ratio", method="log")`. When a count is
 *   0 the log is undefined; then 0.5 is added to both counts and both sizes (Pettigrew et al.
 *   1986), statsmodels' `method="log-adjusted"`, so a group that is never selected still gets a
 *   finite interval instead of none.
 * - difference p1 − p2: Newcombe's hybrid score interval (Newcombe 1998, method 10), built from
 *   the two Wilson intervals, `confint_proportions_2indep(..., compare="diff", method="newcomb")`.
 */

/** A two-sided interval [lower, upper] at `level`. */
export interface ConfidenceInterval {
  lower: number;
  upper: number;
}

/** z such that P(|Z| ≤ z) = level for a standard normal Z. */
export function twoSidedZ(level: number): number {
  if (!(level > 0 && level < 1)) {
    throw new InvalidInputError(`confidence level must be in (0, 1), got ${level}`);
  }
  return normalQuantile(1 - (1 - level) / 2);
}

/**
 * Wilson score interval for successes/trials; null when trials = 0 (nothing to estimate).
 *
 * @throws InvalidInputError unless 0 ≤ successes ≤ trials are integers and 0 < level < 1
 */
export function wilsonInterval(
  successes: number,
  trials: number,
  level: number,
): ConfidenceInterval | null {
  checkProportion('wilsonInterval', successes, trials);
  const z = twoSidedZ(level);
  if (trials === 0) return null;
  const p = successes / trials;
  const z2 = z * z;
  const denominator = 1 + z2 / trials;
  const centre = (p + z2 / (2 * trials)) / denominator;
  const half = (z / denominator) * Math.sqrt((p * (1 - p)) / trials + z2 / (4 * trials * trials));
  // Exact at the ends (rounding would leave e.g. 3e-17 at 0/n); clamped against rounding otherwise.
  return {
    lower: successes === 0 ? 0 : Math.max(0, centre - half),
    upper: successes === trials ? 1 : Math.min(1, centre + half),
  };
}

/**
 * Interval for (x1/n1) / (x2/n2) of two independent binomial samples (Katz log method; 0.5
 * added to counts and sizes when a count is 0). null when either size is 0.
 *
 * @throws InvalidInputError unless both pairs are valid proportions and 0 < level < 1
 */
export function riskRatioInterval(
  x1: number,
  n1: number,
  x2: number,
  n2: number,
  level: number,
): ConfidenceInterval | null {
  checkProportion('riskRatioInterval', x1, n1);
  checkProportion('riskRatioInterval', x2, n2);
  const z = twoSidedZ(level);
  if (n1 === 0 || n2 === 0) return null;
  const adjust = x1 === 0 || x2 === 0 ? 0.5 : 0;
  const a = x1 + adjust;
  const b = x2 + adjust;
  const m1 = n1 + adjust;
  const m2 = n2 + adjust;
  const logRatio = Math.log(a / m1 / (b / m2));
  const se = Math.sqrt(1 / a - 1 / m1 + 1 / b - 1 / m2);
  return { lower: Math.exp(logRatio - z * se), upper: Math.exp(logRatio + z * se) };
}

/**
 * Interval for x1/n1 − x2/n2 of two independent binomial samples (Newcombe's hybrid score
 * method). null when either size is 0.
 *
 * @throws InvalidInputError unless both pairs are valid proportions and 0 < level < 1
 */
export function differenceInterval(
  x1: number,
  n1: number,
  x2: number,
  n2: number,
  level: number,
): ConfidenceInterval | null {
  const w1 = wilsonInterval(x1, n1, level);
  const w2 = wilsonInterval(x2, n2, level);
  if (w1 === null || w2 === null) return null;
  const p1 = x1 / n1;
  const p2 = x2 / n2;
  const d = p1 - p2;
  return {
    lower: d - Math.sqrt((p1 - w1.lower) ** 2 + (w2.upper - p2) ** 2),
    upper: d + Math.sqrt((w1.upper - p1) ** 2 + (p2 - w2.lower) ** 2),
  };
}

function checkProportion(where: string, successes: number, trials: number): void {
  if (!Number.isSafeInteger(trials) || trials < 0) {
    throw new InvalidInputError(`${where}: trials must be a non-negative integer, got ${trials}`);
  }
  if (!Number.isSafeInteger(successes) || successes < 0 || successes > trials) {
    throw new InvalidInputError(
      `${where}: successes must be an integer in [0, trials = ${trials}], got ${successes}`,
    );
  }
}
