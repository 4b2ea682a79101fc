import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { InvalidInputError } from '../../../src/errors.js';
import { benjaminiHochberg } from '../../../src/stats/multiple-testing.js';

// Reference values: scripts/fixtures/gen_exact.py (SciPy 1.17.1 false_discovery_control).
interface BhCase {
  name: string;
  p: number[];
  alpha: number;
  adjusted: number[];
  rejected: boolean[];
}
const fixtures = JSON.parse(
  readFileSync(new URL('../../fixtures/stats-exact.json', import.meta.url), 'utf8'),
) as { benjaminiHochberg: BhCase[] };

describe("benjaminiHochberg matches scipy.stats.false_discovery_control(p, method='bh')", () => {
  for (const c of fixtures.benjaminiHochberg) {
    it(`${c.name}: same adjusted p-values (1e-12 relative) and rejections at alpha ${c.alpha}`, () => {
      const result = benjaminiHochberg(c.p, c.alpha);
      expect(result.adjusted).toHaveLength(c.p.length);
      result.adjusted.forEach((a, i) => {
        const e = c.adjusted[i]!;
        expect(Math.abs(a - e)).toBeLessThanOrEqual(1e-12 * e);
      });
      expect(result.rejected).toEqual(c.rejected);
    });
  }

  it('defaults alpha to 0.05', () => {
    expect(benjaminiHochberg([0.01, 0.04, 0.2]).rejected).toEqual([true, false, false]);
    expect(benjaminiHochberg([0.01, 0.04, 0.2], 0.1).rejected).toEqual([true, true, false]);
  });

  it('returns empty results for an empty list', () => {
    expect(benjaminiHochberg([])).toEqual({ rejected: [], adjusted: [] });
  });

  it('adjusted p-values are at least the raw ones, at most 1, and monotone in the raw order', () => {
    const p = [0.3, 0.001, 0.02, 0.9, 0.02, 0.04, 0.5];
    const { adjusted } = benjaminiHochberg(p);
    const order = p.map((_, i) => i).sort((a, b) => p[a]! - p[b]!);
    for (let r = 0; r < p.length; r++) {
      const i = order[r]!;
      expect(adjusted[i]!).toBeGreaterThanOrEqual(p[i]!);
      expect(adjusted[i]!).toBeLessThanOrEqual(1);
      if (r > 0) expect(adjusted[i]!).toBeGreaterThanOrEqual(adjusted[order[r - 1]!]!);
    }
  });
});

describe('benjaminiHochberg rejects bad input with InvalidInputError', () => {
  const cases: [string, () => unknown, RegExp][] = [
    [
      'p-value above 1',
      () => benjaminiHochberg([0.1, 1.2]),
      /pValues\[1\] must be a number in \[0, 1\], got 1.2/,
    ],
    [
      'negative p-value',
      () => benjaminiHochberg([-0.1]),
      /pValues\[0\] must be a number in \[0, 1\]/,
    ],
    ['NaN p-value', () => benjaminiHochberg([0.2, Number.NaN]), /pValues\[1\] .* got NaN/],
    ['alpha of 0', () => benjaminiHochberg([0.2], 0), /alpha must be in \(0, 1\]/],
    ['alpha above 1', () => benjaminiHochberg([0.2], 1.5), /alpha must be in \(0, 1\]/],
    ['not an array', () => benjaminiHochberg('0.1' as unknown as number[]), /must be an array/],
  ];
  for (const [name, call, message] of cases) {
    it(name, () => {
      expect(call).toThrow(InvalidInputError);
      expect(call).toThrow(message);
    });
  }
});
