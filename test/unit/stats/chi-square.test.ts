import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { InvalidInputError } from '../../../src/errors.js';
import { chiSquareTest } from '../../../src/stats/chi-square.js';
import {
  chiSquareSurvival,
  logGamma,
  regularizedGammaP,
  regularizedGammaQ,
} from '../../../src/stats/special.js';

// Reference values: scripts/fixtures/gen_exact.py (SciPy 1.17.1).
interface ChiCase {
  name: string;
  ref: number[];
  cur: number[];
  statistic: number;
  pValue: number;
  dof: number;
}
interface Fixtures {
  chiSquare: ChiCase[];
  special: { chi2: [number, number, number][]; gammaln: [number, number][] };
}

const fixtures = JSON.parse(
  readFileSync(new URL('../../fixtures/stats-exact.json', import.meta.url), 'utf8'),
) as Fixtures;

function expectClose(actual: number, expected: number, rel: number, abs = 0): void {
  const err = Math.abs(actual - expected);
  if (err <= abs || err <= rel * Math.abs(expected)) return;
  expect.fail(
    `got ${actual}, SciPy ${expected}: relative error ${(err / Math.abs(expected)).toExponential(2)} > ${rel}`,
  );
}

describe('chiSquareTest matches scipy.stats.chi2_contingency([ref, cur], correction=False)', () => {
  for (const c of fixtures.chiSquare) {
    it(`${c.name}: same statistic, p-value (1e-9 relative) and dof`, () => {
      const result = chiSquareTest(c.ref, c.cur);
      expect(result.dof).toBe(c.dof);
      expectClose(result.statistic, c.statistic, 1e-12, 1e-12);
      expectClose(result.pValue, c.pValue, 1e-9, 1e-300);
    });
  }

  it('drops categories that are empty in both rows (where SciPy would raise) and keeps the rest', () => {
    expect(chiSquareTest([10, 0, 5, 0], [3, 0, 7, 0])).toEqual(chiSquareTest([10, 5], [3, 7]));
  });

  it('returns statistic 0, p-value 1, dof 0 when fewer than 2 categories remain', () => {
    expect(chiSquareTest([5, 0, 0], [3, 0, 0])).toEqual({ statistic: 0, pValue: 1, dof: 0 });
    expect(chiSquareTest([7], [2])).toEqual({ statistic: 0, pValue: 1, dof: 0 });
  });

  it('is symmetric in reference and current', () => {
    const a = chiSquareTest([12, 30, 7, 1], [20, 21, 9, 4]);
    const b = chiSquareTest([20, 21, 9, 4], [12, 30, 7, 1]);
    expectClose(a.statistic, b.statistic, 1e-14);
    expectClose(a.pValue, b.pValue, 1e-12);
  });
});

describe('chiSquareTest rejects bad input with InvalidInputError', () => {
  const cases: [string, ArrayLike<number>, ArrayLike<number>, RegExp][] = [
    ['empty referenceCounts', [], [1], /chiSquareTest: referenceCounts is empty/],
    ['different lengths', [1, 2], [1], /referenceCounts has 2 categories but currentCounts has 1/],
    [
      'negative count',
      [1, 2],
      [1, -3],
      /currentCounts contains a negative count \(-3\) at index 1/,
    ],
    ['NaN count', [Number.NaN, 2], [1, 3], /referenceCounts contains NaN at index 0/],
    [
      'infinite count',
      [1, 2],
      [Number.POSITIVE_INFINITY, 3],
      /currentCounts contains Infinity at index 0/,
    ],
    ['reference row of zeros', [0, 0], [1, 3], /referenceCounts sums to 0/],
    ['current row of zeros', [1, 3], [0, 0], /currentCounts sums to 0/],
  ];
  for (const [name, ref, cur, message] of cases) {
    it(name, () => {
      expect(() => chiSquareTest(ref, cur)).toThrow(InvalidInputError);
      expect(() => chiSquareTest(ref, cur)).toThrow(message);
    });
  }
});

describe('gamma-family special functions match SciPy', () => {
  it('chiSquareSurvival(x, dof) = scipy.stats.chi2.sf(x, dof), dof from 1 to 1e5', () => {
    for (const [x, dof, sf] of fixtures.special.chi2) {
      expectClose(chiSquareSurvival(x, dof), sf, 1e-9, 1e-300);
    }
  });

  it('logGamma(x) = scipy.special.gammaln(x)', () => {
    for (const [x, lg] of fixtures.special.gammaln) expectClose(logGamma(x), lg, 1e-13, 1e-15);
  });

  it('regularized P and Q are complementary', () => {
    for (const [a, x] of [
      [0.5, 0.2],
      [3, 7],
      [40, 35],
      [1000, 1010],
    ] as const) {
      expectClose(regularizedGammaP(a, x) + regularizedGammaQ(a, x), 1, 1e-14);
    }
  });

  it('reject arguments outside their domain', () => {
    expect(() => logGamma(0)).toThrow(InvalidInputError);
    expect(() => regularizedGammaQ(-1, 2)).toThrow(/a must be > 0/);
    expect(() => regularizedGammaQ(1, -2)).toThrow(/x must be >= 0/);
    expect(() => chiSquareSurvival(Number.NaN, 2)).toThrow(/x is NaN/);
    expect(() => chiSquareSurvival(1, 0)).toThrow(/dof must be/);
  });
});
