import { describe, expect, it } from 'vitest';
import { createCbpeCollector, estimatesPerformance } from '../../../src/baseline/cbpe.js';
import { testModel } from '../../helpers/model.js';
import { mulberry32 } from '../../helpers/random.js';

/** The estimator's fit at baseline import: what it keeps, what it skips, and why. */

const model = testModel();

function feed(max: number, n: number, seed: number) {
  const c = createCbpeCollector(model, max);
  const random = mulberry32(seed);
  for (let i = 0; i < n; i++) {
    const u = random();
    c.add(String(0.3 + 0.4 * u), random() < u ? '1' : '0');
  }
  return c.finish();
}

describe('createCbpeCollector', () => {
  it('keeps a seeded reservoir beyond its size: the same rows give the same estimator', () => {
    const a = feed(500, 5000, 1);
    const b = feed(500, 5000, 1);
    expect(a.report).toEqual({ rows: 5000, calibration: 'isotonic', skipped: null });
    expect(a.model?.referenceRows).toBe(500);
    expect(a.model).toEqual(b.model);
    // A reservoir, not the first rows: another order of the same rows keeps other ones.
    expect(feed(500, 5000, 2).model).not.toEqual(a.model);
  });

  it('reads CSV text and JSON numbers alike, the positive class by its text', () => {
    const c = createCbpeSketchInputs();
    expect(c.finish().report.rows).toBe(40);
  });

  it('skips rows without a label or a finite score, and says why there is no estimator', () => {
    const none = createCbpeCollector(model);
    none.add(0.4, undefined);
    none.add(0.4, '');
    expect(none.finish()).toEqual({
      model: null,
      report: { rows: 0, calibration: null, skipped: 'label-absent' },
    });
    const few = createCbpeCollector(model);
    for (let i = 0; i < 10; i++) few.add(0.1 * i, i % 2);
    few.add('not a number', 1);
    few.add(Number.NaN, 1);
    expect(few.finish().report).toEqual({ rows: 10, calibration: null, skipped: 'too-few-rows' });
    const one = createCbpeCollector(model);
    for (let i = 0; i < 50; i++) one.add(i / 50, 1);
    expect(one.finish().report.skipped).toBe('one-class');
    // A perfect ranking needs no calibration, and these scores are no probabilities.
    const logits = createCbpeCollector(model);
    for (let i = 0; i < 50; i++) logits.add(i - 25, i < 25 ? 0 : 1);
    expect(logits.finish().report.skipped).toBe('not-probabilities');
  });

  it('applies to binary classifiers with a numeric score only', () => {
    expect(estimatesPerformance(model)).toBe(true);
    expect(estimatesPerformance(testModel({ task: 'regression' }))).toBe(false);
    expect(
      estimatesPerformance(testModel({ prediction: { field: 'prediction', type: 'categorical' } })),
    ).toBe(false);
  });
});

function createCbpeSketchInputs() {
  const c = createCbpeCollector(
    testModel({ label: { field: 'label', positive: 'yes', threshold: 0.5 } }),
  );
  for (let i = 0; i < 20; i++) {
    c.add(i / 20, i % 3 === 0 ? 'yes' : 'no');
    c.add(String(i / 20), i % 2 === 0 ? 'yes' : 'no');
  }
  return c;
}
