/**
 * The retrain writer between the episodes (src/window/retrain.ts) and the store: a failed write
 * never fails the window results and is retried with the next ones; /metrics shows the episode
 * (gauge 1, counter + 1 once; a restored episode does not move the counter). The store here is
 * a DOUBLE (in memory, failing on demand): the real drivers are tested in
 * test/integration/store/retrain-recommendations.test.ts and end to end in test/e2e/retrain.test.ts.
 */
import { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { createMetrics } from '../../../src/export/metrics.js';
import { createRetrainWriter, type RetrainStore } from '../../../src/ingest/retrain-writer.js';
import { createLogger } from '../../../src/logger.js';
import type { StoredRetrainRecommendation } from '../../../src/store/types.js';
import type { FeatureDrift, WindowResult } from '../../../src/types.js';
import { testModel } from '../../helpers/model.js';

const MIN = 5 * 60_000;
const T0 = Date.UTC(2026, 0, 1);
const model = testModel();

function feature(name: string, drifted: boolean): FeatureDrift {
  return {
    feature: name,
    type: 'numeric',
    test: 'ks',
    statistic: drifted ? 0.4 : 0.01,
    pValue: drifted ? 1e-9 : 0.9,
    adjustedPValue: drifted ? 1e-9 : 0.9,
    threshold: 0.05,
    verdictRule: 'calibrated',
    effect: drifted ? 0.4 : 0.01,
    effectFloor: 0.1,
    drifted,
    psi: 0,
    ksStatistic: null,
    ksBound: null,
    ksPValue: null,
    statisticBound: null,
    boundStraddlesThreshold: false,
    count: 500,
    missingRatio: 0,
    outOfRangeRatio: 0,
    unseenRatio: 0,
    otherRatio: 0,
    insufficient: false,
  };
}

function result(k: number, drifted: boolean): WindowResult {
  return {
    model: model.id,
    version: '3',
    size: MIN,
    sizeLabel: '5m',
    start: T0 + k * MIN,
    end: T0 + (k + 1) * MIN,
    baselineId: 'b',
    baselineHash: 'h',
    eventCount: 500,
    lateCount: 0,
    closedAt: T0 + (k + 1) * MIN,
    features: [feature('income', drifted), feature('age', drifted)],
    prediction: null,
    driftShare: drifted ? 1 : 0,
    datasetDrift: drifted,
    provisional: false,
  };
}

function storeDouble() {
  const rows: StoredRetrainRecommendation[] = [];
  let failures = 0;
  const store: RetrainStore = {
    async insertRetrainRecommendations(r) {
      if (failures > 0) {
        failures--;
        throw new Error('store down');
      }
      rows.push(...r);
    },
    async retrainRecommendations() {
      return [];
    },
    async latestResults() {
      return { versions: [], windows: [], performance: [], verdicts: [] };
    },
    async queryDrift() {
      return [];
    },
  };
  return { store, rows, fail: (n: number) => (failures = n) };
}

function writer(store: RetrainStore) {
  const registry = new Registry();
  const metrics = createMetrics(registry, { version: 'test' });
  const w = createRetrainWriter({
    store,
    modelOf: () => model,
    models: () => [model],
    baselinePerformance: () => undefined,
    metrics,
    logger: createLogger('silent'),
    clock: { now: () => T0 + 60 * MIN },
  });
  const value = async (name: string) =>
    (await registry.getSingleMetric(name)!.get()).values.find((v) => v.labels.version === '3')
      ?.value;
  return { w, value };
}

describe('retrain writer (store double)', () => {
  it('a failed write is kept and retried with the next results, never thrown', async () => {
    const { store, rows, fail } = storeDouble();
    const { w, value } = writer(store);
    // Default driftWindows: 2 × K (2) = 4.
    await w.observe([0, 1, 2].map((k) => result(k, true)));
    expect(rows).toEqual([]);
    fail(1);
    await expect(w.observe([result(3, true)])).resolves.toBeUndefined();
    expect(rows).toEqual([]);
    expect(await value('driftd_retrain_recommended')).toBe(1);
    expect(await value('driftd_retrain_recommendations_total')).toBe(1);

    await w.observe([result(4, true)]);
    expect(rows.map((r) => [r.status, r.windows.length, r.driftdVersion])).toEqual([
      ['open', 4, expect.any(String)],
    ]);
    expect(rows[0]!.writtenAt).toBe(T0 + 60 * MIN);

    await w.observe([result(5, false)]);
    expect(rows.map((r) => r.status)).toEqual(['open', 'closed']);
    expect(await value('driftd_retrain_recommended')).toBe(0);
    expect(await value('driftd_retrain_recommendations_total')).toBe(1);
  });

  it('restore: a stored open episode is shown without counting it again', async () => {
    const { store } = storeDouble();
    let opened: StoredRetrainRecommendation | undefined;
    const recording: RetrainStore = {
      ...store,
      async insertRetrainRecommendations(r) {
        opened = r[0];
      },
    };
    const { w } = writer(recording);
    await w.observe([0, 1, 2, 3].map((k) => result(k, true)));
    expect(opened?.status).toBe('open');

    const restarted = writer({
      ...store,
      async retrainRecommendations() {
        return [opened!];
      },
      async latestResults() {
        return {
          versions: ['3'],
          windows: [result(3, true)],
          performance: [],
          verdicts: [],
        };
      },
      async queryDrift() {
        return [0, 1, 2, 3].map((k) => result(k, true));
      },
      async insertRetrainRecommendations(r) {
        if (r.length > 0) throw new Error(`nothing to write on restore, got ${r.length} rows`);
      },
    });
    await restarted.w.restore();
    expect(await restarted.value('driftd_retrain_recommended')).toBe(1);
    expect(await restarted.value('driftd_retrain_recommendations_total')).toBeUndefined();
  });
});
