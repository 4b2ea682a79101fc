/**
 * Retry for the Kafka path's writes (store, dead-letter produce): capped, jittered exponential
 * backoff in the style of kafkajs `src/retry/index.js`, but never giving up on its own. A batch
 * whose writes fail is not committed, and nothing may be skipped silently, so the only ways
 * out are success or the caller's abort signal (shutdown, lost partition).
 *
 * Retriable errors back off from `initialMs` to `maxMs`; errors marked non-retriable (a bad
 * statement, a schema problem) are logged by the caller and tried again every `slowMs`, since an
 * operator may fix the cause (a full disk, a dropped table) while the consumer waits.
 */

export interface BackoffOptions {
  /** First wait, ms. @default 300 */
  initialMs?: number;
  /** Cap on one wait, ms. @default 30000 */
  maxMs?: number;
  /** Growth per attempt. @default 2 */
  multiplier?: number;
  /** Jitter: each wait is drawn from ±factor around its nominal value. @default 0.2 */
  factor?: number;
  /** Wait between attempts after a non-retriable error, ms. @default maxMs */
  slowMs?: number;
}

export interface RetryAttempt {
  operation: string;
  /** 1 for the first failure. */
  attempt: number;
  err: unknown;
  retriable: boolean;
  /** How long until the next attempt. */
  delayMs: number;
}

export interface RetryOptions extends BackoffOptions {
  /** Names the operation in logs and metrics. */
  operation: string;
  /** Aborting stops the retries: the pending call rejects with `RetryAbortedError`. */
  signal?: AbortSignal;
  /** Called after each failure, before waiting. */
  onRetry?: (attempt: RetryAttempt) => void;
  /**
   * Called repeatedly while waiting, every `tickMs` (e.g. a consumer heartbeat). Its failures
   * are ignored: the wait goes on.
   */
  whileWaiting?: (waitedMs: number) => Promise<void> | void;
  /** @default 1000 */
  tickMs?: number;
  /** Classifies an error; default `isRetriable`. */
  retriable?: (err: unknown) => boolean;
  /** Randomness for the jitter (tests pass a fixed one). @default Math.random */
  random?: () => number;
}

export class RetryAbortedError extends Error {
  constructor(
    readonly operation: string,
    readonly lastError: unknown,
  ) {
    super(
      `${operation}: retries aborted`,
      lastError === undefined ? undefined : { cause: lastError },
    );
    this.name = 'RetryAbortedError';
  }
}

const DEFAULTS = { initialMs: 300, maxMs: 30_000, multiplier: 2, factor: 0.2 } as const;

/**
 * True for errors that say retrying can help: driftd errors and KafkaJS errors carry a
 * `retriable` flag; driftd's "store unavailable" (the engine went away) is worth retrying soon.
 * Programming errors (TypeError, RangeError, …) and unknown errors are not.
 */
export function isRetriable(err: unknown): boolean {
  if (typeof err !== 'object' || err === null) return false;
  const e = err as { retriable?: unknown; code?: unknown; name?: unknown };
  if (e.code === 'DRIFTD_ERR_STORE_UNAVAILABLE') return true;
  return e.retriable === true;
}

/** The nominal wait before attempt `attempt + 1` (attempt ≥ 1), jittered, capped. */
export function backoffDelay(
  attempt: number,
  opts: BackoffOptions = {},
  random: () => number = Math.random,
): number {
  const initial = opts.initialMs ?? DEFAULTS.initialMs;
  const max = opts.maxMs ?? DEFAULTS.maxMs;
  const multiplier = opts.multiplier ?? DEFAULTS.multiplier;
  const factor = opts.factor ?? DEFAULTS.factor;
  const nominal = Math.min(max, initial * multiplier ** Math.max(0, attempt - 1));
  const delta = factor * nominal;
  return Math.min(max, Math.ceil(nominal - delta + random() * 2 * delta));
}

/** Resolves after `ms`, early (rejecting) when `signal` aborts. Timers are unref'd. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) {
      reject(signal.reason);
      return;
    }
    const timer = setTimeout(done, ms);
    timer.unref?.();
    function done() {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }
    function onAbort() {
      clearTimeout(timer);
      reject(signal?.reason);
    }
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/**
 * Runs `fn` until it succeeds. Between attempts waits per the backoff, calling `whileWaiting`
 * every `tickMs` meanwhile. Rejects only with `RetryAbortedError` (when `signal` aborts).
 */
export async function retryUntilDone<T>(fn: () => Promise<T>, opts: RetryOptions): Promise<T> {
  const classify = opts.retriable ?? isRetriable;
  const tick = opts.tickMs ?? 1000;
  const random = opts.random ?? Math.random;
  let attempt = 0;
  let lastError: unknown;
  for (;;) {
    if (opts.signal?.aborted) throw new RetryAbortedError(opts.operation, lastError);
    try {
      return await fn();
    } catch (err) {
      lastError = err;
      attempt++;
      const retriable = classify(err);
      const delayMs = retriable
        ? backoffDelay(attempt, opts, random)
        : (opts.slowMs ?? opts.maxMs ?? DEFAULTS.maxMs);
      opts.onRetry?.({ operation: opts.operation, attempt, err, retriable, delayMs });
      try {
        let waited = 0;
        while (waited < delayMs) {
          const step = Math.min(tick, delayMs - waited);
          await sleep(step, opts.signal);
          waited += step;
          if (waited < delayMs && opts.whileWaiting) {
            try {
              await opts.whileWaiting(waited);
            } catch {
              // A failed heartbeat must not end the wait; the consumer rejoins on its own.
            }
          }
        }
      } catch {
        throw new RetryAbortedError(opts.operation, lastError);
      }
    }
  }
}
