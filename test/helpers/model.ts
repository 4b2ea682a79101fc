import type { ModelConfig } from '../../src/config/types.js';

/** A fully-defaulted model config for unit tests that do not go through the YAML loader. */
export function testModel(overrides: Partial<ModelConfig> = {}): ModelConfig {
  return {
    id: 'credit-risk',
    task: 'binary-classification',
    features: [
      { name: 'income', type: 'numeric', test: null, threshold: null },
      { name: 'age', type: 'numeric', test: null, threshold: null },
      { name: 'region', type: 'categorical', test: null, threshold: null },
    ],
    prediction: { field: 'prediction', type: 'numeric' },
    label: { field: 'label', positive: 1, threshold: 0.5 },
    windows: {
      sizes: [{ label: '5m', ms: 300_000 }],
      allowedLatenessMs: 60_000,
      idleTimeoutMs: 120_000,
    },
    drift: {
      minWindowSize: 100,
      shareThreshold: 0.5,
      fdr: 0.05,
      bins: 1000,
      psiBuckets: 10,
      psiThreshold: 0.2,
      topCategories: 100,
      sampleSize: 10_000,
    },
    piiFields: [],
    ...overrides,
  };
}
