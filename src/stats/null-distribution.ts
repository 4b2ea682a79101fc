/**
 * Null distributions of binned drift statistics, simulated from the baseline's own bins, so a
 * distance (PSI, Jensen-Shannon, Wasserstein) or a sparse chi-square gets a p-value at the
 * window's size instead of a fixed threshold that flags most clean small windows.
 */
import { InvalidInputError } from '../errors.js';

/*
 * Method (a parametric bootstrap of the binned statistic, Efron & Tibshirani 1993 ch. 16;
 * Monte Carlo p-values as in Hope 1968 and R's `chisq.test(simulate.p.value = TRUE)`):
 *
 * - Under "no drift" the window's values are n draws from the distribution the baseline
 *   estimates, so its counts over the baseline's bins are Multinomial(n, p̂), p̂ = the
 *   baseline's bin masses. `B` windows are drawn that way (seeded: the same baseline always
 *   gives the same null, so every verdict can be re-derived offline), the statistic of each
 *   against the baseline is computed by the very function the window close uses, and sorted.
 * - Two samples: the baseline is itself a sample of N rows, so a window from the same
 *   population differs from it by the noise of both. The simulated one-sample null is looked
 *   up at the effective size n_eff = n·N/(n + N), the size at which the two-sample KS uses
 *   Kolmogorov's law (Smirnov 1939); for N ≫ n it is n and the null is exact up to Monte Carlo
 *   error. For n ≳ N it is the first-order (CLT) equivalence, which holds in that regime:
 *   every statistic here is then in its asymptotic range.
 * - Window sizes vary, so the null is simulated on a grid of sizes m (ratio √2, 1 … 1024) when
 *   first needed and cached per baseline profile (lazy: only the sizes that occur cost
 *   anything). Each simulated statistic is stored scaled by m^e, e = the rate of the statistic
 *   under the null (½ for KS-like distances √m·D, Wasserstein √m·W and Jensen-Shannon
 *   distance √m·JS; 1 for PSI, m·PSI → χ²; 0 for the chi-square statistic itself), which is
 *   nearly constant in m, so the p-value at n_eff is taken from the two grid sizes around it,
 *   the larger of the two (conservative where the null is discrete). Beyond 1024 the null of the largest grid size is used,
 *   scaled: the statistics are then in their asymptotic regime (√m·W1 → ∫|B(F)|, the
 *   Brownian-bridge limit of del Barrio, Giné & Matrán 1999; m·PSI and 8m·JS² → χ²_{k−1}),
 *   where m^e·T no longer depends on m. That bounds the cost of a first window close; the
 *   calibration suite (n up to 100 000) checks the approximation.
 * - p-value = (1 + #{null ≥ observed}) / (B + 1), the Monte Carlo p-value that is exactly
 *   valid (P(p ≤ t) ≤ t) when the null model holds (Davison & Hinkley 1997, eq. 4.11). Past
 *   the largest simulated value the tail is extrapolated exponentially, p = e^{−(s − s_max)/β}
 *   / (B + 1), β = mean excess of the top 5 % over their lower bound (the peaks-over-threshold
 *   idea of Knijnenburg et al. 2009, "Fewer permutations, more accurate P-values", with an
 *   exponential instead of a generalised Pareto tail), so a large shift gets a p-value below
 *   1/(B + 1) and survives Benjamini–Hochberg among many features.
 * - Multinomial draws: for m < 16k (k bins) m events by Walker's alias method (Walker 1977,
 *   Vose 1991), O(m) with one 32-bit random number per event; above that (few bins)
 *   conditional binomials (count_i ~ Bin(n − Σ_{j<i} count_j,
 *   p_i / (1 − Σ_{j<i} p_j))). A binomial with mean·(1 − p) < 30 is drawn exactly by inversion
 *   (Kachitvichyanukul & Schmeiser 1988, BINV); above that by its normal approximation,
 *   rounded and clamped, whose error in the probabilities is O(1/√(np(1 − p))) ≤ 0.2 per bin
 *   and averages out over the bins a statistic sums (checked by the calibration suite,
 *   test/calibration/).
 * Accuracy: with B = 600 the Monte Carlo standard error of a p-value near 0.05 is 0.009
 * (√(p(1 − p)/B)); the calibration suite measures the resulting false-alarm rates.
 */

/** Simulated windows per grid size. */
export const NULL_SIMULATIONS = 600;
/** Largest simulated window size; larger effective sizes use this one's scaled null. */
export const NULL_MAX_SIZE = 1024;
/** Share of the top simulated values the exponential tail is fitted to. */
const TAIL_SHARE = 0.05;

/** The statistic of simulated window counts against the baseline's counts. */
export type BinnedStatistic = (
  referenceCounts: Float64Array,
  currentCounts: Float64Array,
) => number;

export interface SimulatedNullOptions {
  /** The baseline's counts over the bins the statistic uses (non-negative, sum > 0). */
  referenceCounts: ArrayLike<number>;
  /** Computes the statistic exactly as the window close does. */
  statistic: BinnedStatistic;
  /** Null rate exponent e: the statistic times m^e is about constant in m (see above). */
  scale: number;
  /** Simulations per grid size (default NULL_SIMULATIONS). */
  simulations?: number;
  /** Seed of the generator (default a fixed constant). */
  seed?: number;
}

/** p-values of one statistic against one baseline, at any effective window size. */
export interface SimulatedNull {
  /**
   * Monte Carlo p-value of `observed` (the unscaled statistic) at effective size `nEff`
   * (n·N/(n + N)): the larger p-value of the two grid sizes around it.
   */
  pValue(observed: number, nEff: number): number;
  /** Grid sizes simulated so far (diagnostics and tests). */
  readonly simulatedSizes: readonly number[];
}

/** Grid of simulated sizes: round(2^(j/2)), deduplicated, 1 … NULL_MAX_SIZE. */
export const NULL_GRID: readonly number[] = (() => {
  const out: number[] = [];
  for (let j = 0; ; j++) {
    const m = Math.round(2 ** (j / 2));
    if (m > NULL_MAX_SIZE) break;
    if (out[out.length - 1] !== m) out.push(m);
  }
  return out;
})();

/**
 * A lazily simulated null distribution (method in the module comment).
 *
 * @throws InvalidInputError when the reference counts are empty, negative or sum to 0
 */
export function createSimulatedNull(options: SimulatedNullOptions): SimulatedNull {
  const ref = Float64Array.from(options.referenceCounts);
  let total = 0;
  for (let i = 0; i < ref.length; i++) {
    const c = ref[i] as number;
    if (!(c >= 0) || !Number.isFinite(c)) {
      throw new InvalidInputError(`createSimulatedNull: referenceCounts[${i}] is ${c}`);
    }
    total += c;
  }
  if (ref.length === 0 || total <= 0) {
    throw new InvalidInputError('createSimulatedNull: the reference counts sum to 0');
  }
  const b = options.simulations ?? NULL_SIMULATIONS;
  if (!Number.isInteger(b) || b < 20) {
    throw new InvalidInputError(
      `createSimulatedNull: simulations must be an integer ≥ 20, got ${b}`,
    );
  }
  const e = options.scale;
  const seed = options.seed ?? 0x5eed_d71f;
  const masses = new Float64Array(ref.length);
  for (let i = 0; i < ref.length; i++) masses[i] = (ref[i] as number) / total;
  const cache = new Map<number, NullAtSize>();
  const sizes: number[] = [];

  const at = (gridIndex: number): NullAtSize => {
    const m = NULL_GRID[gridIndex] as number;
    let hit = cache.get(m);
    if (hit === undefined) {
      hit = simulate(
        ref,
        masses,
        m,
        b,
        options.statistic,
        e,
        (seed ^ Math.imul(m, 0x9e3779b1)) >>> 0,
      );
      cache.set(m, hit);
      sizes.push(m);
    }
    return hit;
  };

  return {
    get simulatedSizes() {
      return [...sizes].sort((x, y) => x - y);
    },
    pValue(observed: number, nEff: number): number {
      if (!Number.isFinite(observed)) return observed > 0 ? 0 : 1;
      const n = Math.min(Math.max(nEff, 1), NULL_MAX_SIZE);
      // Largest grid index with size ≤ n.
      let lo = 0;
      let hi = NULL_GRID.length - 1;
      while (lo < hi) {
        const mid = (lo + hi + 1) >>> 1;
        if ((NULL_GRID[mid] as number) <= n) lo = mid;
        else hi = mid - 1;
      }
      const s = observed * Math.max(nEff, 1) ** e;
      const mLo = NULL_GRID[lo] as number;
      const pLo = at(lo).tail(s);
      if (mLo === n || lo === NULL_GRID.length - 1) return pLo;
      // The larger of the two: for statistics with few bins the null is discrete, its support
      // moves with m, and a p-value interpolated between two sizes can fall below both
      // sizes' exact ones (measured: 8 % at the 5 % level for a 2-category feature at n = 50).
      return Math.max(pLo, at(lo + 1).tail(s));
    },
  };
}

/** The sorted scaled null statistics at one size, with the tail fit. */
interface NullAtSize {
  tail(scaled: number): number;
}

function simulate(
  ref: Float64Array,
  masses: Float64Array,
  m: number,
  b: number,
  statistic: BinnedStatistic,
  e: number,
  seed: number,
): NullAtSize {
  const random = xorshift128(seed);
  const random32 = xorshift32(seed);
  const counts = new Float64Array(ref.length);
  const values = new Float64Array(b);
  const factor = m ** e;
  const alias = m < 16 * ref.length ? aliasTable(masses) : null;
  for (let s = 0; s < b; s++) {
    if (alias === null) multinomial(m, masses, counts, random);
    else {
      counts.fill(0);
      const k = masses.length;
      const scale = k / 4294967296;
      for (let i = 0; i < m; i++) {
        const u = random32() * scale;
        const j = Math.floor(u);
        counts[u - j < (alias.prob[j] as number) ? j : (alias.alias[j] as number)]! += 1;
      }
    }
    values[s] = statistic(ref, counts) * factor;
  }
  return { tail: monteCarloPValue(values) };
}

/**
 * The Monte Carlo p-value of an observed statistic among `b` simulated ones (sorted in place
 * here): (1 + #{simulated ≥ x}) / (b + 1), and past the largest the exponential tail fitted to
 * the top TAIL_SHARE (see the method above). NaN (no statistic) is 1.
 */
export function monteCarloPValue(values: Float64Array): (x: number) => number {
  values.sort();
  const b = values.length;
  const max = values[b - 1] as number;
  const top = Math.max(1, Math.floor(b * TAIL_SHARE));
  const u = values[b - top - 1] as number;
  let excess = 0;
  for (let i = b - top; i < b; i++) excess += (values[i] as number) - u;
  const beta = excess / top;
  return (x: number): number => {
    if (Number.isNaN(x)) return 1;
    if (x > max) return beta > 0 ? Math.exp(-(x - max) / beta) / (b + 1) : 1 / (b + 1);
    // First index with values[i] ≥ x (ties count as at least as extreme).
    let lo = 0;
    let hi = b;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if ((values[mid] as number) < x) lo = mid + 1;
      else hi = mid;
    }
    return (1 + (b - lo)) / (b + 1);
  };
}

/** Vose's alias table: bin j is kept with probability prob[j], else alias[j] is taken. */
function aliasTable(masses: Float64Array): { prob: Float64Array; alias: Int32Array } {
  const k = masses.length;
  const prob = new Float64Array(k);
  const alias = new Int32Array(k);
  const scaled = new Float64Array(k);
  const small: number[] = [];
  const large: number[] = [];
  for (let i = 0; i < k; i++) {
    scaled[i] = (masses[i] as number) * k;
    ((scaled[i] as number) < 1 ? small : large).push(i);
  }
  while (small.length > 0 && large.length > 0) {
    const l = small.pop() as number;
    const g = large.pop() as number;
    prob[l] = scaled[l] as number;
    alias[l] = g;
    scaled[g] = (scaled[g] as number) + (scaled[l] as number) - 1;
    ((scaled[g] as number) < 1 ? small : large).push(g);
  }
  for (const i of large) prob[i] = 1;
  for (const i of small) prob[i] = 1; // rounding leftovers
  return { prob, alias };
}

/** Fills `out` with one Multinomial(n, masses) draw by conditional binomials. */
export function multinomial(
  n: number,
  masses: Float64Array,
  out: Float64Array,
  random: () => number,
): void {
  let left = n;
  let massLeft = 1;
  const k = masses.length;
  for (let i = 0; i < k; i++) {
    const p = masses[i] as number;
    if (left === 0 || p <= 0) {
      out[i] = 0;
      continue;
    }
    if (i === k - 1 || p >= massLeft) {
      out[i] = left;
      left = 0;
      continue;
    }
    const x = binomial(left, p / massLeft, random);
    out[i] = x;
    left -= x;
    massLeft -= p;
  }
}

/** One Binomial(n, p) draw: inversion when small (BINV), else the rounded normal. */
function binomial(n: number, p: number, random: () => number): number {
  if (p > 0.5) return n - binomial(n, 1 - p, random);
  const q = 1 - p;
  const mean = n * p;
  if (mean * q < 30) {
    // BINV: walk the pmf from 0, f(x+1) = f(x)·(n − x)/(x + 1)·p/q.
    const r = p / q;
    let f = Math.exp(n * Math.log1p(-p));
    let u = random();
    let x = 0;
    while (u > f) {
      u -= f;
      f *= ((n - x) / (x + 1)) * r;
      x++;
      if (x > n) return n; // rounding left u above the pmf's total
    }
    return x;
  }
  const z = gaussian(random);
  const x = Math.round(mean + Math.sqrt(mean * q) * z);
  return Math.min(Math.max(x, 0), n);
}

function gaussian(random: () => number): number {
  return Math.sqrt(-2 * Math.log(1 - random())) * Math.cos(2 * Math.PI * random());
}

/** Marsaglia's 32-bit xorshift (13, 17, 5) (2003, as below): uint32 values, never 0. */
function xorshift32(seed: number): () => number {
  let x = Math.imul(seed ^ 0x5bd1e995, 0x9e3779b1) >>> 0 || 1;
  return () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    return x;
  };
}

/**
 * Marsaglia's xorshift128 (2003, "Xorshift RNGs", J. Stat. Softw. 8(14)) on 32-bit words,
 * seeded through a murmur3-style mixer: fast, and plenty for Monte Carlo of a few thousand
 * draws. Two outputs make one double in [0, 1) with 53 random bits.
 */
export function xorshift128(seed: number): () => number {
  let s = seed >>> 0;
  const next32 = (): number => {
    s = (s + 0x9e3779b9) >>> 0;
    let z = s;
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
    return (z ^ (z >>> 16)) >>> 0;
  };
  let a = next32() | 1;
  let b = next32();
  let c = next32();
  let d = next32();
  return () => {
    let t = a ^ (a << 11);
    a = b;
    b = c;
    c = d;
    d = (d ^ (d >>> 19) ^ (t ^ (t >>> 8))) >>> 0;
    const hi = d >>> 5;
    t = a ^ (a << 11);
    a = b;
    b = c;
    c = d;
    d = (d ^ (d >>> 19) ^ (t ^ (t >>> 8))) >>> 0;
    const lo = d >>> 6;
    return (hi * 67108864 + lo) / 9007199254740992;
  };
}
