import { describe, expect, it } from 'vitest';
import { kolmogorovSurvival } from '../../../src/stats/special.js';
import type { FeatureDrift } from '../../../src/types.js';
import { flagStraddles, noteKsBound } from '../../../src/window/bounds.js';

function drift(over: Partial<FeatureDrift>): FeatureDrift {
  return {
    feature: 'x',
    type: 'numeric',
    test: 'ks',
    statistic: 0.05,
    pValue: null,
    adjustedPValue: null,
    threshold: 0.05,
    drifted: false,
    psi: 0,
    ksStatistic: null,
    ksBound: null,
    statisticBound: null,
    boundStraddlesThreshold: false,
    count: 1000,
    missingRatio: 0,
    outOfRangeRatio: 0,
    unseenRatio: 0,
    otherRatio: 0,
    insufficient: false,
    ...over,
  };
}

describe('flagStraddles', () => {
  it('KS: a verdict that is not drifted is uncertain when the p-value at statistic + bound passes', () => {
    // n = m = 1000: √(nm/(n+m)) = √500. D = 0.05 → p ≈ 0.16; D + 0.02 → p ≈ 0.015.
    const p = kolmogorovSurvival(Math.sqrt(500) * 0.05);
    const d = drift({ pValue: p, adjustedPValue: p, statisticBound: 0.02 });
    noteKsBound(d, 1000, 1000);
    flagStraddles([d]);
    expect(d.boundStraddlesThreshold).toBe(true);
    // A tight bound keeps the verdict: p at D + 0.001 is still far above 0.05.
    const t = drift({ pValue: p, adjustedPValue: p, statisticBound: 0.001 });
    noteKsBound(t, 1000, 1000);
    flagStraddles([t]);
    expect(t.boundStraddlesThreshold).toBe(false);
    // Drifted stays drifted: the exact statistic is only larger than the binned one.
    const y = drift({ pValue: 0.001, adjustedPValue: 0.001, drifted: true, statisticBound: 0.5 });
    noteKsBound(y, 1000, 1000);
    flagStraddles([y]);
    expect(y.boundStraddlesThreshold).toBe(false);
  });

  it('distances: uncertain when the threshold lies within statistic ± bound; never without a verdict', () => {
    const w = (statistic: number, bound: number | null, insufficient = false) =>
      drift({
        test: 'wasserstein',
        statistic,
        statisticBound: bound,
        threshold: 0.1,
        insufficient,
      });
    const cases = [
      w(0.095, 0.01),
      w(0.105, 0.01),
      w(0.08, 0.01),
      w(0.095, null),
      w(0.095, 0.01, true),
    ];
    flagStraddles(cases);
    expect(cases.map((c) => c.boundStraddlesThreshold)).toEqual([true, true, false, false, false]);
  });
});
