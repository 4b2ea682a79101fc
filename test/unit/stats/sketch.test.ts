import { describe, expect, it } from 'vitest';
import { InvalidInputError } from '../../../src/errors.js';
import { quantileEdges } from '../../../src/stats/quantiles.js';
import { createCategoricalSketch, createNumericSketch } from '../../../src/stats/sketch.js';
import type { NumericSketchSnapshot } from '../../../src/stats/types.js';
import { mulberry32 as rng } from '../../helpers/random.js';

/** The bin layout spelled out: bin 0 = {e0}, bin i = (e[i-1], e[i]]; -1 below, K above. */
function bruteForceBin(edges: readonly number[], v: number): number {
  if (v < edges[0]!) return -1;
  for (let i = 0; i < edges.length; i++) if (v <= edges[i]!) return i;
  return edges.length;
}

function expectSameSnapshot(a: NumericSketchSnapshot, b: NumericSketchSnapshot): void {
  const { sum: sa, sumSquares: qa, gaps: ga, belowGap: ba, aboveGap: aa, ...rest1 } = a;
  const { sum: sb, sumSquares: qb, gaps: gb, belowGap: bb, aboveGap: ab, ...rest2 } = b;
  const { gapSquares: g2a, ...restA } = rest1;
  const { gapSquares: g2b, ...restB } = rest2;
  g2a?.forEach((g, i) => {
    expect(Math.abs(g - g2b![i]!)).toBeLessThanOrEqual(1e-12 * Math.max(1, Math.abs(g)));
  });
  expect(restA).toEqual(restB); // every count, min and max: exact
  expect(sa).toBeCloseTo(sb, 6);
  expect(Math.abs(qa - qb)).toBeLessThanOrEqual(1e-12 * Math.abs(qb));
  // Per-bin gap sums: float sums, equal up to rounding; zero exactly where all values sit on
  // the bin's upper edge, whatever the order.
  expect(ga === undefined).toBe(gb === undefined);
  if (ga !== undefined && gb !== undefined) {
    ga.forEach((g, i) => {
      expect(g === 0).toBe(gb[i] === 0);
      expect(Math.abs(g - gb[i]!)).toBeLessThanOrEqual(1e-12 * Math.max(1, Math.abs(g)));
    });
    expect(ba).toBeCloseTo(bb!, 9);
    expect(aa).toBeCloseTo(ab!, 9);
  }
}

describe('createNumericSketch: bins', () => {
  const edges = [0, 1, 2.5, 10];

  it('puts the minimum in its own point bin and the rest in right-closed bins', () => {
    const s = createNumericSketch(edges);
    for (const v of [0, -0, 1e-300, 1, 1.0000001, 2.5, 3, 10]) s.record(v);
    expect(s.snapshot().counts).toEqual([2, 2, 2, 2]);
    expect(s.binCount).toBe(4);
    expect(s.edges).toEqual(edges);
  });

  it('counts out-of-range, ±Infinity, NaN and missing values separately', () => {
    const s = createNumericSketch(edges);
    const values = [-1, Number.NEGATIVE_INFINITY, 10.5, Number.POSITIVE_INFINITY, 1e308, 1e100];
    for (const v of values) s.record(v);
    s.record(Number.NaN);
    s.record(null);
    s.record(undefined);
    s.record(5);
    const snap = s.snapshot();
    expect(snap).toMatchObject({ below: 2, above: 4, nan: 1, missing: 2, total: 10 });
    expect(snap.counts).toEqual([0, 0, 0, 1]);
    // ±Infinity and 1e308 stay out of the moments (which would overflow), not out of min/max.
    expect(snap.min).toBe(-1);
    expect(snap.max).toBe(1e308);
    expect(snap.summed).toBe(4);
    expect(snap.sum).toBe(-1 + 10.5 + 1e100 + 5);
    expect(snap.sumSquares).toBe(1 + 10.5 * 10.5 + 1e200 + 25);
    expect(JSON.parse(JSON.stringify(snap))).toEqual(snap);
  });

  it('reports null min/max before any finite value', () => {
    const s = createNumericSketch(edges);
    s.record(null);
    s.record(Number.NaN);
    expect(s.snapshot()).toMatchObject({ min: null, max: null, sum: 0, summed: 0, total: 2 });
  });

  const r = rng(7);
  const normalish = Array.from({ length: 5000 }, () => r() + r() + r());
  const heavy = Array.from({ length: 5000 }, () => Math.exp(8 * r() ** 3) - 1);
  it.each([
    ['quantile edges of a smooth sample', quantileEdges(normalish, 1000)],
    ['quantile edges of a heavy tail', quantileEdges(heavy, 1000)],
    ['a single edge', [3]],
    ['two edges', [-1, 1]],
    ['a range that overflows max − min', [-1.5e308, -1, 0, 1, 1.7e308]],
    ['huge in-range values', [-1e300, 0, 1e200, 1e300]],
    ['tiny denormal steps', [0, 5e-324, 1e-323, 1]],
  ])('agrees with a linear scan on %s', (_name, e) => {
    const s = createNumericSketch(e);
    const expected = new Array<number>(e.length).fill(0);
    let below = 0;
    let above = 0;
    const lo = e[0]!;
    const hi = e.at(-1)!;
    const span = Number.isFinite(hi - lo) ? hi - lo : 1;
    const probe: number[] = [...e, ...e.map((x) => x * (1 + 1e-15)), ...e.map((x) => x - 1e-12)];
    for (let i = 0; i < 20_000; i++) probe.push(lo - 0.1 * span + 1.2 * span * r());
    for (const v of probe) {
      s.record(v);
      const b = bruteForceBin(e, v);
      if (b < 0) below++;
      else if (b >= e.length) above++;
      else expected[b]!++;
    }
    const snap = s.snapshot();
    expect(snap.counts).toEqual(expected);
    expect([snap.below, snap.above]).toEqual([below, above]);
  });

  it.each([
    ['empty', []],
    ['not increasing', [0, 1, 1, 2]],
    ['decreasing', [2, 1]],
    ['NaN', [0, Number.NaN, 1]],
    ['Infinity', [0, Number.POSITIVE_INFINITY]],
  ])('rejects %s edges', (_name, e) => {
    expect(() => createNumericSketch(e)).toThrow(InvalidInputError);
  });
});

describe('createNumericSketch: merge and restore', () => {
  const r = rng(11);
  const sample = Array.from({ length: 4000 }, () => (r() - 0.5) * 10);
  const edges = quantileEdges(sample, 1000);
  const stream: Array<number | null | undefined> = Array.from({ length: 30_000 }, (_, i) => {
    if (i % 97 === 0) return null;
    if (i % 101 === 0) return Number.NaN;
    if (i % 89 === 0) return undefined;
    return (r() - 0.45) * 12; // partly out of range
  });

  function sketchOf(values: Array<number | null | undefined>) {
    const s = createNumericSketch(edges);
    for (const v of values) s.record(v);
    return s;
  }

  it('merging the sketches of two halves gives the sketch of the whole', () => {
    const whole = sketchOf(stream);
    const a = sketchOf(stream.slice(0, 12_345));
    const b = sketchOf(stream.slice(12_345));
    a.merge(b);
    expectSameSnapshot(a.snapshot(), whole.snapshot());
    const snap = a.snapshot();
    const binned = snap.counts.reduce((x, y) => x + y, 0);
    expect(binned + snap.below + snap.above + snap.missing + snap.nan).toBe(stream.length);
  });

  it('every read sees every value recorded so far (values are binned in batches)', () => {
    const s = createNumericSketch(edges);
    const other = createNumericSketch(edges);
    const numbers = stream.filter((v): v is number => typeof v === 'number').slice(0, 700);
    numbers.forEach((v, i) => {
      s.record(v);
      other.record(v);
      const view = s.view();
      const binned = Array.from(view.counts).reduce((x, y) => x + y, 0);
      expect(binned + view.below + view.above + view.nan).toBe(i + 1);
      expect(s.snapshot().total).toBe(i + 1);
    });
    // The side merged in flushes too.
    const merged = createNumericSketch(edges);
    merged.merge(other);
    expect(merged.snapshot().total).toBe(numbers.length);
    expectSameSnapshot(merged.snapshot(), s.snapshot());
  });

  it('is order-independent and associative across many partial states', () => {
    const parts = [0, 3000, 7000, 7001, 19_000, 30_000];
    const sketches = parts.slice(1).map((end, i) => sketchOf(stream.slice(parts[i], end)));
    const forward = createNumericSketch(edges);
    for (const s of sketches) forward.merge(s);
    const backward = createNumericSketch(edges);
    for (const s of [...sketches].reverse()) backward.merge(s.snapshot());
    expectSameSnapshot(forward.snapshot(), backward.snapshot());
    expectSameSnapshot(forward.snapshot(), sketchOf(stream).snapshot());
  });

  it('restores from a persisted (JSON) snapshot and keeps recording', () => {
    const first = sketchOf(stream.slice(0, 10_000));
    const persisted = JSON.parse(JSON.stringify(first.snapshot())) as NumericSketchSnapshot;
    const restored = createNumericSketch(edges, persisted);
    for (const v of stream.slice(10_000)) restored.record(v);
    expectSameSnapshot(restored.snapshot(), sketchOf(stream).snapshot());
  });

  it('snapshots are copies', () => {
    const s = sketchOf([1, 2, 3]);
    const snap = s.snapshot();
    snap.counts[0] = 999;
    s.record(4);
    expect(s.snapshot().counts[0]).not.toBe(999);
    expect(snap.total).toBe(3);
  });

  it('refuses to merge sketches over different edges', () => {
    const a = createNumericSketch([0, 1, 2]);
    expect(() => a.merge(createNumericSketch([0, 1, 3]))).toThrow(/bin edges differ/);
    expect(() => a.merge(createNumericSketch([0, 1]))).toThrow(InvalidInputError);
    // Equal edges in a different array are the same baseline.
    a.merge(createNumericSketch([0, 1, 2]));
  });

  it('detects a caller mutating the edges array it passed', () => {
    const e = [0, 1, 2];
    createNumericSketch(e).record(1.5);
    e[2] = 5;
    const s = createNumericSketch(e);
    s.record(4);
    expect(s.snapshot().counts).toEqual([0, 0, 1]);
  });

  it.each([
    ['another bin count', { counts: [1, 2] }, /2 bins, the edges define 3/],
    ['a negative count', { counts: [1, -1, 0], total: 0 }, /counts\[1\]/],
    ['a fractional count', { counts: [0.5, 0, 0], total: 0.5 }, /counts\[0\]/],
    ['a total that does not add up', { counts: [1, 1, 1], total: 4 }, /total 4/],
    ['a NaN sum', { sum: Number.NaN }, /sum/],
    ['more summed values than numbers', { summed: 4 }, /summed 4/],
    ['another kind', { kind: 'categorical' }, /expected a numeric/],
  ])('rejects a snapshot with %s', (_name, patch, message) => {
    const good: NumericSketchSnapshot = {
      kind: 'numeric',
      counts: [1, 1, 1],
      below: 0,
      above: 0,
      missing: 0,
      nan: 0,
      total: 3,
      summed: 3,
      sum: 3,
      sumSquares: 5,
      min: 0,
      max: 2,
    };
    const bad = { ...good, ...patch } as NumericSketchSnapshot;
    expect(() => createNumericSketch([0, 1, 2], bad)).toThrow(InvalidInputError);
    expect(() => createNumericSketch([0, 1, 2], bad)).toThrow(message);
    expect(createNumericSketch([0, 1, 2], good).snapshot()).toEqual(good);
  });
});

describe('createNumericSketch: per-bin gap sums (within-bin means)', () => {
  const edges = [0, 1, 2, 4];
  it('keeps Σ (upper edge − x) per bin in whole steps of width/4096, 0 exactly for values on the edge', () => {
    const s = createNumericSketch(edges);
    for (const v of [0, 0.25, 1, 1, 2, 2, 2, 3.5, -2, -Infinity, 7, 1e300]) s.record(v);
    const snap = s.snapshot();
    expect(snap.counts).toEqual([1, 3, 3, 1]);
    // 0.25 is 0.75 of a unit bin below 1: 3072 steps; 3.5 is a quarter of (2, 4] below 4: 1024.
    expect(snap.gaps).toEqual([0, 3072, 0, 1024]);
    expect(snap.gapSquares).toEqual([0, 3072 ** 2, 0, 1024 ** 2]);
    // Out of range in steps of range/4096 = 1/1024: −2 is 2048 steps below; −Infinity and 1e300
    // count as the cap, 4096² steps (4096 ranges away).
    expect(snap.belowGap).toBe(2048 + 4096 ** 2);
    expect(snap.aboveGap).toBe(3072 + 4096 ** 2);
    // A value a hair below its edge still counts (at least one step): gap 0 means "on the edge".
    const hair = createNumericSketch(edges);
    hair.record(2 - 1e-12);
    expect(hair.snapshot().gaps).toEqual([0, 0, 1, 0]);
    expect(JSON.parse(JSON.stringify(snap))).toEqual(snap);
  });

  it('restores a snapshot without gaps (taken by an older driftd): counts merge, gaps are dropped', () => {
    const s = createNumericSketch(edges);
    s.record(1.5);
    const { gaps: _g, gapSquares: _g2, belowGap: _b, aboveGap: _a, ...old } = s.snapshot();
    const restored = createNumericSketch(edges, old);
    restored.record(0.5);
    const snap = restored.snapshot();
    expect(snap.counts).toEqual([0, 1, 1, 0]);
    // Which bin's mass sits where is unknown for the old part: no gaps at all rather than
    // wrong ones; evaluation falls back to bin midpoints with a wider bound.
    expect(snap.gaps).toBeUndefined();
    expect(snap.belowGap).toBeUndefined();
    const fresh = createNumericSketch(edges);
    fresh.merge(restored);
    expect(fresh.snapshot().gaps).toBeUndefined();
  });

  it.each([
    ['gaps of the wrong length', { gaps: [0, 0] }, /one entry per bin/],
    ['a negative gap', { gaps: [0, -1, 0] }, /gaps\[1\]/],
    ['a fractional gap', { gaps: [0, 0.5, 0] }, /gaps\[1\]/],
    [
      'a gap in an empty bin',
      { counts: [1, 0, 1], total: 2, summed: 2, gaps: [0, 1, 0] },
      /empty bin/,
    ],
    ['gaps without belowGap', { gaps: [0, 0, 0], belowGap: undefined }, /belowGap/],
    ['gaps without gapSquares', { gapSquares: undefined }, /gapSquares must/],
    ['a negative gap square', { gapSquares: [0, -1, 0] }, /gapSquares\[1\]/],
  ])('rejects a snapshot with %s', (_name, patch, message) => {
    const good: NumericSketchSnapshot = {
      kind: 'numeric',
      counts: [1, 1, 1],
      below: 0,
      above: 0,
      missing: 0,
      nan: 0,
      total: 3,
      summed: 3,
      sum: 3,
      sumSquares: 5,
      min: 0,
      max: 2,
      gaps: [0, 0, 0],
      gapSquares: [0, 0, 0],
      belowGap: 0,
      aboveGap: 0,
    };
    expect(createNumericSketch([0, 1, 2], good).snapshot()).toEqual(good);
    const bad = { ...good, ...patch } as NumericSketchSnapshot;
    expect(() => createNumericSketch([0, 1, 2], bad)).toThrow(message);
  });
});

describe('createCategoricalSketch', () => {
  const categories = ['EU', 'US', 'true', '1'];

  it('counts baseline categories, other and missing; numbers and booleans as strings', () => {
    const s = createCategoricalSketch(categories);
    for (const v of [
      'EU',
      'EU',
      'US',
      true,
      1,
      1.0,
      'APAC',
      'APAC',
      'LATAM',
      '',
      null,
      undefined,
    ]) {
      s.record(v);
    }
    s.record(Number.NaN);
    expect(s.snapshot()).toEqual({
      kind: 'categorical',
      categories,
      counts: [2, 1, 1, 2],
      other: 4,
      missing: 3,
      total: 13,
      unseen: { APAC: 2, LATAM: 1, '': 1 },
      unseenOverflow: 0,
      neverSeen: 4,
    });
  });

  it('counts in neverSeen only the values the baseline never had (neither a category nor seen)', () => {
    const s = createCategoricalSketch(categories, { seen: new Set(['APAC']) });
    for (const v of ['EU', 'APAC', 'APAC', 'LATAM', null]) s.record(v);
    const snap = s.snapshot();
    expect([snap.other, snap.neverSeen]).toEqual([3, 1]);
    // Merging adds; a snapshot without neverSeen (older driftd) restores, and the count is
    // then dropped rather than undercounted.
    const merged = createCategoricalSketch(categories, { seen: new Set(['APAC']) }, snap);
    merged.merge(snap);
    expect(merged.snapshot().neverSeen).toBe(2);
    const { neverSeen: _n, ...old } = snap;
    merged.merge(old);
    expect(merged.snapshot().other).toBe(9);
    expect(merged.snapshot().neverSeen).toBeUndefined();
    expect(() => createCategoricalSketch(categories, {}, { ...snap, neverSeen: 4 })).toThrow(
      /neverSeen 4 exceeds other 3/,
    );
  });

  it('caps the distinct unseen values and sends the rest to unseenOverflow', () => {
    const s = createCategoricalSketch(['a'], { maxUnseen: 2 });
    for (const v of ['x', 'y', 'z', 'x', 'w', 'z', 'a']) s.record(v);
    const snap = s.snapshot();
    expect(snap.unseen).toEqual({ x: 2, y: 1 });
    expect(snap.unseenOverflow).toBe(3);
    expect(snap.other).toBe(6);
    expect(createCategoricalSketch(['a'], { maxUnseen: 0 }).maxUnseen).toBe(0);
  });

  it('keeps "__proto__" and other odd strings as plain keys', () => {
    const s = createCategoricalSketch([]);
    s.record('__proto__');
    s.record('constructor');
    const snap = JSON.parse(JSON.stringify(s.snapshot()));
    expect(Object.keys(snap.unseen).sort()).toEqual(['__proto__', 'constructor']);
    const restored = createCategoricalSketch([], {}, snap);
    restored.record('__proto__');
    expect(Object.entries(restored.snapshot().unseen)).toContainEqual(['__proto__', 2]);
    expect(Object.getPrototypeOf(restored.snapshot().unseen)).toBe(Object.prototype);
  });

  it('merges exactly: counts add, other = Σ unseen + overflow survives the cap', () => {
    const r = rng(3);
    const values = Array.from({ length: 5000 }, () => {
      const u = r();
      if (u < 0.05) return null;
      if (u < 0.7) return categories[Math.floor(r() * categories.length)]!;
      return `rare-${Math.floor(r() * 300)}`;
    });
    const whole = createCategoricalSketch(categories, { maxUnseen: 50 });
    for (const v of values) whole.record(v);
    const a = createCategoricalSketch(categories, { maxUnseen: 50 });
    const b = createCategoricalSketch(categories, { maxUnseen: 50 });
    values.forEach((v, i) => {
      (i % 3 === 0 ? a : b).record(v);
    });
    a.merge(b);
    const m = a.snapshot();
    const w = whole.snapshot();
    expect({ ...m, unseen: undefined, unseenOverflow: undefined }).toEqual({
      ...w,
      unseen: undefined,
      unseenOverflow: undefined,
    });
    const unseenSum = Object.values(m.unseen).reduce((x, y) => x + y, 0);
    expect(unseenSum + m.unseenOverflow).toBe(m.other);
    expect(Object.keys(m.unseen).length).toBe(50);
  });

  it('restores from a snapshot and refuses other baselines', () => {
    const s = createCategoricalSketch(categories);
    s.record('EU');
    s.record('nope');
    const restored = createCategoricalSketch(categories, {}, s.snapshot());
    restored.record('EU');
    expect(restored.snapshot()).toMatchObject({ counts: [2, 0, 0, 0], other: 1, total: 3 });
    expect(() => createCategoricalSketch(['EU', 'US'], {}, s.snapshot())).toThrow(
      /categories differ/,
    );
    expect(() => s.merge(createCategoricalSketch(['US', 'EU', 'true', '1']))).toThrow(
      /categories differ/,
    );
    const inconsistent = { ...s.snapshot(), other: 5, total: 6 };
    expect(() => createCategoricalSketch(categories, {}, inconsistent)).toThrow(/Σunseen/);
  });

  it('rejects duplicate categories and bad caps', () => {
    expect(() => createCategoricalSketch(['a', 'b', 'a'])).toThrow(/duplicate category "a"/);
    expect(() => createCategoricalSketch(['a'], { maxUnseen: -1 })).toThrow(InvalidInputError);
    expect(() => createCategoricalSketch(['a'], { maxUnseen: 1.5 })).toThrow(InvalidInputError);
    expect(() => createCategoricalSketch([1 as unknown as string])).toThrow(/categories\[0\]/);
  });
});
