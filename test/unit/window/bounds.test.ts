import { describe, expect, it } from 'vitest';
import { kolmogorovSurvival } from '../../../src/stats/special.js';
import type { FeatureDrift } from '../../../src/types.js';
import { flagStraddles, noteBound } from '../../../src/window/bounds.js';

function drift(over: Partial<FeatureDrift>): FeatureDrift {
  return {
    feature: 'x',
    type: 'numeric',
    test: 'ks',
    statistic: 0.05,
    pValue: null,
    adjustedPValue: null,
    threshold: 0.05,
    verdictRule: 'threshold',
    effect: 0.05,
    effectFloor: null,
    drifted: false,
    psi: 0,
    ksStatistic: null,
    ksBound: null,
    ksPValue: null,
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

/** n = m = 1000: n_eff = 500. */
const ksP = (d: number) => kolmogorovSurvival(Math.sqrt(500) * d);
const ksNote = (d: FeatureDrift) =>
  noteBound(d, {
    low: d.statistic,
    high: Math.min(1, d.statistic + (d.statisticBound ?? 0)),
    pValueAt: ksP,
  });

describe('flagStraddles', () => {
  it('KS, fixed rule: not drifted is uncertain when the p-value at statistic + bound passes', () => {
    // D = 0.05 → p ≈ 0.16; D + 0.02 → p ≈ 0.015.
    const p = ksP(0.05);
    const d = drift({ pValue: p, adjustedPValue: p, statisticBound: 0.02 });
    ksNote(d);
    flagStraddles([d]);
    expect(d.boundStraddlesThreshold).toBe(true);
    // A tight bound keeps the verdict: p at D + 0.001 is still far above 0.05.
    const t = drift({ pValue: p, adjustedPValue: p, statisticBound: 0.001 });
    ksNote(t);
    flagStraddles([t]);
    expect(t.boundStraddlesThreshold).toBe(false);
    // Drifted stays drifted: the exact statistic is only larger than the binned one.
    const y = drift({
      statistic: 0.2,
      effect: 0.2,
      pValue: ksP(0.2),
      adjustedPValue: ksP(0.2),
      drifted: true,
      statisticBound: 0.5,
    });
    ksNote(y);
    flagStraddles([y]);
    expect(y.boundStraddlesThreshold).toBe(false);
  });

  it('KS, calibrated rule: the effect floor is checked at statistic + bound too', () => {
    // D = 0.05 at n_eff 500 would be significant at D + 0.02, but the floor is 0.1.
    const p = ksP(0.05);
    const calibrated = { verdictRule: 'calibrated' as const, effectFloor: 0.1 };
    const below = drift({ ...calibrated, pValue: p, adjustedPValue: p, statisticBound: 0.02 });
    ksNote(below);
    flagStraddles([below]);
    expect(below.boundStraddlesThreshold).toBe(false);
    // D = 0.09: significant already, under the floor; D + 0.02 = 0.11 passes both.
    const q = ksP(0.09);
    const near = drift({
      ...calibrated,
      statistic: 0.09,
      effect: 0.09,
      pValue: q,
      adjustedPValue: q,
      statisticBound: 0.02,
    });
    ksNote(near);
    flagStraddles([near]);
    expect(near.boundStraddlesThreshold).toBe(true);
  });

  it('BH is recomputed with the feature p-value replaced, the others kept', () => {
    // Two features: the other one's p (0.04) keeps the family's adjusted values up. With the
    // exact statistic, x's p would fall to ksP(0.07) ≈ 0.0086: x ranks first, adjusted
    // 2·0.0086 = 0.017 ≤ 0.05 → drifted at the upper end.
    const p = ksP(0.05);
    const x = drift({ pValue: p, adjustedPValue: p, statisticBound: 0.02 });
    const other = drift({ feature: 'y', pValue: 0.04, adjustedPValue: 0.08, statisticBound: null });
    ksNote(x);
    flagStraddles([x, other]);
    expect(x.boundStraddlesThreshold).toBe(true);
    expect(other.boundStraddlesThreshold).toBe(false);
    // With three other features at p = 0.9, m = 4: adjusted 4·0.0086 = 0.034 still passes;
    // with bound 0.012 (p ≈ 0.033 at 0.062), 4·0.033 > 0.05: no straddle.
    const z = drift({ pValue: p, adjustedPValue: p, statisticBound: 0.012 });
    const rest = [0.9, 0.9, 0.9].map((q) => drift({ pValue: q, adjustedPValue: 0.9 }));
    ksNote(z);
    flagStraddles([z, ...rest]);
    expect(z.boundStraddlesThreshold).toBe(false);
  });

  it('Wasserstein: fixed rule uncertain when the threshold lies within statistic ± bound; never without a verdict', () => {
    const w = (statistic: number, bound: number | null, insufficient = false) => {
      const d = drift({
        test: 'wasserstein',
        statistic,
        effect: statistic,
        pValue: 0.5,
        adjustedPValue: 0.5,
        statisticBound: bound,
        threshold: 0.1,
        insufficient,
      });
      if (bound !== null) {
        noteBound(d, {
          low: Math.max(0, statistic - bound),
          high: statistic + bound,
          pValueAt: () => 0.5,
        });
      }
      return d;
    };
    const cases = [
      w(0.095, 0.01),
      w(0.105, 0.01),
      w(0.08, 0.01),
      w(0.095, null),
      w(0.095, 0.01, true),
    ];
    flagStraddles(cases, false);
    expect(cases.map((c) => c.boundStraddlesThreshold)).toEqual([true, true, false, false, false]);
  });

  it('Wasserstein, calibrated: significance and the floor at both ends of the interval', () => {
    // A null whose p-value is 0.01 from 0.08 on: significant at the upper end only.
    const pAt = (w: number) => (w >= 0.08 ? 0.01 : 0.5);
    const w = (statistic: number, bound: number) => {
      const p = pAt(statistic);
      const d = drift({
        test: 'wasserstein',
        verdictRule: 'calibrated',
        effectFloor: 0.1,
        statistic,
        effect: statistic,
        pValue: p,
        adjustedPValue: p,
        statisticBound: bound,
        drifted: p <= 0.05 && statistic >= 0.1,
      });
      noteBound(d, { low: Math.max(0, statistic - bound), high: statistic + bound, pValueAt: pAt });
      return d;
    };
    const cases = [w(0.095, 0.01), w(0.105, 0.01), w(0.12, 0.01), w(0.05, 0.01)];
    flagStraddles(cases, false);
    expect(cases.map((c) => c.boundStraddlesThreshold)).toEqual([true, true, false, false]);
  });
});
