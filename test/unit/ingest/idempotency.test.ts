import { describe, expect, it } from 'vitest';
import { IdempotencyKeyReusedError } from '../../../src/errors.js';
import { PendingLine } from '../../../src/ingest/decode.js';
import { createIdempotency, fingerprint, requestTag } from '../../../src/ingest/idempotency.js';

/** An events request of `key` whose body has fingerprint `print`. */
const req = (key: string, print: string | undefined = 'p') => ({
  key,
  scope: 'events' as const,
  fingerprint: print,
});

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
    const a = keys.run(req('k'), first, () => 'again');
    const b = keys.run(req('k'), first, () => 'again');
    await tick();
    expect(runs).toBe(1);
    release!();
    expect(await a).toBe('first');
    expect(await b).toBe('again');
    expect(await keys.run(req('k'), first, () => 'again')).toBe('again');
    expect(runs).toBe(1);

    await expect(
      keys.run(
        req('f'),
        () => Promise.reject(new Error('503')),
        () => 'x',
      ),
    ).rejects.toThrow('503');
    expect(
      await keys.run(
        req('f'),
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
        req(k),
        async () => 1,
        () => 2,
      );
    expect(keys.size).toBe(3);
    expect(
      await keys.run(
        req('a'),
        async () => 'new',
        () => 'old',
      ),
    ).toBe('new'); // evicted
    expect(
      await keys.run(
        req('d'),
        async () => 'new',
        () => 'old',
      ),
    ).toBe('old');
    now = 1000;
    expect(
      await keys.run(
        req('d'),
        async () => 'new',
        () => 'old',
      ),
    ).toBe('new'); // expired
    keys.remember(['x']);
    expect(
      await keys.run(
        req('x'),
        async () => 'new',
        () => 'old',
      ),
    ).toBe('old');
  });

  it('refuses a key sent again with another body: while the first runs, after it, and from stored tags', async () => {
    const keys = createIdempotency();
    let release: (() => void) | undefined;
    const a = keys.run(
      req('k', 'body-1'),
      () =>
        new Promise<string>((r) => {
          release = () => r('first');
        }),
      () => 'again',
    );
    await tick();
    await expect(
      keys.run(
        req('k', 'body-2'),
        async () => 'ran',
        () => 'x',
      ),
    ).rejects.toThrow(IdempotencyKeyReusedError);
    release!();
    expect(await a).toBe('first');
    await expect(
      keys.run(
        req('k', 'body-2'),
        async () => 'ran',
        () => 'x',
      ),
    ).rejects.toThrow(/Idempotency-Key "k" was already used for a request with another body/);
    expect(
      await keys.run(
        req('k', 'body-1'),
        async () => 'ran',
        () => 'again',
      ),
    ).toBe('again');
    // Labels keep keys of their own.
    expect(
      await keys.run(
        { key: 'k', scope: 'labels', fingerprint: 'l' },
        async () => 'ran',
        () => 'x',
      ),
    ).toBe('ran');

    // Loaded from stored rows (a restart): the tag carries the fingerprint; an old bare key none.
    keys.remember([requestTag('s', 'body-1'), 'old']);
    await expect(
      keys.run(
        req('s', 'body-2'),
        async () => 'ran',
        () => 'x',
      ),
    ).rejects.toThrow(IdempotencyKeyReusedError);
    expect(
      await keys.run(
        req('s', 'body-1'),
        async () => 'ran',
        () => 'again',
      ),
    ).toBe('again');
    expect(
      await keys.run(
        req('old', 'any'),
        async () => 'ran',
        () => 'again',
      ),
    ).toBe('again');
  });

  it('fingerprints the items as received: NDJSON bytes, JSON text', () => {
    const body = Buffer.from('{"a":1}\n{"a":2}\n');
    const source = { bytes: body, ascii: true, utf8: true };
    const lines = [new PendingLine(source, 0, 7, 1), new PendingLine(source, 8, 15, 2)];
    expect(fingerprint(lines)).toBe(fingerprint([...lines]));
    expect(fingerprint(lines)).not.toBe(fingerprint(lines.slice(0, 1)));
    expect(fingerprint([{ a: 1 }])).toBe(fingerprint([{ a: 1 }]));
    expect(fingerprint([{ a: 1 }])).not.toBe(fingerprint([{ a: 2 }]));
    expect(fingerprint([{ a: 1 }, { a: 2 }])).not.toBe(fingerprint([{ a: 2 }, { a: 1 }]));
    expect(fingerprint([{ a: 1 }])).toMatch(/^[\w-]{22}$/);
  });
});
