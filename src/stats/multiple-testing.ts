/**
 * Multiple-testing correction across the features of one window.
 */
import { InvalidInputError } from '../errors.js';
import type { BenjaminiHochbergResult } from './types.js';

/**
 * Benjamini-Hochberg step-up adjustment, matching SciPy 1.17
 * `scipy.stats.false_discovery_control(p, method='bh')` (= statsmodels
 * `multipletests(p, method='fdr_bh')[1]`): sort ascending, p_(i) · m/i, running minimum from
 * the largest p down, cap at 1, back to input order. `rejected[i]` is `adjusted[i] <= alpha`,
 * which is the BH step-up rule (reject every p_(i) with i ≤ max{k : p_(k) ≤ kα/m}).
 * An empty list gives empty results.
 *
 * @throws InvalidInputError when a p-value is not a number in [0, 1] or alpha is not in (0, 1].
 */
export function benjaminiHochberg(
  pValues: readonly number[],
  alpha = 0.05,
): BenjaminiHochbergResult {
  if (!Array.isArray(pValues)) {
    throw new InvalidInputError('benjaminiHochberg: pValues must be an array of numbers');
  }
  if (typeof alpha !== 'number' || !(alpha > 0 && alpha <= 1)) {
    throw new InvalidInputError(`benjaminiHochberg: alpha must be in (0, 1], got ${alpha}`);
  }
  const m = pValues.length;
  for (let i = 0; i < m; i++) {
    const p = pValues[i];
    if (typeof p !== 'number' || !(p >= 0 && p <= 1)) {
      throw new InvalidInputError(
        `benjaminiHochberg: pValues[${i}] must be a number in [0, 1], got ${String(p)}`,
      );
    }
  }
  const order = Array.from({ length: m }, (_, i) => i);
  order.sort((a, b) => pValues[a]! - pValues[b]! || a - b);
  const adjusted = new Array<number>(m);
  let running = Number.POSITIVE_INFINITY;
  for (let r = m - 1; r >= 0; r--) {
    const idx = order[r]!;
    // Same operation order as SciPy: p · (m / i).
    const scaled = pValues[idx]! * (m / (r + 1));
    if (scaled < running) running = scaled;
    adjusted[idx] = Math.min(running, 1);
  }
  return { rejected: adjusted.map((p) => p <= alpha), adjusted };
}
