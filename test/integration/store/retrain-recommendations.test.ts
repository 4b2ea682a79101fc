/**
 * retrain_recommendations (migration 17) on both drivers: the embedded one (chDB in-process)
 * and the ClickHouse server driver (@clickhouse/client → the STAND-IN HTTP interface,
 * test/helpers/clickhouse-http.ts, on the same engine). Append-only: an episode's close is a
 * second row, its newest row is its state, every row is kept.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  createChdbExecutor,
  createClickHouseExecutor,
  createStore,
} from '../../../src/store/index.js';
import type { SqlExecutor, Store, StoredRetrainRecommendation } from '../../../src/store/types.js';
import { type ClickHouseStandIn, startClickHouseStandIn } from '../../helpers/clickhouse-http.js';

const T0 = Date.UTC(2026, 10, 22, 10, 0, 0);
const MIN = 60_000;

let dir: string;
let standIn: ClickHouseStandIn;
let exec: SqlExecutor;
let embedded: Store;
let server: Store;

function rec(
  version: string,
  start: number,
  over: Partial<StoredRetrainRecommendation> = {},
): StoredRetrainRecommendation {
  return {
    id: `5m@${new Date(start).toISOString()}`,
    model: 'credit-risk',
    version,
    status: 'open',
    triggers: ['drift'],
    window: '5m',
    driftWindows: 2,
    estimatedDegradationWindows: 2,
    openedAt: start + 11 * MIN,
    closedAt: null,
    windows: [0, 1].map((k) => ({
      start: start + k * 5 * MIN,
      end: start + (k + 1) * 5 * MIN,
      drifted: true,
      driftShare: 0.5,
      features: [{ feature: 'income', test: 'ks', effect: 0.31, statistic: 0.31 }],
      estimates: [],
      degraded: null,
    })),
    features: [{ feature: 'income', test: 'ks', windows: 2, maxEffect: 0.31 }],
    configHash: 'sha256:abc',
    driftdVersion: '0.9.0',
    writtenAt: start + 11 * MIN,
    ...over,
  };
}

const a = rec('3', T0);
const b = rec('3', T0 + 60 * MIN);
const c = rec('4', T0 + 30 * MIN, { triggers: ['drift', 'estimated_degradation'] });
const aClosed = {
  ...a,
  status: 'closed' as const,
  closedAt: T0 + 40 * MIN,
  writtenAt: T0 + 40 * MIN,
};

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'driftd-retrain-store-'));
  standIn = await startClickHouseStandIn({ path: dir });
  exec = createChdbExecutor({ path: dir });
  embedded = createStore(
    { kind: 'embedded', path: dir, rawEventsTtlDays: 30 },
    { executor: exec, database: 'driftd_retrain_embedded' },
  );
  const config = {
    kind: 'clickhouse',
    url: standIn.url,
    database: 'driftd_retrain_server',
    username: 'default',
    password: '',
    requestTimeoutMs: 20_000,
    rawEventsTtlDays: 30,
  } as const;
  server = createStore(config, { executor: createClickHouseExecutor(config) });
  for (const s of [embedded, server]) {
    await s.migrate();
    await s.insertRetrainRecommendations([a, c]);
    await s.insertRetrainRecommendations([b]);
    await s.insertRetrainRecommendations([aClosed]);
  }
}, 60_000);

afterAll(async () => {
  await server?.close();
  await embedded?.close();
  await standIn?.close();
  rmSync(dir, { recursive: true, force: true });
});

describe.each([
  ['embedded', () => embedded],
  ['clickhouse server driver (stand-in HTTP)', () => server],
])('retrain_recommendations: %s', (_name, store) => {
  it('answers each episode in its newest state, newest episodes first, as written', async () => {
    const all = await store().retrainRecommendations({ model: 'credit-risk' });
    expect(all).toEqual([b, c, aClosed]);
  });

  it('filters open episodes, a version, and caps the count', async () => {
    const s = store();
    expect(await s.retrainRecommendations({ model: 'credit-risk', open: true })).toEqual([b, c]);
    expect(await s.retrainRecommendations({ model: 'credit-risk', version: '3' })).toEqual([
      b,
      aClosed,
    ]);
    expect(await s.retrainRecommendations({ model: 'credit-risk', limit: 1 })).toEqual([b]);
    expect(await s.retrainRecommendations({ model: 'churn' })).toEqual([]);
  });
});

it('an episode opened and closed in the same millisecond reads as closed, however stored', async () => {
  for (const s of [embedded, server]) {
    for (const version of ['5', '6', '7', '8']) {
      const d = rec(version, T0, { writtenAt: T0 + 50 * MIN });
      const closed = { ...d, status: 'closed' as const, closedAt: T0 + 50 * MIN };
      // Both orders, in one insert and in two.
      if (version === '5') await s.insertRetrainRecommendations([closed, d]);
      if (version === '6') await s.insertRetrainRecommendations([d, closed]);
      if (version === '7') {
        await s.insertRetrainRecommendations([closed]);
        await s.insertRetrainRecommendations([d]);
      }
      if (version === '8') {
        await s.insertRetrainRecommendations([d]);
        await s.insertRetrainRecommendations([closed]);
      }
      const got = await s.retrainRecommendations({ model: 'credit-risk', version });
      expect(got.map((r) => r.status)).toEqual(['closed']);
    }
  }
});

it('is append-only: a plain MergeTree keeping every transition', async () => {
  const rows = await exec.query<{ n: string }>(
    'SELECT count() AS n FROM driftd_retrain_embedded.retrain_recommendations',
  );
  expect(Number(rows[0]!.n)).toBe(12);
  const [engine] = await exec.query<{ engine: string }>(
    "SELECT engine FROM system.tables WHERE database = 'driftd_retrain_embedded' AND name = 'retrain_recommendations'",
  );
  expect(engine!.engine).toBe('MergeTree');
});
