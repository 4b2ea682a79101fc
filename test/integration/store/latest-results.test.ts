/**
 * Store.latestResults, what a restarted daemon puts back on /metrics (src/export/restore.ts),
 * on both drivers: the embedded engine, and the ClickHouse server driver against the STAND-IN
 * HTTP interface (test/helpers/clickhouse-http.ts; no ClickHouse server can run here).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createStore } from '../../../src/store/index.js';
import type { Store } from '../../../src/store/types.js';
import type { FeatureDrift, PerformanceResult, WindowResult } from '../../../src/types.js';
import { STORE_DRIVERS } from '../../helpers/store-drivers.js';

const T0 = Date.UTC(2026, 10, 22, 10, 0, 0);
const MIN = 60_000;
const HOUR_MS = 60 * MIN;

const DRIVERS = STORE_DRIVERS;

function drift(feature: string, drifted: boolean): FeatureDrift {
  return {
    feature,
    type: 'numeric',
    test: 'ks',
    statistic: drifted ? 0.3 : 0.01,
    pValue: drifted ? 1e-6 : 0.8,
    adjustedPValue: drifted ? 1e-5 : 0.8,
    threshold: 0.05,
    drifted,
    psi: drifted ? 0.4 : 0.01,
    ksStatistic: drifted ? 0.3 : 0.01,
    ksBound: 0.001,
    ksPValue: drifted ? 1e-6 : 0.8,
    verdictRule: 'calibrated',
    effect: 0.3,
    effectFloor: 0.1,
    count: 480,
    missingRatio: 0,
    outOfRangeRatio: 0,
    unseenRatio: 0,
    otherRatio: 0,
    statisticBound: 0.001,
    boundStraddlesThreshold: false,
    insufficient: false,
  };
}

/** Window k of a version and size: `income` drifted as given, `age` never; dataset = income. */
function result(k: number, incomeDrifted: boolean, over: Partial<WindowResult> = {}): WindowResult {
  const size = over.size ?? 5 * MIN;
  const start = T0 + k * size;
  return {
    model: 'credit-risk',
    version: '3',
    size,
    sizeLabel: '5m',
    start,
    end: start + size,
    baselineId: 'b-1',
    baselineHash: 'sha256:abc',
    eventCount: 500 + k,
    lateCount: 0,
    closedAt: start + size + 1000,
    provisional: false,
    features: [drift('income', incomeDrifted), drift('age', false)],
    prediction: drift('__prediction__', incomeDrifted),
    driftShare: incomeDrifted ? 0.5 : 0,
    datasetDrift: incomeDrifted,
    ...over,
  };
}

function performance(k: number, over: Partial<PerformanceResult> = {}): PerformanceResult {
  const start = T0 + k * 5 * MIN;
  return {
    model: 'credit-risk',
    version: '3',
    size: 5 * MIN,
    sizeLabel: '5m',
    start,
    end: start + 5 * MIN,
    labeled: 100,
    coverage: 0.2,
    metrics: { accuracy: 0.9 - k / 100 },
    computedAt: start + 10 * MIN,
    ...over,
  };
}

describe.each(DRIVERS)('Store.latestResults on the $name', (driver) => {
  let dir: string;
  let store: Store;
  let stop: () => Promise<void>;

  beforeEach(async () => {
    dir = mkdtempSync(join(tmpdir(), 'driftd-latest-'));
    const opened = await driver.open(dir);
    stop = opened.stop;
    store = createStore(
      opened.exec.kind === 'embedded'
        ? { kind: 'embedded', path: dir, rawEventsTtlDays: 30 }
        : {
            kind: 'clickhouse',
            url: 'http://stand-in.invalid',
            database: 'driftd',
            username: 'default',
            password: '',
            requestTimeoutMs: 10_000,
            rawEventsTtlDays: 30,
          },
      { executor: opened.exec },
    );
    await store.migrate();
  });

  afterEach(async () => {
    await store.close();
    await stop();
    rmSync(dir, { recursive: true, force: true });
  });

  const query = {
    model: 'credit-risk',
    windows: ['5m', '1h'],
    maxVersions: 10,
    history: 64,
    horizon: 1024,
  };

  it('segment results (migration 15) are stored beside the whole window, never read as it', async () => {
    const seg = { segment: 'region=EU' };
    await store.insertWindowResults([
      result(0, false),
      result(1, false),
      // The segment's rows share every key column with the whole window's but the segment.
      result(0, true, seg),
      result(1, true, seg),
      // Newer than any whole window, and a version with segment results only.
      result(2, true, seg),
      result(5, true, { ...seg, version: '9' }),
    ]);
    const latest = await store.latestResults(query);
    expect(latest.versions).toEqual(['3']);
    expect(latest.windows.map((w) => [w.start, w.segment, w.datasetDrift])).toEqual([
      [T0 + 5 * MIN, undefined, false],
    ]);
    // No drifted window in any whole-traffic series: the segment's verdicts are not in them.
    expect(latest.verdicts.flatMap((s) => s.verdicts).every((v) => !v.drifted)).toBe(true);
    const newest = await store.latestWindowResult('credit-risk', { window: '5m' });
    expect([newest?.start, newest?.segment]).toEqual([T0 + 5 * MIN, undefined]);

    const range = { model: 'credit-risk', from: T0 - HOUR_MS, to: T0 + HOUR_MS, window: '5m' };
    const whole = await store.queryDrift(range);
    expect(
      whole.map((w) => [
        w.start,
        w.segment,
        w.features.find((f) => f.feature === 'income')?.drifted,
      ]),
    ).toEqual([
      [T0, undefined, false],
      [T0 + 5 * MIN, undefined, false],
    ]);
    const eu = await store.queryDrift({ ...range, version: '3', segment: 'region=EU' });
    expect(
      eu.map((w) => [w.start, w.segment, w.features.find((f) => f.feature === 'income')?.drifted]),
    ).toEqual([
      [T0, 'region=EU', true],
      [T0 + 5 * MIN, 'region=EU', true],
      [T0 + 10 * MIN, 'region=EU', true],
    ]);
    const every = await store.queryDrift({ ...range, segment: '*' });
    expect(every.map((w) => `${w.version} ${w.segment}`)).toEqual([
      '3 region=EU',
      '3 region=EU',
      '3 region=EU',
      '9 region=EU',
    ]);
    expect(await store.queryDrift({ ...range, segment: 'region=US' })).toEqual([]);
  });

  it('segment performance (migration 19) is stored beside the whole window, never read as it', async () => {
    const seg = { segment: 'region=EU' };
    await store.insertWindowResults([result(0, false), result(1, false)]);
    await store.insertPerformance([
      performance(0),
      performance(1),
      // Same key columns as the whole window's but the segment, written later: it would
      // replace the whole record if the segment were not in the key.
      performance(0, { ...seg, labeled: 7, metrics: { accuracy: 0.1 }, computedAt: T0 + HOUR_MS }),
      performance(1, { ...seg, labeled: 8, metrics: { accuracy: 0.2 }, computedAt: T0 + HOUR_MS }),
      // Newer than any whole record.
      performance(2, { ...seg, labeled: 9, metrics: { accuracy: 0.3 } }),
    ]);
    const latest = await store.latestResults(query);
    expect(latest.performance.map((p) => [p.start, p.segment, p.labeled])).toEqual([
      [T0, undefined, 100],
      [T0 + 5 * MIN, undefined, 100],
    ]);
    const range = { model: 'credit-risk', from: T0 - HOUR_MS, to: T0 + HOUR_MS, window: '5m' };
    const whole = await store.queryPerformance(range);
    expect(whole.map((p) => [p.start, p.segment, p.labeled, p.metrics.accuracy])).toEqual([
      [T0, undefined, 100, 0.9],
      [T0 + 5 * MIN, undefined, 100, 0.89],
    ]);
    const eu = await store.queryPerformance({ ...range, version: '3', segment: 'region=EU' });
    expect(eu.map((p) => [p.start, p.segment, p.labeled])).toEqual([
      [T0, 'region=EU', 7],
      [T0 + 5 * MIN, 'region=EU', 8],
      [T0 + 10 * MIN, 'region=EU', 9],
    ]);
    expect((await store.queryPerformance({ ...range, segment: '*' })).length).toBe(3);
    expect(await store.queryPerformance({ ...range, segment: 'region=US' })).toEqual([]);
    const history = await store.windowHistory({ model: 'credit-risk', window: '5m', start: T0 });
    expect(history.performance.map((p) => [p.segment, p.labeled])).toEqual([[undefined, 100]]);
  });

  it('answers nothing for a model without results', async () => {
    expect(await store.latestResults(query)).toEqual({
      versions: [],
      windows: [],
      performance: [],
      verdicts: [],
    });
  });

  it('the newest window and performance of each version and size, of the newest versions only', async () => {
    const HOUR = 60 * MIN;
    await store.insertWindowResults([
      result(0, true),
      result(1, false),
      result(2, true),
      // Version 2: older windows; version 4: newest; version 1: oldest of all.
      result(0, false, { version: '2', end: T0 + 6 * MIN }),
      result(3, true, { version: '4' }),
      result(-5, true, { version: '1' }),
      result(0, true, { size: HOUR, sizeLabel: '1h' }),
      // Not a configured size: never read.
      result(9, true, { size: MIN, sizeLabel: '1m' }),
    ]);
    // Windows 2 and 3 have only the label-free estimate written at their close (no labels yet):
    // they are not windows with performance, and never push the labelled ones out of `history`.
    const estimateOnly = { labeled: 0, coverage: 0, metrics: { estimated_accuracy: 0.8 } };
    await store.insertPerformance([
      performance(0),
      performance(1),
      performance(0, { version: '2' }),
      performance(2, estimateOnly),
      performance(3, estimateOnly),
    ]);

    const all = await store.latestResults(query);
    // By newest window end: version 3's 1h window ends last.
    expect(all.versions).toEqual(['3', '4', '2', '1']);
    const keys = all.windows.map((w) => `${w.version} ${w.sizeLabel} ${w.start}`).sort();
    expect(keys).toEqual(
      [
        `1 5m ${T0 - 25 * MIN}`,
        `2 5m ${T0}`,
        `3 1h ${T0}`,
        `3 5m ${T0 + 10 * MIN}`,
        `4 5m ${T0 + 15 * MIN}`,
      ].sort(),
    );
    const newest = all.windows.find((w) => w.version === '3' && w.sizeLabel === '5m')!;
    const want = result(2, true);
    // The store lists features by name and names the reference (baseline) of every row.
    expect({ ...newest, reference: undefined }).toEqual({
      ...want,
      reference: undefined,
      features: [...want.features].sort((a, b) => a.feature.localeCompare(b.feature)),
    });
    // The newest `history` windows with labelled performance, ascending.
    expect(all.performance).toEqual([
      performance(0, { version: '2' }),
      performance(0),
      performance(1),
    ]);
    expect(
      (await store.latestResults({ ...query, history: 1 })).performance.map(
        (p) => `${p.version} ${p.start}`,
      ),
    ).toEqual([`2 ${T0}`, `3 ${T0 + 5 * MIN}`]);

    const two = await store.latestResults({ ...query, maxVersions: 2 });
    expect(two.versions).toEqual(['3', '4']);
    expect([...new Set(two.windows.map((w) => w.version))].sort()).toEqual(['3', '4']);
    expect(two.performance.map((p) => p.version)).toEqual(['3', '3']);
    expect(new Set(two.verdicts.map((v) => v.version))).toEqual(new Set(['3', '4']));
  });

  it('the verdicts of every series, a rewritten window once, and the run before the oldest listed', async () => {
    // income: drifted, clean, drifted ×3 → run 3; age never drifted → 0.
    const pattern = [true, false, true, true, true];
    await store.insertWindowResults(pattern.map((d, k) => result(k, d)));
    // Window 4 first written provisional and clean, then final and drifted (later closed_at):
    // the same window, counted once.
    await store.insertWindowResults([
      result(5, false, { provisional: true, closedAt: T0 + 31 * MIN }),
    ]);
    await store.insertWindowResults([result(5, true, { closedAt: T0 + 36 * MIN })]);
    // Windows without a verdict are not listed: window 6 with too few events for any feature
    // (no dataset verdict either); window 7 still open, found clean so far (provisional).
    const few = result(6, false);
    few.features = few.features.map((d) => ({ ...d, insufficient: true }));
    few.prediction = { ...few.prediction!, insufficient: true };
    await store.insertWindowResults([few, result(7, false, { provisional: true })]);

    const { verdicts } = await store.latestResults(query);
    const by = new Map(verdicts.map((v) => [`${v.window} ${v.series}`, v]));
    expect([...by.keys()].sort()).toEqual([
      '5m dataset',
      '5m feature:age',
      '5m feature:income',
      '5m prediction',
    ]);
    const income = by.get('5m feature:income')!;
    expect(income).toEqual({
      version: '3',
      window: '5m',
      series: 'feature:income',
      base: 0,
      truncated: false,
      verdicts: [...pattern, true].map((drifted, k) => ({ start: T0 + k * 5 * MIN, drifted })),
    });
    expect(by.get('5m dataset')!.verdicts.map((v) => v.drifted)).toEqual([...pattern, true]);
    expect(by.get('5m feature:age')!.verdicts.every((v) => !v.drifted)).toBe(true);

    // Only the newest 3: the run before them is 1 (window 2), older ones exist.
    const short = await store.latestResults({ ...query, history: 3 });
    const s = short.verdicts.find((v) => v.series === 'feature:income')!;
    expect(s.base).toBe(1);
    expect(s.truncated).toBe(true);
    expect(s.verdicts.map((v) => v.start)).toEqual([3, 4, 5].map((k) => T0 + k * 5 * MIN));

    // A horizon of 3 windows before the newest (window 7): windows 4..7 are read, so the run
    // before the newest 2 verdicts (windows 4, 5) is 0, not the 1 of window 2.
    const near = await store.latestResults({ ...query, history: 2, horizon: 3 });
    const n = near.verdicts.find((v) => v.series === 'feature:income')!;
    expect([n.base, n.truncated, n.verdicts.map((v) => v.start)]).toEqual([
      0,
      false,
      [4, 5].map((k) => T0 + k * 5 * MIN),
    ]);
  });
});
