/**
 * The retrain writer's startup (src/ingest/retrain-writer.ts restore) against the real embedded
 * store: the runs come from the stored window results (dataset drift) and the stored
 * performance rows (the label-free estimate, `estimated_<metric>` keys), and the open episodes
 * from retrain_recommendations. A restart mid-episode writes nothing; an opening or a close
 * lost in a crash is written at startup, once.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Registry } from 'prom-client';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { resolveAlerts } from '../../src/config/alerts.js';
import type { ModelConfig } from '../../src/config/types.js';
import { createMetrics } from '../../src/export/metrics.js';
import { createRetrainWriter } from '../../src/ingest/retrain-writer.js';
import { createLogger } from '../../src/logger.js';
import { createStore } from '../../src/store/index.js';
import type { Store } from '../../src/store/types.js';
import type { FeatureDrift, PerformanceResult, WindowResult } from '../../src/types.js';
import { testModel } from '../helpers/model.js';

const T0 = Date.UTC(2026, 10, 22, 10, 0, 0);
const MIN = 60_000;

const model: ModelConfig = {
  ...testModel(),
  alerts: resolveAlerts(
    'binary-classification',
    {},
    {
      consecutiveWindows: 2,
      performance: { roc_auc: { below: 0.7 } },
      retrain: { driftWindows: 3, estimatedDegradationWindows: 2 },
    },
  ),
};

function drift(feature: string, drifted: boolean): FeatureDrift {
  return {
    feature,
    type: 'numeric',
    test: 'ks',
    statistic: drifted ? 0.3 : 0.01,
    pValue: drifted ? 1e-6 : 0.8,
    adjustedPValue: drifted ? 1e-5 : 0.8,
    threshold: 0.05,
    drifted,
    psi: 0.1,
    ksStatistic: null,
    ksBound: null,
    ksPValue: null,
    verdictRule: 'calibrated',
    effect: drifted ? 0.3 : 0.01,
    effectFloor: 0.1,
    count: 480,
    missingRatio: 0,
    outOfRangeRatio: 0,
    unseenRatio: 0,
    otherRatio: 0,
    statisticBound: null,
    boundStraddlesThreshold: false,
    insufficient: false,
  };
}

function result(k: number, drifted: boolean): WindowResult {
  const start = T0 + k * 5 * MIN;
  return {
    model: model.id,
    version: '3',
    size: 5 * MIN,
    sizeLabel: '5m',
    start,
    end: start + 5 * MIN,
    baselineId: 'b-1',
    baselineHash: 'sha256:abc',
    eventCount: 500,
    lateCount: 0,
    closedAt: start + 5 * MIN,
    provisional: false,
    features: [drift('income', drifted), drift('age', drifted)],
    prediction: null,
    driftShare: drifted ? 1 : 0,
    datasetDrift: drifted,
  };
}

/** The record written at a window's close: the estimate alone (labeled 0). */
function estimate(k: number, auc: number): PerformanceResult {
  const start = T0 + k * 5 * MIN;
  return {
    model: model.id,
    version: '3',
    size: 5 * MIN,
    sizeLabel: '5m',
    start,
    end: start + 5 * MIN,
    labeled: 0,
    coverage: 0,
    metrics: {
      estimated_roc_auc: auc,
      estimated_roc_auc_lower: auc - 0.05,
      estimated_roc_auc_upper: auc + 0.05,
    },
    computedAt: start + 5 * MIN,
  };
}

describe('retrain writer restore (embedded store)', () => {
  let dir: string;
  let store: Store;

  beforeEach(async () => {
    dir = mkdtempSync(join(tmpdir(), 'driftd-retrain-restore-'));
    store = createStore({ kind: 'embedded', path: dir, rawEventsTtlDays: 30 });
    await store.migrate();
  });
  afterEach(async () => {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  });

  function writer() {
    const registry = new Registry();
    const metrics = createMetrics(registry, { version: 'test' });
    const w = createRetrainWriter({
      store,
      modelOf: () => model,
      models: () => [model],
      baselinePerformance: () => undefined,
      metrics,
      logger: createLogger('silent'),
      clock: { now: () => T0 + 100 * MIN },
    });
    const gauge = async () =>
      (await registry.getSingleMetric('driftd_retrain_recommended')!.get()).values[0]?.value;
    return { w, gauge };
  }
  const all = () => store.retrainRecommendations({ model: model.id });

  it('a restart mid-episode writes nothing and shows the episode; the next clean window closes it', async () => {
    const first = writer();
    const written = [0, 1, 2].map((k) => result(k, true));
    await store.insertWindowResults(written);
    await first.w.observe(written);
    expect((await all()).map((r) => r.status)).toEqual(['open']);

    const second = writer();
    await second.w.restore();
    expect((await all()).map((r) => r.status)).toEqual(['open']);
    expect(await second.gauge()).toBe(1);
    await store.insertWindowResults([result(3, true)]);
    await second.w.observe([result(3, true)]);
    expect(await all()).toHaveLength(1);

    await second.w.observe([result(4, false)]);
    expect((await all()).map((r) => r.status)).toEqual(['closed']);
  });

  it('an opening lost in a crash is written at startup from the stored estimates, once', async () => {
    await store.insertWindowResults([0, 1, 2].map((k) => result(k, false)));
    await store.insertPerformance([estimate(0, 0.8), estimate(1, 0.65), estimate(2, 0.6)]);
    const w = writer();
    await w.w.restore();
    const [rec, ...rest] = await all();
    expect(rest).toEqual([]);
    expect(rec).toMatchObject({ status: 'open', triggers: ['estimated_degradation'] });
    expect(rec!.windows.map((x) => x.estimates.map((e) => [e.metric, e.value, e.limit]))).toEqual([
      [['roc_auc', 0.65, 0.7]],
      [['roc_auc', 0.6, 0.7]],
    ]);
    // A second restart: nothing more.
    await writer().w.restore();
    expect(await all()).toHaveLength(1);
  });

  it('a close lost in a crash is written at startup', async () => {
    const w = writer();
    const written = [0, 1, 2].map((k) => result(k, true));
    await store.insertWindowResults(written);
    await w.w.observe(written);
    // The clean window is stored, the daemon dies before its close row.
    await store.insertWindowResults([result(3, false)]);
    const restarted = writer();
    await restarted.w.restore();
    expect((await all()).map((r) => r.status)).toEqual(['closed']);
    expect(await restarted.gauge()).toBe(0);
  });
});
