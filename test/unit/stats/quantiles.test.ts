import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { InvalidInputError } from '../../../src/errors.js';
import { quantileEdges } from '../../../src/stats/quantiles.js';

interface QuantileCase {
  name: string;
  k: number;
  sample: number[];
  edges: number[];
}

const fixture = JSON.parse(
  readFileSync(new URL('../../fixtures/stats-sketch-metrics.json', import.meta.url), 'utf8'),
) as { quantiles: QuantileCase[] };

describe('quantileEdges', () => {
  describe.each(fixture.quantiles)(
    'matches np.unique(np.quantile(x, arange(k+1)/k)) for $name',
    (c) => {
      it('bit for bit', () => {
        expect(quantileEdges(c.sample, c.k)).toEqual(c.edges);
      });

      it('is strictly increasing from the minimum to the maximum', () => {
        const edges = quantileEdges(c.sample, c.k);
        for (let i = 1; i < edges.length; i++) expect(edges[i]!).toBeGreaterThan(edges[i - 1]!);
        expect(edges[0]).toBe(Math.min(...c.sample));
        expect(edges.at(-1)).toBe(Math.max(...c.sample));
        expect(edges.length).toBeLessThanOrEqual(c.k + 1);
      });
    },
  );

  it('does not depend on input order and accepts typed arrays', () => {
    const c = fixture.quantiles[0]!;
    const reversed = Float64Array.from(c.sample).reverse();
    expect(quantileEdges(reversed, c.k)).toEqual(c.edges);
  });

  it('collapses ties: a 0/1 feature keeps both atoms as edges, a constant one a single edge', () => {
    expect(quantileEdges([1, 0, 0, 1, 1, 0, 0, 0], 4)).toEqual([0, 1]);
    expect(quantileEdges([7, 7, 7], 1000)).toEqual([7]);
    expect(quantileEdges([2], 10)).toEqual([2]);
  });

  it('puts every atom heavier than 1/k on an edge', () => {
    const sample = [...Array(300).fill(0), ...Array.from({ length: 700 }, (_, i) => 1 + i / 700)];
    const edges = quantileEdges(sample, 100);
    expect(edges[0]).toBe(0);
    // Only the minimum's point bin holds the 30% atom; the next edge is already past it.
    expect(edges.filter((e) => e === 0)).toHaveLength(1);
    expect(edges[1]!).toBeGreaterThan(0);
  });

  it.each([
    ['empty', [], /empty/],
    ['NaN', [1, Number.NaN, 2], /sample\[1\] is NaN/],
    ['Infinity', [1, 2, Number.POSITIVE_INFINITY], /sample\[2\] is Infinity/],
    ['-Infinity', [Number.NEGATIVE_INFINITY], /sample\[0\] is -Infinity/],
  ])('rejects %s input', (_name, sample, message) => {
    expect(() => quantileEdges(sample as number[])).toThrow(InvalidInputError);
    expect(() => quantileEdges(sample as number[])).toThrow(message);
  });

  it.each([0, -1, 2.5, Number.NaN])('rejects k = %s', (k) => {
    expect(() => quantileEdges([1, 2, 3], k)).toThrow(InvalidInputError);
  });
});
