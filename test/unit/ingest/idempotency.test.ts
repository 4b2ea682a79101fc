import { describe, expect, it } from 'vitest';
import { createIdempotency } from '../../../src/ingest/idempotency.js';

const tick = () => new Promise((r) => setTimeout(r, 0));

describe('idempotency keys', () => {
  it('runs a key once; a retry while in flight waits for it; a failure is forgotten', async () => {
    const keys = createIdempotency();
    let runs = 0;
    let release: (() => void) | undefined;
    const first = () => {
      runs++;
      return new Promise<string>((r) => {
        release = () => r('first');
      });
    };
    const a = keys.run('k', first, () => 'again');
    const b = keys.run('k', first, () => 'again');
    await tick();
    expect(runs).toBe(1);
    release!();
    expect(await a).toBe('first');
    expect(await b).toBe('again');
    expect(await keys.run('k', first, () => 'again')).toBe('again');
    expect(runs).toBe(1);

    await expect(
      keys.run(
        'f',
        () => Promise.reject(new Error('503')),
        () => 'x',
      ),
    ).rejects.toThrow('503');
    expect(
      await keys.run(
        'f',
        async () => 'ran',
        () => 'x',
      ),
    ).toBe('ran');
  });

  it('is bounded: the oldest keys go beyond maxKeys, and keys expire after ttlMs', async () => {
    let now = 0;
    const keys = createIdempotency({ maxKeys: 3, ttlMs: 1000, now: () => now });
    for (const k of ['a', 'b', 'c', 'd'])
      await keys.run(
        k,
        async () => 1,
        () => 2,
      );
    expect(keys.size).toBe(3);
    expect(
      await keys.run(
        'a',
        async () => 'new',
        () => 'old',
      ),
    ).toBe('new'); // evicted
    expect(
      await keys.run(
        'd',
        async () => 'new',
        () => 'old',
      ),
    ).toBe('old');
    now = 1000;
    expect(
      await keys.run(
        'd',
        async () => 'new',
        () => 'old',
      ),
    ).toBe('new'); // expired
    keys.remember(['x']);
    expect(
      await keys.run(
        'x',
        async () => 'new',
        () => 'old',
      ),
    ).toBe('old');
  });
});
