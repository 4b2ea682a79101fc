/**
 * The daemon's performance verdict (src/window/performance-verdict.ts): absolute lines, lines
 * relative to the baseline's own performance (direction-aware), and "no verdict, and why".
 */
import { describe, expect, it } from 'vitest';
import { resolveAlerts } from '../../../src/config/alerts.js';
import type { ModelConfig } from '../../../src/config/types.js';
import { judgePerformance } from '../../../src/window/performance-verdict.js';

function model(performance: ModelConfig['alerts']['performance'] | undefined = undefined) {
  const alerts = resolveAlerts('binary-classification', {}, {});
  return { alerts: performance === undefined ? alerts : { ...alerts, performance } };
}

const window = (metrics: Record<string, number>, coverage = 0.5) => ({ metrics, coverage });

describe('judgePerformance', () => {
  it('a model whose AUC equals its baseline AUC is not degraded (the default is relative)', () => {
    // The model: AUC 0.689 would page forever under "AUC < 0.7".
    const [auc] = judgePerformance(window({ roc_auc: 0.689 }), model(), { roc_auc: 0.689 });
    expect(auc).toMatchObject({
      metric: 'roc_auc',
      value: 0.689,
      baseline: 0.689,
      degraded: false,
      reason: null,
    });
    expect(auc!.limit).toBeCloseTo(0.639, 12);
  });

  it('is degraded below baseline - drop, and for error metrics above baseline + drop', () => {
    const verdicts = judgePerformance(window({ roc_auc: 0.62, brier: 0.31 }), model(), {
      roc_auc: 0.81,
      brier: 0.2,
    });
    expect(verdicts.map((v) => [v.metric, v.degraded])).toEqual([
      ['roc_auc', true],
      ['brier', true],
    ]);
    expect(verdicts[1]!.limit).toBeCloseTo(0.25, 12);
    // Better than the baseline is never degraded, in either direction.
    const better = judgePerformance(window({ roc_auc: 0.9, brier: 0.1 }), model(), {
      roc_auc: 0.81,
      brier: 0.2,
    });
    expect(better.map((v) => v.degraded)).toEqual([false, false]);
  });

  it('applies absolute lines without a baseline', () => {
    const m = model({ roc_auc: { below: 0.7 }, log_loss: { above: 0.6 } });
    const v = judgePerformance(window({ roc_auc: 0.69, log_loss: 0.5 }), m, undefined);
    expect(v.map((x) => [x.metric, x.limit, x.degraded])).toEqual([
      ['roc_auc', 0.7, true],
      ['log_loss', 0.6, false],
    ]);
    // At the line is not beyond it.
    expect(judgePerformance(window({ roc_auc: 0.7 }), m, undefined)[0]!.degraded).toBe(false);
  });

  it('gives no verdict for a relative threshold without baseline performance, and says so', () => {
    const [auc] = judgePerformance(window({ roc_auc: 0.5 }), model(), undefined);
    expect(auc!.degraded).toBeNull();
    expect(auc!.limit).toBeNull();
    expect(auc!.reason).toMatch(/relative to the baseline's roc_auc, and the baseline has none/);
    const [other] = judgePerformance(window({ roc_auc: 0.5 }), model(), { brier: 0.2 });
    expect(other!.degraded).toBeNull();
  });

  it('gives no verdict on too few labels, or when the window has no value', () => {
    const few = judgePerformance(window({ roc_auc: 0.1 }, 0.05), model(), { roc_auc: 0.8 });
    expect(few[0]!.degraded).toBeNull();
    expect(few[0]!.reason).toBe(
      'label coverage 0.05 is below alerts.labelCoverage.minForPerformance (0.1)',
    );
    const none = judgePerformance(window({}), model(), { roc_auc: 0.8, brier: 0.2 });
    expect(none.map((v) => [v.value, v.degraded])).toEqual([
      [null, null],
      [null, null],
    ]);
    expect(none[0]!.reason).toMatch(/has no roc_auc/);
  });

  it('judges only the metrics with a threshold', () => {
    const v = judgePerformance(window({ accuracy: 0.1, roc_auc: 0.8 }), model({}), undefined);
    expect(v).toEqual([]);
  });
});
