/**
 * driftd's store: one interface (`Store`), two drivers running the same SQL (the embedded chDB
 * engine, and a ClickHouse server through @clickhouse/client), versioned migrations.
 * `createStore` picks the driver from configuration; call `migrate()` before use (it creates
 * the database if missing).
 */
import { checkTlsFiles, readPemFile } from '../config/tls.js';
import type { StoreConfig } from '../config/types.js';
import type { Logger } from '../logger.js';
import { createChdbExecutor } from './chdb.js';
import { type ClickHouseTlsOptions, createClickHouseExecutor } from './clickhouse.js';
import type { Migration } from './migrations.js';
import { createSqlStore } from './store.js';
import type { SqlExecutor, Store } from './types.js';

export interface CreateStoreOptions {
  /** Database inside the embedded engine (default "driftd"); the server driver uses `config.database`. */
  database?: string;
  /** Clock for label ingestion times; default Date.now. */
  now?: () => number;
  /** Migration list; default MIGRATIONS. */
  migrations?: readonly Migration[];
  /** Rows per INSERT (default 100 000). */
  maxInsertRows?: number;
  /** Parent logger; the store logs migrations and TTL changes on a `stage: store` child. */
  logger?: Logger;
  /** Run on this executor instead of the one the config selects. */
  executor?: SqlExecutor;
}

export const DEFAULT_EMBEDDED_DATABASE = 'driftd';

type ClickHouseStoreConfig = Extract<StoreConfig, { kind: 'clickhouse' }>;

export function createStore(config: StoreConfig, opts: CreateStoreOptions = {}): Store {
  const common = {
    rawEventsTtlDays: config.rawEventsTtlDays,
    resultsTtlDays: config.resultsTtlDays ?? 0,
    ...(opts.now ? { now: opts.now } : {}),
    ...(opts.migrations ? { migrations: opts.migrations } : {}),
    ...(opts.maxInsertRows ? { maxInsertRows: opts.maxInsertRows } : {}),
    ...(opts.logger ? { logger: opts.logger.child({ stage: 'store' }) } : {}),
  };
  switch (config.kind) {
    case 'embedded':
      return createSqlStore(opts.executor ?? createChdbExecutor({ path: config.path }), {
        ...common,
        database: opts.database ?? DEFAULT_EMBEDDED_DATABASE,
      });
    case 'clickhouse': {
      const executor =
        opts.executor ??
        createClickHouseExecutor({
          url: config.url,
          username: config.username,
          password: config.password,
          requestTimeoutMs: config.requestTimeoutMs,
          ...(config.tls ? { tls: readClickHouseTls(config.tls) } : {}),
          ...(common.logger ? { logger: common.logger } : {}),
        });
      return createSqlStore(executor, { ...common, database: opts.database ?? config.database });
    }
  }
}

/** The PEM files of `store.clickhouse.tls`, read now (a ConfigError naming the key otherwise). */
function readClickHouseTls(tls: NonNullable<ClickHouseStoreConfig['tls']>): ClickHouseTlsOptions {
  const out: ClickHouseTlsOptions = {};
  for (const key of ['ca', 'cert', 'key'] as const) {
    const path = tls[key];
    if (path !== null) out[key] = readPemFile(path, `store.clickhouse.tls.${key}`);
  }
  checkTlsFiles(out, 'store.clickhouse.tls');
  return out;
}

export { createChdbExecutor } from './chdb.js';
export {
  type ClickHouseExecutorOptions,
  type ClickHouseRetryOptions,
  type ClickHouseTlsOptions,
  createClickHouseExecutor,
} from './clickhouse.js';
export type { Migration, MigrationContext } from './migrations.js';
export { MIGRATIONS, RESULT_TABLES } from './migrations.js';
export { createSqlStore } from './store.js';
export type * from './types.js';
export {
  RETRIABLE_CLICKHOUSE_CODES,
  storeErrorFromClickHouse,
  UNAVAILABLE_CLICKHOUSE_CODES,
} from './types.js';
