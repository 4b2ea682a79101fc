import { describe, expect, it } from 'vitest';
import { InvalidInputError } from '../../../src/errors.js';
import { chooseTest } from '../../../src/stats/test-choice.js';
import type { TestChoice, TestChoiceInput } from '../../../src/stats/types.js';

const KS: TestChoice = { test: 'ks', threshold: 0.05, kind: 'p-value' };
const CHI2: TestChoice = { test: 'chi-square', threshold: 0.05, kind: 'p-value' };
const WASSERSTEIN: TestChoice = { test: 'wasserstein', threshold: 0.1, kind: 'distance' };
const JS: TestChoice = { test: 'jensen-shannon', threshold: 0.1, kind: 'distance' };

// Evidently's DataDriftPreset defaults, except binary → chi-square (no z-test in driftd).
const table: Array<[string, TestChoiceInput, TestChoice]> = [
  [
    'small numeric, continuous',
    { type: 'numeric', referenceSize: 1000, currentSize: 50, distinctValues: 900 },
    KS,
  ],
  [
    'small numeric, 6 distinct',
    { type: 'numeric', referenceSize: 200, currentSize: 200, distinctValues: 6 },
    KS,
  ],
  [
    'small numeric, 5 distinct',
    { type: 'numeric', referenceSize: 200, currentSize: 200, distinctValues: 5 },
    CHI2,
  ],
  [
    'small numeric, binary',
    { type: 'numeric', referenceSize: 200, currentSize: 200, distinctValues: 2 },
    CHI2,
  ],
  ['small numeric, distinct unknown', { type: 'numeric', referenceSize: 10, currentSize: 0 }, KS],
  [
    'small categorical',
    { type: 'categorical', referenceSize: 1000, currentSize: 10, distinctValues: 40 },
    CHI2,
  ],
  [
    'small categorical, binary',
    { type: 'categorical', referenceSize: 1, currentSize: 1, distinctValues: 1 },
    CHI2,
  ],
  [
    'large numeric, continuous',
    { type: 'numeric', referenceSize: 1001, currentSize: 10, distinctValues: 1001 },
    WASSERSTEIN,
  ],
  [
    'large numeric, distinct unknown',
    { type: 'numeric', referenceSize: 1_000_000, currentSize: 5_000_000 },
    WASSERSTEIN,
  ],
  [
    'large numeric, 5 distinct',
    { type: 'numeric', referenceSize: 5000, currentSize: 100, distinctValues: 5 },
    JS,
  ],
  [
    'large categorical',
    { type: 'categorical', referenceSize: 1001, currentSize: 3, distinctValues: 300 },
    JS,
  ],
  [
    'large categorical, distinct unknown',
    { type: 'categorical', referenceSize: 50_000, currentSize: 50_000 },
    JS,
  ],
];

describe('chooseTest', () => {
  it.each(table)('%s', (_name, input, expected) => {
    expect(chooseTest(input)).toEqual(expected);
  });

  it('does not depend on the current window size', () => {
    for (const [, input] of table) {
      const a = chooseTest({ ...input, currentSize: 0 });
      const b = chooseTest({ ...input, currentSize: 10_000_000 });
      expect(a).toEqual(b);
    }
  });

  it.each([
    ['an unknown type', { type: 'text', referenceSize: 10, currentSize: 1 }, /type must be/],
    ['an empty reference', { type: 'numeric', referenceSize: 0, currentSize: 1 }, /referenceSize/],
    [
      'a fractional size',
      { type: 'numeric', referenceSize: 10.5, currentSize: 1 },
      /referenceSize/,
    ],
    [
      'a negative current size',
      { type: 'numeric', referenceSize: 10, currentSize: -1 },
      /currentSize/,
    ],
    ['a NaN size', { type: 'numeric', referenceSize: Number.NaN, currentSize: 1 }, /referenceSize/],
    [
      'zero distinct values',
      { type: 'numeric', referenceSize: 10, currentSize: 1, distinctValues: 0 },
      /distinctValues/,
    ],
    [
      'more distinct values than rows',
      { type: 'categorical', referenceSize: 10, currentSize: 1, distinctValues: 11 },
      /distinctValues/,
    ],
  ])('rejects %s', (_name, input, message) => {
    expect(() => chooseTest(input as TestChoiceInput)).toThrow(InvalidInputError);
    expect(() => chooseTest(input as TestChoiceInput)).toThrow(message);
  });
});
