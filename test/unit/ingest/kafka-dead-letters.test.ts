import { describe, expect, it } from 'vitest';
import {
  DEAD_LETTER_REQUEST_BYTES,
  deadLetterRequests,
  versionFromInvalidHeader,
} from '../../../src/ingest/kafka.js';

const msg = (bytes: number, headers: Record<string, string | Buffer | Buffer[]> = {}) => ({
  key: 'k',
  value: Buffer.alloc(bytes, 0x61),
  headers,
});

describe('dead letters in produce requests', () => {
  it('a batch of large dead letters goes in a few requests under the limit, in order, not one by one', () => {
    // 40 dead letters of 100 kB: 4 MB, over the broker's 1 MiB request limit in one request.
    const messages = Array.from({ length: 40 }, (_, i) => msg(100_000, { i: String(i) }));
    const requests = deadLetterRequests(messages, DEAD_LETTER_REQUEST_BYTES);
    expect(requests.length).toBe(8); // 5 of 100 kB per 512 KiB request
    expect(requests.flat()).toEqual(messages);
    for (const r of requests) {
      const size = r.reduce((s, m) => s + (m.value?.length ?? 0) + 64, 0);
      expect(size).toBeLessThanOrEqual(DEAD_LETTER_REQUEST_BYTES);
    }
  });

  it('small dead letters share one request; one over the limit goes alone', () => {
    const small = Array.from({ length: 1000 }, () => msg(200));
    expect(deadLetterRequests(small, DEAD_LETTER_REQUEST_BYTES)).toHaveLength(1);
    const huge = msg(2 * DEAD_LETTER_REQUEST_BYTES);
    const requests = deadLetterRequests([small[0]!, huge, small[1]!], DEAD_LETTER_REQUEST_BYTES);
    expect(requests.map((r) => r.length)).toEqual([1, 1, 1]);
  });

  it('counts headers, repeated ones included, and null values', () => {
    const heavyHeaders = msg(0, { h: [Buffer.alloc(300_000), Buffer.alloc(300_000)] });
    const requests = deadLetterRequests(
      [heavyHeaders, heavyHeaders, { key: null, value: null, headers: {} }],
      DEAD_LETTER_REQUEST_BYTES,
    );
    // Each 600 kB of headers is over the limit alone; the empty message starts the next.
    expect(requests.map((r) => r.length)).toEqual([1, 1, 1]);
  });
});

describe('a version taken from a header that is not UTF-8', () => {
  const bad = Buffer.from([0x76, 0xc0, 0xaf]);
  it('is recognised when the event carries the header’s decoded text', () => {
    expect(versionFromInvalidHeader({ 'driftd-version': bad }, { version: bad.toString() })).toBe(
      true,
    );
    expect(
      versionFromInvalidHeader(
        { 'driftd-version': [bad, Buffer.from('x')] },
        { version: bad.toString() },
      ),
    ).toBe(true);
  });
  it('is not when the version came from the value, or the header is UTF-8', () => {
    expect(versionFromInvalidHeader({ 'driftd-version': bad }, { version: '3' })).toBe(false);
    expect(
      versionFromInvalidHeader({ 'driftd-version': Buffer.from('vé') }, { version: 'vé' }),
    ).toBe(false);
    expect(versionFromInvalidHeader(undefined, { version: '3' })).toBe(false);
  });
});
