/**
 * driftd/stats: the pure statistics core. The daemon calls exactly these functions, so users
 * can reproduce any verdict offline. No I/O in this directory.
 */

export {
  type BinnedSide,
  type BinnedWasserstein,
  type BinnedWindow,
  binnedWasserstein,
} from './binned-wasserstein.js';
export {
  CBPE_BAND_STANDARD_ERRORS,
  CBPE_METRICS,
  type CbpeCalibration,
  type CbpeEstimate,
  type CbpeFitOptions,
  type CbpeMetric,
  type CbpeMetricEstimate,
  type CbpeModel,
  type CbpeSketch,
  type CbpeSketchOptions,
  type CbpeSnapshot,
  type CbpeSpread,
  checkCbpeModel,
  createCbpeSketch,
  fitCbpe,
  needsCalibration,
} from './cbpe.js';
export { chiSquareTest } from './chi-square.js';
export { jensenShannonDistance, wassersteinDistance } from './divergence.js';
export type * from './fairness.js';
export {
  createFairnessCounts,
  evaluateFairness,
  FAIRNESS_DEFAULTS,
  FAIRNESS_METRICS,
} from './fairness.js';
export type * from './fairness-groups.js';
export {
  attributeGroups,
  bandNames,
  createGroupAssigner,
  declaredGroups,
  MISSING_GROUP,
  OTHER_GROUP,
} from './fairness-groups.js';
export type { ConfidenceInterval } from './intervals.js';
export { differenceInterval, riskRatioInterval, twoSidedZ, wilsonInterval } from './intervals.js';
export { calibrateIsotonic, fitIsotonic, type IsotonicFit } from './isotonic.js';
export { binnedKsTest, ksTest } from './ks.js';
export {
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
} from './metrics.js';
export { benjaminiHochberg } from './multiple-testing.js';
export type {
  BinnedStatistic,
  SimulatedNull,
  SimulatedNullOptions,
} from './null-distribution.js';
export {
  createSimulatedNull,
  NULL_GRID,
  NULL_MAX_SIZE,
  NULL_SIMULATIONS,
} from './null-distribution.js';
export { aggregateCounts, coarseBins, psi } from './psi.js';
export { quantileEdges } from './quantiles.js';
export { categoryKey, createCategoricalSketch, createNumericSketch } from './sketch.js';
export { chooseTest } from './test-choice.js';
export type * from './types.js';
