import { describe, expect, it } from 'vitest';
import { InvalidInputError } from '../../../src/errors.js';
import {
  chiSquareTest,
  createSimulatedNull,
  NULL_SIMULATIONS,
  psi,
} from '../../../src/stats/index.js';
import { multinomial, xorshift128 } from '../../../src/stats/null-distribution.js';

const REF = [120, 80, 200, 50, 50, 300, 100, 40, 40, 20];
const psiNull = () =>
  createSimulatedNull({ referenceCounts: REF, scale: 1, statistic: (r, c) => psi(r, c).value });

describe('multinomial', () => {
  it('draws counts that sum to n with the right means, by conditional binomials', () => {
    const masses = Float64Array.from(REF, (c) => c / 1000);
    const out = new Float64Array(REF.length);
    const sums = new Float64Array(REF.length);
    const random = xorshift128(7);
    for (let s = 0; s < 2000; s++) {
      multinomial(5000, masses, out, random);
      expect(out.reduce((a, b) => a + b, 0)).toBe(5000);
      for (let i = 0; i < out.length; i++) sums[i]! += out[i]!;
    }
    for (let i = 0; i < REF.length; i++) {
      // Mean 5000·p, standard error of the average ≤ √(5000·p)/√2000 ≤ 0.9.
      expect(Math.abs(sums[i]! / 2000 - 5000 * masses[i]!)).toBeLessThan(4);
    }
  });
});

describe('createSimulatedNull', () => {
  it('gives valid p-values: windows drawn from the reference are flagged at most α of the time', () => {
    const nul = psiNull();
    const masses = Float64Array.from(REF, (c) => c / 1000);
    const random = xorshift128(99);
    const cur = new Float64Array(REF.length);
    const ref = Float64Array.from(REF);
    for (const n of [60, 300]) {
      let at5 = 0;
      let at1 = 0;
      let twoSample5 = 0;
      const windows = 2000;
      for (let w = 0; w < windows; w++) {
        multinomial(n, masses, cur, random);
        const stat = psi(ref, cur).value;
        // The reference as the population (N → ∞): n_eff = n, the null is exact.
        const p = nul.pValue(stat, n);
        if (p <= 0.05) at5++;
        if (p <= 0.01) at1++;
        // As the daemon looks it up for a baseline of N = 1000 rows: conservative here.
        if (nul.pValue(stat, (n * 1000) / (n + 1000)) <= 0.05) twoSample5++;
      }
      const se = (a: number) => 3 * Math.sqrt((a * (1 - a)) / windows);
      expect(Math.abs(at5 / windows - 0.05)).toBeLessThan(se(0.05) + 0.01);
      expect(at1 / windows).toBeLessThan(0.01 + se(0.01));
      expect(twoSample5).toBeLessThanOrEqual(at5);
    }
  });

  it('is deterministic, non-increasing in the statistic, and extrapolates past the simulations', () => {
    const a = psiNull();
    const b = psiNull();
    const xs = [0, 0.01, 0.05, 0.1, 0.3, 1, 3];
    const pa = xs.map((x) => a.pValue(x, 200));
    expect(xs.map((x) => b.pValue(x, 200))).toEqual(pa);
    for (let i = 1; i < pa.length; i++) expect(pa[i]!).toBeLessThanOrEqual(pa[i - 1]!);
    expect(pa[0]).toBe(1);
    expect(pa.at(-1)!).toBeLessThan(1 / (NULL_SIMULATIONS + 1));
    expect(pa.at(-1)!).toBeGreaterThan(0);
    expect(a.simulatedSizes.length).toBe(2);
  });

  it('uses the largest simulated size beyond it (scaled statistic)', () => {
    const nul = createSimulatedNull({
      referenceCounts: REF,
      scale: 0,
      statistic: (r, c) => chiSquareTest(r, c).statistic,
    });
    expect(nul.pValue(9, 1e6)).toBe(nul.pValue(9, 5e5));
    expect(Math.max(...nul.simulatedSizes)).toBe(1024);
  });

  it('refuses empty or negative reference counts', () => {
    expect(() =>
      createSimulatedNull({ referenceCounts: [0, 0], scale: 1, statistic: () => 0 }),
    ).toThrow(InvalidInputError);
    expect(() =>
      createSimulatedNull({ referenceCounts: [1, -1], scale: 1, statistic: () => 0 }),
    ).toThrow(InvalidInputError);
  });
});
