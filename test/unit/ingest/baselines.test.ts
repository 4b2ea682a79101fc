import { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { createMetrics } from '../../../src/export/metrics.js';
import { createBaselineCache } from '../../../src/ingest/baselines.js';
import { createLogger } from '../../../src/logger.js';
import type { BaselineProfile } from '../../../src/types.js';
import { testModel } from '../../helpers/model.js';
import { makeBaseline, manualClock } from '../window/fixtures.js';

/** The baseline cache's gauges: one set per version, its current baseline's. */
describe('baseline cache gauges', () => {
  const model = testModel();
  const withPerf = (p: BaselineProfile, auc: number, createdAt: number): BaselineProfile => ({
    ...p,
    id: `${p.id}-${createdAt}`,
    createdAt,
    performance: { roc_auc: auc, accuracy: 0.8 },
  });

  async function setup(profiles: BaselineProfile[]) {
    const metrics = createMetrics(new Registry(), { version: 't' });
    const store = {
      listBaselines: async () =>
        profiles.map((p) => ({
          id: p.id,
          model: p.model,
          version: p.version,
          createdAt: p.createdAt,
        })),
      getBaseline: async (id: string) => profiles.find((p) => p.id === id) ?? null,
    };
    const cache = createBaselineCache({
      store,
      models: new Map([[model.id, model]]),
      clock: manualClock(),
      logger: createLogger('silent'),
      metrics,
    });
    await cache.refresh();
    const series = async () =>
      (await metrics.baselinePerformance.get()).values
        .map((v) => [v.labels.version, v.labels.metric, v.value])
        .sort((a, b) => String(a).localeCompare(String(b)));
    return { cache, metrics, series };
  }

  it("sets each version's current baseline, replaced by a newer import", async () => {
    const a = withPerf(makeBaseline(model, '3'), 0.7, 1);
    const profiles = [a, withPerf(makeBaseline(model, '4'), 0.6, 2)];
    const { cache, metrics, series } = await setup(profiles);
    expect(await series()).toEqual([
      ['3', 'accuracy', 0.8],
      ['3', 'roc_auc', 0.7],
      ['4', 'accuracy', 0.8],
      ['4', 'roc_auc', 0.6],
    ]);
    const missing = (await metrics.featureBaselineMissingRatio.get()).values;
    expect(missing.filter((v) => v.labels.version === '3').map((v) => v.labels.feature)).toEqual([
      'income',
      'age',
      'region',
    ]);
    // A newer import of version 3 without a label column: its series replace the old ones.
    profiles.push({ ...a, id: `${a.id}-new`, createdAt: 3, performance: undefined });
    await cache.refresh();
    expect(await series()).toEqual([
      ['4', 'accuracy', 0.8],
      ['4', 'roc_auc', 0.6],
    ]);
  });

  it('sets a retired version’s gauges again when it comes back', async () => {
    const { cache, metrics, series } = await setup([withPerf(makeBaseline(model, '3'), 0.7, 1)]);
    metrics.forgetVersion(model.id, '3');
    cache.forgetGauges(model.id, '3');
    await new Promise((r) => setImmediate(r));
    expect(await series()).toEqual([]);
    await cache.refresh(); // a refresh alone does not bring a retired version back
    expect(await series()).toEqual([]);
    cache.reportGauges(model.id, '3');
    expect(await series()).toEqual([
      ['3', 'accuracy', 0.8],
      ['3', 'roc_auc', 0.7],
    ]);
  });
});
