/**
 * Parity of the two drivers, compared directly: the same writes go through the embedded
 * driver (chDB in-process) into one database and through the ClickHouse server driver
 * (@clickhouse/client → the STAND-IN HTTP interface, test/helpers/clickhouse-http.ts) into
 * another database of the same engine; every read must return identical results and every
 * table must hold identical rows. Then ClickHouse's kolmogorovSmirnovTest (through
 * Store.exactKs) is checked against the SciPy-exact ksTest on the same two samples.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ProtectedAttribute } from '../../../src/stats/fairness-groups.js';
import { ksTest } from '../../../src/stats/ks.js';
import { kolmogorovSurvival } from '../../../src/stats/special.js';
import {
  createChdbExecutor,
  createClickHouseExecutor,
  createStore,
} from '../../../src/store/index.js';
import type { SqlExecutor, Store, StoredEvent } from '../../../src/store/types.js';
import type { BaselineProfile, FeatureDrift, WindowResult } from '../../../src/types.js';
import { type ClickHouseStandIn, startClickHouseStandIn } from '../../helpers/clickhouse-http.js';

const T0 = Date.UTC(2026, 10, 22, 10, 0, 0);
const MIN = 60_000;

let dir: string;
let standIn: ClickHouseStandIn;
let embeddedExec: SqlExecutor;
let embedded: Store;
let server: Store;

function normals(seed: number) {
  let s = seed >>> 0;
  const u = () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return (s + 0.5) / 4294967296;
  };
  return () => Math.sqrt(-2 * Math.log(u())) * Math.cos(2 * Math.PI * u());
}

function event(i: number, over: Partial<StoredEvent> = {}): StoredEvent {
  const z = normals(i + 1);
  return {
    model: 'credit-risk',
    version: i % 5 === 0 ? '4' : '3',
    id: `p-${i}`,
    ts: T0 + i * 997,
    features: {
      income: 50_000 + 10_000 * z(),
      age: i % 7 === 0 ? null : Math.round(40 + 10 * z()),
      region: ['EU', 'US', 'APAC'][i % 3]!,
      note: i % 11 === 0 ? `it's "quoted" \\ ${i}` : 'plain',
    },
    prediction: i % 4 === 0 ? 'approve' : z(),
    late: i % 13 === 0,
    source:
      i % 3 === 0
        ? { kind: 'kafka', topic: 'predictions', partition: i % 4, offset: String(10_000 + i) }
        : i % 3 === 1
          ? { kind: 'replay', file: '/data/replay.jsonl', line: i + 1 }
          : { kind: 'http' },
    ingestedAt: T0 + i * 997 + 17,
    ...over,
  };
}

function drift(feature: string, over: Partial<FeatureDrift> = {}): FeatureDrift {
  return {
    feature,
    type: 'numeric',
    test: 'ks',
    statistic: 0.11,
    pValue: 0.002,
    adjustedPValue: 0.004,
    threshold: 0.05,
    drifted: true,
    psi: 0.3,
    ksStatistic: 0.11,
    ksBound: 0.001,
    ksPValue: 0.004,
    verdictRule: 'calibrated',
    effect: 0.12,
    effectFloor: 0.1,
    count: 400,
    missingRatio: 0.02,
    outOfRangeRatio: 0,
    unseenRatio: 0,
    otherRatio: 0.01,
    statisticBound: 0.002,
    boundStraddlesThreshold: true,
    insufficient: false,
    histogram: { edges: [0, 1, 2], reference: [0.5, 0.5], current: [0.25, 0.75] },
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
    eventCount: 400,
    lateCount: 3,
    closedAt: start + 6 * MIN,
    features: [
      drift('income'),
      drift('age', { psi: Number.NaN, statistic: Number.POSITIVE_INFINITY }),
    ],
    prediction: drift('score', { test: 'psi', pValue: null, adjustedPValue: null }),
    driftShare: 0.5,
    datasetDrift: true,
    provisional: false,
    ...over,
  };
}

const baseline: BaselineProfile = {
  id: 'b-1',
  hash: 'sha256:abc',
  model: 'credit-risk',
  version: '3',
  createdAt: T0 - 86_400_000,
  source: 'train.parquet',
  rowCount: 1000,
  badRows: 2,
  params: { bins: 4, psiBuckets: 2, topCategories: 3, sampleSize: 5 },
  features: {
    income: {
      kind: 'numeric',
      edges: [1, 2, 3, 4],
      counts: [250, 250, 250, 250],
      coarse: [0, 0, 1, 1],
      missing: 0,
      nan: 0,
      summary: { count: 1000, mean: 2.5, std: 1, min: 1, max: 4, p01: 1, p50: 2.5, p99: 4 },
      sample: [1.25, 2.5, 3.75],
    },
  },
  prediction: null,
};

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'driftd-parity-'));
  // One engine, two databases: the stand-in and the embedded driver share the data directory.
  standIn = await startClickHouseStandIn({ path: dir });
  embeddedExec = createChdbExecutor({ path: dir });
  let clock = T0 + 60 * MIN;
  const now = () => clock;
  embedded = createStore(
    { kind: 'embedded', path: dir, rawEventsTtlDays: 30 },
    { executor: embeddedExec, database: 'driftd_embedded', now, maxInsertRows: 64 },
  );
  const config = {
    kind: 'clickhouse',
    url: standIn.url,
    database: 'driftd_server',
    username: 'default',
    password: '',
    requestTimeoutMs: 20_000,
    rawEventsTtlDays: 30,
  } as const;
  server = createStore(config, {
    executor: createClickHouseExecutor(config),
    now,
    maxInsertRows: 64,
  });

  for (const s of [embedded, server]) await s.migrate();
  const events = Array.from({ length: 300 }, (_, i) => event(i));
  const writes: Array<(s: Store) => Promise<unknown>> = [
    (s) => s.insertEvents(events),
    // Redelivery and a second source of some events.
    (s) => s.insertEvents(events.slice(0, 30).map((e) => ({ ...e, ingestedAt: e.ingestedAt + 5 }))),
    (s) => s.insertEvents(events.slice(30, 40).map((e) => ({ ...e, source: { kind: 'http' } }))),
    (s) =>
      s.insertLabels(
        events
          .filter((_, i) => i % 2 === 0)
          .map((e, i) => ({ model: e.model, id: e.id, ts: e.ts + MIN, label: i % 3 ? 1 : 'no' })),
      ),
    (s) => s.saveBaseline(baseline),
    (s) => s.saveBaseline({ ...baseline, id: 'b-2', version: '4', createdAt: T0 }),
    (s) =>
      s.insertWindowResults([
        windowResult(T0),
        windowResult(T0 + 5 * MIN, { prediction: null }),
        windowResult(T0, { version: '4', features: [drift('income', { drifted: false })] }),
        windowResult(T0, { size: 60 * MIN, sizeLabel: '1h', end: T0 + 60 * MIN }),
      ]),
    // A rewrite (late data) with one feature fewer.
    (s) =>
      s.insertWindowResults([
        windowResult(T0, { closedAt: T0 + 9 * MIN, features: [drift('income')] }),
      ]),
    (s) =>
      s.insertPerformance([
        {
          model: 'credit-risk',
          version: '3',
          size: 5 * MIN,
          sizeLabel: '5m',
          start: T0,
          end: T0 + 5 * MIN,
          labeled: 80,
          coverage: 0.4,
          metrics: { accuracy: 0.9, logLoss: Number.NaN },
          computedAt: T0 + 10 * MIN,
        },
      ]),
    (s) => s.saveCheckpoint({ groupId: 'g', seq: 1, takenAt: T0, payload: '{"a":1}' }),
    (s) => s.saveCheckpoint({ groupId: 'g', seq: 2, takenAt: T0 + 1, payload: '{"a":"ü\\n"}' }),
  ];
  for (const write of writes) {
    for (const s of [embedded, server]) await write(s);
    clock += 1000;
  }
});

afterAll(async () => {
  await server?.close();
  await embedded?.close();
  await standIn?.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('driver parity: embedded vs ClickHouse server driver (stand-in HTTP interface)', () => {
  const reads: Array<[string, (s: Store) => Promise<unknown>]> = [
    [
      'windowEvents v3',
      (s) => s.windowEvents({ model: 'credit-risk', version: '3', from: T0, to: T0 + 5 * MIN }),
    ],
    [
      'windowEvents v4 limit',
      (s) =>
        s.windowEvents({
          model: 'credit-risk',
          version: '4',
          from: 0,
          to: T0 + 60 * MIN,
          limit: 7,
        }),
    ],
    [
      'getPrediction',
      (s) =>
        Promise.all(['p-0', 'p-1', 'p-2', 'p-35', 'p-11', 'nope'].map((id) => s.getPrediction(id))),
    ],
    ['getPrediction by model', (s) => s.getPrediction('p-2', { model: 'other' })],
    [
      'predictionTimes',
      (s) => s.predictionTimes('credit-risk', ['p-1', 'p-5', 'p-5', 'p-299', 'x']),
    ],
    [
      'labeledPredictions',
      (s) =>
        s.labeledPredictions({ model: 'credit-risk', version: '3', from: T0, to: T0 + 5 * MIN }),
    ],
    [
      'labeledPredictions with segment values',
      async (s) => {
        const rows = await s.labeledPredictions({
          model: 'credit-risk',
          version: '3',
          from: T0,
          to: T0 + 5 * MIN,
          segmentFields: ['region', 'nope'],
        });
        // Every row carries the value of each field asked for (null when absent).
        expect(rows.length).toBeGreaterThan(0);
        expect(rows.every((r) => ['EU', 'US', 'APAC'].includes(String(r.segmentValues?.[0])))).toBe(
          true,
        );
        expect(rows.every((r) => r.segmentValues?.[1] === null)).toBe(true);
        return rows;
      },
    ],
    [
      'fairnessRows (categorical, absent, numeric with a limit)',
      (s) =>
        Promise.all(
          (
            [
              ['region', { kind: 'categorical', groups: ['EU', 'US'] }, 1000],
              ['nope', { kind: 'categorical', groups: ['EU'] }, 1000],
              ['income', { kind: 'numeric', edges: [40_000, 60_000] }, 3],
            ] as const
          ).map(([field, attribute, limit]) =>
            s.fairnessRows({
              model: 'credit-risk',
              version: '3',
              from: T0,
              to: T0 + 5 * MIN,
              field,
              attribute: attribute as ProtectedAttribute,
              threshold: 0.5,
              positive: '1',
              limit,
            }),
          ),
        ),
    ],
    ['listBaselines', (s) => s.listBaselines()],
    ['listBaselines by model', (s) => s.listBaselines({ model: 'credit-risk' })],
    ['getBaseline', (s) => s.getBaseline('b-1')],
    [
      'latestBaseline',
      (s) =>
        Promise.all([s.latestBaseline('credit-risk', '3'), s.latestBaseline('credit-risk', '9')]),
    ],
    ['queryDrift', (s) => s.queryDrift({ model: 'credit-risk', from: T0, to: T0 + 10 * MIN })],
    [
      'queryDrift filtered',
      (s) =>
        s.queryDrift({
          model: 'credit-risk',
          from: T0,
          to: T0 + 1,
          window: '5m',
          version: '3',
          feature: 'income',
        }),
    ],
    [
      'latestWindowResult',
      (s) =>
        Promise.all([
          s.latestWindowResult('credit-risk'),
          s.latestWindowResult('credit-risk', { window: '5m', version: '4' }),
        ]),
    ],
    [
      'queryPerformance',
      (s) => s.queryPerformance({ model: 'credit-risk', from: 0, to: T0 + 60 * MIN }),
    ],
    ['latestCheckpoint', (s) => Promise.all([s.latestCheckpoint('g'), s.latestCheckpoint('none')])],
    [
      'exactKs',
      (s) =>
        Promise.all(
          ['income', 'age', 'region', 'missing'].map((feature) =>
            s.exactKs({
              model: 'credit-risk',
              version: '3',
              from: T0,
              to: T0 + 5 * MIN,
              feature,
              reference: Array.from({ length: 5000 }, (_, i) => 30_000 + i * 8),
            }),
          ),
        ),
    ],
  ];

  it.each(reads)('%s returns the same on both drivers', async (_name, read) => {
    const [a, b] = [await read(embedded), await read(server)];
    expect(b).toEqual(a);
  });

  it('some reads are not trivially empty', async () => {
    expect(
      await embedded.windowEvents({
        model: 'credit-risk',
        version: '3',
        from: T0,
        to: T0 + 5 * MIN,
      }),
    ).not.toHaveLength(0);
    expect(
      (
        await embedded.exactKs({
          model: 'credit-risk',
          version: '3',
          from: T0,
          to: T0 + 5 * MIN,
          feature: 'income',
          reference: [1, 2],
        })
      ).m,
    ).toBeGreaterThan(100);
  });

  it('fairnessRows counts every prediction of the range once, labelled ones with their label', async () => {
    // (The group, selection and label rules themselves: test/integration/store/fairness-rows.test.ts.)
    const range = { model: 'credit-risk', version: '3', from: T0, to: T0 + 5 * MIN };
    const query = {
      ...range,
      threshold: 0.5,
      positive: '1',
      field: 'region',
      attribute: { kind: 'categorical', groups: ['EU', 'US'] } as ProtectedAttribute,
      limit: 100_000,
    };
    const rows = await embedded.fairnessRows(query);
    const events = await embedded.windowEvents(range);
    const labelled = await embedded.labeledPredictions(range);
    const sum = (xs: typeof rows) => xs.reduce((s, r) => s + r.count, 0);
    expect(sum(rows)).toBe(events.length);
    expect(sum(rows.filter((r) => r.positive !== null))).toBe(labelled.length);
    expect(new Set(rows.map((r) => r.group))).toEqual(new Set(['EU', 'US', 'other']));
    const absent = await embedded.fairnessRows({ ...query, field: 'nope' });
    expect(absent.every((r) => r.group === 'missing')).toBe(true);
    expect(await embedded.fairnessRows({ ...query, limit: 2 })).toHaveLength(2);
  });

  it.each([
    'events',
    'labels',
    'baselines',
    'window_results',
    'performance',
    'checkpoints',
    'schema_migrations',
  ])('table %s holds identical rows', async (table) => {
    const rows = async (db: string) => {
      const skip = table === 'schema_migrations' ? ' EXCEPT applied_at' : '';
      return embeddedExec.query<Record<string, unknown>>(
        `SELECT *${skip} FROM \`${db}\`.\`${table}\` FINAL ORDER BY tuple(*) SETTINGS output_format_json_quote_64bit_integers = 1, output_format_json_quote_denormals = 1`,
      );
    };
    const a = await rows('driftd_embedded');
    expect(a.length).toBeGreaterThan(0);
    expect(await rows('driftd_server')).toEqual(a);
  });
});

describe('ClickHouse kolmogorovSmirnovTest (via Store.exactKs) vs the SciPy-exact ksTest', () => {
  /*
   * What we found (ClickHouse 26.7 vs SciPy 1.17 ks_2samp, method='auto'):
   * - Statistic: equal up to float summation (ClickHouse adds 1/n steps, SciPy rounds to
   *   h/lcm(n, m)): |ΔD| < 1e-13 at n = 20 000.
   * - p-value, max(n, m) ≤ 10 000: both exact (ClickHouse's 'auto' switches at the same size);
   *   equal to ~1e-15 relative in most cases, ~1e-5 relative at worst (n = 9999, m = 5000).
   * - p-value, max(n, m) > 10 000: ClickHouse uses the limiting Kolmogorov distribution
   *   Q(√(nm/(n+m))·D) (SciPy kstwobign.sf, the same formula as our binnedKsTest); SciPy uses
   *   kstwo.sf(D, round(nm/(n+m))), a finite-n distribution, which is smaller by a few percent
   *   (≈ 4 % at p ≈ 0.1 and at p ≈ 3e-6 in the cases below). Neither is wrong: they are two
   *   approximations of the same exact tail; driftd reports ClickHouse's as computed.
   */
  const cases: Array<{ name: string; n: number; m: number; shift: number; ties: boolean }> = [
    { name: 'exact regime, continuous', n: 2000, m: 700, shift: 0.15, ties: false },
    { name: 'exact regime, ties', n: 1500, m: 900, shift: 0.1, ties: true },
    {
      name: 'exact regime at the switch (max = 10 000)',
      n: 10_000,
      m: 500,
      shift: 0.1,
      ties: false,
    },
    { name: 'asymptotic regime (max = 10 001)', n: 10_001, m: 500, shift: 0.1, ties: false },
    { name: 'asymptotic regime, large reference', n: 20_000, m: 3000, shift: 0.1, ties: false },
  ];

  it.each(cases)('$name (n = $n, m = $m)', async ({ n, m, shift, ties }) => {
    const z = normals(n * 31 + m);
    const value = (x: number) => (ties ? Math.round(x * 2) / 2 : x);
    const reference = Array.from({ length: n }, () => value(z()));
    const current = Array.from({ length: m }, () => value(z() + shift));
    const model = `ks-${n}-${m}`;
    const rows: StoredEvent[] = current.map((v, i) => ({
      model,
      version: '1',
      id: `k-${i}`,
      ts: T0 + i,
      features: { x: v },
      prediction: 0,
      late: false,
      source: { kind: 'http' },
      ingestedAt: T0,
    }));
    await server.insertEvents(rows);
    const got = await server.exactKs({
      model,
      version: '1',
      from: T0,
      to: T0 + m,
      feature: 'x',
      reference,
    });
    const scipy = ksTest(reference, current);
    expect(got.n).toBe(n);
    expect(got.m).toBe(m);
    expect(Math.abs(got.statistic! - scipy.statistic)).toBeLessThan(1e-12);
    if (Math.max(n, m) <= 10_000) {
      expect(scipy.method).toBe('exact');
      expect(Math.abs(got.pValue! - scipy.pValue)).toBeLessThanOrEqual(1e-4 * scipy.pValue);
    } else {
      expect(scipy.method).toBe('asymp');
      const limiting = kolmogorovSurvival(Math.sqrt((n * m) / (n + m)) * got.statistic!);
      expect(Math.abs(got.pValue! - limiting)).toBeLessThanOrEqual(1e-9 * limiting);
      const relative = Math.abs(got.pValue! - scipy.pValue) / scipy.pValue;
      expect(relative).toBeGreaterThan(1e-3);
      expect(relative).toBeLessThan(0.1);
    }
  });
});
