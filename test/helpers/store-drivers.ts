/**
 * The two store drivers a store test runs on (`describe.each(STORE_DRIVERS)`): the embedded
 * engine in-process, and the ClickHouse server driver against the stand-in HTTP interface
 * (test/helpers/clickhouse-http.ts) on the same kind of chDB directory. `open` gives the
 * executor to build a store on and what stops it.
 */
import { createChdbExecutor } from '../../src/store/chdb.js';
import { createClickHouseExecutor } from '../../src/store/index.js';
import type { SqlExecutor } from '../../src/store/types.js';
import { startClickHouseStandIn } from './clickhouse-http.js';

export interface StoreDriver {
  name: string;
  open(path: string): Promise<{ exec: SqlExecutor; stop: () => Promise<void> }>;
}

export const STORE_DRIVERS: StoreDriver[] = [
  {
    name: 'embedded driver (chDB in-process)',
    open: async (path: string) => ({
      exec: createChdbExecutor({ path }) as SqlExecutor,
      stop: async () => {},
    }),
  },
  {
    name: 'ClickHouse server driver via the stand-in HTTP interface',
    open: async (path: string) => {
      const standIn = await startClickHouseStandIn({ path });
      return {
        exec: createClickHouseExecutor({
          url: standIn.url,
          username: 'default',
          password: '',
          requestTimeoutMs: 10_000,
        }) as SqlExecutor,
        stop: () => standIn.close(),
      };
    },
  },
];
