/**
 * The performance verdict on /metrics: driftd_model_performance_degraded and the count of
 * consecutive degraded windows that DriftdPerformanceDegraded pages on, and the Kafka
 * consumer's readiness gauge.
 */
import { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { createMetrics, METRIC } from '../../../src/export/metrics.js';
import type { PerformanceResult } from '../../../src/types.js';
import { judgePerformance } from '../../../src/window/performance-verdict.js';
import { testModel } from '../../helpers/model.js';

const MIN = 60_000;
const model = testModel(); // alerts: roc_auc and brier { dropFromBaseline: 0.05 }
const baseline: Record<string, number> = { roc_auc: 0.8, brier: 0.2 };

function setup(withBaseline = true) {
  const registry = new Registry();
  const metrics = createMetrics(registry, {
    version: 'test',
    judgePerformance: (p) => judgePerformance(p, model, withBaseline ? baseline : undefined),
  });
  const value = async (name: string, labels: Record<string, string>) => {
    const m = registry.getSingleMetric(name);
    const values = (await m?.get())?.values ?? [];
    return values.find((v) => Object.entries(labels).every(([k, x]) => v.labels[k] === x))?.value;
  };
  return { registry, metrics, value };
}

function perf(
  i: number,
  auc: number,
  opts: { coverage?: number; version?: string } = {},
): PerformanceResult {
  return {
    model: model.id,
    version: opts.version ?? '3',
    size: 5 * MIN,
    sizeLabel: '5m',
    start: i * 5 * MIN,
    end: (i + 1) * 5 * MIN,
    labeled: 100,
    coverage: opts.coverage ?? 0.5,
    metrics: { roc_auc: auc, brier: 0.2 },
    computedAt: 0,
  };
}

const auc = { model: model.id, version: '3', window: '5m', metric: 'roc_auc' };

describe('performance verdict gauges', () => {
  it('counts consecutive degraded windows; a good window resets the count', async () => {
    const { metrics, value } = setup();
    metrics.recordPerformance(perf(0, 0.7));
    expect(await value(METRIC.performanceDegraded, auc)).toBe(1);
    expect(await value(METRIC.performanceDegradedConsecutive, auc)).toBe(1);
    metrics.recordPerformance(perf(1, 0.72));
    expect(await value(METRIC.performanceDegradedConsecutive, auc)).toBe(2);
    // brier at its baseline: never degraded.
    expect(await value(METRIC.performanceDegraded, { ...auc, metric: 'brier' })).toBe(0);
    metrics.recordPerformance(perf(2, 0.8));
    expect(await value(METRIC.performanceDegraded, auc)).toBe(0);
    expect(await value(METRIC.performanceDegradedConsecutive, auc)).toBe(0);
    metrics.recordPerformance(perf(3, 0.6));
    expect(await value(METRIC.performanceDegradedConsecutive, auc)).toBe(1);
  });

  it('a model at its baseline AUC is never degraded', async () => {
    const { metrics, value } = setup();
    for (let i = 0; i < 10; i++) metrics.recordPerformance(perf(i, 0.8));
    expect(await value(METRIC.performanceDegraded, auc)).toBe(0);
    expect(await value(METRIC.performanceDegradedConsecutive, auc)).toBe(0);
  });

  it('a recompute of the latest window (more labels) replaces its verdict, not adds to it', async () => {
    const { metrics, value } = setup();
    metrics.recordPerformance(perf(0, 0.7));
    metrics.recordPerformance(perf(1, 0.7));
    metrics.recordPerformance(perf(1, 0.7));
    expect(await value(METRIC.performanceDegradedConsecutive, auc)).toBe(2);
    metrics.recordPerformance(perf(1, 0.79));
    expect(await value(METRIC.performanceDegradedConsecutive, auc)).toBe(0);
    // Labels for an older window do not move the latest verdict.
    metrics.recordPerformance(perf(0, 0.1));
    expect(await value(METRIC.performanceDegraded, auc)).toBe(0);
  });

  it('a window without a verdict (too few labels, or no labelled record: a gap) neither extends nor breaks the run, as for drift', async () => {
    const { metrics, value } = setup();
    metrics.recordPerformance(perf(0, 0.7));
    metrics.recordPerformance(perf(2, 0.7));
    expect(await value(METRIC.performanceDegradedConsecutive, auc)).toBe(2);
    metrics.recordPerformance(perf(3, 0.7, { coverage: 0.01 }));
    expect(await value(METRIC.performanceDegraded, auc)).toBeUndefined();
    expect(await value(METRIC.performanceDegradedConsecutive, auc)).toBe(2);
    metrics.recordPerformance(perf(4, 0.7));
    expect(await value(METRIC.performanceDegradedConsecutive, auc)).toBe(3);
    metrics.recordPerformance(perf(6, 0.79));
    expect(await value(METRIC.performanceDegradedConsecutive, auc)).toBe(0);
  });

  it('without baseline performance a relative threshold exports no verdict', async () => {
    const { metrics, value } = setup(false);
    metrics.recordPerformance(perf(0, 0.1));
    expect(await value(METRIC.modelPerformance, auc)).toBe(0.1);
    expect(await value(METRIC.performanceDegraded, auc)).toBeUndefined();
    expect(await value(METRIC.performanceDegradedConsecutive, auc)).toBe(0);
  });

  it('replaying the last K results in order restores the count (startup restore)', async () => {
    const { metrics, value } = setup();
    metrics.recordPerformance(perf(7, 0.6));
    metrics.recordPerformance(perf(8, 0.6));
    expect(await value(METRIC.performanceDegradedConsecutive, auc)).toBe(2);
  });

  it('forgetVersion removes the verdict series of a retired version; its run goes on if its windows come back', async () => {
    const { metrics, value } = setup();
    metrics.recordPerformance(perf(0, 0.6));
    metrics.forgetVersion(model.id, '3');
    expect(await value(METRIC.performanceDegraded, auc)).toBeUndefined();
    // E.g. the last window its retirement closed, written after it: counted on, as a restart
    // would (the run is dropped once a newer version displaces it, see metrics-series.test.ts).
    metrics.recordPerformance(perf(1, 0.6));
    expect(await value(METRIC.performanceDegradedConsecutive, auc)).toBe(2);
  });
});

describe('driftd_kafka_consumer_ready', () => {
  it('is absent without Kafka, and reads the consumer state at each scrape', async () => {
    const { registry, metrics } = setup();
    expect(await registry.metrics()).not.toContain(METRIC.kafkaConsumerReady);
    let ready = false;
    metrics.setKafkaReadiness(() => ready);
    expect(await registry.metrics()).toContain(`${METRIC.kafkaConsumerReady} 0`);
    ready = true;
    expect(await registry.metrics()).toContain(`${METRIC.kafkaConsumerReady} 1`);
    metrics.setKafkaReadiness(null);
    expect(await registry.metrics()).not.toContain(METRIC.kafkaConsumerReady);
  });
});
