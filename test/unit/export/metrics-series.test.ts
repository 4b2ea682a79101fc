/**
 * Which series /metrics holds for window results: the consecutive-drift gauges, the newest
 * window only, a retired version's series removed from every versioned family, and at most
 * `versions.maxActive` versions per model.
 */
import { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { createMetrics, METRIC } from '../../../src/export/metrics.js';
import type { FeatureDrift, PerformanceResult, WindowResult } from '../../../src/types.js';

const W = 300_000;

function drift(feature: string, drifted: boolean, over: Partial<FeatureDrift> = {}): FeatureDrift {
  return {
    feature,
    type: 'numeric',
    test: 'ks',
    statistic: drifted ? 0.3 : 0.01,
    pValue: 0.01,
    adjustedPValue: 0.01,
    threshold: 0.05,
    verdictRule: 'calibrated',
    effect: 0.3,
    effectFloor: 0.1,
    drifted,
    psi: drifted ? 0.4 : 0.01,
    ksStatistic: 0.3,
    ksBound: 0.001,
    ksPValue: 0.01,
    statisticBound: 0.001,
    boundStraddlesThreshold: false,
    count: 100,
    missingRatio: 0,
    outOfRangeRatio: 0,
    unseenRatio: 0,
    otherRatio: 0,
    insufficient: false,
    ...over,
  };
}

function result(k: number, drifted: boolean, over: Partial<WindowResult> = {}): WindowResult {
  return {
    model: 'm',
    version: '1',
    size: W,
    sizeLabel: '5m',
    start: k * W,
    end: (k + 1) * W,
    baselineId: 'b',
    baselineHash: 'h',
    eventCount: 100 + k,
    lateCount: 0,
    closedAt: (k + 1) * W + 1,
    features: [
      drift('income', drifted),
      drift('region', false, {
        type: 'categorical',
        test: 'chi-square',
        ksStatistic: null,
        ksBound: null,
        statisticBound: null,
        otherRatio: 0.1,
      }),
    ],
    prediction: drift('__prediction__', drifted),
    driftShare: drifted ? 0.5 : 0,
    datasetDrift: drifted,
    provisional: false,
    ...over,
  };
}

function perf(k: number, over: Partial<PerformanceResult> = {}): PerformanceResult {
  return {
    model: 'm',
    version: '1',
    size: W,
    sizeLabel: '5m',
    start: k * W,
    end: (k + 1) * W,
    labeled: 10,
    coverage: 0.1,
    metrics: { accuracy: 0.9 - k / 100 },
    computedAt: (k + 2) * W,
    ...over,
  };
}

async function values(registry: Registry, name: string) {
  const metric = registry.getSingleMetric(name);
  if (metric === undefined) throw new Error(`no metric ${name}`);
  return (await metric.get()).values;
}

async function value(registry: Registry, name: string, labels: Record<string, string>) {
  const v = (await values(registry, name)).find((x) =>
    Object.entries(labels).every(([k, want]) => x.labels[k] === want),
  );
  return v?.value;
}

/** Every family with `model` and `version` labels, and the versions it holds series of. */
async function versionsByFamily(registry: Registry): Promise<Map<string, Set<string>>> {
  const out = new Map<string, Set<string>>();
  for (const m of await registry.getMetricsAsJSON()) {
    const named = m as unknown as { name: string; values: { labels: Record<string, unknown> }[] };
    const metric = registry.getSingleMetric(named.name) as unknown as { labelNames?: string[] };
    const labels = metric.labelNames ?? [];
    if (!labels.includes('model') || !labels.includes('version')) continue;
    out.set(named.name, new Set(named.values.map((v) => String(v.labels.version))));
  }
  return out;
}

describe('consecutive-drift gauges', () => {
  it('count drifted windows in a row per feature, dataset and prediction; a rewrite counts once', async () => {
    const registry = new Registry();
    const metrics = createMetrics(registry, { version: 'test' });
    const fl = { model: 'm', version: '1', window: '5m' };
    metrics.recordWindow(result(0, true));
    metrics.recordWindow(result(1, true, { provisional: true }));
    metrics.recordWindow(result(1, true)); // its final result
    metrics.recordWindow(result(2, true));
    for (const name of [METRIC.modelDatasetDriftConsecutive, METRIC.predictionDriftConsecutive]) {
      expect(await value(registry, name, fl)).toBe(3);
    }
    expect(
      await value(registry, METRIC.featureDriftConsecutive, { ...fl, feature: 'income' }),
    ).toBe(3);
    expect(
      await value(registry, METRIC.featureDriftConsecutive, { ...fl, feature: 'region' }),
    ).toBe(0);
    metrics.recordWindow(result(3, false));
    expect(await value(registry, METRIC.modelDatasetDriftConsecutive, fl)).toBe(0);
    expect(await value(registry, METRIC.windowsClosed, { model: 'm' })).toBe(4);
  });

  it('a provisional clean result or one without a verdict does not end a run', async () => {
    const registry = new Registry();
    const metrics = createMetrics(registry, { version: 'test' });
    const wl = { model: 'm', version: '1', window: '5m' };
    const run = () => value(registry, METRIC.modelDatasetDriftConsecutive, wl);
    const income = () =>
      value(registry, METRIC.featureDriftConsecutive, { ...wl, feature: 'income' });
    metrics.recordWindow(result(0, true));
    metrics.recordWindow(result(1, true));
    // Window 2 still open, quiet: clean so far. Its final result decides.
    metrics.recordWindow(result(2, false, { provisional: true }));
    expect([await run(), await income()]).toEqual([2, 2]);
    metrics.recordWindow(result(2, true));
    expect([await run(), await income()]).toEqual([3, 3]);
    // Window 3 with too few events: no verdict for any feature, nor for the dataset.
    const few = result(3, false);
    few.features = few.features.map((d) => ({ ...d, insufficient: true }));
    metrics.recordWindow(few);
    expect([await run(), await income()]).toEqual([3, 3]);
    metrics.recordWindow(result(4, false));
    expect([await run(), await income()]).toEqual([0, 0]);
  });

  it('a restored result moves no counter', async () => {
    const registry = new Registry();
    const metrics = createMetrics(registry, { version: 'test' });
    metrics.recordWindow(result(0, true), { restored: true });
    expect(await values(registry, METRIC.windowsClosed)).toEqual([]);
    expect(await value(registry, METRIC.featurePsi, { feature: 'income' })).toBe(0.4);
  });
});

describe('the newest window only', () => {
  it('an older window written later moves the drift run, not the latest gauges', async () => {
    const registry = new Registry();
    const metrics = createMetrics(registry, { version: 'test' });
    const wl = { model: 'm', version: '1', window: '5m' };
    metrics.recordWindow(result(0, true));
    metrics.recordWindow(result(1, false, { provisional: true }));
    metrics.recordWindow(result(2, true));
    // Window 1's final result, after window 2's: drifted after all.
    metrics.recordWindow(result(1, true, { eventCount: 999 }));
    expect(await value(registry, METRIC.windowEvents, wl)).toBe(102);
    expect(await value(registry, METRIC.modelDatasetDriftConsecutive, wl)).toBe(3);
    // Performance of an older window (late labels) does not replace the newest one's.
    metrics.recordPerformance(perf(2));
    metrics.recordPerformance(perf(0));
    expect(await value(registry, METRIC.modelPerformance, { ...wl, metric: 'accuracy' })).toBe(
      0.88,
    );
  });
});

describe('series of model versions', () => {
  it('forgetVersion removes the version from every family with a version label, new ones included', async () => {
    const registry = new Registry();
    const metrics = createMetrics(registry, { version: 'test' });
    for (const version of ['1', '2']) {
      metrics.recordWindow(result(0, true, { version }));
      metrics.recordPerformance(perf(0, { version }));
    }
    const before = await versionsByFamily(registry);
    expect([...before.values()].filter((v) => v.size > 0).length).toBeGreaterThanOrEqual(20);
    for (const name of [
      METRIC.featureDriftConsecutive,
      METRIC.modelDatasetDriftConsecutive,
      METRIC.predictionDriftConsecutive,
    ]) {
      expect(before.has(name)).toBe(true);
    }
    // Every family a result sets holds both versions (one set elsewhere has nothing to check).
    for (const [name, versions] of before) {
      if (versions.size > 0) expect([name, [...versions].sort()]).toEqual([name, ['1', '2']]);
    }

    metrics.forgetVersion('m', '1');
    for (const [name, versions] of await versionsByFamily(registry)) {
      expect([name, [...versions]]).toEqual([name, before.get(name)!.size > 0 ? ['2'] : []]);
    }
    // The last windows its retirement closed, written after it: back with their true run
    // (as a restart would show them), until a newer version displaces it.
    metrics.recordWindow(result(1, true, { version: '1' }));
    expect(
      await value(registry, METRIC.modelDatasetDriftConsecutive, { version: '1', window: '5m' }),
    ).toBe(2);
  });

  it('holds at most maxVersions versions per model, those with the newest windows', async () => {
    const registry = new Registry();
    const metrics = createMetrics(registry, { version: 'test', maxVersions: () => 2 });
    const shown = async () =>
      [...new Set((await values(registry, METRIC.featurePsi)).map((v) => v.labels.version))].sort();
    metrics.recordWindow(result(5, true, { version: 'a' }));
    metrics.recordWindow(result(6, true, { version: 'b' }));
    // Older than both shown: no series (e.g. a retired version's last window written late).
    metrics.recordWindow(result(1, true, { version: 'c' }));
    metrics.recordPerformance(perf(1, { version: 'c' }));
    expect(await shown()).toEqual(['a', 'b']);
    expect((await values(registry, METRIC.modelPerformance)).map((v) => v.labels.version)).toEqual(
      [],
    );
    // Newer: displaces the version with the oldest window, in every family.
    metrics.recordWindow(result(7, true, { version: 'c' }));
    expect(await shown()).toEqual(['b', 'c']);
    for (const [name, versions] of await versionsByFamily(registry)) {
      expect([name, versions.has('a')]).toEqual([name, false]);
    }
    // Displaced, its run is gone too: were it to come back, it starts anew.
    metrics.recordWindow(result(8, true, { version: 'a' }));
    expect(
      await value(registry, METRIC.modelDatasetDriftConsecutive, { version: 'a', window: '5m' }),
    ).toBe(1);
  });
});
