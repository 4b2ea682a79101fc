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
  | 'unknown_model'
  | 'version_not_allowed';

export type Decoded<T> =
  | { ok: true; value: T }
  | { ok: false; reason: RejectReason; message: string };

export interface DecodeOptions {
  models: ReadonlyMap<string, ModelConfig>;
  /** Salt for hashing PII fields; hashing is deterministic for a given salt. */
  piiSalt: string;
}

export const MAX_ID_LENGTH = 512;
/**
 * The latest time the store can hold (ClickHouse DateTime64 ends with 2299): a later event
 * would be counted into windows and then refused by the raw insert, blocking its batch.
 */
export const LATEST_TS = Date.UTC(2299, 11, 31, 23, 59, 59, 999);

function tooLate(v: unknown): Extract<Decoded<never>, { ok: false }> {
  return reject(
    'bad_timestamp',
    `"ts" ${describe(v)} is after 2299-12-31T23:59:59.999Z, the latest time driftd can store`,
  );
}

/**
 * An item parsed from JSON text that is still at hand (an NDJSON line, a Kafka value): the
 * store keeps that text as the event's raw record (and reads the features back from it)
 * instead of re-encoding the features.
 */
export class TextItem {
  constructor(
    readonly value: unknown,
    readonly text: string,
    /** `text` as UTF-8, when the source has those bytes at hand (copied, not re-encoded). */
    readonly bytes?: Uint8Array,
  ) {}
}

/** A body of text lines, with what is known of its encoding (checked once per body). */
export interface LineSource {
  bytes: Buffer;
  /** Every byte < 0x80: characters are bytes, decoded as latin1 (the fastest decoder). */
  ascii: boolean;
  /** Valid UTF-8: a line's bytes are its text's UTF-8 and are kept as the raw record. */
  utf8: boolean;
}

/**
 * One line of an NDJSON body (bytes `start`..`end`, blanks already trimmed), parsed only when
 * its item is decoded. A request of 5 000 lines then holds offsets while it is processed, not
 * 5 000 parsed events: each event's objects die young instead of being promoted to the old
 * generation, where they kept the major GC running twice a second under load.
 */
export class PendingLine {
  constructor(
    readonly source: LineSource,
    readonly start: number,
    readonly end: number,
    readonly lineNo: number,
  ) {}

  parse(): TextItem | UnparseableItem {
    const { source, start, end } = this;
    const line = source.bytes.toString(source.ascii ? 'latin1' : 'utf8', start, end);
    try {
      const value: unknown = JSON.parse(line);
      return new TextItem(value, line, source.utf8 ? source.bytes.subarray(start, end) : undefined);
    } catch (err) {
      return new UnparseableItem(`line ${this.lineNo}: not valid JSON: ${(err as Error).message}`);
    }
  }
}

/** A PendingLine parsed; any other item as it is. */
export function resolveItem(item: unknown): unknown {
  return item instanceof PendingLine ? item.parse() : item;
}

/** The parsed value of an item, whatever wrapper it came in. */
export function itemValue(item: unknown): unknown {
  const resolved = resolveItem(item);
  return resolved instanceof TextItem ? resolved.value : resolved;
}

/**
 * Stands in for an item whose text was not JSON (an NDJSON line, a file line), so that it
 * keeps its position in the batch and is rejected with `invalid_json` like any other item.
 */
export class UnparseableItem {
  constructor(readonly message: string) {}
}

const reject = (reason: RejectReason, message: string): Extract<Decoded<never>, { ok: false }> => ({
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

export function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** The last timestamp text parsed and its value: events arrive many per millisecond. */
let lastTsText = '';
let lastTsMs: number | undefined;

/** Event time as ISO-8601 text (with zone) or epoch milliseconds. */
export function parseTimestamp(v: unknown): number | undefined {
  if (typeof v === 'number') return Number.isFinite(v) && v >= 0 ? v : undefined;
  if (typeof v !== 'string' || v.length > 64) return undefined;
  if (v === lastTsText) return lastTsMs;
  // Require an explicit zone: a zoneless timestamp would silently shift by the host's offset.
  let ms: number | undefined;
  if (/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})$/.test(v)) {
    const parsed = Date.parse(v);
    ms = Number.isFinite(parsed) ? parsed : undefined;
  }
  lastTsText = v;
  lastTsMs = ms;
  return ms;
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
 * Validates one value against the configured type; returns the rejection, or null when the
 * value is acceptable. JSON cannot carry NaN or Infinity, but in-process callers (replay,
 * tests, library users) can, so they are rejected explicitly. Allocation-free on success:
 * this runs once per feature per event.
 */
function checkValue(
  prefix: string,
  name: string,
  type: 'numeric' | 'categorical',
  v: unknown,
): Extract<Decoded<never>, { ok: false }> | null {
  if (v === undefined || v === null) return null;
  if (typeof v === 'number') {
    return Number.isFinite(v) ? null : reject('non_finite', `${prefix}${name} is ${v}`);
  }
  if (type === 'numeric') {
    return reject('wrong_type', `${prefix}${name} must be a number, got ${describe(v)}`);
  }
  if (typeof v === 'string' || typeof v === 'boolean') return null;
  return reject(
    'wrong_type',
    `${prefix}${name} must be a string, number or boolean, got ${describe(v)}`,
  );
}

/** Per-model lookups built once, not per event. */
interface ModelIndex {
  types: Map<string, 'numeric' | 'categorical'>;
  pii: readonly string[];
}
const indexes = new WeakMap<ModelConfig, ModelIndex>();
function indexOf(config: ModelConfig): ModelIndex {
  let idx = indexes.get(config);
  if (!idx) {
    idx = { types: new Map(config.features.map((f) => [f.name, f.type])), pii: config.piiFields };
    indexes.set(config, idx);
  }
  return idx;
}

export function hashPii(value: FeatureValue, salt: string): FeatureValue {
  if (value === null) return null;
  return `sha256:${createHash('sha256').update(salt).update('\0').update(String(value)).digest('hex')}`;
}

/** Validates a prediction event against its model's config; PII fields come back hashed. */
export function decodePrediction(source: unknown, opts: DecodeOptions): Decoded<PredictionEvent> {
  const item = resolveItem(source);
  if (item instanceof UnparseableItem) return reject('invalid_json', item.message);
  const text = item instanceof TextItem ? item.text : undefined;
  const raw = item instanceof TextItem ? item.value : item;
  if (!isRecord(raw))
    return reject('not_an_object', `event must be a JSON object, got ${describe(raw)}`);
  const model = requireString(raw, 'model', false);
  if (!model.ok) return model;
  const config = opts.models.get(model.value);
  if (!config) return reject('unknown_model', `model "${model.value}" is not configured`);
  const version = requireString(raw, 'version', true);
  if (!version.ok) return version;
  const allowed = config.versions.allow;
  if (allowed !== null && !allowed.includes(version.value)) {
    return reject(
      'version_not_allowed',
      `version ${JSON.stringify(version.value.slice(0, 64))} of model "${model.value}" is not in its versions.allow list`,
    );
  }
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
  if (ts > LATEST_TS) return tooLate(raw.ts);
  if (raw.features === undefined || raw.features === null) {
    return reject('missing_field', 'missing required field "features"');
  }
  if (!isRecord(raw.features)) {
    return reject('wrong_type', `"features" must be an object, got ${describe(raw.features)}`);
  }
  const { types, pii } = indexOf(config);
  const rawFeatures = raw.features;
  for (const name in rawFeatures) {
    // Unmonitored fields are kept for audit but must still be plain JSON scalars.
    const bad = checkValue('features.', name, types.get(name) ?? 'categorical', rawFeatures[name]);
    if (bad) return bad;
  }
  // Validated in place: the parsed object is used as is (no per-event copy on the hot path),
  // except when PII fields must be replaced by their hashes.
  let features = rawFeatures as Record<string, FeatureValue>;
  if (pii.length > 0) {
    features = { ...features };
    for (const field of pii) {
      if (field in features) features[field] = hashPii(features[field] ?? null, opts.piiSalt);
    }
  }
  const predictionField = config.prediction.field;
  const rawPrediction = raw[predictionField];
  const badPrediction = checkValue('', predictionField, config.prediction.type, rawPrediction);
  if (badPrediction) return badPrediction;
  const event: PredictionEvent = {
    model: model.value,
    version: version.value,
    id: id.value,
    ts,
    features,
    prediction: rawPrediction === undefined ? null : (rawPrediction as FeatureValue),
  };
  // The received text is the audit record, unless it holds PII in clear.
  if (text !== undefined && pii.length === 0) {
    event.raw = text;
    const bytes = (item as TextItem).bytes;
    if (bytes !== undefined) event.rawBytes = bytes;
  }
  return { ok: true, value: event };
}

export function decodeLabel(source: unknown, opts: DecodeOptions): Decoded<LabelEvent> {
  const item = resolveItem(source);
  if (item instanceof UnparseableItem) return reject('invalid_json', item.message);
  const raw = itemValue(item);
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
  if (ts > LATEST_TS) return tooLate(raw.ts);
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
