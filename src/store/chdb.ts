/**
 * The embedded executor: ClickHouse in-process through chDB. The only file importing `chdb`.
 *
 * What chdb 3.4 / libchdb 26.7 does with concurrency (measured, see test/integration/store):
 * - One native connection runs its queries one at a time, in submission order: concurrent
 *   `queryAsync` calls on one Session are safe (no errors, correct results) but do not overlap.
 * - Connections on the SAME data path share one engine and do run in parallel; a session at a
 *   DIFFERENT path cannot open while one is live (one data directory per process).
 * - Parameterised calls (`queryBindAsync`) are chained process-wide by chdb itself, because
 *   libchdb's parameter state is not isolated between concurrent connections.
 * So no JS queue is needed for safety. Instead the executor opens connections of its own for
 * inserts (never parameterised), so a slow diagnostic read cannot stall ingestion and a read
 * never waits behind a large insert: one for JSON inserts (window results, labels,
 * checkpoints: small, and waited for by the windows closing), and two for RowBinary, so two
 * raw-event inserts run side by side and never hold up a result (sharing a connection, a
 * window's results waited up to ~1 s behind raw inserts under Kafka load).
 *
 * RowBinary inserts: chdb takes only text formats as INSERT data, and parsing text costs the
 * engine several times more per byte than reading RowBinary (measured: raw events as
 * JSONEachRow ~23 µs each, as RowBinary ~10 µs). So a RowBinary payload is written to a spool
 * file under the data directory and inserted with `INSERT … SELECT * FROM file(…, 'RowBinary')`,
 * then deleted. The spool holds only in-flight payloads; what a crashed process left there is
 * removed at the next open.
 */
import { closeSync, mkdirSync, openSync, readdirSync, rmSync, writeSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import type * as Chdb from 'chdb';
import type { Session } from 'chdb';
import { ConfigError, DriftdError, LifecycleError, StoreError } from '../errors.js';
import { lockEmbeddedStore } from './embedded-lock.js';
import { rowBinaryFileInsertSql } from './sql.js';
import {
  createInflight,
  type InsertOptions,
  type QueryParams,
  type RowBinaryColumn,
  type SqlExecutor,
  storeErrorFromClickHouse,
} from './types.js';

export interface ChdbExecutorOptions {
  /** Data directory of the embedded engine (created if missing). */
  path: string;
  /** Extra engine arguments at connect, `clickhouse local` form (e.g. '--max_threads=2'). */
  connectionArgs?: readonly string[];
}

const MAX_MESSAGE = 1000;
/** Spool of RowBinary payloads in flight, inside the data directory. */
const SPOOL_DIR = 'driftd-insert-spool';
/** Connections that take RowBinary (raw-event) inserts: two run side by side. */
const ROW_WRITERS = 2;

interface ChdbErrorLike {
  code?: unknown;
  clickhouseCode?: unknown;
  message?: unknown;
}

/** Maps chdb's typed errors by their codes (`CHDB_*` and the ClickHouse code), never by text. */
function toStoreError(err: unknown, what: string): DriftdError {
  if (err instanceof DriftdError) return err;
  const e = (typeof err === 'object' && err !== null ? err : {}) as ChdbErrorLike;
  const raw = typeof e.message === 'string' ? e.message : String(err);
  const message = `${what}: ${raw.length > MAX_MESSAGE ? `${raw.slice(0, MAX_MESSAGE)}…` : raw}`;
  const clickhouseCode = typeof e.clickhouseCode === 'number' ? e.clickhouseCode : undefined;
  switch (e.code) {
    case 'CHDB_TIMEOUT':
      return new StoreError(message, withCode({ retriable: true, cause: err }, clickhouseCode));
    case 'CHDB_CLOSED':
    case 'CHDB_CONNECTION':
      return new StoreError(message, withCode({ unavailable: true, cause: err }, clickhouseCode));
    default:
      return storeErrorFromClickHouse(message, clickhouseCode, err);
  }
}

function withCode<T extends object>(
  opts: T,
  clickhouseCode: number | undefined,
): T & { clickhouseCode?: number } {
  return clickhouseCode === undefined ? opts : { ...opts, clickhouseCode };
}

function parseJsonEachRow<T>(text: string): T[] {
  const out: T[] = [];
  let start = 0;
  while (start < text.length) {
    let end = text.indexOf('\n', start);
    if (end === -1) end = text.length;
    if (end > start) out.push(JSON.parse(text.slice(start, end)) as T);
    start = end + 1;
  }
  return out;
}

/** Spooled payload names are `<pid>-<n>.rowbinary`; `n` counts over every executor of the process. */
let spooled = 0;

/**
 * Removes payloads left by a process that is gone (a crash between spooling and deleting);
 * payloads of live processes (another executor of this one) are theirs to delete.
 */
function removeStaleSpool(spool: string): void {
  for (const name of readdirSync(spool)) {
    const pid = Number(name.slice(0, name.indexOf('-')));
    const owned = Number.isInteger(pid) && pid > 0 && (pid === process.pid || processAlive(pid));
    if (!owned) discard(join(spool, name));
  }
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Writes the chunks one after the other into a new file (synchronously: see insertRowBinary). */
function writeChunks(file: string, chunks: readonly Uint8Array[]): void {
  const fd = openSync(file, 'w');
  try {
    for (const chunk of chunks) {
      for (let at = 0; at < chunk.length; ) at += writeSync(fd, chunk, at, chunk.length - at);
    }
  } finally {
    closeSync(fd);
  }
}

/** Removes a spooled payload; one that cannot be removed now goes at a later open. */
function discard(file: string): void {
  try {
    rmSync(file, { force: true });
  } catch {
    // left for the next open
  }
}

function hasParams(params: QueryParams | undefined): params is QueryParams {
  return params !== undefined && Object.keys(params).length > 0;
}

let engine: typeof Chdb | undefined;

/**
 * chdb, loaded the first time an embedded store opens rather than when driftd starts: the
 * engine is a 540 MB native package per platform, and nothing else (the CLI's other commands,
 * the server store, the statistics library) needs it. A missing engine is a clear error
 * naming what to install, not a failed import somewhere in a stack trace.
 */
function loadEngine(): typeof Chdb {
  if (engine !== undefined) return engine;
  try {
    engine = createRequire(import.meta.url)('chdb') as typeof Chdb;
  } catch (err) {
    const reason = err instanceof Error ? err.message.split('\n')[0] : String(err);
    throw new ConfigError(
      `the embedded store needs ClickHouse in-process: the npm package "chdb" with its engine ` +
        `for ${process.platform}-${process.arch} (npm install chdb), or set store.kind: ` +
        `clickhouse to use a ClickHouse server (${reason})`,
      [],
      { cause: err },
    );
  }
  return engine;
}

export function createChdbExecutor(options: ChdbExecutorOptions): SqlExecutor {
  const { drainPending, Session } = loadEngine();
  const sessionOpts = options.connectionArgs ? { connectionArgs: options.connectionArgs } : {};
  let reader: Session;
  let writer: Session;
  /** Connections for RowBinary inserts, so two raw-event inserts run side by side. */
  const rowWriters: Session[] = [];
  const rowBusy: number[] = [];
  // One process per data directory: a second one is refused naming the first (embedded-lock.ts).
  const unlock = lockEmbeddedStore(options.path);
  try {
    mkdirSync(options.path, { recursive: true });
    reader = new Session(options.path, sessionOpts);
  } catch (err) {
    unlock();
    throw toStoreError(
      err,
      `cannot open the embedded store at ${options.path} (chDB binds one data directory per process)`,
    );
  }
  try {
    writer = new Session(options.path, sessionOpts);
  } catch (err) {
    reader.close();
    unlock();
    throw toStoreError(err, `cannot open the embedded store at ${options.path}`);
  }
  try {
    for (let i = 0; i < ROW_WRITERS; i++) {
      rowWriters.push(new Session(options.path, sessionOpts));
      rowBusy.push(0);
    }
  } catch (err) {
    for (const w of rowWriters) w.close();
    reader.close();
    writer.close();
    unlock();
    throw toStoreError(err, `cannot open the embedded store at ${options.path}`);
  }

  const spool = join(options.path, SPOOL_DIR);
  try {
    mkdirSync(spool, { recursive: true });
    removeStaleSpool(spool);
  } catch (err) {
    reader.close();
    writer.close();
    for (const w of rowWriters) w.close();
    unlock();
    throw toStoreError(err, `cannot prepare the insert spool ${spool}`);
  }

  const inflight = createInflight();
  let closing: Promise<void> | undefined;

  function run<T>(what: string, op: () => Promise<T>): Promise<T> {
    if (closing) return Promise.reject(new LifecycleError('embedded store is closed'));
    const p = op().catch((err: unknown) => {
      throw toStoreError(err, what);
    });
    return inflight.track(p);
  }

  return {
    kind: 'embedded',

    command(sql: string, params?: QueryParams): Promise<void> {
      return run('embedded store command failed', async () => {
        if (hasParams(params)) await reader.queryBindAsync(sql, params);
        else await reader.queryAsync(sql);
      });
    },

    query<T>(sql: string, params?: QueryParams): Promise<T[]> {
      return run('embedded store query failed', async () => {
        const result = hasParams(params)
          ? await reader.queryBindAsync(sql, params, { format: 'JSONEachRow' })
          : await reader.queryAsync(sql, { format: 'JSONEachRow' });
        return parseJsonEachRow<T>(result.text());
      });
    },

    insertJsonEachRow(table: string, payload: Uint8Array, opts: InsertOptions = {}): Promise<void> {
      if (payload.length === 0) return Promise.resolve();
      return run(`embedded store insert into ${table} failed`, async () => {
        // Raw passthrough: the bytes go to the engine's parser zero-copy, off the event loop.
        await writer.insert({
          table,
          values: payload,
          format: 'JSONEachRow',
          ...(opts.settings ? { settings: { ...opts.settings } } : {}),
        });
      });
    },

    insertRowBinary(
      table: string,
      columns: readonly RowBinaryColumn[],
      payload: Uint8Array | readonly Uint8Array[],
      opts: InsertOptions = {},
    ): Promise<void> {
      const chunks = payload instanceof Uint8Array ? [payload] : payload;
      if (chunks.every((c) => c.length === 0)) return Promise.resolve();
      return run(`embedded store insert into ${table} failed`, async () => {
        const file = join(spool, `${process.pid}-${++spooled}.rowbinary`);
        try {
          // One synchronous write into the page cache (~3 ms for 5 MB). fs.promises.writeFile
          // splits a buffer into 512 KB writes, each waiting for a turn of the event loop:
          // under ingest load that took ~150 ms per payload, and inserts queue behind it.
          writeChunks(file, chunks);
        } catch (err) {
          // Disk full or a hiccup of the data volume: the same insert can succeed later.
          discard(file);
          throw new StoreError(`cannot spool the insert into ${table} to ${file}`, {
            retriable: true,
            cause: err,
          });
        }
        // The least busy insert connection (one at a time runs per connection).
        let w = 0;
        for (let i = 1; i < rowWriters.length; i++) if (rowBusy[i]! < rowBusy[w]!) w = i;
        rowBusy[w]!++;
        try {
          await rowWriters[w]!.queryAsync(
            rowBinaryFileInsertSql(table, columns, file, opts.settings),
          );
        } finally {
          rowBusy[w]!--;
          discard(file);
        }
      });
    },

    close(): Promise<void> {
      closing ??= (async () => {
        await inflight.settled();
        reader.close();
        writer.close();
        for (const w of rowWriters) w.close();
        // close() defers the native teardown while an (aborted) operation still runs; wait
        // for it so a new store can open right after, even at another path.
        await drainPending();
        unlock();
      })();
      return closing;
    },
  };
}
