/**
 * Pearson chi-square homogeneity test of reference vs current category counts (a 2×k table).
 */
import { InvalidInputError } from '../errors.js';
import { chiSquareSurvival } from './special.js';
import type { ChiSquareTestResult } from './types.js';

function requireCounts(fn: string, name: string, counts: ArrayLike<number>): void {
  if (counts === null || typeof counts !== 'object' || typeof counts.length !== 'number') {
    throw new InvalidInputError(`${fn}: ${name} must be an array of counts`);
  }
  if (counts.length === 0) throw new InvalidInputError(`${fn}: ${name} is empty`);
  for (let i = 0; i < counts.length; i++) {
    const c = counts[i];
    if (typeof c !== 'number' || !Number.isFinite(c) || c < 0) {
      const what =
        typeof c !== 'number'
          ? `a non-number (${c === null ? 'null' : typeof c})`
          : Number.isNaN(c)
            ? 'NaN'
            : Number.isFinite(c)
              ? `a negative count (${c})`
              : c > 0
                ? 'Infinity'
                : '-Infinity';
      throw new InvalidInputError(`${fn}: ${name} contains ${what} at index ${i}`);
    }
  }
}

/**
 * Chi-square test of homogeneity on the 2×k table [referenceCounts; currentCounts], matching
 * SciPy 1.17 `scipy.stats.chi2_contingency(np.array([ref, cur]), correction=False)`:
 * expected_rc = rowTotal_r · colTotal_c / total, statistic = Σ (O − E)²/E over both rows,
 * dof = k − 1, p = chi2.sf(statistic, dof).
 *
 * Where this differs from calling SciPy on the raw table, on purpose:
 * - Categories with count 0 in both rows are dropped first (SciPy raises on the zero expected
 *   frequency they cause). A category neither sample has seen carries no evidence, and the
 *   daemon's category lists are the baseline's, so such columns are routine.
 * - If fewer than 2 categories remain, the result is statistic 0, p-value 1, dof 0 — SciPy's
 *   own answer for a one-column table (dof = 0).
 * A row that sums to 0 still throws: there is nothing to compare.
 *
 * @throws InvalidInputError on empty or unequal-length arrays, negative, NaN, infinite or
 *   non-number counts, or a row total of 0.
 */
export function chiSquareTest(
  referenceCounts: ArrayLike<number>,
  currentCounts: ArrayLike<number>,
): ChiSquareTestResult {
  requireCounts('chiSquareTest', 'referenceCounts', referenceCounts);
  requireCounts('chiSquareTest', 'currentCounts', currentCounts);
  const k = referenceCounts.length;
  if (currentCounts.length !== k) {
    throw new InvalidInputError(
      `chiSquareTest: referenceCounts has ${k} categories but currentCounts has ${currentCounts.length}`,
    );
  }
  let nRef = 0;
  let nCur = 0;
  let kept = 0;
  for (let i = 0; i < k; i++) {
    const r = referenceCounts[i]!;
    const c = currentCounts[i]!;
    nRef += r;
    nCur += c;
    if (r + c > 0) kept++;
  }
  if (nRef === 0) throw new InvalidInputError('chiSquareTest: referenceCounts sums to 0');
  if (nCur === 0) throw new InvalidInputError('chiSquareTest: currentCounts sums to 0');
  if (kept < 2) return { statistic: 0, pValue: 1, dof: 0 };

  const total = nRef + nCur;
  // Neumaier summation: the statistic then differs from NumPy's pairwise sum by ~1 ulp.
  let sum = 0;
  let comp = 0;
  const add = (term: number): void => {
    const s = sum + term;
    comp += Math.abs(sum) >= Math.abs(term) ? sum - s + term : term - s + sum;
    sum = s;
  };
  for (let i = 0; i < k; i++) {
    const r = referenceCounts[i]!;
    const c = currentCounts[i]!;
    const col = r + c;
    if (col === 0) continue;
    const eRef = (nRef * col) / total;
    const eCur = (nCur * col) / total;
    add(((r - eRef) * (r - eRef)) / eRef);
    add(((c - eCur) * (c - eCur)) / eCur);
  }
  const statistic = sum + comp;
  const dof = kept - 1;
  return { statistic, pValue: chiSquareSurvival(statistic, dof), dof };
}
