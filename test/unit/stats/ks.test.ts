import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { InvalidInputError } from '../../../src/errors.js';
import { binnedKsTest, ksTest } from '../../../src/stats/ks.js';
import {
  kolmogorovExactSurvival,
  kolmogorovSurvival,
  smirnovSurvival,
} from '../../../src/stats/special.js';
import { mulberry32 } from '../../helpers/random.js';

// Reference values: scripts/fixtures/gen_exact.py (SciPy 1.17.1).
interface LcgSpec {
  seed: number;
  n: number;
  dist: 'uniform' | 'irwinhall' | 'pareto' | 'cauchyish' | 'discrete';
  loc?: number;
  scale?: number;
  k?: number;
}
interface KsCase {
  name: string;
  x?: number[];
  y?: number[];
  gen?: { x: LcgSpec; y: LcgSpec };
  statistic: number;
  pValue: number;
  method: 'exact' | 'asymp';
}
interface BinnedCase {
  name: string;
  ref: number[];
  cur: number[];
  statistic: number;
  pValue: number;
  bound: number;
}
interface Fixtures {
  ks: KsCase[];
  binnedKs: BinnedCase[];
  special: {
    kstwo: [number, number, number][];
    smirnov: [number, number, number][];
    kolmogorov: [number, number][];
  };
}

const fixtures = JSON.parse(
  readFileSync(new URL('../../fixtures/stats-exact.json', import.meta.url), 'utf8'),
) as Fixtures;

/** Relative tolerance, falling back to an absolute one for values at or below `abs`. */
function expectClose(actual: number, expected: number, rel: number, abs = 0): void {
  const err = Math.abs(actual - expected);
  if (err <= abs || err <= rel * Math.abs(expected)) return;
  expect.fail(
    `got ${actual}, SciPy ${expected}: relative error ${(err / Math.abs(expected)).toExponential(2)} > ${rel}`,
  );
}

/** Same generator as lcg_sample in scripts/fixtures/gen_exact.py (only IEEE-exact operations). */
function lcgSample(spec: LcgSpec): Float64Array {
  let state = spec.seed >>> 0;
  const nextU = (): number => {
    state = (Math.imul(1664525, state) + 1013904223) >>> 0;
    return (state + 0.5) / 4294967296;
  };
  const loc = spec.loc ?? 0;
  const scale = spec.scale ?? 1;
  const out = new Float64Array(spec.n);
  for (let i = 0; i < spec.n; i++) {
    let base: number;
    switch (spec.dist) {
      case 'uniform':
        base = nextU();
        break;
      case 'irwinhall': {
        const u1 = nextU();
        const u2 = nextU();
        const u3 = nextU();
        const u4 = nextU();
        base = u1 + u2 + u3 + u4 - 2;
        break;
      }
      case 'pareto':
        base = 1 / nextU() - 1;
        break;
      case 'cauchyish': {
        const u = nextU();
        base = (u - 0.5) / (u * (1 - u));
        break;
      }
      case 'discrete':
        base = Math.floor(nextU() * spec.k!);
        break;
    }
    out[i] = loc + scale * base;
  }
  return out;
}

/** Counts of both samples over bins at reference quantiles: (−∞, e1], (e1, e2], …, (e_{K−1}, ∞). */
function binByReferenceQuantiles(
  ref: ArrayLike<number>,
  cur: ArrayLike<number>,
  k: number,
): { ref: Float64Array; cur: Float64Array; edges: number[] } {
  const sorted = Float64Array.from(ref).sort();
  const edges: number[] = [];
  for (let i = 1; i < k; i++) edges.push(sorted[Math.ceil((i * sorted.length) / k) - 1]!);
  return { ref: countInto(ref, edges), cur: countInto(cur, edges), edges };
}

function countInto(values: ArrayLike<number>, edges: readonly number[]): Float64Array {
  const counts = new Float64Array(edges.length + 1);
  for (let i = 0; i < values.length; i++) {
    const v = values[i]!;
    // First edge >= v: v belongs to (e_{b-1}, e_b].
    let lo = 0;
    let hi = edges.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (edges[mid]! < v) lo = mid + 1;
      else hi = mid;
    }
    counts[lo]! += 1;
  }
  return counts;
}

/** Per bin, how many values lie strictly below the bin's upper edge (all, in the last bin). */
function interiorInto(values: ArrayLike<number>, edges: readonly number[]): Float64Array {
  const counts = countInto(values, edges);
  const onEdge = countInto(
    Array.from(values).filter((v) => edges.includes(v)),
    edges,
  );
  return counts.map((c, i) => (i < edges.length ? c - onEdge[i]! : c));
}

function expectBoundHolds(ref: ArrayLike<number>, cur: ArrayLike<number>, k: number): void {
  const bins = binByReferenceQuantiles(ref, cur, k);
  const binned = binnedKsTest(bins.ref, bins.cur);
  const exact = ksTest(ref, cur).statistic;
  expect(binned.statistic).toBeLessThanOrEqual(exact + 1e-12);
  expect(Math.abs(binned.statistic - exact)).toBeLessThanOrEqual(binned.bound + 1e-12);
  // Never looser than the largest reference bin mass.
  const n = bins.ref.reduce((a, b) => a + b, 0);
  expect(binned.bound).toBeLessThanOrEqual(Math.max(...bins.ref) / n + 1e-15);
  // With the interior counts (values strictly below each bin's upper edge) it still holds.
  const withInterior = binnedKsTest(bins.ref, bins.cur, {
    referenceInterior: interiorInto(ref, bins.edges),
    currentInterior: interiorInto(cur, bins.edges),
  });
  expect(withInterior.statistic).toBe(binned.statistic);
  expect(withInterior.bound).toBeLessThanOrEqual(binned.bound);
  expect(exact - withInterior.statistic).toBeLessThanOrEqual(withInterior.bound + 1e-12);
}

describe('ksTest matches scipy.stats.ks_2samp(x, y, method="auto")', () => {
  for (const c of fixtures.ks) {
    it(`${c.name}: same statistic, p-value (1e-9 relative) and exact/asymp path`, () => {
      const x = c.gen ? lcgSample(c.gen.x) : c.x!;
      const y = c.gen ? lcgSample(c.gen.y) : c.y!;
      const result = ksTest(x, y);
      expect(result.method).toBe(c.method);
      expectClose(result.statistic, c.statistic, 1e-12);
      expectClose(result.pValue, c.pValue, 1e-9, 1e-300);
    });
  }

  it('is symmetric in its arguments', () => {
    const x = lcgSample({ seed: 41, n: 300, dist: 'irwinhall' });
    const y = lcgSample({ seed: 42, n: 170, dist: 'irwinhall', loc: 0.2 });
    expect(ksTest(x, y)).toEqual(ksTest(y, x));
  });

  it('does not modify its inputs', () => {
    const x = [3, 1, 2];
    const y = new Float64Array([9, 7, 8]);
    ksTest(x, y);
    expect(x).toEqual([3, 1, 2]);
    expect(Array.from(y)).toEqual([9, 7, 8]);
  });

  it('treats -0 and +0 as the same value, as NumPy does', () => {
    expect(ksTest([-0, 1], [0, 1]).statistic).toBe(0);
  });
});

describe('ksTest rejects bad input with InvalidInputError naming argument and index', () => {
  const cases: [string, ArrayLike<number>, ArrayLike<number>, RegExp][] = [
    ['empty reference', [], [1], /ksTest: reference is empty/],
    ['empty current', [1], new Float64Array(0), /ksTest: current is empty/],
    ['NaN in reference', [0, 1, 2, Number.NaN], [1], /ksTest: reference contains NaN at index 3/],
    [
      '+Infinity in current',
      [1],
      [0, Number.POSITIVE_INFINITY],
      /current contains Infinity at index 1/,
    ],
    [
      '-Infinity in reference',
      [Number.NEGATIVE_INFINITY],
      [1],
      /reference contains -Infinity at index 0/,
    ],
    [
      'non-number in current',
      [1],
      [1, null as unknown as number],
      /current contains a non-number \(null\) at index 1/,
    ],
  ];
  for (const [name, ref, cur, message] of cases) {
    it(name, () => {
      expect(() => ksTest(ref, cur)).toThrow(InvalidInputError);
      expect(() => ksTest(ref, cur)).toThrow(message);
    });
  }
});

describe('binnedKsTest', () => {
  for (const c of fixtures.binnedKs) {
    it(`${c.name}: statistic, bound, and p-value = scipy.stats.kstwobign.sf(D·√(nm/(n+m)))`, () => {
      const result = binnedKsTest(c.ref, c.cur);
      expect(result.method).toBe('binned');
      expectClose(result.statistic, c.statistic, 1e-12, 1e-300);
      // The fixture's bound is the largest reference bin mass (an upper limit for driftd's).
      expect(result.bound).toBeLessThanOrEqual(c.bound + 1e-15);
      expectClose(result.pValue, c.pValue, 1e-9, 1e-300);
    });
  }

  it('equals the exact statistic when every distinct value has its own bin', () => {
    const ref = lcgSample({ seed: 51, n: 500, dist: 'discrete', k: 8 });
    const cur = lcgSample({ seed: 52, n: 400, dist: 'discrete', k: 9 });
    const edges = [0, 1, 2, 3, 4, 5, 6, 7];
    const binned = binnedKsTest(countInto(ref, edges), countInto(cur, edges));
    // ksTest reports SciPy's rounded h/lcm(n, m) on the exact path: equal up to one rounding.
    expectClose(binned.statistic, ksTest(ref, cur).statistic, 1e-15);
  });

  it('bounds the hidden excursion by the data, below the largest reference bin mass (0.5 here)', () => {
    // d = F − G at the boundaries: −0.15, 0.1, 0.05, 0 (D = 0.15); inside bin 1 the window
    // ECDF can reach 0.25 + 0.25 over F = 0.1 at most: 0.4, so the bound is 0.25.
    expect(binnedKsTest([1, 5, 2, 2], [3, 3, 3, 3]).bound).toBeCloseTo(0.25, 15);
  });

  it('is tight where a bin holds one repeated value: a mostly-zero feature', () => {
    // 55 % zeros in a bin (−0.5, 0] of their own, the rest spread; both samples alike.
    const ref = [...new Array(550).fill(0), ...Array.from({ length: 450 }, (_, i) => 1 + i / 10)];
    const cur = [
      ...new Array(560).fill(0),
      ...Array.from({ length: 440 }, (_, i) => 1.05 + i / 10),
    ];
    const edges = [-0.5, 0, ...Array.from({ length: 45 }, (_, i) => 1 + i + 0.95)];
    const r = countInto(ref, edges);
    const c = countInto(cur, edges);
    const coarse = binnedKsTest(r, c);
    const tight = binnedKsTest(r, c, {
      referenceInterior: interiorInto(ref, edges),
      currentInterior: interiorInto(cur, edges),
    });
    expect(Math.max(...r) / 1000).toBe(0.55); // the largest-bin rule: 0.55
    expect(coarse.bound).toBeGreaterThan(0.5); // without interior counts: no better
    expect(tight.bound).toBeLessThanOrEqual(0.011); // ≈ one continuous bin (1 %)
    const exact = ksTest(ref, cur).statistic;
    expect(exact - tight.statistic).toBeGreaterThanOrEqual(-1e-12);
    expect(exact - tight.statistic).toBeLessThanOrEqual(tight.bound + 1e-12);
  });

  it('refuses interior counts above the bin counts', () => {
    expect(() => binnedKsTest([1, 2], [1, 2], { referenceInterior: [2, 0] })).toThrow(
      /interior counts at index 0/,
    );
  });
});

describe('binnedKsTest stays within its bound of the exact KS statistic (D_binned ≤ D_exact ≤ D_binned + bound)', () => {
  const ref = lcgSample({ seed: 61, n: 2000, dist: 'irwinhall' });

  it('current mass concentrated strictly inside one reference bin', () => {
    const sorted = Float64Array.from(ref).sort();
    // Bin 10 of 50 is (sorted[399], sorted[439]]: spread the whole current sample inside it.
    const lo = sorted[399]!;
    const hi = sorted[439]!;
    const cur = Array.from({ length: 700 }, (_, i) => lo + ((hi - lo) * (i + 0.5)) / 700);
    expectBoundHolds(ref, cur, 50);
  });

  it('current sample is one point mass, inside a bin and exactly on a bin edge', () => {
    const sorted = Float64Array.from(ref).sort();
    const inside = (sorted[999]! + sorted[1000]!) / 2;
    expectBoundHolds(ref, new Array(300).fill(inside), 20);
    expectBoundHolds(ref, new Array(300).fill(sorted[999]!), 20);
  });

  it('current sample entirely outside the reference range (folded into the end bins)', () => {
    expectBoundHolds(ref, lcgSample({ seed: 62, n: 400, dist: 'uniform', loc: 5 }), 100);
    expectBoundHolds(ref, lcgSample({ seed: 63, n: 400, dist: 'uniform', loc: -9 }), 100);
  });

  it('discrete reference with repeated quantile edges (bins of mass well above 1/K)', () => {
    const dref = lcgSample({ seed: 64, n: 1500, dist: 'discrete', k: 6 });
    const dcur = lcgSample({ seed: 65, n: 900, dist: 'discrete', k: 7 });
    const bins = binByReferenceQuantiles(dref, dcur, 40);
    expect(binnedKsTest(bins.ref, bins.cur).bound).toBeGreaterThan(1 / 40);
    expectBoundHolds(dref, dcur, 40);
  });

  it('heavy-tailed current sample against a bell-shaped reference', () => {
    expectBoundHolds(ref, lcgSample({ seed: 66, n: 1200, dist: 'cauchyish' }), 64);
  });

  it('200 random scenarios: random bin counts, sizes, laws, shifts and point masses', () => {
    const rand = mulberry32(2026);
    const dists = ['uniform', 'irwinhall', 'pareto', 'cauchyish', 'discrete'] as const;
    for (let trial = 0; trial < 200; trial++) {
      const k = 2 + Math.floor(rand() * 120);
      const r = lcgSample({
        seed: 1000 + trial,
        n: 50 + Math.floor(rand() * 600),
        dist: dists[Math.floor(rand() * dists.length)]!,
        k: 2 + Math.floor(rand() * 10),
      });
      let c: ArrayLike<number> = lcgSample({
        seed: 5000 + trial,
        n: 20 + Math.floor(rand() * 500),
        dist: dists[Math.floor(rand() * dists.length)]!,
        k: 2 + Math.floor(rand() * 10),
        loc: (rand() - 0.5) * 2,
        scale: 0.2 + rand() * 2,
      });
      if (trial % 7 === 0) c = new Array(c.length).fill(r[Math.floor(rand() * r.length)]!);
      expectBoundHolds(r, c, k);
    }
  });
});

describe('binnedKsTest rejects bad input with InvalidInputError', () => {
  const cases: [string, ArrayLike<number>, ArrayLike<number>, RegExp][] = [
    ['empty referenceCounts', [], [], /referenceCounts is empty/],
    ['different lengths', [1, 2], [1, 2, 3], /referenceCounts has 2 bins but currentCounts has 3/],
    [
      'negative count',
      [1, -1],
      [1, 1],
      /referenceCounts contains a negative count \(-1\) at index 1/,
    ],
    ['NaN count', [1, 1], [Number.NaN, 1], /currentCounts contains NaN at index 0/],
    [
      'infinite count',
      [1, Number.POSITIVE_INFINITY],
      [1, 1],
      /referenceCounts contains Infinity at index 1/,
    ],
    ['reference total of 0', [0, 0], [1, 1], /referenceCounts sums to 0/],
    ['current total of 0', [1, 1], [0, 0], /currentCounts sums to 0/],
  ];
  for (const [name, ref, cur, message] of cases) {
    it(name, () => {
      expect(() => binnedKsTest(ref, cur)).toThrow(InvalidInputError);
      expect(() => binnedKsTest(ref, cur)).toThrow(message);
    });
  }
});

describe('KS distributions match SciPy on grids crossing every branch', () => {
  it('kolmogorovExactSurvival(n, x) = scipy.stats.kstwo.sf(x, n)', () => {
    for (const [n, x, sf] of fixtures.special.kstwo) {
      expectClose(kolmogorovExactSurvival(n, x), sf, 1e-9, 1e-300);
    }
  });

  it('smirnovSurvival(n, x) = scipy.special.smirnov(n, x)', () => {
    for (const [n, x, sf] of fixtures.special.smirnov) {
      expectClose(smirnovSurvival(n, x), sf, 1e-9, 1e-300);
    }
  });

  it('kolmogorovSurvival(x) = scipy.special.kolmogorov(x)', () => {
    for (const [x, sf] of fixtures.special.kolmogorov)
      expectClose(kolmogorovSurvival(x), sf, 1e-12);
  });

  it('reject n that is not a positive integer and x that is NaN', () => {
    expect(() => kolmogorovExactSurvival(0, 0.5)).toThrow(InvalidInputError);
    expect(() => kolmogorovExactSurvival(2.5, 0.5)).toThrow(/n must be a positive integer/);
    expect(() => smirnovSurvival(10, 1.5)).toThrow(/x must be in \[0, 1\]/);
    expect(() => kolmogorovSurvival(Number.NaN)).toThrow(InvalidInputError);
  });
});
