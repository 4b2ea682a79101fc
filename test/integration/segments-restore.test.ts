/**
 * A restart puts the segment gauges of the newest windows back on /metrics
 * (src/export/restore.ts), from the real embedded store's segment rows, and the segments'
 * performance of the newest labelled window.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Registry } from 'prom-client';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createMetrics } from '../../src/export/metrics.js';
import { restoreGauges } from '../../src/export/restore.js';
import { createLogger } from '../../src/logger.js';
import { createStore } from '../../src/store/index.js';
import type { Store } from '../../src/store/types.js';
import type { FeatureDrift, PerformanceResult, WindowResult } from '../../src/types.js';
import { testModel } from '../helpers/model.js';

const T0 = Date.UTC(2026, 10, 22, 10);

function drift(feature: string, drifted: boolean): FeatureDrift {
  return {
    feature,
    type: 'numeric',
    test: 'ks',
    statistic: 0.3,
    pValue: 1e-6,
    adjustedPValue: 1e-5,
    threshold: 0.05,
    drifted,
    psi: 0.4,
    ksStatistic: 0.3,
    ksBound: 0.001,
    ksPValue: 1e-6,
    verdictRule: 'calibrated',
    effect: 0.3,
    effectFloor: 0.1,
    count: 480,
    missingRatio: 0,
    outOfRangeRatio: 0,
    unseenRatio: 0,
    otherRatio: 0,
    statisticBound: 0.001,
    boundStraddlesThreshold: false,
    insufficient: false,
  };
}

function result(k: number, over: Partial<WindowResult> = {}): WindowResult {
  const start = T0 + k * 300_000;
  return {
    model: 'credit-risk',
    version: '3',
    size: 300_000,
    sizeLabel: '5m',
    start,
    end: start + 300_000,
    baselineId: 'b-1',
    baselineHash: 'sha256:abc',
    eventCount: 500,
    lateCount: 0,
    closedAt: start + 301_000,
    provisional: false,
    features: [drift('income', false)],
    prediction: null,
    driftShare: 0,
    datasetDrift: false,
    ...over,
  };
}

describe('restoreGauges with segments (embedded store)', () => {
  let dir: string;
  let store: Store;

  beforeEach(async () => {
    dir = mkdtempSync(join(tmpdir(), 'driftd-segments-restore-'));
    store = createStore({ kind: 'embedded', path: dir, rawEventsTtlDays: 30 });
    await store.migrate();
  });

  afterEach(async () => {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('replays the segments of the newest window of each version and size', async () => {
    const eu = { segment: 'region=EU', eventCount: 200 };
    await store.insertWindowResults([
      result(0),
      result(0, { ...eu, features: [drift('income', false)] }),
      result(1),
      result(1, { ...eu, features: [drift('income', true)], driftShare: 1 }),
    ]);
    const registry = new Registry();
    const metrics = createMetrics(registry, { version: 'test' });
    const model = testModel({ segments: { fields: ['region'], maxPerField: 10 } });
    await restoreGauges({ store, models: [model], metrics, logger: createLogger('silent') });
    const text = await registry.metrics();
    const lines = text.split('\n').filter((l) => l.startsWith('driftd_segment_'));
    expect(lines.sort()).toEqual([
      'driftd_segment_drift_detected{model="credit-risk",version="3",window="5m",segment="region=EU",feature="income"} 1',
      'driftd_segment_drift_share{model="credit-risk",version="3",window="5m",segment="region=EU"} 1',
      'driftd_segment_events{model="credit-risk",version="3",window="5m",segment="region=EU"} 200',
    ]);
    // The whole window's gauges are the whole window's.
    expect(text).toContain('driftd_window_events{model="credit-risk",version="3",window="5m"} 500');
  });

  it("replays the segments' performance of the newest labelled window", async () => {
    await store.insertWindowResults([result(0), result(1), result(2)]);
    const perf = (k: number, over: Partial<PerformanceResult> = {}): PerformanceResult => {
      const start = T0 + k * 300_000;
      return {
        model: 'credit-risk',
        version: '3',
        size: 300_000,
        sizeLabel: '5m',
        start,
        end: start + 300_000,
        labeled: 100,
        coverage: 0.2,
        metrics: { accuracy: 0.9 },
        computedAt: start + 600_000,
        ...over,
      };
    };
    const eu = { segment: 'region=EU' };
    await store.insertPerformance([
      perf(0),
      perf(0, { ...eu, labeled: 10, metrics: { accuracy: 0.5 } }),
      perf(0, { segment: 'region=US', labeled: 90, metrics: { accuracy: 0.95 } }),
      perf(1),
      perf(1, { ...eu, labeled: 20, metrics: { accuracy: 0.6 } }),
      // The estimate alone (no labels) is not the newest labelled window.
      perf(2, { labeled: 0, metrics: {} }),
    ]);
    const registry = new Registry();
    const metrics = createMetrics(registry, { version: 'test' });
    const model = testModel({ segments: { fields: ['region'], maxPerField: 10 } });
    await restoreGauges({ store, models: [model], metrics, logger: createLogger('silent') });
    const text = await registry.metrics();
    expect(text.split('\n').filter((l) => l.startsWith('driftd_segment_performance{'))).toEqual([
      'driftd_segment_performance{model="credit-risk",version="3",window="5m",segment="region=EU",metric="accuracy"} 0.6',
    ]);
    expect(text).toContain(
      'driftd_model_performance{model="credit-risk",version="3",window="5m",metric="accuracy"} 0.9',
    );
  });
});
