/**
 * deploy/clickhouse/cluster.sql stays in sync with src/store/migrations.ts. Every table of the
 * migrations has a Replicated*MergeTree `<table>_local` ON CLUSTER and a Distributed `<table>`
 * over it; the local tables, created on the embedded engine with the replication stripped
 * (no Keeper here), have exactly the columns, codecs, keys, TTL, settings and indices that
 * the migrations give; every statement parses in ClickHouse 26.x; the file records every
 * migration version with its name.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createChdbExecutor } from '../../../src/store/chdb.js';
import { createStore, MIGRATIONS } from '../../../src/store/index.js';
import { TABLES } from '../../../src/store/sql.js';
import type { SqlExecutor, Store } from '../../../src/store/types.js';

const FILE = resolve(import.meta.dirname, '../../../deploy/clickhouse/cluster.sql');
const text = readFileSync(FILE, 'utf8');

/** Statements of the file, comments dropped. */
const statements = text
  .split('\n')
  .filter((l) => !l.trimStart().startsWith('--'))
  .join('\n')
  .split(/;\s*(?:\n|$)/)
  .map((s) => s.trim())
  .filter((s) => s !== '');

const LOCAL_RE = /^CREATE TABLE IF NOT EXISTS driftd\.(\w+)_local ON CLUSTER '\{cluster\}'\s/;
const DIST_RE =
  /^CREATE TABLE IF NOT EXISTS driftd\.(\w+) ON CLUSTER '\{cluster\}' AS driftd\.(\w+)\s+ENGINE = Distributed\('\{cluster\}', 'driftd', '(\w+)', (.+)\)$/s;
const REPLICATED_RE =
  /ENGINE = Replicated(\w*MergeTree)\('\/clickhouse\/tables\/\{shard\}\/\{database\}\/\{table\}', '\{replica\}'(?:, (\w+))?\)/;

const locals = new Map<string, string>();
const distributed = new Map<string, { local: string; key: string; statement: string }>();
for (const s of statements) {
  const l = LOCAL_RE.exec(s);
  if (l) locals.set(l[1]!, s);
  const d = DIST_RE.exec(s);
  if (d) {
    expect(d[2]).toBe(d[3]);
    distributed.set(d[1]!, { local: d[3]!, key: d[4]!, statement: s });
  }
}

/** The local table as the embedded engine can create it: no cluster, no replication. */
function singleNode(statement: string): string {
  return statement
    .replace(" ON CLUSTER '{cluster}'", '')
    .replace(REPLICATED_RE, (_m, engine: string, version?: string) =>
      version ? `ENGINE = ${engine}(${version})` : `ENGINE = ${engine}`,
    );
}

const ttlDays = Number(
  /\('raw_events_ttl_days', '(\d+)', now64\(3, 'UTC'\)\)/.exec(text)?.[1] ?? Number.NaN,
);

let dir: string;
let exec: SqlExecutor;
let store: Store;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'driftd-cluster-sql-'));
  exec = createChdbExecutor({ path: dir });
  store = createStore(
    { kind: 'embedded', path: dir, rawEventsTtlDays: ttlDays },
    { executor: exec, database: 'single' },
  );
  await store.migrate();
  await exec.command('CREATE DATABASE IF NOT EXISTS driftd');
  for (const s of locals.values()) await exec.command(singleNode(s));
});

afterAll(async () => {
  await store?.close();
  rmSync(dir, { recursive: true, force: true });
});

const json = 'SETTINGS output_format_json_quote_64bit_integers = 1';

async function describeTable(db: string, table: string) {
  const columns = await exec.query(
    `SELECT name, type, position, default_kind, default_expression, compression_codec, comment
     FROM system.columns WHERE database = {db:String} AND table = {table:String} ORDER BY position ${json}`,
    { db, table },
  );
  const [meta] = await exec.query<Record<string, string>>(
    `SELECT engine, partition_key, sorting_key, primary_key, sampling_key,
       trim(BOTH ', ' FROM replaceRegexpAll(engine_full, 'non_replicated_deduplication_window = \\\\d+(, )?', '')) AS engine_full
     FROM system.tables WHERE database = {db:String} AND name = {table:String} ${json}`,
    { db, table },
  );
  const indices = await exec.query(
    `SELECT name, type_full, expr, granularity FROM system.data_skipping_indices
     WHERE database = {db:String} AND table = {table:String} ORDER BY name ${json}`,
    { db, table },
  );
  return { columns, meta, indices };
}

describe('deploy/clickhouse/cluster.sql', () => {
  it('records the raw-data TTL it uses', () => {
    expect(Number.isInteger(ttlDays) && ttlDays > 0).toBe(true);
    for (const t of ['events', 'labels']) {
      expect(locals.get(t)).toContain(`TTL toDate(ingested_at) + toIntervalDay(${ttlDays})`);
    }
  });

  it('has a replicated local table and a Distributed table for every table of the migrations, and nothing else', () => {
    expect([...locals.keys()].sort()).toEqual([...TABLES].sort());
    expect([...distributed.keys()].sort()).toEqual([...TABLES].sort());
    for (const t of TABLES) {
      expect(locals.get(t)).toMatch(REPLICATED_RE);
      expect(distributed.get(t)!.local).toBe(`${t}_local`);
    }
  });

  it.each([...TABLES])(
    '%s_local equals the migrated table (columns, codecs, keys, TTL, settings, indices)',
    async (t) => {
      const migrated = await describeTable('single', t);
      const cluster = await describeTable('driftd', `${t}_local`);
      expect(migrated.columns.length).toBeGreaterThan(0);
      expect(cluster).toEqual(migrated);
    },
  );

  it.each([...TABLES])(
    'the Distributed %s shards by an expression over its local table',
    async (t) => {
      const { key } = distributed.get(t)!;
      await exec.query(`SELECT ${key} AS shard_key FROM driftd.${t}_local LIMIT 0`);
    },
  );

  it('every statement parses in ClickHouse 26.x', async () => {
    for (const s of statements) {
      const ast = await exec.query<{ explain: string }>(`EXPLAIN AST ${s}`);
      expect(ast.length).toBeGreaterThan(0);
    }
  });

  it('records every migration version with its name, so migrate() finds the schema current', () => {
    const insert = statements.find((s) => s.startsWith('INSERT INTO driftd.schema_migrations'));
    expect(insert).toBeDefined();
    const recorded = [
      ...insert!.matchAll(/\((\d+), '((?:[^'\\]|\\.)*)', now64\(3, 'UTC'\)\)/g),
    ].map((m) => [Number(m[1]), m[2]!.replace(/\\(.)/g, '$1')]);
    expect(recorded).toEqual(MIGRATIONS.map((m) => [m.version, m.name]));
  });
});
