import * as crypto from 'node:crypto';
import { describe, expect, it, vi } from 'vitest';

// Counts the comparisons the verifier makes (the real function still decides).
vi.mock('node:crypto', async (importOriginal) => {
  const real = await importOriginal<typeof crypto>();
  return { ...real, timingSafeEqual: vi.fn(real.timingSafeEqual) };
});

const { createTokenVerifier } = await import('../../../src/api/auth.js');

const tokens = [
  { name: 'a', scopes: ['read'] as const, secret: 'a'.repeat(16) },
  { name: 'b', scopes: ['write'] as const, secret: 'b'.repeat(40) },
  { name: 'c', scopes: ['admin'] as const, secret: 'c'.repeat(200) },
];

describe('bearer token comparison', () => {
  const verify = createTokenVerifier(tokens);
  const compare = vi.mocked(crypto.timingSafeEqual);

  it('finds the token a secret belongs to, and nothing for any other string', () => {
    expect(verify('b'.repeat(40))).toEqual({ name: 'b', scopes: ['write'] });
    expect(verify('c'.repeat(200))?.name).toBe('c');
    for (const wrong of ['', 'a', 'a'.repeat(15), 'a'.repeat(17), 'b'.repeat(40).toUpperCase()]) {
      expect(verify(wrong)).toBeUndefined();
    }
  });

  it('compares fixed-size digests against every token, whichever matches (no length or position leak)', () => {
    for (const given of ['a'.repeat(16), 'c'.repeat(200), 'x', 'y'.repeat(5000)]) {
      compare.mockClear();
      verify(given);
      // Every configured token, every time: no early exit on a match.
      expect(compare).toHaveBeenCalledTimes(tokens.length);
      for (const [x, y] of compare.mock.calls) {
        // HMAC-SHA-256 digests: the same 32 bytes whatever the lengths of secret and token.
        expect([(x as Buffer).length, (y as Buffer).length]).toEqual([32, 32]);
      }
    }
  });
});
