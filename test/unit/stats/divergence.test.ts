import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { InvalidInputError } from '../../../src/errors.js';
import { jensenShannonDistance, wassersteinDistance } from '../../../src/stats/divergence.js';

// Reference values: scripts/fixtures/gen_exact.py (SciPy 1.17.1).
interface JsCase {
  name: string;
  p: number[];
  q: number[];
  /** base 2 */
  distance: number;
  /** SciPy's default base e */
  distanceNatural: number;
}
interface WCase {
  name: string;
  u: number[];
  v: number[];
  distance: number;
  normalized: number | null;
  uStd: number;
}
const fixtures = JSON.parse(
  readFileSync(new URL('../../fixtures/stats-exact.json', import.meta.url), 'utf8'),
) as { jensenShannon: JsCase[]; wasserstein: WCase[] };

function expectClose(actual: number, expected: number, rel: number, abs = 0): void {
  const err = Math.abs(actual - expected);
  if (err <= abs || err <= rel * Math.abs(expected)) return;
  expect.fail(
    `got ${actual}, SciPy ${expected}: relative error ${(err / Math.abs(expected)).toExponential(2)} > ${rel}`,
  );
}

describe('jensenShannonDistance matches scipy.spatial.distance.jensenshannon(p, q[, base])', () => {
  for (const c of fixtures.jensenShannon) {
    it(`${c.name}: same distance in base e (the default) and base 2 (1e-9 relative, 1e-12 absolute near 0)`, () => {
      expectClose(jensenShannonDistance(c.p, c.q), c.distanceNatural, 1e-9, 1e-12);
      expectClose(jensenShannonDistance(c.p, c.q, { base: 2 }), c.distance, 1e-9, 1e-12);
    });
  }

  it('defaults to natural logarithms, the scale of Evidently and of the 0.1 threshold', () => {
    // Disjoint supports: √ln 2 in base e (SciPy's default), 1 in base 2.
    expectClose(jensenShannonDistance([1, 0], [0, 1]), Math.sqrt(Math.LN2), 1e-15);
    const c = fixtures.jensenShannon.find((x) => x.name === 'counts')!;
    expectClose(c.distance / c.distanceNatural, 1 / Math.sqrt(Math.LN2), 1e-12);
    expect(() => jensenShannonDistance([1], [1], { base: 1 })).toThrow(/base/);
  });

  it('is 0 for identical histograms, 1 for disjoint ones in base 2, and symmetric', () => {
    expect(jensenShannonDistance([1, 2, 3], [1, 2, 3])).toBe(0);
    expectClose(jensenShannonDistance([1, 0], [0, 1], { base: 2 }), 1, 1e-15);
    expect(jensenShannonDistance([1, 5, 2], [3, 1, 1])).toBe(
      jensenShannonDistance([3, 1, 1], [1, 5, 2]),
    );
  });

  it('accepts typed arrays', () => {
    expect(
      jensenShannonDistance(new Float64Array([1, 2]), new Uint32Array([2, 1])),
    ).toBeGreaterThan(0);
  });
});

describe('jensenShannonDistance rejects bad input with InvalidInputError', () => {
  const cases: [string, ArrayLike<number>, ArrayLike<number>, RegExp][] = [
    ['empty p', [], [1], /jensenShannonDistance: p is empty/],
    ['different lengths', [1, 2], [1, 2, 3], /p has 2 bins but q has 3/],
    ['negative entry', [1, -2], [1, 2], /p contains a negative value \(-2\) at index 1/],
    ['NaN entry', [1, 2], [Number.NaN, 2], /q contains NaN at index 0/],
    ['infinite entry', [Number.POSITIVE_INFINITY, 2], [1, 2], /p contains Infinity at index 0/],
    ['all-zero histogram', [0, 0], [1, 2], /p sums to 0/],
  ];
  for (const [name, p, q, message] of cases) {
    it(name, () => {
      expect(() => jensenShannonDistance(p, q)).toThrow(InvalidInputError);
      expect(() => jensenShannonDistance(p, q)).toThrow(message);
    });
  }
});

describe('wassersteinDistance matches scipy.stats.wasserstein_distance(u, v)', () => {
  for (const c of fixtures.wasserstein) {
    it(`${c.name}: same distance, and divided by np.std(u) (ddof=0) when normalized`, () => {
      expectClose(wassersteinDistance(c.u, c.v), c.distance, 1e-9, 1e-12);
      if (c.normalized !== null) {
        expectClose(wassersteinDistance(c.u, c.v, { normalize: true }), c.normalized, 1e-9, 1e-12);
      }
    });
  }

  it('is symmetric and translation-covariant: W(u, u + c) = |c|', () => {
    const u = [0.5, 2, 3.25, 7];
    expectClose(wassersteinDistance(u, [1, 9, 2]), wassersteinDistance([1, 9, 2], u), 1e-15);
    expectClose(
      wassersteinDistance(
        u,
        u.map((x) => x + 1.5),
      ),
      1.5,
      1e-14,
    );
  });

  it('normalizes by the reference (u) spread, not the current one', () => {
    const u = [0, 2]; // population std 1
    expectClose(wassersteinDistance(u, [10, 12], { normalize: true }), 10, 1e-15);
  });
});

describe('wassersteinDistance rejects bad input with InvalidInputError', () => {
  const cases: [string, () => unknown, RegExp][] = [
    ['empty u', () => wassersteinDistance([], [1]), /wassersteinDistance: u is empty/],
    ['empty v', () => wassersteinDistance([1], []), /wassersteinDistance: v is empty/],
    ['NaN in v', () => wassersteinDistance([1], [2, Number.NaN]), /v contains NaN at index 1/],
    [
      '-Infinity in u',
      () => wassersteinDistance([Number.NEGATIVE_INFINITY], [1]),
      /u contains -Infinity at index 0/,
    ],
    [
      'normalizing by a constant reference',
      () => wassersteinDistance([3, 3, 3], [1, 2], { normalize: true }),
      /cannot normalize, u has zero standard deviation/,
    ],
  ];
  for (const [name, call, message] of cases) {
    it(name, () => {
      expect(call).toThrow(InvalidInputError);
      expect(call).toThrow(message);
    });
  }
});
