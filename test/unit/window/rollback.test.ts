/**
 * The rollback verdict of one champion/challenger comparison (src/window/rollback.ts): a drop
 * beyond the configured size and beyond the estimate's noise, direction-aware, only on the
 * metrics the model is judged on, and prediction drift between the versions.
 */
import { describe, expect, it } from 'vitest';
import {
  judgeRollback,
  NOISE_Z,
  type RollbackThresholds,
  rollbackThresholds,
} from '../../../src/window/rollback.js';
import { comparison, paired, predictionDrift } from '../../helpers/comparison.js';

const T: RollbackThresholds = {
  estimatedDrop: 0.05,
  realisedDrop: 0.05,
  predictionDrift: true,
  metrics: ['roc_auc', 'brier'],
};

describe('judgeRollback', () => {
  it('no verdict when nothing can be judged (no paired metric, no prediction verdict)', () => {
    expect(judgeRollback(comparison(), T)).toEqual({ worse: null, reasons: [] });
    const insufficient = comparison({
      prediction: predictionDrift(true, { insufficient: true }),
      estimated: { roc_auc: paired(0.8, null, 0.01) },
      realised: { roc_auc: paired(null, 0.7) },
    });
    expect(judgeRollback(insufficient, T).worse).toBeNull();
  });

  it('an estimated drop beyond the threshold and the noise is worse, with its reason', () => {
    const v = judgeRollback(comparison({ estimated: { roc_auc: paired(0.8, 0.7, 0.02) } }), T);
    expect(v.worse).toBe(true);
    expect(v.reasons).toEqual([
      {
        kind: 'estimated',
        metric: 'roc_auc',
        champion: 0.8,
        challenger: 0.7,
        drop: expect.closeTo(0.1, 12),
        standardError: 0.02,
        threshold: 0.05,
      },
    ]);
  });

  it('a drop inside the noise of the estimate is not worse; the same drop with a small error is', () => {
    // drop 0.08 > 0.05, but 0.08 < 1.645 × 0.06: indistinguishable from no drop.
    const noisy = comparison({ estimated: { roc_auc: paired(0.8, 0.72, 0.06) } });
    expect(judgeRollback(noisy, T)).toEqual({ worse: false, reasons: [] });
    const boundary = 0.08 / NOISE_Z;
    const justBeyond = comparison({ estimated: { roc_auc: paired(0.8, 0.72, boundary * 0.99) } });
    expect(judgeRollback(justBeyond, T).worse).toBe(true);
    const justInside = comparison({ estimated: { roc_auc: paired(0.8, 0.72, boundary * 1.01) } });
    expect(judgeRollback(justInside, T).worse).toBe(false);
  });

  it('a significant drop under the threshold is not worse (real, but too small to matter)', () => {
    const v = judgeRollback(comparison({ estimated: { roc_auc: paired(0.8, 0.77, 0.001) } }), T);
    expect(v).toEqual({ worse: false, reasons: [] });
    // Exactly the threshold is not "more than".
    const at = judgeRollback(comparison({ estimated: { roc_auc: paired(0.5, 0.45) } }), T);
    expect(at.worse).toBe(false);
  });

  it('error metrics are worse when higher; a better challenger is never worse', () => {
    const brierUp = comparison({ estimated: { brier: paired(0.1, 0.2, 0.01) } });
    expect(judgeRollback(brierUp, T).reasons).toMatchObject([
      { metric: 'brier', drop: expect.closeTo(0.1, 12) },
    ]);
    const brierDown = comparison({ estimated: { brier: paired(0.2, 0.1, 0.01) } });
    expect(judgeRollback(brierDown, T).worse).toBe(false);
    const aucUp = comparison({ realised: { roc_auc: paired(0.7, 0.9) } });
    expect(judgeRollback(aucUp, T).worse).toBe(false);
  });

  it('realised performance uses realisedDrop; estimated uses estimatedDrop', () => {
    const c = comparison({
      estimated: { roc_auc: paired(0.8, 0.72, 0.01) },
      realised: { roc_auc: paired(0.8, 0.72) },
    });
    const t = { ...T, estimatedDrop: 0.1, realisedDrop: 0.05 };
    expect(judgeRollback(c, t).reasons).toMatchObject([{ kind: 'realised', threshold: 0.05 }]);
    const u = { ...T, estimatedDrop: 0.05, realisedDrop: 0.1 };
    expect(judgeRollback(c, u).reasons).toMatchObject([{ kind: 'estimated', threshold: 0.05 }]);
  });

  it('only the metrics the model is judged on count', () => {
    const c = comparison({ realised: { accuracy: paired(0.9, 0.5) } });
    expect(judgeRollback(c, T).worse).toBeNull();
    expect(judgeRollback(c, { ...T, metrics: ['accuracy'] }).worse).toBe(true);
  });

  it('worst values: NaN / infinite values give no verdict, a bad error is ignored', () => {
    const c = comparison({
      estimated: {
        roc_auc: paired(Number.NaN, 0.1, 0.01),
        brier: paired(0.1, Number.POSITIVE_INFINITY),
      },
    });
    expect(judgeRollback(c, T).worse).toBeNull();
    for (const se of [Number.NaN, -1, Number.POSITIVE_INFINITY]) {
      const d = comparison({ estimated: { roc_auc: paired(0.8, 0.6, se) } });
      expect(judgeRollback(d, T).worse, String(se)).toBe(true);
    }
  });

  it('prediction drift between the versions is worse unless switched off', () => {
    const c = comparison({ prediction: predictionDrift(true) });
    const v = judgeRollback(c, T);
    expect(v.worse).toBe(true);
    expect(v.reasons).toMatchObject([{ kind: 'prediction_drift', test: 'ks', pValue: 1e-6 }]);
    expect(v.reasons[0]).toHaveProperty('score', expect.any(Number));
    expect(judgeRollback(c, { ...T, predictionDrift: false }).worse).toBeNull();
    expect(judgeRollback(comparison({ prediction: predictionDrift(false) }), T).worse).toBe(false);
  });

  it('every reason is listed', () => {
    const c = comparison({
      prediction: predictionDrift(true),
      estimated: { roc_auc: paired(0.8, 0.6, 0.01) },
      realised: { brier: paired(0.1, 0.3) },
    });
    expect(judgeRollback(c, T).reasons.map((r) => r.kind)).toEqual([
      'estimated',
      'realised',
      'prediction_drift',
    ]);
  });

  it('rollbackThresholds: alerts.rollback plus the metrics of alerts.performance', () => {
    expect(
      rollbackThresholds({
        rollback: { estimatedDrop: 0.1, realisedDrop: 0.2, predictionDrift: false },
        performance: { roc_auc: { below: 0.7 }, accuracy: { dropFromBaseline: 0.1 } },
      }),
    ).toEqual({
      estimatedDrop: 0.1,
      realisedDrop: 0.2,
      predictionDrift: false,
      metrics: ['roc_auc', 'accuracy'],
    });
  });
});
