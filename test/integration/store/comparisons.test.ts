/**
 * version_comparisons and shadow agreement on both drivers, no doubles: the embedded ClickHouse
 * (chDB) in-process, and the server driver (@clickhouse/client) against the stand-in HTTP
 * interface served by the same engine (test/helpers/clickhouse-http.ts).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { StoredComparison } from '../../../src/store/comparison-sql.js';
import { createStore } from '../../../src/store/index.js';
import type { SqlExecutor, Store, StoredEvent } from '../../../src/store/types.js';
import type { FeatureDrift, FeatureValue } from '../../../src/types.js';
import { STORE_DRIVERS } from '../../helpers/store-drivers.js';

const T0 = Date.UTC(2026, 10, 22, 10, 0, 0);
const MIN = 60_000;

const DRIVERS = STORE_DRIVERS;

const drift: FeatureDrift = {
  feature: 'income',
  type: 'numeric',
  test: 'ks',
  statistic: 0.12,
  pValue: 0.003,
  adjustedPValue: 0.009,
  threshold: 0.05,
  drifted: true,
  psi: 0.21,
  ksStatistic: 0.125,
  ksBound: 0.001,
  ksPValue: 0.004,
  verdictRule: 'calibrated',
  effect: 0.12,
  effectFloor: 0.1,
  count: 480,
  missingRatio: 0.01,
  outOfRangeRatio: 0.002,
  unseenRatio: 0,
  otherRatio: 0.01,
  statisticBound: 0.002,
  boundStraddlesThreshold: false,
  insufficient: false,
};

function comparison(over: Partial<StoredComparison> = {}): StoredComparison {
  return {
    model: 'credit-risk',
    champion: '3',
    challenger: "4'; DROP TABLE x; --",
    window: '5m',
    windowStart: T0,
    windowEnd: T0 + 5 * MIN,
    championEvents: 900,
    challengerEvents: 100,
    challengerShare: 0.1,
    features: [drift],
    prediction: { ...drift, feature: 'prediction', drifted: false },
    estimated: {
      roc_auc: { champion: 0.8, challenger: 0.7, difference: -0.1, standardError: 0.05 },
    },
    realised: {},
    shadow: null,
    driftdVersion: '0.9.0',
    configHash: 'sha256:abc',
    writtenAt: T0 + 6 * MIN,
    ...over,
  };
}

function event(version: string, id: string, prediction: FeatureValue, ts = T0 + 1000): StoredEvent {
  return {
    model: 'credit-risk',
    version,
    id,
    ts,
    features: { income: 1 },
    prediction,
    late: false,
    source: { kind: 'http' },
    ingestedAt: ts + 5,
  };
}

describe.each(DRIVERS)('version comparisons on the $name', (driver) => {
  let dir: string;
  let exec: SqlExecutor;
  let store: Store;
  let stop: () => Promise<void>;

  beforeEach(async () => {
    dir = mkdtempSync(join(tmpdir(), 'driftd-compare-'));
    ({ exec, stop } = await driver.open(dir));
    store = createStore(
      exec.kind === 'embedded'
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
      { executor: exec },
    );
    await store.migrate();
  });

  afterEach(async () => {
    await store.close();
    await stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('round-trips a comparison; a later write of the same pair and window is the one read (append-only)', async () => {
    const first = comparison();
    await store.insertComparisons([first]);
    const q = { model: 'credit-risk', from: T0, to: T0 + 1 };
    expect(await store.queryComparisons(q)).toEqual([first]);

    const labelled = comparison({
      realised: {
        accuracy: { champion: 0.9, challenger: 0.8, difference: -0.1, standardError: null },
      },
      shadow: { matched: 3, agreement: 2 / 3, scoreDifference: null },
      writtenAt: T0 + 60 * MIN,
    });
    await store.insertComparisons([
      labelled,
      comparison({ windowStart: T0 + 5 * MIN, windowEnd: T0 + 10 * MIN }),
    ]);
    expect(await store.queryComparisons(q)).toEqual([labelled]);
    // Both rows are kept (append-only): the first is still in the table.
    const [n] = await exec.query<{ n: string }>(
      'SELECT count() AS n FROM `driftd`.`version_comparisons`',
    );
    expect(Number(n!.n)).toBe(3);
    // Filters: window start range, window, champion, challenger.
    const all = await store.queryComparisons({ model: 'credit-risk', from: T0, to: T0 + 10 * MIN });
    expect(all.map((c) => c.windowStart)).toEqual([T0, T0 + 5 * MIN]);
    expect(await store.queryComparisons({ ...q, window: '1h' })).toEqual([]);
    expect(await store.queryComparisons({ ...q, champion: '4' })).toEqual([]);
    expect(await store.queryComparisons({ ...q, challenger: first.challenger })).toHaveLength(1);
  });

  it('latestComparisons: the newest revision of the newest windows of each pair and size, oldest first', async () => {
    const at = (w: number, over: Partial<StoredComparison> = {}) =>
      comparison({ windowStart: T0 + w * 5 * MIN, windowEnd: T0 + (w + 1) * 5 * MIN, ...over });
    const rows = [0, 1, 2, 3, 4, 5].map((w) => at(w));
    const rewrite = at(5, {
      realised: {
        accuracy: { champion: 0.9, challenger: 0.8, difference: -0.1, standardError: null },
      },
      writtenAt: T0 + 90 * MIN,
    });
    const other = at(0, { challenger: '5' });
    const otherModel = at(5, { model: 'fraud' });
    await store.insertComparisons([...rows, rewrite, other, otherModel]);
    const got = await store.latestComparisons('credit-risk', 3);
    expect(got.map((c) => [c.challenger === '5' ? 'other' : 'pair', c.windowStart])).toEqual([
      ['other', T0],
      ['pair', T0 + 15 * MIN],
      ['pair', T0 + 20 * MIN],
      ['pair', T0 + 25 * MIN],
    ]);
    expect(got.at(-1)).toEqual(rewrite);
    expect(await store.latestComparisons('nope', 3)).toEqual([]);
  });

  it('a null share and no drift verdict round-trip', async () => {
    const c = comparison({ challengerShare: null, features: [], prediction: null, estimated: {} });
    await store.insertComparisons([c]);
    expect(await store.queryComparisons({ model: 'credit-risk', from: T0, to: T0 + 1 })).toEqual([
      c,
    ]);
  });

  it('shadow agreement: ids scored by both versions in the window, their classes and score differences', async () => {
    await store.insertEvents([
      event('3', 'a', 0.9),
      event('4', 'a', 0.7), // same class (≥ 0.5), |Δ| 0.2
      event('3', 'b', 0.2),
      event('4', 'b', 0.6), // other class, |Δ| 0.4
      event('3', 'c', 0.1),
      event('4', 'c', 0.1), // same, 0
      event('3', 'only-champion', 0.5),
      event('4', 'only-challenger', 0.5),
      event('3', 'later', 0.9, T0 + 10 * MIN),
      event('4', 'later', 0.1, T0 + 10 * MIN),
      event('3', 'label', 'yes'),
      event('4', 'label', 'yes'), // a class, no score
    ]);
    const q = {
      model: 'credit-risk',
      champion: '3',
      challenger: '4',
      from: T0,
      to: T0 + 5 * MIN,
      classes: 'binary' as const,
      threshold: 0.5,
      positive: 'yes',
    };
    const s = await store.shadowAgreement(q);
    expect(s.matched).toBe(4);
    expect(s.agreement).toBeCloseTo(3 / 4, 12);
    expect(s.scoreDifference!.max).toBeCloseTo(0.4, 12);
    expect(s.scoreDifference!.mean).toBeCloseTo(0.2, 12);
    expect(s.scoreDifference!.p50).toBeCloseTo(0.2, 12);
    // Regression: no agreement, the differences only.
    const r = await store.shadowAgreement({ ...q, classes: 'none' });
    expect(r.agreement).toBeNull();
    expect(r.scoreDifference!.max).toBeCloseTo(0.4, 12);
    // Nothing matched: zero, no agreement, no difference.
    expect(await store.shadowAgreement({ ...q, challenger: '5' })).toEqual({
      matched: 0,
      agreement: null,
      scoreDifference: null,
    });
  });
});
