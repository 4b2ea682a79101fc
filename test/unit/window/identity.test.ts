import { describe, expect, it } from 'vitest';
import { windowAt, windowKey, windowName, windowStart } from '../../../src/window/index.js';

describe('window identity (src/window/identity.ts)', () => {
  it('windowStart rounds down to a multiple of the size, before 1970 as after', () => {
    const size = 300_000;
    for (const ts of [0, 1, 299_999, 300_000, 1_764_000_123_456, -1, -300_000, -300_001]) {
      expect(windowStart(ts, size)).toBe(Math.floor(ts / size) * size);
      expect(windowStart(ts, size)).toBeLessThanOrEqual(ts);
      expect(ts - windowStart(ts, size)).toBeLessThan(size);
    }
  });

  it('windowAt gives the bounds of the configured size holding the time', () => {
    expect(windowAt('m', '3', { ms: 60_000, label: '1m' }, 125_000)).toEqual({
      model: 'm',
      version: '3',
      size: 60_000,
      sizeLabel: '1m',
      start: 120_000,
      end: 180_000,
    });
  });

  it('windowKey tells windows apart whatever their version contains; windowName is for messages', () => {
    const a = { model: 'm', version: 'a/1m/0', sizeLabel: '1m', start: 0 };
    const b = { model: 'm', version: 'a', sizeLabel: '1m', start: 0 };
    const c = { model: 'm', version: 'a\u00001m\u00000', sizeLabel: '1m', start: 0 };
    expect(new Set([a, b, c].map(windowKey)).size).toBe(3);
    expect(windowKey({ ...b })).toBe(windowKey(b));
    expect(windowName(b)).toBe('a/1m/0');
  });
});
