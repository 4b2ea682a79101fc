/**
 * Comparison gauges (src/export/comparison-metrics.ts): the newest comparison of each pair and
 * window size, replaced as a whole; an older window rewritten late (labels) does not overwrite
 * a newer one; traffic shares per version; a retired version's series go.
 */
import { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { createMetrics } from '../../../src/export/metrics.js';
import type { FeatureDrift } from '../../../src/types.js';
import type { VersionComparison } from '../../../src/window/comparison-types.js';

function drift(feature: string, drifted: boolean, insufficient = false): FeatureDrift {
  return { feature, drifted, insufficient, statistic: drifted ? 0.3 : 0.01 } as FeatureDrift;
}

function comparison(start: number, over: Partial<VersionComparison> = {}): VersionComparison {
  return {
    model: 'm',
    champion: '1',
    challenger: '2',
    window: '1m',
    windowStart: start,
    windowEnd: start + 60_000,
    championEvents: 900,
    challengerEvents: 100,
    challengerShare: 0.1,
    features: [drift('income', false), drift('age', true), drift('tiny', false, true)],
    prediction: drift('prediction', true),
    estimated: {
      accuracy: { champion: 0.8, challenger: 0.7, difference: -0.1, standardError: 0.03 },
      roc_auc: { champion: 0.8, challenger: null, difference: null, standardError: null },
    },
    realised: {},
    shadow: null,
    ...over,
  };
}

async function series(registry: Registry, name: string) {
  const metric = (await registry.getMetricsAsJSON()).find((m) => m.name === name);
  return (metric?.values ?? []).map((v) => [v.labels, v.value] as const);
}

describe('comparison gauges', () => {
  it('name the pair; the prediction is feature __prediction__; no series without a value or a verdict', async () => {
    const registry = new Registry();
    const metrics = createMetrics(registry, { version: 'test' });
    metrics.comparison.recordComparison(comparison(60_000));
    const detected = await series(registry, 'driftd_version_comparison_drift_detected');
    expect(detected.map(([l, v]) => [l.champion, l.challenger, l.feature, v])).toEqual([
      ['1', '2', 'income', 0],
      ['1', '2', 'age', 1],
      ['1', '2', '__prediction__', 1],
    ]);
    const diff = await series(registry, 'driftd_version_performance_difference');
    expect(diff.map(([l, v]) => [l.metric, l.source, v])).toEqual([
      ['accuracy', 'estimated', -0.1],
    ]);
    expect(await series(registry, 'driftd_shadow_agreement_ratio')).toEqual([]);
  });

  it('a newer window replaces the series; a late rewrite of an older one does not', async () => {
    const registry = new Registry();
    const metrics = createMetrics(registry, { version: 'test' });
    metrics.comparison.recordComparison(comparison(60_000));
    const newer = comparison(120_000, {
      features: [drift('income', true)],
      prediction: null,
      estimated: {},
      realised: {
        accuracy: { champion: 0.9, challenger: 0.85, difference: -0.05, standardError: null },
      },
      shadow: {
        matched: 10,
        agreement: 0.9,
        scoreDifference: { mean: 0.01, p50: 0.01, p90: 0.05, p99: 0.1, max: 0.2 },
      },
    });
    metrics.comparison.recordComparison(newer);
    const state = async () => ({
      detected: (await series(registry, 'driftd_version_comparison_drift_detected')).map(
        ([l, v]) => [l.feature, v],
      ),
      diff: (await series(registry, 'driftd_version_performance_difference')).map(([l, v]) => [
        l.source,
        v,
      ]),
      agreement: (await series(registry, 'driftd_shadow_agreement_ratio')).map(([, v]) => v),
      quantiles: (await series(registry, 'driftd_shadow_score_difference')).map(([l, v]) => [
        l.quantile,
        v,
      ]),
    });
    const after = await state();
    expect(after).toEqual({
      detected: [['income', 1]],
      diff: [['realised', -0.05]],
      agreement: [0.9],
      quantiles: [
        ['0.5', 0.01],
        ['0.9', 0.05],
        ['0.99', 0.1],
        ['1', 0.2],
      ],
    });
    // Labels of the older window arrive: its rewrite is stored, the gauges stay on the newer.
    metrics.comparison.recordComparison(comparison(60_000));
    expect(await state()).toEqual(after);
  });

  it('traffic share per version, newest span only; a retired version loses its series', async () => {
    const registry = new Registry();
    const metrics = createMetrics(registry, { version: 'test' });
    const share = (version: string, start: number, s: number) =>
      metrics.comparison.recordTrafficShare({ model: 'm', version, window: '1m', start, share: s });
    share('1', 120_000, 0.8);
    share('2', 120_000, 0.2);
    share('2', 60_000, 0.5); // an older span closing late
    metrics.comparison.recordComparison(comparison(120_000));
    expect(
      (await series(registry, 'driftd_version_traffic_share')).map(([l, v]) => [l.version, v]),
    ).toEqual([
      ['1', 0.8],
      ['2', 0.2],
    ]);
    metrics.forgetVersion('m', '2');
    expect(
      (await series(registry, 'driftd_version_traffic_share')).map(([l, v]) => [l.version, v]),
    ).toEqual([['1', 0.8]]);
    expect(await series(registry, 'driftd_version_comparison_drift_detected')).toEqual([]);
    expect(await series(registry, 'driftd_version_performance_difference')).toEqual([]);
  });
});
