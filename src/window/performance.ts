import type { ModelConfig } from '../config/types.js';
import { InvalidInputError } from '../errors.js';
import {
  accuracy,
  brierScore,
  type CbpeEstimate,
  createBinaryMetricsSketch,
  createRegressionMetricsSketch,
  f1Score,
  logLoss,
  meanAbsoluteError,
  meanAbsolutePercentageError,
  precision,
  recall,
  rocAuc,
  rootMeanSquaredError,
} from '../stats/index.js';
import type { FeatureValue } from '../types.js';

export interface LabeledPrediction {
  prediction: FeatureValue;
  label: number | string;
}

/**
 * Performance metrics of one window from its labelled predictions (exact, from the joined raw
 * rows). A metric that is undefined for the window (e.g. ROC AUC with one class present) is
 * left out rather than reported as NaN.
 */
export function computePerformance(
  model: ModelConfig,
  pairs: readonly LabeledPrediction[],
): Record<string, number> {
  const out: Record<string, number> = {};
  const put = (name: string, f: () => number) => {
    try {
      const v = f();
      if (Number.isFinite(v)) out[name] = v;
    } catch (err) {
      if (!(err instanceof InvalidInputError)) throw err;
    }
  };
  if (pairs.length === 0) return out;

  if (model.task === 'binary-classification') {
    const positive = String(model.label.positive);
    const y: number[] = [];
    const scores: number[] = [];
    const predicted: number[] = [];
    for (const p of pairs) {
      const score = toScore(p.prediction, positive);
      if (score === undefined) continue;
      y.push(String(p.label) === positive ? 1 : 0);
      scores.push(score);
      predicted.push(score >= model.label.threshold ? 1 : 0);
    }
    if (y.length === 0) return out;
    put('accuracy', () => accuracy(y, predicted));
    put('precision', () => precision(y, predicted));
    put('recall', () => recall(y, predicted));
    put('f1', () => f1Score(y, predicted));
    put('roc_auc', () => rocAuc(y, scores));
    if (model.prediction.type === 'numeric') {
      put('log_loss', () => logLoss(y, scores));
      put('brier', () => brierScore(y, scores));
    }
    return out;
  }

  if (model.task === 'regression') {
    const actual: number[] = [];
    const predicted: number[] = [];
    for (const p of pairs) {
      const a = typeof p.label === 'number' ? p.label : Number(p.label);
      if (typeof p.prediction !== 'number' || !Number.isFinite(a)) continue;
      actual.push(a);
      predicted.push(p.prediction);
    }
    if (actual.length === 0) return out;
    put('mae', () => meanAbsoluteError(actual, predicted));
    put('rmse', () => rootMeanSquaredError(actual, predicted));
    put('mape', () => meanAbsolutePercentageError(actual, predicted));
    return out;
  }

  let correct = 0;
  for (const p of pairs) if (String(p.prediction) === String(p.label)) correct++;
  out.accuracy = correct / pairs.length;
  return out;
}

/** The metrics both measured from labels and estimated without them (src/stats/cbpe.ts). */
const ESTIMATED = ['accuracy', 'precision', 'recall', 'f1', 'roc_auc'] as const;

/**
 * A window's label-free estimate as performance keys: `estimated_<metric>` and its band,
 * `estimated_<metric>_lower` / `_upper`.
 */
export function estimateRecord(estimate: CbpeEstimate): Record<string, number> {
  const out: Record<string, number> = {};
  for (const name of ESTIMATED) {
    const e = estimate.metrics[name];
    if (e.value === null) continue;
    out[`estimated_${name}`] = e.value;
    if (e.lower !== null) out[`estimated_${name}_lower`] = e.lower;
    if (e.upper !== null) out[`estimated_${name}_upper`] = e.upper;
  }
  return out;
}

/**
 * The estimator's health once labels arrive: `estimate_gap_<metric>` = realised − estimated,
 * for each metric both measured and estimated. The estimate covers all of the window's
 * predictions, the realised value its labelled ones, so the gap is the estimator's error when
 * coverage is complete (or labels a random subset), and also moves when labelling is selective.
 */
export function estimateGap(
  estimated: Readonly<Record<string, number>>,
  realised: Readonly<Record<string, number>>,
): Record<string, number> {
  const out: Record<string, number> = {};
  for (const name of ESTIMATED) {
    const r = realised[name];
    const e = estimated[`estimated_${name}`];
    if (r === undefined || e === undefined) continue;
    out[`estimate_gap_${name}`] = r - e;
  }
  return out;
}

/**
 * A binary prediction is a probability, or the predicted class itself (score 0 or 1);
 * undefined when it is neither. It predicts the positive class (selects) when score ≥
 * label.threshold, here and in fairness (src/window/fairness.ts).
 */
export function toScore(prediction: FeatureValue, positive: string): number | undefined {
  if (typeof prediction === 'number') {
    return prediction >= 0 && prediction <= 1 ? prediction : undefined;
  }
  if (prediction === null) return undefined;
  return String(prediction) === positive ? 1 : 0;
}

/** Streaming performance over rows too many to hold (baseline import): one pair at a time. */
export interface PerformanceAccumulator {
  record(pair: LabeledPrediction): void;
  /** Pairs taken (a pair `computePerformance` would skip is not counted). */
  readonly count: number;
  /** The metrics, named and left out exactly as `computePerformance` names and leaves them out. */
  metrics(): Record<string, number>;
  /** Largest possible |roc_auc − exact ROC AUC| (the score histogram's); null without an AUC. */
  rocAucErrorBound(): number | null;
}

/**
 * Score bins of the streamed ROC AUC: 2 × 100 000 counts (1.6 MB), so only pairs of scores
 * closer than 1e-5 are unresolved (see createBinaryMetricsSketch for the bound).
 */
export const ACCUMULATOR_SCORE_BINS = 100_000;

/**
 * The metrics of `computePerformance` in bounded memory: the same pair mapping (score, positive
 * class, threshold) feeding the streaming sketches of src/stats/metrics.ts. Every metric is
 * exact but ROC AUC, which comes from a score histogram within `rocAucErrorBound()`.
 */
export function createPerformanceAccumulator(model: ModelConfig): PerformanceAccumulator {
  if (model.task === 'binary-classification') {
    const positive = String(model.label.positive);
    const sketch = createBinaryMetricsSketch({
      scoreBins: ACCUMULATOR_SCORE_BINS,
      threshold: model.label.threshold,
    });
    let count = 0;
    return {
      record(p) {
        const score = toScore(p.prediction, positive);
        if (score === undefined) return;
        sketch.record(String(p.label) === positive ? 1 : 0, score);
        count++;
      },
      get count() {
        return count;
      },
      metrics() {
        const m = sketch.metrics();
        const out: Record<string, number> = {};
        const put = (name: string, v: number | null) => {
          if (v !== null && Number.isFinite(v)) out[name] = v;
        };
        put('accuracy', m.accuracy);
        put('precision', m.precision);
        put('recall', m.recall);
        put('f1', m.f1);
        put('roc_auc', m.rocAuc);
        if (model.prediction.type === 'numeric') {
          put('log_loss', m.logLoss);
          put('brier', m.brier);
        }
        return out;
      },
      rocAucErrorBound: () => sketch.metrics().rocAucErrorBound,
    };
  }
  if (model.task === 'regression') {
    const sketch = createRegressionMetricsSketch();
    return {
      record(p) {
        const a = typeof p.label === 'number' ? p.label : Number(p.label);
        if (typeof p.prediction !== 'number' || !Number.isFinite(a)) return;
        if (!Number.isFinite(p.prediction)) return;
        sketch.record(a, p.prediction);
      },
      get count() {
        return sketch.metrics().count;
      },
      metrics() {
        const m = sketch.metrics();
        const out: Record<string, number> = {};
        if (m.mae !== null && Number.isFinite(m.mae)) out.mae = m.mae;
        if (m.rmse !== null && Number.isFinite(m.rmse)) out.rmse = m.rmse;
        if (m.mape !== null && Number.isFinite(m.mape)) out.mape = m.mape;
        return out;
      },
      rocAucErrorBound: () => null,
    };
  }
  let count = 0;
  let correct = 0;
  return {
    record(p) {
      count++;
      if (String(p.prediction) === String(p.label)) correct++;
    },
    get count() {
      return count;
    },
    metrics: (): Record<string, number> => (count === 0 ? {} : { accuracy: correct / count }),
    rocAucErrorBound: () => null,
  };
}
