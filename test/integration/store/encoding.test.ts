/**
 * The store's hand-rolled encoders (hot path of raw event inserts): exact against the slow
 * reference, and byte-exact JSON lines.
 */
import { describe, expect, it } from 'vitest';
import { InvalidInputError } from '../../../src/errors.js';
import {
  formatDateTime64,
  JsonLinesWriter,
  toNumber,
  validateIdentifier,
} from '../../../src/store/sql.js';

const reference = (ms: number) => {
  const iso = new Date(ms).toISOString();
  return `${iso.slice(0, 10)} ${iso.slice(11, 23)}`;
};

describe('formatDateTime64', () => {
  it('matches toISOString over the whole storable range, including the cached-second path', () => {
    const lo = Date.UTC(1900, 0, 1);
    const hi = Date.UTC(2299, 11, 31, 23, 59, 59, 999);
    const cases = [lo, lo + 1, -1001, -1000, -999, -1, 0, 1, 999, 1000, 1001, hi];
    let x = 12345;
    for (let i = 0; i < 20_000; i++) {
      x = (x * 1103515245 + 12345) % 2 ** 31;
      cases.push(lo + Math.floor((x / 2 ** 31) * (hi - lo)));
      cases.push(cases.at(-1)! + (i % 3)); // same second, next millisecond
    }
    for (const ms of cases) expect(formatDateTime64(ms)).toBe(reference(ms));
  });

  it('refuses values ClickHouse would clamp', () => {
    for (const bad of [
      Date.UTC(1899, 11, 31, 23, 59, 59, 999),
      Date.UTC(2300, 0, 1),
      Number.NaN,
      Infinity,
    ]) {
      expect(() => formatDateTime64(bad)).toThrow(InvalidInputError);
    }
  });
});

describe('JsonLinesWriter', () => {
  it('writes newline-terminated UTF-8 lines, growing as needed', () => {
    const w = new JsonLinesWriter(8);
    const lines = ['{"a":1}', '{"é":"🎉"}', JSON.stringify({ long: 'x'.repeat(10_000) })];
    for (const l of lines) w.push(l);
    w.reserve(4); // never shrinks
    expect(w.rows).toBe(3);
    expect(w.finish().toString('utf8')).toBe(`${lines.join('\n')}\n`);
    expect(w.bytes).toBe(Buffer.byteLength(`${lines.join('\n')}\n`));
  });
});

describe('helpers', () => {
  it('reads ClickHouse float spellings back', () => {
    expect(toNumber('nan')).toBeNaN();
    expect(toNumber('inf')).toBe(Infinity);
    expect(toNumber('-inf')).toBe(-Infinity);
    expect(toNumber('1.5')).toBe(1.5);
    expect(toNumber(2)).toBe(2);
  });

  it('accepts only plain identifiers', () => {
    expect(validateIdentifier('driftd_prod', 'database')).toBe('driftd_prod');
    for (const bad of ['', '1db', 'a.b', 'a`b', 'a b', 'x'.repeat(64)]) {
      expect(() => validateIdentifier(bad, 'database')).toThrow(InvalidInputError);
    }
  });
});
