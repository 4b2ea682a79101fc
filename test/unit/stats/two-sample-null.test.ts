import { describe, expect, it } from 'vitest';
import { InvalidInputError } from '../../../src/errors.js';
import { jensenShannonDistance } from '../../../src/stats/divergence.js';
import { multinomial, xorshift128 } from '../../../src/stats/null-distribution.js';
import { PERMUTATION_MAX, twoSampleNull } from '../../../src/stats/two-sample-null.js';

/** Zipf-like masses over k bins: most of them rare, as a small reference's fine bins are. */
function zipf(k: number): Float64Array {
  const m = new Float64Array(k);
  let t = 0;
  for (let i = 0; i < k; i++) t += m[i] = 1 / (i + 1);
  for (let i = 0; i < k; i++) m[i] = m[i]! / t;
  return m;
}

/** Share of p-values ≤ 0.05 over `reps` pairs of samples drawn from the same masses. */
function falseAlarmRate(masses: Float64Array, nRef: number, nCur: number, reps: number): number {
  const random = xorshift128(42);
  const r = new Float64Array(masses.length);
  const c = new Float64Array(masses.length);
  let hits = 0;
  for (let i = 0; i < reps; i++) {
    multinomial(nRef, masses, r, random);
    multinomial(nCur, masses, c, random);
    const observed = jensenShannonDistance(r, c);
    const p = twoSampleNull({
      reference: r,
      current: c,
      simulations: 200,
      seed: i,
      statistic: (a, b) => jensenShannonDistance(a, b),
    }).pValue(observed);
    if (p <= 0.05) hits++;
  }
  return hits / reps;
}

describe('twoSampleNull (src/stats/two-sample-null.ts)', () => {
  it('keeps the false-alarm rate at α on sparse bins (permutations: the samples are exchangeable)', () => {
    // 300 reference events and 100 window events over 500 mostly rare bins.
    expect(falseAlarmRate(zipf(500), 300, 100, 300)).toBeLessThanOrEqual(0.07);
  });

  it('keeps it above PERMUTATION_MAX too (bootstrap from the pooled masses, bins well filled)', () => {
    expect(PERMUTATION_MAX).toBeLessThan(30_000);
    expect(falseAlarmRate(zipf(20), 30_000, 10_000, 100)).toBeLessThanOrEqual(0.08);
  });

  it('gives a shift a small p-value, beyond the draws by the exponential tail', () => {
    const ref = [400, 300, 200, 100];
    const cur = [100, 200, 300, 400];
    const nul = twoSampleNull({
      reference: ref,
      current: cur,
      simulations: 200,
      statistic: (a, b) => jensenShannonDistance(a, b),
    });
    const p = nul.pValue(jensenShannonDistance(ref, cur));
    expect(p).toBeGreaterThan(0);
    expect(p).toBeLessThan(1 / 201);
    expect(nul.pValue(0)).toBe(1);
  });

  it('refuses an empty side, mismatched bins and bad counts', () => {
    const statistic = () => 0;
    const bad: Array<[number[], number[]]> = [
      [
        [0, 0],
        [1, 2],
      ],
      [
        [1, 2],
        [0, 0],
      ],
      [
        [1, 2],
        [1, 2, 3],
      ],
      [
        [1, -1],
        [1, 2],
      ],
      [
        [1, Number.NaN],
        [1, 2],
      ],
    ];
    for (const [reference, current] of bad) {
      expect(() => twoSampleNull({ reference, current, simulations: 20, statistic })).toThrow(
        InvalidInputError,
      );
    }
  });
});
