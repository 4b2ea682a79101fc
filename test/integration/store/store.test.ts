/**
 * The Store on both drivers, no doubles: the embedded ClickHouse (chDB) in-process, and the
 * ClickHouse server driver (@clickhouse/client) against the STAND-IN ClickHouse HTTP interface
 * (test/helpers/clickhouse-http.ts, served by the same embedded engine: no ClickHouse server can
 * be installed here). Every test runs on both with the same expected values: round trips of
 * every entity, dedup, rewrites, injection safety, the label join, the exact KS, error codes.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { InvalidInputError, LifecycleError, StoreError } from '../../../src/errors.js';
import { ksTest } from '../../../src/stats/ks.js';
import { createChdbExecutor } from '../../../src/store/chdb.js';
import {
  type CreateStoreOptions,
  createClickHouseExecutor,
  createStore,
  storeErrorFromClickHouse,
} from '../../../src/store/index.js';
import { RowBinaryWriter } from '../../../src/store/sql.js';
import type { SqlExecutor, Store, StoredEvent } from '../../../src/store/types.js';
import type {
  BaselineProfile,
  FeatureDrift,
  PerformanceResult,
  WindowResult,
} from '../../../src/types.js';
import { type ClickHouseStandIn, startClickHouseStandIn } from '../../helpers/clickhouse-http.js';

const T0 = Date.UTC(2026, 10, 22, 10, 0, 0);
const MIN = 60_000;

interface Driver {
  name: string;
  /** An executor on `path`, and what to stop after the store is closed. */
  open(path: string): Promise<{ exec: SqlExecutor; stop: () => Promise<void> }>;
}

const DRIVERS: Driver[] = [
  {
    name: 'embedded driver (chDB in-process)',
    open: async (path) => ({ exec: createChdbExecutor({ path }), stop: async () => {} }),
  },
  {
    name: 'ClickHouse server driver (@clickhouse/client) via the stand-in HTTP interface',
    open: async (path) => {
      const standIn: ClickHouseStandIn = await startClickHouseStandIn({ path });
      return {
        exec: createClickHouseExecutor({
          url: standIn.url,
          username: 'default',
          password: '',
          requestTimeoutMs: 10_000,
        }),
        stop: () => standIn.close(),
      };
    },
  },
];

let dir: string;
let exec: SqlExecutor;
let store: Store;
let stop: () => Promise<void>;
let clock = T0 + 10 * MIN;

/** A store on the current test's executor (the config kind only labels it: the executor decides). */
function storeOn(opts: CreateStoreOptions = {}): Store {
  return createStore(
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
    { executor: exec, ...opts },
  );
}

function event(i: number, over: Partial<StoredEvent> = {}): StoredEvent {
  return {
    model: 'credit-risk',
    version: '3',
    id: `p-${i}`,
    ts: T0 + i * 1000,
    features: { income: 50000 + i, region: i % 2 ? 'EU' : 'US', vip: i % 3 === 0, age: null },
    prediction: i / 100,
    late: false,
    source: { kind: 'kafka', topic: 'predictions', partition: 1, offset: String(1000 + i) },
    ingestedAt: T0 + i * 1000 + 5,
    ...over,
  };
}

function drift(feature: string, over: Partial<FeatureDrift> = {}): FeatureDrift {
  return {
    feature,
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
    boundStraddlesThreshold: true,
    insufficient: false,
    ...over,
  };
}

function windowResult(start: number, over: Partial<WindowResult> = {}): WindowResult {
  return {
    model: 'credit-risk',
    version: '3',
    size: 5 * MIN,
    sizeLabel: '5m',
    start,
    end: start + 5 * MIN,
    baselineId: 'b-1',
    baselineHash: 'sha256:abc',
    eventCount: 500,
    lateCount: 2,
    closedAt: start + 6 * MIN,
    provisional: false,
    reference: {
      kind: 'baseline',
      windows: 0,
      found: 0,
      start: null,
      end: null,
      eventCount: 10000,
      note: null,
    },
    features: [
      drift('age', {
        histogram: { edges: [0, 30, 60, 90], reference: [0.3, 0.5, 0.2], current: [0.1, 0.5, 0.4] },
      }),
      drift('region', {
        type: 'categorical',
        test: 'chi-square',
        ksStatistic: null,
        ksBound: null,
        drifted: false,
        histogram: {
          labels: ['EU', 'US', '__other__'],
          reference: [0.5, 0.5, 0],
          current: [0.6, 0.4, 0],
        },
      }),
      drift('income', {
        test: 'psi',
        pValue: null,
        adjustedPValue: null,
        statistic: Number.POSITIVE_INFINITY,
        psi: Number.NaN,
      }),
    ],
    prediction: drift('score', { test: 'psi', pValue: null, adjustedPValue: null, drifted: false }),
    driftShare: 2 / 3,
    datasetDrift: true,
    ...over,
  };
}

function baseline(id: string, over: Partial<BaselineProfile> = {}): BaselineProfile {
  return {
    id,
    hash: `hash-${id}`,
    model: 'credit-risk',
    version: '3',
    createdAt: T0,
    source: 'train.parquet',
    rowCount: 10000,
    badRows: 3,
    params: { bins: 1000, psiBuckets: 10, topCategories: 20, sampleSize: 5 },
    features: {
      income: {
        kind: 'numeric',
        edges: [0, 10, 20],
        counts: [5000, 5000],
        coarse: [0, 1],
        missing: 1,
        nan: 0,
        summary: { count: 10000, mean: 10, std: 5, min: 0, max: 20, p01: 0.2, p50: 10, p99: 19.8 },
        sample: [1.5, 2.25, 19.75],
      },
      region: {
        kind: 'categorical',
        categories: ['EU', 'US'],
        counts: [6000, 3999],
        other: 1,
        missing: 0,
        distinct: 3,
      },
    },
    prediction: null,
    ...over,
  };
}

function performance(start: number, over: Partial<PerformanceResult> = {}): PerformanceResult {
  return {
    model: 'credit-risk',
    version: '3',
    size: 5 * MIN,
    sizeLabel: '5m',
    start,
    end: start + 5 * MIN,
    labeled: 120,
    coverage: 0.24,
    metrics: { accuracy: 0.91, rocAuc: 0.88 },
    computedAt: start + 7 * MIN,
    ...over,
  };
}

async function count(sql: string): Promise<number> {
  const [row] = await exec.query<{ n: string }>(sql);
  return Number(row!.n);
}

describe.each(DRIVERS)('Store on the $name', (driver) => {
  beforeEach(async () => {
    dir = mkdtempSync(join(tmpdir(), 'driftd-store-'));
    ({ exec, stop } = await driver.open(dir));
    clock = T0 + 10 * MIN;
    store = storeOn({ now: () => clock });
    await store.migrate();
  });

  afterEach(async () => {
    await store.close();
    await stop();
    rmSync(dir, { recursive: true, force: true });
  });

  describe('events', () => {
    it('round-trip through windowEvents and getPrediction, for every source kind', async () => {
      const rows = [
        event(1),
        event(2, {
          source: { kind: 'replay', file: '/data/replay.jsonl', line: 42 },
          late: true,
          prediction: 'approve',
          features: { note: 'multi\nline "quoted" \\ tab\t émoji 🎉', zero: 0, neg: -1.5e-7 },
        }),
        event(3, { source: { kind: 'http' }, prediction: null }),
        event(4, { source: { kind: 'replay' } }),
      ];
      await store.insertEvents(rows);

      const got = await store.windowEvents({
        model: 'credit-risk',
        version: '3',
        from: T0,
        to: T0 + MIN,
      });
      expect(got).toEqual(rows);
      expect(
        await store.windowEvents({
          model: 'credit-risk',
          version: '3',
          from: T0 + 2000,
          to: T0 + 3000,
        }),
      ).toEqual([rows[1]]);
      expect(
        await store.windowEvents({
          model: 'credit-risk',
          version: '3',
          from: T0,
          to: T0 + MIN,
          limit: 2,
        }),
      ).toEqual(rows.slice(0, 2));
      expect(
        await store.windowEvents({ model: 'credit-risk', version: '4', from: T0, to: T0 + MIN }),
      ).toEqual([]);

      const p = await store.getPrediction('p-2');
      expect(p).toEqual({
        event: {
          model: 'credit-risk',
          version: '3',
          id: 'p-2',
          ts: rows[1]!.ts,
          features: rows[1]!.features,
          prediction: 'approve',
        },
        label: null,
        late: true,
        source: { kind: 'replay', file: '/data/replay.jsonl', line: 42 },
        ingestedAt: rows[1]!.ingestedAt,
        raw: null,
      });
      expect(await store.getPrediction('p-2', { model: 'other' })).toBeNull();
      expect(await store.getPrediction('nope')).toBeNull();
    });

    it('counts a re-inserted identical event once (Kafka redelivery, HTTP retry)', async () => {
      const batch = Array.from({ length: 50 }, (_, i) => event(i));
      const http = event(100, { source: { kind: 'http' } });
      await store.insertEvents([...batch, http]);
      // Redelivery after a crash: same events, same coordinates, a later ingestion time.
      await store.insertEvents(batch.map((e) => ({ ...e, ingestedAt: e.ingestedAt + 60_000 })));
      await store.insertEvents([{ ...http, ingestedAt: http.ingestedAt + 1 }]);

      expect(await count('SELECT count() AS n FROM `driftd`.`events` FINAL')).toBe(51);
      await exec.command('OPTIMIZE TABLE `driftd`.`events` FINAL');
      expect(await count('SELECT count() AS n FROM `driftd`.`events`')).toBe(51);

      const got = await store.windowEvents({
        model: 'credit-risk',
        version: '3',
        from: T0,
        to: T0 + 200_000,
      });
      expect(got).toHaveLength(51);
      // The newest copy is the one kept.
      expect(got[0]!.ingestedAt).toBe(batch[0]!.ingestedAt + 60_000);
    });

    it('returns one event per id even when stored through two sources', async () => {
      const e = event(7);
      await store.insertEvents([
        e,
        { ...e, source: { kind: 'http' }, ingestedAt: e.ingestedAt + 10 },
      ]);
      expect(await count('SELECT count() AS n FROM `driftd`.`events` FINAL')).toBe(2);
      const got = await store.windowEvents({
        model: 'credit-risk',
        version: '3',
        from: T0,
        to: T0 + MIN,
      });
      expect(got).toHaveLength(1);
      expect((await store.getPrediction('p-7'))!.source).toEqual({ kind: 'http' });
    });

    it('batches large inserts into several INSERTs', async () => {
      const chunked = storeOn({ maxInsertRows: 7 });
      const rows = Array.from({ length: 30 }, (_, i) => event(i));
      await chunked.insertEvents(rows);
      expect(
        await store.windowEvents({ model: 'credit-risk', version: '3', from: T0, to: T0 + MIN }),
      ).toEqual(rows);
    });

    it('finds the version and event time of predictions by id (for late labels)', async () => {
      await store.insertEvents([event(1), event(2, { version: '4' }), event(3)]);
      expect(await store.predictionTimes('credit-risk', ['p-1', 'p-2', 'p-2', 'missing'])).toEqual([
        { id: 'p-1', version: '3', ts: T0 + 1000 },
        { id: 'p-2', version: '4', ts: T0 + 2000 },
      ]);
      expect(await store.predictionTimes('credit-risk', [])).toEqual([]);
    });

    it('refuses timestamps outside the storable range instead of letting the engine clamp them', async () => {
      await expect(
        store.insertEvents([event(1, { ts: Date.UTC(1899, 11, 31) })]),
      ).rejects.toBeInstanceOf(InvalidInputError);
      await expect(store.insertEvents([event(1, { ts: Number.NaN })])).rejects.toBeInstanceOf(
        InvalidInputError,
      );
      await expect(
        store.insertEvents([
          event(1, {
            source: { kind: 'kafka', topic: 't', partition: 0, offset: '1; DROP TABLE x' },
          }),
        ]),
      ).rejects.toBeInstanceOf(InvalidInputError);
    });
  });

  describe('labels', () => {
    it('keep the latest label per (model, id), across and within batches, with their JSON type', async () => {
      await store.insertEvents([event(1), event(2)]);
      await store.insertLabels([{ model: 'credit-risk', id: 'p-1', ts: T0 + MIN, label: 0 }]);
      clock += MIN;
      await store.insertLabels([
        { model: 'credit-risk', id: 'p-1', ts: T0 + 2 * MIN, label: 1 },
        { model: 'credit-risk', id: 'p-2', ts: T0 + 2 * MIN, label: 'bad' },
        { model: 'credit-risk', id: 'p-2', ts: T0 + 3 * MIN, label: '1' },
      ]);
      expect((await store.getPrediction('p-1'))!.label).toEqual({
        model: 'credit-risk',
        id: 'p-1',
        ts: T0 + 2 * MIN,
        label: 1,
      });
      expect((await store.getPrediction('p-2'))!.label!.label).toBe('1');
      expect(await count('SELECT count() AS n FROM `driftd`.`labels` FINAL')).toBe(2);
    });

    it('labeledPredictions joins labels to the predictions of the range, one per id', async () => {
      const rows = Array.from({ length: 6 }, (_, i) => event(i, { prediction: i / 10 }));
      await store.insertEvents([...rows, event(50, { version: '4' })]);
      // A duplicate copy of p-1 through another source must not double it in the join.
      await store.insertEvents([{ ...rows[1]!, source: { kind: 'http' } }]);
      await store.insertLabels([
        { model: 'credit-risk', id: 'p-1', ts: T0, label: 1 },
        { model: 'credit-risk', id: 'p-3', ts: T0, label: 0 },
        { model: 'credit-risk', id: 'p-5', ts: T0, label: 'yes' },
        { model: 'credit-risk', id: 'p-50', ts: T0, label: 1 },
        { model: 'other-model', id: 'p-2', ts: T0, label: 1 },
        { model: 'credit-risk', id: 'unknown', ts: T0, label: 1 },
      ]);
      const got = await store.labeledPredictions({
        model: 'credit-risk',
        version: '3',
        from: T0,
        to: T0 + 5000,
      });
      expect(got).toEqual([
        { id: 'p-1', ts: T0 + 1000, prediction: 0.1, label: 1 },
        { id: 'p-3', ts: T0 + 3000, prediction: 0.3, label: 0 },
      ]);
      const all = await store.labeledPredictions({
        model: 'credit-risk',
        version: '3',
        from: T0,
        to: T0 + MIN,
      });
      expect(all.map((r) => [r.id, r.label])).toEqual([
        ['p-1', 1],
        ['p-3', 0],
        ['p-5', 'yes'],
      ]);
    });
  });

  describe('baselines', () => {
    it('save is idempotent by id; get, list (summary only) and latest', async () => {
      const b1 = baseline('b-1');
      expect(await store.saveBaseline(b1)).toBe(true);
      expect(await store.saveBaseline({ ...b1, source: 'changed' })).toBe(false);
      expect(await store.getBaseline('b-1')).toEqual(b1);
      expect(await store.getBaseline('missing')).toBeNull();

      const b2 = baseline('b-2', { createdAt: T0 + 1000, version: '3' });
      const b3 = baseline('b-3', { createdAt: T0 + 2000, version: '2' });
      const other = baseline('b-4', { createdAt: T0 + 3000, model: 'churn', version: '1' });
      for (const b of [b2, b3, other]) await store.saveBaseline(b);

      const list = await store.listBaselines({ model: 'credit-risk' });
      expect(list.map((s) => s.id)).toEqual(['b-3', 'b-2', 'b-1']);
      expect(list[2]).toEqual({
        id: 'b-1',
        hash: 'hash-b-1',
        model: 'credit-risk',
        version: '3',
        createdAt: T0,
        source: 'train.parquet',
        rowCount: 10000,
        badRows: 3,
        params: b1.params,
        featureNames: ['income', 'region'],
      });
      expect(list[0]).not.toHaveProperty('features');
      expect(await store.listBaselines()).toHaveLength(4);

      expect((await store.latestBaseline('credit-risk', '3'))!.id).toBe('b-2');
      expect((await store.latestBaseline('credit-risk', '2'))!.id).toBe('b-3');
      // No baseline for version 9: the newest of any version of the model.
      expect((await store.latestBaseline('credit-risk', '9'))!.id).toBe('b-3');
      expect(await store.latestBaseline('unknown', '1')).toBeNull();
    });
  });

  describe('window results', () => {
    it('round-trip, including nulls, NaN, Infinity and histograms; filters by feature and window', async () => {
      const w1 = windowResult(T0);
      // A window compared with the windows before it, one feature short of reference events.
      const w2 = windowResult(T0 + 5 * MIN, {
        prediction: null,
        datasetDrift: false,
        driftShare: 0,
        reference: {
          kind: 'rolling',
          windows: 3,
          found: 2,
          start: T0 - 5 * MIN,
          end: T0 + 5 * MIN,
          eventCount: 1234,
          note: '2 of 3 windows found (the others had no events)',
        },
      });
      w2.features[0] = { ...w2.features[0]!, insufficient: true, insufficientReason: 'reference' };
      const hourly = windowResult(T0, { size: 60 * MIN, sizeLabel: '1h', end: T0 + 60 * MIN });
      await store.insertWindowResults([w1, w2, hourly]);

      const byName = (w: WindowResult): WindowResult => ({
        ...w,
        features: [...w.features].sort((a, b) => a.feature.localeCompare(b.feature)),
      });
      const all = await store.queryDrift({
        model: 'credit-risk',
        from: T0,
        to: T0 + 10 * MIN,
        window: '5m',
      });
      expect(all).toEqual([byName(w1), byName(w2)]);

      const both = await store.queryDrift({ model: 'credit-risk', from: T0, to: T0 + 10 * MIN });
      expect(both.map((w) => [w.sizeLabel, w.start])).toEqual([
        ['1h', T0],
        ['5m', T0],
        ['5m', T0 + 5 * MIN],
      ]);

      const one = await store.queryDrift({
        model: 'credit-risk',
        from: T0,
        to: T0 + 1,
        window: '5m',
        feature: 'region',
      });
      expect(one).toHaveLength(1);
      expect(one[0]!.features.map((f) => f.feature)).toEqual(['region']);
      expect(one[0]!.prediction).toEqual(w1.prediction);
      expect(one[0]!.eventCount).toBe(500);

      // Overlap semantics: a range inside the hour still finds the hourly window.
      const inside = await store.queryDrift({
        model: 'credit-risk',
        from: T0 + 30 * MIN,
        to: T0 + 31 * MIN,
      });
      expect(inside.map((w) => w.sizeLabel)).toEqual(['1h']);

      expect((await store.latestWindowResult('credit-risk'))!.sizeLabel).toBe('1h');
      expect(await store.latestWindowResult('credit-risk', { window: '5m' })).toEqual(byName(w2));
      expect(await store.latestWindowResult('nobody')).toBeNull();
    });

    it('a rewritten window shows only its latest revision (ReplacingMergeTree + FINAL)', async () => {
      const first = windowResult(T0);
      await store.insertWindowResults([first]);
      // Late data: the window is recomputed; one feature is gone from the new revision.
      const second = windowResult(T0, {
        closedAt: first.closedAt + MIN,
        eventCount: 503,
        lateCount: 5,
        driftShare: 0.5,
        features: [drift('age', { statistic: 0.5 }), drift('income', { drifted: false })],
      });
      await store.insertWindowResults([second]);
      // An identical retry of the latest write changes nothing.
      await store.insertWindowResults([second]);

      const check = async () => {
        const got = await store.queryDrift({ model: 'credit-risk', from: T0, to: T0 + MIN });
        expect(got).toHaveLength(1);
        expect(got[0]!.eventCount).toBe(503);
        expect(got[0]!.closedAt).toBe(second.closedAt);
        expect(got[0]!.features.map((f) => [f.feature, f.statistic])).toEqual([
          ['age', 0.5],
          ['income', 0.12],
        ]);
        expect(
          await store.queryDrift({
            model: 'credit-risk',
            from: T0,
            to: T0 + MIN,
            feature: 'region',
          }),
        ).toEqual([{ ...got[0], features: [] }]);
        expect((await store.latestWindowResult('credit-risk'))!.closedAt).toBe(second.closedAt);
      };
      await check();
      await exec.command('OPTIMIZE TABLE `driftd`.`window_results` FINAL');
      await check();
    });

    it('rejects a window with an unstorable timestamp before writing anything', async () => {
      await expect(
        store.insertWindowResults([windowResult(T0), windowResult(T0, { closedAt: Number.NaN })]),
      ).rejects.toBeInstanceOf(InvalidInputError);
      expect(await store.queryDrift({ model: 'credit-risk', from: 0, to: T0 + MIN })).toEqual([]);
    });
  });

  describe('performance', () => {
    it('round-trip; a recompute (late labels) replaces the earlier result', async () => {
      const p1 = performance(T0, { metrics: { accuracy: 0.9, logLoss: Number.NaN } });
      const p2 = performance(T0 + 5 * MIN);
      await store.insertPerformance([p1, p2]);
      expect(
        await store.queryPerformance({ model: 'credit-risk', from: T0, to: T0 + 10 * MIN }),
      ).toEqual([p1, p2]);

      const recomputed = performance(T0, {
        labeled: 300,
        coverage: 0.6,
        metrics: { accuracy: 0.8 },
        computedAt: p1.computedAt + 60 * MIN,
      });
      await store.insertPerformance([recomputed]);
      expect(
        await store.queryPerformance({ model: 'credit-risk', from: T0, to: T0 + 10 * MIN }),
      ).toEqual([recomputed, p2]);
      expect(
        await store.queryPerformance({
          model: 'credit-risk',
          from: T0,
          to: T0 + 10 * MIN,
          window: '1h',
        }),
      ).toEqual([]);
      expect(
        await store.queryPerformance({
          model: 'credit-risk',
          from: T0,
          to: T0 + 10 * MIN,
          version: '3',
        }),
      ).toHaveLength(2);
    });
  });

  describe('exact KS in ClickHouse', () => {
    it('equals the SciPy-exact ksTest on the same values; one value per id, on time and numeric only', async () => {
      // Deterministic values with ties, negatives and integers.
      const current = Array.from({ length: 300 }, (_, i) => ((i * 7919) % 211) / 10 - 3);
      const reference = Array.from({ length: 400 }, (_, i) => ((i * 104729) % 307) / 13 - 4);
      const rows = current.map((v, i) =>
        event(i, { features: { income: v, region: 'EU' }, ts: T0 + i * 100 }),
      );
      await store.insertEvents([
        ...rows,
        // A second copy of p-0 (another source, newer): counted once.
        { ...rows[0]!, source: { kind: 'http' }, ingestedAt: rows[0]!.ingestedAt + 1 },
        // Missing, null and non-numeric values are not values.
        event(1000, { features: { region: 'US' }, ts: T0 + 10 }),
        event(1001, { features: { income: null }, ts: T0 + 20 }),
        event(1002, { features: { income: 'n/a' }, ts: T0 + 30 }),
        // Late (not in the streamed window), outside the range, another version: left out.
        event(1003, { features: { income: 1e9 }, late: true, ts: T0 + 40 }),
        event(1004, { features: { income: 1e9 }, ts: T0 + 5 * MIN }),
        event(1005, { features: { income: 1e9 }, version: '4', ts: T0 + 50 }),
      ]);
      const got = await store.exactKs({
        model: 'credit-risk',
        version: '3',
        from: T0,
        to: T0 + 5 * MIN,
        feature: 'income',
        reference,
      });
      const want = ksTest(reference, current);
      expect(got.n).toBe(400);
      expect(got.m).toBe(300);
      expect(got.lateEvents).toBe(1);
      expect(Math.abs(got.statistic! - want.statistic)).toBeLessThan(1e-12);
      // Both exact (max(n, m) <= 10 000): ClickHouse and SciPy agree to rounding here.
      expect(got.pValue!).toBeCloseTo(want.pValue, 12);
    });

    it('an empty side gives null statistic and p-value, not an engine error', async () => {
      const q = { model: 'credit-risk', version: '3', from: T0, to: T0 + MIN, feature: 'income' };
      expect(await store.exactKs({ ...q, reference: [1, 2, 3] })).toEqual({
        n: 3,
        m: 0,
        statistic: null,
        pValue: null,
        lateEvents: 0,
      });
      await store.insertEvents([event(1)]);
      expect(await store.exactKs({ ...q, reference: [] })).toMatchObject({
        n: 0,
        m: 1,
        statistic: null,
      });
      await expect(store.exactKs({ ...q, reference: [1, Number.NaN] })).rejects.toBeInstanceOf(
        InvalidInputError,
      );
    });
  });

  describe('parameter binding', () => {
    it('values with quotes, backslashes and SQL round-trip as data everywhere', async () => {
      const evil = `it's "q" \\' OR 1=1 --; DROP TABLE driftd.events; \`x\` {id:String}`;
      const tables = await count(
        "SELECT count() AS n FROM system.tables WHERE database = 'driftd'",
      );
      await store.insertEvents([event(1, { model: evil, id: evil, version: evil })]);
      await store.insertLabels([{ model: evil, id: evil, ts: T0, label: evil }]);
      await store.saveBaseline(baseline(evil, { model: evil, version: evil, source: evil }));
      await store.insertWindowResults([
        windowResult(T0, { model: evil, sizeLabel: evil, version: evil, features: [drift(evil)] }),
      ]);
      await store.insertPerformance([
        performance(T0, { model: evil, sizeLabel: evil, metrics: { [evil]: 1 } }),
      ]);

      const p = await store.getPrediction(evil, { model: evil });
      expect(p!.event.id).toBe(evil);
      expect(p!.label!.label).toBe(evil);
      expect(
        await store.windowEvents({ model: evil, version: evil, from: T0, to: T0 + MIN }),
      ).toHaveLength(1);
      expect(
        await store.labeledPredictions({ model: evil, version: evil, from: T0, to: T0 + MIN }),
      ).toEqual([{ id: evil, ts: T0 + 1000, prediction: 0.01, label: evil }]);
      expect(await store.predictionTimes(evil, [evil])).toEqual([
        { id: evil, version: evil, ts: T0 + 1000 },
      ]);
      expect((await store.getBaseline(evil))!.source).toBe(evil);
      expect((await store.latestBaseline(evil, evil))!.id).toBe(evil);
      expect(await store.listBaselines({ model: evil })).toHaveLength(1);
      const [w] = await store.queryDrift({
        model: evil,
        from: T0,
        to: T0 + MIN,
        window: evil,
        feature: evil,
      });
      expect(w!.features.map((f) => f.feature)).toEqual([evil]);
      expect(
        (await store.queryPerformance({ model: evil, from: T0, to: T0 + MIN }))[0]!.metrics,
      ).toEqual({
        [evil]: 1,
      });
      // Nothing was executed: every table (10) and both views of migrations 12, 13 are there.
      expect(await count("SELECT count() AS n FROM system.tables WHERE database = 'driftd'")).toBe(
        tables,
      );
    });

    it('refuses an invalid database identifier', () => {
      expect(() => storeOn({ database: 'a`; DROP' })).toThrow(InvalidInputError);
    });
  });

  describe('RowBinary inserts (the raw-event path)', () => {
    it('round-trips strings of every LEB128 length width, multi-byte text, and 64-bit edges', async () => {
      await exec.command(`CREATE TABLE driftd.rb (
  s String, lc LowCardinality(String), i32 Int32, i64 Int64, u64 UInt64, u8 UInt8,
  ts DateTime64(3, 'UTC'), n UInt64
) ENGINE = MergeTree ORDER BY n`);
      // Lengths straddling the reserved widths (3 bytes per UTF-16 unit: 42/43, 5461/5462
      // units) and byte lengths straddling 127/128 and 16383/16384 inside a wider reservation.
      const strings = [
        '',
        'a',
        'x'.repeat(42),
        'x'.repeat(43),
        'x'.repeat(127),
        'x'.repeat(128),
        'é'.repeat(64),
        '🎉'.repeat(32),
        'x'.repeat(5461),
        'x'.repeat(5462),
        'x'.repeat(16_383),
        'x'.repeat(16_384),
        `tab\t newline\n quote' backslash\\ nul\u0000 ${'€'.repeat(3000)}`,
        'y'.repeat(2_100_000),
      ];
      const ints = [
        [0, 0, 0],
        [-1, -1, 1],
        [2147483647, 2 ** 53 - 1, 2 ** 53 - 1],
        [-2147483648, -(2 ** 53) + 1, 4294967296],
      ] as const;
      const w = new RowBinaryWriter(16);
      strings.forEach((str, n) => {
        const [i32, i64, u64] = ints[n % ints.length]!;
        w.string(str);
        w.string(`lc-${n % 3}`);
        w.int32(i32);
        w.int64(i64);
        w.int64(u64);
        w.uint8(n % 2);
        w.int64(T0 + n);
        w.int64(n);
        w.endRow();
      });
      // Offsets beyond 2^53 go through BigInt.
      w.string('big');
      w.string('lc-big');
      w.int32(0);
      w.int64Decimal('9223372036854775807');
      w.int64Decimal('12345678901234567');
      w.uint8(1);
      w.int64(T0);
      w.int64(strings.length);
      w.endRow();
      await exec.insertRowBinary(
        'driftd.rb',
        [
          { name: 's', type: 'String' },
          { name: 'lc', type: 'LowCardinality(String)' },
          { name: 'i32', type: 'Int32' },
          { name: 'i64', type: 'Int64' },
          { name: 'u64', type: 'UInt64' },
          { name: 'u8', type: 'UInt8' },
          { name: 'ts', type: "DateTime64(3, 'UTC')" },
          { name: 'n', type: 'UInt64' },
        ],
        w.finish(),
      );
      const rows = await exec.query<{
        s: string;
        lc: string;
        i32: number;
        i64: string;
        u64: string;
        u8: number;
        ts_ms: string;
        n: number;
      }>(
        `SELECT s, lc, i32, toString(i64) AS i64, toString(u64) AS u64, u8,
  toString(toUnixTimestamp64Milli(ts)) AS ts_ms, n FROM driftd.rb ORDER BY n`,
      );
      expect(rows).toHaveLength(strings.length + 1);
      strings.forEach((str, n) => {
        const r = rows[n]!;
        const [i32, i64, u64] = ints[n % ints.length]!;
        expect(r.s.length).toBe(str.length);
        expect(r.s === str).toBe(true);
        expect([r.lc, r.i32, r.i64, r.u64, r.u8, r.ts_ms]).toEqual([
          `lc-${n % 3}`,
          i32,
          String(i64),
          String(u64),
          n % 2,
          String(T0 + n),
        ]);
      });
      expect([rows.at(-1)!.i64, rows.at(-1)!.u64]).toEqual([
        '9223372036854775807',
        '12345678901234567',
      ]);
    });

    it('a payload that does not match the columns fails with a StoreError and writes nothing', async () => {
      await exec.command(
        'CREATE TABLE driftd.rb2 (s String, n UInt32) ENGINE = MergeTree ORDER BY n',
      );
      const w = new RowBinaryWriter();
      w.string('only a string, no n');
      const err = await exec
        .insertRowBinary(
          'driftd.rb2',
          [
            { name: 's', type: 'String' },
            { name: 'n', type: 'UInt32' },
          ],
          w.finish(),
        )
        .catch((e: unknown) => e);
      expect(err).toBeInstanceOf(StoreError);
      expect(await count('SELECT count() AS n FROM driftd.rb2')).toBe(0);
    });
  });

  describe('errors and lifecycle', () => {
    it('engine errors are StoreErrors carrying the ClickHouse code', async () => {
      const syntax = await exec.query('SELEC 1').catch((e: unknown) => e);
      expect(syntax).toBeInstanceOf(StoreError);
      expect((syntax as StoreError).clickhouseCode).toBe(62);
      expect((syntax as StoreError).retriable).toBe(false);
      expect((syntax as StoreError).code).toBe('DRIFTD_ERR_STORE');

      const unknown = await exec.query('SELECT * FROM `driftd`.`nope`').catch((e: unknown) => e);
      expect((unknown as StoreError).clickhouseCode).toBe(60);

      const badInsert = await exec
        .insertJsonEachRow(
          'driftd.labels',
          Buffer.from('{"model":"m","id":"x","ts":"not a time","label":"1"}\n'),
        )
        .catch((e: unknown) => e);
      expect(badInsert).toBeInstanceOf(StoreError);
      expect(typeof (badInsert as StoreError).clickhouseCode).toBe('number');
    });

    it('a store used before migrate() fails with the engine code, not a crash', async () => {
      const other = storeOn({ database: 'not_migrated' });
      const err = await other.queryDrift({ model: 'm', from: 0, to: 1 }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(StoreError);
      expect([60, 81]).toContain((err as StoreError).clickhouseCode); // UNKNOWN_TABLE / UNKNOWN_DATABASE
    });

    it('classifies retriable codes from the documented table', () => {
      for (const code of [159, 202, 209, 210, 241, 252]) {
        expect(storeErrorFromClickHouse('x', code, null).retriable).toBe(true);
      }
      for (const code of [27, 36, 60, 62, 81]) {
        expect(storeErrorFromClickHouse('x', code, null).retriable).toBe(false);
      }
      expect(storeErrorFromClickHouse('x', 210, null).code).toBe('DRIFTD_ERR_STORE_UNAVAILABLE');
      expect(storeErrorFromClickHouse('x', undefined, null).clickhouseCode).toBeUndefined();
    });

    it('ping works; close is idempotent; calls after close are lifecycle errors', async () => {
      await store.ping();
      await Promise.all([store.close(), store.close()]);
      await store.close();
      await expect(store.ping()).rejects.toBeInstanceOf(LifecycleError);
      await expect(store.insertEvents([event(1)])).rejects.toBeInstanceOf(LifecycleError);
    });
  });
});

describe('driver selection', () => {
  it('createStore picks the server driver for kind clickhouse (no connection until used)', async () => {
    const server = createStore({
      kind: 'clickhouse',
      url: 'http://127.0.0.1:1',
      database: 'driftd',
      username: 'default',
      password: '',
      requestTimeoutMs: 1000,
      rawEventsTtlDays: 30,
    });
    expect(server.kind).toBe('clickhouse');
    await server.close();
  });
});
