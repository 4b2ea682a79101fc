import type { Metrics } from '../export/metrics.js';
import type { Logger } from '../logger.js';
import type { EncodedEvents } from '../store/types.js';
import type { ClosedWindow } from '../window/index.js';
import { createInputLog, type InputLog } from './input-log.js';
import { backoffDelay, isRetriable, sleep } from './retry.js';

/** Tries of one HTTP/replay batch's raw insert (≈ 15 s of capped backoff) before the request fails. */
const HTTP_INSERT_ATTEMPTS = 6;

/** What the HTTP/replay raw writer needs from the store. */
export interface DurableInputStore {
  insertEncodedEvents(batches: readonly EncodedEvents[]): Promise<void>;
}

/**
 * The durable side of the HTTP and replay input (see "HTTP and replay: exactly once into the
 * windows" in request-ingest.ts): the input log with its raw-event writer, and the gate that holds a
 * closed window back until every input position up to its close is stored.
 *
 * The writer retries retriable failures (HTTP_INSERT_ATTEMPTS, capped backoff) and fails at
 * once on any other. A non-retriable refusal of a raw batch is not quarantined row by row:
 * every row was checked at decode against what the store accepts ("accepted means storable",
 * decode.ts), so the refusal is systemic (a full disk, a dropped table, a schema mismatch)
 * rather than one row's fault. Failing is what keeps exactly-once: the requests fail (503,
 * counted zero times, the client keeps its events and retries), the windows are rebuilt from
 * the stored events, and input resumes, so nothing else stalls beyond the rebuild.
 * Quarantining instead would answer 202 for events the store does not hold while the windows
 * counted them: a rebuild or a restart, which replays the stored events, would then disagree
 * with the uninterrupted run.
 */
export interface DurableInput {
  readonly log: InputLog<EncodedEvents>;
  /** Gates `closed` at the current input position; returns what may be written now. */
  gate(closed: readonly ClosedWindow[]): ClosedWindow[];
  /** The gated windows whose positions are all stored, in close order. */
  released(): ClosedWindow[];
  /** Waits until every input position handed out so far is stored (nothing if it fails). */
  stored(): Promise<void>;
  /** The windows still gated (a cut restores them as closed). */
  gatedWindows(): ClosedWindow[];
  /** Drops the gated windows (a rebuild: they may hold events of failed writes). */
  clearGate(): void;
  /** Who rebuilds the windows when a raw write failed (see EngineSource.onRollback). */
  onFailure(recover: (err: unknown) => void): void;
}

export function createDurableInput(opts: {
  store: DurableInputStore;
  metrics: Metrics;
  logger: Logger;
}): DurableInput {
  const { store, metrics } = opts;
  const log = opts.logger;
  const rawLog = createInputLog<EncodedEvents>(
    async (batches) => {
      const t = metrics.storeWriteSeconds.startTimer({ table: 'events' });
      try {
        for (let attempt = 1; ; attempt++) {
          try {
            await store.insertEncodedEvents(batches);
            return;
          } catch (err) {
            if (!isRetriable(err) || attempt >= HTTP_INSERT_ATTEMPTS) throw err;
            const wait = backoffDelay(attempt, { initialMs: 200, maxMs: 5_000 });
            log.warn(
              { err, attempt, waitMs: Math.round(wait) },
              'raw event insert failed; retrying',
            );
            await sleep(wait);
          }
        }
      } finally {
        t();
      }
    },
    { rows: (b) => b.rows },
  );
  let recover: ((err: unknown) => void) | undefined;
  rawLog.onFailure((err) => {
    // The closed windows not yet released may hold events of the failed writes.
    gated = [];
    if (recover) {
      log.error({ err }, 'raw event write failed: requests refused until the windows are rebuilt');
      recover(err);
    } else {
      log.error({ err }, 'raw event write failed; its requests fail (no rebuild configured)');
      rawLog.reset(rawLog.recorded);
    }
  });

  /** Closed windows waiting until every input position up to `at` is stored (see request-ingest.ts). */
  let gated: Array<{ closed: ClosedWindow; at: number }> = [];
  /** Gates `closed` at the current input position; returns what may be written now. */
  function gate(closed: readonly ClosedWindow[]): ClosedWindow[] {
    if (gated.length === 0 && rawLog.recorded <= rawLog.durable) return closed.slice();
    const at = rawLog.recorded;
    for (const c of closed) gated.push({ closed: c, at });
    return released();
  }
  /** The gated windows whose positions are all stored, in close order. */
  function released(): ClosedWindow[] {
    const out: ClosedWindow[] = [];
    const durable = rawLog.durable;
    while (gated.length > 0 && gated[0]!.at <= durable) out.push(gated.shift()!.closed);
    return out;
  }
  /** Waits until every input position handed out so far is stored (nothing if it fails). */
  async function stored(): Promise<void> {
    rawLog.flush(); // held rows (holdFor) too
    if (rawLog.healthy) await rawLog.whenDurable(rawLog.recorded).catch(() => undefined);
  }

  return {
    log: rawLog,
    gate,
    released,
    stored,
    gatedWindows: () => gated.map((g) => g.closed),
    clearGate() {
      gated = [];
    },
    onFailure(fn) {
      recover = fn;
    },
  };
}
