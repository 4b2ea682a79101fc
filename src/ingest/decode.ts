import { createHash } from 'node:crypto';
import type { ModelConfig } from '../config/types.js';
import type { FeatureValue, LabelEvent, PredictionEvent } from '../types.js';

/**
 * Decoding and validation of the event contract (DESIGN.md), shared by every source: HTTP,
 * file replay and Kafka. A rejected event is data, not an exception: the caller counts it by
 * `reason` and dead-letters it with `message`.
 */
export type RejectReason =
  | 'invalid_json'
  | 'not_an_object'
  | 'oversized'
  | 'missing_field'
  | 'wrong_type'
  | 'non_finite'
  | 'bad_timestamp'
  | 'unknown_model';

export type Decoded<T> =
  | { ok: true; value: T }
  | { ok: false; reason: RejectReason; message: string };

export interface DecodeOptions {
  models: ReadonlyMap<string, ModelConfig>;
  /** Salt for hashing PII fields; hashing is deterministic for a given salt. */
  piiSalt: string;
}

const MAX_ID_LENGTH = 512;

/**
 * Stands in for an item whose text was not JSON (an NDJSON line, a file line), so that it
 * keeps its position in the batch and is rejected with `invalid_json` like any other item.
 */
export class UnparseableItem {
  constructor(readonly message: string) {}
}

const reject = (reason: RejectReason, message: string): Decoded<never> => ({
  ok: false,
  reason,
  message,
});

/** Parses JSON text; `null` result means the caller should reject with `invalid_json`. */
export function parseJson(text: string, maxBytes: number): Decoded<unknown> {
  if (Buffer.byteLength(text) > maxBytes) {
    return reject('oversized', `event is ${Buffer.byteLength(text)} bytes, limit is ${maxBytes}`);
  }
  try {
    return { ok: true, value: JSON.parse(text) as unknown };
  } catch (err) {
    return reject('invalid_json', `not valid JSON: ${(err as Error).message}`);
  }
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Event time as ISO-8601 text (with zone) or epoch milliseconds. */
export function parseTimestamp(v: unknown): number | undefined {
  if (typeof v === 'number') return Number.isFinite(v) && v >= 0 ? v : undefined;
  if (typeof v !== 'string' || v.length > 64) return undefined;
  // Require an explicit zone: a zoneless timestamp would silently shift by the host's offset.
  if (!/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})$/.test(v)) {
    return undefined;
  }
  const ms = Date.parse(v);
  return Number.isFinite(ms) ? ms : undefined;
}

function requireString(
  obj: Record<string, unknown>,
  key: string,
  allowNumber: boolean,
): Decoded<string> {
  const v = obj[key];
  if (v === undefined || v === null || v === '') {
    return reject('missing_field', `missing required field "${key}"`);
  }
  if (typeof v === 'string') {
    if (v.length > MAX_ID_LENGTH) {
      return reject('wrong_type', `"${key}" is longer than ${MAX_ID_LENGTH} characters`);
    }
    return { ok: true, value: v };
  }
  if (allowNumber && typeof v === 'number' && Number.isFinite(v)) {
    return { ok: true, value: String(v) };
  }
  return reject('wrong_type', `"${key}" must be a string, got ${describe(v)}`);
}

function describe(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  if (typeof v === 'number' && !Number.isFinite(v)) return String(v);
  return typeof v === 'string' ? `the string ${JSON.stringify(v.slice(0, 40))}` : typeof v;
}

/**
 * Validates one value against the configured type. JSON cannot carry NaN or Infinity, but
 * in-process callers (replay, tests, library users) can, so they are rejected explicitly.
 */
function checkValue(
  field: string,
  type: 'numeric' | 'categorical',
  v: unknown,
): Decoded<FeatureValue> {
  if (v === undefined || v === null) return { ok: true, value: null };
  if (type === 'numeric') {
    if (typeof v !== 'number') {
      return reject('wrong_type', `${field} must be a number, got ${describe(v)}`);
    }
    if (!Number.isFinite(v)) return reject('non_finite', `${field} is ${v}`);
    return { ok: true, value: v };
  }
  if (typeof v === 'string' || typeof v === 'boolean') return { ok: true, value: v };
  if (typeof v === 'number') {
    if (!Number.isFinite(v)) return reject('non_finite', `${field} is ${v}`);
    return { ok: true, value: v };
  }
  return reject('wrong_type', `${field} must be a string, number or boolean, got ${describe(v)}`);
}

export function hashPii(value: FeatureValue, salt: string): FeatureValue {
  if (value === null) return null;
  return `sha256:${createHash('sha256').update(salt).update('\0').update(String(value)).digest('hex')}`;
}

/** Validates a prediction event against its model's config; PII fields come back hashed. */
export function decodePrediction(raw: unknown, opts: DecodeOptions): Decoded<PredictionEvent> {
  if (raw instanceof UnparseableItem) return reject('invalid_json', raw.message);
  if (!isRecord(raw))
    return reject('not_an_object', `event must be a JSON object, got ${describe(raw)}`);
  const model = requireString(raw, 'model', false);
  if (!model.ok) return model;
  const config = opts.models.get(model.value);
  if (!config) return reject('unknown_model', `model "${model.value}" is not configured`);
  const version = requireString(raw, 'version', true);
  if (!version.ok) return version;
  const id = requireString(raw, 'id', true);
  if (!id.ok) return id;
  if (raw.ts === undefined || raw.ts === null)
    return reject('missing_field', 'missing required field "ts"');
  const ts = parseTimestamp(raw.ts);
  if (ts === undefined) {
    return reject(
      'bad_timestamp',
      `"ts" must be ISO-8601 with a zone (e.g. 2026-11-22T10:00:00Z) or epoch milliseconds, got ${describe(raw.ts)}`,
    );
  }
  if (raw.features === undefined || raw.features === null) {
    return reject('missing_field', 'missing required field "features"');
  }
  if (!isRecord(raw.features)) {
    return reject('wrong_type', `"features" must be an object, got ${describe(raw.features)}`);
  }
  const features: Record<string, FeatureValue> = {};
  for (const [name, value] of Object.entries(raw.features)) {
    const spec = config.features.find((f) => f.name === name);
    if (spec) {
      const checked = checkValue(`features.${name}`, spec.type, value);
      if (!checked.ok) return checked;
      features[name] = checked.value;
    } else {
      // Unmonitored fields are kept for audit but must still be plain JSON scalars.
      const checked = checkValue(`features.${name}`, 'categorical', value);
      if (!checked.ok) return checked;
      features[name] = checked.value;
    }
  }
  for (const field of config.piiFields) {
    if (field in features) features[field] = hashPii(features[field] ?? null, opts.piiSalt);
  }
  const predictionField = config.prediction.field;
  const rawPrediction = raw[predictionField];
  const prediction = checkValue(predictionField, config.prediction.type, rawPrediction);
  if (!prediction.ok) return prediction;
  return {
    ok: true,
    value: {
      model: model.value,
      version: version.value,
      id: id.value,
      ts,
      features,
      prediction: prediction.value,
    },
  };
}

export function decodeLabel(raw: unknown, opts: DecodeOptions): Decoded<LabelEvent> {
  if (raw instanceof UnparseableItem) return reject('invalid_json', raw.message);
  if (!isRecord(raw))
    return reject('not_an_object', `label must be a JSON object, got ${describe(raw)}`);
  const model = requireString(raw, 'model', false);
  if (!model.ok) return model;
  const config = opts.models.get(model.value);
  if (!config) return reject('unknown_model', `model "${model.value}" is not configured`);
  const id = requireString(raw, 'id', true);
  if (!id.ok) return id;
  const ts = raw.ts === undefined || raw.ts === null ? Date.now() : parseTimestamp(raw.ts);
  if (ts === undefined) {
    return reject(
      'bad_timestamp',
      `"ts" must be ISO-8601 with a zone or epoch milliseconds, got ${describe(raw.ts)}`,
    );
  }
  const label = raw[config.label.field] ?? raw.label;
  if (label === undefined || label === null) {
    return reject('missing_field', `missing required field "${config.label.field}"`);
  }
  if (typeof label === 'number') {
    if (!Number.isFinite(label)) return reject('non_finite', `label is ${label}`);
  } else if (typeof label === 'boolean') {
    return { ok: true, value: { model: model.value, id: id.value, ts, label: label ? 1 : 0 } };
  } else if (typeof label !== 'string') {
    return reject('wrong_type', `label must be a number or string, got ${describe(label)}`);
  }
  return { ok: true, value: { model: model.value, id: id.value, ts, label } };
}
