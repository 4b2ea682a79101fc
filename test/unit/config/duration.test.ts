import { describe, expect, it } from 'vitest';
import { checkDuration, formatDuration, parseDuration } from '../../../src/config/duration.js';
import { ConfigError } from '../../../src/errors.js';

describe('parseDuration', () => {
  it.each([
    ['1ms', 1],
    ['250ms', 250],
    ['30s', 30_000],
    ['5m', 300_000],
    ['90m', 5_400_000],
    ['1h', 3_600_000],
    ['1d', 86_400_000],
    ['7d', 604_800_000],
  ])('%s = %d ms', (text, ms) => {
    expect(parseDuration(text)).toBe(ms);
  });

  it.each([
    ['0s', '"0s" must be greater than zero'],
    ['0ms', '"0ms" must be greater than zero'],
    ['-5m', '"-5m" is not a duration (use e.g. 30s, 5m, 1h, 1d)'],
    ['5x', '"5x" is not a duration (use e.g. 30s, 5m, 1h, 1d)'],
    ['5', '"5" is not a duration (use e.g. 30s, 5m, 1h, 1d)'],
    ['', '"" is not a duration (use e.g. 30s, 5m, 1h, 1d)'],
    ['m', '"m" is not a duration (use e.g. 30s, 5m, 1h, 1d)'],
    ['1.5h', '"1.5h" is not a duration (use e.g. 30s, 5m, 1h, 1d)'],
    ['1h30m', '"1h30m" is not a duration (use e.g. 30s, 5m, 1h, 1d)'],
    ['5M', '"5M" is not a duration (use e.g. 30s, 5m, 1h, 1d)'],
    [' 5m', '" 5m" is not a duration (use e.g. 30s, 5m, 1h, 1d)'],
    ['5 m', '"5 m" is not a duration (use e.g. 30s, 5m, 1h, 1d)'],
    ['99999999999999999d', '"99999999999999999d" is not a duration (use e.g. 30s, 5m, 1h, 1d)'],
  ])('rejects %j', (text, message) => {
    expect(() => parseDuration(text)).toThrow(new ConfigError(message, [message]));
    expect(checkDuration(text)).toEqual({ ok: false, message });
  });

  it('rejects non-strings, naming the value', () => {
    expect(checkDuration(60)).toEqual({
      ok: false,
      message: '60 is not a duration (use e.g. 30s, 5m, 1h, 1d)',
    });
    expect(checkDuration(null).ok).toBe(false);
  });

  it('accepts zero only when asked', () => {
    expect(parseDuration('0s', { allowZero: true })).toBe(0);
    expect(parseDuration('0', { allowZero: true })).toBe(0);
    expect(checkDuration('0').ok).toBe(false);
  });

  it('enforces a minimum', () => {
    expect(checkDuration('500ms', { minMs: 1000 })).toEqual({
      ok: false,
      message: '"500ms" is shorter than the minimum of 1s',
    });
    expect(parseDuration('1000ms', { minMs: 1000 })).toBe(1000);
  });
});

describe('formatDuration', () => {
  it.each([
    [1, '1ms'],
    [1500, '1500ms'],
    [30_000, '30s'],
    [300_000, '5m'],
    [5_400_000, '90m'],
    [3_600_000, '1h'],
    [172_800_000, '2d'],
    [0, '0s'],
  ])('%d ms = %s', (ms, text) => {
    expect(formatDuration(ms)).toBe(text);
  });

  it('round-trips through parseDuration', () => {
    for (const ms of [1, 999, 1000, 61_000, 3_600_000, 90_000_000]) {
      expect(parseDuration(formatDuration(ms))).toBe(ms);
    }
  });
});
