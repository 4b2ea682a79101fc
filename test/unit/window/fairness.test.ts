import { describe, expect, it } from 'vitest';
import type { FairnessConfig } from '../../../src/config/types.js';
import {
  countStoredOutcomes,
  evaluateWindowFairness,
  isSelected,
  type StoredOutcomes,
  storedOutcomeQuery,
} from '../../../src/window/index.js';
import { testModel } from '../../helpers/model.js';

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

const row = (
  group: string,
  selected: boolean | null,
  positive: boolean | null,
  count: number,
): StoredOutcomes => ({ group, selected, positive, count });

describe('window fairness from stored outcomes (src/window/fairness.ts)', () => {
  it('counts predictions, selections and outcomes per group; unscorable predictions not at all', () => {
    const c = countStoredOutcomes(model, 'region', [
      row('EU', true, true, 10),
      row('EU', true, false, 4),
      row('EU', false, true, 3),
      row('EU', false, false, 20),
      row('EU', true, null, 5),
      row('EU', null, true, 99),
      row('other', false, null, 7),
    ]);
    expect(c.groups.EU).toEqual({ predictions: 42, selected: 19, tp: 10, fp: 4, fn: 3, tn: 20 });
    expect(c.groups.other).toEqual({ predictions: 7, selected: 0, tp: 0, fp: 0, fn: 0, tn: 0 });
    expect(Object.keys(c.groups)).toEqual(['EU', 'US', 'other', 'missing']);
  });

  it('refuses rows of unknown groups, unknown attributes and counts that are not integers', () => {
    expect(() => countStoredOutcomes(model, 'region', [row('APAC', true, true, 1)])).toThrow(
      /unknown group "APAC"/,
    );
    expect(() => countStoredOutcomes(model, 'income', [])).toThrow(
      /"income" is not a protected attribute/,
    );
    expect(() => countStoredOutcomes(model, 'region', [row('EU', true, true, 1.5)])).toThrow(
      /non-negative integer/,
    );
  });

  it('evaluates with the configured reference and thresholds', () => {
    // EU selects half its positives, US all of them: US TPR ratio 2, a disparity.
    const region = countStoredOutcomes(model, 'region', [
      row('EU', true, true, 50),
      row('EU', false, true, 50),
      row('EU', false, false, 100),
      row('US', true, true, 100),
      row('US', false, false, 100),
    ]);
    const age = countStoredOutcomes(model, 'age', [row('[30,50)', true, true, 40)]);
    const result = evaluateWindowFairness(model, { region, age });
    const us = result.region?.groups.find((g) => g.group === 'US');
    expect(result.region?.reference).toBe('EU');
    expect(us?.ratios['true-positive-rate'].value).toBeCloseTo(2, 12);
    expect(us?.verdict).toBe('disparity');
    expect(result.age?.groups.map((g) => g.group)).toEqual(['[30,50)']);
    // An attribute without counts is left out.
    expect(Object.keys(evaluateWindowFairness(model, { region }))).toEqual(['region']);
  });

  it('asks the store for at most groups × 3 × 3 rows, with the model rules', () => {
    expect(storedOutcomeQuery(model, FAIRNESS.attributes[1]!)).toEqual({
      field: 'age',
      attribute: FAIRNESS.attributes[1],
      threshold: 0.3,
      positive: '1',
      limit: 5 * 9,
    });
  });

  it('selection follows the performance rule: score >= label.threshold, or the positive class', () => {
    expect(isSelected(model, 0.3)).toBe(true);
    expect(isSelected(model, 0.2999)).toBe(false);
    expect(isSelected(model, 1.5)).toBeUndefined();
    expect(isSelected(model, null)).toBeUndefined();
    expect(isSelected(model, '1')).toBe(true);
    expect(isSelected(model, 'no')).toBe(false);
  });
});
