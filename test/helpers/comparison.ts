/** Champion/challenger comparisons built by hand, for the rollback signal's tests. */
import type { FeatureDrift } from '../../src/types.js';
import type { PairedMetric, VersionComparison } from '../../src/window/comparison-types.js';

/** Both versions' values of a metric (difference derived). */
export function paired(
  champion: number | null,
  challenger: number | null,
  se: number | null = null,
): PairedMetric {
  return {
    champion,
    challenger,
    difference: champion === null || challenger === null ? null : challenger - champion,
    standardError: se,
  };
}

/** The prediction's drift verdict between the versions' windows. */
export function predictionDrift(drifted: boolean, over: Partial<FeatureDrift> = {}): FeatureDrift {
  return {
    feature: '__prediction__',
    type: 'numeric',
    test: 'ks',
    statistic: drifted ? 0.3 : 0.01,
    pValue: drifted ? 1e-6 : 0.8,
    adjustedPValue: drifted ? 1e-6 : 0.8,
    threshold: 0.05,
    verdictRule: 'calibrated',
    effect: drifted ? 0.3 : 0.01,
    effectFloor: 0.1,
    drifted,
    psi: drifted ? 0.4 : 0.01,
    ksStatistic: 0.3,
    ksBound: 0.001,
    ksPValue: 0.01,
    statisticBound: 0.001,
    boundStraddlesThreshold: false,
    count: 500,
    missingRatio: 0,
    outOfRangeRatio: 0,
    unseenRatio: 0,
    otherRatio: 0,
    insufficient: false,
    ...over,
  };
}

/** A 5m comparison of credit 2 (challenger, 10 % of traffic) against 1, nothing judged. */
export function comparison(over: Partial<VersionComparison> = {}): VersionComparison {
  return {
    model: 'credit',
    champion: '1',
    challenger: '2',
    window: '5m',
    windowStart: 0,
    windowEnd: 300_000,
    championEvents: 900,
    challengerEvents: 100,
    challengerShare: 0.1,
    features: [],
    prediction: null,
    estimated: {},
    realised: {},
    shadow: null,
    ...over,
  };
}
