/**
 * Distances between a reference and a current distribution: Jensen-Shannon on histograms,
 * Wasserstein-1 on raw samples.
 */
import { standardDeviation } from 'simple-statistics';
import { InvalidInputError } from '../errors.js';
import type { JensenShannonOptions, WassersteinOptions } from './types.js';

function badNumber(value: unknown): string {
  if (typeof value !== 'number') return `a non-number (${value === null ? 'null' : typeof value})`;
  if (Number.isNaN(value)) return 'NaN';
  if (!Number.isFinite(value)) return value > 0 ? 'Infinity' : '-Infinity';
  return `a negative value (${value})`;
}

function requireNonEmpty(fn: string, name: string, data: ArrayLike<number>): void {
  if (data === null || typeof data !== 'object' || typeof data.length !== 'number') {
    throw new InvalidInputError(`${fn}: ${name} must be an array of numbers`);
  }
  if (data.length === 0) throw new InvalidInputError(`${fn}: ${name} is empty`);
}

/** Neumaier-compensated sum: within an ulp or two of NumPy's pairwise `np.sum`. */
function accurateSum(values: ArrayLike<number>): number {
  let sum = 0;
  let comp = 0;
  for (let i = 0; i < values.length; i++) {
    const v = values[i]!;
    const s = sum + v;
    comp += Math.abs(sum) >= Math.abs(v) ? sum - s + v : v - s + sum;
    sum = s;
  }
  return sum + comp;
}

function validateHistogram(fn: string, name: string, h: ArrayLike<number>): number {
  requireNonEmpty(fn, name, h);
  for (let i = 0; i < h.length; i++) {
    const v = h[i];
    if (typeof v !== 'number' || !(v >= 0) || v === Number.POSITIVE_INFINITY) {
      throw new InvalidInputError(`${fn}: ${name} contains ${badNumber(v)} at index ${i}`);
    }
  }
  const total = accurateSum(h);
  if (total === 0) throw new InvalidInputError(`${fn}: ${name} sums to 0`);
  return total;
}

/** SciPy's `rel_entr(x, y)` for x, y ≥ 0 with y > 0 whenever x > 0 (true for y = (p + q)/2). */
function relEntr(x: number, y: number): number {
  return x === 0 ? 0 : x * Math.log(x / y);
}

/**
 * Jensen-Shannon distance (the square root of the divergence), matching SciPy 1.17
 * `scipy.spatial.distance.jensenshannon(p, q, base)`: p and q are divided by their sums
 * (counts or probabilities both work), m = (p + q)/2,
 * distance = √((Σ rel_entr(p, m) + Σ rel_entr(q, m)) / (2 ln base)).
 * Where rounding makes the divergence a hair below 0 (p ≈ q), SciPy returns NaN from the
 * square root; this returns 0.
 *
 * Base. The default is SciPy's: natural logarithms (base e), so the distance lies in
 * [0, √ln 2 ≈ 0.833]. That is the scale of driftd's Jensen-Shannon threshold (0.1), taken from
 * Evidently, which calls `jensenshannon(reference, current)` with SciPy's default base
 * (evidentlyai/evidently, src/evidently/legacy/calculations/stattests/jensenshannon.py) and
 * flags drift at ≥ 0.1. Base 2 (distance in [0, 1]) is √(1/ln 2) ≈ 1.2011 times larger:
 * comparing base-2 values with Evidently's 0.1 flags at 0.083 in Evidently's units.
 *
 * @param options `base` of the logarithm (default e); must be > 0 and ≠ 1
 * @throws InvalidInputError on empty or unequal-length inputs, negative/NaN/infinite entries,
 *   an all-zero histogram, or a bad base.
 */
export function jensenShannonDistance(
  p: ArrayLike<number>,
  q: ArrayLike<number>,
  options: JensenShannonOptions = {},
): number {
  const base = options.base ?? Math.E;
  if (typeof base !== 'number' || !(base > 0) || base === 1 || !Number.isFinite(base)) {
    throw new InvalidInputError(
      `jensenShannonDistance: base must be a finite number > 0 and ≠ 1, got ${String(base)}`,
    );
  }
  const sumP = validateHistogram('jensenShannonDistance', 'p', p);
  const sumQ = validateHistogram('jensenShannonDistance', 'q', q);
  if (p.length !== q.length) {
    throw new InvalidInputError(
      `jensenShannonDistance: p has ${p.length} bins but q has ${q.length}`,
    );
  }
  let left = 0;
  let leftComp = 0;
  let right = 0;
  let rightComp = 0;
  for (let i = 0; i < p.length; i++) {
    const pi = p[i]! / sumP;
    const qi = q[i]! / sumQ;
    const mi = (pi + qi) / 2;
    const l = relEntr(pi, mi);
    const r = relEntr(qi, mi);
    let s = left + l;
    leftComp += Math.abs(left) >= Math.abs(l) ? left - s + l : l - s + left;
    left = s;
    s = right + r;
    rightComp += Math.abs(right) >= Math.abs(r) ? right - s + r : r - s + right;
    right = s;
  }
  const js = (left + leftComp + (right + rightComp)) / (base === Math.E ? 1 : Math.log(base));
  return js > 0 ? Math.sqrt(js / 2) : 0;
}

function sortedFiniteCopy(fn: string, name: string, data: ArrayLike<number>): Float64Array {
  requireNonEmpty(fn, name, data);
  const out = new Float64Array(data.length);
  for (let i = 0; i < data.length; i++) {
    const v = data[i];
    if (typeof v !== 'number' || !Number.isFinite(v)) {
      throw new InvalidInputError(`${fn}: ${name} contains ${badNumber(v)} at index ${i}`);
    }
    out[i] = v;
  }
  out.sort();
  return out;
}

/**
 * Wasserstein-1 (earth mover's) distance between two samples, matching SciPy 1.17
 * `scipy.stats.wasserstein_distance(u, v)`: ∫ |U(x) − V(x)| dx over the pooled sorted values,
 * with each term |i/n − j/m| · (x_{k+1} − x_k) formed as SciPy forms it (only the summation
 * order differs; a compensated sum keeps that within ~1 ulp). O((n + m) log(n + m)).
 *
 * With `normalize: true` the distance is divided by the population standard deviation
 * (ddof = 0, NumPy's `np.std(u)` default) of the reference `u`, making it unit-free across
 * features.
 *
 * @throws InvalidInputError on empty samples, NaN/±Infinity/non-number values, or when
 *   normalizing by a reference whose standard deviation is 0.
 */
export function wassersteinDistance(
  u: ArrayLike<number>,
  v: ArrayLike<number>,
  options: WassersteinOptions = {},
): number {
  const a = sortedFiniteCopy('wassersteinDistance', 'u', u);
  const b = sortedFiniteCopy('wassersteinDistance', 'v', v);
  const n1 = a.length;
  const n2 = b.length;
  let i = 0;
  let j = 0;
  let sum = 0;
  let comp = 0;
  let x = Math.min(a[0]!, b[0]!);
  while (i < n1 || j < n2) {
    while (i < n1 && a[i]! <= x) i++;
    while (j < n2 && b[j]! <= x) j++;
    if (i === n1 && j === n2) break;
    const next = j >= n2 || (i < n1 && a[i]! <= b[j]!) ? a[i]! : b[j]!;
    const term = Math.abs(i / n1 - j / n2) * (next - x);
    const s = sum + term;
    comp += Math.abs(sum) >= Math.abs(term) ? sum - s + term : term - s + sum;
    sum = s;
    x = next;
  }
  const distance = sum + comp;
  if (!options.normalize) return distance;
  const sd = standardDeviation(Array.from(a));
  if (!(sd > 0)) {
    throw new InvalidInputError(
      'wassersteinDistance: cannot normalize, u has zero standard deviation (all values equal)',
    );
  }
  return distance / sd;
}
