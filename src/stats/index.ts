/**
 * driftd/stats: the pure statistics core. The daemon calls exactly these functions, so users
 * can reproduce any verdict offline. No I/O in this directory.
 */
export { benjaminiHochberg } from './multiple-testing.js';
export { chiSquareTest } from './chi-square.js';
export { jensenShannonDistance, wassersteinDistance } from './divergence.js';
export { binnedKsTest, ksTest } from './ks.js';
export {
  accuracy,
  brierScore,
  confusionCounts,
  createBinaryMetricsSketch,
  f1Score,
  logLoss,
  meanAbsoluteError,
  meanAbsolutePercentageError,
  precision,
  recall,
  rocAuc,
  rootMeanSquaredError,
} from './metrics.js';
export { coarseBins, psi } from './psi.js';
export { quantileEdges } from './quantiles.js';
export { createCategoricalSketch, createNumericSketch } from './sketch.js';
export { chooseTest } from './test-choice.js';
export type * from './types.js';
