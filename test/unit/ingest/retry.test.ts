import { describe, expect, it } from 'vitest';
import { StoreError } from '../../../src/errors.js';
import {
  backoffDelay,
  isRetriable,
  RetryAbortedError,
  retryUntilDone,
} from '../../../src/ingest/retry.js';

describe('backoff (kafkajs-style: exponential, jittered ±factor, capped)', () => {
  it('grows by the multiplier from initialMs and stays within the jitter band and the cap', () => {
    const opts = { initialMs: 100, maxMs: 1_000, multiplier: 2, factor: 0.2 };
    expect(backoffDelay(1, opts, () => 0.5)).toBe(100);
    expect(backoffDelay(2, opts, () => 0.5)).toBe(200);
    expect(backoffDelay(3, opts, () => 0)).toBe(320); // 400 − 20 %
    expect(backoffDelay(3, opts, () => 1)).toBe(480); // 400 + 20 %
    expect(backoffDelay(10, opts, () => 1)).toBe(1_000); // capped
  });
});

describe('isRetriable', () => {
  it('follows the retriable flag; an unavailable store is worth retrying; the rest is not', () => {
    expect(isRetriable(new StoreError('x', { retriable: true }))).toBe(true);
    expect(isRetriable(new StoreError('x', { unavailable: true }))).toBe(true);
    expect(isRetriable(new StoreError('x'))).toBe(false);
    expect(isRetriable(Object.assign(new Error('kafka'), { retriable: true }))).toBe(true);
    expect(isRetriable(new TypeError('bug'))).toBe(false);
    expect(isRetriable('nope')).toBe(false);
  });
});

describe('retryUntilDone', () => {
  const fast = { initialMs: 1, maxMs: 5, slowMs: 5, tickMs: 1 };

  it('retries retriable and non-retriable failures until the call succeeds (never skips)', async () => {
    let calls = 0;
    const seen: Array<{ attempt: number; retriable: boolean }> = [];
    const result = await retryUntilDone(
      async () => {
        calls++;
        if (calls <= 3) throw new StoreError('down', { retriable: true });
        if (calls <= 5) throw new StoreError('bad', { retriable: false });
        return 'ok';
      },
      {
        ...fast,
        operation: 'op',
        onRetry: (a) => seen.push({ attempt: a.attempt, retriable: a.retriable }),
      },
    );
    expect(result).toBe('ok');
    expect(calls).toBe(6);
    expect(seen.map((s) => s.retriable)).toEqual([true, true, true, false, false]);
    expect(seen.map((s) => s.attempt)).toEqual([1, 2, 3, 4, 5]);
  });

  it('waits the non-retriable slow delay and calls whileWaiting (heartbeats) during long waits', async () => {
    let calls = 0;
    let beats = 0;
    const delays: number[] = [];
    await retryUntilDone(
      async () => {
        calls++;
        if (calls === 1) throw new Error('not retriable');
      },
      {
        operation: 'op',
        slowMs: 60,
        tickMs: 10,
        onRetry: (a) => delays.push(a.delayMs),
        whileWaiting: () => {
          beats++;
        },
      },
    );
    expect(delays).toEqual([60]);
    expect(beats).toBeGreaterThanOrEqual(4);
  });

  it('stops with RetryAbortedError (carrying the last error) when the signal aborts', async () => {
    const ac = new AbortController();
    const last = new StoreError('still down', { retriable: true });
    const p = retryUntilDone(
      async () => {
        throw last;
      },
      { ...fast, operation: 'op', signal: ac.signal },
    );
    setTimeout(() => ac.abort(), 20);
    const err = await p.catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RetryAbortedError);
    expect((err as RetryAbortedError).lastError).toBe(last);
  });
});
