import { describe, expect, it } from 'vitest';
import type { FairnessConfig } from '../../../src/config/types.js';
import type { WindowBounds } from '../../../src/types.js';
import {
  createWindowFairness,
  createWindowState,
  evaluateWindowFairness,
  isSelected,
} from '../../../src/window/index.js';
import { testModel } from '../../helpers/model.js';
import { makeBaseline, makeEvents, makeRows } from './fixtures.js';

const FAIRNESS: FairnessConfig = {
  attributes: [
    { kind: 'categorical', field: 'region', groups: ['EU', 'US'], reference: 'EU' },
    { kind: 'numeric', field: 'age', edges: [30, 50], reference: '[30,50)' },
  ],
  confidence: 0.95,
  minGroupSize: 30,
  ratioBounds: { min: 0.8, max: 1.25 },
  maxEqualizedOddsDifference: 0.1,
  verdict: 'significant',
};

const model = testModel({
  fairness: FAIRNESS,
  label: { field: 'label', positive: 1, threshold: 0.3 },
});
const baseline = makeBaseline(model, '3');
const BOUNDS: WindowBounds = {
  model: 'credit-risk',
  version: '3',
  size: 300_000,
  sizeLabel: '5m',
  start: 600_000,
  end: 900_000,
};

function events(n: number, seed: number) {
  return makeEvents(model, '3', makeRows(n, seed), (i) => 600_000 + i);
}

describe('window fairness counts (src/window/fairness.ts)', () => {
  it('counts every prediction per group of each protected attribute as the window records it', () => {
    const state = createWindowState({ bounds: BOUNDS, model, baseline });
    const evs = events(2000, 7);
    for (const e of evs) state.record(e);
    const snap = state.snapshot().fairness;
    expect(snap).toBeDefined();
    const region = snap?.region?.groups;
    const expected = { EU: 0, US: 0, other: 0, missing: 0 };
    const selected = { EU: 0, US: 0, other: 0, missing: 0 };
    for (const e of evs) {
      const g =
        e.features.region === 'EU' || e.features.region === 'US' ? e.features.region : 'other';
      expected[g]++;
      if ((e.prediction as number) >= 0.3) selected[g]++;
    }
    for (const g of ['EU', 'US', 'other', 'missing'] as const) {
      expect(region?.[g]?.predictions).toBe(expected[g]);
      expect(region?.[g]?.selected).toBe(selected[g]);
      expect(region?.[g]?.tp).toBe(0);
    }
    const age = snap?.age?.groups ?? {};
    expect(Object.keys(age)).toEqual(['<30', '[30,50)', '>=50', 'other', 'missing']);
    expect(Object.values(age).reduce((s, c) => s + c.predictions, 0)).toBe(2000);
  });

  it('two partial windows merge into the counts one instance builds (several instances, one answer)', () => {
    const evs = events(3000, 11);
    const whole = createWindowState({ bounds: BOUNDS, model, baseline });
    const a = createWindowState({ bounds: BOUNDS, model, baseline });
    const b = createWindowState({ bounds: BOUNDS, model, baseline });
    evs.forEach((e, i) => {
      whole.record(e);
      (i % 3 === 0 ? a : b).record(e);
    });
    a.merge(b.snapshot());
    expect(a.snapshot().fairness).toEqual(whole.snapshot().fairness);
    const restored = createWindowState({ bounds: BOUNDS, model, baseline }, whole.snapshot());
    expect(restored.snapshot().fairness).toEqual(whole.snapshot().fairness);
  });

  it('a snapshot without fairness (taken before it was configured) restores with zero counts', () => {
    const plain = testModel();
    const old = createWindowState({ bounds: BOUNDS, model: plain, baseline });
    for (const e of events(100, 3)) old.record(e);
    expect(old.snapshot().fairness).toBeUndefined();
    const restored = createWindowState({ bounds: BOUNDS, model, baseline }, old.snapshot());
    expect(restored.count).toBe(100);
    expect(restored.snapshot().fairness?.region?.groups.EU?.predictions).toBe(0);
    // Changed groups: that attribute restarts instead of failing the restore.
    const regrouped = testModel({
      fairness: {
        ...FAIRNESS,
        attributes: [{ kind: 'categorical', field: 'region', groups: ['EU'], reference: 'EU' }],
      },
    });
    const again = createWindowState(
      { bounds: BOUNDS, model: regrouped, baseline },
      restored.snapshot(),
    );
    expect(again.snapshot().fairness?.region?.groups.EU?.predictions).toBe(0);
  });

  it('labelled outcomes give TPR/FPR; the evaluation uses the configured reference and thresholds', () => {
    const w = createWindowFairness(model);
    if (w === null) throw new Error('fairness configured');
    // EU selects half its positives, US all of them: US TPR ratio 2, a disparity.
    for (let i = 0; i < 200; i++) {
      const region = i % 2 === 0 ? 'EU' : 'US';
      const label = i % 4 < 2 ? 1 : 0;
      const prediction = region === 'US' || i % 8 < 4 ? 0.9 : 0.1;
      const features = { region, age: 40 };
      w.record(features, prediction);
      w.recordOutcome(features, prediction, label);
    }
    const result = evaluateWindowFairness(model, w.snapshot());
    const us = result.region?.groups.find((g) => g.group === 'US');
    expect(result.region?.reference).toBe('EU');
    expect(us?.ratios['true-positive-rate'].value).toBeCloseTo(2, 12);
    expect(us?.verdict).toBe('disparity');
    expect(result.age?.groups.map((g) => g.group)).toEqual(['[30,50)']);
  });

  it('stays bounded by configuration whatever values producers send', () => {
    const w = createWindowFairness(model);
    const hostile: unknown[] = [Number.NaN, -0, 1e308, '', 'EU ', {}, [], true, '\u0000'];
    for (let i = 0; i < 100_000; i++) {
      const v = i < hostile.length ? hostile[i] : `value-${i}`;
      w?.record({ region: v as string, age: (i % 2 === 0 ? v : i) as number }, 0.9);
    }
    const snap = w?.snapshot();
    expect(Object.keys(snap?.region?.groups ?? {})).toEqual(['EU', 'US', 'other', 'missing']);
    expect(Object.keys(snap?.age?.groups ?? {})).toEqual([
      '<30',
      '[30,50)',
      '>=50',
      'other',
      'missing',
    ]);
    expect(snap?.region?.groups.other?.predictions).toBe(100_000 - 1);
    expect(snap?.region?.groups.missing?.predictions).toBe(1);
  });

  it('selection follows the performance rule: score >= label.threshold, or the positive class', () => {
    expect(isSelected(model, 0.3)).toBe(true);
    expect(isSelected(model, 0.2999)).toBe(false);
    expect(isSelected(model, 1.5)).toBeUndefined();
    expect(isSelected(model, null)).toBeUndefined();
    expect(isSelected(model, '1')).toBe(true);
    expect(isSelected(model, 'no')).toBe(false);
    expect(createWindowFairness(testModel())).toBeNull();
    // An unscorable prediction is not counted at all.
    const w = createWindowFairness(model);
    w?.record({ region: 'EU' }, null);
    expect(w?.snapshot().region?.groups.EU?.predictions).toBe(0);
  });
});
