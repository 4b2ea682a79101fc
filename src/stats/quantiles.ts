import { InvalidInputError } from '../errors.js';

/**
 * Fine bin edges for a numeric feature: the baseline sample's quantiles at probabilities
 * 0, 1/k, 2/k, …, 1, computed exactly as NumPy's default `np.quantile(x, q, method='linear')`
 * (Hyndman & Fan type 7, including NumPy's two-sided lerp), then sorted and de-duplicated like
 * `np.unique`. So `edges[0]` is the sample minimum and the last edge its maximum.
 *
 * Bins are right-closed and anchored at the minimum: bin 0 is the single point `{edges[0]}`
 * and bin i ≥ 1 is `(edges[i-1], edges[i]]`, so there are `edges.length` bins (k + 1 for
 * continuous data). Every value with baseline mass above about 1/k (exactly: enough copies to
 * span a gap of (n − 1)/k sorted positions) becomes an edge, and so sits on the upper edge of
 * its bin, the minimum included. Both CDFs are known exactly at every edge, so only the
 * reference mass strictly inside a bin can hide KS error: ≈ 1/k for continuous data, 0 for
 * discrete features (counts, flags, ratings), whose binned KS statistic is therefore exact.
 * (The bound `binnedKsTest` reports, the largest bin mass, stays valid but is conservative
 * for bins that end on an atom.)
 *
 * With ties or discrete data, equal quantiles collapse, so there are fewer bins than k + 1:
 * a 0/1 feature gets 0 and 1 as edges, plus interpolated edges between them whose bins are
 * empty in the baseline (one at most when n > k); a constant feature a single edge (one bin).
 *
 * @param sample baseline values; must be non-empty and finite (filter missing values first)
 * @param k number of quantile intervals (default 1000)
 * @throws InvalidInputError on an empty sample, NaN/±Infinity values, or a bad k
 */
export function quantileEdges(sample: ArrayLike<number>, k = 1000): number[] {
  if (!Number.isInteger(k) || k < 1) {
    throw new InvalidInputError(`quantileEdges: k must be a positive integer, got ${k}`);
  }
  const n = sample.length;
  if (n === 0) {
    throw new InvalidInputError('quantileEdges: the baseline sample is empty');
  }
  const sorted = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    const v = sample[i] as number;
    if (typeof v !== 'number' || !Number.isFinite(v)) {
      throw new InvalidInputError(
        `quantileEdges: sample[${i}] is ${String(v)}; baseline values must be finite numbers`,
      );
    }
    sorted[i] = v;
  }
  sorted.sort();

  const raw = new Float64Array(k + 1);
  for (let j = 0; j <= k; j++) {
    raw[j] = linearQuantile(sorted, j / k);
  }
  // Rounding in the lerp can, in principle, invert two neighbours; np.unique sorts too.
  raw.sort();
  const edges: number[] = [raw[0] as number];
  for (let j = 1; j <= k; j++) {
    const v = raw[j] as number;
    if (v !== edges[edges.length - 1]) edges.push(v);
  }
  return edges;
}

/** NumPy `method='linear'` on an already sorted sample, bit-for-bit. */
function linearQuantile(sorted: Float64Array, q: number): number {
  const n = sorted.length;
  const virtualIndex = (n - 1) * q;
  if (virtualIndex >= n - 1) return sorted[n - 1] as number;
  const lo = Math.floor(virtualIndex);
  const a = sorted[lo] as number;
  const b = sorted[lo + 1] as number;
  const t = virtualIndex - lo;
  const diff = b - a;
  if (!Number.isFinite(diff)) {
    // b − a overflows only for values near ±MAX_VALUE; NumPy would return ±Infinity here.
    return a * (1 - t) + b * t;
  }
  // NumPy interpolates from the nearer end so that t = 1 returns b exactly.
  return t >= 0.5 ? b - diff * (1 - t) : a + diff * t;
}
