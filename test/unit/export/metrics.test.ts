/**
 * Per-feature series of a closed window: the KS p-value for every numeric feature (not only
 * those whose test is KS), and the drift score on the one severity scale (drifted ⇔ ≥ 1).
 */
import { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { buildProfileFromRows } from '../../../src/baseline/index.js';
import { createMetrics } from '../../../src/export/metrics.js';
import { createWindowState, evaluateWindow } from '../../../src/window/index.js';
import { testModel } from '../../helpers/model.js';
import { mulberry32 } from '../../helpers/random.js';

function rows(n: number, seed: number, shift = 0) {
  const r = mulberry32(seed);
  return Array.from({ length: n }, () => ({
    features: {
      income: 50_000 + 10_000 * (r() + r() + r() - 1.5 + shift),
      age: Math.round(20 + 50 * r()),
      region: r() < 0.5 ? 'EU' : 'US',
    },
    prediction: r(),
  }));
}

describe('metrics of a closed window', () => {
  it('exports driftd_feature_ks_pvalue for every numeric feature, whatever its test', async () => {
    const model = testModel();
    // 3000 rows: the automatic test for numeric features is Wasserstein, not KS.
    const baseline = buildProfileFromRows(model, '1', rows(3000, 1), { createdAt: 0 }).profile;
    const state = createWindowState({
      bounds: {
        model: model.id,
        version: '1',
        size: 60_000,
        sizeLabel: '1m',
        start: 0,
        end: 60_000,
      },
      model,
      baseline,
    });
    rows(500, 2, 1).forEach((row, i) => {
      state.record({ model: model.id, version: '1', id: String(i), ts: 1, ...row });
    });
    const result = evaluateWindow({ state, closedAt: 60_000 }, baseline, model);
    expect(result.features.filter((f) => f.type === 'numeric').map((f) => f.test)).toEqual([
      'wasserstein',
      'wasserstein',
    ]);
    const registry = new Registry();
    createMetrics(registry, { version: 'test' }).recordWindow(result);
    const ks = await registry.getSingleMetric('driftd_feature_ks_pvalue')!.get();
    expect(ks.values.map((v) => v.labels.feature).sort()).toEqual(['age', 'income']);
    const income = result.features.find((f) => f.feature === 'income')!;
    expect(ks.values.find((v) => v.labels.feature === 'income')!.value).toBe(income.ksPValue);
    const score = await registry.getSingleMetric('driftd_feature_drift_score')!.get();
    for (const f of result.features) {
      const v = score.values.find((x) => x.labels.feature === f.feature)!.value;
      expect(v >= 1).toBe(f.drifted);
    }
    expect(income.drifted).toBe(true);
  });
});
