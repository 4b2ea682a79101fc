/**
 * Special functions behind the exact tests: log-gamma, the regularized incomplete gamma (for
 * chi-square survival), and the Kolmogorov-Smirnov distributions SciPy uses in `ks_2samp`.
 * Each is a port of, or checked against, the SciPy 1.17 code path named in its JSDoc;
 * test/fixtures/stats-exact.json pins the agreement. simple-statistics has none of these.
 */
import { InvalidInputError } from '../errors.js';

const LS2PI = 0.9189385332046727; // log(sqrt(2π))
const LOG_2PI = 1.8378770664093453;
const SQRT2PI = 2.5066282746310002;
const PI_SQUARED = Math.PI * Math.PI;
const PI_FOUR = PI_SQUARED * PI_SQUARED;
const PI_SIX = PI_FOUR * PI_SQUARED;
const SQRT3 = Math.sqrt(3);
const MACHEP = 1.1102230246251565e-16; // Cephes: 2^-53
const MINLOG = -708.3964185322641; // Cephes: log(2^-1022)
const TWO_POW_128 = 2 ** 128;
const TWO_POW_M128 = 2 ** -128;

function requireFinite(fn: string, name: string, value: number): void {
  if (!Number.isFinite(value)) {
    throw new InvalidInputError(`${fn}: ${name} must be a finite number, got ${value}`);
  }
}

function requirePositiveInteger(fn: string, name: string, value: number): void {
  if (!Number.isInteger(value) || value < 1) {
    throw new InvalidInputError(`${fn}: ${name} must be a positive integer, got ${value}`);
  }
}

// ---------------------------------------------------------------------------------------------
// Log-gamma: Cephes `lgam` (as in SciPy's xsf/cephes/gamma.h), positive arguments only.

const GAMMA_A = [
  0.0008116141674705085, -0.0005950619042843014, 0.0007936503404577169, -0.002777777777300997,
  0.08333333333333319,
];
const GAMMA_B = [
  -1378.2515256912086, -38801.631513463784, -331612.9927388712, -1162370.974927623,
  -1721737.0082083966, -853555.6642457654,
];
const GAMMA_C = [
  -351.81570143652345, -17064.210665188115, -220528.59055385445, -1139334.4436798252,
  -2532523.0717758294, -2018891.4143353277,
];

/** Cephes polevl: coefficients highest degree first. */
function polevl(x: number, coef: readonly number[]): number {
  let ans = coef[0]!;
  for (let i = 1; i < coef.length; i++) ans = ans * x + coef[i]!;
  return ans;
}

/** Cephes p1evl: as polevl with an implicit leading coefficient 1. */
function p1evl(x: number, coef: readonly number[]): number {
  let ans = x + coef[0]!;
  for (let i = 1; i < coef.length; i++) ans = ans * x + coef[i]!;
  return ans;
}

/**
 * Natural log of Γ(x) for x > 0, after Cephes `lgam` (Moshier; SciPy `scipy.special.gammaln`):
 * a rational approximation on [2, 3) reached by recurrence below 13, Stirling's series above.
 * Relative accuracy is about 1e-15 away from the zeros at 1 and 2, where it is absolute.
 */
export function logGamma(x: number): number {
  if (!(x > 0) || !Number.isFinite(x)) {
    throw new InvalidInputError(`logGamma: x must be a finite positive number, got ${x}`);
  }
  if (x < 13) {
    let z = 1;
    let p = 0;
    let u = x;
    while (u >= 3) {
      p -= 1;
      u = x + p;
      z *= u;
    }
    while (u < 2) {
      z /= u;
      p += 1;
      u = x + p;
    }
    if (u === 2) return Math.log(z);
    p -= 2;
    const w = x + p;
    return Math.log(z) + (w * polevl(w, GAMMA_B)) / p1evl(w, GAMMA_C);
  }
  const q = (x - 0.5) * Math.log(x) - x + LS2PI;
  if (x > 1e8) return q;
  const r = 1 / (x * x);
  if (x >= 1000) {
    return q + ((7.936507936507937e-4 * r - 2.777777777777778e-3) * r + 0.08333333333333333) / x;
  }
  return q + polevl(r, GAMMA_A) / x;
}

// ---------------------------------------------------------------------------------------------
// Regularized incomplete gamma: Cephes `igam`/`igamc` (series and Legendre continued fraction),
// with the prefactor x^a e^-x / Γ(a) evaluated in a cancellation-free form for large a.

/** Stirling's series remainder: logΓ(a) − [(a − ½)log a − a + log√(2π)], for a ≥ 10. */
function stirlingRemainder(a: number): number {
  const r = 1 / (a * a);
  // B_2k / (2k(2k−1)): the next omitted term is below 2e-18 at a = 10.
  const s =
    1 / 12 +
    r *
      (-1 / 360 +
        r *
          (1 / 1260 +
            r *
              (-1 / 1680 +
                r * (1 / 1188 + r * (-691 / 360360 + r * (1 / 156 + r * (-3617 / 122400)))))));
  return s / a;
}

/** log1p(t) − t without cancellation for small t (t > −1). */
function log1pmx(t: number): number {
  if (Math.abs(t) > 0.5) return Math.log1p(t) - t;
  // −t²/2 + t³/3 − …: |t| ≤ ½ needs at most ~55 terms for double precision.
  let term = -t;
  let sum = 0;
  for (let k = 2; k < 200; k++) {
    term *= -t;
    const add = term / k;
    sum -= add;
    if (Math.abs(add) <= MACHEP * Math.abs(sum)) break;
  }
  return sum;
}

/**
 * log(x^a e^-x / Γ(a)). For a ≥ 10 the direct form loses ~a·log(x)·eps to cancellation, so it is
 * rewritten a·(log1p(t) − t) + ½log a − log√(2π) − stirling(a) with t = (x − a)/a, the same
 * idea as xsf's `igam_fac`.
 */
function logGammaPrefactor(a: number, x: number): number {
  if (a < 10) return a * Math.log(x) - x - logGamma(a);
  return a * log1pmx((x - a) / a) + 0.5 * Math.log(a) - LS2PI - stirlingRemainder(a);
}

const BIG = 4.503599627370496e15;
const BIGINV = 2.220446049250313e-16;

function igamSeries(a: number, x: number): number {
  const logFac = logGammaPrefactor(a, x);
  if (logFac < -745.2) return 0;
  let r = a;
  let c = 1;
  let ans = 1;
  // Terms fall geometrically once a + n exceeds x; the cap is far beyond any real need.
  const maxIter = 100_000 + Math.ceil(10 * Math.sqrt(a));
  for (let i = 0; i < maxIter; i++) {
    r += 1;
    c *= x / r;
    ans += c;
    if (c <= MACHEP * ans) break;
  }
  return (ans * Math.exp(logFac)) / a;
}

function igamcContinuedFraction(a: number, x: number): number {
  const logFac = logGammaPrefactor(a, x);
  if (logFac < -745.2) return 0;
  let y = 1 - a;
  let z = x + y + 1;
  let c = 0;
  let pkm2 = 1;
  let qkm2 = x;
  let pkm1 = x + 1;
  let qkm1 = z * x;
  let ans = pkm1 / qkm1;
  const maxIter = 100_000 + Math.ceil(10 * Math.sqrt(a));
  for (let i = 0; i < maxIter; i++) {
    c += 1;
    y += 1;
    z += 2;
    const yc = y * c;
    const pk = pkm1 * z - pkm2 * yc;
    const qk = qkm1 * z - qkm2 * yc;
    let t = 1;
    if (qk !== 0) {
      const r = pk / qk;
      t = Math.abs((ans - r) / r);
      ans = r;
    }
    pkm2 = pkm1;
    pkm1 = pk;
    qkm2 = qkm1;
    qkm1 = qk;
    if (Math.abs(pk) > BIG) {
      pkm2 *= BIGINV;
      pkm1 *= BIGINV;
      qkm2 *= BIGINV;
      qkm1 *= BIGINV;
    }
    if (t <= MACHEP) break;
  }
  return ans * Math.exp(logFac);
}

/**
 * Upper regularized incomplete gamma Q(a, x) = Γ(a, x)/Γ(a) (SciPy `gammaincc`), after Cephes
 * `igamc`: power series for P when x < 1 or x < a (there Q ≥ ~½, so 1 − P loses nothing),
 * otherwise the continued fraction for Q directly, which keeps relative accuracy in the tail.
 */
export function regularizedGammaQ(a: number, x: number): number {
  requireFinite('regularizedGammaQ', 'a', a);
  if (!(a > 0)) throw new InvalidInputError(`regularizedGammaQ: a must be > 0, got ${a}`);
  if (Number.isNaN(x) || x < 0) {
    throw new InvalidInputError(`regularizedGammaQ: x must be >= 0, got ${x}`);
  }
  if (x === 0) return 1;
  if (x === Number.POSITIVE_INFINITY) return 0;
  if (x < 1 || x < a) return 1 - igamSeries(a, x);
  return igamcContinuedFraction(a, x);
}

/** Lower regularized incomplete gamma P(a, x) = 1 − Q(a, x) (SciPy `gammainc`). */
export function regularizedGammaP(a: number, x: number): number {
  requireFinite('regularizedGammaP', 'a', a);
  if (!(a > 0)) throw new InvalidInputError(`regularizedGammaP: a must be > 0, got ${a}`);
  if (Number.isNaN(x) || x < 0) {
    throw new InvalidInputError(`regularizedGammaP: x must be >= 0, got ${x}`);
  }
  if (x === 0) return 0;
  if (x === Number.POSITIVE_INFINITY) return 1;
  if (x > 1 && x > a) return 1 - igamcContinuedFraction(a, x);
  return igamSeries(a, x);
}

/** Chi-square survival function P(X ≥ x) with `dof` degrees of freedom (SciPy `chi2.sf`). */
export function chiSquareSurvival(x: number, dof: number): number {
  if (!(dof > 0) || !Number.isFinite(dof)) {
    throw new InvalidInputError(
      `chiSquareSurvival: dof must be a finite positive number, got ${dof}`,
    );
  }
  if (Number.isNaN(x)) throw new InvalidInputError('chiSquareSurvival: x is NaN');
  if (x <= 0) return 1;
  return regularizedGammaQ(dof / 2, x / 2);
}

// ---------------------------------------------------------------------------------------------
// Kolmogorov limiting distribution: SciPy `scipy.special.kolmogorov` = `kstwobign.sf`
// (xsf/cephes/kolmogorov.h, van Mulbregt 2018, arXiv:1803.00426).

/**
 * Survival function of the Kolmogorov distribution, K̄(x) = P(√n·D_n ≥ x) as n → ∞
 * (SciPy `scipy.special.kolmogorov`). Below x = 0.82 the Jacobi-theta form
 * √(2π)/x · Σ e^{−(2k−1)²π²/(8x²)} is summed for the CDF; above, 2Σ(−1)^{k−1}e^{−2k²x²}.
 */
export function kolmogorovSurvival(x: number): number {
  if (Number.isNaN(x)) throw new InvalidInputError('kolmogorovSurvival: x is NaN');
  if (x <= 0) return 1;
  // exp(-π²/(8x²)) underflows the 746-based MIN_EXPABLE here: CDF is 0.
  if (x <= Math.PI / Math.sqrt(746 * 8)) return 1;
  if (x <= 0.82) {
    const w = SQRT2PI / x;
    const logu8 = -PI_SQUARED / (x * x);
    const u = Math.exp(logu8 / 8);
    let cdf: number;
    if (u === 0) {
      cdf = Math.exp(logu8 / 8 + Math.log(w));
    } else {
      const u8 = Math.exp(logu8);
      const u8cub = u8 ** 3;
      let p = 1;
      p = 1 + u8cub * p;
      p = 1 + u8 * u8 * p;
      p = 1 + u8 * p;
      cdf = w * u * p;
    }
    return clamp01(1 - cdf);
  }
  const v = Math.exp(-2 * x * x);
  const vsq = v * v;
  const v3 = v ** 3;
  let p = 1;
  p = 1 - v3 * v3 * v * p;
  p = 1 - v3 * vsq * p;
  p = 1 - v3 * p;
  return clamp01(2 * v * p);
}

function clamp01(p: number): number {
  return p < 0 ? 0 : Math.min(p, 1);
}

// ---------------------------------------------------------------------------------------------
// One-sided Smirnov distribution: SciPy `scipy.special.smirnov` (xsf/cephes/kolmogorov.h).

/** The rounding error of p = a·b: a·b = p + error exactly (Dekker/Veltkamp; no FMA in JS). */
export function productError(a: number, b: number, p: number): number {
  const split = 134217729; // 2^27 + 1
  let t = split * a;
  const ah = t - (t - a);
  const al = a - ah;
  t = split * b;
  const bh = t - (t - b);
  const bl = b - bh;
  return ah * bh - p + ah * bl + al * bh + al * bl;
}

/** Exact product n·x as hi + lo (Dekker/Veltkamp two-product). */
export function twoProduct(a: number, b: number): [number, number] {
  const p = a * b;
  return [p, productError(a, b, p)];
}

/**
 * One-sided Smirnov survival function P(D_n^+ ≥ x) (SciPy `scipy.special.smirnov`), by the
 * Birnbaum-Tingey sum x · Σ_{v=0}^{⌊n(1−x)⌋} C(n,v) (x + v/n)^{v−1} (1 − x − v/n)^{n−v}
 * (Smirnov 1944; Birnbaum & Tingey 1951; van Mulbregt 2018, arXiv:1802.06966).
 *
 * xsf sums in double-double arithmetic; here every term is positive, so each is formed in
 * log space with 1 − x − v/n computed from the exact product n·x, which keeps the relative
 * error near n·eps (≈1e-11 at n = 1e5) — well inside the 1e-9 parity bar. Special cases and
 * the early stop follow xsf; for n > 1e6 xsf's own approximation e^{−(6nx+1)²/(18n)} is used.
 */
export function smirnovSurvival(n: number, x: number): number {
  requirePositiveInteger('smirnovSurvival', 'n', n);
  if (!(x >= 0 && x <= 1)) {
    throw new InvalidInputError(`smirnovSurvival: x must be in [0, 1], got ${x}`);
  }
  if (n === 1) return 1 - x;
  if (x === 0) return 1;
  if (x === 1) return 0;

  const [nxHi, nxLo] = twoProduct(n, x);
  let nxfl = Math.floor(nxHi);
  // The fractional part of n·x from the exact product; rounds like xsf's modNX.
  let alpha = nxHi - nxfl + nxLo;
  if (alpha < 0) {
    nxfl -= 1;
    alpha += 1;
  }
  if (alpha >= 1) {
    nxfl += 1;
    alpha -= 1;
  }
  let n1mxfl = n - nxfl - (alpha === 0 ? 0 : 1);
  if (alpha === 0) n1mxfl -= 1;

  if (nxfl === 0 || (nxfl === 1 && alpha === 0)) {
    // x ≤ 1/n: CDF = x(1 + x)^{n−1}.
    return clamp01(1 - x * Math.exp((n - 1) * Math.log1p(x)));
  }
  if (-2 * n * x * x < MINLOG) return 0;
  if (nxfl >= n - 1) return clamp01(Math.exp(n * Math.log1p(-x)));
  if (n > 1_000_000) {
    const logp = -((6 * n * x + 1) ** 2) / 18 / n;
    // Maximise precision for small p, as xsf does.
    return clamp01(logp < -Math.LN2 ? Math.exp(logp) : 1 + Math.expm1(logp));
  }

  const nTerms = n1mxfl + 1;
  const vmid = Math.floor(n / 2);
  // v = 0 term: C(n,0)·x^{−1}·(1 − x)^n.
  // log C(n, v) is a running sum over up to ~n terms of size up to ~n: uncompensated, its
  // rounding drift reaches 1e-8 relative at n = 3e5, so it is Neumaier-compensated.
  let logC = 0;
  let logCComp = 0;
  let sum = Math.exp(n * Math.log1p(-x) - Math.log(x));
  let comp = 0;
  for (let v = 1; v < nTerms; v++) {
    const step = Math.log((n - v + 1) / v);
    const s0 = logC + step;
    logCComp += Math.abs(logC) >= Math.abs(step) ? logC - s0 + step : step - s0 + logC;
    logC = s0;
    const t1 = (v + nxHi + nxLo) / n; // x + v/n
    const t2 = (n - v - nxHi - nxLo) / n; // 1 − x − v/n, exact numerator up to one rounding
    const logA = logC + logCComp + (v - 1) * Math.log(t1) + (n - v) * Math.log(t2);
    const a = Math.exp(logA);
    if (a !== 0) {
      const s = sum + a;
      comp += Math.abs(sum) >= Math.abs(a) ? sum - s + a : a - s + sum;
      sum = s;
      if (4 * (nTerms - v) * a < MACHEP * 2 * (sum + comp) && v !== nTerms - 1) break;
    } else if (v > vmid) {
      break;
    }
  }
  return clamp01(x * (sum + comp));
}

// ---------------------------------------------------------------------------------------------
// Two-sided one-sample KS distribution of D_n for finite n: SciPy `scipy.stats.kstwo`
// (scipy/stats/_ksstats.py), which follows Simard & L'Ecuyer (2011) in choosing among
// Ruben-Gambino closed forms, Durbin's matrix (Marsaglia-Tsang-Wang 2003), Pomeranz (1974),
// Pelz-Good (1976) and 2·smirnov (Miller's approximation of the two-sided tail).

const STIRLING_COEFFS = [
  -0.029550653594771242, 0.00641025641025641, -0.0019175269175269176, 0.0008417508417508417,
  -0.0005952380952380953, 0.0007936507936507937, -0.002777777777777778, 0.08333333333333333,
];

/** log(n!/n^n) by Stirling's series with n·log n removed up front (no cancellation). */
function logNFactorialDivNPowN(n: number): number {
  const rn = 1 / n;
  return Math.log(n) / 2 - n + LOG_2PI / 2 + rn * polevl(rn / n, STIRLING_COEFFS);
}

function matMul(a: Float64Array, b: Float64Array, m: number): Float64Array {
  const out = new Float64Array(m * m);
  for (let i = 0; i < m; i++) {
    const row = i * m;
    for (let k = 0; k < m; k++) {
      const aik = a[row + k]!;
      if (aik === 0) continue;
      const bRow = k * m;
      for (let j = 0; j < m; j++) out[row + j]! += aik * b[bRow + j]!;
    }
  }
  return out;
}

function maxAbs(a: Float64Array): number {
  let mx = 0;
  for (let i = 0; i < a.length; i++) {
    const v = Math.abs(a[i]!);
    if (v > mx) mx = v;
  }
  return mx;
}

/**
 * P(D_n ≤ d) by Durbin's matrix algorithm as organised by Marsaglia, Tsang & Wang (2003):
 * the k-th diagonal entry of n!/n^n · H^n, with H of order 2k − 1 (k = ⌈nd⌉). Powers are
 * rescaled by 2^128 to stay in range (SciPy switches to long double for the same purpose).
 */
function kolmognDMTW(n: number, d: number): number {
  if (d >= 1) return 1;
  const nd = n * d;
  if (nd <= 0.5) return 0;
  const k = Math.ceil(nd);
  const h = k - nd;
  const m = 2 * k - 1;
  const v = new Float64Array(m);
  const w = new Float64Array(m);
  let fac = 1;
  for (let j = 1; j <= m; j++) {
    w[j - 1] = fac;
    fac /= j;
    v[j - 1] = (1 - h ** j) * fac;
  }
  const tt = Math.max(2 * h - 1, 0) ** m - 2 * h ** m;
  v[m - 1] = (1 + tt) * fac;

  let H: Float64Array = new Float64Array(m * m);
  for (let i = 1; i < m; i++) {
    for (let r = i - 1; r < m; r++) H[r * m + i] = w[r - (i - 1)]!;
  }
  for (let r = 0; r < m; r++) H[r * m] = v[r]!;
  for (let c = 0; c < m; c++) H[(m - 1) * m + c] = v[m - 1 - c]!;

  let pwr: Float64Array = new Float64Array(m * m);
  for (let i = 0; i < m; i++) pwr[i * m + i] = 1;
  let expnt = 0;
  let hExpnt = 0;
  let nn = n;
  while (nn > 0) {
    if (nn % 2 === 1) {
      pwr = matMul(pwr, H, m);
      expnt += hExpnt;
      if (maxAbs(pwr) > TWO_POW_128) {
        for (let i = 0; i < pwr.length; i++) pwr[i]! *= TWO_POW_M128;
        expnt += 128;
      }
    }
    nn = Math.floor(nn / 2);
    if (nn === 0) break;
    H = matMul(H, H, m);
    hExpnt *= 2;
    if (maxAbs(H) > TWO_POW_128) {
      for (let i = 0; i < H.length; i++) H[i]! *= TWO_POW_M128;
      hExpnt += 128;
    }
  }
  let p = pwr[(k - 1) * m + (k - 1)]!;
  for (let i = 1; i <= n; i++) {
    p = (i * p) / n;
    if (Math.abs(p) < TWO_POW_M128) {
      p *= TWO_POW_128;
      expnt -= 128;
    }
  }
  return clamp01(p * 2 ** expnt);
}

function pomeranzBounds(
  i: number,
  n: number,
  ll: number,
  ceilf: number,
  roundf: number,
): [number, number] {
  let j1: number;
  let j2: number;
  if (i === 0) {
    j1 = -ll - ceilf - 1;
    j2 = ll + ceilf - 1;
  } else {
    const ip1div2 = Math.floor((i + 1) / 2);
    if ((i + 1) % 2 === 0) {
      if (ip1div2 === n + 1) {
        j1 = n - ll - ceilf - 1;
        j2 = n + ll + ceilf - 1;
      } else {
        j1 = ip1div2 - 1 - ll - roundf - 1;
        j2 = ip1div2 + ll - 1 + ceilf - 1;
      }
    } else {
      j1 = ip1div2 - 1 - ll - 1;
      j2 = ip1div2 + ll + roundf - 1;
    }
  }
  return [Math.max(j1 + 2, 0), Math.min(j2, n)];
}

/**
 * P(D_n ≤ x) by Pomeranz's (1974) recursion: each row is the previous one convolved with
 * (almost-)Poisson weights, keeping only the few entries that can be non-zero.
 */
function kolmognPomeranz(n: number, x: number): number {
  const t = n * x;
  const ll = Math.floor(t);
  const f = t - ll;
  const g = Math.min(f, 1 - f);
  const ceilf = f > 0 ? 1 : 0;
  const roundf = f > 0.5 ? 1 : 0;
  const npwrs = 2 * (ll + 1);
  const gpower = new Float64Array(npwrs);
  const twogpower = new Float64Array(npwrs);
  const onem2gpower = new Float64Array(npwrs);
  gpower[0] = 1;
  twogpower[0] = 1;
  onem2gpower[0] = 1;
  const gOverN = g / n;
  const twoGOverN = (2 * g) / n;
  const oneMinusTwoGOverN = (1 - 2 * g) / n;
  for (let m = 1; m < npwrs; m++) {
    gpower[m] = (gpower[m - 1]! * gOverN) / m;
    twogpower[m] = (twogpower[m - 1]! * twoGOverN) / m;
    onem2gpower[m] = (onem2gpower[m - 1]! * oneMinusTwoGOverN) / m;
  }
  let V0 = new Float64Array(npwrs);
  let V1 = new Float64Array(npwrs);
  V1[0] = 1;
  let V0s = 0;
  let V1s = 0;
  let expnt = 0;
  let [j1, j2] = pomeranzBounds(0, n, ll, ceilf, roundf);
  for (let i = 1; i < 2 * n + 2; i++) {
    const k1 = j1;
    [V0, V1] = [V1, V0];
    [V0s, V1s] = [V1s, V0s];
    V1.fill(0);
    [j1, j2] = pomeranzBounds(i, n, ll, ceilf, roundf);
    const pwrs = i === 1 || i === 2 * n + 1 ? gpower : i % 2 === 1 ? twogpower : onem2gpower;
    const ln2 = j2 - k1 + 1;
    if (ln2 > 0) {
      const aStart = k1 - V0s;
      const aLen = Math.min(ln2, npwrs - aStart);
      const bLen = Math.min(ln2, npwrs);
      const convStart = j1 - k1;
      const convLen = j2 - j1 + 1;
      let mx = 0;
      for (let c = 0; c < convLen; c++) {
        const idx = convStart + c; // index into the full convolution of a and b
        let s = 0;
        const lo = Math.max(0, idx - bLen + 1);
        const hi = Math.min(aLen - 1, idx);
        for (let q = lo; q <= hi; q++) s += V0[aStart + q]! * pwrs[idx - q]!;
        V1[c] = s;
        if (s > mx) mx = s;
      }
      if (mx > 0 && mx < TWO_POW_M128) {
        for (let c = 0; c < npwrs; c++) V1[c]! *= TWO_POW_128;
        expnt -= 128;
      }
      V1s = V0s + j1 - k1;
    }
  }
  let ans = V1[n - V1s]!;
  for (let m = 1; m <= n; m++) {
    if (Math.abs(ans) > TWO_POW_128) {
      ans *= TWO_POW_M128;
      expnt += 128;
    }
    ans *= m;
  }
  return clamp01(ans * 2 ** expnt);
}

/**
 * Pelz-Good (1976) approximation to P(D_n ≤ x): Li-Chien/Korolyuk's expansion
 * K0 + K1/√n + K2/n + K3/n^1.5 rewritten through Jacobi theta identities for small z = x√n.
 */
function kolmognPelzGood(n: number, x: number): number {
  if (x <= 0) return 0;
  if (x >= 1) return 1;
  const z = Math.sqrt(n) * x;
  const z2 = z * z;
  const z3 = z2 * z;
  const z4 = z2 * z2;
  const z6 = z4 * z2;
  const qlog = -PI_SQUARED / 8 / z2;
  if (qlog < -708) return 0;
  let q = Math.exp(qlog);

  const k1a = -z2;
  const k1b = PI_SQUARED / 4;
  const k2a = 6 * z6 + 2 * z4;
  const k2b = ((2 * z4 - 5 * z2) * PI_SQUARED) / 4;
  const k2c = (PI_FOUR * (1 - 2 * z2)) / 16;
  const k3d = (PI_SIX * (5 - 30 * z2)) / 64;
  const k3c = (PI_FOUR * (-60 * z2 + 212 * z4)) / 16;
  const k3b = (PI_SQUARED * (135 * z4 - 96 * z6)) / 4;
  const k3a = -30 * z6 - 90 * z ** 8;

  let K0 = 0;
  let K1 = 0;
  let K2 = 0;
  let K3 = 0;
  // Horner in q^(8k) over odd m = 2k − 1.
  const maxk = Math.ceil((16 * z) / Math.PI);
  for (let k = maxk; k > 0; k--) {
    const m = 2 * k - 1;
    const m2 = m * m;
    const m4 = m2 * m2;
    const m6 = m4 * m2;
    const qpower = q ** (8 * k);
    K0 = K0 * qpower + 1;
    K1 = K1 * qpower + (k1a + k1b * m2);
    K2 = K2 * qpower + (k2a + k2b * m2 + k2c * m4);
    K3 = K3 * qpower + (k3a + k3b * m2 + k3c * m4 + k3d * m6);
  }
  K0 = (K0 * q * SQRT2PI) / z;
  K1 = (K1 * q * SQRT2PI) / (6 * z4);
  K2 = (K2 * q * SQRT2PI) / (72 * z ** 7);
  K3 = (K3 * q * SQRT2PI) / (6480 * z ** 10);

  // Terms over all integers k (little cancellation, summed directly).
  q = Math.exp(-PI_SQUARED / 2 / z2);
  const sqrt3z = SQRT3 * z;
  let k2extra = 0;
  let k3extra = 0;
  for (let k = maxk; k > 0; k--) {
    const k2 = k * k;
    const qp = q ** k2;
    const kpi = Math.PI * k;
    k2extra += k2 * qp;
    k3extra += (sqrt3z + kpi) * (sqrt3z - kpi) * k2 * qp;
  }
  K2 += (k2extra * PI_SQUARED * SQRT2PI) / (-36 * z3);
  K3 += (k3extra * PI_SQUARED * SQRT2PI) / (216 * z6);
  const sqrtN = Math.sqrt(n);
  return K0 + K1 / sqrtN + K2 / n + K3 / (n * sqrtN);
}

/**
 * Survival function of the exact two-sided one-sample KS statistic, P(D_n ≥ x), as SciPy
 * `scipy.stats.kstwo.sf(x, n)` computes it (`_kolmogn` in scipy/stats/_ksstats.py), with the
 * same method-selection thresholds (Simard & L'Ecuyer 2011). `ks_2samp`'s asymptotic path
 * evaluates it at n = round(m·n/(m + n)).
 */
export function kolmogorovExactSurvival(n: number, x: number): number {
  requirePositiveInteger('kolmogorovExactSurvival', 'n', n);
  if (Number.isNaN(x)) throw new InvalidInputError('kolmogorovExactSurvival: x is NaN');
  // kstwo's support is [1/(2n), 1]: SciPy's rv_continuous answers 1 at or below the lower end.
  if (x <= 0.5 / n) return 1;
  if (x >= 1) return 0;
  const t = n * x;
  if (t <= 1) {
    // Ruben-Gambino: P(D_n ≤ x) = n!/n^n (2t − 1)^n for 1/(2n) ≤ x ≤ 1/n.
    let prob: number;
    if (n <= 140) {
      prob = 1;
      for (let i = 1; i <= n; i++) prob *= i * (1 / n) * (2 * t - 1);
    } else {
      prob = Math.exp(logNFactorialDivNPowN(n) + n * Math.log(2 * t - 1));
    }
    return clamp01(1 - prob);
  }
  if (t >= n - 1) return clamp01(2 * (1 - x) ** n);
  if (x >= 0.5) return clamp01(2 * smirnovSurvival(n, x));

  const nxSquared = t * x;
  if (n <= 140) {
    if (nxSquared <= 0.754693) return clamp01(1 - kolmognDMTW(n, x));
    if (nxSquared <= 4) return clamp01(1 - kolmognPomeranz(n, x));
    return clamp01(2 * smirnovSurvival(n, x));
  }
  if (nxSquared >= 370) return 0;
  if (nxSquared >= 2.2) return clamp01(2 * smirnovSurvival(n, x));
  const cdf = n <= 100_000 && n * x ** 1.5 <= 1.4 ? kolmognDMTW(n, x) : kolmognPelzGood(n, x);
  return clamp01(1 - cdf);
}

// ---------------------------------------------------------------------------------------------
// Standard normal quantile: Wichura's AS 241 (PPND16), as R's `qnorm`; relative accuracy
// about 1e-16, checked against SciPy `scipy.special.ndtri` in test/fixtures/fairness-german.json.

const NQ_A = [
  2509.0809287301227, 33430.57558358813, 67265.7709270087, 45921.95393154987, 13731.69376550946,
  1971.5909503065513, 133.14166789178438, 3.3871328727963665,
];
const NQ_B = [
  5226.495278852854, 28729.085735721943, 39307.89580009271, 21213.794301586597, 5394.196021424751,
  687.1870074920579, 42.31333070160091, 1,
];
const NQ_C = [
  0.0007745450142783414, 0.022723844989269184, 0.2417807251774506, 1.2704582524523684,
  3.6478483247632045, 5.769497221460691, 4.630337846156546, 1.4234371107496835,
];
const NQ_D = [
  1.0507500716444169e-9, 0.0005475938084995345, 0.015198666563616457, 0.14810397642748008,
  0.6897673349851, 1.6763848301838038, 2.053191626637759, 1,
];
const NQ_E = [
  2.0103343992922881e-7, 0.000027115555687434876, 0.0012426609473880784, 0.026532189526576124,
  0.29656057182850487, 1.7848265399172913, 5.463784911164114, 6.657904643501103,
];
const NQ_F = [
  2.0442631033899397e-15, 1.421511758316446e-7, 0.000018463183175100548, 0.0007868691311456133,
  0.014875361290850615, 0.1369298809227358, 0.599832206555888, 1,
];

/**
 * Quantile of the standard normal distribution, Φ⁻¹(p) (SciPy `scipy.special.ndtri`,
 * `norm.ppf`): ±∞ at 0 and 1.
 *
 * @throws InvalidInputError when p is not in [0, 1]
 */
export function normalQuantile(p: number): number {
  if (!(p >= 0 && p <= 1)) {
    throw new InvalidInputError(`normalQuantile: p must be in [0, 1], got ${p}`);
  }
  if (p === 0) return Number.NEGATIVE_INFINITY;
  if (p === 1) return Number.POSITIVE_INFINITY;
  const q = p - 0.5;
  if (Math.abs(q) <= 0.425) {
    const r = 0.180625 - q * q;
    return (q * polevl(r, NQ_A)) / polevl(r, NQ_B);
  }
  let r = Math.sqrt(-Math.log(q < 0 ? p : 1 - p));
  let value: number;
  if (r <= 5) {
    r -= 1.6;
    value = polevl(r, NQ_C) / polevl(r, NQ_D);
  } else {
    r -= 5;
    value = polevl(r, NQ_E) / polevl(r, NQ_F);
  }
  return q < 0 ? -value : value;
}
