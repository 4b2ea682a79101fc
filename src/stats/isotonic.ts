import { InvalidInputError } from '../errors.js';

/**
 * An increasing isotonic regression of binary labels on scores: the calibrator of
 * confidence-based performance estimation (NannyML's default `IsotonicCalibrator`, which is
 * scikit-learn's `IsotonicRegression(out_of_bounds="clip", increasing=True)`).
 *
 * `x` / `y` are scikit-learn's `X_thresholds_` / `y_thresholds_`: the ascending distinct scores
 * that end a pooled block, and the block's label mean. Prediction clips a score to
 * [x[0], x[last]] and interpolates linearly between thresholds. JSON-serialisable; at most one
 * pair per distinct reference score, in practice a few dozen.
 */
export interface IsotonicFit {
  x: number[];
  y: number[];
}

/** `np.finfo(np.float64).resolution`: scikit-learn's `_make_unique` pools scores closer than this. */
const UNIQUE_RESOLUTION = 1e-15;

/**
 * Fits the calibrator as scikit-learn 1.9 does: sort by (score, label), pool scores less than
 * 1e-15 apart into one point with their label mean and count as weight, pool adjacent
 * violators (PAVA), then drop the interior points of each constant run.
 *
 * @throws InvalidInputError on empty or mismatched inputs, non-finite scores or labels other than 0/1
 */
export function fitIsotonic(scores: ArrayLike<number>, labels: ArrayLike<number>): IsotonicFit {
  const n = scores.length;
  if (n === 0) throw new InvalidInputError('fitIsotonic: no rows');
  if (labels.length !== n) {
    throw new InvalidInputError(
      `fitIsotonic: lengths differ (${n} scores vs ${labels.length} labels)`,
    );
  }
  for (let i = 0; i < n; i++) {
    const s = scores[i];
    if (typeof s !== 'number' || !Number.isFinite(s)) {
      throw new InvalidInputError(`fitIsotonic: scores[${i}] is ${String(s)}, not a finite number`);
    }
    const l = labels[i];
    if (l !== 0 && l !== 1) {
      throw new InvalidInputError(
        `fitIsotonic: labels[${i}] is ${String(l)}; labels must be 0 or 1`,
      );
    }
  }
  return fitIsotonicSorted(scores, labels, sortedOrder(scores, labels));
}

/** Row indexes by (score, label) ascending: scikit-learn's `np.lexsort((y, X))`. */
export function sortedOrder(scores: ArrayLike<number>, labels: ArrayLike<number>): Uint32Array {
  const order = new Uint32Array(scores.length);
  for (let i = 0; i < order.length; i++) order[i] = i;
  order.sort(
    (a, b) =>
      (scores[a] as number) - (scores[b] as number) ||
      (labels[a] as number) - (labels[b] as number),
  );
  return order;
}

/**
 * `fitIsotonic` over the rows `order` lists, already sorted by (score, label) and checked:
 * cross-validation sorts once and passes each fold's share of the order.
 */
export function fitIsotonicSorted(
  scores: ArrayLike<number>,
  labels: ArrayLike<number>,
  order: ArrayLike<number>,
): IsotonicFit {
  if (order.length === 0) throw new InvalidInputError('fitIsotonic: no rows');
  // _make_unique: pooled x keeps the first score of its run, y is the run's label mean.
  const ux: number[] = [];
  const uy: number[] = [];
  const uw: number[] = [];
  let currentX = scores[order[0] as number] as number;
  let sumY = 0;
  let sumW = 0;
  for (let k = 0; k < order.length; k++) {
    const i = order[k] as number;
    const x = scores[i] as number;
    if (x - currentX >= UNIQUE_RESOLUTION) {
      ux.push(currentX);
      uw.push(sumW);
      uy.push(sumY / sumW);
      currentX = x;
      sumW = 0;
      sumY = 0;
    }
    sumW += 1;
    sumY += labels[i] as number;
  }
  ux.push(currentX);
  uw.push(sumW);
  uy.push(sumY / sumW);

  const fitted = poolAdjacentViolators(uy, uw);

  const x: number[] = [];
  const y: number[] = [];
  const m = fitted.length;
  for (let i = 0; i < m; i++) {
    const v = fitted[i] as number;
    const keep = i === 0 || i === m - 1 || v !== fitted[i - 1] || v !== fitted[i + 1];
    if (keep) {
      x.push(ux[i] as number);
      y.push(v);
    }
  }
  return { x, y };
}

/** Weighted least-squares increasing fit; equal adjacent block means are pooled too. */
function poolAdjacentViolators(values: readonly number[], weights: readonly number[]): number[] {
  const blockMean: number[] = [];
  const blockWeight: number[] = [];
  const blockSize: number[] = [];
  for (let i = 0; i < values.length; i++) {
    let mean = values[i] as number;
    let weight = weights[i] as number;
    let size = 1;
    while (blockMean.length > 0 && (blockMean[blockMean.length - 1] as number) >= mean) {
      const w = blockWeight.pop() as number;
      const m = blockMean.pop() as number;
      size += blockSize.pop() as number;
      mean = (m * w + mean * weight) / (w + weight);
      weight += w;
    }
    blockMean.push(mean);
    blockWeight.push(weight);
    blockSize.push(size);
  }
  const out: number[] = [];
  for (let b = 0; b < blockMean.length; b++) {
    for (let k = 0; k < (blockSize[b] as number); k++) out.push(blockMean[b] as number);
  }
  return out;
}

/**
 * Calibrated probability of one score, as `IsotonicRegression.predict` with
 * `out_of_bounds="clip"`: clip to the fitted range, then SciPy `interp1d(kind="linear")`
 * (the segment found by a left binary search, y_lo + slope · (s − x_lo)).
 */
export function calibrateIsotonic(fit: IsotonicFit, score: number): number {
  const { x, y } = fit;
  const m = x.length;
  if (m === 1) return y[0] as number;
  const lo0 = x[0] as number;
  const hi0 = x[m - 1] as number;
  const s = Math.min(Math.max(score, lo0), hi0);
  // searchsorted(x, s, side='left'), clipped to [1, m − 1].
  let lo = 0;
  let hi = m;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if ((x[mid] as number) < s) lo = mid + 1;
    else hi = mid;
  }
  const k = Math.min(Math.max(lo, 1), m - 1);
  const xLo = x[k - 1] as number;
  const yLo = y[k - 1] as number;
  const slope = ((y[k] as number) - yLo) / ((x[k] as number) - xLo);
  return slope * (s - xLo) + yLo;
}

/**
 * Checks a stored fit (from a baseline) before use: same-length, ascending finite x, finite
 * y in [0, 1] that never decreases.
 *
 * @throws InvalidInputError naming what is wrong
 */
export function checkIsotonicFit(where: string, fit: unknown): IsotonicFit {
  const f = fit as IsotonicFit;
  if (typeof fit !== 'object' || fit === null || !Array.isArray(f.x) || !Array.isArray(f.y)) {
    throw new InvalidInputError(`${where}: calibrator must be {x: number[], y: number[]}`);
  }
  if (f.x.length === 0 || f.x.length !== f.y.length) {
    throw new InvalidInputError(
      `${where}: calibrator x and y must be non-empty and of equal length`,
    );
  }
  for (let i = 0; i < f.x.length; i++) {
    const x = f.x[i];
    const y = f.y[i];
    if (typeof x !== 'number' || !Number.isFinite(x) || (i > 0 && !(x > (f.x[i - 1] as number)))) {
      throw new InvalidInputError(`${where}: calibrator x[${i}] must be finite and ascending`);
    }
    if (typeof y !== 'number' || !(y >= 0 && y <= 1) || (i > 0 && y < (f.y[i - 1] as number))) {
      throw new InvalidInputError(
        `${where}: calibrator y[${i}] must be in [0, 1] and non-decreasing`,
      );
    }
  }
  return { x: [...f.x], y: [...f.y] };
}
