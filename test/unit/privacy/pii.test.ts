/**
 * The PII transform and data minimisation at decode time: one keyed transform (no guessing a
 * stored value without the key), the same for features, ids, labels and baselines; fields the
 * config does not name dropped unless kept; the Kafka fast path leaves such events to the
 * general one.
 */
import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { buildProfileFromRows } from '../../../src/baseline/index.js';
import { BaselineError } from '../../../src/errors.js';
import { decodeLabel, decodePrediction, TextItem } from '../../../src/ingest/decode.js';
import { decodePacked, packValues, readDecoded } from '../../../src/ingest/decode-batch.js';
import { EventScanner } from '../../../src/ingest/scan.js';
import { createPiiKey, piiTransform, storedId } from '../../../src/privacy/pii.js';
import type { CategoricalProfile } from '../../../src/types.js';
import { testModel } from '../../helpers/model.js';

const key = createPiiKey('unit-test-pii-key-0123456789abcdef');
const otherKey = createPiiKey('another-pii-key-0123456789abcdefgh');

const pii = testModel({ id: 'pii', piiFields: ['region', 'id'] });
const plain = testModel({ id: 'plain' });
const keeps = testModel({ id: 'keeps', storeUnlistedFields: true, piiFields: ['email'] });
const models = new Map([pii, plain, keeps].map((m) => [m.id, m] as const));
const opts = { models, piiKey: key };

const event = (model: string, over: Record<string, unknown> = {}) => ({
  model,
  version: '1',
  id: 'cust-42',
  ts: '2026-11-22T10:00:00Z',
  features: { income: 1, age: 2, region: 'EU', email: 'jane@example.org', nickname: 'jj' },
  prediction: 0.5,
  customer_name: 'Jane Doe',
  ...over,
});
const text = (v: unknown) => {
  const t = JSON.stringify(v);
  return new TextItem(JSON.parse(t), t, Buffer.from(t));
};

describe('piiTransform', () => {
  it('is HMAC-SHA-256 under the key: stable, key-dependent, no unkeyed hash matches', () => {
    const h = piiTransform('75001', key) as string;
    expect(h).toMatch(/^hmac-sha256:[0-9a-f]{64}$/);
    expect(piiTransform('75001', key)).toBe(h);
    // A CSV baseline has only strings: 75001 and "75001" are the same value.
    expect(piiTransform(75001, key)).toBe(h);
    expect(piiTransform('75001', otherKey)).not.toBe(h);
    expect(piiTransform(null, key)).toBeNull();
    const hex = h.slice('hmac-sha256:'.length);
    for (const salt of ['', 'salt']) {
      const salted = createHash('sha256').update(salt).update('\0').update('75001').digest('hex');
      expect(salted).not.toBe(hex);
    }
    expect(createHash('sha256').update('75001').digest('hex')).not.toBe(hex);
  });
});

describe('decoding a model with PII fields', () => {
  it('hashes PII features and the id; a label joins under the same hash', () => {
    const d = decodePrediction(text(event('pii')), opts);
    if (!d.ok) throw new Error(d.message);
    expect(d.value.features.region).toBe(piiTransform('EU', key));
    expect(d.value.id).toBe(storedId(pii, 'cust-42', key));
    expect(d.value.raw).toBeUndefined();
    expect(d.value.rawBytes).toBeUndefined();
    const l = decodeLabel({ model: 'pii', id: 'cust-42', label: 1 }, opts);
    expect(l.ok && l.value.id).toBe(d.value.id);
    expect(JSON.stringify(d.value)).not.toMatch(/EU|cust-42|Jane|jane|"jj"/);
  });

  it('without a key, rejects the item rather than keep it in clear', () => {
    const d = decodePrediction(event('pii'), { models });
    expect(d).toMatchObject({ ok: false, reason: 'undecodable' });
  });
});

describe('data minimisation', () => {
  it('drops features and members the config does not name, and the text that holds them', () => {
    const d = decodePrediction(text(event('plain')), opts);
    if (!d.ok) throw new Error(d.message);
    expect(Object.keys(d.value.features).sort()).toEqual(['age', 'income', 'region']);
    expect(d.value.raw).toBeUndefined();
    expect(d.value.rawBytes).toBeUndefined();
    // An event of named fields only keeps its text as the raw record.
    const clean = event('plain', { customer_name: undefined });
    clean.features = { income: 1, age: 2, region: 'EU' } as typeof clean.features;
    const c = decodePrediction(text(clean), opts);
    expect(c.ok && c.value.raw).toBe(JSON.stringify(clean));
  });

  it('keeps them when the model asks, an unlisted PII field hashed, no text kept', () => {
    const d = decodePrediction(text(event('keeps')), opts);
    if (!d.ok) throw new Error(d.message);
    expect(d.value.features.nickname).toBe('jj');
    expect(d.value.features.email).toBe(piiTransform('jane@example.org', key));
    expect(d.value.raw).toBeUndefined();
  });

  it('the Kafka fast path leaves an event with unlisted fields to the general path', () => {
    // (A model with PII fields never takes the fast path.)
    const keepsAll = testModel({ id: 'keeps-all', storeUnlistedFields: true });
    const scanner = new EventScanner([plain, keepsAll]);
    const bytes = (v: unknown) => Buffer.from(JSON.stringify(v));
    const named = { ...event('plain'), customer_name: undefined };
    named.features = { income: 1, age: 2, region: 'EU' } as typeof named.features;
    expect(scanner.scan(bytes(named))).toBe(true);
    expect(scanner.scan(bytes({ ...named, customer_name: 'Jane Doe' }))).toBe(false);
    expect(scanner.scan(bytes({ ...named, features: { ...named.features, x: 1 } }))).toBe(false);
    // A model that keeps them: the fast path reads the event and keeps its bytes.
    const kept = {
      ...named,
      model: 'keeps-all',
      features: { income: 1, age: 2, region: 'EU', x: 1 },
    };
    expect(scanner.scan(bytes(kept))).toBe(true);
    // Through the decode thread's answer: the unlisted member is not in the stored record.
    const values = [bytes({ ...named, customer_name: 'Jane Doe' })];
    const answer = decodePacked(packValues(values), [plain, keeps], opts, 1 << 20);
    const [m] = readDecoded(answer, values, [plain, keeps]);
    if (!m?.ok) throw new Error('expected an event');
    expect(m.event.rawBytes).toBeUndefined();
    expect(m.event.raw ?? '').toBe('');
    expect(Object.keys(m.event.features).sort()).toEqual(['age', 'income', 'region']);
  });
});

describe('baselines of a model with PII features', () => {
  const rows = Array.from({ length: 200 }, (_, i) => ({
    income: i,
    age: 30,
    region: ['EU', 'US', 'APAC'][i % 3],
    prediction: 0.5,
  }));

  it('profile the HMACs, never the clear categories, and need the key', () => {
    expect(() => buildProfileFromRows(pii, '1', rows)).toThrow(BaselineError);
    const { profile } = buildProfileFromRows(pii, '1', rows, { piiKey: key });
    const region = profile.features.region as CategoricalProfile;
    expect([...region.categories].sort()).toEqual(
      ['EU', 'US', 'APAC'].map((r) => piiTransform(r, key)).sort(),
    );
    expect(JSON.stringify(profile)).not.toMatch(/"(EU|US|APAC)"/);
    // Another key profiles other hashes: another baseline, not "already stored".
    const again = buildProfileFromRows(pii, '1', rows, { piiKey: otherKey }).profile;
    expect(again.id).not.toBe(profile.id);
    // Models without PII features keep their baseline ids.
    const a = buildProfileFromRows(plain, '1', rows).profile.id;
    expect(buildProfileFromRows(plain, '1', rows, { piiKey: key }).profile.id).toBe(a);
  });
});
