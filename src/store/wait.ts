/**
 * Startup against a store that may not answer yet: `migrate()` is retried with capped
 * exponential backoff while its failure is retriable (connection refused, timeouts, the
 * retriable ClickHouse codes), with one log line per attempt naming what the daemon waits for.
 * A non-retriable failure (authentication, a bad database name) is thrown at once: waiting
 * cannot fix it. The wait ends early, with a LifecycleError, when `signal` aborts (shutdown).
 */
import type { StoreConfig } from '../config/types.js';
import { DriftdError, LifecycleError } from '../errors.js';
import type { Logger } from '../logger.js';
import { describeServer } from './clickhouse.js';
import type { MigrationReport, Store } from './types.js';

export interface WaitForStoreOptions {
  logger: Logger;
  /** Aborting stops the wait (the daemon is closing). */
  signal: AbortSignal;
  /** First backoff, ms (default 1000); doubles per attempt. */
  initialDelayMs?: number;
  /** Cap of one backoff, ms (default 30 000). */
  maxDelayMs?: number;
}

/** The store as the log names it: a ClickHouse server's URL without credentials, or the embedded path. */
export function describeStore(config: StoreConfig): string {
  if (config.kind === 'embedded') return `the embedded store at ${config.path}`;
  try {
    return `ClickHouse at ${describeServer(new URL(config.url))}`;
  } catch {
    return 'the ClickHouse server';
  }
}

/** Whether waiting can help: the store is unreachable or answered with a retriable error. */
export function isTransientStoreError(err: unknown): boolean {
  return (
    err instanceof DriftdError && (err.retriable || err.code === 'DRIFTD_ERR_STORE_UNAVAILABLE')
  );
}

function delay(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    // Not unref'd: while the daemon waits for its store, this timer may be all that keeps
    // the process alive (an empty event loop would end it with Node's exit code 13).
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    }
    signal.addEventListener('abort', done, { once: true });
  });
}

/** Runs the store's migrations once it answers; resolves with their report. */
export async function migrateWhenReachable(
  store: Store,
  config: StoreConfig,
  opts: WaitForStoreOptions,
): Promise<MigrationReport> {
  const initial = opts.initialDelayMs ?? 1000;
  const cap = opts.maxDelayMs ?? 30_000;
  const what = describeStore(config);
  for (let attempt = 1; ; attempt++) {
    if (opts.signal.aborted) throw new LifecycleError(`stopped while waiting for ${what}`);
    try {
      const report = await store.migrate();
      if (attempt > 1) opts.logger.info({ attempt }, `${what} answers; starting`);
      return report;
    } catch (err) {
      if (!isTransientStoreError(err) || opts.signal.aborted) throw err;
      const retryInMs = Math.min(cap, initial * 2 ** (attempt - 1));
      // The reason without a stack: this line repeats for as long as the store is away.
      const e = err as DriftdError;
      opts.logger.warn(
        { reason: e.message, code: e.code, attempt, retryInMs },
        `waiting for ${what}: not ready until it answers; retrying in ${Math.round(retryInMs / 100) / 10} s`,
      );
      await delay(retryInMs, opts.signal);
    }
  }
}
