/**
 * Versioned migrations against the real embedded ClickHouse (chDB): idempotent, persistent
 * across restarts, only new versions applied, TTL follows configuration.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { afterEach, describe, expect, it } from 'vitest';
import { InvalidInputError, StoreError } from '../../../src/errors.js';
import { createChdbExecutor } from '../../../src/store/chdb.js';
import { createStore, MIGRATIONS, type Migration } from '../../../src/store/index.js';
import { RESULT_TABLES } from '../../../src/store/migrations.js';
import { encodePerformance, encodeWindowResult } from '../../../src/store/sql.js';
import type { SqlExecutor, Store } from '../../../src/store/types.js';
import type { BaselineProfile, PerformanceResult, WindowResult } from '../../../src/types.js';

const dirs: string[] = [];
const open: Store[] = [];

afterEach(async () => {
  for (const s of open.splice(0)) await s.close();
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function tempDir(): string {
  const d = mkdtempSync(join(tmpdir(), 'driftd-store-mig-'));
  dirs.push(d);
  return d;
}

function openStore(
  path: string,
  opts: { ttl?: number; resultsTtl?: number; migrations?: readonly Migration[] } = {},
): { store: Store; exec: SqlExecutor } {
  const exec = createChdbExecutor({ path });
  const store = createStore(
    {
      kind: 'embedded',
      path,
      rawEventsTtlDays: opts.ttl ?? 30,
      ...(opts.resultsTtl === undefined ? {} : { resultsTtlDays: opts.resultsTtl }),
    },
    { executor: exec, ...(opts.migrations ? { migrations: opts.migrations } : {}) },
  );
  open.push(store);
  return { store, exec };
}

async function closeStore(store: Store): Promise<void> {
  await store.close();
  open.splice(open.indexOf(store), 1);
}

const baseline: BaselineProfile = {
  id: 'b-1',
  hash: 'h-1',
  model: 'credit-risk',
  version: '3',
  createdAt: Date.UTC(2026, 10, 1),
  source: 'train.csv',
  rowCount: 10,
  badRows: 0,
  params: { bins: 10, psiBuckets: 10, topCategories: 5, sampleSize: 10 },
  features: {},
  prediction: null,
};

describe('store migrations (chDB)', () => {
  it('applies every migration once and records it; a second run applies nothing', async () => {
    const { store, exec } = openStore(tempDir());
    const first = await store.migrate();
    expect(first.applied.map((m) => m.version)).toEqual(MIGRATIONS.map((m) => m.version));
    expect(first.version).toBe(MIGRATIONS.at(-1)!.version);

    const second = await store.migrate();
    expect(second.applied).toEqual([]);
    expect(second.version).toBe(first.version);

    const recorded = await exec.query<{ version: number; name: string; n: string }>(
      'SELECT version, any(name) AS name, count() AS n FROM `driftd`.`schema_migrations` GROUP BY version ORDER BY version',
    );
    expect(recorded.map((r) => [r.version, r.name, Number(r.n)])).toEqual(
      MIGRATIONS.map((m) => [m.version, m.name, 1]),
    );
    const tables = await exec.query<{ name: string }>(
      "SELECT name FROM system.tables WHERE database = 'driftd' ORDER BY name",
    );
    expect(tables.map((t) => t.name)).toEqual([
      'baselines',
      'checkpoints',
      'events',
      'fairness_results',
      'labels',
      'lane_progress',
      'performance',
      'performance_latest_mv',
      'performance_revisions',
      'retrain_recommendations',
      'schema_migrations',
      'store_settings',
      'version_comparisons',
      'window_finalisations',
      'window_partials',
      'window_result_revisions',
      'window_results',
      'window_results_latest_mv',
    ]);
  });

  it('every migration runs again whole without error, right after it ran (a crash before it was recorded), and changes nothing', async () => {
    // Two databases of one engine (chDB opens one data directory per process): one migrated
    // by running each migration twice in a row, one migrated once.
    const { store, exec } = openStore(tempDir(), { ttl: 30, resultsTtl: 400 });
    await store.migrate();
    const ctx = { db: 'twice', rawEventsTtlDays: 30, resultsTtlDays: 400 };
    await exec.command('CREATE DATABASE IF NOT EXISTS twice');
    for (const m of MIGRATIONS) {
      for (const round of [1, 2]) {
        for (const statement of m.up(ctx)) {
          await expect(
            exec.command(statement),
            `migration ${m.version} (run ${round}): ${statement}`,
          ).resolves.toBeUndefined();
        }
      }
    }
    // The same schema as migrating once: columns, keys, settings and TTL of every table.
    const schema = async (db: string) =>
      (
        await exec.query<Record<string, unknown>>(
          `SELECT name, replaceAll(engine_full, {db:String}, 'DB') AS engine, sorting_key, primary_key,
             (SELECT groupArray((name, type, default_expression, compression_codec)) FROM system.columns
              WHERE database = {db:String} AND table = t.name) AS columns
           FROM system.tables AS t
           WHERE database = {db:String} AND name NOT IN ('schema_migrations', 'store_settings')
           ORDER BY name`,
          { db },
        )
      ).map((r) => JSON.stringify(r));
    const once = await schema('driftd');
    expect(once.length).toBeGreaterThan(10);
    expect(await schema('twice')).toEqual(once);
  });

  it('skips a migration another process recorded meanwhile (instances of a cluster migrate at once)', async () => {
    // Migration 1 ends as if another process applied 2 meanwhile; 2's statement fails if run.
    const migrations: Migration[] = [
      {
        version: 1,
        name: 'one',
        up: ({ db }) => [
          `CREATE TABLE IF NOT EXISTS \`${db}\`.\`store_settings\` (key LowCardinality(String), value String, updated_at DateTime64(3, 'UTC')) ENGINE = ReplacingMergeTree(updated_at) ORDER BY key`,
          `INSERT INTO \`${db}\`.\`schema_migrations\` (version, name, applied_at) VALUES (2, 'two', now64(3, 'UTC'))`,
        ],
      },
      { version: 2, name: 'two', up: () => ["SELECT throwIf(1, 'migration 2 ran twice')"] },
    ];
    const { store } = openStore(tempDir(), { migrations });
    const report = await store.migrate();
    expect(report.applied.map((m) => m.version)).toEqual([1]);
    expect(report.version).toBe(2);
  });

  it('keeps data across a restart on the same path', async () => {
    const path = tempDir();
    const a = openStore(path);
    await a.store.migrate();
    expect(await a.store.saveBaseline(baseline)).toBe(true);
    await a.store.insertEvents([
      {
        model: 'credit-risk',
        version: '3',
        id: 'p-1',
        ts: Date.UTC(2026, 10, 22, 10),
        features: { income: 52000, region: 'EU' },
        prediction: 0.83,
        late: false,
        source: { kind: 'http' },
        ingestedAt: Date.UTC(2026, 10, 22, 10, 0, 1),
      },
    ]);
    await closeStore(a.store);

    const b = openStore(path);
    expect((await b.store.migrate()).applied).toEqual([]);
    expect(await b.store.getBaseline('b-1')).toEqual(baseline);
    const got = await b.store.getPrediction('p-1');
    expect(got?.event.features).toEqual({ income: 52000, region: 'EU' });
  });

  it('window results written before migration 15 are the whole traffic after it', async () => {
    const path = tempDir();
    const old = openStore(path, { migrations: MIGRATIONS.filter((m) => m.version < 15) });
    await old.store.migrate();
    const start = Date.UTC(2026, 10, 22, 10);
    const result = {
      model: 'credit-risk',
      version: '3',
      size: 300_000,
      sizeLabel: '5m',
      start,
      end: start + 300_000,
      baselineId: 'b-1',
      baselineHash: 'h-1',
      eventCount: 10,
      lateCount: 0,
      closedAt: start + 301_000,
      provisional: false,
      features: [],
      prediction: null,
      driftShare: 0,
      datasetDrift: false,
    };
    // Rows of the schema before 15, which has no segment column (the store skips unknown keys).
    await old.store.insertWindowResults([result]);
    await closeStore(old.store);

    const now = openStore(path);
    expect((await now.store.migrate()).applied.map((m) => m.version)).toEqual(
      MIGRATIONS.filter((m) => m.version >= 15).map((m) => m.version),
    );
    await now.store.insertWindowResults([{ ...result, segment: 'region=EU', eventCount: 4 }]);
    const whole = await now.store.latestWindowResult('credit-risk');
    expect([whole?.eventCount, whole?.segment]).toEqual([10, undefined]);
    const eu = await now.store.queryDrift({
      model: 'credit-risk',
      from: start,
      to: start + 1,
      segment: 'region=EU',
    });
    expect(eu.map((w) => [w.eventCount, w.segment])).toEqual([[4, 'region=EU']]);
  });

  it('performance written before migration 19 is the whole traffic after it; a segment row replaces nothing', async () => {
    const path = tempDir();
    const old = openStore(path, { migrations: MIGRATIONS.filter((m) => m.version < 19) });
    await old.store.migrate();
    const start = Date.UTC(2026, 10, 22, 10);
    const whole: PerformanceResult = {
      model: 'credit-risk',
      version: '3',
      size: 300_000,
      sizeLabel: '5m',
      start,
      end: start + 300_000,
      labeled: 10,
      coverage: 1,
      metrics: { accuracy: 0.9 },
      computedAt: start + 400_000,
    };
    // Rows of the schema before 19, which has no segment column (the store skips unknown keys).
    await old.store.insertPerformance([whole]);
    await closeStore(old.store);

    const now = openStore(path);
    expect((await now.store.migrate()).applied.map((m) => m.version)).toEqual(
      MIGRATIONS.filter((m) => m.version >= 19).map((m) => m.version),
    );
    // Same window, written later: without segment in the keys it would replace the whole row.
    await now.store.insertPerformance([
      {
        ...whole,
        segment: 'region=EU',
        labeled: 4,
        metrics: { accuracy: 0.5 },
        computedAt: start + 500_000,
      },
    ]);
    await now.exec.command('OPTIMIZE TABLE `driftd`.`performance` FINAL');
    const range = { model: 'credit-risk', from: start, to: start + 1 };
    const read = await now.store.queryPerformance(range);
    expect(read.map((p) => [p.labeled, p.metrics.accuracy, p.segment])).toEqual([
      [10, 0.9, undefined],
    ]);
    const eu = await now.store.queryPerformance({ ...range, segment: 'region=EU' });
    expect(eu.map((p) => [p.labeled, p.metrics.accuracy, p.segment])).toEqual([
      [4, 0.5, 'region=EU'],
    ]);
    const history = await now.store.windowHistory({ model: 'credit-risk', window: '5m', start });
    expect(history.performance.map((p) => p.labeled)).toEqual([10]);
    const [revisions] = await now.exec.query<{ n: string }>(
      'SELECT count() AS n FROM `driftd`.`performance_revisions`',
    );
    expect(Number(revisions?.n)).toBe(2);
  });

  it('events written before migration 5 (features column, no raw text) read the same after it', async () => {
    const path = tempDir();
    const old = openStore(path, { migrations: MIGRATIONS.filter((m) => m.version <= 4) });
    expect((await old.store.migrate()).version).toBe(4);
    // A row exactly as schema 4 was written: JSONEachRow, features as an object string.
    await old.exec.insertJsonEachRow(
      'driftd.events',
      Buffer.from(
        `${JSON.stringify({
          model: 'credit-risk',
          version: '3',
          id: 'old-1',
          ts: '2026-11-22 10:00:00.000',
          features: '{"income":52000,"region":"EU"}',
          prediction: '0.83',
          late: 0,
          source: 'http',
          kafka_topic: '',
          kafka_partition: -1,
          kafka_offset: -1,
          replay_file: '',
          replay_line: 0,
          ingested_at: '2026-11-22 10:00:01.000',
        })}\n`,
      ),
    );
    await closeStore(old.store);

    const now = openStore(path);
    expect((await now.store.migrate()).applied.map((m) => m.version)).toEqual(
      MIGRATIONS.filter((m) => m.version >= 5).map((m) => m.version),
    );
    const got = await now.store.getPrediction('old-1');
    expect(got?.event.features).toEqual({ income: 52000, region: 'EU' });
    expect(got?.event.prediction).toBe(0.83);
    const ks = await now.store.exactKs({
      model: 'credit-risk',
      version: '3',
      from: Date.UTC(2026, 10, 22, 10),
      to: Date.UTC(2026, 10, 22, 11),
      feature: 'income',
      reference: [1, 2],
    });
    expect([ks.m, ks.statistic]).toEqual([1, 1]);
  });

  it('keeps data across a real process restart (written by another process)', async () => {
    const path = tempDir();
    const script = join(path, '..', `${path.split('/').at(-1)}-writer.mts`);
    const storeIndex = pathToFileURL(resolve('src/store/index.js')).href;
    writeFileSync(
      script,
      `import { createStore } from ${JSON.stringify(storeIndex)};
const store = createStore({ kind: 'embedded', path: process.argv[2], rawEventsTtlDays: 30 });
await store.migrate();
await store.saveBaseline(JSON.parse(process.argv[3]));
await store.insertLabels([{ model: 'credit-risk', id: 'p-9', ts: ${Date.UTC(2026, 10, 22)}, label: 1 }]);
await store.close();
`,
    );
    try {
      await promisify(execFile)(process.execPath, [
        '--import',
        'tsx',
        script,
        path,
        JSON.stringify(baseline),
      ]);
    } finally {
      rmSync(script, { force: true });
    }
    const { store, exec } = openStore(path);
    expect((await store.migrate()).applied).toEqual([]);
    expect(await store.getBaseline('b-1')).toEqual(baseline);
    expect(await store.listBaselines()).toHaveLength(1);
    const [labels] = await exec.query<{ n: string }>('SELECT count() AS n FROM `driftd`.`labels`');
    expect(Number(labels!.n)).toBe(1);
  });

  it('applies only the new migration on an existing database', async () => {
    const path = tempDir();
    const a = openStore(path);
    await a.store.migrate();
    await closeStore(a.store);

    const v2: Migration = {
      version: MIGRATIONS.at(-1)!.version + 1,
      name: 'test: add a column',
      up: ({ db }) => [
        `ALTER TABLE \`${db}\`.\`events\` ADD COLUMN IF NOT EXISTS test_extra UInt8 DEFAULT 0`,
      ],
    };
    const b = openStore(path, { migrations: [...MIGRATIONS, v2] });
    const report = await b.store.migrate();
    expect(report.applied).toEqual([{ version: v2.version, name: v2.name }]);
    expect(report.version).toBe(v2.version);
    const cols = await b.exec.query<{ name: string }>(
      "SELECT name FROM system.columns WHERE database = 'driftd' AND table = 'events' AND name = 'test_extra'",
    );
    expect(cols).toHaveLength(1);
    expect((await b.store.migrate()).applied).toEqual([]);
    await closeStore(b.store);

    // An older build (without v2) refuses the newer schema instead of running against it.
    const c = openStore(path);
    const err = await c.store.migrate().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(StoreError);
    expect((err as StoreError).message).toMatch(/newer than this build/);
  });

  it('follows rawEventsTtlDays across restarts (set, change, remove)', async () => {
    const path = tempDir();
    const ttlOf = async (exec: SqlExecutor, table: string) => {
      const [row] = await exec.query<{ q: string }>(
        "SELECT create_table_query AS q FROM system.tables WHERE database = 'driftd' AND name = {t:String}",
        { t: table },
      );
      return /TTL toDate\(ingested_at\) \+ toIntervalDay\((\d+)\)/.exec(row!.q)?.[1] ?? null;
    };

    const a = openStore(path, { ttl: 30 });
    await a.store.migrate();
    expect(await ttlOf(a.exec, 'events')).toBe('30');
    expect(await ttlOf(a.exec, 'labels')).toBe('30');
    await closeStore(a.store);

    const b = openStore(path, { ttl: 7 });
    await b.store.migrate();
    expect(await ttlOf(b.exec, 'events')).toBe('7');
    expect(await ttlOf(b.exec, 'labels')).toBe('7');
    await closeStore(b.store);

    const c = openStore(path, { ttl: 0 });
    await c.store.migrate();
    expect(await ttlOf(c.exec, 'events')).toBeNull();
    await c.store.migrate();
    await closeStore(c.store);

    // Results are never subject to the raw-data TTL.
    const d = openStore(path, { ttl: 0 });
    await d.store.migrate();
    expect(await ttlOf(d.exec, 'window_results')).toBeNull();
  });

  it('the longest retention allowed keeps what it receives (a DateTime TTL overflowed past 2106 and dropped it at once)', async () => {
    const path = tempDir();
    const a = openStore(path, { ttl: 36_500, resultsTtl: 36_500 });
    await a.store.migrate();
    await a.store.insertLabels([
      { model: 'credit-risk', id: 'p-1', ts: Date.UTC(2012, 5, 1), label: 1 },
    ]);
    const rows = async (table: string) => {
      await a.exec.command(`OPTIMIZE TABLE driftd.${table} FINAL`);
      const [r] = await a.exec.query<{ n: string }>(`SELECT count() AS n FROM driftd.${table}`);
      return Number(r!.n);
    };
    expect(await rows('labels')).toBe(1);
    expect(await a.store.hasLabels('credit-risk')).toBe(true);
  });

  it('a store written before migration 12 keeps its results: copied once into the revisions, rewrites kept after it', async () => {
    const path = tempDir();
    const old = openStore(path, { migrations: MIGRATIONS.filter((m) => m.version <= 11) });
    expect((await old.store.migrate()).version).toBe(11);
    // Rows exactly as schema 11 wrote them: today's encoding without the lineage columns.
    const window = oldWindow();
    const lines: string[] = [];
    encodeWindowResult(window, { push: (l) => lines.push(l) });
    const perf = oldPerformance();
    const rows = (text: string[]) =>
      Buffer.from(
        text
          .map((l) => {
            const row = JSON.parse(l) as Record<string, unknown>;
            for (const k of ['driftd_version', 'config_hash', 'revision_reason', 'written_at']) {
              delete row[k];
            }
            return `${JSON.stringify(row)}\n`;
          })
          .join(''),
      );
    await old.exec.insertJsonEachRow('driftd.window_results', rows(lines));
    await old.exec.insertJsonEachRow('driftd.performance', rows([encodePerformance(perf)]));
    await closeStore(old.store);

    const now = openStore(path);
    expect((await now.store.migrate()).applied.map((m) => m.version)).toEqual(
      MIGRATIONS.filter((m) => m.version >= 12).map((m) => m.version),
    );
    const range = { model: 'credit-risk', from: window.start, to: window.end };
    expect((await now.store.queryDrift(range)).map((w) => w.eventCount)).toEqual([500]);
    expect(await now.store.queryPerformance(range)).toEqual([
      { ...perf, revisionReason: 'migrated' },
    ]);
    const key = { model: 'credit-risk', window: '5m', start: window.start };
    const before = await now.store.windowHistory(key);
    expect(before.results.map((r) => [r.revisionReason, r.writtenAt, r.driftdVersion])).toEqual([
      ['migrated', window.closedAt, undefined],
    ]);
    expect(before.performance.map((p) => [p.revisionReason, p.writtenAt])).toEqual([
      ['migrated', perf.computedAt],
    ]);

    // A migration interrupted after its copy runs again whole: nothing is copied twice.
    for (const m of MIGRATIONS.filter((x) => x.version === 12 || x.version === 13)) {
      for (const statement of m.up({ db: 'driftd', rawEventsTtlDays: 30 })) {
        await now.exec.command(statement);
      }
    }
    expect(await now.store.windowHistory(key)).toEqual(before);

    // A rewrite after the upgrade: the readers see it, the history keeps both.
    const rewrite = {
      ...window,
      eventCount: 510,
      closedAt: window.closedAt + 60_000,
      driftdVersion: '9.9.9',
      configHash: 'sha256:c0ffee',
      revisionReason: 'replay' as const,
    };
    await now.store.insertWindowResults([rewrite]);
    expect((await now.store.queryDrift(range)).map((w) => w.eventCount)).toEqual([510]);
    const after = await now.store.windowHistory(key);
    expect(after.results.map((r) => [r.revisionReason, r.eventCount, r.configHash])).toEqual([
      ['migrated', 500, undefined],
      ['replay', 510, 'sha256:c0ffee'],
    ]);
  });

  it('a later migration adding a result column (as segments will) reaches the latest table through the view', async () => {
    const path = tempDir();
    const next = MIGRATIONS.at(-1)!.version + 1;
    const segment: Migration = {
      version: next,
      name: 'test: a result column',
      // As migrations.ts says: the latest table first, then the revisions; the view unchanged.
      up: ({ db }) => [
        `ALTER TABLE \`${db}\`.\`window_results\` ADD COLUMN IF NOT EXISTS test_segment LowCardinality(String) DEFAULT ''`,
        `ALTER TABLE \`${db}\`.\`window_result_revisions\` ADD COLUMN IF NOT EXISTS test_segment LowCardinality(String) DEFAULT ''`,
      ],
    };
    const a = openStore(path, { migrations: [...MIGRATIONS, segment] });
    await a.store.migrate();
    const lines: string[] = [];
    encodeWindowResult(oldWindow(), { push: (l) => lines.push(l) });
    const withSegment = lines
      .map((l) => `${JSON.stringify({ ...JSON.parse(l), test_segment: 'region=EU' })}\n`)
      .join('');
    await a.exec.insertJsonEachRow('driftd.window_result_revisions', Buffer.from(withSegment));
    const latest = await a.exec.query<{ s: string; n: string }>(
      'SELECT test_segment AS s, count() AS n FROM driftd.window_results FINAL GROUP BY s',
    );
    expect(latest.map((r) => [r.s, Number(r.n)])).toEqual([['region=EU', lines.length]]);
  });

  it('follows store.resultsTtlDays on every result table, never below the raw TTL, never on baselines', async () => {
    const path = tempDir();
    const ttlOf = async (exec: SqlExecutor, table: string) => {
      const [row] = await exec.query<{ q: string }>(
        "SELECT create_table_query AS q FROM system.tables WHERE database = 'driftd' AND name = {t:String}",
        { t: table },
      );
      return /TTL toDate\(written_at\) \+ toIntervalDay\((\d+)\)/.exec(row!.q)?.[1] ?? null;
    };
    const ttls = (exec: SqlExecutor) =>
      Promise.all([...RESULT_TABLES, 'baselines'].map((t) => ttlOf(exec, t)));

    const a = openStore(path, { ttl: 30 });
    await a.store.migrate();
    expect(await ttls(a.exec)).toEqual([...RESULT_TABLES.map(() => null), null]);
    await closeStore(a.store);

    const b = openStore(path, { ttl: 30, resultsTtl: 400 });
    await b.store.migrate();
    expect(await ttls(b.exec)).toEqual([...RESULT_TABLES.map(() => '400'), null]);
    await closeStore(b.store);

    // Shorter than the raw data it came from: refused, naming both settings.
    const c = openStore(path, { ttl: 30, resultsTtl: 10 });
    const err = await c.store.migrate().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(InvalidInputError);
    expect((err as Error).message).toMatch(/resultsTtlDays \(10\).*rawEventsTtlDays \(30\)/);
    await closeStore(c.store);

    const d = openStore(path, { ttl: 30 });
    await d.store.migrate();
    expect(await ttls(d.exec)).toEqual([...RESULT_TABLES.map(() => null), null]);
  });
});

function oldWindow(): WindowResult {
  const start = Date.UTC(2026, 10, 22, 10);
  return {
    model: 'credit-risk',
    version: '3',
    size: 300_000,
    sizeLabel: '5m',
    start,
    end: start + 300_000,
    baselineId: 'b-1',
    baselineHash: 'h-1',
    eventCount: 500,
    lateCount: 0,
    closedAt: start + 301_000,
    provisional: false,
    features: [],
    prediction: null,
    driftShare: 0,
    datasetDrift: false,
  };
}

function oldPerformance(): PerformanceResult {
  const start = Date.UTC(2026, 10, 22, 10);
  return {
    model: 'credit-risk',
    version: '3',
    size: 300_000,
    sizeLabel: '5m',
    start,
    end: start + 300_000,
    labeled: 40,
    coverage: 0.08,
    metrics: { accuracy: 0.75 },
    computedAt: start + 3_600_000,
  };
}
