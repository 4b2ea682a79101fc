import { InvalidInputError } from '../errors.js';
import {
  calibrateIsotonic,
  checkIsotonicFit,
  fitIsotonicSorted,
  type IsotonicFit,
  sortedOrder,
} from './isotonic.js';
import { rocAuc } from './metrics.js';
import { checkCount, toArray } from './validate.js';

/*
 * Label-free performance estimation for binary classifiers: confidence-based performance
 * estimation (CBPE) as NannyML 0.13 does it, in mergeable form.
 *
 * Fit (once, on the baseline's labels and scores): an isotonic calibrator when the scores
 * need one (NannyML's `needs_calibration` rule), and NannyML's sampling-error components.
 * Window (streaming): each prediction's calibrated probability p that its label is 1. If
 * the calibration holds, p is the expected contribution of the row to TP (predicted 1) or FN
 * (predicted 0) and 1 − p to FP or TN, so the expected confusion counts are sums:
 *
 *   TP = Σ_{ŷ=1} p   FP = n₁ − TP   FN = Σ_{ŷ=0} p   TN = n₀ − FN
 *
 * and accuracy, precision, recall and F1 are NannyML's ratios of these. The window state is
 * these sums plus a histogram of p (count, Σp, min, max per equal-width bin) for ROC AUC, so
 * two windows' states merge by addition (min / max by min / max; the probability sums up to
 * float rounding) and the state's size is set by `scoreBins`, never by the traffic.
 *
 * ROC AUC: NannyML walks the rows by decreasing score, each row adding p to the true-positive
 * and 1 − p to the false-positive axis, and takes the trapezoid area, i.e.
 *
 *   AUC = Σ_{pairs i ranked above j} p_i (1 − p_j) + ½ Σ_i p_i (1 − p_i), over P·N,
 *   P = Σ p, N = n − P.
 *
 * The calibrator is non-decreasing, so rows in different bins of p are ranked exactly; a pair
 * in one bin is credited ½ (p_i (1 − p_j) + p_j (1 − p_i)), off by ½ |p_i − p_j| ≤ ½ (max_b − min_b).
 * Hence |AUC_hist − AUC| ≤ ½ Σ_b C(n_b, 2) (max_b − min_b) / (P·N), reported as
 * `rocAucErrorBound`; it is 0 when every bin holds one distinct p (a flat isotonic block is
 * one p), and ≤ (1 / 4B) Σ_b n_b² / (P·N) whatever the data.
 *
 * Uncertainty. `samplingError` is NannyML's: a standard deviation fitted on the reference and
 * scaled to the window (std / √(n · fraction); counts std · √n): how far a window of n rows
 * from the reference population may land. Two things it leaves out, and the band (`lower`,
 * `upper` = value ∓ 3 `standardError`, clipped to [0, 1], counts to [0, n]) adds:
 * - the reference is finite too: the calibrator and the spreads come from N reference rows,
 *   and their error is shared by every window, so it does not shrink as windows grow. The
 *   band's standard error adds the same term at size N: samplingError · √(1 + n / N);
 * - for ROC AUC NannyML keeps only the positives' placement spread, half of the Mann-Whitney
 *   variance for balanced classes. The band uses DeLong's both components,
 *   √((s₊²/f₊ + s₋²/f₋) · (1/n + 1/N)).
 * Measured on real data (test/calibration/cbpe-coverage.test.ts): with NannyML's bands the
 * realised ROC AUC fell outside in 15 % of clean 2 000-row windows; with these, in none of
 * the metrics beyond 10 % at any size.
 */

/** How the scores are calibrated: NannyML's rule (`auto`), always, or never (scores are probabilities). */
export type CbpeCalibration = 'auto' | 'isotonic' | 'none';

export interface CbpeFitOptions {
  /** A score ≥ threshold is a positive prediction (default 0.5). */
  threshold?: number;
  /** Default `auto`: calibrate when it lowers the expected calibration error in cross-validation. */
  calibration?: CbpeCalibration;
}

/** A sampling-error component: the reference's per-row standard deviation and the share of rows it counts. */
export interface CbpeSpread {
  std: number | null;
  fraction: number;
}

export const CBPE_METRICS = [
  'roc_auc',
  'f1',
  'precision',
  'recall',
  'accuracy',
  'true_positive',
  'false_positive',
  'true_negative',
  'false_negative',
] as const;
export type CbpeMetric = (typeof CBPE_METRICS)[number];

/** The fitted estimator, stored with the baseline (JSON). */
export interface CbpeModel {
  kind: 'cbpe-binary';
  threshold: number;
  /** What `auto` decided, or what was asked. */
  calibration: 'isotonic' | 'none';
  calibrator: IsotonicFit | null;
  referenceRows: number;
  /** NannyML's sampling-error components, per metric. */
  samplingError: Record<CbpeMetric, CbpeSpread>;
  /**
   * DeLong's placement spreads for ROC AUC: over positives, the share of negatives ranked
   * below; over negatives, the share of positives ranked above (ties ½).
   */
  rocAucPlacement: { positives: CbpeSpread; negatives: CbpeSpread };
}

export interface CbpeMetricEstimate {
  value: number | null;
  /** NannyML's sampling error for a window of this size. */
  samplingError: number | null;
  /** The band's standard error: the sampling error widened by the reference's own (see above). */
  standardError: number | null;
  /** value ∓ 3 standard errors, clipped to the metric's range. */
  lower: number | null;
  upper: number | null;
}

export interface CbpeEstimate {
  count: number;
  metrics: Record<CbpeMetric, CbpeMetricEstimate>;
  /** Largest possible |roc_auc − NannyML's unbinned estimate| caused by the histogram. */
  rocAucErrorBound: number | null;
}

export interface CbpeSketchOptions {
  /** Equal-width bins of the calibrated probability for ROC AUC (default 1000). */
  scoreBins?: number;
}

export interface CbpeSnapshot {
  kind: 'cbpe';
  scoreBins: number;
  threshold: number;
  /** Rows predicted 0 and 1. */
  predicted: [number, number];
  /** Σ p over rows predicted 0 and 1. */
  probabilitySums: [number, number];
  binCounts: number[];
  binSums: number[];
  /** Smallest / largest p in each bin; 0 for an empty bin. */
  binMin: number[];
  binMax: number[];
}

export interface CbpeSketch {
  readonly kind: 'cbpe';
  /** Adds one prediction by its raw score (the model's output, before calibration). */
  record(score: number): void;
  /**
   * As `record` for a score that can be used (a finite number; in [0, 1] without a
   * calibrator), else nothing: false. For the window path, where any value may arrive.
   */
  tryRecord(score: unknown): boolean;
  merge(other: CbpeSketch | CbpeSnapshot): void;
  snapshot(): CbpeSnapshot;
  estimate(): CbpeEstimate;
}

const COUNT_METRICS: ReadonlySet<CbpeMetric> = new Set([
  'true_positive',
  'false_positive',
  'true_negative',
  'false_negative',
]);

/** NannyML's `SAMPLING_ERROR_RANGE`: the band is ± this many standard errors. */
export const CBPE_BAND_STANDARD_ERRORS = 3;

/**
 * Fits CBPE on the reference: labels (0/1) and raw scores of the same rows.
 *
 * @throws InvalidInputError on empty or mismatched input, a non-finite score, labels other than
 *   0/1, scores outside [0, 1] with `calibration: 'none'`, or a non-finite threshold
 */
export function fitCbpe(
  scores: ArrayLike<number>,
  labels: ArrayLike<number>,
  options: CbpeFitOptions = {},
): CbpeModel {
  const threshold = options.threshold ?? 0.5;
  const mode = options.calibration ?? 'auto';
  if (typeof threshold !== 'number' || !Number.isFinite(threshold)) {
    throw new InvalidInputError(
      `fitCbpe: threshold must be a finite number, got ${String(threshold)}`,
    );
  }
  if (mode !== 'auto' && mode !== 'isotonic' && mode !== 'none') {
    throw new InvalidInputError(
      `fitCbpe: calibration must be auto, isotonic or none, got ${String(mode)}`,
    );
  }
  const n = scores.length;
  if (n === 0) throw new InvalidInputError('fitCbpe: no reference rows');
  if (labels.length !== n) {
    throw new InvalidInputError(`fitCbpe: lengths differ (${n} scores vs ${labels.length} labels)`);
  }
  const y = new Uint8Array(n);
  const s = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    const v = scores[i];
    if (typeof v !== 'number' || !Number.isFinite(v)) {
      throw new InvalidInputError(`fitCbpe: scores[${i}] is ${String(v)}, not a finite number`);
    }
    const l = labels[i];
    if (l !== 0 && l !== 1) {
      throw new InvalidInputError(`fitCbpe: labels[${i}] is ${String(l)}; labels must be 0 or 1`);
    }
    s[i] = v;
    y[i] = l;
  }
  const order = sortedOrder(s, y);
  const calibrate = mode === 'isotonic' || (mode === 'auto' && needsCalibration(s, y, order));
  if (!calibrate) {
    for (let i = 0; i < n; i++) {
      const v = s[i] as number;
      if (!(v >= 0 && v <= 1)) {
        throw new InvalidInputError(
          `fitCbpe: scores[${i}] is ${v}; without calibration scores must be probabilities in [0, 1]`,
        );
      }
    }
  }
  return {
    kind: 'cbpe-binary',
    threshold,
    calibration: calibrate ? 'isotonic' : 'none',
    calibrator: calibrate ? fitIsotonicSorted(s, y, order) : null,
    referenceRows: n,
    samplingError: samplingErrorComponents(s, y, threshold),
    rocAucPlacement: rocAucPlacement(s, y),
  };
}

/**
 * NannyML's `needs_calibration`: no with one class or a near-perfect ranking (ROC AUC > 0.999);
 * otherwise calibrate out of fold and compare the expected calibration error (10 equal-count
 * bins) before and after. NannyML draws 10 stratified 10 % test splits at random (seed 42);
 * here the 10 stratified folds are deterministic (each class in input order, row k of a class
 * in fold k mod 10), so every row is tested once and the answer does not depend on an RNG.
 */
export function needsCalibration(
  scores: ArrayLike<number>,
  labels: ArrayLike<number>,
  order: ArrayLike<number> = sortedOrder(scores, labels),
): boolean {
  const n = scores.length;
  let positives = 0;
  for (let i = 0; i < n; i++) positives += labels[i] as number;
  if (positives === 0 || positives === n) return false;
  if (rocAuc(labels, scores) > 0.999) return false;
  const edges = binIndexEdges(n, 10);
  if (edges === null) return false;
  const calibrated = outOfFoldCalibration(scores, labels, order);
  return (
    expectedCalibrationError(labels, scores, edges) >
    expectedCalibrationError(labels, calibrated, edges)
  );
}

/**
 * Each row's probability from an isotonic calibrator fitted on the other nine of ten
 * stratified folds (row k of a class, in input order, is in fold k mod 10).
 */
export function outOfFoldCalibration(
  scores: ArrayLike<number>,
  labels: ArrayLike<number>,
  order: ArrayLike<number> = sortedOrder(scores, labels),
): Float64Array {
  const n = scores.length;
  const folds = 10;
  const fold = new Uint8Array(n);
  const seen = [0, 0];
  for (let i = 0; i < n; i++) {
    const l = labels[i] as 0 | 1;
    fold[i] = (seen[l] as number) % folds;
    seen[l] = (seen[l] as number) + 1;
  }
  const out = new Float64Array(n);
  for (let f = 0; f < folds; f++) {
    // The other folds' rows, still in (score, label) order: no sort per fold.
    const train: number[] = [];
    for (let k = 0; k < order.length; k++) {
      const i = order[k] as number;
      if (fold[i] !== f) train.push(i);
    }
    if (train.length === n) continue;
    if (train.length === 0) {
      for (let i = 0; i < n; i++) if (fold[i] === f) out[i] = labels[i] as number;
      continue;
    }
    const fit = fitIsotonicSorted(scores, labels, train);
    for (let i = 0; i < n; i++) {
      if (fold[i] === f) out[i] = calibrateIsotonic(fit, scores[i] as number);
    }
  }
  return out;
}

/** NannyML's `_get_bin_index_edges`; null where NannyML raises (fewer than 4 rows). */
function binIndexEdges(length: number, binCount: number): Array<[number, number]> | null {
  let bins = binCount;
  if (length <= 2 * bins) {
    bins = Math.floor(length / 2);
    if (bins < 2) return null;
  }
  const width = Math.floor(length / bins);
  const edges: number[] = [];
  for (let e = 0; e <= length; e += width) edges.push(e);
  edges[edges.length - 1] = length;
  const out: Array<[number, number]> = [];
  for (let i = 0; i + 1 < edges.length; i++) out.push([edges[i] as number, edges[i + 1] as number]);
  return out;
}

function expectedCalibrationError(
  labels: ArrayLike<number>,
  probabilities: ArrayLike<number>,
  edges: ReadonlyArray<[number, number]>,
): number {
  const n = probabilities.length;
  const order = Array.from({ length: n }, (_, i) => i);
  order.sort((a, b) => (probabilities[a] as number) - (probabilities[b] as number));
  let ece = 0;
  for (const [left, right] of edges) {
    let sp = 0;
    let sy = 0;
    for (let k = left; k < right; k++) {
      const i = order[k] as number;
      sp += probabilities[i] as number;
      sy += labels[i] as number;
    }
    const m = right - left;
    ece += (m / n) * Math.abs(sp / m - sy / m);
  }
  return ece;
}

/** √(q(1 − q)): `np.std` of m indicators of which k are 1; null for no rows (NaN in NumPy). */
function indicatorStd(k: number, m: number): number | null {
  if (m === 0) return null;
  const q = k / m;
  return Math.sqrt(q * (1 - q));
}

/** NannyML 0.13 `sampling_error/binary_classification.py`, the `*_components` functions. */
function samplingErrorComponents(
  scores: Float64Array,
  labels: Uint8Array,
  threshold: number,
): Record<CbpeMetric, CbpeSpread> {
  const n = scores.length;
  let tp = 0;
  let fp = 0;
  let tn = 0;
  let fn = 0;
  for (let i = 0; i < n; i++) {
    const predicted = (scores[i] as number) >= threshold;
    if (labels[i] === 1) {
      if (predicted) tp++;
      else fn++;
    } else if (predicted) fp++;
    else tn++;
  }
  const relevant = tp + fp + fn;
  // F1's per-row values are TP rows × c, FP and FN rows 0, c = relevant / (TP + ½ (FP + FN)).
  const f1Scale = relevant / ((fn + fp) * 0.5 + tp);
  const f1Std = indicatorStd(tp, relevant);
  return {
    roc_auc: rocAucSpread(scores, labels),
    f1: { std: f1Std === null ? null : f1Std * f1Scale, fraction: relevant / n },
    precision: { std: indicatorStd(tp, tp + fp), fraction: (tp + fp) / n },
    recall: { std: indicatorStd(tp, tp + fn), fraction: (tp + fn) / n },
    accuracy: { std: indicatorStd(tp + tn, n), fraction: 1 },
    true_positive: { std: indicatorStd(tp, n), fraction: 1 },
    false_positive: { std: indicatorStd(fp, n), fraction: 1 },
    true_negative: { std: indicatorStd(tn, n), fraction: 1 },
    false_negative: { std: indicatorStd(fn, n), fraction: 1 },
  };
}

/**
 * NannyML's `auroc_sampling_error_components`: with the minority class as "positive" (labels
 * and scores flipped when more than half are 1), the standard deviation over positives of
 * (negatives ranked below) / negatives, the Mann-Whitney view of AUC. NumPy's unstable sort
 * orders tied scores arbitrarily; here ties keep input order. As in NannyML, a positive
 * ranked lowest of all is dropped with the zero ranks and later positives keep its offset.
 */
function rocAucSpread(scores: Float64Array, labels: Uint8Array): CbpeSpread {
  const n = scores.length;
  let positives = 0;
  for (let i = 0; i < n; i++) positives += labels[i] as number;
  const flip = positives / n > 0.5;
  const y = (i: number) => (flip ? 1 - (labels[i] as number) : (labels[i] as number));
  const s = (i: number) => (flip ? 1 - (scores[i] as number) : (scores[i] as number));
  const order = Array.from({ length: n }, (_, i) => i);
  order.sort((a, b) => s(a) - s(b) || a - b);
  const ranks: number[] = [];
  for (let r = 1; r < n; r++) if (y(order[r] as number) === 1) ranks.push(r);
  const nPos = flip ? n - positives : positives;
  const nNeg = n - nPos;
  if (ranks.length === 0 || nNeg === 0) return { std: null, fraction: nPos / n };
  let mean = 0;
  for (let k = 0; k < ranks.length; k++) mean += ((ranks[k] as number) - k) / nNeg;
  mean /= ranks.length;
  let sq = 0;
  for (let k = 0; k < ranks.length; k++) {
    const d = ((ranks[k] as number) - k) / nNeg - mean;
    sq += d * d;
  }
  return { std: Math.sqrt(sq / ranks.length), fraction: nPos / n };
}

/**
 * DeLong's structural components of the Mann-Whitney AUC: each positive's share of negatives
 * scored below it, each negative's share of positives scored above it (ties count ½), and
 * their population standard deviations. Var(AUC) ≈ s₊² / n₊ + s₋² / n₋.
 */
function rocAucPlacement(
  scores: Float64Array,
  labels: Uint8Array,
): { positives: CbpeSpread; negatives: CbpeSpread } {
  const n = scores.length;
  const order = Array.from({ length: n }, (_, i) => i);
  order.sort((a, b) => (scores[a] as number) - (scores[b] as number));
  let nPos = 0;
  for (let i = 0; i < n; i++) nPos += labels[i] as number;
  const nNeg = n - nPos;
  const none = {
    positives: { std: null, fraction: nPos / n },
    negatives: { std: null, fraction: nNeg / n },
  };
  if (nPos === 0 || nNeg === 0) return none;
  // Per tie group: negatives below / positives above, then the placement of each member.
  const pos: number[] = [];
  const neg: number[] = [];
  let negBelow = 0;
  let posBelow = 0;
  let i = 0;
  while (i < n) {
    const s = scores[order[i] as number] as number;
    let gp = 0;
    let gn = 0;
    let j = i;
    while (j < n && scores[order[j] as number] === s) {
      if (labels[order[j] as number] === 1) gp++;
      else gn++;
      j++;
    }
    for (let k = 0; k < gp; k++) pos.push((negBelow + 0.5 * gn) / nNeg);
    const posAbove = nPos - posBelow - gp;
    for (let k = 0; k < gn; k++) neg.push((posAbove + 0.5 * gp) / nPos);
    negBelow += gn;
    posBelow += gp;
    i = j;
  }
  return {
    positives: { std: populationStd(pos), fraction: nPos / n },
    negatives: { std: populationStd(neg), fraction: nNeg / n },
  };
}

function populationStd(values: readonly number[]): number {
  let mean = 0;
  for (const v of values) mean += v;
  mean /= values.length;
  let sq = 0;
  for (const v of values) sq += (v - mean) * (v - mean);
  return Math.sqrt(sq / values.length);
}

/**
 * Checks a stored model (from a baseline) before use.
 *
 * @throws InvalidInputError naming what is wrong
 */
export function checkCbpeModel(where: string, model: unknown): CbpeModel {
  const m = model as CbpeModel;
  if (typeof model !== 'object' || model === null || m.kind !== 'cbpe-binary') {
    throw new InvalidInputError(`${where}: expected a cbpe-binary model`);
  }
  if (typeof m.threshold !== 'number' || !Number.isFinite(m.threshold)) {
    throw new InvalidInputError(`${where}: threshold must be a finite number`);
  }
  if (m.calibration !== 'isotonic' && m.calibration !== 'none') {
    throw new InvalidInputError(`${where}: calibration must be isotonic or none`);
  }
  const calibrator = m.calibration === 'isotonic' ? checkIsotonicFit(where, m.calibrator) : null;
  if (checkCount(where, 'referenceRows', m.referenceRows) === 0) {
    throw new InvalidInputError(`${where}: referenceRows must be at least 1`);
  }
  const se = m.samplingError as unknown as Record<string, CbpeSpread> | undefined;
  if (typeof se !== 'object' || se === null) {
    throw new InvalidInputError(`${where}: samplingError is missing`);
  }
  for (const name of CBPE_METRICS) checkSpread(where, `samplingError.${name}`, se[name]);
  const placement = m.rocAucPlacement as CbpeModel['rocAucPlacement'] | undefined;
  if (typeof placement !== 'object' || placement === null) {
    throw new InvalidInputError(`${where}: rocAucPlacement is missing`);
  }
  checkSpread(where, 'rocAucPlacement.positives', placement.positives);
  checkSpread(where, 'rocAucPlacement.negatives', placement.negatives);
  return { ...m, calibrator };
}

function checkSpread(where: string, name: string, c: CbpeSpread | undefined): void {
  if (
    typeof c !== 'object' ||
    c === null ||
    !(c.std === null || (typeof c.std === 'number' && Number.isFinite(c.std) && c.std >= 0)) ||
    !(typeof c.fraction === 'number' && c.fraction >= 0 && c.fraction <= 1)
  ) {
    throw new InvalidInputError(`${where}: ${name} must be {std, fraction}`);
  }
}

/**
 * A window's CBPE state for one fitted model: record raw scores, merge partial states
 * (other instances, other partitions), estimate at close.
 *
 * @throws InvalidInputError on a bad bin count or model
 */
export function createCbpeSketch(
  model: CbpeModel,
  options: CbpeSketchOptions = {},
  snapshot?: CbpeSnapshot,
): CbpeSketch {
  const scoreBins = options.scoreBins ?? 1000;
  if (!Number.isInteger(scoreBins) || scoreBins < 1 || scoreBins > 1_000_000) {
    throw new InvalidInputError(
      `createCbpeSketch: scoreBins must be an integer in [1, 1e6], got ${String(scoreBins)}`,
    );
  }
  const sketch = new CbpeSketchImpl(checkCbpeModel('createCbpeSketch', model), scoreBins);
  if (snapshot !== undefined) sketch.merge(snapshot);
  return sketch;
}

class CbpeSketchImpl implements CbpeSketch {
  readonly kind = 'cbpe' as const;
  private readonly model: CbpeModel;
  private readonly bins: number;
  private readonly predicted: [number, number] = [0, 0];
  private readonly sums: [number, number] = [0, 0];
  private readonly binCounts: Float64Array;
  private readonly binSums: Float64Array;
  private readonly binMin: Float64Array;
  private readonly binMax: Float64Array;

  constructor(model: CbpeModel, bins: number) {
    this.model = model;
    this.bins = bins;
    this.binCounts = new Float64Array(bins);
    this.binSums = new Float64Array(bins);
    this.binMin = new Float64Array(bins);
    this.binMax = new Float64Array(bins);
  }

  /** Calibrated probability of one raw score. */
  probability(score: number): number {
    const fit = this.model.calibrator;
    return fit === null ? score : calibrateIsotonic(fit, score);
  }

  tryRecord(score: unknown): boolean {
    if (typeof score !== 'number' || !Number.isFinite(score)) return false;
    if (this.model.calibrator === null && !(score >= 0 && score <= 1)) return false;
    this.add(score);
    return true;
  }

  record(score: number): void {
    if (typeof score !== 'number' || !Number.isFinite(score)) {
      throw new InvalidInputError(
        `CbpeSketch.record: score must be a finite number, got ${String(score)}`,
      );
    }
    if (this.model.calibrator === null && !(score >= 0 && score <= 1)) {
      throw new InvalidInputError(
        `CbpeSketch.record: without calibration the score must be a probability in [0, 1], got ${score}`,
      );
    }
    this.add(score);
  }

  private add(score: number): void {
    const p = this.probability(score);
    const c = score >= this.model.threshold ? 1 : 0;
    this.predicted[c]++;
    this.sums[c] += p;
    let b = Math.floor(p * this.bins);
    if (b >= this.bins) b = this.bins - 1;
    const k = this.binCounts[b] as number;
    if (k === 0 || p < (this.binMin[b] as number)) this.binMin[b] = p;
    if (k === 0 || p > (this.binMax[b] as number)) this.binMax[b] = p;
    this.binCounts[b] = k + 1;
    this.binSums[b]! += p;
  }

  merge(other: CbpeSketch | CbpeSnapshot): void {
    const s: unknown = other instanceof CbpeSketchImpl ? other.snapshot() : other;
    const where = 'CbpeSketch snapshot';
    const snap = s as CbpeSnapshot;
    if (
      typeof s !== 'object' ||
      s === null ||
      snap.kind !== 'cbpe' ||
      snap.scoreBins !== this.bins ||
      snap.threshold !== this.model.threshold
    ) {
      throw new InvalidInputError(
        `CbpeSketch.merge: expected a cbpe state with ${this.bins} score bins and threshold ${this.model.threshold}`,
      );
    }
    const arrays = [snap.binCounts, snap.binSums, snap.binMin, snap.binMax];
    if (!arrays.every((a) => Array.isArray(a) && a.length === this.bins)) {
      throw new InvalidInputError(`${where}: bin arrays must have ${this.bins} entries`);
    }
    if (!Array.isArray(snap.predicted) || !Array.isArray(snap.probabilitySums)) {
      throw new InvalidInputError(
        `${where}: predicted and probabilitySums must be [class 0, class 1]`,
      );
    }
    const n0 = checkCount(where, 'predicted', snap.predicted[0], 0);
    const n1 = checkCount(where, 'predicted', snap.predicted[1], 1);
    const s0 = probabilitySum(where, 'probabilitySums[0]', snap.probabilitySums[0], n0);
    const s1 = probabilitySum(where, 'probabilitySums[1]', snap.probabilitySums[1], n1);
    let total = 0;
    const lo = this.bins;
    for (let b = 0; b < lo; b++) {
      const k = checkCount(where, 'binCounts', snap.binCounts[b], b);
      probabilitySum(where, `binSums[${b}]`, snap.binSums[b], k);
      const mn = snap.binMin[b];
      const mx = snap.binMax[b];
      if (typeof mn !== 'number' || typeof mx !== 'number' || !(mn >= 0 && mn <= mx && mx <= 1)) {
        throw new InvalidInputError(
          `${where}: binMin[${b}] / binMax[${b}] must satisfy 0 ≤ min ≤ max ≤ 1`,
        );
      }
      total += k;
    }
    if (total !== n0 + n1) {
      throw new InvalidInputError(`${where}: bin counts disagree with the predicted counts`);
    }
    for (let b = 0; b < lo; b++) {
      const k = snap.binCounts[b] as number;
      if (k === 0) continue;
      const mine = this.binCounts[b] as number;
      const mn = snap.binMin[b] as number;
      const mx = snap.binMax[b] as number;
      if (mine === 0 || mn < (this.binMin[b] as number)) this.binMin[b] = mn;
      if (mine === 0 || mx > (this.binMax[b] as number)) this.binMax[b] = mx;
      this.binCounts[b] = mine + k;
      this.binSums[b]! += snap.binSums[b] as number;
    }
    this.predicted[0] += n0;
    this.predicted[1] += n1;
    this.sums[0] += s0;
    this.sums[1] += s1;
  }

  snapshot(): CbpeSnapshot {
    return {
      kind: 'cbpe',
      scoreBins: this.bins,
      threshold: this.model.threshold,
      predicted: [this.predicted[0], this.predicted[1]],
      probabilitySums: [this.sums[0], this.sums[1]],
      binCounts: toArray(this.binCounts),
      binSums: toArray(this.binSums),
      binMin: toArray(this.binMin),
      binMax: toArray(this.binMax),
    };
  }

  estimate(): CbpeEstimate {
    const [n0, n1] = this.predicted;
    const n = n0 + n1;
    const tp = this.sums[1];
    const fn = this.sums[0];
    const fp = n1 - tp;
    const tn = n0 - fn;
    const values: Record<CbpeMetric, number | null> = {
      roc_auc: null,
      f1: null,
      precision: null,
      recall: null,
      accuracy: null,
      true_positive: null,
      false_positive: null,
      true_negative: null,
      false_negative: null,
    };
    let rocAucErrorBound: number | null = null;
    if (n > 0) {
      // NannyML's estimate_* return 0 for a zero denominator.
      values.accuracy = (tp + tn) / n;
      values.precision = tp + fp === 0 ? 0 : tp / (tp + fp);
      values.recall = tp + fn === 0 ? 0 : tp / (tp + fn);
      const f1Denominator = tp + 0.5 * (fp + fn);
      values.f1 = f1Denominator === 0 ? 0 : tp / f1Denominator;
      values.true_positive = tp;
      values.false_positive = fp;
      values.true_negative = tn;
      values.false_negative = fn;
      const auc = this.rocAuc(n);
      values.roc_auc = auc?.value ?? null;
      rocAucErrorBound = auc?.bound ?? null;
    }
    const metrics = {} as Record<CbpeMetric, CbpeMetricEstimate>;
    for (const name of CBPE_METRICS) {
      metrics[name] = this.band(name, values[name], n);
    }
    return { count: n, metrics, rocAucErrorBound };
  }

  private rocAuc(n: number): { value: number; bound: number } | null {
    let positive = 0;
    for (let b = 0; b < this.bins; b++) positive += this.binSums[b] as number;
    const negative = n - positive;
    if (!(positive > 0 && negative > 0)) return null;
    let wins = 0;
    let unresolved = 0;
    let negativesBelow = 0;
    for (let b = 0; b < this.bins; b++) {
      const k = this.binCounts[b] as number;
      if (k === 0) continue;
      const pos = this.binSums[b] as number;
      const neg = k - pos;
      wins += pos * (negativesBelow + 0.5 * neg);
      negativesBelow += neg;
      unresolved +=
        0.5 * ((k * (k - 1)) / 2) * ((this.binMax[b] as number) - (this.binMin[b] as number));
    }
    const pairs = positive * negative;
    return { value: Math.min(1, Math.max(0, wins / pairs)), bound: unresolved / pairs };
  }

  private band(name: CbpeMetric, value: number | null, n: number): CbpeMetricEstimate {
    const empty = { value, samplingError: null, standardError: null, lower: null, upper: null };
    if (value === null) return empty;
    const sampling = samplingErrorAt(this.model.samplingError[name], name, n);
    if (sampling === null) return empty;
    const nRef = this.model.referenceRows;
    let se: number;
    if (name === 'roc_auc') {
      const { positives, negatives } = this.model.rocAucPlacement;
      if (positives.std === null || negatives.std === null)
        return { ...empty, samplingError: sampling };
      const perRow =
        positives.std ** 2 / positives.fraction + negatives.std ** 2 / negatives.fraction;
      se = Math.sqrt(perRow * (1 / n + 1 / nRef));
    } else {
      // Rates: √(s²/(n·f) + s²/(N·f)); counts (n × a rate): √(s²·n + n²·s²/N). Both are this.
      se = sampling * Math.sqrt(1 + n / nRef);
    }
    // A stored spread with a zero share (tampered) would give ∞: no band rather than a wrong one.
    if (!Number.isFinite(se)) return { ...empty, samplingError: sampling };
    const max = COUNT_METRICS.has(name) ? n : 1;
    const half = CBPE_BAND_STANDARD_ERRORS * se;
    return {
      value,
      samplingError: sampling,
      standardError: se,
      lower: Math.max(0, value - half),
      upper: Math.min(max, value + half),
    };
  }
}

/** NannyML's `*_sampling_error`: std / √(n · fraction), counts std · √n. */
function samplingErrorAt(spread: CbpeSpread, name: CbpeMetric, n: number): number | null {
  if (spread.std === null) return null;
  if (COUNT_METRICS.has(name)) return spread.std * Math.sqrt(n);
  const effective = n * spread.fraction;
  return effective > 0 ? spread.std / Math.sqrt(effective) : null;
}

function probabilitySum(where: string, name: string, v: unknown, count: number): number {
  // A sum of `count` probabilities lies in [0, count]; allow float summation slack.
  if (typeof v !== 'number' || !Number.isFinite(v) || v < 0 || v > count * (1 + 1e-9)) {
    throw new InvalidInputError(
      `${where}: ${name} must be a sum of ${count} probabilities, got ${String(v)}`,
    );
  }
  return v;
}
