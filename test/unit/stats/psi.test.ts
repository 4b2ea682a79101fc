import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { InvalidInputError } from '../../../src/errors.js';
import { aggregateCounts, coarseBins, psi } from '../../../src/stats/psi.js';
import { quantileEdges } from '../../../src/stats/quantiles.js';
import { createNumericSketch } from '../../../src/stats/sketch.js';

interface PsiCountCase {
  name: string;
  ref: number[];
  cur: number[];
  epsilon: number | null;
  value: number;
  refProportions: number[];
  curProportions: number[];
  contributions: number[];
}

interface DecileCase {
  reference: number[];
  current: number[];
  deciles: number[];
  refCounts: number[];
  curCounts: number[];
  value: number;
  contributions: number[];
}

const fixture = JSON.parse(
  readFileSync(new URL('../../fixtures/stats-sketch-metrics.json', import.meta.url), 'utf8'),
) as { psi: { counts: PsiCountCase[]; deciles: DecileCase } };

/** |a − b| ≤ 1e-9 · max(|b|, 1e-12): relative, with a floor so exact zeros compare sanely. */
function expectClose(actual: number, expected: number): void {
  expect(Math.abs(actual - expected)).toBeLessThanOrEqual(
    1e-9 * Math.max(Math.abs(expected), 1e-12),
  );
}

describe('psi: parity with the NumPy port of Evidently psi_stat_test', () => {
  it.each(fixture.psi.counts)('$name', (c) => {
    const result = psi(c.ref, c.cur, c.epsilon === null ? {} : { epsilon: c.epsilon });
    expectClose(result.value, c.value);
    expect(result.bins).toHaveLength(c.ref.length);
    result.bins.forEach((b, i) => {
      expect(b.ref).toBe(c.refProportions[i]);
      expect(b.cur).toBe(c.curProportions[i]);
      expectClose(b.contribution, c.contributions[i]!);
      expect(b.contribution).toBeGreaterThanOrEqual(0);
    });
  });

  it('fills a zero with 0.0001, or with the smallest proportion / 1e6 when that is ≤ 0.0001', () => {
    const plain = psi([1, 1], [1, 0]);
    expect(plain.bins[1]!.cur).toBe(0.0001);
    const tiny = psi([0, 1, 99_999], [1, 1, 1]);
    expect(tiny.bins[0]!.ref).toBe(1 / 100_000 / 1e6);
    expect(psi([1, 1], [1, 0], { epsilon: 0.01 }).bins[1]!.cur).toBe(0.01);
  });

  it.each([
    ['mismatched bins', [1, 2], [1, 2, 3], /same bins/],
    ['no bins', [], [], /no bins/],
    ['an empty reference', [0, 0], [1, 2], /reference counts are all zero/],
    ['an empty current window', [1, 2], [0, 0], /current counts are all zero/],
    ['a negative count', [1, -2], [1, 2], /referenceCounts\[1\]/],
    ['a NaN count', [1, 2], [Number.NaN, 2], /currentCounts\[0\]/],
  ])('rejects %s', (_name, ref, cur, message) => {
    expect(() => psi(ref, cur)).toThrow(InvalidInputError);
    expect(() => psi(ref, cur)).toThrow(message);
  });

  it.each([0, 1, -0.1, Number.NaN])('rejects epsilon = %s', (epsilon) => {
    expect(() => psi([1], [1], { epsilon })).toThrow(/epsilon/);
  });
});

describe('coarseBins + aggregateCounts', () => {
  const d = fixture.psi.deciles;

  function fineSketches() {
    const edges = quantileEdges(d.reference, 1000);
    const ref = createNumericSketch(edges);
    for (const v of d.reference) ref.record(v);
    const cur = createNumericSketch(edges);
    for (const v of d.current) cur.record(v);
    return { edges, ref: ref.snapshot(), cur: cur.snapshot() };
  }

  it('turns 1000 fine quantile bins into the reference deciles (NumPy linear)', () => {
    const { edges, ref } = fineSketches();
    const binning = coarseBins(edges, ref.counts);
    expect(binning.count).toBe(10);
    expect(binning.upperEdges.slice(0, 9)).toEqual(d.deciles);
    expect(binning.upperEdges[9]).toBe(edges.at(-1));
    expect(aggregateCounts(ref.counts, binning, ref)).toEqual(d.refCounts);
  });

  it('gives the decile PSI of the NumPy/Evidently reference end to end, out-of-range values in the outer bins', () => {
    const { edges, ref, cur } = fineSketches();
    expect(cur.below + cur.above).toBeGreaterThan(0);
    const binning = coarseBins(edges, ref.counts);
    const curCoarse = aggregateCounts(cur.counts, binning, cur);
    expect(curCoarse).toEqual(d.curCounts);
    const result = psi(aggregateCounts(ref.counts, binning), curCoarse);
    expectClose(result.value, d.value);
    result.bins.forEach((b, i) => {
      expectClose(b.contribution, d.contributions[i]!);
    });
  });

  it('maps fine bins monotonically and never splits one', () => {
    const { edges, ref } = fineSketches();
    for (const buckets of [1, 2, 3, 7, 10, 20, 1000, 5000]) {
      const b = coarseBins(edges, ref.counts, buckets);
      expect(b.fineToCoarse).toHaveLength(edges.length);
      expect(b.fineToCoarse[0]).toBe(0);
      expect(b.fineToCoarse.at(-1)).toBe(b.count - 1);
      for (let i = 1; i < edges.length; i++) {
        const step = b.fineToCoarse[i]! - b.fineToCoarse[i - 1]!;
        expect(step === 0 || step === 1).toBe(true);
      }
      expect(b.count).toBeLessThanOrEqual(Math.min(buckets, edges.length));
      expect(b.upperEdges).toHaveLength(b.count);
      expect(aggregateCounts(ref.counts, b).every((c) => c > 0)).toBe(true);
    }
  });

  it('keeps an atom whole: a zero-inflated feature gets fewer, non-empty coarse bins', () => {
    const sample = [...Array(450).fill(0), ...Array.from({ length: 550 }, (_, i) => 1 + i)];
    const edges = quantileEdges(sample, 1000);
    const sketch = createNumericSketch(edges);
    for (const v of sample) sketch.record(v);
    const counts = sketch.snapshot().counts;
    const b = coarseBins(edges, counts);
    const coarse = aggregateCounts(counts, b);
    expect(coarse[0]).toBe(450); // the 45% atom at 0 is one coarse bin
    expect(b.count).toBe(7); // deciles 1–4 collapse into it
    expect(coarse.reduce((x, y) => x + y, 0)).toBe(1000);
    for (const c of coarse.slice(1)) expect(c).toBeGreaterThanOrEqual(50);
  });

  it('handles a constant baseline (one fine bin, one coarse bin)', () => {
    const b = coarseBins([3], [10]);
    expect(b).toEqual({ fineToCoarse: [0], count: 1, upperEdges: [3] });
    expect(aggregateCounts([4], b, { below: 1, above: 2 })).toEqual([7]);
  });

  it.each([
    ['a count per edge missing', () => coarseBins([0, 1, 2], [1, 1]), /2 reference counts for 3/],
    ['no reference mass', () => coarseBins([0, 1], [0, 0]), /all zero/],
    ['unsorted edges', () => coarseBins([0, 2, 1], [1, 1, 1]), /strictly increasing/],
    ['zero buckets', () => coarseBins([0, 1], [1, 1], 0), /buckets/],
    ['a negative count', () => coarseBins([0, 1], [1, -1]), /referenceFineCounts\[1\]/],
    [
      'fine counts of another binning',
      () => aggregateCounts([1, 2], coarseBins([0, 1, 2], [1, 1, 1])),
      /2 fine counts/,
    ],
    [
      'a negative below count',
      () => aggregateCounts([1, 1], coarseBins([0, 1], [1, 1]), { below: -1 }),
      /below/,
    ],
  ])('rejects %s', (_name, fn, message) => {
    expect(fn).toThrow(InvalidInputError);
    expect(fn).toThrow(message);
  });
});
