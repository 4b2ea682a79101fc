/**
 * The ordered input log of the HTTP and replay sources: every accepted event gets the next
 * position (a per-instance sequence; HTTP rows store it, see migration 7), and batches are
 * written in position order, one INSERT at a time, concurrent requests' batches coalesced
 * into one INSERT while the previous one runs (group commit). So the stored positions are
 * always a prefix of the recorded ones — `durable` — until a write fails.
 *
 * Fail-stop: when a write fails (after the writer's own retries), its batches and every batch
 * queued behind it are rejected (their events were recorded into the windows after the failed
 * ones, on a state that held them), and the log refuses new batches until `reset`: the owner
 * (the pipeline) rebuilds the windows from what is durable, then resets the log. Positions are
 * never handed out twice, so rows of a write that failed but did land (an INSERT whose answer
 * was lost) keep positions of their own.
 *
 * A source that can wait for its answers (replay) may hold writes until `holdFor` rows are
 * queued: every INSERT has a cost of its own in the engine, so fewer, larger ones cost less
 * per row. It then calls `flush` before it waits for the answer of a batch that may be held
 * (no write in flight), and `whenDurable` still only waits: held rows go out once enough are
 * queued or at the next flush.
 */
import { StoreError } from '../errors.js';

export interface InputLog<T> {
  /** The last position handed out (0: none yet). */
  readonly recorded: number;
  /** Every batch up to this position is stored. */
  readonly durable: number;
  /** False from a failed write until `reset`. */
  readonly healthy: boolean;
  /** A write is in flight: the batches waiting the longest are in it. */
  readonly writing: boolean;
  /** Hands out the next position. Call only while `healthy`. */
  next(): number;
  /**
   * Queues the batch whose events got positions up to `last` (call synchronously after
   * handing them out, so batches queue in position order); resolves once it is stored.
   */
  submit(batch: T, last: number): Promise<void>;
  /** Resolves once `position` is stored; rejects if the write holding it failed. */
  whenDurable(position: number): Promise<void>;
  /**
   * Fails the log as a failed write does, for a batch that was recorded and can never be
   * stored: a write in flight finishes first (its batches may still land), then the queue is
   * rejected and the failure listeners run.
   */
  abort(err: unknown): void;
  /** Called (once per failure) after the failed write; the owner rebuilds, then `reset`s. */
  onFailure(listener: (err: unknown) => void): void;
  /** Back in service with everything up to `position` durable (the next position follows it). */
  reset(position: number): void;
  /** Nothing queued and no write in flight. */
  idle(): boolean;
  /**
   * Holds writes until `rows` rows are queued (at most the write size, maxRows), or until a
   * `flush`; 0, the default, writes at once. Only a source that calls `flush` before waiting
   * for its own batches may hold (else it would wait for rows it has not yet sent).
   */
  holdFor(rows: number): void;
  /** Writes every batch queued now, whatever their size. */
  flush(): void;
}

interface Entry<T> {
  batch: T;
  last: number;
  resolve: () => void;
  reject: (err: unknown) => void;
}

interface Waiter {
  position: number;
  resolve: () => void;
  reject: (err: unknown) => void;
}

export function createInputLog<T>(
  write: (batches: readonly T[]) => Promise<void>,
  opts: { maxRows?: number; rows?: (batch: T) => number; start?: number } = {},
): InputLog<T> {
  const maxRows = opts.maxRows ?? 100_000;
  const rowsOf = opts.rows ?? (() => 1);
  let recorded = opts.start ?? 0;
  let durable = recorded;
  let healthy = true;
  let writing = false;
  /** Set by `abort` while a write is in flight: the failure to declare once it ends. */
  let aborting: { err: unknown } | undefined;
  let queue: Entry<T>[] = [];
  /** Rows in `queue`; writes wait for `minRows` of them, except up to position `flushTo`. */
  let queuedRows = 0;
  let minRows = 0;
  let flushTo = 0;
  let waiters: Waiter[] = [];
  const listeners: Array<(err: unknown) => void> = [];

  function advance(to: number): void {
    durable = Math.max(durable, to);
    if (waiters.length === 0) return;
    const still: Waiter[] = [];
    for (const w of waiters) {
      if (w.position <= durable) w.resolve();
      else still.push(w);
    }
    waiters = still;
  }

  function fail(err: unknown): void {
    healthy = false;
    aborting = undefined;
    const rejected = queue;
    queue = [];
    queuedRows = 0;
    const refusal = new StoreError('an earlier raw-event write failed; send the request again', {
      retriable: true,
      cause: err,
    });
    for (const e of rejected) e.reject(refusal);
    for (const w of waiters) w.reject(refusal);
    waiters = [];
    for (const l of listeners) l(err);
  }

  async function drain(): Promise<void> {
    writing = true;
    while (queue.length > 0 && aborting === undefined) {
      if (queuedRows < minRows && queue[0]!.last > flushTo) break; // held (holdFor)
      // Whole batches, in position order, up to maxRows (a single larger one goes alone).
      const group: Entry<T>[] = [];
      let n = 0;
      while (queue.length > 0 && (group.length === 0 || n + rowsOf(queue[0]!.batch) <= maxRows)) {
        const e = queue.shift()!;
        group.push(e);
        n += rowsOf(e.batch);
      }
      queuedRows -= n;
      try {
        await write(group.map((e) => e.batch));
      } catch (err) {
        for (const e of group) e.reject(err);
        writing = false;
        fail(err);
        return;
      }
      advance(group.at(-1)!.last);
      for (const e of group) e.resolve();
    }
    writing = false;
    if (aborting !== undefined) fail(aborting.err);
  }

  return {
    get recorded() {
      return recorded;
    },
    get durable() {
      return durable;
    },
    get healthy() {
      return healthy;
    },
    get writing() {
      return writing;
    },
    next() {
      return ++recorded;
    },
    submit(batch, last) {
      if (!healthy) {
        return Promise.reject(
          new StoreError('the store is being recovered; send the request again', {
            retriable: true,
          }),
        );
      }
      return new Promise<void>((resolve, reject) => {
        queue.push({ batch, last, resolve, reject });
        queuedRows += rowsOf(batch);
        if (!writing) void drain();
      });
    },
    whenDurable(position) {
      if (position <= durable) return Promise.resolve();
      if (!healthy) {
        return Promise.reject(
          new StoreError('position lost in a failed write', { retriable: true }),
        );
      }
      return new Promise<void>((resolve, reject) => {
        waiters.push({ position, resolve, reject });
      });
    },
    abort(err) {
      if (!healthy && aborting === undefined) return; // already failed
      healthy = false;
      if (writing) aborting = { err };
      else fail(err);
    },
    onFailure(listener) {
      listeners.push(listener);
    },
    reset(position) {
      recorded = Math.max(recorded, position);
      durable = recorded;
      healthy = true;
    },
    idle() {
      return !writing && queue.length === 0;
    },
    holdFor(rows) {
      minRows = Math.min(Math.max(0, rows), maxRows);
    },
    flush() {
      flushTo = recorded;
      if (!writing && queue.length > 0) void drain();
    },
  };
}
