import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { InvalidInputError } from '../../../src/errors.js';
import {
  accuracy,
  brierScore,
  confusionCounts,
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
} from '../../../src/stats/metrics.js';
import type { BinaryLabel } from '../../../src/stats/types.js';

interface ClassificationCase {
  name: string;
  labels: BinaryLabel[];
  scores: number[];
  predicted: number[];
  accuracy: number;
  precision: number;
  recall: number;
  f1: number;
  rocAuc: number | null;
  logLoss: number;
  brier: number;
  confusion: { tp: number; fp: number; tn: number; fn: number };
}

interface RegressionCase {
  name: string;
  actual: number[];
  predicted: number[];
  mae: number;
  rmse: number;
  mape: number;
}

const fixture = JSON.parse(
  readFileSync(new URL('../../fixtures/stats-sketch-metrics.json', import.meta.url), 'utf8'),
) as {
  metrics: {
    classification: ClassificationCase[];
    regression: RegressionCase[];
    streaming: ClassificationCase;
  };
};

function expectClose(actual: number | null, expected: number): void {
  expect(actual).not.toBeNull();
  expect(Math.abs((actual as number) - expected)).toBeLessThanOrEqual(
    1e-9 * Math.max(Math.abs(expected), 1e-300),
  );
}

describe('classification metrics vs scikit-learn 1.9', () => {
  describe.each(fixture.metrics.classification)('$name', (c) => {
    it('confusion counts, accuracy, precision, recall, F1 (zero_division → 0)', () => {
      expect(confusionCounts(c.labels, c.predicted)).toEqual(c.confusion);
      expectClose(accuracy(c.labels, c.predicted), c.accuracy);
      expectClose(precision(c.labels, c.predicted), c.precision);
      expectClose(recall(c.labels, c.predicted), c.recall);
      expectClose(f1Score(c.labels, c.predicted), c.f1);
    });

    it('ROC AUC (ties as sklearn), log loss (clipped to float eps), Brier', () => {
      if (c.rocAuc === null) {
        expect(() => rocAuc(c.labels, c.scores)).toThrow(/only one class/);
      } else {
        expectClose(rocAuc(c.labels, c.scores), c.rocAuc);
      }
      expectClose(logLoss(c.labels, c.scores), c.logLoss);
      expectClose(brierScore(c.labels, c.scores), c.brier);
    });

    it('the streaming sketch agrees exactly on everything but AUC, and AUC within its bound', () => {
      const sketch = createBinaryMetricsSketch();
      c.labels.forEach((y, i) => {
        sketch.record(y, c.scores[i]!);
      });
      const m = sketch.metrics();
      expect(m.count).toBe(c.labels.length);
      expect(m.positives).toBe(c.confusion.tp + c.confusion.fn);
      expectClose(m.accuracy, c.accuracy);
      expectClose(m.precision, c.precision);
      expectClose(m.recall, c.recall);
      expectClose(m.f1, c.f1);
      expectClose(m.logLoss, c.logLoss);
      expectClose(m.brier, c.brier);
      if (c.rocAuc === null) {
        expect(m.rocAuc).toBeNull();
        expect(m.rocAucErrorBound).toBeNull();
      } else {
        expect(Math.abs(m.rocAuc! - c.rocAuc)).toBeLessThanOrEqual(m.rocAucErrorBound! + 1e-12);
      }
    });
  });
});

describe('regression metrics vs scikit-learn 1.9', () => {
  it.each(fixture.metrics.regression)('$name', (c) => {
    expectClose(meanAbsoluteError(c.actual, c.predicted), c.mae);
    expectClose(rootMeanSquaredError(c.actual, c.predicted), c.rmse);
    expectClose(meanAbsolutePercentageError(c.actual, c.predicted), c.mape);
    const sketch = createRegressionMetricsSketch();
    c.actual.forEach((y, i) => {
      sketch.record(y, c.predicted[i]!);
    });
    const m = sketch.metrics();
    expect(m.count).toBe(c.actual.length);
    expectClose(m.mae, c.mae);
    expectClose(m.rmse, c.rmse);
    expectClose(m.mape, c.mape);
  });

  it('MAPE divides a zero target by float64 eps, like sklearn (huge, finite)', () => {
    expect(meanAbsolutePercentageError([0], [1])).toBe(1 / Number.EPSILON);
  });
});

describe('createBinaryMetricsSketch', () => {
  const s = fixture.metrics.streaming;

  function sketchOf(from: number, to: number, scoreBins = 1000) {
    const sketch = createBinaryMetricsSketch({ scoreBins });
    for (let i = from; i < to; i++) sketch.record(s.labels[i]!, s.scores[i]!);
    return sketch;
  }

  it('streaming AUC is within its stated histogram bound of sklearn, and the bound is small', () => {
    for (const bins of [10, 100, 1000, 10_000]) {
      const m = sketchOf(0, s.labels.length, bins).metrics();
      const error = Math.abs(m.rocAuc! - s.rocAuc!);
      expect(error).toBeLessThanOrEqual(m.rocAucErrorBound! + 1e-12);
      if (bins === 1000) expect(m.rocAucErrorBound!).toBeLessThan(2e-3);
    }
  });

  it('AUC is exact when no bin holds both classes', () => {
    const sketch = createBinaryMetricsSketch({ scoreBins: 10 });
    [0.05, 0.15, 0.25].forEach((p) => {
      sketch.record(0, p);
    });
    [0.55, 0.95, 1].forEach((p) => {
      sketch.record(1, p);
    });
    sketch.record(0, 0.65);
    const m = sketch.metrics();
    expect(m.rocAucErrorBound).toBe(0);
    expect(m.rocAuc).toBe(rocAuc([0, 0, 0, 1, 1, 1, 0], [0.05, 0.15, 0.25, 0.55, 0.95, 1, 0.65]));
  });

  it('merging the sketches of two parts gives the sketch of the whole', () => {
    const n = s.labels.length;
    const whole = sketchOf(0, n);
    const a = sketchOf(0, 2500);
    a.merge(sketchOf(2500, n));
    const restored = createBinaryMetricsSketch({}, JSON.parse(JSON.stringify(a.snapshot())));
    const { logLossSum: wholeLogLoss, brierSum: wholeBrier, ...wholeCounts } = whole.snapshot();
    for (const merged of [a, restored]) {
      const { logLossSum, brierSum, ...counts } = merged.snapshot();
      expect(counts).toEqual(wholeCounts);
      expect(Math.abs(logLossSum - wholeLogLoss)).toBeLessThanOrEqual(1e-12 * wholeLogLoss);
      expect(Math.abs(brierSum - wholeBrier)).toBeLessThanOrEqual(1e-12 * wholeBrier);
      expect(merged.metrics().rocAuc).toBe(whole.metrics().rocAuc);
    }
  });

  it('returns nulls, never NaN, for an empty window', () => {
    expect(createBinaryMetricsSketch().metrics()).toEqual({
      count: 0,
      positives: 0,
      accuracy: null,
      precision: null,
      recall: null,
      f1: null,
      rocAuc: null,
      rocAucErrorBound: null,
      logLoss: null,
      brier: null,
    });
    expect(createRegressionMetricsSketch().metrics()).toEqual({
      count: 0,
      mae: null,
      rmse: null,
      mape: null,
    });
  });

  it('uses score ≥ threshold as a positive prediction', () => {
    const sketch = createBinaryMetricsSketch({ threshold: 0.7 });
    sketch.record(1, 0.7);
    sketch.record(0, 0.69999);
    expect(sketch.snapshot()).toMatchObject({ tp: 1, fp: 0, tn: 1, fn: 0 });
  });

  it('rejects bad records, options and mismatched states', () => {
    const sketch = createBinaryMetricsSketch();
    expect(() => sketch.record(2 as BinaryLabel, 0.5)).toThrow(/label must be 0 or 1/);
    expect(() => sketch.record(1, 1.5)).toThrow(/score must be a probability/);
    expect(() => sketch.record(1, Number.NaN)).toThrow(InvalidInputError);
    expect(() => createBinaryMetricsSketch({ scoreBins: 0 })).toThrow(/scoreBins/);
    expect(() => createBinaryMetricsSketch({ threshold: 2 })).toThrow(/threshold/);
    expect(() => sketch.merge(createBinaryMetricsSketch({ scoreBins: 10 }))).toThrow(/10|1000/);
    const bad = { ...createBinaryMetricsSketch().snapshot(), tp: 3 };
    expect(() => createBinaryMetricsSketch({}, bad)).toThrow(/disagree/);
    const regression = createRegressionMetricsSketch();
    expect(() => regression.record(Number.NaN, 1)).toThrow(InvalidInputError);
    expect(() =>
      createRegressionMetricsSketch({
        kind: 'regression-metrics',
        count: -1,
        absErrorSum: 0,
        squaredErrorSum: 0,
        absPercentageErrorSum: 0,
      }),
    ).toThrow(/count/);
  });
});

describe('input validation', () => {
  it.each([
    ['empty arrays', () => accuracy([], []), /no rows/],
    ['mismatched lengths', () => precision([1, 0], [1]), /lengths differ/],
    ['a label that is not 0/1', () => recall([1, 2], [1, 0]), /labels\[1\] is 2/],
    ['a predicted label that is not 0/1', () => f1Score([1, 0], [1, 0.5]), /predictedLabels\[1\]/],
    ['a NaN score', () => rocAuc([1, 0], [Number.NaN, 0.2]), /scores\[0\]/],
    ['a probability above 1', () => logLoss([1, 0], [1.2, 0.1]), /probabilities\[0\]/],
    ['a negative probability', () => brierScore([1, 0], [0.2, -0.1]), /probabilities\[1\]/],
    [
      'a non-finite target',
      () => meanAbsoluteError([1, Number.POSITIVE_INFINITY], [1, 2]),
      /actual\[1\]/,
    ],
    [
      'a non-finite prediction',
      () => rootMeanSquaredError([1, 2], [1, Number.NaN]),
      /predicted\[1\]/,
    ],
    ['one class only', () => rocAuc([1, 1], [0.2, 0.3]), /only one class/],
  ])('rejects %s', (_name, fn, message) => {
    expect(fn).toThrow(InvalidInputError);
    expect(fn).toThrow(message);
  });
});
