/**
 * Segments in the window state (src/window/segments.ts, state.ts, segment-results.ts) and the
 * baseline's segment profiles (src/baseline/segments.ts).
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { buildProfileFromRows } from '../../../src/baseline/index.js';
import { baselineSpec } from '../../../src/baseline/profile.js';
import { SEGMENT_TALLY_CAP } from '../../../src/baseline/segments.js';
import { modelConfigHash } from '../../../src/config/hash.js';
import type { ModelConfig } from '../../../src/config/types.js';
import type { PredictionEvent, WindowBounds } from '../../../src/types.js';
import { createWindowState, evaluateSegments, evaluateWindow } from '../../../src/window/index.js';
import { testModel } from '../../helpers/model.js';
import { makeBaseline, makeEvents, makeRows } from './fixtures.js';

const segmented = testModel({ segments: { fields: ['region'], maxPerField: 2 } });
const bounds = (model: ModelConfig): WindowBounds => ({
  model: model.id,
  version: '3',
  size: 300_000,
  sizeLabel: '5m',
  start: 0,
  end: 300_000,
});

describe('baseline segment profiles', () => {
  const baseline = makeBaseline(segmented, '3', 4000);

  it('the maxPerField most frequent values and __other__, each profiled on its own rows', () => {
    const region = baseline.segments?.region;
    // EU 50 %, US 30 %, APAC 20 %: APAC is beyond the top 2.
    expect(region?.values).toEqual(['EU', 'US']);
    expect(Object.keys(region?.profiles ?? {}).sort()).toEqual(['EU', 'US', '__other__']);
    const rows = Object.values(region!.profiles).map((p) => p.rowCount);
    expect(rows.reduce((a, b) => a + b, 0)).toBe(baseline.rowCount);
    // The segment field is constant within a segment: not profiled there.
    expect(Object.keys(region!.profiles.EU!.features).sort()).toEqual(['age', 'income']);
    expect(region!.profiles.EU!.prediction?.kind).toBe('numeric');
  });

  it('changes the baseline id only for a model with segments', () => {
    const plain = testModel();
    expect(baselineSpec(plain, '3')).not.toContain('segments');
    expect(makeBaseline(plain, '3', 4000).id).not.toBe(baseline.id);
    expect(makeBaseline(plain, '3', 4000).segments).toBeUndefined();
  });

  it('a value too long for a label is never a segment: it counts in __other__', () => {
    const long = 'x'.repeat(300);
    const rows = makeRows(1000, 5).map((r, i) => ({
      ...r,
      features: { ...r.features, region: i % 10 < 7 ? long : 'EU' },
    }));
    const p = buildProfileFromRows(segmented, '3', rows).profile;
    expect(p.segments?.region?.values).toEqual(['EU']);
    expect(p.segments?.region?.profiles.__other__?.rowCount).toBe(700);
  });

  it('a segment field of too many distinct values is refused, naming it', () => {
    const rows = Array.from({ length: SEGMENT_TALLY_CAP + 1 }, (_, i) => ({
      features: { income: 1, age: 1, region: `r${i}` },
      prediction: 0.5,
    }));
    expect(() => buildProfileFromRows(segmented, '3', rows)).toThrow('segment field "region"');
  });
});

describe('segment window state', () => {
  const baseline = makeBaseline(segmented, '3', 4000);
  const events = (n: number, seed: number, region?: (i: number) => string | null) =>
    makeEvents(segmented, '3', makeRows(n, seed), (i) => i).map((e, i) =>
      region === undefined ? e : { ...e, features: { ...e.features, region: region(i) } },
    );

  it('memory is bounded by the baseline segments, whatever values producers send', () => {
    const state = createWindowState({ bounds: bounds(segmented), model: segmented, baseline });
    // 5000 distinct values never seen in the baseline, missing values, and the top ones.
    const sent = events(6000, 7, (i) =>
      i % 6 === 0 ? 'EU' : i % 6 === 1 ? 'US' : i % 6 === 2 ? null : `x-${i}`,
    );
    for (const e of sent) state.record(e);
    expect([...state.segments.keys()].sort()).toEqual([
      'region=EU',
      'region=US',
      'region=__other__',
    ]);
    const counts = [...state.segments.values()].map((s) => s.state.count);
    expect(counts.reduce((a, b) => a + b, 0)).toBe(6000);
    expect(state.segments.get('region=__other__')?.state.count).toBe(4000);
    expect(Object.keys(state.snapshot().segments ?? {})).toHaveLength(3);
  });

  it('partial states merge by addition into the state one instance builds (segments included)', () => {
    const all = events(3000, 11);
    const one = createWindowState({ bounds: bounds(segmented), model: segmented, baseline });
    const a = createWindowState({ bounds: bounds(segmented), model: segmented, baseline });
    const b = createWindowState({ bounds: bounds(segmented), model: segmented, baseline });
    all.forEach((e, i) => {
      one.record(e);
      (i % 3 === 0 ? a : b).record(e);
    });
    a.merge(b);
    // Counts are exact; the sketches' float sums only up to their order of addition.
    const rounded = (snap: unknown) =>
      JSON.parse(JSON.stringify(snap), (_k, v) =>
        typeof v === 'number' ? Number(v.toPrecision(12)) : v,
      );
    expect(rounded(a.snapshot())).toEqual(rounded(one.snapshot()));
    // A restore (snapshot → state) keeps the segments.
    const restored = createWindowState(
      { bounds: bounds(segmented), model: segmented, baseline },
      JSON.parse(JSON.stringify(one.snapshot())),
    );
    expect(restored.snapshot()).toEqual(one.snapshot());
    expect(
      evaluateSegments({ state: restored, closedAt: 1 }, segmented).map((r) => r.segment),
    ).toEqual(['region=EU', 'region=US', 'region=__other__']);
  });

  it("segment results record the model's effective config and the write's reason (lineage)", () => {
    const state = createWindowState({ bounds: bounds(segmented), model: segmented, baseline });
    for (const e of events(600, 13)) state.record(e);
    const results = evaluateSegments({ state, closedAt: 1, revisionReason: 'replay' }, segmented);
    expect(results.length).toBeGreaterThan(0);
    for (const r of results) {
      expect(r.configHash).toBe(modelConfigHash(segmented));
      expect(r.revisionReason).toBe('replay');
    }
  });

  it('a model without segments keeps windows without segment state', () => {
    const plain = testModel();
    const state = createWindowState({
      bounds: bounds(plain),
      model: plain,
      baseline: makeBaseline(plain, '3'),
    });
    for (const e of events(100, 3)) state.record(e);
    expect(state.segments.size).toBe(0);
    expect(state.snapshot()).not.toHaveProperty('segments');
  });
});

describe('a segment is judged against the baseline rows of that segment', () => {
  // German Credit (test/fixtures/fairness-german.json): women are younger than men.
  const fixture = JSON.parse(
    readFileSync(new URL('../../fixtures/fairness-german.json', import.meta.url), 'utf8'),
  ) as { rows: { sex: string[]; age: number[]; score: number[] } };
  const model = testModel({
    id: 'credit',
    features: [
      { name: 'sex', type: 'categorical', test: null, threshold: null },
      { name: 'age', type: 'numeric', test: null, threshold: null },
    ],
    drift: { ...testModel().drift, minWindowSize: 50 },
    segments: { fields: ['sex'], maxPerField: 5 },
  });
  const rows = fixture.rows.sex.map((sex, i) => ({
    features: { sex, age: fixture.rows.age[i]! },
    prediction: fixture.rows.score[i]!,
  }));
  const baseline = buildProfileFromRows(model, '3', rows).profile;
  const women: PredictionEvent[] = rows
    .map((r, i) => ({ model: 'credit', version: '3', id: `${i}`, ts: i, ...r }))
    .filter((e) => e.features.sex === 'female');

  it("the women's own ages are no drift of their segment, though they differ from everyone's", () => {
    const state = createWindowState({ bounds: bounds(model), model, baseline });
    for (const e of women) state.record(e);
    const [segment] = evaluateSegments({ state, closedAt: 1 }, model);
    expect(segment?.segment).toBe('sex=female');
    expect(segment?.features.find((f) => f.feature === 'age')?.drifted).toBe(false);
    // The same rows against the whole baseline read as drift: what a per-segment reference avoids.
    const whole = evaluateWindow({ state, closedAt: 1 }, baseline, model);
    expect(whole.features.find((f) => f.feature === 'age')?.drifted).toBe(true);
  });
});
