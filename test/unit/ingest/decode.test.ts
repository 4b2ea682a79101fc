import { describe, expect, it } from 'vitest';
import {
  decodeLabel,
  decodePrediction,
  parseJson,
  parseTimestamp,
  repeatedKey,
  TextItem,
} from '../../../src/ingest/decode.js';
import { createPiiKey, piiTransform } from '../../../src/privacy/pii.js';
import { decodeTestEvent, testModel } from '../../helpers/model.js';

// `email` is not a feature: an unlisted field, kept (hashed) because the model keeps them.
const model = testModel({ piiFields: ['email'], storeUnlistedFields: true });
const piiKey = createPiiKey('k'.repeat(32));
/** An epoch-milliseconds time (2026-11-22T10:00:00Z). */
const T = 1_795_341_600_000;
const opts = { models: new Map([[model.id, model]]), piiKey };
const good = {
  model: 'credit-risk',
  version: '3',
  id: 'p-1',
  ts: '2026-11-22T10:00:00.123Z',
  features: { income: 52000, age: null, region: 'EU', email: 'a@b.c' },
  prediction: 0.83,
};

describe('decodePrediction', () => {
  it('accepts the contract example and parses the timestamp to epoch ms', () => {
    const d = decodePrediction(good, opts);
    expect(d.ok).toBe(true);
    if (!d.ok) return;
    expect(d.value.ts).toBe(Date.UTC(2026, 10, 22, 10, 0, 0, 123));
    expect(d.value.features.income).toBe(52000);
    expect(d.value.features.age).toBeNull();
    expect(d.value.prediction).toBe(0.83);
  });

  it('hashes configured PII fields deterministically and never keeps the clear value', () => {
    const d = decodePrediction(good, opts);
    if (!d.ok) throw new Error('expected ok');
    expect(d.value.features.email).toBe(piiTransform('a@b.c', piiKey));
    expect(JSON.stringify(d.value)).not.toContain('a@b.c');
  });

  it.each([
    [{ ...good, model: 'other' }, 'unknown_model', 'model "other" is not configured'],
    [{ ...good, id: undefined }, 'missing_field', 'missing required field "id"'],
    [{ ...good, ts: '2026-11-22 10:00' }, 'bad_timestamp', '"ts" must be ISO-8601'],
    [{ ...good, ts: '2026-11-22T10:00:00' }, 'bad_timestamp', 'with a zone'],
    [{ ...good, features: { income: 'abc' } }, 'wrong_type', 'features.income must be a number'],
    [{ ...good, features: { income: Number.NaN } }, 'non_finite', 'features.income is NaN'],
    [{ ...good, features: { income: Number.POSITIVE_INFINITY } }, 'non_finite', 'Infinity'],
    [{ ...good, features: { region: { a: 1 } } }, 'wrong_type', 'features.region must be a string'],
    [{ ...good, features: [1, 2] }, 'wrong_type', '"features" must be an object'],
    [{ ...good, prediction: 'high' }, 'wrong_type', 'prediction must be a number'],
    [[good], 'not_an_object', 'must be a JSON object, got an array'],
  ])('rejects %j with reason %s', (raw, reason, message) => {
    const d = decodePrediction(raw, opts);
    expect(d.ok).toBe(false);
    if (d.ok) return;
    expect(d.reason).toBe(reason);
    expect(d.message).toContain(message);
  });
});

describe('ids and versions sent as JSON numbers', () => {
  it('are taken when a double holds them exactly (safe integers), else wrong_type: no two ids collide, no version reads as another', () => {
    const pred = (over: Record<string, unknown>) => decodePrediction({ ...good, ...over }, opts);
    expect(pred({ id: 42, version: 3 })).toMatchObject({
      ok: true,
      value: { id: '42', version: '3' },
    });
    expect(pred({ id: 2 ** 53 - 1 })).toMatchObject({
      ok: true,
      value: { id: '9007199254740991' },
    });
    // JSON.parse reads 12345678901234567890 and ...891 as the same double.
    const big = JSON.parse('{"id":12345678901234567890}') as { id: number };
    for (const over of [{ id: big.id }, { id: 2 ** 53 }, { id: 1.5 }, { version: 3.1 }]) {
      expect(pred(over), JSON.stringify(over)).toMatchObject({ ok: false, reason: 'wrong_type' });
    }
    expect(decodeLabel({ model: 'credit-risk', id: big.id, ts: T, label: 1 }, opts)).toMatchObject({
      ok: false,
      reason: 'wrong_type',
      message: expect.stringContaining('send it as a string'),
    });
  });
});

describe('decodeLabel', () => {
  it('accepts a numeric label and maps booleans to 0/1', () => {
    const a = decodeLabel({ model: 'credit-risk', id: 'p-1', ts: T, label: 1 }, opts);
    const b = decodeLabel({ model: 'credit-risk', id: 'p-1', ts: T, label: false }, opts);
    expect(a).toEqual({ ok: true, value: { model: 'credit-risk', id: 'p-1', ts: T, label: 1 } });
    expect(b.ok && b.value.label).toBe(0);
  });

  it('rejects a label without a value, naming the field', () => {
    const d = decodeLabel({ model: 'credit-risk', id: 'p-1', ts: T }, opts);
    expect(d).toMatchObject({
      ok: false,
      reason: 'missing_field',
      message: 'missing required field "label"',
    });
  });
});

describe('parseJson / parseTimestamp', () => {
  it('rejects oversized and malformed input with a reason', () => {
    expect(parseJson('{"a":1}', 3)).toMatchObject({ ok: false, reason: 'oversized' });
    expect(parseJson('{"a":', 100)).toMatchObject({ ok: false, reason: 'invalid_json' });
  });
  it('accepts epoch ms and zoned ISO, rejects negative and garbage', () => {
    expect(parseTimestamp(1_700_000_000_000)).toBe(1_700_000_000_000);
    expect(parseTimestamp('2026-11-22T10:00:00+01:00')).toBe(Date.UTC(2026, 10, 22, 9));
    expect(parseTimestamp(-1)).toBeUndefined();
    expect(parseTimestamp('yesterday')).toBeUndefined();
  });
  it('rejects days its month does not have (Date.parse would roll them over into the next month)', () => {
    for (const bad of [
      '2026-02-29T10:00:00Z',
      '2026-02-30T10:00:00Z',
      '2026-04-31T10:00:00Z',
      '1900-02-29T00:00:00Z',
      '2026-11-31T00:00:00+01:00',
    ]) {
      expect(parseTimestamp(bad), bad).toBeUndefined();
    }
    expect(parseTimestamp('2024-02-29T10:00:00Z')).toBe(Date.UTC(2024, 1, 29, 10));
    expect(parseTimestamp('2000-02-29T00:00:00Z')).toBe(Date.UTC(2000, 1, 29));
    expect(parseTimestamp('2026-12-31T23:59:59Z')).toBe(Date.UTC(2026, 11, 31, 23, 59, 59));
  });
  it('the same text twice in a row gives the same answer (the last one is remembered)', () => {
    const texts = [
      '2026-11-22T10:00:00.123Z',
      '2026-11-22T10:00:00.123Z',
      '2026-11-22T10:00:00',
      '2026-11-22T10:00:00',
      '2026-11-22T10:00:00.124Z',
      '2026-11-22T10:00:00.124+00:00',
      '2026-11-22T10:00:00.124+00:00',
      '2026-13-45T10:00:00Z',
      '2026-13-45T10:00:00Z',
    ];
    expect(texts.map((t) => parseTimestamp(t))).toEqual([
      Date.UTC(2026, 10, 22, 10, 0, 0, 123),
      Date.UTC(2026, 10, 22, 10, 0, 0, 123),
      undefined, // no zone
      undefined,
      Date.UTC(2026, 10, 22, 10, 0, 0, 124),
      Date.UTC(2026, 10, 22, 10, 0, 0, 124),
      Date.UTC(2026, 10, 22, 10, 0, 0, 124),
      undefined, // no such date
      undefined,
    ]);
  });
});

describe('the received text (raw)', () => {
  it('rides along only when no PII field is hashed', () => {
    const text = JSON.stringify(good);
    const withPii = decodePrediction(new TextItem(JSON.parse(text), text), opts);
    expect(withPii.ok).toBe(true);
    expect(withPii.ok && withPii.value.raw).toBeUndefined();
    const plain = testModel({ storeUnlistedFields: true });
    const d = decodePrediction(new TextItem(JSON.parse(text), text), {
      models: new Map([[plain.id, plain]]),
    });
    expect(d.ok && d.value.raw).toBe(text);
    // A plain object (no text at hand) has none.
    const o = decodePrediction(good, { models: new Map([[plain.id, plain]]) });
    expect(o.ok && o.value.raw).toBeUndefined();
  });
});

// --- accepted means storable (see RejectReason in decode.ts, src/limits.ts) ----------------------

/** The reason of a rejection, or 'ok'. */
const outcome = (d: { ok: true } | { ok: false; reason: string }) => (d.ok ? 'ok' : d.reason);
const label = (over: Record<string, unknown>) => ({
  model: 'credit-risk',
  id: 'p-1',
  ts: T,
  label: 1,
  ...over,
});
/** A live source's options: the clock at T, events at most an hour ahead. */
const live = { ...opts, live: { now: () => T, maxFutureSkewMs: 3_600_000 } };
const item = (text: string) => new TextItem(JSON.parse(text), text);

describe('event times the store cannot hold', () => {
  it('before 1900 or after 2299 are rejected as ts_out_of_range, predictions and labels', () => {
    for (const ts of [
      '1899-12-31T23:59:59Z',
      '0099-01-01T00:00:00Z',
      '2300-01-01T00:00:00Z',
      1e16,
    ]) {
      const d = decodePrediction({ ...good, ts }, opts);
      expect(outcome(d), String(ts)).toBe('ts_out_of_range');
      if (!d.ok) expect(d.message).toMatch(/(before 1900-01-01|after 2299-12-31)T/);
      expect(outcome(decodeLabel(label({ ts }), opts)), String(ts)).toBe('ts_out_of_range');
    }
    expect(decodePrediction({ ...good, ts: '1899-12-31T23:59:59Z' }, opts)).toMatchObject({
      message:
        '"ts" "1899-12-31T23:59:59Z" is before 1900-01-01T00:00:00.000Z, the earliest time driftd can store',
    });
    expect(decodePrediction({ ...good, ts: T * 1000 }, opts)).toMatchObject({
      message: expect.stringContaining(
        '(epoch microseconds? ts must be epoch milliseconds or ISO 8601)',
      ),
    });
    for (const ts of ['1900-01-01T00:00:00Z', '2299-12-31T23:59:59.999Z']) {
      expect(outcome(decodePrediction({ ...good, ts }, opts)), ts).toBe('ok');
      expect(outcome(decodeLabel(label({ ts }), opts)), ts).toBe('ok');
    }
  });

  it('numeric times below 1e11 are taken for epoch seconds (ts_epoch_seconds)', () => {
    for (const ts of [1_795_341_600, 0, 99_999_999_999, 1.5]) {
      const d = decodePrediction({ ...good, ts }, opts);
      expect(outcome(d), String(ts)).toBe('ts_epoch_seconds');
      if (!d.ok)
        expect(d.message).toContain('epoch seconds? ts must be epoch milliseconds or ISO 8601');
      expect(outcome(decodeLabel(label({ ts }), opts)), String(ts)).toBe('ts_epoch_seconds');
    }
    expect(outcome(decodePrediction({ ...good, ts: 1e11 }, opts))).toBe('ok');
    expect(outcome(decodePrediction({ ...good, ts: T }, opts))).toBe('ok');
    // An ISO time before 1973 is fine: the rule is about numbers only.
    expect(outcome(decodePrediction({ ...good, ts: '1970-01-01T00:00:00Z' }, opts))).toBe('ok');
  });

  it('live sources reject predictions more than maxFutureSkew ahead of the clock; replay takes them', () => {
    const iso = (ms: number) => new Date(ms).toISOString();
    expect(outcome(decodePrediction({ ...good, ts: iso(T + 3_600_000) }, live))).toBe('ok');
    expect(outcome(decodePrediction({ ...good, ts: T + 3_600_001 }, live))).toBe('ts_in_future');
    const far = decodePrediction({ ...good, ts: '2299-12-31T23:00:00Z' }, live);
    expect(far).toMatchObject({ ok: false, reason: 'ts_in_future' });
    if (!far.ok) {
      expect(far.message).toContain("ahead of driftd's clock (2026-11-22T10:00:00.000Z)");
      expect(far.message).toContain('at most 1h ahead (ingest.maxFutureSkew)');
    }
    // Replay: any storable time.
    expect(outcome(decodePrediction({ ...good, ts: '2299-12-31T23:00:00Z' }, opts))).toBe('ok');
    // Labels move no watermark: only the storable range applies to them.
    expect(outcome(decodeLabel(label({ ts: '2299-12-31T23:00:00Z' }), live))).toBe('ok');
    // A label without a time is stamped with the live clock.
    expect(decodeLabel(label({ ts: undefined }), live)).toMatchObject({
      ok: true,
      value: { ts: T },
    });
  });
});

describe('length limits (src/limits.ts)', () => {
  it('reject model, version, id, label id, categories and string labels over their limit as too_long', () => {
    const long = (n: number) => 'x'.repeat(n);
    const cases: Array<[string, () => { ok: boolean }, () => { ok: boolean }]> = [
      [
        'version',
        () => decodePrediction({ ...good, version: long(128) }, opts),
        () => decodePrediction({ ...good, version: long(129) }, opts),
      ],
      [
        'id',
        () => decodePrediction({ ...good, id: long(512) }, opts),
        () => decodePrediction({ ...good, id: long(513) }, opts),
      ],
      [
        'label id',
        () => decodeLabel(label({ id: long(512) }), opts),
        () => decodeLabel(label({ id: long(513) }), opts),
      ],
      [
        'category',
        () => decodePrediction({ ...good, features: { region: long(256) } }, opts),
        () => decodePrediction({ ...good, features: { region: long(257) } }, opts),
      ],
      [
        'string label',
        () => decodeLabel(label({ label: long(256) }), opts),
        () => decodeLabel(label({ label: long(257) }), opts),
      ],
    ];
    for (const [what, within, over] of cases) {
      expect(outcome(within() as never), what).toBe('ok');
      expect(outcome(over() as never), what).toBe('too_long');
    }
    // A model id is at most 64 characters (the config's limit): a longer one is named too long,
    // not echoed whole as an unknown model.
    expect(outcome(decodePrediction({ ...good, model: long(65) }, opts))).toBe('too_long');
    expect(outcome(decodeLabel(label({ model: long(65) }), opts))).toBe('too_long');
    expect(outcome(decodePrediction({ ...good, model: long(64) }, opts))).toBe('unknown_model');
    const d = decodePrediction({ ...good, features: { region: long(300) } }, opts);
    expect(d).toMatchObject({
      message: 'features.region is a string of 300 characters, the limit for a category is 256',
    });
    // A categorical prediction is a category too.
    const flags = testModel({
      id: 'flags',
      prediction: { field: 'prediction', type: 'categorical' },
    });
    const withFlags = { models: new Map([[flags.id, flags]]) };
    expect(
      outcome(decodePrediction({ ...good, model: 'flags', prediction: long(257) }, withFlags)),
    ).toBe('too_long');
    // A field no window reads is kept in the raw record only: no category limit.
    expect(outcome(decodePrediction({ ...good, features: { note: long(5000) } }, opts))).toBe('ok');
  });
});

describe('nesting and exceptions', () => {
  const nested = (n: number) => `${'['.repeat(n)}${']'.repeat(n)}`;
  const withExtra = (extra: string) => {
    const full = JSON.stringify(decodeTestEvent());
    return `${full.slice(0, -1)},"extra2":${extra}}`;
  };

  it('rejects items nested deeper than the store reads (too_deep), texts and parsed values, without a stack overflow', () => {
    expect(outcome(decodePrediction(item(withExtra(nested(500))), opts))).toBe('ok');
    for (const n of [1001, 5000, 50_000]) {
      const text = withExtra(nested(n));
      expect(outcome(decodePrediction(item(text), opts)), `${n} deep, text`).toBe('too_deep');
      // A JSON array body is parsed whole: the item comes as a value.
      expect(outcome(decodePrediction(JSON.parse(text), opts)), `${n} deep, value`).toBe(
        'too_deep',
      );
      const label = `{"model":"credit-risk","id":"a","label":1,"x":${nested(n)}}`;
      expect(outcome(decodeLabel(item(label), opts)), `${n} deep, label`).toBe('too_deep');
    }
  });

  it('an exception while decoding rejects that one item (undecodable), it never escapes', () => {
    const hostile = {
      model: 'credit-risk',
      get version(): string {
        throw new RangeError('boom');
      },
    };
    const d = decodePrediction(hostile, opts);
    expect(d).toMatchObject({ ok: false, reason: 'undecodable' });
    if (!d.ok) expect(d.message).toContain('RangeError: boom');
  });
});

describe('one rule for repeated keys and lone surrogates', () => {
  it('rejects a repeated key anywhere in an event or label text (duplicate_key), naming it', () => {
    const full = JSON.stringify(decodeTestEvent());
    const event = full.slice(0, -1);
    for (const [text, key] of [
      [`${event},"prediction":0.1}`, 'prediction'],
      [full.replace('"income":', '"income":1,"income":'), 'income'],
      [full.replace('"extra":', '"extra":1,"extra":'), 'extra'], // a field no window reads
      [`${event},"meta":{"a":1,"b":[{"c":1,"c":2}]}}`, 'c'], // at any depth
      [full.replace('"income":', '"\\u0069ncome":1, "income" :'), 'income'], // spelled apart
      [full.replace('"id":"p-1"', '"id":"p-\\"1","id":"p-1"'), 'id'], // escapes in the text
    ] as const) {
      const d = decodePrediction(item(text), opts);
      expect(d, text).toMatchObject({ ok: false, reason: 'duplicate_key' });
      if (!d.ok) expect(d.message).toContain(`key "${key}" appears twice in one object`);
    }
    const l = decodeLabel(item('{"model":"credit-risk","id":"a","id":"b","label":1}'), opts);
    expect(outcome(l)).toBe('duplicate_key');
    // The same key in different objects, and texts that only look like keys, are fine.
    for (const text of [
      `${event},"meta":{"income":1,"features":{"income":2}}}`,
      full.replace('"id":"p-1"', '"id":"a\\":\\"b\\":1,\\"id\\":"'),
      full.replace('"extra":"kept in raw"', '"extra":"\\"income\\":1"'),
      `${event} , "a" : { "b" : 1 } , "b" : [ "b" , "b" ] }`,
    ]) {
      expect(outcome(decodePrediction(item(text), opts)), text).toBe('ok');
    }
  });

  it('agrees with a key-by-key walk on generated texts (the fast count has no blind spot)', () => {
    let s = 1;
    const r = () => {
      s = (s * 48271) % 2147483647;
      return s / 2147483647;
    };
    const pick = <T>(xs: readonly T[]): T => xs[Math.floor(r() * xs.length)]!;
    const value = (depth: number): string => {
      const k = r();
      if (depth < 3 && k < 0.15) return object(depth + 1);
      if (depth < 3 && k < 0.25)
        return `[${Array.from({ length: Math.floor(r() * 3) }, () => value(depth + 1)).join(',')}]`;
      return pick([
        '1',
        '"a"',
        '"b:"',
        '"\\"a\\":"',
        'null',
        'true',
        '"\\u0061"',
        '""',
        '"x\\\\"', // ends with a backslash: the quote after it closes the string
        '"\\\\\\"\\\\"',
      ]);
    };
    const object = (depth: number): string => {
      const n = Math.floor(r() * 5);
      const keys = Array.from({ length: n }, () =>
        pick(['a', 'b', 'c', '\\u0061', 'a\\"', 'a\\\\', 'model']),
      );
      return `{${keys.map((k) => `"${k}"${pick(['', ' '])}:${value(depth)}`).join(',')}}`;
    };
    let repeats = 0;
    for (let i = 0; i < 3000; i++) {
      const text = object(0);
      const walk = repeatedKey(text) !== undefined;
      const d = decodeLabel(item(text), opts);
      expect(d.ok === false && d.reason === 'duplicate_key', text).toBe(walk);
      if (walk) repeats++;
    }
    expect(repeats).toBeGreaterThan(500);
    expect(repeats).toBeLessThan(2500);
  });

  it('rejects a lone surrogate in any string, key or value, text or object (lone_surrogate)', () => {
    const event = JSON.stringify(decodeTestEvent());
    for (const text of [
      event.replace('"p-1"', '"p-\\ud800"'),
      event.replace('"EU"', '"E\\udc00U"'),
      event.replace('"extra"', '"ex\\ud83dtra"'), // a key
      event.replace('"kept in raw"', '"\\ude00\\ud83d"'), // a pair in the wrong order
    ]) {
      expect(decodePrediction(item(text), opts), text).toMatchObject({
        ok: false,
        reason: 'lone_surrogate',
      });
    }
    expect(decodePrediction({ ...good, id: 'p-\ud800' }, opts)).toMatchObject({
      reason: 'lone_surrogate',
      message: expect.stringContaining('"p-\\ud800" holds a lone UTF-16 surrogate'),
    });
    expect(outcome(decodeLabel(label({ id: '\ud800' }), opts))).toBe('lone_surrogate');
    expect(
      outcome(decodeLabel(item('{"model":"credit-risk","id":"\\ud800","label":1}'), opts)),
    ).toBe('lone_surrogate');
    // Pairs, as escapes or as text, are fine.
    expect(
      outcome(decodePrediction(item(event.replace('"p-1"', '"p-\\ud83d\\ude00"')), opts)),
    ).toBe('ok');
    expect(outcome(decodePrediction({ ...good, id: 'p-😀' }, opts))).toBe('ok');
  });
});
