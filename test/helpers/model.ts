import { defaultAlerts } from '../../src/config/alerts.js';
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
    versions: { allow: null, maxActive: 10, baselineFallback: 'none' },
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
    alerts: defaultAlerts('binary-classification'),
    ...overrides,
  };
}

/**
 * The models of the decoding tests: a plain one, one with a PII field (decoded on the event
 * loop), one with a categorical prediction under another field name, and one with a
 * versions.allow list.
 */
export function decodeTestModels(): Map<string, ModelConfig> {
  // These keep fields they do not name (decodeTestEvent's `extra`), so the fast paths read
  // them; dropping unlisted fields is tested in test/unit/privacy/.
  const credit = testModel({ storeUnlistedFields: true });
  const pii = testModel({ id: 'with-pii', piiFields: ['region'], storeUnlistedFields: true });
  const flags = testModel({
    storeUnlistedFields: true,
    id: 'flags',
    features: [
      { name: 'active', type: 'categorical', test: null, threshold: null },
      { name: 'score', type: 'numeric', test: null, threshold: null },
    ],
    prediction: { field: 'label_pred', type: 'categorical' },
  });
  // Only version "3" is monitored: the others are rejected on every decode path.
  const pinned = testModel({
    storeUnlistedFields: true,
    id: 'pinned',
    versions: { allow: ['3'], maxActive: 10, baselineFallback: 'none' },
  });
  return new Map([credit, pii, flags, pinned].map((m) => [m.id, m] as const));
}

/**
 * A prediction event of the credit-risk decode test model: doubles of 16–17 digits as JavaScript
 * prints them, and a feature the model does not configure (kept only in the raw record).
 */
/** The PII key of the decoding tests (32 bytes). */
export const TEST_PII_KEY_TEXT = 'test-pii-key-0123456789abcdefghij';

export function decodeTestEvent(over: Record<string, unknown> = {}) {
  return {
    model: 'credit-risk',
    version: '3',
    id: 'p-1',
    ts: '2026-11-22T10:00:00.123Z',
    features: { income: 52000.12345678901, age: null, region: 'EU', extra: 'kept in raw' },
    prediction: 0.8300000000000001,
    ...over,
  };
}
