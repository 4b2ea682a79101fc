import { describe, expect, it } from 'vitest';
import {
  decodeLabel,
  decodePrediction,
  hashPii,
  parseJson,
  parseTimestamp,
  TextItem,
} from '../../../src/ingest/decode.js';
import { testModel } from '../../helpers/model.js';

const model = testModel({ piiFields: ['email'] });
const opts = { models: new Map([[model.id, model]]), piiSalt: 'salt' };
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
    expect(d.value.features.email).toBe(hashPii('a@b.c', 'salt'));
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

describe('decodeLabel', () => {
  it('accepts a numeric label and maps booleans to 0/1', () => {
    const a = decodeLabel({ model: 'credit-risk', id: 'p-1', ts: 1, label: 1 }, opts);
    const b = decodeLabel({ model: 'credit-risk', id: 'p-1', ts: 1, label: false }, opts);
    expect(a).toEqual({ ok: true, value: { model: 'credit-risk', id: 'p-1', ts: 1, label: 1 } });
    expect(b.ok && b.value.label).toBe(0);
  });

  it('rejects a label without a value, naming the field', () => {
    const d = decodeLabel({ model: 'credit-risk', id: 'p-1', ts: 1 }, opts);
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
    const plain = testModel();
    const d = decodePrediction(new TextItem(JSON.parse(text), text), {
      models: new Map([[plain.id, plain]]),
      piiSalt: '',
    });
    expect(d.ok && d.value.raw).toBe(text);
    // A plain object (no text at hand) has none.
    const o = decodePrediction(good, { models: new Map([[plain.id, plain]]), piiSalt: '' });
    expect(o.ok && o.value.raw).toBeUndefined();
  });
});

describe('timestamps beyond what the store can hold', () => {
  it('are rejected as bad_timestamp (they would block the raw insert of their batch)', () => {
    for (const ts of ['2300-01-01T00:00:00Z', 1e16]) {
      const d = decodePrediction({ ...good, ts }, opts);
      expect(d.ok).toBe(false);
      if (!d.ok) {
        expect(d.reason).toBe('bad_timestamp');
        expect(d.message).toContain('2299-12-31');
      }
      const l = decodeLabel({ model: 'credit-risk', id: 'p-1', ts, label: 1 }, opts);
      expect(l.ok).toBe(false);
    }
    expect(decodePrediction({ ...good, ts: '2299-12-31T23:59:59.999Z' }, opts).ok).toBe(true);
  });
});
