/**
 * The ClickHouse server driver (@clickhouse/client) against the STAND-IN ClickHouse HTTP
 * interface (test/helpers/clickhouse-http.ts: node:http in front of the embedded chDB engine;
 * no ClickHouse server can be installed here). Driver behaviour only: retries by ClickHouse
 * code, insert deduplication across a lost answer, timeouts, authentication, an unreachable
 * server, readiness. The full store suite runs on this driver in store.test.ts.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { validateConfig } from '../../../src/config/index.js';
import { createDaemon } from '../../../src/daemon.js';
import { LifecycleError, StoreError } from '../../../src/errors.js';
import {
  type ClickHouseExecutorOptions,
  createClickHouseExecutor,
  createStore,
  MIGRATIONS,
} from '../../../src/store/index.js';
import type { SqlExecutor, Store, StoredEvent } from '../../../src/store/types.js';
import { type ClickHouseStandIn, startClickHouseStandIn } from '../../helpers/clickhouse-http.js';

const T0 = Date.UTC(2026, 10, 22, 10, 0, 0);
const PASSWORD = 'pa55-word-not-in-messages';

let dir: string;
let standIn: ClickHouseStandIn;
const stores: Store[] = [];

beforeEach(async () => {
  dir = mkdtempSync(join(tmpdir(), 'driftd-ch-driver-'));
  standIn = await startClickHouseStandIn({ path: dir, users: { driftd: PASSWORD } });
});

afterEach(async () => {
  for (const s of stores.splice(0)) await s.close();
  await standIn.close();
  rmSync(dir, { recursive: true, force: true });
});

function executor(over: Partial<ClickHouseExecutorOptions> = {}): SqlExecutor {
  return createClickHouseExecutor({
    url: standIn.url,
    username: 'driftd',
    password: PASSWORD,
    requestTimeoutMs: 5000,
    retry: { attempts: 4, initialDelayMs: 5, maxDelayMs: 20 },
    ...over,
  });
}

function openStore(exec: SqlExecutor = executor()): Store {
  const store = createStore(
    {
      kind: 'clickhouse',
      url: standIn.url,
      database: 'driftd',
      username: 'driftd',
      password: PASSWORD,
      requestTimeoutMs: 5000,
      rawEventsTtlDays: 30,
    },
    { executor: exec },
  );
  stores.push(store);
  return store;
}

function event(i: number): StoredEvent {
  return {
    model: 'credit-risk',
    version: '3',
    id: `p-${i}`,
    ts: T0 + i * 1000,
    features: { income: 50_000 + i, region: i % 2 ? 'EU' : 'US' },
    prediction: i / 100,
    late: false,
    source: { kind: 'http' },
    ingestedAt: T0 + 60_000,
  };
}

async function rawEventCount(): Promise<number> {
  // No FINAL: counts stored rows, so a duplicate INSERT would show.
  const [row] = await standIn.query<{ n: string }>('SELECT count() AS n FROM driftd.events');
  return Number(row!.n);
}

const inserts = () =>
  standIn.requests.filter((r) => r.kind === 'insert' && r.sql.includes('events'));

describe('ClickHouse server driver against the stand-in HTTP interface', () => {
  it('createStore picks it for kind clickhouse; migrate() creates the database and applies every migration', async () => {
    const store = createStore({
      kind: 'clickhouse',
      url: standIn.url,
      database: 'driftd_prod',
      username: 'driftd',
      password: PASSWORD,
      requestTimeoutMs: 5000,
      rawEventsTtlDays: 7,
    });
    stores.push(store);
    expect(store.kind).toBe('clickhouse');
    const report = await store.migrate();
    expect(report.applied.map((m) => m.version)).toEqual(MIGRATIONS.map((m) => m.version));
    expect(
      await standIn.query("SELECT name FROM system.databases WHERE name = 'driftd_prod'"),
    ).toEqual([{ name: 'driftd_prod' }]);
    expect((await store.migrate()).applied).toEqual([]);
    await store.ping();
    // Values travel as server-side parameters, never inside the SQL text.
    const binds = standIn.requests.filter((r) => Object.keys(r.params).length > 0);
    expect(binds.length).toBeGreaterThan(0);
    for (const r of binds) {
      for (const name of Object.keys(r.params)) expect(r.sql).toMatch(new RegExp(`\\{${name}:`));
    }
  });

  it('retries retriable codes (202, 159) and dropped connections, then succeeds', async () => {
    const store = openStore();
    await store.migrate();
    standIn.inject(
      { kind: 'error', code: 202, name: 'TOO_MANY_SIMULTANEOUS_QUERIES' },
      { match: 'insert', times: 2 },
    );
    const rows = Array.from({ length: 20 }, (_, i) => event(i));
    await store.insertEvents(rows);
    expect(inserts().map((r) => r.status)).toEqual([500, 500, 200]);
    expect(inserts().map((r) => r.exceptionCode)).toEqual([202, 202, undefined]);
    expect(await rawEventCount()).toBe(20);

    const before = standIn.requests.length;
    standIn.inject({ kind: 'error', code: 159, name: 'TIMEOUT_EXCEEDED' }, { match: 'query' });
    standIn.inject({ kind: 'drop' }, { match: 'query' });
    const got = await store.windowEvents({
      model: 'credit-risk',
      version: '3',
      from: T0,
      to: T0 + 60_000,
    });
    expect(got).toEqual(rows);
    const tried = standIn.requests.slice(before);
    expect(tried.map((r) => [r.fault ?? null, r.status])).toEqual([
      ['error', 408],
      ['drop', 0],
      [null, 200],
    ]);
  });

  it('an INSERT whose answer was lost is retried with the same dedup token and written once', async () => {
    const store = openStore();
    await store.migrate();
    standIn.inject({ kind: 'drop-after-execute' }, { match: 'insert' });
    const rows = Array.from({ length: 50 }, (_, i) => event(i));
    await store.insertEvents(rows);
    const tries = inserts();
    expect(tries).toHaveLength(2);
    expect(tries[0]!.fault).toBe('drop-after-execute');
    const token = tries[0]!.settings.insert_deduplication_token;
    expect(token).toMatch(/^[0-9a-f]{64}$/);
    expect(tries[1]!.settings.insert_deduplication_token).toBe(token);
    // Both attempts reached the engine; the second was deduplicated, not written again.
    expect(await rawEventCount()).toBe(50);

    // An answer lost after the server committed (319 UNKNOWN_STATUS_OF_INSERT) is retried too.
    standIn.inject(
      { kind: 'error-after-execute', code: 319, name: 'UNKNOWN_STATUS_OF_INSERT' },
      { match: 'insert' },
    );
    await store.insertEvents([event(100)]);
    expect(await rawEventCount()).toBe(51);
  });

  it('does not retry a non-retriable code (62 SYNTAX_ERROR)', async () => {
    const exec = executor();
    const err = await exec.query('SELEC 1').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(StoreError);
    expect((err as StoreError).clickhouseCode).toBe(62);
    expect((err as StoreError).retriable).toBe(false);
    expect((err as StoreError).code).toBe('DRIFTD_ERR_STORE');
    expect((err as StoreError).message).toContain(standIn.url);
    expect((err as StoreError).message).toContain('SYNTAX_ERROR');
    expect(standIn.requests.filter((r) => r.kind === 'query')).toHaveLength(1);

    standIn.inject({ kind: 'error', code: 62, name: 'SYNTAX_ERROR' }, { times: 5 });
    await expect(exec.query('SELECT 1')).rejects.toMatchObject({ clickhouseCode: 62 });
    expect(standIn.requests.filter((r) => r.kind === 'query')).toHaveLength(2);
    await exec.close();
  });

  it('gives up after the configured attempts with the last error', async () => {
    const exec = executor({ retry: { attempts: 3, initialDelayMs: 1, maxDelayMs: 2 } });
    standIn.inject({ kind: 'error', code: 241, name: 'MEMORY_LIMIT_EXCEEDED' }, { times: 10 });
    const err = (await exec.query('SELECT 1').catch((e: unknown) => e)) as StoreError;
    expect(err.clickhouseCode).toBe(241);
    expect(err.retriable).toBe(true);
    expect(standIn.requests.filter((r) => r.kind === 'query')).toHaveLength(3);
    await exec.close();
  });

  it('a request past its deadline fails with a clear error naming the URL, retriable and unavailable', async () => {
    const exec = executor({ requestTimeoutMs: 200, retry: { attempts: 4, initialDelayMs: 1 } });
    standIn.inject({ kind: 'delay', ms: 3000 }, { times: 2 });
    const started = Date.now();
    const err = (await exec.query('SELECT 1').catch((e: unknown) => e)) as StoreError;
    expect(Date.now() - started).toBeLessThan(2500);
    expect(err).toBeInstanceOf(StoreError);
    expect(err.message).toContain(`ClickHouse at ${standIn.url} did not answer within 200 ms`);
    expect(err.message).toContain('requestTimeoutMs');
    expect(err.retriable).toBe(true);
    expect(err.code).toBe('DRIFTD_ERR_STORE_UNAVAILABLE');
    // The deadline is the call's retry budget: a timed-out request is not sent again here
    // (the caller may retry: the error is retriable).
    expect(standIn.requests.filter((r) => r.kind === 'query')).toHaveLength(1);
    // Within the budget, the next call works.
    expect(await exec.query('SELECT 1 AS ok').catch(() => 'timed out again')).toBe(
      'timed out again',
    );
    expect(await exec.query('SELECT 1 AS ok')).toEqual([{ ok: 1 }]);
    await exec.close();
  });

  it('a wrong password is one attempt and a clear, non-retriable error without the password', async () => {
    const wrong = 'wrong-secret-value';
    const store = openStore(executor({ password: wrong }));
    const err = (await store.ping().catch((e: unknown) => e)) as StoreError;
    expect(err).toBeInstanceOf(StoreError);
    expect(err.clickhouseCode).toBe(516);
    expect(err.retriable).toBe(false);
    expect(err.message).toContain(standIn.url);
    expect(err.message).toContain('AUTHENTICATION_FAILED');
    expect(err.message).toContain('user "driftd"');
    expect(err.message).not.toContain(wrong);
    expect(standIn.requests.map((r) => [r.status, r.exceptionCode])).toEqual([[403, 516]]);

    // Credentials in the URL work and never show in messages either.
    const inUrl = new URL(standIn.url);
    inUrl.username = 'driftd';
    inUrl.password = PASSWORD;
    const viaUrl = executor({ url: inUrl.toString(), username: 'x', password: 'y' });
    expect(await viaUrl.query('SELECT 1 AS ok')).toEqual([{ ok: 1 }]);
    const e2 = (await viaUrl.query('SELEC 1').catch((e: unknown) => e)) as StoreError;
    await viaUrl.close();
    expect(e2.message).toContain(standIn.url);
    expect(e2.message).not.toContain(PASSWORD);
  });

  it('server down: ping() rejects with an unavailable StoreError; /readyz answers 503 with a generic reason (no host)', async () => {
    const store = openStore();
    await store.migrate();
    const config = validateConfig(
      {
        dataDir: join(dir, 'daemon'),
        server: { host: '127.0.0.1', port: 0 },
        logLevel: 'silent',
        models: [
          {
            id: 'credit-risk',
            task: 'binary-classification',
            features: [{ name: 'income', type: 'numeric' }],
            windows: { sizes: ['5m'] },
          },
        ],
      },
      { env: {} },
    );
    const daemon = createDaemon(config, { store, listen: false });
    await daemon.start();
    try {
      const ok = await daemon.app.inject({ method: 'GET', url: '/readyz' });
      expect(ok.statusCode).toBe(200);

      await standIn.close();
      const err = (await store.ping().catch((e: unknown) => e)) as StoreError;
      expect(err).toBeInstanceOf(StoreError);
      expect(err.code).toBe('DRIFTD_ERR_STORE_UNAVAILABLE');
      expect(err.retriable).toBe(true);
      expect(err.message).toMatch(
        new RegExp(`cannot reach ClickHouse at ${standIn.url} \\((ECONNREFUSED|ECONNRESET)\\)`),
      );

      const res = await daemon.app.inject({ method: 'GET', url: '/readyz' });
      expect(res.statusCode).toBe(503);
      const body = res.json() as {
        ready: boolean;
        checks: Record<string, { ok: boolean; detail?: string }>;
      };
      expect(body.ready).toBe(false);
      expect(body.checks.store!.ok).toBe(false);
      expect(body.checks.store!.detail).toBe('unreachable');
      expect(res.body).not.toContain(new URL(standIn.url).port);
      expect(res.body).not.toContain(PASSWORD);
    } finally {
      await daemon.close();
      stores.splice(stores.indexOf(store), 1);
    }
  });

  it('large parameters travel as multipart/form-data parts, small ones in the URL', async () => {
    const store = openStore();
    await store.migrate();
    await store.insertEvents(Array.from({ length: 30 }, (_, i) => event(i)));
    const reference = Array.from({ length: 5000 }, (_, i) => 50_000 + i * 0.01);
    const r = await store.exactKs({
      model: 'credit-risk',
      version: '3',
      from: T0,
      to: T0 + 60_000,
      feature: 'income',
      reference,
    });
    expect(r).toMatchObject({ n: 5000, m: 30, lateEvents: 0 });
    const ks = standIn.requests.at(-1)!;
    expect(ks.multipart).toBe(true);
    expect(ks.params.reference!.length).toBeGreaterThan(4096);
    const small = standIn.requests.find(
      (q) => q.sql.includes('schema_migrations') && q.params.version,
    );
    expect(small?.multipart).toBe(false);
  });

  it('close waits for in-flight work; calls after close are lifecycle errors', async () => {
    const exec = executor();
    standIn.inject({ kind: 'delay', ms: 100 });
    const pending = exec.query<{ x: number }>('SELECT 1 AS x');
    await exec.close();
    expect(await pending).toEqual([{ x: 1 }]);
    await expect(exec.query('SELECT 1')).rejects.toBeInstanceOf(LifecycleError);
    await exec.close();
  });
});
