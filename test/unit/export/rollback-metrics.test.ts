/**
 * The rollback gauges (Metrics.recordComparison): this window's verdict on the newest window
 * of a pair, the run of consecutive worse windows with the drift runs' rules (a window without
 * a verdict neither extends nor breaks it, a rewrite replaces its verdict), restored by
 * seedStreak after a restart, and removed with a retired version.
 */
import { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { createMetrics, METRIC, rollbackStreakKey } from '../../../src/export/metrics.js';
import { restoreRollbackSignals } from '../../../src/export/restore-rollback.js';
import type { VersionComparison } from '../../../src/window/comparison-types.js';
import { judgeRollback, type RollbackThresholds } from '../../../src/window/rollback.js';
import { comparison, paired, predictionDrift } from '../../helpers/comparison.js';

const W = 300_000;
const T: RollbackThresholds = {
  estimatedDrop: 0.05,
  realisedDrop: 0.05,
  predictionDrift: true,
  metrics: ['roc_auc'],
};

function setup() {
  const registry = new Registry();
  const metrics = createMetrics(registry, {
    version: 'test',
    judgeRollback: (c) => judgeRollback(c, T),
  });
  const value = async (name: string, labels: Record<string, string> = {}) => {
    const m = (await registry.getMetricsAsJSON()).find((x) => x.name === name);
    const hits = (m?.values ?? []).filter((v) =>
      Object.entries(labels).every(([k, x]) => v.labels[k] === x),
    );
    return hits.length === 0 ? undefined : hits.map((h) => h.value);
  };
  return { metrics, value };
}

/** Window k of the pair: worse (AUC −0.2), clean (equal), or without a verdict. */
function window(
  k: number,
  verdict: 'worse' | 'clean' | 'none',
  over: Partial<VersionComparison> = {},
) {
  const estimated: VersionComparison['estimated'] =
    verdict === 'none' ? {} : { roc_auc: paired(0.8, verdict === 'worse' ? 0.6 : 0.8, 0.01) };
  return comparison({ windowStart: k * W, windowEnd: (k + 1) * W, estimated, ...over });
}

const pair = { model: 'credit', champion: '1', challenger: '2', window: '5m' };

describe('Metrics.recordComparison', () => {
  it('sets the signal of the window and counts consecutive worse windows', async () => {
    const { metrics, value } = setup();
    expect(metrics.recordComparison(window(0, 'worse'))?.worse).toBe(true);
    expect(await value(METRIC.rollbackSignal, pair)).toEqual([1]);
    expect(await value(METRIC.rollbackSignalConsecutive, pair)).toEqual([1]);
    metrics.recordComparison(window(1, 'worse'));
    expect(await value(METRIC.rollbackSignalConsecutive, pair)).toEqual([2]);
    // No verdict: the signal is absent, the run neither grows nor ends.
    metrics.recordComparison(window(2, 'none'));
    expect(await value(METRIC.rollbackSignal, pair)).toBeUndefined();
    expect(await value(METRIC.rollbackSignalConsecutive, pair)).toEqual([2]);
    metrics.recordComparison(window(3, 'worse'));
    expect(await value(METRIC.rollbackSignalConsecutive, pair)).toEqual([3]);
    metrics.recordComparison(window(4, 'clean'));
    expect(await value(METRIC.rollbackSignal, pair)).toEqual([0]);
    expect(await value(METRIC.rollbackSignalConsecutive, pair)).toEqual([0]);
  });

  it('a rewrite of a window (labels arrived) replaces its verdict, never counts twice', async () => {
    const { metrics, value } = setup();
    metrics.recordComparison(window(0, 'worse'));
    metrics.recordComparison(window(1, 'worse'));
    metrics.recordComparison(window(1, 'worse'));
    expect(await value(METRIC.rollbackSignalConsecutive, pair)).toEqual([2]);
    // Labels for window 1 clear the challenger: the run ends.
    metrics.recordComparison(window(1, 'clean', { realised: { roc_auc: paired(0.8, 0.81) } }));
    expect(await value(METRIC.rollbackSignalConsecutive, pair)).toEqual([0]);
    expect(await value(METRIC.rollbackSignal, pair)).toEqual([0]);
  });

  it('an older window (late labels) updates the run but not the signal of the newest window', async () => {
    const { metrics, value } = setup();
    metrics.recordComparison(window(0, 'clean'));
    metrics.recordComparison(window(1, 'worse'));
    metrics.recordComparison(window(0, 'worse'));
    expect(await value(METRIC.rollbackSignal, pair)).toEqual([1]);
    expect(await value(METRIC.rollbackSignalConsecutive, pair)).toEqual([2]);
    metrics.recordComparison(window(0, 'clean'));
    expect(await value(METRIC.rollbackSignal, pair)).toEqual([1]);
    expect(await value(METRIC.rollbackSignalConsecutive, pair)).toEqual([1]);
  });

  it('pairs and window sizes are separate series', async () => {
    const { metrics, value } = setup();
    metrics.recordComparison(window(0, 'worse'));
    metrics.recordComparison(window(0, 'clean', { challenger: '3' }));
    metrics.recordComparison(window(0, 'worse', { window: '1h' }));
    expect(await value(METRIC.rollbackSignal, pair)).toEqual([1]);
    expect(await value(METRIC.rollbackSignal, { ...pair, challenger: '3' })).toEqual([0]);
    expect(await value(METRIC.rollbackSignalConsecutive, { ...pair, window: '1h' })).toEqual([1]);
  });

  it('prediction drift between the versions raises the signal', async () => {
    const { metrics, value } = setup();
    metrics.recordComparison(window(0, 'none', { prediction: predictionDrift(true) }));
    expect(await value(METRIC.rollbackSignal, pair)).toEqual([1]);
  });

  it('restart: seeding the pair from stored verdicts continues the run', async () => {
    const { metrics, value } = setup();
    metrics.seedStreak(rollbackStreakKey(pair), {
      base: 0,
      truncated: false,
      verdicts: [
        { start: 0, drifted: true },
        { start: W, drifted: true },
      ],
    });
    metrics.recordComparison(window(2, 'worse'));
    expect(await value(METRIC.rollbackSignalConsecutive, pair)).toEqual([3]);
  });

  it('restart: the stored comparisons, in any order, give the gauges an uninterrupted run has', async () => {
    const live = setup();
    const stored: Array<VersionComparison & { writtenAt: number }> = [];
    const history: Array<[number, 'worse' | 'clean' | 'none']> = [
      [0, 'clean'],
      [1, 'worse'],
      [2, 'worse'],
      [2, 'worse'], // rewritten when labels arrived
      [3, 'none'],
      [4, 'clean'],
      [4, 'worse'], // window 4: the estimate said fine, the labels said worse
    ];
    history.forEach(([k, v], i) => {
      const c = window(k, v);
      live.metrics.recordComparison(c);
      stored.push({ ...c, writtenAt: 1000 + i });
    });
    const restarted = setup();
    restoreRollbackSignals(restarted.metrics, [...stored].reverse());
    for (const name of [METRIC.rollbackSignal, METRIC.rollbackSignalConsecutive]) {
      expect(await restarted.value(name, pair), name).toEqual(await live.value(name, pair));
    }
    expect(await restarted.value(METRIC.rollbackSignalConsecutive, pair)).toEqual([3]);
  });

  it('a retired champion or challenger takes its pair series with it', async () => {
    const { metrics, value } = setup();
    metrics.recordComparison(window(0, 'worse'));
    metrics.recordComparison(window(0, 'worse', { challenger: '3' }));
    metrics.forgetVersion('credit', '2');
    expect(await value(METRIC.rollbackSignal, pair)).toBeUndefined();
    expect(await value(METRIC.rollbackSignalConsecutive, pair)).toBeUndefined();
    expect(await value(METRIC.rollbackSignal, { ...pair, challenger: '3' })).toEqual([1]);
    metrics.forgetVersion('credit', '1');
    expect(await value(METRIC.rollbackSignal)).toBeUndefined();
  });

  it('without a judge there are no rollback series', async () => {
    const registry = new Registry();
    const metrics = createMetrics(registry, { version: 'test' });
    expect(metrics.recordComparison(window(0, 'worse'))).toBeNull();
    const text = await registry.metrics();
    expect(text).not.toMatch(/^driftd_rollback_signal\{/m);
  });
});
