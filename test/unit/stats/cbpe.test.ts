import { describe, expect, it } from 'vitest';
import { InvalidInputError } from '../../../src/errors.js';
import {
  CBPE_METRICS,
  calibrateIsotonic,
  checkCbpeModel,
  createCbpeSketch,
  fitCbpe,
  fitIsotonic,
  needsCalibration,
} from '../../../src/stats/index.js';
import { mulberry32 } from '../../helpers/random.js';

/** NannyML's estimate_roc_auc, unbinned: rows by decreasing score, trapezoid of (Σ(1−p), Σp). */
function exactEstimatedAuc(scores: number[], p: number[]): number {
  const order = scores
    .map((_, i) => i)
    .sort((a, b) => (scores[b] as number) - (scores[a] as number));
  let tp = 0;
  let fp = 0;
  let area = 0;
  for (const i of order) {
    const pi = p[i] as number;
    area += (1 - pi) * (tp + pi / 2);
    tp += pi;
    fp += 1 - pi;
  }
  return area / (tp * fp);
}

function sample(n: number, seed: number): { scores: number[]; labels: number[] } {
  const random = mulberry32(seed);
  const scores: number[] = [];
  const labels: number[] = [];
  for (let i = 0; i < n; i++) {
    const s = random();
    scores.push(s);
    // Calibrated by construction: P(label = 1 | s) = s.
    labels.push(random() < s ? 1 : 0);
  }
  return { scores, labels };
}

describe('fitIsotonic', () => {
  it('pools adjacent violators and keeps block ends, as scikit-learn', () => {
    // sklearn: IsotonicRegression().fit([1,2,3,4,5,6],[0,1,0,0,1,1]) → X_thresholds_ [1,2,4,5,6],
    // y_thresholds_ [0, 1/3, 1/3, 1, 1]
    const fit = fitIsotonic([1, 2, 3, 4, 5, 6], [0, 1, 0, 0, 1, 1]);
    expect(fit.x).toEqual([1, 2, 4, 5, 6]);
    expect(fit.y).toEqual([0, 1 / 3, 1 / 3, 1, 1]);
    expect(calibrateIsotonic(fit, 0)).toBe(0);
    expect(calibrateIsotonic(fit, 3)).toBeCloseTo(1 / 3, 15);
    expect(calibrateIsotonic(fit, 4.5)).toBeCloseTo(2 / 3, 15);
    expect(calibrateIsotonic(fit, 99)).toBe(1);
  });

  it('averages the labels of tied scores', () => {
    const fit = fitIsotonic([0.2, 0.2, 0.2, 0.9], [1, 0, 0, 1]);
    expect(fit.x).toEqual([0.2, 0.9]);
    expect(fit.y).toEqual([1 / 3, 1]);
  });

  it('rejects what it cannot fit, naming it', () => {
    expect(() => fitIsotonic([], [])).toThrow(InvalidInputError);
    expect(() => fitIsotonic([0.1], [2])).toThrow(/labels\[0\]/);
    expect(() => fitIsotonic([Number.NaN], [1])).toThrow(/scores\[0\]/);
    expect(() => fitIsotonic([0.1, 0.2], [1])).toThrow(/lengths differ/);
  });
});

describe('needsCalibration', () => {
  it('says no for calibrated scores and yes for distorted ones', () => {
    const { scores, labels } = sample(5000, 1);
    expect(needsCalibration(scores, labels)).toBe(false);
    // The same model, its scores squashed towards 0.5: still a perfect ranking, badly calibrated.
    const squashed = scores.map((s) => 0.4 + 0.2 * s);
    expect(needsCalibration(squashed, labels)).toBe(true);
  });

  it('says no for one class (nothing to calibrate against)', () => {
    expect(needsCalibration([0.1, 0.5, 0.9], [1, 1, 1])).toBe(false);
  });
});

describe('createCbpeSketch', () => {
  const { scores, labels } = sample(4000, 2);
  const model = fitCbpe(scores, labels, { calibration: 'none' });

  it('gives the expected confusion counts as sums of probabilities', () => {
    const sketch = createCbpeSketch(model);
    const window = [0.1, 0.4, 0.6, 0.9];
    for (const s of window) sketch.record(s);
    const m = sketch.estimate().metrics;
    expect(m.true_positive.value).toBeCloseTo(1.5, 12);
    expect(m.false_positive.value).toBeCloseTo(0.5, 12);
    expect(m.false_negative.value).toBeCloseTo(0.5, 12);
    expect(m.true_negative.value).toBeCloseTo(1.5, 12);
    expect(m.accuracy.value).toBeCloseTo(0.75, 12);
    expect(m.precision.value).toBeCloseTo(0.75, 12);
    expect(m.recall.value).toBeCloseTo(0.75, 12);
    expect(m.f1.value).toBeCloseTo(0.75, 12);
  });

  it('keeps ROC AUC within its reported bound of the unbinned estimate, for coarse and fine bins', () => {
    const window = sample(3000, 3);
    for (const bins of [10, 100, 1000]) {
      const sketch = createCbpeSketch(model, { scoreBins: bins });
      for (const s of window.scores) sketch.record(s);
      const est = sketch.estimate();
      const exact = exactEstimatedAuc(window.scores, window.scores);
      const bound = est.rocAucErrorBound as number;
      expect(Math.abs((est.metrics.roc_auc.value as number) - exact)).toBeLessThanOrEqual(
        bound + 1e-12,
      );
      expect(bound).toBeLessThanOrEqual(0.25 / bins + 1e-12);
    }
  });

  it('merges partial states exactly, through JSON, in any order', () => {
    const window = sample(999, 4).scores;
    const whole = createCbpeSketch(model);
    const parts = [createCbpeSketch(model), createCbpeSketch(model), createCbpeSketch(model)];
    window.forEach((s, i) => {
      whole.record(s);
      parts[i % 3]!.record(s);
    });
    const merged = createCbpeSketch(model, {}, JSON.parse(JSON.stringify(parts[2]!.snapshot())));
    merged.merge(parts[0]!);
    merged.merge(JSON.parse(JSON.stringify(parts[1]!.snapshot())));
    expect(merged.snapshot().binCounts).toEqual(whole.snapshot().binCounts);
    expect(merged.snapshot().predicted).toEqual(whole.snapshot().predicted);
    for (const name of CBPE_METRICS) {
      expect(merged.estimate().metrics[name].value).toBeCloseTo(
        whole.estimate().metrics[name].value as number,
        10,
      );
    }
  });

  it('an empty window estimates nothing, with nulls rather than NaN', () => {
    const est = createCbpeSketch(model).estimate();
    expect(est.count).toBe(0);
    for (const name of CBPE_METRICS) expect(est.metrics[name].value).toBeNull();
  });

  it('bands lie in the metric range and widen for smaller windows', () => {
    const small = createCbpeSketch(model);
    const large = createCbpeSketch(model);
    for (const s of sample(50, 5).scores) small.record(s);
    for (const s of sample(5000, 6).scores) large.record(s);
    for (const name of ['accuracy', 'roc_auc', 'f1'] as const) {
      const a = small.estimate().metrics[name];
      const b = large.estimate().metrics[name];
      expect(a.lower as number).toBeGreaterThanOrEqual(0);
      expect(a.upper as number).toBeLessThanOrEqual(1);
      expect(a.standardError as number).toBeGreaterThan(b.standardError as number);
    }
  });

  it('rejects bad scores and hostile snapshots, naming what is wrong', () => {
    const sketch = createCbpeSketch(model);
    expect(() => sketch.record(Number.NaN)).toThrow(InvalidInputError);
    expect(() => sketch.record(1.5)).toThrow(/probability/);
    const good = createCbpeSketch(model);
    good.record(0.3);
    const snap = good.snapshot();
    const bad = (patch: object) => () => sketch.merge({ ...snap, ...patch } as typeof snap);
    expect(bad({ scoreBins: 10 })).toThrow(InvalidInputError);
    expect(bad({ threshold: 0.7 })).toThrow(/threshold/);
    expect(bad({ predicted: [-1, 0] })).toThrow(/predicted/);
    expect(bad({ probabilitySums: [5, 0] })).toThrow(/probabilitySums/);
    expect(bad({ binCounts: snap.binCounts.slice(1) })).toThrow(/bin arrays/);
    expect(bad({ predicted: [5, 0] })).toThrow(/disagree/);
    expect(bad({ binCounts: snap.binCounts.map(() => 0) })).toThrow(/binSums/);
    expect(bad({ binMax: snap.binMax.map(() => 2) })).toThrow(/binMin/);
    // Nothing was merged by the failed attempts.
    expect(sketch.estimate().count).toBe(0);
    expect(() => createCbpeSketch(model, { scoreBins: 0 })).toThrow(/scoreBins/);
  });
});

describe('fitCbpe', () => {
  it('calibrates miscalibrated scores, and its estimate then tracks the truth', () => {
    const { scores, labels } = sample(20_000, 7);
    const squashed = scores.map((s) => 0.4 + 0.2 * s);
    const model = fitCbpe(squashed, labels);
    expect(model.calibration).toBe('isotonic');
    const window = sample(20_000, 8);
    const sketch = createCbpeSketch(model);
    for (const s of window.scores) sketch.record(0.4 + 0.2 * s);
    // True accuracy of "squashed ≥ 0.5" = "s ≥ 0.5" with P(y=1|s) = s: 0.75.
    const acc = sketch.estimate().metrics.accuracy;
    expect(Math.abs((acc.value as number) - 0.75)).toBeLessThan(0.01);
  });

  it('needs probabilities when it does not calibrate, and names the bad key', () => {
    expect(() => fitCbpe([2, 3], [0, 1], { calibration: 'none' })).toThrow(/scores\[0\]/);
    expect(() => fitCbpe([0.2], [0], { threshold: Number.NaN })).toThrow(/threshold/);
    expect(() => fitCbpe([0.2], [0], { calibration: 'platt' as 'none' })).toThrow(/calibration/);
    expect(() => fitCbpe([], [])).toThrow(/no reference rows/);
  });

  it('survives a JSON round trip and refuses a tampered model', () => {
    const { scores, labels } = sample(2000, 9);
    const model = JSON.parse(JSON.stringify(fitCbpe(scores, labels, { calibration: 'isotonic' })));
    expect(checkCbpeModel('m', model)).toEqual(model);
    expect(() =>
      checkCbpeModel('m', { ...model, calibrator: { x: [0.5, 0.1], y: [0, 1] } }),
    ).toThrow(/ascending/);
    expect(() =>
      checkCbpeModel('m', { ...model, samplingError: { ...model.samplingError, f1: { std: -1 } } }),
    ).toThrow(/samplingError.f1/);
    expect(() => checkCbpeModel('m', { ...model, kind: 'other' })).toThrow(/cbpe-binary/);
    expect(() => checkCbpeModel('m', { ...model, referenceRows: 0 })).toThrow(/referenceRows/);
    // A zero share with a spread would make an infinite band: no band, never ∞ or NaN.
    const zeroShare = {
      ...model,
      rocAucPlacement: { ...model.rocAucPlacement, negatives: { std: 0.2, fraction: 0 } },
    };
    const sketch = createCbpeSketch(zeroShare);
    for (const s of sample(100, 10).scores) sketch.record(s);
    const auc = sketch.estimate().metrics.roc_auc;
    expect(auc.value).not.toBeNull();
    expect(auc.standardError).toBeNull();
    expect(auc.lower).toBeNull();
  });
});
