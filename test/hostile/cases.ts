/**
 * The hostile-input catalogue shared by the HTTP and Kafka suites: every item an attacker (or a
 * broken producer) might send, as the bytes of one item (an NDJSON line, a Kafka value), with
 * what driftd must make of it on each source: accepted (and, for a plain event of the
 * monitored version, counted into its window), or rejected with a named reason.
 *
 * Deterministic: every random choice comes from a seeded generator (test/helpers/random.ts).
 */
import { mulberry32 } from '../helpers/random.js';

/** Models every hostile suite configures. */
export const FLOOD = 'flood';
export const CALM = 'calm';
/** The monitored version (has a baseline); any other version is stored, not evaluated. */
export const VERSION = '1';
export const CATEGORIES = ['EU', 'US', 'APAC', 'LATAM'];

/** What a source must make of an item. */
export type Outcome =
  /** Accepted; counted into its window when `counts` (a plain event of VERSION, on time). */
  | 'accepted'
  /** Rejected with any reason (the reason's name is another branch's choice). */
  | 'rejected'
  /** Rejected with exactly this reason. */
  | { reason: string };

export interface Item {
  /** Event time of the item when accepted (window it counts into). */
  ts: number;
  id: string;
}

export interface ItemCase {
  name: string;
  kind: 'prediction' | 'label';
  /** The item's bytes (no newline inside) for a unique id and an event time. */
  make(item: Item): string | Buffer;
  /** As an NDJSON line of a POST body (not first); null: not sent over HTTP. */
  ndjson: Outcome | null;
  /** As an element of a JSON array body; null: not JSON, or refused whole (see body cases). */
  array: Outcome | null;
  /** As a Kafka message value on the predictions/labels topic; null: not sent there. */
  kafka: Outcome | null;
  /** An accepted prediction that counts into FLOOD/VERSION's window of `ts`. */
  counts?: boolean;
  /** An accepted prediction two hours behind its stream: stored, counted late, in no window. */
  late?: boolean;
  /** Large items: sent a few times per batch, not in proportion. */
  heavy?: boolean;
  /** Kafka message extras: key and headers (the value stays `make`'s). */
  kafkaKey?: Buffer | string | null;
  kafkaHeaders?: Record<string, string | Buffer | Array<string | Buffer>>;
  /** Kafka: the value is null (a tombstone). */
  tombstone?: boolean;
}

const iso = (ms: number) => new Date(ms).toISOString();

/** A plain prediction of FLOOD (object, not yet text), overridable field by field. */
export function prediction(
  it: Item,
  over: Record<string, unknown> = {},
  features: Record<string, unknown> = {},
): Record<string, unknown> {
  const h = hash(it.id);
  return {
    model: FLOOD,
    version: VERSION,
    id: it.id,
    ts: iso(it.ts),
    features: { n: (h % 1000) / 10, c: CATEGORIES[h % CATEGORIES.length], ...features },
    prediction: (h % 100) / 100,
    ...over,
  };
}

/** A small stable hash of a string (feature values derived from the id: deterministic). */
export function hash(s: string): number {
  let h = 2166136261;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 16777619);
  return h >>> 0;
}

const J = JSON.stringify;
/** The plain prediction's text with `from` replaced by `to` (for what JSON.stringify cannot write). */
const edit = (it: Item, from: string, to: string) => {
  const text = J(prediction(it));
  if (!text.includes(from)) throw new Error(`case text lacks ${from}`);
  return text.replace(from, to);
};
const nested = (depth: number, open: string, close: string, inner = '1') =>
  open.repeat(depth) + inner + close.repeat(depth);

const ok: Outcome = 'accepted';
const r = (reason: string): Outcome => ({ reason });

/** The same outcome on every source. */
function all(o: Outcome): Pick<ItemCase, 'ndjson' | 'array' | 'kafka'> {
  return { ndjson: o, array: o, kafka: o };
}

const pred = (
  name: string,
  make: ItemCase['make'],
  outcomes: Pick<ItemCase, 'ndjson' | 'array' | 'kafka'>,
  extra: Partial<ItemCase> = {},
): ItemCase => ({ name, kind: 'prediction', make, ...outcomes, ...extra });

/** The clock live sources check `ts` against (ts_in_future). */
const NOW = Date.now();

export const PREDICTION_CASES: ItemCase[] = [
  // --- valid: accepted and counted -----------------------------------------------------------
  pred('valid: plain', (it) => J(prediction(it)), all(ok), { counts: true }),
  pred('valid: ts as epoch milliseconds', (it) => J(prediction(it, { ts: it.ts })), all(ok), {
    counts: true,
  }),
  pred(
    'valid: ts with a +05:30 offset',
    (it) => {
      const d = new Date(it.ts + 5.5 * 3_600_000).toISOString().replace('Z', '+05:30');
      return J(prediction(it, { ts: d }));
    },
    all(ok),
    { counts: true },
  ),
  pred(
    'valid: ts with 30 fraction digits',
    (it) => J(prediction(it, { ts: iso(it.ts).replace('Z', '000000000000000000000000000Z') })),
    all(ok),
    { counts: true },
  ),
  pred(
    'valid: Unicode category (umlauts, CJK, emoji)',
    (it) => J(prediction(it, {}, { c: 'Ünïcødé-東京-😀' })),
    all(ok),
    { counts: true },
  ),
  pred(
    'valid: category with an escaped surrogate pair',
    (it) => edit(it, '"c":"', '"c":"\\ud83d\\ude00'),
    all(ok),
    { counts: true },
  ),
  pred(
    'valid: category with an escaped NUL (\\u0000)',
    (it) => J(prediction(it, {}, { c: 'a\u0000b' })),
    all(ok),
    { counts: true },
  ),
  pred('valid: empty category string', (it) => J(prediction(it, {}, { c: '' })), all(ok), {
    counts: true,
  }),
  pred('valid: boolean category', (it) => J(prediction(it, {}, { c: true })), all(ok), {
    counts: true,
  }),
  pred('valid: numeric category', (it) => J(prediction(it, {}, { c: 7 })), all(ok), {
    counts: true,
  }),
  pred(
    'valid: id and version as JSON numbers',
    (it) =>
      J(prediction(it, { id: hash(it.id) })).replace(
        `"version":"${VERSION}"`,
        `"version":${VERSION}`,
      ),
    all(ok),
    { counts: true },
  ),
  pred('valid: numeric -0', (it) => edit(it, '"n":', '"n":-0,"n0":'), all(ok), { counts: true }),
  pred(
    'valid: numeric 1e-400 (underflows to 0)',
    (it) => edit(it, '"n":', '"n":1e-400,"n0":'),
    all(ok),
    {
      counts: true,
    },
  ),
  pred('valid: numeric 5e-324 (subnormal)', (it) => edit(it, '"n":', '"n":5e-324,"n0":'), all(ok), {
    counts: true,
  }),
  pred(
    'valid: numeric 1.7976931348623157e308 (largest double)',
    (it) => edit(it, '"n":', '"n":1.7976931348623157e308,"n0":'),
    all(ok),
    { counts: true },
  ),
  pred(
    'valid: numeric feature null (missing)',
    (it) => J(prediction(it, {}, { n: null })),
    all(ok),
    {
      counts: true,
    },
  ),
  pred(
    'valid: no prediction field',
    (it) => J(prediction(it, { prediction: undefined })),
    all(ok),
    {
      counts: true,
    },
  ),
  pred(
    'valid: 200 unmonitored fields and top-level extras',
    (it) =>
      J({
        ...prediction(
          it,
          {},
          Object.fromEntries(
            Array.from({ length: 200 }, (_, k) => [`extra${k}`, k % 3 ? k : `v${k}`]),
          ),
        ),
        trace: { span: 'x', depth: [1, [2, [3]]] },
        note: 'top-level extras are ignored',
      }),
    all(ok),
    { counts: true },
  ),
  pred(
    'valid: "__proto__" as a top-level key',
    (it) => edit(it, '{"model"', `{"__proto__":{"model":"evil","polluted":true},"model"`),
    // A JSON body with __proto__ is refused whole (body cases).
    { ndjson: ok, array: null, kafka: ok },
    { counts: true },
  ),
  pred(
    'valid: "__proto__" as an unmonitored feature with a scalar',
    (it) => edit(it, '"n":', '"__proto__":"x","n":'),
    { ndjson: ok, array: null, kafka: ok },
    { counts: true },
  ),
  pred(
    'valid: "constructor", "toString", "hasOwnProperty" as unmonitored features',
    (it) => J(prediction(it, {}, { constructor: 'x', toString: 1, hasOwnProperty: false })),
    all(ok),
    { counts: true },
  ),
  pred(
    'valid: the same id as another event (ids are not dedup keys)',
    (it) => J(prediction(it, { id: 'same-id' })),
    all(ok),
    {
      counts: true,
    },
  ),
  pred(
    'valid: a category value unique to the event (cardinality)',
    (it) => J(prediction(it, {}, { c: `u-${it.id}` })),
    all(ok),
    { counts: true },
  ),
  pred(
    'valid: 20 unmonitored fields with names unique to the event (cardinality)',
    (it) =>
      J(
        prediction(
          it,
          {},
          Object.fromEntries(Array.from({ length: 20 }, (_, k) => [`f-${it.id}-${k}`, k])),
        ),
      ),
    all(ok),
    { counts: true },
  ),
  pred(
    'late: two hours behind the stream (stored, counted late, in no window)',
    (it) => J(prediction(it, { ts: iso(it.ts - 2 * 3_600_000) })),
    all(ok),
    { late: true },
  ),
  pred(
    'valid: a made-up version (evaluated against the latest baseline, within versions.maxActive)',
    (it) => J(prediction(it, { version: `v-${hash(it.id) % 50_000}` })),
    all(ok),
  ),
  pred(
    'valid: a version with a quote, a backslash, a newline and "} (a metric label value)',
    (it) => J(prediction(it, { version: `v"\\\n"} # ${hash(it.id) % 3}` })),
    all(ok),
  ),
  pred('valid: version "__proto__"', (it) => J(prediction(it, { version: '__proto__' })), all(ok)),
  pred(
    'valid: a 100 kB unmonitored string (HTTP); over kafka.maxMessageBytes (Kafka)',
    (it) => J(prediction(it, {}, { blob: 'x'.repeat(100_000) })),
    { ndjson: ok, array: ok, kafka: r('oversized') },
    { counts: true, heavy: true },
  ),
  pred(
    'valid: 500-deep array in a top-level extra field',
    (it) => edit(it, '{"model"', `{"extra":${nested(500, '[', ']')},"model"`),
    all(ok),
    { counts: true },
  ),
  // Deeper than the store reads: ClickHouse's JSON functions (features of the exact recompute
  // and the audit route are read from the stored text) give up on documents nested 1 024
  // deep, so such an event would be counted by the windows and missing from the recompute.
  pred(
    'too deep: a 5 000-deep array in a top-level extra field (the store reads JSON to depth 1 023)',
    (it) => edit(it, '{"model"', `{"extra":${nested(5000, '[', ']')},"model"`),
    all(r('too_deep')),
    { heavy: true },
  ),
  pred(
    'too deep: a 20 000-deep array in a top-level extra field',
    (it) => edit(it, '{"model"', `{"extra":${nested(20_000, '[', ']')},"model"`),
    all(r('too_deep')),
    { heavy: true },
  ),

  // --- not an event ------------------------------------------------------------------------------
  pred('not an object: null', () => 'null', all(r('not_an_object'))),
  pred('not an object: a number', () => '42', all(r('not_an_object'))),
  pred('not an object: a string', () => '"event"', all(r('not_an_object'))),
  pred('not an object: an array', (it) => J([prediction(it)]), all(r('not_an_object'))),
  pred('not an object: true', () => 'true', all(r('not_an_object'))),
  pred('empty object', () => '{}', all(r('missing_field'))),

  // --- not JSON --------------------------------------------------------------------------------
  pred('invalid JSON: truncated', (it) => J(prediction(it)).slice(0, 40), {
    ndjson: r('invalid_json'),
    array: null,
    kafka: r('invalid_json'),
  }),
  pred('invalid JSON: NaN literal', (it) => edit(it, '"n":', '"n":NaN,"n0":'), {
    ndjson: r('invalid_json'),
    array: null,
    kafka: r('invalid_json'),
  }),
  pred('invalid JSON: Infinity literal', (it) => edit(it, '"n":', '"n":Infinity,"n0":'), {
    ndjson: r('invalid_json'),
    array: null,
    kafka: r('invalid_json'),
  }),
  pred('invalid JSON: trailing comma', (it) => `${J(prediction(it)).slice(0, -1)},}`, {
    ndjson: r('invalid_json'),
    array: null,
    kafka: r('invalid_json'),
  }),
  pred('invalid JSON: single quotes', (it) => J(prediction(it)).replaceAll('"', "'"), {
    ndjson: r('invalid_json'),
    array: null,
    kafka: r('invalid_json'),
  }),
  pred('invalid JSON: a raw NUL byte in a string', (it) => edit(it, '"c":"', '"c":"a\u0000'), {
    ndjson: r('invalid_json'),
    array: null,
    kafka: r('invalid_json'),
  }),
  pred('invalid JSON: a raw tab in a string', (it) => edit(it, '"c":"', '"c":"a\t'), {
    ndjson: r('invalid_json'),
    array: null,
    kafka: r('invalid_json'),
  }),
  pred('invalid JSON: a byte-order mark before the item', (it) => `\uFEFF${J(prediction(it))}`, {
    ndjson: r('invalid_json'),
    array: null,
    kafka: r('invalid_json'),
  }),
  pred('invalid JSON: two objects on one line', (it) => J(prediction(it)) + J(prediction(it)), {
    ndjson: r('invalid_json'),
    array: null,
    kafka: r('invalid_json'),
  }),
  pred(
    'invalid UTF-8: a 0xFF byte in a category',
    (it) => {
      const [a, b] = J(prediction(it, {}, { c: 'A|B' })).split('|');
      return Buffer.concat([Buffer.from(a!), Buffer.from([0xff]), Buffer.from(b!)]);
    },
    // Decoded as U+FFFD, the item would be stored other than sent.
    { ndjson: r('invalid_utf8'), array: null, kafka: r('invalid_utf8') },
  ),
  pred(
    'invalid UTF-8: an overlong encoding of "/" (0xC0 0xAF) in an id',
    (it) => {
      const [a, b] = J(prediction(it, { id: `${it.id}|x` })).split('|');
      return Buffer.concat([Buffer.from(a!), Buffer.from([0xc0, 0xaf]), Buffer.from(b!)]);
    },
    { ndjson: r('invalid_utf8'), array: null, kafka: r('invalid_utf8') },
  ),
  pred(
    'invalid UTF-8: a truncated 3-byte sequence in a category',
    (it) => {
      const [a, b] = J(prediction(it, {}, { c: 'A|B' })).split('|');
      return Buffer.concat([Buffer.from(a!), Buffer.from([0xe6, 0x9d]), Buffer.from(b!)]);
    },
    { ndjson: r('invalid_utf8'), array: null, kafka: r('invalid_utf8') },
  ),
  pred(
    'invalid UTF-8: an encoded surrogate (0xED 0xA0 0x80) in an id',
    (it) => {
      const [a, b] = J(prediction(it, { id: `${it.id}|x` })).split('|');
      return Buffer.concat([Buffer.from(a!), Buffer.from([0xed, 0xa0, 0x80]), Buffer.from(b!)]);
    },
    { ndjson: r('invalid_utf8'), array: null, kafka: r('invalid_utf8') },
  ),

  // --- model, version, id ----------------------------------------------------------------------
  pred('model missing', (it) => J(prediction(it, { model: undefined })), all(r('missing_field'))),
  pred('model empty', (it) => J(prediction(it, { model: '' })), all(r('missing_field'))),
  pred('model a number', (it) => J(prediction(it, { model: 7 })), all(r('wrong_type'))),
  pred(
    'model an object',
    (it) => J(prediction(it, { model: { id: FLOOD } })),
    all(r('wrong_type')),
  ),
  pred(
    'model not configured',
    (it) => J(prediction(it, { model: `m-${hash(it.id) % 100_000}` })),
    all(r('unknown_model')),
  ),
  pred(
    'model "__proto__"',
    (it) => J(prediction(it, { model: '__proto__' })),
    all(r('unknown_model')),
  ),
  pred(
    'model "constructor"',
    (it) => J(prediction(it, { model: 'constructor' })),
    all(r('unknown_model')),
  ),
  pred(
    'model with padding',
    (it) => J(prediction(it, { model: ` ${FLOOD}` })),
    all(r('unknown_model')),
  ),
  pred(
    'model 65 characters',
    (it) => J(prediction(it, { model: 'm'.repeat(65) })),
    all(r('too_long')),
  ),
  pred(
    'model 100 000 characters',
    (it) => J(prediction(it, { model: 'm'.repeat(100_000) })),
    {
      ndjson: r('too_long'),
      array: r('too_long'),
      kafka: r('oversized'),
    },
    { heavy: true },
  ),
  pred(
    'version missing',
    (it) => J(prediction(it, { version: undefined })),
    all(r('missing_field')),
  ),
  pred('version an array', (it) => J(prediction(it, { version: ['1'] })), all(r('wrong_type'))),
  pred(
    'version 129 characters',
    (it) => J(prediction(it, { version: 'v'.repeat(129) })),
    all(r('too_long')),
  ),
  pred('id missing', (it) => J(prediction(it, { id: undefined })), all(r('missing_field'))),
  pred('id an object', (it) => J(prediction(it, { id: { $gt: '' } })), all(r('wrong_type'))),
  pred(
    'id 1e400 (Infinity)',
    (it) => edit(it, `"id":"${it.id}"`, '"id":1e400'),
    all(r('wrong_type')),
  ),
  pred(
    'id a JSON number above 2^53 (12345678901234567890)',
    (it) => edit(it, `"id":"${it.id}"`, '"id":12345678901234567890'),
    all(r('wrong_type')),
  ),
  pred('id a fractional JSON number', (it) => J(prediction(it, { id: 1.5 })), all(r('wrong_type'))),
  pred(
    'version 3.10 as a JSON number (would read as "3.1")',
    (it) => edit(it, `"version":"${VERSION}"`, '"version":3.10'),
    all(r('wrong_type')),
  ),
  pred(
    'id 513 characters',
    (it) => J(prediction(it, { id: `${it.id}-`.padEnd(513, 'i') })),
    all(r('too_long')),
  ),
  pred(
    'id with a lone surrogate',
    (it) => edit(it, `"id":"${it.id}"`, `"id":"${it.id}\\ud800"`),
    all(r('lone_surrogate')),
  ),

  // --- time ------------------------------------------------------------------------------------
  pred('ts missing', (it) => J(prediction(it, { ts: undefined })), all(r('missing_field'))),
  pred(
    'ts before 1900 (1899-12-31T23:59:59Z)',
    (it) => J(prediction(it, { ts: '1899-12-31T23:59:59Z' })),
    all(r('ts_out_of_range')),
  ),
  pred(
    'ts 1900-01-01T00:00:00.000Z, the earliest storable (accepted; behind the stream, so late)',
    (it) => J(prediction(it, { ts: '1900-01-01T00:00:00.000Z' })),
    all(ok),
    { late: true },
  ),
  pred(
    'ts 1899-12-31T23:59:59.999Z, a millisecond before the earliest storable',
    (it) => J(prediction(it, { ts: '1899-12-31T23:59:59.999Z' })),
    all(r('ts_out_of_range')),
  ),
  pred(
    'ts 2299-12-31T23:59:59.999Z, the latest storable (too far ahead for a live source)',
    (it) => J(prediction(it, { ts: '2299-12-31T23:59:59.999Z' })),
    all(r('ts_in_future')),
  ),
  pred(
    'ts year 0000',
    (it) => J(prediction(it, { ts: '0000-01-01T00:00:00Z' })),
    all(r('ts_out_of_range')),
  ),
  pred(
    'ts after 2299 (2300-01-01)',
    (it) => J(prediction(it, { ts: '2300-01-01T00:00:00Z' })),
    all(r('ts_out_of_range')),
  ),
  pred(
    'ts 2299-12-31T23:00:00Z (storable, far future)',
    (it) => J(prediction(it, { ts: '2299-12-31T23:00:00Z' })),
    all(r('ts_in_future')),
  ),
  pred(
    'ts two hours ahead of the clock',
    (it) => J(prediction(it, { ts: iso(NOW + 2 * 3_600_000) })),
    all(r('ts_in_future')),
  ),
  pred(
    'ts in epoch seconds',
    (it) => J(prediction(it, { ts: Math.floor(it.ts / 1000) })),
    all(r('ts_epoch_seconds')),
  ),
  pred('ts -0', (it) => edit(it, `"ts":"${iso(it.ts)}"`, '"ts":-0'), all(r('ts_epoch_seconds'))),
  pred(
    'ts 1e-400 (underflows to 0)',
    (it) => edit(it, `"ts":"${iso(it.ts)}"`, '"ts":1e-400'),
    all(r('ts_epoch_seconds')),
  ),
  pred('ts negative', (it) => J(prediction(it, { ts: -1 })), all(r('bad_timestamp'))),
  pred(
    'ts 1e400 (Infinity)',
    (it) => edit(it, `"ts":"${iso(it.ts)}"`, '"ts":1e400'),
    all(r('bad_timestamp')),
  ),
  pred('ts 1e20', (it) => edit(it, `"ts":"${iso(it.ts)}"`, '"ts":1e20'), all(r('ts_out_of_range'))),
  pred(
    'ts in epoch microseconds',
    (it) => J(prediction(it, { ts: it.ts * 1000 })),
    all(r('ts_out_of_range')),
  ),
  pred(
    'ts without a zone',
    (it) => J(prediction(it, { ts: iso(it.ts).replace('Z', '') })),
    all(r('bad_timestamp')),
  ),
  pred(
    'ts a date only',
    (it) => J(prediction(it, { ts: iso(it.ts).slice(0, 10) })),
    all(r('bad_timestamp')),
  ),
  pred(
    'ts February 30',
    (it) => J(prediction(it, { ts: '2026-02-30T10:00:00Z' })),
    all(r('bad_timestamp')),
  ),
  pred(
    'ts April 31',
    (it) => J(prediction(it, { ts: '2026-04-31T10:00:00Z' })),
    all(r('bad_timestamp')),
  ),
  pred(
    'ts February 29 of a common year',
    (it) => J(prediction(it, { ts: '2025-02-29T10:00:00Z' })),
    all(r('bad_timestamp')),
  ),
  pred(
    'ts month 13',
    (it) => J(prediction(it, { ts: '2026-13-01T10:00:00Z' })),
    all(r('bad_timestamp')),
  ),
  pred(
    'ts second 60',
    (it) => J(prediction(it, { ts: '2026-11-22T10:00:60Z' })),
    all(r('bad_timestamp')),
  ),
  pred(
    'ts offset +99:99',
    (it) => J(prediction(it, { ts: '2026-11-22T10:00:00+99:99' })),
    all(r('bad_timestamp')),
  ),
  pred(
    'ts six-digit year (+275760)',
    (it) => J(prediction(it, { ts: '+275760-09-13T00:00:00Z' })),
    all(r('bad_timestamp')),
  ),
  pred('ts a boolean', (it) => J(prediction(it, { ts: true })), all(r('bad_timestamp'))),
  pred(
    'ts an object',
    (it) => J(prediction(it, { ts: { $date: it.ts } })),
    all(r('bad_timestamp')),
  ),
  pred(
    'ts 10 000 characters',
    (it) => J(prediction(it, { ts: '2'.repeat(10_000) })),
    all(r('bad_timestamp')),
  ),

  // --- features and prediction -----------------------------------------------------------------
  pred(
    'features missing',
    (it) => J(prediction(it, { features: undefined })),
    all(r('missing_field')),
  ),
  pred(
    'features an array',
    (it) => J(prediction(it, { features: [1, 'EU'] })),
    all(r('wrong_type')),
  ),
  pred('features a string', (it) => J(prediction(it, { features: 'n=1' })), all(r('wrong_type'))),
  pred(
    'numeric feature a string',
    (it) => J(prediction(it, {}, { n: '12.5' })),
    all(r('wrong_type')),
  ),
  pred(
    'numeric feature a boolean',
    (it) => J(prediction(it, {}, { n: true })),
    all(r('wrong_type')),
  ),
  pred(
    'numeric feature 1e400 (Infinity)',
    (it) => edit(it, '"n":', '"n":1e400,"n0":'),
    all(r('non_finite')),
  ),
  pred(
    'numeric feature -1e400 (-Infinity)',
    (it) => edit(it, '"n":', '"n":-1e400,"n0":'),
    all(r('non_finite')),
  ),
  pred(
    'numeric feature an object',
    (it) => J(prediction(it, {}, { n: { value: 1 } })),
    all(r('wrong_type')),
  ),
  pred(
    'categorical feature an array',
    (it) => J(prediction(it, {}, { c: ['EU'] })),
    all(r('wrong_type')),
  ),
  pred(
    'categorical feature 257 characters',
    (it) => J(prediction(it, {}, { c: 'c'.repeat(257) })),
    all(r('too_long')),
  ),
  pred(
    'categorical feature 1 MB',
    (it) => J(prediction(it, {}, { c: 'c'.repeat(1_000_000) })),
    {
      ndjson: r('too_long'),
      array: r('too_long'),
      kafka: null /* over the broker's message.max.bytes: cannot be produced */,
    },
    { heavy: true },
  ),
  pred(
    'categorical feature with a lone surrogate',
    (it) => edit(it, '"c":"', '"c":"\\udfff'),
    all(r('lone_surrogate')),
  ),
  pred(
    'unmonitored feature an object',
    (it) => J(prediction(it, {}, { meta: { a: 1 } })),
    all(r('wrong_type')),
  ),
  pred(
    'unmonitored feature "constructor": {"prototype": …}',
    (it) => J(prediction(it, {}, { constructor: { prototype: { polluted: true } } })),
    { ndjson: r('wrong_type'), array: null, kafka: r('wrong_type') },
  ),
  pred(
    'unmonitored feature "__proto__" an object',
    (it) => edit(it, '"n":', '"__proto__":{"polluted":true},"n":'),
    { ndjson: r('wrong_type'), array: null, kafka: r('wrong_type') },
  ),
  pred(
    'unmonitored feature a 10 000-deep array',
    (it) => edit(it, '"n":', `"deep":${nested(10_000, '[', ']')},"n":`),
    // wrong_type, or a reason of its own for the depth.
    all('rejected'),
    { heavy: true },
  ),
  pred(
    'unmonitored feature a 20 000-deep object',
    (it) => edit(it, '"n":', `"deep":${nested(20_000, '{"a":', '}')},"n":`),
    { ndjson: 'rejected', array: 'rejected', kafka: r('oversized') },
    { heavy: true },
  ),
  pred(
    'unmonitored key with a lone surrogate',
    (it) => edit(it, '"n":', '"k\\ud800":1,"n":'),
    all(r('lone_surrogate')),
  ),
  pred(
    'prediction a string',
    (it) => J(prediction(it, { prediction: 'yes' })),
    all(r('wrong_type')),
  ),
  pred(
    'prediction 1e400 (Infinity)',
    (it) => edit(it, '"prediction":', '"prediction":1e400,"p0":'),
    all(r('non_finite')),
  ),

  // --- duplicate keys --------------------------------------------------------------------------
  pred('duplicate key: "model" twice', (it) => edit(it, '{"model"', `{"model":"${CALM}","model"`), {
    ndjson: r('duplicate_key'),
    array: null,
    kafka: r('duplicate_key'),
  }),
  pred('duplicate key: a feature twice', (it) => edit(it, '"n":', '"n":99999,"n":'), {
    ndjson: r('duplicate_key'),
    array: null,
    kafka: r('duplicate_key'),
  }),
  pred(
    'duplicate key: spelled once escaped ("\\u006e")',
    (it) => edit(it, '"n":', '"\\u006e":-5,"n":'),
    {
      ndjson: r('duplicate_key'),
      array: null,
      kafka: r('duplicate_key'),
    },
  ),
  pred(
    'duplicate key: "ts" twice',
    (it) => edit(it, '"ts":', '"ts":"1899-01-01T00:00:00Z","ts":'),
    {
      ndjson: r('duplicate_key'),
      array: null,
      kafka: r('duplicate_key'),
    },
  ),
];

const label = (it: Item, over: Record<string, unknown> = {}) =>
  J({ model: FLOOD, id: it.id, ts: iso(it.ts), label: hash(it.id) % 2, ...over });
const lab = (
  name: string,
  make: ItemCase['make'],
  o: Outcome,
  array: Outcome | null = o,
): ItemCase => ({
  name: `label: ${name}`,
  kind: 'label',
  make,
  ndjson: o,
  array,
  kafka: o,
});

export const LABEL_CASES: ItemCase[] = [
  lab('valid', (it) => label(it), ok),
  lab('valid, boolean label', (it) => label(it, { label: true }), ok),
  lab('valid, no ts', (it) => label(it, { ts: undefined }), ok),
  lab('valid, label of an unknown prediction id', (it) => label(it, { id: `nobody-${it.id}` }), ok),
  lab('label missing', (it) => label(it, { label: undefined }), r('missing_field')),
  lab('label an object', (it) => label(it, { label: { v: 1 } }), r('wrong_type')),
  lab('label 1e400', (it) => label(it).replace(/"label":\d/, '"label":1e400'), r('non_finite')),
  lab(
    'id with a lone surrogate',
    (it) => label(it).replace(`"id":"${it.id}"`, `"id":"${it.id}\\udc00"`),
    r('lone_surrogate'),
  ),
  lab(
    'id a JSON number above 2^53',
    (it) => label(it).replace(`"id":"${it.id}"`, '"id":9007199254740993'),
    r('wrong_type'),
  ),
  lab('id 513 characters', (it) => label(it, { id: 'l'.repeat(513) }), r('too_long')),
  lab(
    'duplicate key',
    (it) => label(it).replace('"label":', '"label":0,"label":'),
    r('duplicate_key'),
    null,
  ),
  lab('ts before 1900', (it) => label(it, { ts: '1850-01-01T00:00:00Z' }), r('ts_out_of_range')),
  lab('unknown model', (it) => label(it, { model: 'nope' }), r('unknown_model')),
  lab('not an object', () => '[1,2,3]', r('not_an_object')),
  lab('invalid JSON', () => '{"model":', r('invalid_json'), null),
  {
    name: 'label: kafka tombstone (null value)',
    kind: 'label',
    make: () => '',
    ndjson: null,
    array: null,
    kafka: r('invalid_json'),
    tombstone: true,
  },
  {
    name: 'label: invalid UTF-8 in the id',
    kind: 'label',
    make: (it) => {
      const [a, b] = label(it, { id: `${it.id}|` }).split('|');
      return Buffer.concat([Buffer.from(a!), Buffer.from([0xfe]), Buffer.from(b!)]);
    },
    ndjson: r('invalid_utf8'),
    array: null,
    kafka: r('invalid_utf8'),
  },
];

/** Kafka-only cases: what only a message can carry (no value, keys, headers, size). */
export const KAFKA_ONLY_CASES: ItemCase[] = [
  pred(
    'kafka: tombstone (null value)',
    () => '',
    { ndjson: null, array: null, kafka: r('invalid_json') },
    { tombstone: true },
  ),
  pred(
    'kafka: invalid item with a forged driftd-reason header',
    () => '{"model":',
    { ndjson: null, array: null, kafka: r('invalid_json') },
    { kafkaHeaders: { 'driftd-reason': 'forged', 'driftd-source-offset': '-1' } },
  ),
  pred('kafka: empty value', () => '', { ndjson: null, array: null, kafka: r('invalid_json') }),
  pred(
    'kafka: model and version from headers',
    (it) => J(prediction(it, { model: undefined, version: undefined })),
    { ndjson: null, array: null, kafka: ok },
    { counts: true, kafkaHeaders: { 'driftd-model': FLOOD, 'driftd-version': VERSION } },
  ),
  pred(
    'kafka: header names a model that is not configured',
    (it) => J(prediction(it, { model: undefined })),
    { ndjson: null, array: null, kafka: r('unknown_model') },
    { kafkaHeaders: { 'driftd-model': 'not-configured' } },
  ),
  pred(
    'kafka: header model as invalid UTF-8 bytes',
    (it) => J(prediction(it, { model: undefined })),
    { ndjson: null, array: null, kafka: 'rejected' },
    { kafkaHeaders: { 'driftd-model': Buffer.from([0x66, 0xff, 0x6f]) } },
  ),
  pred(
    'kafka: version header of invalid UTF-8 bytes (would be stored as U+FFFD)',
    (it) => J(prediction(it, { version: undefined })),
    { ndjson: null, array: null, kafka: r('invalid_utf8') },
    { kafkaHeaders: { 'driftd-version': Buffer.from([0x76, 0xc0, 0xaf]) } },
  ),
  pred(
    'kafka: version header of 129 characters',
    (it) => J(prediction(it, { version: undefined })),
    { ndjson: null, array: null, kafka: r('too_long') },
    { kafkaHeaders: { 'driftd-version': 'v'.repeat(129) } },
  ),
  pred(
    'kafka: value wins over a header that disagrees',
    (it) => J(prediction(it)),
    { ndjson: null, array: null, kafka: ok },
    { counts: true, kafkaHeaders: { 'driftd-model': CALM, 'driftd-version': '999' } },
  ),
  pred(
    'kafka: repeated headers, binary key',
    (it) => J(prediction(it)),
    { ndjson: null, array: null, kafka: ok },
    {
      counts: true,
      kafkaKey: Buffer.from([0, 0xff, 0xfe, 0x80, 0x0a]),
      kafkaHeaders: { 'x-trace': ['a', 'b', Buffer.from([0xff])] },
    },
  ),
  pred(
    'kafka: 300 kB value (over kafka.maxMessageBytes)',
    (it) => J(prediction(it, {}, { blob: 'y'.repeat(300_000) })),
    { ndjson: null, array: null, kafka: r('oversized') },
    { heavy: true },
  ),
];

/** A seeded shuffle (Fisher–Yates). */
export function shuffle<T>(items: T[], seed: number): T[] {
  const rand = mulberry32(seed);
  for (let i = items.length - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1));
    [items[i], items[j]] = [items[j]!, items[i]!];
  }
  return items;
}

/** One item of a generated batch: its case and bytes. */
export interface Generated {
  c: ItemCase;
  item: Item;
  bytes: Buffer;
}

/**
 * A batch of `size` items for source `on`: every light case of `cases` applicable there in
 * turn (the first item a plain valid one), heavy cases `heavyEach` times, shuffled with `seed`.
 * Event times of the batch lie in [from, from + span); ids are `${prefix}-${serial}`.
 */
export function batch(opts: {
  cases: readonly ItemCase[];
  on: 'ndjson' | 'array' | 'kafka';
  size: number;
  seed: number;
  prefix: string;
  from: number;
  span: number;
  heavyEach?: number;
  /** Share of plain valid events mixed in (0..1). */
  validShare?: number;
}): Generated[] {
  const usable = opts.cases.filter((c) => c[opts.on] !== null);
  const heavy = usable.filter((c) => c.heavy);
  const light = usable.filter((c) => !c.heavy);
  const plain = opts.cases.find((c) => c.name === 'valid: plain') ?? light[0]!;
  const rand = mulberry32(opts.seed);
  const chosen: ItemCase[] = [];
  for (const h of heavy) for (let k = 0; k < (opts.heavyEach ?? 1); k++) chosen.push(h);
  const validShare = opts.validShare ?? 0.5;
  let next = Math.floor(rand() * light.length);
  while (chosen.length < opts.size - 1) {
    if (rand() < validShare) chosen.push(plain);
    else chosen.push(light[next++ % light.length]!);
  }
  shuffle(chosen, opts.seed ^ 0x9e3779b9);
  chosen.unshift(plain);
  return chosen.map((c, k) => {
    const item: Item = {
      id: `${opts.prefix}-${k}`,
      ts: opts.from + Math.floor((k * opts.span) / opts.size),
    };
    const made = c.make(item);
    return { c, item, bytes: typeof made === 'string' ? Buffer.from(made) : made };
  });
}

/** The expected outcome of `g` on `on` (a case without one there is a generator bug). */
export function expected(g: Generated, on: 'ndjson' | 'array' | 'kafka'): Outcome {
  const o = g.c[on];
  if (o === null) throw new Error(`case "${g.c.name}" has no outcome on ${on}`);
  return o;
}

export const isAccepted = (o: Outcome) => o === 'accepted';

/**
 * The cases to run: all of them, less those whose name matches the regular expression in
 * HOSTILE_SKIP (a diagnosis aid: to see the rest of a flood while one case still fails its
 * whole batch; CI never sets it).
 */
export function active(cases: readonly ItemCase[]): ItemCase[] {
  const skip = process.env.HOSTILE_SKIP;
  if (!skip) return [...cases];
  const re = new RegExp(skip);
  return cases.filter((c) => !re.test(c.name));
}
