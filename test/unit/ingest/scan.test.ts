/**
 * The decode thread's scanner decides nothing of its own: for every message, the answer with
 * the scanner must be byte for byte the answer of the general path (JSON.parse +
 * decodePrediction), whatever the scanner takes or leaves. And it must take the plain shape,
 * or it saves nothing.
 */
import { describe, expect, it } from 'vitest';
import {
  decodePacked,
  modelList,
  packValues,
  readDecoded,
} from '../../../src/ingest/decode-batch.js';
import { EventScanner, V_NUMBER } from '../../../src/ingest/scan.js';
import { createPiiKey } from '../../../src/privacy/pii.js';
import { decodeTestEvent, decodeTestModels, TEST_PII_KEY_TEXT } from '../../helpers/model.js';

const models = decodeTestModels();
const list = modelList(models);
const opts = { models, piiKey: createPiiKey(TEST_PII_KEY_TEXT) };
/** A live source's clock (2026-11-22T10:00:00Z) with the default skew of an hour. */
const LIVE_NOW = 1_795_341_600_000;
const liveOpts = { ...opts, live: { now: () => LIVE_NOW, maxFutureSkewMs: 3_600_000 } };
const MAX = 4096;

/** A seeded generator (Park–Miller), so a failure names a reproducible case. */
function rng(seed: number): () => number {
  let s = seed;
  return () => {
    s = (s * 48271) % 2147483647;
    return s / 2147483647;
  };
}

/** A double's text as a producer may print it: shortest, %.17g, %.16g, exponent, fixed. */
function numberText(r: () => number): string {
  const x = (r() - 0.5) * 10 ** Math.floor(r() * 30 - 12);
  switch (Math.floor(r() * 6)) {
    case 0:
      return String(x);
    case 1:
      return x.toPrecision(17);
    case 2:
      return x.toPrecision(16);
    case 3:
      return x.toExponential(Math.floor(r() * 17));
    case 4:
      return x.toFixed(Math.floor(r() * 12));
    default: {
      // Random digits: 1 to 20 of them, the point anywhere.
      const n = 1 + Math.floor(r() * 20);
      let d = String(1 + Math.floor(r() * 9));
      for (let i = 1; i < n; i++) d += String(Math.floor(r() * 10));
      const at = Math.floor(r() * (n + 1));
      return at === 0 ? `0.${d}` : at === n ? d : `${d.slice(0, at)}.${d.slice(at)}`;
    }
  }
}

/** Messages near the plain shape, each with a chance of one of many deviations. */
function message(r: () => number): string {
  const pick = <T>(xs: T[]): T => xs[Math.floor(r() * xs.length)]!;
  /** Mostly the first (plain) choice, now and then one of the others. */
  const mostly = <T>(xs: T[]): T => (r() < 0.93 ? xs[0]! : pick(xs));
  const num = () => numberText(r);
  const model = pick([
    'credit-risk',
    'credit-risk',
    'credit-risk',
    'flags',
    'flags',
    'with-pii',
    'nope',
  ]);
  const members: string[] = [];
  members.push(`"model":"${model}"`);
  members.push(
    `"version":${mostly(['"3"', '"3"', '"v1.2"', '7', '""', 'null', `"${'v'.repeat(128)}"`, `"${'v'.repeat(129)}"`])}`,
  );
  members.push(
    `"id":${mostly(['"p-1"', '"p-1"', '"x"', '12', '""', `"${'i'.repeat(512)}"`, `"${'i'.repeat(513)}"`, '"a\\"b"', '"ü"', '"\\ud800"', '"\\ud83d\\ude00"'])}`,
  );
  members.push(
    `"ts":${mostly([
      '"2026-11-22T10:00:00.123Z"',
      '"2026-11-22T10:00:00Z"',
      '"2026-11-22T10:00:00.1Z"',
      '"2024-02-29T23:59:59.99Z"',
      '"2023-02-29T00:00:00Z"',
      '"2026-11-22T10:00:00+01:00"',
      '"0099-01-01T00:00:00Z"',
      '"2400-01-01T00:00:00Z"',
      '"yesterday"',
      '1795357902348',
      '-1',
      '1.5',
      // The store's range, epoch seconds, and the live clock's skew (see LIVE).
      '"1899-12-31T23:59:59.999Z"',
      '"1900-01-01T00:00:00Z"',
      '"2299-12-31T23:59:59.999Z"',
      '"2299-12-31T23:00:00Z"',
      '1795341600',
      '99999999999',
      '100000000000',
      `"${new Date(LIVE_NOW + 3_600_000).toISOString()}"`,
      `"${new Date(LIVE_NOW + 3_600_001).toISOString()}"`,
      String(LIVE_NOW + 3_600_000),
      String(LIVE_NOW + 3_600_001),
    ])}`,
  );
  const features =
    model === 'flags'
      ? [
          `"active":${mostly(['true', 'false', '"yes"', '1', 'null'])}`,
          `"score":${mostly([num(), num(), 'null', '"3"', 'true'])}`,
        ]
      : [
          `"income":${mostly([num(), num(), num(), 'null', '"high"', '[1]'])}`,
          `"age":${mostly([num(), 'null', '1e400', '-0', '01', '1.', '.5', '-'])}`,
          `"region":${mostly(['"EU"', '"EU"', '"Zürich"', 'true', '12', 'null', '{}', '"a\\u0041"', `"${'r'.repeat(256)}"`, `"${'r'.repeat(257)}"`])}`,
        ];
  if (r() < 0.2) features.push(`"extra":${pick(['"kept"', '1', 'null', '[1]', '{"a":1}'])}`);
  // Members no window reads, repeated now and then (duplicate_key on both paths).
  if (r() < 0.1) features.push(`"extra":${pick(['"again"', '2', `"${'e'.repeat(300)}"`])}`);
  if (r() < 0.03) for (let i = 0; i < 33; i++) features.push(`"x${i}":${i}`);
  if (r() < 0.1) features.splice(Math.floor(r() * features.length), 1); // one absent
  if (r() < 0.1) features.reverse();
  if (r() < 0.05) features.push(features[0]!); // a duplicate
  members.push(`"features":{${features.join(',')}}`);
  const predKey = model === 'flags' ? 'label_pred' : 'prediction';
  if (r() < 0.9) {
    members.push(
      `"${predKey}":${mostly([num(), num(), 'null', '"cat"', 'false', `"${'c'.repeat(256)}"`, `"${'c'.repeat(257)}"`])}`,
    );
  }
  if (r() < 0.1) members.push(`"note":${pick(['"x"', '{"a":1}', '[]', 'true', '{"a":1,"a":2}'])}`);
  if (r() < 0.05) members.push(`"note":${pick(['"y"', '2'])}`);
  if (r() < 0.1) members.splice(Math.floor(r() * members.length), 1); // a member missing
  if (r() < 0.1) members.reverse(); // features before the model, prediction first, …
  const ws = () => pick(['', '', '', ' ', '\n', '\t ']);
  let text = `{${ws()}${members.join(`${ws()},${ws()}`)}${ws()}}`;
  if (r() < 0.03) text = text.slice(0, Math.floor(r() * text.length)); // truncated
  if (r() < 0.03) text += pick([' ', 'x', '}', '\n']);
  return text;
}

describe('decode thread scanner', () => {
  it.each([
    ['replay (any storable time)', opts],
    ['a live source (clock and skew)', liveOpts],
  ])(
    'gives answers identical byte for byte to the general path (20 000 generated messages), %s',
    (_, o) => {
      const r = rng(20261122);
      const values: Array<Buffer | null> = [];
      for (let i = 0; i < 20_000; i++) values.push(Buffer.from(message(r)));
      values.push(null, Buffer.alloc(0), Buffer.alloc(MAX + 1, 0x20));
      const packed = () => packValues(values);
      const fast = Buffer.from(decodePacked(packed(), list, o, MAX, true));
      const general = Buffer.from(decodePacked(packed(), list, o, MAX, false));
      expect(fast.equals(general)).toBe(true);
      // Every rule of "accepted means storable" came up and was decided the same way.
      const reasons = new Set(
        readDecoded(general, values, list).flatMap((d) => (d !== null && !d.ok ? [d.reason] : [])),
      );
      for (const reason of [
        'ts_out_of_range',
        'ts_epoch_seconds',
        'too_long',
        'duplicate_key',
        'lone_surrogate',
        ...(o === liveOpts ? ['ts_in_future'] : []),
      ]) {
        expect(reasons, reason).toContain(reason);
      }
      // Both paths were exercised: the scanner took a good share and left the rest.
      const scanner = new EventScanner(list);
      const taken = values.filter((v) => v !== null && v.length <= MAX && scanner.scan(v)).length;
      expect(taken).toBeGreaterThan(2_000);
      expect(taken).toBeLessThan(values.length - 2_000);
    },
  );

  it('reads every number as the double JSON.parse makes of it', () => {
    const r = rng(7);
    const scanner = new EventScanner(list);
    let checked = 0;
    for (let i = 0; i < 100_000; i++) {
      const text = numberText(r);
      const value = Buffer.from(
        `{"model":"credit-risk","version":"1","id":"a","ts":1795341600000,"features":{"income":${text}}}`,
      );
      expect(scanner.scan(value), text).toBe(true);
      expect(scanner.kinds[0]).toBe(V_NUMBER);
      const got = scanner.nums[0]!;
      const want = JSON.parse(text) as number;
      if (!Object.is(got, want)) expect(`${text} → ${got}`).toBe(`${text} → ${want}`);
      checked++;
    }
    // Hard cases: ties and neighbours of ties, the limits, exact powers.
    for (const text of [
      '9007199254740993',
      '9007199254740992.5',
      '0.1',
      '0.30000000000000004',
      '1.7976931348623157e308',
      '5e-324',
      '2.2250738585072014e-308',
      '123456789012345678',
      '1e22',
      '1e23',
      '-0',
      '0.0',
      '1E5',
      '-1.5e+3',
      '2.0000000000000004',
      '0.50000000000000011',
      '1.0000000000000002220446049250313080847263336181640625',
      // Digits across the stages of the reader (9 high, 8 low, the rest), in either part.
      '0.000000000000000000001234567890123456789',
      '12345678901234567890.123',
      '1234567890.1234567890123',
      '123456789.12345678',
      '-0.00012345678901234567e-5',
    ]) {
      const value = Buffer.from(
        `{"model":"credit-risk","version":"1","id":"a","ts":1795341600000,"features":{"income":${text}}}`,
      );
      expect(scanner.scan(value), text).toBe(true);
      expect(Object.is(scanner.nums[0], JSON.parse(text)), text).toBe(true);
      checked++;
    }
    expect(checked).toBe(100_022);
  });

  it('takes the plain shape and leaves what the general path must decide', () => {
    const scanner = new EventScanner(list);
    const plain = decodeTestEvent();
    expect(scanner.scan(Buffer.from(JSON.stringify(plain)))).toBe(true);
    expect(scanner.ts).toBe(Date.parse('2026-11-22T10:00:00.123Z'));
    for (const left of [
      { ...plain, model: 'with-pii' }, // hashed by the general path
      { ...plain, id: 5 }, // a number id becomes a string there
      { ...plain, features: { ...plain.features, region: 'Zürich' } }, // not ASCII
      { ...plain, features: { ...plain.features, income: 'high' } }, // rejected there
      { ...plain, ts: '2400-01-01T00:00:00Z' }, // rejected there
      { features: plain.features, model: plain.model, version: '3', id: 'p-1', ts: 1795341600000 }, // features first
    ]) {
      expect(scanner.scan(Buffer.from(JSON.stringify(left))), JSON.stringify(left)).toBe(false);
    }
    expect(scanner.scan(Buffer.from('{"model":"credit-risk","model":"flags"}'))).toBe(false);
    // Members it does not read are still read once per object: up to 32 of them it tracks.
    const others = (n: number) =>
      Object.fromEntries(Array.from({ length: n }, (_, i) => [`x${i}`, i] as const));
    const many = { ...plain, features: { ...plain.features, ...others(31) } };
    expect(scanner.scan(Buffer.from(JSON.stringify(many)))).toBe(true);
    const text = JSON.stringify(plain);
    expect(scanner.scan(Buffer.from(text.replace('"extra":', '"extra":1,"extra":')))).toBe(false);
    expect(scanner.scan(Buffer.from(text.replace('"model":', '"note":1,"note":2,"model":')))).toBe(
      false,
    );
    // A live clock: the skew bounds the time; without one (replay), the store's range does.
    const ahead = Buffer.from(JSON.stringify({ ...plain, ts: '2299-12-31T23:00:00Z' }));
    expect(scanner.scan(ahead)).toBe(true);
    expect(scanner.scan(ahead, { now: LIVE_NOW, maxFutureSkewMs: 3_600_000 })).toBe(false);
  });
});
