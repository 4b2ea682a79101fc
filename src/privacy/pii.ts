/**
 * The one PII transform. A configured PII field is replaced, before anything keeps it, by
 * HMAC-SHA-256 under a secret key: the same value always gives the same text (so a category
 * still counts, a label still joins its prediction, a lookup by id still finds it), and
 * without the key nobody can test candidate values against a stored one (a plain or salted
 * hash of a postcode is reversed by hashing every postcode). Live events, baselines, label
 * ids, lookups and erasure all go through `piiTransform`, so they agree byte for byte.
 */
import { createHmac, createSecretKey, type KeyObject } from 'node:crypto';
import type { DriftdConfig, ModelConfig } from '../config/types.js';
import type { FeatureValue } from '../types.js';

/** Shortest accepted key, in bytes (HMAC-SHA-256's output size: RFC 2104 §3). */
export const MIN_PII_KEY_BYTES = 32;

/** Marks a hashed value (and says how it was made). */
export const PII_HASH_PREFIX = 'hmac-sha256:';

/** The secret key as a KeyObject: printing or logging it shows no key material. */
export type PiiKey = KeyObject;

const keys = new WeakMap<object, PiiKey | null>();

/** The key of a validated config (`privacy.piiKey`), null when none is configured. */
export function piiKeyOf(config: Pick<DriftdConfig, 'privacy'>): PiiKey | null {
  const privacy = config.privacy;
  if (privacy === undefined) return null;
  let key = keys.get(privacy);
  if (key === undefined) {
    key = privacy.piiKey === null ? null : createSecretKey(Buffer.from(privacy.piiKey, 'utf8'));
    keys.set(privacy, key);
  }
  return key;
}

/** A key from its text, for tests and library users (the config path validates its length). */
export function createPiiKey(text: string): PiiKey {
  return createSecretKey(Buffer.from(text, 'utf8'));
}

/**
 * `hmac-sha256:` + hex of HMAC-SHA-256(key, the value as text). Numbers and booleans are
 * hashed as their JSON text, so 75001 and "75001" give the same hash (a CSV baseline has only
 * strings); null stays null (a missing value is not personal data, and stays counted as
 * missing).
 */
export function piiTransform(value: FeatureValue, key: PiiKey): FeatureValue {
  if (value === null) return null;
  return PII_HASH_PREFIX + createHmac('sha256', key).update(String(value)).digest('hex');
}

/** Whether the event id of `model` is a PII field (then ids are stored hashed). */
export function idIsPii(model: Pick<ModelConfig, 'piiFields'>): boolean {
  return model.piiFields.includes('id');
}

/**
 * The id as stored for `model`: hashed when `id` is one of its PII fields. Label ingestion,
 * the audit lookup and erasure take a received id through here before matching.
 */
export function storedId(model: Pick<ModelConfig, 'piiFields'>, id: string, key: PiiKey | null) {
  if (!idIsPii(model)) return id;
  if (key === null) throw new Error(`model has "id" in piiFields but no PII key is configured`);
  return piiTransform(id, key) as string;
}
