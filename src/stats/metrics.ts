import { InvalidInputError } from '../errors.js';
import type {
  BinaryLabel,
  BinaryMetrics,
  BinaryMetricsSketch,
  BinaryMetricsSketchOptions,
  BinaryMetricsSnapshot,
  ConfusionCounts,
  RegressionMetrics,
  RegressionMetricsSketch,
  RegressionMetricsSnapshot,
} from './types.js';
import { checkCount, toArray } from './validate.js';

/*
 * Model performance metrics, matching scikit-learn 1.9 on the exact (array) paths:
 * - binary classification with positive label 1; labels must be 0 or 1.
 * - precision, recall and F1 follow sklearn's default `zero_division="warn"`, which returns
 *   0 when the denominator is 0 (no predicted positives, no actual positives): a model that
 *   never fires scores 0, not NaN. F1 is computed as 2·TP / (2·TP + FP + FN), as sklearn does.
 * - log loss clips probabilities to [ε, 1 − ε] with ε = float64 machine epsilon (2^-52),
 *   sklearn ≥ 1.5 behaviour (the old `eps=1e-15` argument is gone).
 * - MAPE divides by max(|y|, ε) with the same ε, so a zero target gives a huge term, not ∞.
 * The streaming sketches are exact for everything but ROC AUC, whose histogram error is
 * bounded and reported.
 */

/** float64 machine epsilon, `np.finfo(np.float64).eps`. */
const FLOAT64_EPS = Number.EPSILON;

/**
 * Confusion counts for binary labels (positive label 1), as
 * `sklearn.metrics.confusion_matrix(y, ŷ, labels=[0, 1]).ravel()` → tn, fp, fn, tp.
 *
 * @throws InvalidInputError on empty or mismatched inputs or labels other than 0/1
 */
export function confusionCounts(
  labels: ArrayLike<number>,
  predictedLabels: ArrayLike<number>,
): ConfusionCounts {
  const n = checkPair('confusionCounts', labels, predictedLabels);
  let tp = 0;
  let fp = 0;
  let tn = 0;
  let fn = 0;
  for (let i = 0; i < n; i++) {
    const y = checkLabel('confusionCounts', 'labels', labels, i);
    const p = checkLabel('confusionCounts', 'predictedLabels', predictedLabels, i);
    if (y === 1) {
      if (p === 1) tp++;
      else fn++;
    } else if (p === 1) fp++;
    else tn++;
  }
  return { tp, fp, tn, fn };
}

/** Share of correct predictions, as `sklearn.metrics.accuracy_score`. */
export function accuracy(labels: ArrayLike<number>, predictedLabels: ArrayLike<number>): number {
  const c = confusionCounts(labels, predictedLabels);
  return (c.tp + c.tn) / (c.tp + c.fp + c.tn + c.fn);
}

/** TP / (TP + FP), 0 with no predicted positive, as `sklearn.metrics.precision_score`. */
export function precision(labels: ArrayLike<number>, predictedLabels: ArrayLike<number>): number {
  return precisionOf(confusionCounts(labels, predictedLabels));
}

/** TP / (TP + FN), 0 with no actual positive, as `sklearn.metrics.recall_score`. */
export function recall(labels: ArrayLike<number>, predictedLabels: ArrayLike<number>): number {
  return recallOf(confusionCounts(labels, predictedLabels));
}

/** 2·TP / (2·TP + FP + FN), 0 when that is 0/0, as `sklearn.metrics.f1_score`. */
export function f1Score(labels: ArrayLike<number>, predictedLabels: ArrayLike<number>): number {
  return f1Of(confusionCounts(labels, predictedLabels));
}

function precisionOf(c: ConfusionCounts): number {
  return c.tp + c.fp === 0 ? 0 : c.tp / (c.tp + c.fp);
}

function recallOf(c: ConfusionCounts): number {
  return c.tp + c.fn === 0 ? 0 : c.tp / (c.tp + c.fn);
}

function f1Of(c: ConfusionCounts): number {
  const denominator = 2 * c.tp + c.fp + c.fn;
  return denominator === 0 ? 0 : (2 * c.tp) / denominator;
}

/**
 * Area under the ROC curve, as `sklearn.metrics.roc_auc_score`: tied scores count as one
 * threshold (the trapezoid over distinct thresholds), i.e. each positive/negative pair with
 * equal scores counts ½ — the Mann-Whitney U / (P·N). O(n log n).
 *
 * @throws InvalidInputError when only one class is present (sklearn raises too), or on bad input
 */
export function rocAuc(labels: ArrayLike<number>, scores: ArrayLike<number>): number {
  const n = checkPair('rocAuc', labels, scores);
  const order = new Array<number>(n);
  let positives = 0;
  for (let i = 0; i < n; i++) {
    positives += checkLabel('rocAuc', 'labels', labels, i);
    checkFiniteAt('rocAuc', 'scores', scores, i);
    order[i] = i;
  }
  const negatives = n - positives;
  if (positives === 0 || negatives === 0) {
    throw new InvalidInputError(
      'rocAuc: only one class is present in labels; ROC AUC is undefined without both 0 and 1',
    );
  }
  order.sort((a, b) => (scores[a] as number) - (scores[b] as number));
  // Pairs won by positives, doubled to stay in integers: exact for any realistic n.
  let twiceWins = 0;
  let negativesBelow = 0;
  let i = 0;
  while (i < n) {
    const s = scores[order[i] as number] as number;
    let pos = 0;
    let neg = 0;
    while (i < n && scores[order[i] as number] === s) {
      if (labels[order[i] as number] === 1) pos++;
      else neg++;
      i++;
    }
    twiceWins += pos * (2 * negativesBelow + neg);
    negativesBelow += neg;
  }
  return twiceWins / (2 * positives * negatives);
}

/**
 * Mean binary cross-entropy, as `sklearn.metrics.log_loss(y, p, labels=[0, 1])`: p is the
 * probability of class 1, clipped to [ε, 1 − ε] with ε = 2^-52 (1 − p is clipped likewise).
 *
 * @throws InvalidInputError on probabilities outside [0, 1] (sklearn raises too) or bad input
 */
export function logLoss(labels: ArrayLike<number>, probabilities: ArrayLike<number>): number {
  const n = checkPair('logLoss', labels, probabilities);
  let sum = 0;
  for (let i = 0; i < n; i++) {
    const y = checkLabel('logLoss', 'labels', labels, i);
    sum += logLossTerm(y, checkProbability('logLoss', probabilities, i));
  }
  return sum / n;
}

function logLossTerm(label: number, p: number): number {
  // sklearn builds the [1 − p, p] columns first, then clips both.
  const q = label === 1 ? p : 1 - p;
  return -Math.log(Math.min(Math.max(q, FLOAT64_EPS), 1 - FLOAT64_EPS));
}

/** Mean squared error of the probability of class 1, as `sklearn.metrics.brier_score_loss`. */
export function brierScore(labels: ArrayLike<number>, probabilities: ArrayLike<number>): number {
  const n = checkPair('brierScore', labels, probabilities);
  let sum = 0;
  for (let i = 0; i < n; i++) {
    const d =
      checkLabel('brierScore', 'labels', labels, i) -
      checkProbability('brierScore', probabilities, i);
    sum += d * d;
  }
  return sum / n;
}

/** Mean |y − ŷ|, as `sklearn.metrics.mean_absolute_error`. */
export function meanAbsoluteError(actual: ArrayLike<number>, predicted: ArrayLike<number>): number {
  const n = checkPair('meanAbsoluteError', actual, predicted);
  let sum = 0;
  for (let i = 0; i < n; i++) {
    sum += Math.abs(
      checkFiniteAt('meanAbsoluteError', 'predicted', predicted, i) -
        checkFiniteAt('meanAbsoluteError', 'actual', actual, i),
    );
  }
  return sum / n;
}

/** √(mean (y − ŷ)²), as `sklearn.metrics.root_mean_squared_error`. */
export function rootMeanSquaredError(
  actual: ArrayLike<number>,
  predicted: ArrayLike<number>,
): number {
  const n = checkPair('rootMeanSquaredError', actual, predicted);
  let sum = 0;
  for (let i = 0; i < n; i++) {
    const d =
      checkFiniteAt('rootMeanSquaredError', 'actual', actual, i) -
      checkFiniteAt('rootMeanSquaredError', 'predicted', predicted, i);
    sum += d * d;
  }
  return Math.sqrt(sum / n);
}

/**
 * Mean |y − ŷ| / max(|y|, ε) with ε = 2^-52, as `sklearn.metrics.mean_absolute_percentage_error`
 * (a fraction, not a percentage; a zero target yields a huge but finite term, as in sklearn).
 */
export function meanAbsolutePercentageError(
  actual: ArrayLike<number>,
  predicted: ArrayLike<number>,
): number {
  const n = checkPair('meanAbsolutePercentageError', actual, predicted);
  let sum = 0;
  for (let i = 0; i < n; i++) {
    sum += apeTerm(
      checkFiniteAt('meanAbsolutePercentageError', 'actual', actual, i),
      checkFiniteAt('meanAbsolutePercentageError', 'predicted', predicted, i),
    );
  }
  return sum / n;
}

function apeTerm(y: number, yHat: number): number {
  const a = Math.abs(y);
  return Math.abs(yHat - y) / Math.max(a, FLOAT64_EPS);
}

/**
 * Streaming, mergeable binary-classification metrics for one window. Confusion counts at the
 * threshold, log loss and Brier score are exact. ROC AUC comes from positive / negative score
 * histograms over `scoreBins` equal-width bins of [0, 1]:
 *
 *   AUC_hist = Σ_b pos_b · (neg_<b + ½ · neg_b) / (P · N)
 *
 * Pairs in different bins are ordered exactly as their scores are; only pairs sharing a bin
 * are unresolved, and the histogram counts each as ½ where the exact AUC counts 0, ½ or 1. So
 *
 *   |AUC_hist − AUC_exact| ≤ ½ · Σ_b pos_b · neg_b / (P · N)  (returned as `rocAucErrorBound`),
 *
 * which is 0 when no bin holds both classes, and ≤ ½ · max_b neg_b / N since Σ_b pos_b ≤ P:
 * small whenever the negatives' scores are spread over many bins.
 *
 * @throws InvalidInputError on a bad bin count or threshold
 */
export function createBinaryMetricsSketch(
  options: BinaryMetricsSketchOptions = {},
  snapshot?: BinaryMetricsSnapshot,
): BinaryMetricsSketch {
  const scoreBins = options.scoreBins ?? 1000;
  const threshold = options.threshold ?? 0.5;
  if (!Number.isInteger(scoreBins) || scoreBins < 1 || scoreBins > 1_000_000) {
    throw new InvalidInputError(
      `createBinaryMetricsSketch: scoreBins must be an integer in [1, 1e6], got ${scoreBins}`,
    );
  }
  if (!(threshold >= 0 && threshold <= 1)) {
    throw new InvalidInputError(
      `createBinaryMetricsSketch: threshold must be in [0, 1], got ${String(threshold)}`,
    );
  }
  const sketch = new BinaryMetricsSketchImpl(scoreBins, threshold);
  if (snapshot !== undefined) sketch.merge(snapshot);
  return sketch;
}

class BinaryMetricsSketchImpl implements BinaryMetricsSketch {
  readonly kind = 'binary-metrics' as const;
  private readonly bins: number;
  private readonly threshold: number;
  private readonly pos: Float64Array;
  private readonly neg: Float64Array;
  private tp = 0;
  private fp = 0;
  private tn = 0;
  private fn = 0;
  private logLossSum = 0;
  private brierSum = 0;

  constructor(bins: number, threshold: number) {
    this.bins = bins;
    this.threshold = threshold;
    this.pos = new Float64Array(bins);
    this.neg = new Float64Array(bins);
  }

  record(label: BinaryLabel, score: number): void {
    if (label !== 0 && label !== 1) {
      throw new InvalidInputError(
        `BinaryMetricsSketch.record: label must be 0 or 1, got ${String(label)}`,
      );
    }
    if (typeof score !== 'number' || !(score >= 0 && score <= 1)) {
      throw new InvalidInputError(
        `BinaryMetricsSketch.record: score must be a probability in [0, 1], got ${String(score)}`,
      );
    }
    let b = Math.floor(score * this.bins);
    if (b >= this.bins) b = this.bins - 1;
    const predicted = score >= this.threshold;
    if (label === 1) {
      this.pos[b]!++;
      if (predicted) this.tp++;
      else this.fn++;
    } else {
      this.neg[b]!++;
      if (predicted) this.fp++;
      else this.tn++;
    }
    this.logLossSum += logLossTerm(label, score);
    const d = label - score;
    this.brierSum += d * d;
  }

  merge(other: BinaryMetricsSketch | BinaryMetricsSnapshot): void {
    const s: unknown = other instanceof BinaryMetricsSketchImpl ? other.snapshot() : other;
    if (
      typeof s !== 'object' ||
      s === null ||
      (s as BinaryMetricsSnapshot).kind !== 'binary-metrics' ||
      (s as BinaryMetricsSnapshot).scoreBins !== this.bins ||
      (s as BinaryMetricsSnapshot).threshold !== this.threshold
    ) {
      throw new InvalidInputError(
        `BinaryMetricsSketch.merge: expected a binary-metrics state with ${this.bins} score bins and threshold ${this.threshold}`,
      );
    }
    const where = 'BinaryMetricsSketch snapshot';
    const snap = s as BinaryMetricsSnapshot;
    if (
      !Array.isArray(snap.positiveScores) ||
      !Array.isArray(snap.negativeScores) ||
      snap.positiveScores.length !== this.bins ||
      snap.negativeScores.length !== this.bins
    ) {
      throw new InvalidInputError(`${where}: score histograms must have ${this.bins} bins`);
    }
    const tp = checkCount(where, 'tp', snap.tp);
    const fp = checkCount(where, 'fp', snap.fp);
    const tn = checkCount(where, 'tn', snap.tn);
    const fn = checkCount(where, 'fn', snap.fn);
    let p = 0;
    let n = 0;
    for (let b = 0; b < this.bins; b++) {
      p += checkCount(where, 'positiveScores', snap.positiveScores[b], b);
      n += checkCount(where, 'negativeScores', snap.negativeScores[b], b);
    }
    if (p !== tp + fn || n !== fp + tn) {
      throw new InvalidInputError(`${where}: histograms disagree with the confusion counts`);
    }
    const logLossSum = finiteNonNegative(where, 'logLossSum', snap.logLossSum);
    const brierSum = finiteNonNegative(where, 'brierSum', snap.brierSum);
    for (let b = 0; b < this.bins; b++) {
      this.pos[b]! += snap.positiveScores[b] as number;
      this.neg[b]! += snap.negativeScores[b] as number;
    }
    this.tp += tp;
    this.fp += fp;
    this.tn += tn;
    this.fn += fn;
    this.logLossSum += logLossSum;
    this.brierSum += brierSum;
  }

  snapshot(): BinaryMetricsSnapshot {
    return {
      kind: 'binary-metrics',
      scoreBins: this.bins,
      threshold: this.threshold,
      tp: this.tp,
      fp: this.fp,
      tn: this.tn,
      fn: this.fn,
      positiveScores: toArray(this.pos),
      negativeScores: toArray(this.neg),
      logLossSum: this.logLossSum,
      brierSum: this.brierSum,
    };
  }

  metrics(): BinaryMetrics {
    const c: ConfusionCounts = { tp: this.tp, fp: this.fp, tn: this.tn, fn: this.fn };
    const count = c.tp + c.fp + c.tn + c.fn;
    const positives = c.tp + c.fn;
    const negatives = count - positives;
    if (count === 0) {
      return {
        count,
        positives,
        accuracy: null,
        precision: null,
        recall: null,
        f1: null,
        rocAuc: null,
        rocAucErrorBound: null,
        logLoss: null,
        brier: null,
      };
    }
    let rocAuc: number | null = null;
    let rocAucErrorBound: number | null = null;
    if (positives > 0 && negatives > 0) {
      let twiceWins = 0;
      let twiceTies = 0;
      let negativesBelow = 0;
      for (let b = 0; b < this.bins; b++) {
        const pb = this.pos[b] as number;
        const nb = this.neg[b] as number;
        twiceWins += pb * (2 * negativesBelow + nb);
        twiceTies += pb * nb;
        negativesBelow += nb;
      }
      const pairs = 2 * positives * negatives;
      rocAuc = twiceWins / pairs;
      rocAucErrorBound = twiceTies / (2 * pairs);
    }
    return {
      count,
      positives,
      accuracy: (c.tp + c.tn) / count,
      precision: precisionOf(c),
      recall: recallOf(c),
      f1: f1Of(c),
      rocAuc,
      rocAucErrorBound,
      logLoss: this.logLossSum / count,
      brier: this.brierSum / count,
    };
  }
}

/**
 * Streaming, mergeable regression metrics (MAE, RMSE, MAPE) from running sums; the means are
 * exact up to float summation order.
 */
export function createRegressionMetricsSketch(
  snapshot?: RegressionMetricsSnapshot,
): RegressionMetricsSketch {
  const sketch = new RegressionMetricsSketchImpl();
  if (snapshot !== undefined) sketch.merge(snapshot);
  return sketch;
}

class RegressionMetricsSketchImpl implements RegressionMetricsSketch {
  readonly kind = 'regression-metrics' as const;
  private count = 0;
  private absErrorSum = 0;
  private squaredErrorSum = 0;
  private absPercentageErrorSum = 0;

  record(actual: number, predicted: number): void {
    if (!Number.isFinite(actual) || !Number.isFinite(predicted)) {
      throw new InvalidInputError(
        `RegressionMetricsSketch.record: actual and predicted must be finite, got ${String(actual)} and ${String(predicted)}`,
      );
    }
    const d = predicted - actual;
    this.count++;
    this.absErrorSum += Math.abs(d);
    this.squaredErrorSum += d * d;
    this.absPercentageErrorSum += apeTerm(actual, predicted);
  }

  merge(other: RegressionMetricsSketch | RegressionMetricsSnapshot): void {
    const s: unknown = other instanceof RegressionMetricsSketchImpl ? other.snapshot() : other;
    const where = 'RegressionMetricsSketch snapshot';
    if (
      typeof s !== 'object' ||
      s === null ||
      (s as RegressionMetricsSnapshot).kind !== 'regression-metrics'
    ) {
      throw new InvalidInputError(`${where}: expected a regression-metrics state`);
    }
    const snap = s as RegressionMetricsSnapshot;
    const n = checkCount(where, 'count', snap.count);
    const abs = finiteNonNegative(where, 'absErrorSum', snap.absErrorSum);
    const sq = finiteNonNegative(where, 'squaredErrorSum', snap.squaredErrorSum);
    const ape = finiteNonNegative(where, 'absPercentageErrorSum', snap.absPercentageErrorSum);
    this.count += n;
    this.absErrorSum += abs;
    this.squaredErrorSum += sq;
    this.absPercentageErrorSum += ape;
  }

  snapshot(): RegressionMetricsSnapshot {
    return {
      kind: 'regression-metrics',
      count: this.count,
      absErrorSum: this.absErrorSum,
      squaredErrorSum: this.squaredErrorSum,
      absPercentageErrorSum: this.absPercentageErrorSum,
    };
  }

  metrics(): RegressionMetrics {
    const n = this.count;
    if (n === 0) return { count: 0, mae: null, rmse: null, mape: null };
    return {
      count: n,
      mae: this.absErrorSum / n,
      rmse: Math.sqrt(this.squaredErrorSum / n),
      mape: this.absPercentageErrorSum / n,
    };
  }
}

function checkPair(where: string, a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a === null || typeof a !== 'object' || typeof a.length !== 'number') {
    throw new InvalidInputError(`${where}: the first argument must be an array of numbers`);
  }
  if (b === null || typeof b !== 'object' || typeof b.length !== 'number') {
    throw new InvalidInputError(`${where}: the second argument must be an array of numbers`);
  }
  if (a.length === 0) throw new InvalidInputError(`${where}: no rows`);
  if (a.length !== b.length) {
    throw new InvalidInputError(`${where}: lengths differ (${a.length} vs ${b.length})`);
  }
  return a.length;
}

function checkLabel(where: string, name: string, values: ArrayLike<number>, i: number): 0 | 1 {
  const v = values[i];
  if (v !== 0 && v !== 1) {
    throw new InvalidInputError(
      `${where}: ${name}[${i}] is ${String(v)}; binary labels must be 0 or 1`,
    );
  }
  return v;
}

function checkFiniteAt(where: string, name: string, values: ArrayLike<number>, i: number): number {
  const v = values[i];
  if (typeof v !== 'number' || !Number.isFinite(v)) {
    throw new InvalidInputError(`${where}: ${name}[${i}] is ${String(v)}, not a finite number`);
  }
  return v;
}

function checkProbability(where: string, values: ArrayLike<number>, i: number): number {
  const v = values[i];
  if (typeof v !== 'number' || !(v >= 0 && v <= 1)) {
    throw new InvalidInputError(
      `${where}: probabilities[${i}] is ${String(v)}; probabilities must be in [0, 1]`,
    );
  }
  return v;
}

function finiteNonNegative(where: string, name: string, v: unknown): number {
  if (typeof v !== 'number' || !Number.isFinite(v) || v < 0) {
    throw new InvalidInputError(
      `${where}: ${name} must be a finite non-negative number, got ${String(v)}`,
    );
  }
  return v;
}
