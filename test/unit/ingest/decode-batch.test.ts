/**
 * The Kafka decode thread's compact form: every message decoded through it must give what the
 * event loop's own decoding gives (same events for the windows, same dead-letter reasons and
 * messages), and the thread itself must start and answer (real worker thread).
 */
import { describe, expect, it } from 'vitest';
import {
  DecodedBatch,
  type DecodedMessage,
  decodeMessage,
  decodePacked,
  type HeaderLookup,
  modelList,
  packValues,
  readDecoded,
} from '../../../src/ingest/decode-batch.js';
import { createDecodeThread } from '../../../src/ingest/decode-thread.js';
import { createLogger } from '../../../src/logger.js';
import { createPiiKey } from '../../../src/privacy/pii.js';
import { decodeTestEvent, decodeTestModels, TEST_PII_KEY_TEXT } from '../../helpers/model.js';

const models = decodeTestModels();
const opts = { models, piiKey: createPiiKey(TEST_PII_KEY_TEXT) };
const MAX = 4096;

const text = (v: unknown) => Buffer.from(JSON.stringify(v));

/** Values with the header texts some of them carry. */
const cases: Array<{ value: Buffer | null; headers?: { model?: string; version?: string } }> = [
  { value: text(decodeTestEvent()) },
  {
    value: text(decodeTestEvent({ id: 'p-ü', features: { income: -1e-300, region: 'Zürich ✓' } })),
  },
  { value: text(decodeTestEvent({ features: { income: 1, age: 2 } })) }, // region absent
  {
    value: text(decodeTestEvent({ model: undefined, version: undefined })),
    headers: { model: 'credit-risk', version: '7' },
  },
  {
    value: text(decodeTestEvent({ version: undefined })),
    headers: { model: 'flags', version: '9' },
  }, // value's model wins
  {
    value: text({
      ...decodeTestEvent(),
      model: 'flags',
      features: { active: true, score: 3 },
      label_pred: false,
    }),
  },
  {
    value: text({
      ...decodeTestEvent(),
      model: 'flags',
      features: { active: 'yes' },
      label_pred: 'cat',
    }),
  },
  { value: text(decodeTestEvent({ model: 'with-pii' })) }, // decoded on the event loop
  { value: text(decodeTestEvent({ model: 'pinned' })) }, // version in versions.allow
  { value: text(decodeTestEvent({ model: 'pinned', version: '4' })) }, // not in it
  { value: null },
  { value: Buffer.alloc(0) },
  { value: Buffer.from('{"model": "credit-risk", ') },
  { value: Buffer.from('[1,2,3]') },
  { value: Buffer.alloc(MAX + 1, 0x20) },
  { value: text(decodeTestEvent({ model: 'nope' })) },
  { value: text(decodeTestEvent({ id: 5 })) },
  { value: text(decodeTestEvent({ ts: 'yesterday' })) },
  { value: text(decodeTestEvent({ ts: '2400-01-01T00:00:00Z' })) },
  { value: text(decodeTestEvent({ features: { income: 'high' } })) },
  { value: text(decodeTestEvent({ features: [1, 2] })) },
  { value: text(decodeTestEvent({ prediction: 'x' })) },
  { value: text(decodeTestEvent({ features: undefined })) },
  // Not valid UTF-8: rejected (invalid_utf8), not decoded with U+FFFD.
  {
    value: Buffer.concat([
      Buffer.from('{"model":"credit-risk","version":"3","id":"p-'),
      Buffer.from([0xff]),
      Buffer.from('","ts":1795341600000,"features":{"income":1}}'),
    ]),
  },
];

function lookup(h: { model?: string; version?: string } | undefined): HeaderLookup | undefined {
  return h === undefined ? undefined : (field) => h[field];
}

/** What the windows and the store read of a decoded message. */
function view(d: DecodedMessage, modelFeatures: (model: string) => string[]) {
  if (!d.ok) return d;
  const e = d.event;
  const features: Record<string, unknown> = {};
  for (const name of modelFeatures(e.model)) {
    if (e.features[name] !== undefined) features[name] = e.features[name];
  }
  return {
    model: e.model,
    version: e.version,
    id: e.id,
    ts: e.ts,
    features,
    prediction: e.prediction,
    raw: e.rawBytes !== undefined ? Buffer.from(e.rawBytes).toString('utf8') : e.raw,
  };
}

const names = (model: string) => models.get(model)!.features.map((f) => f.name);

describe('Kafka decode thread format', () => {
  const values = cases.map((c) => c.value);
  const packed = packValues(values, (i) => cases[i]!.headers);
  const list = modelList(models);
  const decoded = readDecoded(decodePacked(packed, list, opts, MAX), values, list);

  it('decodes every message as the event loop does (events, reasons, messages)', () => {
    expect(decoded).toHaveLength(cases.length);
    let events = 0;
    let dead = 0;
    for (let i = 0; i < cases.length; i++) {
      const local = decodeMessage(cases[i]!.value, MAX, opts, lookup(cases[i]!.headers));
      const d = decoded[i];
      if (d === null) {
        // Only a model with PII fields is left to the event loop.
        expect(local.ok && local.event.model).toBe('with-pii');
        continue;
      }
      expect(view(d!, names), `message ${i}`).toEqual(view(local, names));
      if (d!.ok) events++;
      else dead++;
    }
    expect(events).toBeGreaterThanOrEqual(7);
    expect(dead).toBeGreaterThanOrEqual(12);
  });

  it('rejects a value that is not valid UTF-8 (invalid_utf8) instead of storing it with U+FFFD', () => {
    const at = cases.findIndex((c) => c.value?.includes(0xff));
    expect(decoded[at]).toMatchObject({ ok: false, reason: 'invalid_utf8' });
    expect(decodeMessage(cases[at]!.value, MAX, opts)).toMatchObject({
      ok: false,
      reason: 'invalid_utf8',
    });
  });

  it('rejects a version outside versions.allow with its reason, scanned or not', () => {
    const at = cases.findIndex(
      (c) => c.value?.includes('"version":"4"') && c.value.includes('pinned'),
    );
    expect(decoded[at]).toMatchObject({ ok: false, reason: 'version_not_allowed' });
    expect(decoded[at - 1]).toMatchObject({ ok: true, event: { model: 'pinned', version: '3' } });
  });

  it('makes features objects of the configured features only, absent ones left out', () => {
    const full = decoded[0];
    const partial = decoded[2]; // region absent
    const flagsEvent = decoded[5];
    if (!full?.ok || !partial?.ok || !flagsEvent?.ok) throw new Error('expected events');
    // Every configured feature present: one object, in config order, null kept as null.
    expect(Object.keys(full.event.features)).toEqual(names('credit-risk'));
    expect(full.event.features).toEqual({ income: 52000.12345678901, age: null, region: 'EU' });
    expect(Object.keys(flagsEvent.event.features)).toEqual(['active', 'score']);
    expect(flagsEvent.event.features).toEqual({ active: true, score: 3 });
    // One missing: absent from the object (not a key holding undefined), as JSON.parse has it.
    expect(Object.keys(partial.event.features)).toEqual(['income', 'age']);
    expect('region' in partial.event.features).toBe(false);
    // Objects are not shared between events.
    const again = new DecodedBatch(decodePacked(packed, list, opts, MAX), values, list).message(0);
    if (!again?.ok) throw new Error('expected an event');
    expect(again.event.features).not.toBe(full.event.features);
    expect(again.event.features).toEqual(full.event.features);
  });

  it('hands over the received bytes as the raw record (an accepted value is UTF-8)', () => {
    const first = decoded[0]!;
    if (!first.ok) throw new Error('expected an event');
    expect(first.event.rawBytes).toBe(values[0]);
    expect(first.event.features.income).toBe(52000.12345678901);
    // Unmonitored fields stay in the raw record only.
    expect(first.event.features).not.toHaveProperty('extra');
    // A value that is not UTF-8 is rejected (see above), never stored decoded with U+FFFD.
    expect(decoded[cases.length - 1]).toMatchObject({ ok: false, reason: 'invalid_utf8' });
  });

  it('takes model and version from the headers only when the value lacks them', () => {
    const fromHeaders = decoded[3]!;
    const valueWins = decoded[4]!;
    if (!fromHeaders.ok || !valueWins.ok) throw new Error('expected events');
    expect([fromHeaders.event.model, fromHeaders.event.version]).toEqual(['credit-risk', '7']);
    expect([valueWins.event.model, valueWins.event.version]).toEqual(['credit-risk', '9']);
  });

  it('refuses an answer that does not match its batch', () => {
    const answer = decodePacked(packed, list, opts, MAX);
    expect(() => readDecoded(answer, values.slice(0, 3), list)).toThrow(/corrupt decoded batch/);
    expect(() => readDecoded(answer.subarray(0, 40), values, list)).toThrow();
  });

  it('an opened answer reads any message on demand, in any order, as often as asked', () => {
    const batch = new DecodedBatch(decodePacked(packed, list, opts, MAX), values, list);
    const order = values.map((_, i) => values.length - 1 - i);
    for (const i of [...order, ...order]) {
      const d = batch.message(i);
      expect(batch.kind(i)).toBe(d === null ? 'local' : d.ok ? 'event' : 'dead');
      expect(d === null ? null : view(d, names), `message ${i}`).toEqual(
        decoded[i] === null ? null : view(decoded[i]!, names),
      );
    }
    // An answer a byte short or a byte long is refused when opened, before any use.
    const answer = decodePacked(packed, list, opts, MAX);
    expect(() => new DecodedBatch(answer.subarray(0, answer.length - 1), values, list)).toThrow();
    const longer = Buffer.concat([answer, Buffer.from([0])]);
    expect(() => new DecodedBatch(longer, values, list)).toThrow(/1 bytes left/);
  });

  it('reads short versions and categories as the texts they are, one string per text', () => {
    // Lengths 0..7 around the 6-byte intern limit, texts that differ only in length or in a
    // control or high ASCII byte, and more texts than the intern table keeps.
    const texts = [
      '',
      'a',
      'a\u0000',
      '\u0000a',
      'ab',
      'ba',
      'EU',
      '~~~~~~',
      '\u007f',
      'abcdef',
      'abcdefg',
    ];
    for (let i = 0; i < 5000; i++) texts.push(i.toString(36));
    const vs = texts.map((t, i) =>
      text(
        decodeTestEvent({
          id: `p-${i}`,
          version: t === '' ? 'v' : t,
          features: { income: i, region: t },
        }),
      ),
    );
    const got = readDecoded(decodePacked(packValues(vs), list, opts, MAX), vs, list);
    for (let i = 0; i < texts.length; i++) {
      const d = got[i];
      if (!d?.ok) throw new Error(`message ${i}: expected an event`);
      expect([d.event.version, d.event.features.region], `message ${i}`).toEqual([
        texts[i] === '' ? 'v' : texts[i],
        texts[i],
      ]);
    }
  });

  it('runs on a real worker thread and answers batches in order', async () => {
    const thread = createDecodeThread(list, {}, MAX, createLogger('error', process.stderr));
    try {
      const answers = await Promise.all([
        thread.decode(values, (i) => cases[i]!.headers),
        thread.decode([values[0]!, values[13]!]),
      ]);
      expect(readDecoded(answers[0], values, list).map((d) => d?.ok ?? null)).toEqual(
        decoded.map((d) => d?.ok ?? null),
      );
      const second = readDecoded(answers[1], [values[0]!, values[13]!], list);
      expect(second.map((d) => d?.ok)).toEqual([true, false]);
    } finally {
      await thread.close();
    }
    await expect(thread.decode(values)).rejects.toThrow(/closed/);
  });

  it('on a real worker thread with a live clock, rejects what the event loop rejects, for the same reasons', async () => {
    // The clock of a live source (2026-11-22T10:00:00Z), read by the thread once per batch.
    const now = Date.parse('2026-11-22T10:00:00Z');
    const live = { now: () => now, maxFutureSkewMs: 3_600_000 };
    const liveOpts = { ...opts, live };
    const hostile: Array<[Buffer, string]> = [
      [text(decodeTestEvent()), 'ok'],
      [text(decodeTestEvent({ ts: '1899-12-31T23:59:59Z' })), 'ts_out_of_range'],
      [text(decodeTestEvent({ ts: '2299-12-31T23:00:00Z' })), 'ts_in_future'],
      [text(decodeTestEvent({ ts: new Date(now + 3_600_001).toISOString() })), 'ts_in_future'],
      [text(decodeTestEvent({ ts: new Date(now + 3_600_000).toISOString() })), 'ok'],
      [text(decodeTestEvent({ ts: Math.floor(now / 1000) })), 'ts_epoch_seconds'],
      [text(decodeTestEvent({ version: 'v'.repeat(129) })), 'too_long'],
      [text(decodeTestEvent({ features: { income: 1, region: 'r'.repeat(257) } })), 'too_long'],
      [
        Buffer.from(JSON.stringify(decodeTestEvent()).replace('"p-1"', '"\\ud800"')),
        'lone_surrogate',
      ],
      [
        Buffer.from(JSON.stringify(decodeTestEvent()).replace('"extra":', '"extra":1,"extra":')),
        'duplicate_key',
      ],
      // The headers fill in model and version: a repeated key is still seen.
      [Buffer.from('{"id":"a","id":"b","ts":1795341600000,"features":{}}'), 'duplicate_key'],
    ];
    const vs = hostile.map(([v]) => v);
    const headers = (i: number) =>
      i === hostile.length - 1 ? { model: 'credit-risk', version: '3' } : undefined;
    const thread = createDecodeThread(list, liveOpts, MAX, createLogger('error', process.stderr));
    try {
      const answer = readDecoded(await thread.decode(vs, headers), vs, list);
      const outcomes = answer.map((d) => (d === null ? 'local' : d.ok ? 'ok' : d.reason));
      expect(outcomes).toEqual(hostile.map(([, want]) => want));
      // Dead letters name their model, those of the item-wide rules too.
      expect(answer.map((d) => (d?.ok === false ? d.model : 'credit-risk'))).toEqual(
        hostile.map((_, i) => (i === hostile.length - 1 ? 'unknown' : 'credit-risk')),
      );
      // The general path on the event loop: the same events, reasons and messages.
      for (let i = 0; i < vs.length; i++) {
        const local = decodeMessage(vs[i]!, MAX, liveOpts, lookup(headers(i)));
        expect(view(answer[i]!, names), `message ${i}`).toEqual(view(local, names));
      }
    } finally {
      await thread.close();
    }
  });
});
