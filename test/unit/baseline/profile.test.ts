import { describe, expect, it } from 'vitest';
import {
  buildProfileFromRows,
  CANDIDATE_FACTOR,
  createProfileBuilder,
  EDGE_SAMPLE_MIN,
} from '../../../src/baseline/profile.js';
import { defaultAlerts } from '../../../src/config/alerts.js';
import type { FeatureConfig, ModelConfig } from '../../../src/config/types.js';
import { BaselineError } from '../../../src/errors.js';
import type { CategoricalProfile, NumericProfile } from '../../../src/types.js';

function model(
  features: [string, 'numeric' | 'categorical'][],
  drift: Partial<ModelConfig['drift']> = {},
  prediction: ModelConfig['prediction'] = { field: 'prediction', type: 'numeric' },
): ModelConfig {
  return {
    id: 'credit-risk',
    task: 'binary-classification',
    features: features.map(
      ([name, type]): FeatureConfig => ({ name, type, test: null, threshold: null }),
    ),
    prediction,
    label: { field: 'label', positive: 1, threshold: 0.5 },
    windows: { sizes: [{ label: '5m', ms: 300_000 }], allowedLatenessMs: 0, idleTimeoutMs: 0 },
    versions: { allow: null, maxActive: 10, baselineFallback: 'none' },
    drift: {
      minWindowSize: 100,
      shareThreshold: 0.5,
      fdr: 0.05,
      bins: 100,
      psiBuckets: 10,
      psiThreshold: 0.2,
      topCategories: 5,
      sampleSize: 1000,
      ...drift,
    },
    piiFields: [],
    alerts: defaultAlerts('binary-classification'),
  };
}

/** Deterministic test data (mulberry32). */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function numeric(p: unknown): NumericProfile {
  expect((p as NumericProfile).kind).toBe('numeric');
  return p as NumericProfile;
}

function categorical(p: unknown): CategoricalProfile {
  expect((p as CategoricalProfile).kind).toBe('categorical');
  return p as CategoricalProfile;
}

/** Brute-force count of values in bin i: {e0} for i = 0, (e[i-1], e[i]] after. */
function bruteCounts(values: number[], edges: number[]): number[] {
  return edges.map((e, i) =>
    i === 0
      ? values.filter((v) => v === e).length
      : values.filter((v) => v > edges[i - 1]! && v <= e).length,
  );
}

function quantile7(sorted: number[], q: number): number {
  const h = (sorted.length - 1) * q;
  const lo = Math.floor(h);
  const hi = Math.min(lo + 1, sorted.length - 1);
  return sorted[lo]! + (sorted[hi]! - sorted[lo]!) * (h - lo);
}

describe('buildProfileFromRows: numeric features', () => {
  const m = model([
    ['income', 'numeric'],
    ['score', 'numeric'],
  ]);
  const r = rng(1);
  const rows = Array.from({ length: 5000 }, (_, i) => ({
    features: {
      income: Math.round(Math.exp(10 + r()) * 100) / 100,
      // A discrete feature with ties, and some missing values.
      score: i % 10 === 0 ? null : Math.floor(r() * 5),
    },
    prediction: r(),
  }));

  const { profile, badRows } = buildProfileFromRows(m, '3', rows, { createdAt: 0 });

  it('counts every value exactly into the fine bins', () => {
    const income = numeric(profile.features.income);
    const values = rows.map((x) => x.features.income);
    expect(income.counts).toEqual(bruteCounts(values, income.edges));
    expect(income.counts.reduce((a, b) => a + b, 0)).toBe(5000);
    expect(income.edges.length).toBeLessThanOrEqual(m.drift.bins + 1);
    expect(income.edges[0]).toBe(Math.min(...values));
    expect(income.edges.at(-1)).toBe(Math.max(...values));
    expect(income.coarse).toHaveLength(income.edges.length);
    expect(new Set(income.coarse).size).toBe(10);
  });

  it('gives ties one bin per atom and counts missing values apart', () => {
    const score = numeric(profile.features.score);
    expect(score.edges).toEqual([0, 1, 2, 3, 4]);
    const values = rows.map((x) => x.features.score).filter((v): v is number => v !== null);
    expect(score.counts).toEqual(bruteCounts(values, score.edges));
    expect(score.missing).toBe(500);
    expect(score.nan).toBe(0);
    expect(score.summary.count).toBe(4500);
  });

  it('has exact summary statistics (and exact percentiles below the reservoir size)', () => {
    const values = rows.map((x) => x.features.income);
    const sorted = [...values].sort((a, b) => a - b);
    const mean = values.reduce((a, b) => a + b, 0) / values.length;
    const std = Math.sqrt(values.reduce((a, v) => a + (v - mean) ** 2, 0) / (values.length - 1));
    const s = numeric(profile.features.income).summary;
    expect(s.count).toBe(5000);
    expect(s.mean).toBeCloseTo(mean, 6);
    expect(s.std).toBeCloseTo(std, 6);
    expect(s.min).toBe(sorted[0]);
    expect(s.max).toBe(sorted.at(-1));
    expect(s.p01).toBeCloseTo(quantile7(sorted, 0.01), 9);
    expect(s.p50).toBeCloseTo(quantile7(sorted, 0.5), 9);
    expect(s.p99).toBeCloseTo(quantile7(sorted, 0.99), 9);
  });

  it('keeps a sorted sample of sampleSize values drawn from the data', () => {
    const income = numeric(profile.features.income);
    expect(income.sample).toHaveLength(1000);
    expect(income.sample).toEqual([...income.sample].sort((a, b) => a - b));
    const all = new Set(rows.map((x) => x.features.income));
    expect(income.sample.every((v) => all.has(v))).toBe(true);
  });

  it('profiles the prediction and records rows and params', () => {
    expect(profile.prediction?.kind).toBe('numeric');
    expect(profile.rowCount).toBe(5000);
    expect(profile.badRows).toBe(0);
    expect(badRows.total).toBe(0);
    expect(profile.params).toEqual({
      bins: 100,
      psiBuckets: 10,
      topCategories: 5,
      sampleSize: 1000,
    });
    expect(profile).toMatchObject({ model: 'credit-risk', version: '3', source: 'memory' });
    expect(profile.id).toMatch(/^bl_[0-9a-f]{16}$/);
    expect(profile.hash).toMatch(/^[0-9a-f]{64}$/);
    expect(profile.id).toBe(`bl_${profile.hash.slice(0, 16)}`);
  });
});

describe('buildProfileFromRows: beyond the reservoir', () => {
  it('takes edges from the reservoir, counts exactly, and still covers the exact range', () => {
    const m = model([['x', 'numeric']], { bins: 50, sampleSize: 200 });
    const n = EDGE_SAMPLE_MIN + 30_000;
    const r = rng(7);
    const values = Array.from({ length: n }, () => r() * 1000);
    values[n - 1] = -5; // an extreme the reservoir is unlikely to hold
    const { profile } = buildProfileFromRows(
      m,
      '1',
      values.map((x) => ({ x })),
      { createdAt: 0 },
    );
    const x = numeric(profile.features.x);
    expect(x.edges[0]).toBe(-5);
    expect(x.counts.reduce((a, b) => a + b, 0)).toBe(n);
    expect(x.counts).toEqual(bruteCounts(values, x.edges));
    // Bins from a 100k sample are near equal-mass: each within a few percent of n/bins.
    for (const c of x.counts.slice(2)) expect(Math.abs(c - n / 50) / (n / 50)).toBeLessThan(0.1);
    expect(x.sample).toHaveLength(200);
    expect(x.summary.min).toBe(-5);
  });
});

describe('buildProfileFromRows: categorical features', () => {
  it('keeps the top-N most frequent first with exact counts, and the rest in other', () => {
    const m = model([['region', 'categorical']], { topCategories: 3 });
    const freq: [string, number][] = [
      ['EU', 50],
      ['US', 30],
      ['APAC', 10],
      ['LATAM', 10],
      ['MEA', 5],
    ];
    const rows = freq.flatMap(([region, n]) => Array.from({ length: n }, () => ({ region })));
    rows.push({ region: '' }, { region: null as unknown as string });
    const { profile } = buildProfileFromRows(m, '1', rows, { createdAt: 0 });
    const region = categorical(profile.features.region);
    // APAC and LATAM tie at 10: broken by name, so the top-3 is deterministic.
    expect(region.categories).toEqual(['EU', 'US', 'APAC']);
    expect(region.counts).toEqual([50, 30, 10]);
    expect(region.other).toBe(15);
    expect(region.missing).toBe(2);
    expect(region.distinct).toBe(5);
    // Every other value the baseline had, so a window can tell "seen, outside the top-N" from
    // "never seen".
    expect(region.seen).toEqual(['LATAM', 'MEA']);
    expect(region.seenComplete).toBe(true);
  });

  it('finds the heavy hitters of a high-cardinality column and counts them exactly', () => {
    const m = model([['merchant', 'categorical']], { topCategories: 3 });
    const r = rng(3);
    const rows: { merchant: string | number | boolean }[] = [];
    // 3 heavy categories (~20%, 10%, 5%) in a sea of 40 000 unique ids, interleaved so the
    // heavy ones arrive while the counters are full.
    for (let i = 0; i < 60_000; i++) {
      const u = r();
      rows.push({ merchant: u < 0.2 ? 'amazon' : u < 0.3 ? 42 : u < 0.35 ? true : `m-${i}` });
    }
    const { profile } = buildProfileFromRows(m, '1', rows, { createdAt: 0 });
    const merchant = categorical(profile.features.merchant);
    const count = (v: string) => rows.filter((x) => String(x.merchant) === v).length;
    expect(merchant.categories).toEqual(['amazon', '42', 'true']);
    expect(merchant.counts).toEqual([count('amazon'), count('42'), count('true')]);
    expect(merchant.other).toBe(60_000 - merchant.counts.reduce((a, b) => a + b, 0));
    expect(merchant.distinct).toBe(10_000); // capped: a floor
    // The seen list stops at the cap too, and says so.
    expect(merchant.seen!.length).toBeLessThanOrEqual(10_000);
    expect(merchant.seen).toContain('m-0');
    expect(merchant.seenComplete).toBe(false);
  });

  it('numeric profiles carry the exact distinct count and per-bin gap sums', () => {
    const m = model([['rating', 'numeric']]);
    // Five values, 400 rows each (the fine edges interpolate between them: more than 5 edges).
    const rows = Array.from({ length: 2000 }, (_, i) => ({ rating: (i % 5) + 1 }));
    const { profile } = buildProfileFromRows(m, '1', rows, { createdAt: 0 });
    const rating = profile.features.rating as NumericProfile;
    expect(rating.distinct).toBe(5);
    expect(rating.edges.length).toBeGreaterThan(5);
    // Every value sits on its bin's upper edge: all gap sums are exactly 0.
    expect(rating.gaps).toEqual(rating.counts.map(() => 0));
    expect(rating.gapSquares).toEqual(rating.counts.map(() => 0));
    const cont = buildProfileFromRows(
      m,
      '1',
      Array.from({ length: 3000 }, (_, i) => ({ rating: Math.sin(i) * 1000 })),
      { createdAt: 0 },
    ).profile.features.rating as NumericProfile;
    expect(cont.distinct).toBe(3000);
    expect(cont.gaps!.some((g) => g > 0)).toBe(true);
  });

  it('keeps pass-1 state bounded whatever the cardinality', () => {
    const m = model(
      [
        ['id', 'categorical'],
        ['x', 'numeric'],
      ],
      { topCategories: 4 },
    );
    const builder = createProfileBuilder(m, '1');
    for (let i = 0; i < 150_000; i++) builder.observe([`id-${i}`, i, 0.5], i + 2);
    const stats = builder.stats();
    expect(stats.rows).toBe(150_000);
    expect(stats.candidateKeys).toBeLessThanOrEqual(CANDIDATE_FACTOR * 4);
    expect(stats.distinctKeys).toBeLessThanOrEqual(10_000);
    // x and the prediction: one reservoir each.
    expect(stats.reservoirValues).toBe(2 * EDGE_SAMPLE_MIN);
  });
});

describe('buildProfileFromRows: bad rows and missing values', () => {
  const m = model([
    ['income', 'numeric'],
    ['region', 'categorical'],
  ]);

  it('reports each bad row with its line, field and reason, and leaves it out of every column', () => {
    const rows: Record<string, unknown>[] = [
      { income: 1, region: 'EU', prediction: 0.1 },
      { income: 'abc', region: 'EU', prediction: 0.1 },
      { income: Number.NaN, region: 'EU', prediction: 0.1 },
      { income: '1e999', region: 'US', prediction: 0.1 },
      { region: 'US', prediction: 0.1 },
      { income: 2, region: { nested: true }, prediction: 0.1 },
      { income: true, region: 'US', prediction: 0.1 },
      { income: 3, region: 'US', prediction: 'NaN' },
      { income: '  ', region: '', prediction: null },
      { income: ' 4 ', region: 'US' },
    ];
    const { profile, badRows } = buildProfileFromRows(m, '1', rows, { createdAt: 0 });
    expect(badRows.first.map((b) => [b.line, b.field, b.reason])).toEqual([
      [2, 'income', 'not-a-number'],
      [3, 'income', 'nan'],
      [4, 'income', 'non-finite'],
      [5, 'income', 'missing-field'],
      [6, 'region', 'wrong-type'],
      [7, 'income', 'wrong-type'],
      [8, 'prediction', 'nan'],
    ]);
    expect(badRows.total).toBe(7);
    expect(badRows.byReason).toEqual({
      'not-a-number': 1,
      nan: 2,
      'non-finite': 1,
      'missing-field': 1,
      'wrong-type': 2,
    });
    expect(profile.rowCount).toBe(3);
    expect(profile.badRows).toBe(7);
    const income = numeric(profile.features.income);
    expect(income.summary.count).toBe(2); // 1 and " 4 "; the blank cell is missing
    expect(income.missing).toBe(1);
    const region = categorical(profile.features.region);
    expect(region.categories).toEqual(['EU', 'US']); // 1 each: a tie, broken by name
    expect(region.missing).toBe(1);
    const prediction = numeric(profile.prediction);
    expect(prediction.summary.count).toBe(1);
    expect(prediction.missing).toBe(2);
  });

  it('fails when there is no valid row', () => {
    expect(() => buildProfileFromRows(m, '1', [{ income: 'x', region: 'EU' }])).toThrow(
      /memory: no valid rows \(1 bad row\)/,
    );
    expect(() => buildProfileFromRows(m, '1', [])).toThrow(BaselineError);
  });

  it('fails when a numeric feature has no value at all', () => {
    expect(() =>
      buildProfileFromRows(m, '1', [{ income: null, region: 'EU' }], { source: 'train.csv' }),
    ).toThrow(/train.csv: numeric feature "income" has no value/);
  });

  it('has no prediction profile when no row has a prediction', () => {
    const { profile } = buildProfileFromRows(m, '1', [{ income: 1, region: 'EU' }]);
    expect(profile.prediction).toBeNull();
  });

  it('profiles a categorical prediction', () => {
    const mc = model([['income', 'numeric']], {}, { field: 'label_pred', type: 'categorical' });
    const { profile } = buildProfileFromRows(mc, '1', [
      { income: 1, label_pred: 'yes' },
      { income: 2, label_pred: 'no' },
      { income: 3, label_pred: 'yes' },
    ]);
    expect(categorical(profile.prediction)).toMatchObject({
      categories: ['yes', 'no'],
      counts: [2, 1],
    });
  });
});

describe('buildProfileFromRows: content hash', () => {
  const m = model([
    ['a', 'numeric'],
    ['b', 'categorical'],
  ]);
  const rows = Array.from({ length: 300 }, (_, i) => ({
    a: i * 0.5,
    b: `c${i % 7}`,
    prediction: i / 300,
  }));

  it('is the same for the same rows, and so is the whole profile', () => {
    const one = buildProfileFromRows(m, '1', rows, { createdAt: 1 }).profile;
    const two = buildProfileFromRows(
      m,
      '1',
      (function* () {
        yield* rows;
      })(),
      { createdAt: 1 },
    ).profile;
    expect(two).toEqual(one);
  });

  it('changes with the data, the params, the feature spec and the version', () => {
    const base = buildProfileFromRows(m, '1', rows).profile.id;
    const changed = rows.map((r, i) => (i === 17 ? { ...r, a: r.a + 1e-9 } : r));
    expect(buildProfileFromRows(m, '1', changed).profile.id).not.toBe(base);
    expect(
      buildProfileFromRows(
        model(
          [
            ['a', 'numeric'],
            ['b', 'categorical'],
          ],
          { bins: 50 },
        ),
        '1',
        rows,
      ).profile.id,
    ).not.toBe(base);
    expect(
      buildProfileFromRows(
        model([
          ['a', 'numeric'],
          ['b', 'numeric'],
        ]),
        '1',
        rows.map((r) => ({ ...r, b: 1 })),
      ).profile.id,
    ).not.toBe(
      buildProfileFromRows(
        m,
        '1',
        rows.map((r) => ({ ...r, b: 1 })),
      ).profile.id,
    );
    expect(buildProfileFromRows(m, '2', rows).profile.id).not.toBe(base);
  });
});
