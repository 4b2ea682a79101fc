import type { Metrics } from '../export/metrics.js';
import { insertOrQuarantine, type Quarantine, type QuarantineKind } from './quarantine.js';

/**
 * How a call performs its store writes. The default calls the store once and lets a failure
 * propagate; the Kafka source passes a retry-until-done wrapper (heartbeating meanwhile).
 */
export interface WriteOptions {
  write?: <T>(operation: string, fn: () => Promise<T>) => Promise<T>;
}

export type Write = NonNullable<WriteOptions['write']>;

/** The default `write`: one call, its failure propagates. */
export const direct: Write = <T>(_operation: string, fn: () => Promise<T>): Promise<T> => fn();

/**
 * The engine's store writes: timed, refused results quarantined. Failures are counted by the
 * store itself (export/store-metrics.ts), whoever calls it.
 */
export interface StoreWrites {
  /** One store call, timed (`operation` names it to `write`). */
  timed<T>(table: string, operation: string, fn: () => Promise<T>): Promise<T>;
  /** `timed` through `write`. */
  timedWrite<T>(table: string, operation: string, write: Write, fn: () => Promise<T>): Promise<T>;
  /**
   * Inserts results (window or performance), derived rows that nothing else can rebuild once
   * their window is gone: a retriable failure goes to `write` (the Kafka path retries it; the
   * other paths keep the rows queued for the next write), as before. Rows the store refuses
   * for good (not retriable) are quarantined one by one (quarantine.ts) instead of staying
   * queued, so one refused result never holds back the others, of its model or any other.
   * @returns the rows written
   */
  insertResults<T>(
    table: string,
    operation: string,
    kind: QuarantineKind,
    rows: readonly T[],
    insert: (batch: readonly T[]) => Promise<void>,
    write: Write,
  ): Promise<readonly T[]>;
}

export function createStoreWrites(metrics: Metrics, quarantine: Quarantine): StoreWrites {
  async function timed<T>(table: string, _operation: string, fn: () => Promise<T>): Promise<T> {
    const t = metrics.storeWriteSeconds.startTimer({ table });
    try {
      return await fn();
    } finally {
      t();
    }
  }
  return {
    timed,
    timedWrite(table, operation, write, fn) {
      return write(operation, () => timed(table, operation, fn));
    },
    insertResults(table, operation, kind, rows, insert, write) {
      return write(operation, () =>
        insertOrQuarantine(
          rows,
          (batch) => timed(table, operation, () => insert(batch)),
          quarantine,
          kind,
        ),
      );
    },
  };
}

/** Writes that run one at a time, in call order, whatever the previous one's outcome. */
export interface Serial {
  run<T>(fn: () => Promise<T>): Promise<T>;
  /** Resolves once every write queued so far has finished (never rejects). */
  settled(): Promise<unknown>;
  /** A write is queued or running. */
  busy(): boolean;
}

export function createSerial(): Serial {
  let chain: Promise<unknown> = Promise.resolve();
  let running = 0;
  return {
    run(fn) {
      running++;
      const run = chain.then(fn, fn).finally(() => {
        running--;
      });
      chain = run.catch(() => undefined);
      return run;
    },
    settled: () => chain,
    busy: () => running > 0,
  };
}
