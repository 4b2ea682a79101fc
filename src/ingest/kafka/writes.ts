/**
 * Writes of the source (store inserts, checkpoint rows, dead-letter produces): retried until
 * they succeed (retry.ts) or the source closes, heartbeating the group meanwhile and pausing
 * fetches once a write has been failing for `pauseAfterMs`; fetching resumes when writes
 * succeed again. Offsets are never committed past a write that has not succeeded.
 */

import type { Consumer } from 'kafkajs';
import type { Logger } from '../../logger.js';
import type { Clock } from '../../window/index.js';
import { retryUntilDone } from '../retry.js';
import type { Tuning, Write } from './options.js';

export interface WritesOptions {
  tuning: Pick<Tuning, 'backoff' | 'pauseAfterMs'>;
  clock: Clock;
  log: Logger;
  /** Aborts the retries (close). */
  signal: AbortSignal;
  /** The connected consumer, if any. */
  consumer: () => Consumer | undefined;
  /** The topics assigned to this member (those paused and resumed). */
  topics: () => string[];
  /** The heartbeat of the latest batch, if any. */
  heartbeat: () => (() => Promise<void>) | undefined;
}

export function createWrites(options: WritesOptions): Write {
  const { tuning, clock, log } = options;
  let paused = false;
  let failingSince: number | undefined;

  function pauseFetching(): void {
    const consumer = options.consumer();
    if (paused || !consumer) return;
    paused = true;
    const topics = options.topics().map((topic) => ({ topic }));
    try {
      consumer.pause(topics);
      log.warn({ topics: options.topics() }, 'writes keep failing: paused fetching');
    } catch (err) {
      log.debug({ err }, 'pause failed');
    }
  }

  function resumeFetching(): void {
    const consumer = options.consumer();
    if (!paused || !consumer) return;
    paused = false;
    try {
      consumer.resume(options.topics().map((topic) => ({ topic })));
      log.info('writes succeed again: resumed fetching');
    } catch (err) {
      log.debug({ err }, 'resume failed');
    }
  }

  /** A write wrapper: retry until done (or close), heartbeating and pausing meanwhile. */
  const write: Write = async (operation, fn) => {
    const result = await retryUntilDone(fn, {
      ...tuning.backoff,
      operation,
      signal: options.signal,
      onRetry: ({ attempt, err, retriable, delayMs }) => {
        failingSince ??= clock.now();
        if (attempt === 1 || attempt % 10 === 0) {
          const msg = retriable
            ? 'write failed; retrying (offsets not committed, nothing skipped)'
            : 'write failed with a non-retriable error; retrying slowly (offsets not committed, nothing skipped)';
          if (retriable) log.warn({ err, operation, attempt, delayMs }, msg);
          else log.error({ err, operation, attempt, delayMs }, msg);
        }
      },
      whileWaiting: async () => {
        if (failingSince !== undefined && clock.now() - failingSince >= tuning.pauseAfterMs) {
          pauseFetching();
        }
        const heartbeat = options.heartbeat();
        if (heartbeat) await heartbeat();
      },
    });
    if (failingSince !== undefined) {
      log.info({ operation, failedForMs: clock.now() - failingSince }, 'write succeeded again');
      failingSince = undefined;
    }
    resumeFetching();
    return result;
  };
  return write;
}
