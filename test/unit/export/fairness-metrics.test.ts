/**
 * Fairness gauges of a window (src/export/metrics.ts): ratios, disparity flags, sample sizes
 * and equalised odds per protected group; a newer window's groups replace the older one's
 * series, and an older window recomputed late (labels) does not overwrite a newer one.
 */
import { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { createMetrics } from '../../../src/export/metrics.js';
import { createFairnessCounts, evaluateFairness } from '../../../src/stats/index.js';
import type { WindowBounds } from '../../../src/types.js';

function window(start: number): WindowBounds {
  return { model: 'm', version: '1', size: 60_000, sizeLabel: '1m', start, end: start + 60_000 };
}

/** 100 predictions per listed group, `rate` of them selected, all labelled. */
function result(rates: Record<string, number>) {
  const c = createFairnessCounts(Object.keys(rates));
  for (const [g, rate] of Object.entries(rates)) {
    for (let i = 0; i < 100; i++) {
      const selected = i < rate * 100;
      c.recordPrediction(g, selected);
      c.recordOutcome(g, selected, (i % 2) as 0 | 1);
    }
  }
  return evaluateFairness(c, { reference: 'male' });
}

async function series(registry: Registry, name: string) {
  const metric = (await registry.getMetricsAsJSON()).find((m) => m.name === name);
  return (metric?.values ?? []).map((v) => [v.labels, v.value] as const);
}

describe('fairness gauges', () => {
  it('name the group, replace an older window and ignore a late recompute of one', async () => {
    const registry = new Registry();
    const metrics = createMetrics(registry, { version: 'test' });
    metrics.recordFairness(window(60_000), { sex: result({ male: 0.6, female: 0.2, other: 0.6 }) });
    const flags = await series(registry, 'driftd_fairness_disparity_detected');
    expect(flags.map(([l, v]) => [l.group, v])).toEqual([
      ['male', 0],
      ['female', 1],
      ['other', 0],
    ]);
    const ratio = (await series(registry, 'driftd_fairness_ratio')).find(
      ([l]) => l.group === 'female' && l.metric === 'selection_rate',
    );
    expect(ratio?.[1]).toBeCloseTo(1 / 3, 12);
    expect(ratio?.[0]).toMatchObject({ model: 'm', version: '1', window: '1m', attribute: 'sex' });

    // The next window has no "other" group: its series goes.
    metrics.recordFairness(window(120_000), { sex: result({ male: 0.6, female: 0.6 }) });
    expect(
      (await series(registry, 'driftd_fairness_disparity_detected')).map(([l]) => l.group),
    ).toEqual(['male', 'female']);
    // Labels arrive for the first window: its recompute must not overwrite the newer window.
    metrics.recordFairness(window(60_000), { sex: result({ male: 0.6, female: 0.2, other: 0.6 }) });
    expect(
      (await series(registry, 'driftd_fairness_disparity_detected')).map(([l, v]) => [l.group, v]),
    ).toEqual([
      ['male', 0],
      ['female', 0],
    ]);
    metrics.forgetVersion('m', '1');
    await new Promise((r) => setTimeout(r, 0));
    expect(await series(registry, 'driftd_fairness_group_predictions')).toEqual([]);
  });

  it('count consecutive disparity windows per group: late labels rewrite a window, a seed continues a run', async () => {
    const registry = new Registry();
    const metrics = createMetrics(registry, { version: 'test' });
    const count = async (group: string) =>
      (await series(registry, 'driftd_fairness_disparity_consecutive_windows')).find(
        ([l]) => l.group === group,
      )?.[1];
    const biased = () => ({ sex: result({ male: 0.6, female: 0.2 }) });
    const fair = () => ({ sex: result({ male: 0.6, female: 0.6 }) });
    metrics.recordFairness(window(60_000), biased());
    expect(await count('female')).toBe(1);
    metrics.recordFairness(window(120_000), biased());
    expect(await count('female')).toBe(2);
    // The reference group never has a verdict.
    expect(await count('male')).toBe(0);
    // Labels for window 1 recompute it fair: the run is broken there (1 left: window 2).
    metrics.recordFairness(window(60_000), fair());
    expect(await count('female')).toBe(1);
    // Too few predictions: no verdict, the run neither grows nor ends.
    const few = createFairnessCounts(['male', 'female']);
    for (let i = 0; i < 100; i++) few.recordPrediction('male', i < 60);
    for (let i = 0; i < 5; i++) few.recordPrediction('female', false);
    metrics.recordFairness(window(180_000), {
      sex: evaluateFairness(few, { reference: 'male' }),
    });
    expect(await count('female')).toBe(1);

    // A restarted process: the run seeded from the store continues (src/export/restore.ts).
    const restarted = new Registry();
    const after = createMetrics(restarted, { version: 'test' });
    after.seedFairnessStreak(
      { model: 'm', version: '1', window: '1m', attribute: 'sex', group: 'female' },
      {
        base: 0,
        truncated: false,
        verdicts: [
          { start: 60_000, drifted: true },
          { start: 120_000, drifted: true },
        ],
      },
    );
    after.recordFairness(window(180_000), biased());
    const seeded = (await restarted.getMetricsAsJSON()).find(
      (m) => m.name === 'driftd_fairness_disparity_consecutive_windows',
    );
    expect(seeded?.values.find((v) => v.labels.group === 'female')?.value).toBe(3);
  });
});
