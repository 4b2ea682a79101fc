/**
 * The store's part of cluster mode (src/cluster/types.ts ClusterStore; migrations 20–24) on
 * both drivers: the embedded engine, and the ClickHouse server driver against the STAND-IN
 * HTTP interface (test/helpers/clickhouse-http.ts; no ClickHouse server can run here).
 * Partials (a lane's latest, final over provisional), lane progress (latest by seq), pending
 * windows, the insert deduplication that makes two instances' finalisation of one window one
 * revision (results, their latest table, performance, the finalisation row), and HTTP events
 * per lane.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type {
  FinalisationRow,
  LaneProgressRow,
  PartialRow,
  WindowKey,
} from '../../../src/cluster/types.js';
import { InvalidInputError } from '../../../src/errors.js';
import { createChdbExecutor } from '../../../src/store/chdb.js';
import { type CreateStoreOptions, createStore } from '../../../src/store/index.js';
import type { SqlExecutor, Store, StoredEvent } from '../../../src/store/types.js';
import type { FeatureDrift, PerformanceResult, WindowResult } from '../../../src/types.js';
import { STORE_DRIVERS } from '../../helpers/store-drivers.js';

const T0 = Date.UTC(2026, 10, 22, 10, 0, 0);
const MIN = 60_000;
const SIZE = 5 * MIN;

const DRIVERS = STORE_DRIVERS;

/** Window k of credit-risk v3, 5m. */
function windowKey(k: number, over: Partial<WindowKey> = {}): WindowKey {
  const start = T0 + k * SIZE;
  return {
    model: 'credit-risk',
    version: '3',
    sizeLabel: '5m',
    size: SIZE,
    start,
    end: start + SIZE,
    ...over,
  };
}

function partial(k: number, lane: string, over: Partial<PartialRow> = {}): PartialRow {
  const w = windowKey(k);
  return {
    ...w,
    lane,
    final: true,
    position: '1200',
    baselineId: 'b-1',
    events: 400,
    state: JSON.stringify({ lane, k, counts: [1, 2, 3] }),
    instance: 'driftd-0',
    writtenAt: w.end + 1000,
    ...over,
  };
}

function progress(lane: string, over: Partial<LaneProgressRow> = {}): LaneProgressRow {
  return {
    lane,
    model: 'credit-risk',
    version: '3',
    watermark: T0 + 10 * MIN,
    idle: false,
    retired: false,
    position: '100',
    seq: 1,
    instance: 'driftd-0',
    writtenAt: T0 + 11 * MIN,
    ...over,
  };
}

function finalisation(k: number, over: Partial<FinalisationRow> = {}): FinalisationRow {
  const w = windowKey(k);
  return {
    ...w,
    lanes: ['predictions/0', 'predictions/1'],
    events: 1200,
    instance: 'driftd-0',
    finalisedAt: w.end + 5000,
    delaySeconds: 1.5,
    ...over,
  };
}

function drift(feature: string): FeatureDrift {
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
    ksStatistic: 0.12,
    ksBound: 0.001,
    ksPValue: 0.003,
    verdictRule: 'calibrated',
    effect: 0.12,
    effectFloor: 0.05,
    statisticBound: 0.001,
    boundStraddlesThreshold: false,
    count: 1200,
    missingRatio: 0,
    outOfRangeRatio: 0,
    unseenRatio: 0,
    otherRatio: 0,
    insufficient: false,
  };
}

/** The result of window k as one instance finalises it, written at `closedAt`. */
function result(k: number, closedAt: number, over: Partial<WindowResult> = {}): WindowResult {
  const w = windowKey(k);
  return {
    model: w.model,
    version: w.version,
    size: w.size,
    sizeLabel: w.sizeLabel,
    start: w.start,
    end: w.end,
    baselineId: 'b-1',
    baselineHash: 'sha256:abc',
    eventCount: 1200,
    lateCount: 0,
    closedAt,
    provisional: false,
    features: [drift('income'), drift('age')],
    prediction: drift('__prediction__'),
    driftShare: 1,
    datasetDrift: true,
    revisionReason: 'close',
    ...over,
  };
}

function performance(k: number, computedAt: number): PerformanceResult {
  const w = windowKey(k);
  return {
    model: w.model,
    version: w.version,
    size: w.size,
    sizeLabel: w.sizeLabel,
    start: w.start,
    end: w.end,
    labeled: 100,
    coverage: 0.1,
    metrics: { accuracy: 0.9 },
    computedAt,
  };
}

function httpEvent(i: number, lane: string | undefined, position: number): StoredEvent {
  const e: StoredEvent = {
    model: 'credit-risk',
    version: '3',
    id: `p-${i}`,
    ts: T0 + i * 1000,
    features: { income: 50000 + i },
    prediction: 0.5,
    late: false,
    source: { kind: 'http' },
    ingestedAt: T0 + i * 1000 + 5,
    position,
  };
  if (lane !== undefined) e.lane = lane;
  return e;
}

const token = (k: number) => `final:credit-risk|3|5m|${windowKey(k).start}`;

describe.each(DRIVERS)('cluster store on the $name', (driver) => {
  let dir: string;
  let exec: SqlExecutor;
  let store: Store;
  let stop: () => Promise<void>;

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

  beforeEach(async () => {
    dir = mkdtempSync(join(tmpdir(), 'driftd-cluster-store-'));
    const opened = await driver.open(dir);
    exec = opened.exec;
    stop = opened.stop;
    store = storeOn();
    await store.migrate();
  });

  afterEach(async () => {
    await store.close();
    await stop();
    rmSync(dir, { recursive: true, force: true });
  });

  const count = async (sql: string) => {
    const [row] = await exec.query<{ n: string }>(
      `${sql} SETTINGS output_format_json_quote_64bit_integers = 1`,
    );
    return Number(row?.n);
  };

  it('migrates again without applying anything (the cluster tables are in place)', async () => {
    expect((await store.migrate()).applied).toEqual([]);
  });

  it('partialsOf: per lane its final partial, over any provisional one written later; else its newest provisional; by lane', async () => {
    const a = 'predictions/0';
    const b = 'predictions/1';
    const h = 'http:driftd-2';
    const w = windowKey(0);
    await store.insertPartials([
      partial(0, b, { final: false, events: 10, writtenAt: w.end - 60_000 }),
      partial(0, b, { final: true, events: 40, writtenAt: w.end + 1000 }),
      // A provisional copy written after the final one (an idle tick of a stale owner).
      partial(0, b, { final: false, events: 45, writtenAt: w.end + 9000 }),
      partial(0, a, { final: false, events: 5, writtenAt: w.end - 120_000 }),
      partial(0, a, { final: false, events: 7, writtenAt: w.end - 60_000 }),
      partial(0, h, { events: 3, position: '17', instance: 'driftd-2' }),
      // Another window and another version: not this window's.
      partial(1, a, { events: 99 }),
      { ...partial(0, a, { events: 98 }), version: '4' },
    ]);
    // A new owner rewrites b's final partial later (a rebalance): the newest final counts.
    await store.insertPartials([
      partial(0, b, { final: true, events: 40, writtenAt: w.end + 20_000, instance: 'driftd-1' }),
    ]);

    const got = await store.partialsOf(w);
    expect(got.map((p) => [p.lane, p.final, p.events, p.instance])).toEqual([
      [h, true, 3, 'driftd-2'],
      [a, false, 7, 'driftd-0'],
      [b, true, 40, 'driftd-1'],
    ]);
    // Every field as written.
    expect(got[0]).toEqual(partial(0, h, { events: 3, position: '17', instance: 'driftd-2' }));
    // Merges change nothing of it.
    await exec.command('OPTIMIZE TABLE `driftd`.`window_partials` FINAL');
    expect((await store.partialsOf(w)).map((p) => [p.lane, p.final, p.events])).toEqual([
      [h, true, 3],
      [a, false, 7],
      [b, true, 40],
    ]);
    expect(await store.partialsOf(windowKey(7))).toEqual([]);
  });

  it('laneProgress: the latest row per (lane, model, version) by seq, then written_at; the lane-level row; null watermarks', async () => {
    const a = 'predictions/0';
    await store.insertLaneProgress([
      progress(a, { seq: 1, watermark: T0, writtenAt: T0 + 1000 }),
      progress(a, { seq: 3, watermark: T0 + 3 * MIN, writtenAt: T0 + 3000 }),
      // An old owner's late write: a lower seq written later loses.
      progress(a, { seq: 2, watermark: T0 + 2 * MIN, writtenAt: T0 + 9000, instance: 'old' }),
      progress(a, { model: '', version: '', seq: 3, watermark: T0 + 3 * MIN, idle: true }),
      progress('http:driftd-1', { model: '', version: '', watermark: null, seq: 0, idle: true }),
    ]);
    // Same seq, written later (a checkpoint retried by its owner): the newer counts.
    await store.insertLaneProgress([
      progress(a, { seq: 3, watermark: T0 + 4 * MIN, writtenAt: T0 + 4000 }),
      progress('http:driftd-1', {
        model: '',
        version: '',
        watermark: null,
        seq: 1,
        retired: true,
        writtenAt: T0 + 20 * MIN,
      }),
    ]);
    const got = await store.laneProgress();
    expect(got).toEqual([
      progress('http:driftd-1', {
        model: '',
        version: '',
        watermark: null,
        seq: 1,
        retired: true,
        writtenAt: T0 + 20 * MIN,
      }),
      progress(a, { model: '', version: '', seq: 3, watermark: T0 + 3 * MIN, idle: true }),
      progress(a, { seq: 3, watermark: T0 + 4 * MIN, writtenAt: T0 + 4000 }),
    ]);
  });

  it('a watermark before the storable range is stored as its start (no window with an event ends before it)', async () => {
    await store.insertLaneProgress([progress('p/0', { watermark: Date.UTC(1899, 11, 31) })]);
    const [row] = await store.laneProgress();
    expect(row?.watermark).toBe(Date.UTC(1900, 0, 1));
  });

  it('pendingWindows: windows with partials and no finalisation, oldest end first, at most limit', async () => {
    await store.insertPartials([
      partial(3, 'p/0'),
      partial(1, 'p/0'),
      partial(1, 'p/1', { final: false }),
      partial(2, 'p/1', { final: false }),
      // A 1h window that ends after the 5m windows 1..3 (sizes interleave by end).
      {
        ...partial(0, 'p/0'),
        sizeLabel: '1h',
        size: 12 * SIZE,
        end: T0 + 12 * SIZE,
      },
      partial(0, 'p/0'),
    ]);
    await store.insertFinalisation(finalisation(0));
    const pending = await store.pendingWindows(100);
    expect(pending.map((w) => [w.sizeLabel, w.start, w.end])).toEqual([
      ['5m', windowKey(1).start, windowKey(1).end],
      ['5m', windowKey(2).start, windowKey(2).end],
      ['5m', windowKey(3).start, windowKey(3).end],
      ['1h', T0, T0 + 12 * SIZE],
    ]);
    expect(pending[0]).toEqual(windowKey(1));
    expect((await store.pendingWindows(2)).map((w) => w.start)).toEqual([
      windowKey(1).start,
      windowKey(2).start,
    ]);
    await expect(store.pendingWindows(0)).rejects.toBeInstanceOf(InvalidInputError);
  });

  it('pendingWindows(limit, since) looks only at partials written since then (the finaliser bounds its scan)', async () => {
    await store.insertPartials([
      partial(1, 'p/0', { writtenAt: T0 + 10 * MIN }),
      partial(2, 'p/0', { writtenAt: T0 + 20 * MIN }),
      partial(2, 'p/1', { writtenAt: T0 + 5 * MIN }),
    ]);
    expect((await store.pendingWindows(10, T0 + 15 * MIN)).map((w) => w.start)).toEqual([
      windowKey(2).start,
    ]);
    expect((await store.pendingWindows(10)).map((w) => w.start)).toEqual([
      windowKey(1).start,
      windowKey(2).start,
    ]);
    await expect(store.pendingWindows(10, -1)).rejects.toBeInstanceOf(InvalidInputError);
  });

  it('a finalised window written by two instances with one token: one revision, in the record and in the latest table (without the token: two)', async () => {
    const w = windowKey(0);
    const first = result(0, w.end + 2000, { driftdVersion: '1.0.0', configHash: 'c-0' });
    // The second instance computed the same window a moment later (another closedAt).
    const second = result(0, w.end + 3000, { driftdVersion: '1.0.0', configHash: 'c-0' });
    await store.insertWindowResults([first], { dedupToken: token(0) });
    await store.insertWindowResults([second], { dedupToken: token(0) });

    const revisions = await count(
      "SELECT count() AS n FROM `driftd`.`window_result_revisions` WHERE kind = 'dataset'",
    );
    expect(revisions).toBe(1);
    // The view's copy was dropped too: the latest table holds the first write (a second row
    // with a later closedAt would replace it there).
    const latestRows = await count(
      "SELECT count() AS n FROM `driftd`.`window_results` WHERE kind = 'dataset'",
    );
    expect(latestRows).toBe(1);
    expect((await store.latestWindowResult('credit-risk'))?.closedAt).toBe(first.closedAt);
    const history = await store.windowHistory({
      model: 'credit-risk',
      window: '5m',
      start: w.start,
    });
    expect(history.results.map((r) => r.closedAt)).toEqual([first.closedAt]);

    // Performance of the window, the same way.
    await store.insertPerformance([performance(0, w.end + 2000)], { dedupToken: token(0) });
    await store.insertPerformance([performance(0, w.end + 3000)], { dedupToken: token(0) });
    expect(await count('SELECT count() AS n FROM `driftd`.`performance_revisions`')).toBe(1);
    expect(await count('SELECT count() AS n FROM `driftd`.`performance`')).toBe(1);
    const perf = await store.queryPerformance({ model: 'credit-risk', from: T0, to: T0 + SIZE });
    expect(perf.map((p) => p.computedAt)).toEqual([w.end + 2000]);

    // Window 1 without a token (single-instance mode): two writes are two revisions.
    await store.insertWindowResults([result(1, windowKey(1).end + 2000)]);
    await store.insertWindowResults([result(1, windowKey(1).end + 3000)]);
    expect(
      await count(
        `SELECT count() AS n FROM \`driftd\`.\`window_result_revisions\` WHERE kind = 'dataset' AND window_start = fromUnixTimestamp64Milli(${windowKey(1).start}, 'UTC')`,
      ),
    ).toBe(2);
    // Another window's token is another window's.
    await store.insertWindowResults([result(2, windowKey(2).end + 2000)], { dedupToken: token(2) });
    expect(
      (await store.queryDrift({ model: 'credit-risk', from: T0, to: T0 + 3 * SIZE })).map(
        (r) => r.closedAt,
      ),
    ).toEqual([w.end + 2000, windowKey(1).end + 3000, windowKey(2).end + 2000]);
    await expect(store.insertWindowResults([first], { dedupToken: '' })).rejects.toBeInstanceOf(
      InvalidInputError,
    );
  });

  it('a tokened write split over several INSERTs keeps every part (each INSERT its own token)', async () => {
    // Two rows per INSERT: each window (4 rows) goes alone, three INSERTs under one token.
    const small = storeOn({ maxInsertRows: 2 });
    await small.insertWindowResults(
      [result(0, 1), result(1, 1), result(2, 1)].map((r, i) => ({
        ...r,
        closedAt: windowKey(i).end + 1000,
      })),
      { dedupToken: 'final:batch' },
    );
    expect(
      await count(
        "SELECT count() AS n FROM `driftd`.`window_result_revisions` WHERE kind = 'dataset'",
      ),
    ).toBe(3);
  });

  it('insertFinalisation twice (two instances) leaves one row; finalisations(since) reads it once, the first', async () => {
    const f = finalisation(0);
    await store.insertFinalisation(f);
    await store.insertFinalisation({
      ...f,
      instance: 'driftd-1',
      finalisedAt: f.finalisedAt + 700,
      delaySeconds: 2.2,
    });
    await store.insertFinalisation(finalisation(1, { lanes: [], events: 0, delaySeconds: 0 }));
    expect(await count('SELECT count() AS n FROM `driftd`.`window_finalisations`')).toBe(2);
    expect(await store.finalisations(0, 100)).toEqual([
      f,
      finalisation(1, { lanes: [], events: 0, delaySeconds: 0 }),
    ]);
    expect(await store.finalisations(f.finalisedAt + 1, 100)).toEqual([
      finalisation(1, { lanes: [], events: 0, delaySeconds: 0 }),
    ]);
    expect(await store.finalisations(0, 1)).toEqual([f]);
    await expect(store.finalisations(Number.NaN, 1)).rejects.toBeInstanceOf(InvalidInputError);
    await expect(store.finalisations(0, Number.NaN)).rejects.toBeInstanceOf(InvalidInputError);
  });

  it('revisableWindows: finalised windows whose lanes’ latest partials hold more events than the latest finalisation, with a final partial written since; a revision’s row has its own token', async () => {
    const since = T0 + 100 * MIN;
    const at = since + 1000;
    // 0: finalised from a provisional partial of lane 1 (300 + 400); lane 1's final partial
    // (401) comes after: revisable. 1: the same, the final partial equal to the provisional
    // one: not. 2: revisable, but its late final partial was written before `since`. 3: more
    // events, but pending (no finalisation).
    const early = since - 2000;
    for (const k of [0, 1, 2, 3]) {
      const t = k === 2 ? early : at;
      await store.insertPartials([
        partial(k, 'predictions/0', { events: 300, writtenAt: t }),
        partial(k, 'predictions/1', { events: 400, final: false, writtenAt: t }),
      ]);
    }
    for (const k of [0, 1, 2]) {
      const t = k === 2 ? early : at;
      await store.insertFinalisation(finalisation(k, { events: 700, finalisedAt: t + 100 }));
    }
    await store.insertPartials([
      partial(0, 'predictions/1', { events: 401, writtenAt: at + 200 }),
      partial(1, 'predictions/1', { events: 400, writtenAt: at + 200 }),
      partial(2, 'predictions/1', { events: 401, writtenAt: since - 1 }),
      partial(3, 'predictions/1', { events: 401, writtenAt: at + 200 }),
    ]);
    // A provisional copy written later does not count over the lane's final row.
    await store.insertPartials([
      partial(0, 'predictions/1', { events: 400, final: false, writtenAt: at + 300 }),
    ]);
    expect(await store.revisableWindows(since, 100)).toEqual([
      { ...windowKey(0), revision: 0, events: 700, partialEvents: 701 },
    ]);
    // Older final partials are looked at with an earlier `since`.
    expect((await store.revisableWindows(since - MIN, 100)).map((w) => w.start)).toEqual([
      windowKey(0).start,
      windowKey(2).start,
    ]);
    // Revision 1 of window 0 (token final:<window>#1, twice: one row) settles it.
    const rev = finalisation(0, { revision: 1, events: 701, finalisedAt: at + 400 });
    await store.insertFinalisation(rev);
    await store.insertFinalisation({ ...rev, instance: 'driftd-1', finalisedAt: at + 500 });
    expect(
      await count('SELECT count() AS n FROM `driftd`.`window_finalisations` WHERE revision = 1'),
    ).toBe(1);
    expect(await store.revisableWindows(since, 100)).toEqual([]);
    // Another lane's later events: revisable again, from revision 1.
    await store.insertPartials([partial(0, 'predictions/2', { events: 5, writtenAt: at + 600 })]);
    expect(await store.revisableWindows(since, 100)).toEqual([
      { ...windowKey(0), revision: 1, events: 701, partialEvents: 706 },
    ]);
    // finalisations(since) reads a window once: its first finalisation; with revisions,
    // each revision once (its first row).
    const of0 = (rows: FinalisationRow[]) => rows.filter((f) => f.start === windowKey(0).start);
    const first0 = finalisation(0, { events: 700, finalisedAt: at + 100 });
    expect(of0(await store.finalisations(0, 100))).toEqual([first0]);
    expect(of0(await store.finalisations(0, 100, { revisions: true }))).toEqual([first0, rev]);
    await expect(store.revisableWindows(Number.NaN, 1)).rejects.toBeInstanceOf(InvalidInputError);
  });

  it('httpEventsAfter reads one lane: two instances’ events of one id, time and position are both kept', async () => {
    const a = 'http:driftd-0';
    const b = 'http:driftd-1';
    // The same event sent to two instances (a client retrying through the load balancer):
    // each lane numbers it with its own position, and both lanes counted it.
    await store.insertEvents([
      httpEvent(1, a, 1),
      httpEvent(2, a, 2),
      httpEvent(1, b, 1),
      httpEvent(3, b, 2),
      httpEvent(4, undefined, 1),
    ]);
    await exec.command('OPTIMIZE TABLE `driftd`.`events` FINAL');
    const ofA = await store.httpEventsAfter(0, 100, a);
    expect(ofA.map((e) => [e.id, e.position, e.lane])).toEqual([
      ['p-1', 1, a],
      ['p-2', 2, a],
    ]);
    expect((await store.httpEventsAfter(1, 100, b)).map((e) => [e.id, e.position, e.lane])).toEqual(
      [['p-3', 2, b]],
    );
    // Outside cluster mode: the events without a lane.
    const plain = await store.httpEventsAfter(0, 100);
    expect(plain.map((e) => [e.id, e.position, e.lane])).toEqual([['p-4', 1, undefined]]);
    expect(await store.httpEventsAfter(0, 1, a)).toHaveLength(1);
    // The audit record of a prediction is the event as received, without the lane.
    const record = await store.getPrediction('p-3');
    expect(record?.event).not.toHaveProperty('lane');
  });

  it('refuses rows it cannot store, naming the value, and writes nothing of the batch', async () => {
    await expect(
      store.insertPartials([partial(0, 'p/0'), partial(1, 'p/0', { events: -1 })]),
    ).rejects.toThrow(/partial events must be a non-negative integer, got -1/);
    await expect(store.insertLaneProgress([progress('p/0', { seq: 1.5 })])).rejects.toThrow(
      /seq must be a non-negative integer, got 1.5/,
    );
    await expect(
      store.insertFinalisation(finalisation(0, { finalisedAt: Number.NaN })),
    ).rejects.toBeInstanceOf(InvalidInputError);
    expect(await store.pendingWindows(10)).toEqual([]);
    expect(await store.laneProgress()).toEqual([]);
  });
});

describe('cluster store on an engine whose views keep a deduplicated block’s copy by default', () => {
  it('a finalised window’s token still leaves one row in the latest tables: the insert asks the views to drop it too', async () => {
    // Older ClickHouse servers default deduplicate_blocks_in_dependent_materialized_views to
    // 0: the record dropped the second INSERT but its view still wrote it to the latest table.
    const path = mkdtempSync(join(tmpdir(), 'driftd-cluster-store-views-'));
    const exec = createChdbExecutor({
      path,
      connectionArgs: ['--deduplicate_blocks_in_dependent_materialized_views=0'],
    });
    const store = createStore({ kind: 'embedded', path, rawEventsTtlDays: 30 }, { executor: exec });
    try {
      await store.migrate();
      const [setting] = await exec.query<{ value: string }>(
        "SELECT value FROM system.settings WHERE name = 'deduplicate_blocks_in_dependent_materialized_views'",
      );
      expect(setting?.value).toBe('0');
      const w = windowKey(0);
      for (const at of [w.end + 2000, w.end + 3000]) {
        await store.insertWindowResults([result(0, at)], { dedupToken: token(0) });
        await store.insertPerformance([performance(0, at)], { dedupToken: token(0) });
      }
      const rows = async (table: string) => {
        const [r] = await exec.query<{ n: string }>(
          `SELECT count() AS n FROM \`driftd\`.\`${table}\` SETTINGS output_format_json_quote_64bit_integers = 1`,
        );
        return Number(r?.n);
      };
      expect(await rows('window_results')).toBe(4);
      expect(await rows('window_result_revisions')).toBe(4);
      expect(await rows('performance')).toBe(1);
      expect((await store.latestWindowResult('credit-risk'))?.closedAt).toBe(w.end + 2000);
    } finally {
      await store.close();
      rmSync(path, { recursive: true, force: true });
    }
  });
});
