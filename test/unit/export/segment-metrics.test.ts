/**
 * Segment gauges (src/export/metrics.ts recordSegment): one series set per segment of the newest
 * window of each (model, version, window size); a newer window's segments replace every older
 * one's series (a segment without events in it leaves none behind), an older window is ignored.
 */
import { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { createMetrics } from '../../../src/export/metrics.js';
import type { FeatureDrift, PerformanceResult, WindowResult } from '../../../src/types.js';

function feature(name: string, drifted: boolean, insufficient = false): FeatureDrift {
  return {
    feature: name,
    type: 'numeric',
    test: 'ks',
    statistic: 0.2,
    pValue: 0.01,
    adjustedPValue: 0.01,
    threshold: 0.05,
    drifted,
    psi: 0.1,
    ksStatistic: 0.2,
    ksBound: 0.001,
    ksPValue: 0.01,
    verdictRule: 'calibrated',
    effect: 0.2,
    effectFloor: 0.1,
    count: 100,
    missingRatio: 0,
    outOfRangeRatio: 0,
    unseenRatio: 0,
    otherRatio: 0,
    statisticBound: 0.001,
    boundStraddlesThreshold: false,
    insufficient,
  };
}

function segment(start: number, name: string, drifted: boolean): WindowResult {
  return {
    model: 'm',
    version: '1',
    size: 60_000,
    sizeLabel: '1m',
    start,
    end: start + 60_000,
    segment: name,
    baselineId: 'b',
    baselineHash: 'h',
    eventCount: 120,
    lateCount: 0,
    closedAt: start + 61_000,
    provisional: false,
    features: [feature('age', drifted), feature('income', false, true)],
    prediction: null,
    driftShare: drifted ? 1 : 0,
    datasetDrift: drifted,
  };
}

async function series(registry: Registry, name: string) {
  const metric = (await registry.getMetricsAsJSON()).find((m) => m.name === name);
  return (metric?.values ?? []).map((v) => [v.labels.segment, v.labels.feature, v.value] as const);
}

describe('segment gauges', () => {
  it('show the newest window’s segments only, and leave the whole-window gauges alone', async () => {
    const registry = new Registry();
    const metrics = createMetrics(registry, { version: 'test' });
    metrics.recordSegment(segment(60_000, 'region=EU', true));
    metrics.recordSegment(segment(60_000, 'region=US', false));
    expect(await series(registry, 'driftd_segment_drift_detected')).toEqual([
      // income had no verdict: no series.
      ['region=EU', 'age', 1],
      ['region=US', 'age', 0],
    ]);
    // A newer window with events in one segment only: the other's series go.
    metrics.recordSegment(segment(120_000, 'region=US', true));
    expect(await series(registry, 'driftd_segment_drift_detected')).toEqual([
      ['region=US', 'age', 1],
    ]);
    expect(await series(registry, 'driftd_segment_events')).toEqual([
      ['region=US', undefined, 120],
    ]);
    // An older window (a late rewrite) changes nothing.
    metrics.recordSegment(segment(60_000, 'region=EU', false));
    expect(await series(registry, 'driftd_segment_drift_share')).toEqual([
      ['region=US', undefined, 1],
    ]);
    expect(await series(registry, 'driftd_model_drift_share')).toEqual([]);
    // A retired version takes its segment series with it.
    metrics.forgetVersion('m', '1');
    expect(await series(registry, 'driftd_segment_drift_share')).toEqual([]);
  });

  it('performance per segment: the newest labelled window’s segments only, never the whole-window gauges', async () => {
    const registry = new Registry();
    const metrics = createMetrics(registry, { version: 'test' });
    const perf = (
      start: number,
      name: string,
      accuracy: number,
      labeled = 10,
    ): PerformanceResult => ({
      model: 'm',
      version: '1',
      size: 60_000,
      sizeLabel: '1m',
      start,
      end: start + 60_000,
      segment: name,
      labeled,
      coverage: 0.5,
      metrics: { accuracy, roc_auc: Number.NaN },
      computedAt: start + 120_000,
    });
    const shown = async () =>
      (await registry.getMetricsAsJSON())
        .find((m) => m.name === 'driftd_segment_performance')
        ?.values.map((v) => [v.labels.segment, v.labels.metric, v.value])
        .sort((a, b) => String(a[0]).localeCompare(String(b[0])));
    metrics.recordSegmentPerformance(perf(60_000, 'region=EU', 0.8));
    metrics.recordSegmentPerformance(perf(60_000, 'region=US', 0.7));
    // Late labels rewrite a segment of the same window: its value is replaced.
    metrics.recordSegmentPerformance(perf(60_000, 'region=EU', 0.85));
    // A non-finite metric has no series.
    expect(await shown()).toEqual([
      ['region=EU', 'accuracy', 0.85],
      ['region=US', 'accuracy', 0.7],
    ]);
    // A newer labelled window replaces every older one's segments; an older one is ignored,
    // and so is a record without labels.
    metrics.recordSegmentPerformance(perf(120_000, 'region=US', 0.6));
    metrics.recordSegmentPerformance(perf(60_000, 'region=EU', 0.1));
    metrics.recordSegmentPerformance(perf(180_000, 'region=EU', 0.2, 0));
    expect(await shown()).toEqual([['region=US', 'accuracy', 0.6]]);
    expect(
      (await registry.getMetricsAsJSON()).find((m) => m.name === 'driftd_model_performance')
        ?.values,
    ).toEqual([]);
    metrics.forgetVersion('m', '1');
    expect(await shown()).toEqual([]);
  });
});
