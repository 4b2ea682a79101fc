import { isUtf8 } from 'node:buffer';
import type { ModelConfig } from '../config/types.js';
import {
  EARLIEST_STORABLE_TS,
  LATEST_STORABLE_TS,
  MAX_CATEGORY_LENGTH,
  MAX_ID_LENGTH,
  MAX_MODEL_LENGTH,
  MAX_NESTING_DEPTH,
  MAX_VERSION_LENGTH,
  MIN_EPOCH_MS,
} from '../limits.js';
import { type PiiKey, piiTransform } from '../privacy/pii.js';
import type { FeatureValue, LabelEvent, PredictionEvent } from '../types.js';

/**
 * Decoding and validation of the event contract (DESIGN.md), shared by every source: HTTP,
 * file replay and Kafka. A rejected event is data, not an exception: the caller counts it by
 * `reason` and dead-letters it with `message`.
 *
 * Accepted means storable: every value an accepted item carries fits its store column (the
 * limits of src/limits.ts), so an item counted into a window is certainly written. The rules
 * beyond the field types, each with its reason:
 * - `bad_timestamp`: `ts` is not ISO 8601 with a zone nor non-negative epoch milliseconds.
 * - `ts_epoch_seconds`: a numeric `ts` below 1e11 (MIN_EPOCH_MS), i.e. epoch seconds.
 * - `ts_out_of_range`: a time outside 1900-01-01 .. 2299-12-31T23:59:59.999Z (the store's).
 * - `ts_in_future`: prediction events of live sources only (HTTP, Kafka: `DecodeOptions.live`),
 *   a time more than `ingest.maxFutureSkew` ahead of the daemon's clock; replay accepts any
 *   storable time.
 * - `too_long`: model, version, id, a category string or a string label over its limit.
 * - `duplicate_key`: an object of the item's JSON text repeats a key. JSON.parse keeps the
 *   last, ClickHouse's JSON functions (which read features from the stored text) the first:
 *   such an item would be counted with one value and recomputed with another.
 * - `lone_surrogate`: a string (key or value, anywhere in the item) holds a UTF-16 surrogate
 *   without its pair (JSON text can spell one as `\ud800`). It has no UTF-8 encoding: the store
 *   would keep it altered (U+FFFD), so lookups and label joins by the sent id would fail, or
 *   refuse the whole batch.
 * - `invalid_utf8`: the item's bytes (an NDJSON line, a Kafka value) are not UTF-8 (a stray
 *   0xFF, an overlong or truncated sequence, an encoded surrogate). Decoding would turn them
 *   into U+FFFD: the item would be stored other than sent, as with a lone surrogate.
 * The windows, the store and the audit route thus all see the item exactly as sent.
 */
export type RejectReason =
  | 'invalid_json'
  | 'not_an_object'
  | 'oversized'
  | 'missing_field'
  | 'wrong_type'
  | 'non_finite'
  | 'bad_timestamp'
  | 'ts_epoch_seconds'
  | 'ts_out_of_range'
  | 'ts_in_future'
  | 'too_long'
  | 'duplicate_key'
  | 'lone_surrogate'
  | 'invalid_utf8'
  | 'too_deep'
  | 'undecodable'
  | 'unknown_model'
  | 'version_not_allowed';

export type Decoded<T> =
  | { ok: true; value: T }
  | { ok: false; reason: RejectReason; message: string };

type Rejection = Extract<Decoded<never>, { ok: false }>;

/**
 * The clock of a live source (HTTP, Kafka): events further ahead of it than `maxFutureSkewMs`
 * are rejected (`ts_in_future`), since one of them would move its model version's watermark
 * and make every later on-time event late.
 */
export interface LiveClock {
  now(): number;
  maxFutureSkewMs: number;
}

export interface DecodeOptions {
  models: ReadonlyMap<string, ModelConfig>;
  /**
   * Key of the PII HMAC (src/privacy/pii.ts); required to decode events of a model with PII
   * fields (the config refuses such a model without a key; here an item of it is rejected as
   * `undecodable`).
   */
  piiKey?: PiiKey | null;
  /** Set for live sources; unset (replay) accepts any storable time. */
  live?: LiveClock;
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
    /**
     * Whether the source already checked the text for repeated keys (`textProblem`), before
     * it added fields of its own to `value` (Kafka: model and version from the headers).
     */
    readonly checked = false,
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
    // A body that is not all UTF-8: this line's bytes, checked alone (decoded, an invalid
    // sequence would become U+FFFD and the item be stored other than sent).
    if (!source.utf8 && !isUtf8(source.bytes.subarray(start, end))) {
      return new UnparseableItem(`line ${this.lineNo}: ${INVALID_UTF8_MESSAGE}`, 'invalid_utf8');
    }
    // Valid UTF-8 here: the line's bytes are its text's, kept as the raw record.
    const line = source.bytes.toString(source.ascii ? 'latin1' : 'utf8', start, end);
    try {
      const value: unknown = JSON.parse(line);
      return new TextItem(value, line, source.bytes.subarray(start, end));
    } catch (err) {
      return new UnparseableItem(`line ${this.lineNo}: not valid JSON: ${(err as Error).message}`);
    }
  }
}

/**
 * An item another thread already decoded and accepted (the replay's lines, line-decode.ts):
 * `decodePrediction` takes its event as it is, read from the thread's answer only when asked
 * for. The thread ran the same rules (`decodePrediction`, or the scanner that matches it byte
 * for byte), so the event is the one this thread would have made; `item` (the line) is kept for
 * anything that needs the item itself.
 */
export class PredecodedItem {
  constructor(
    readonly answer: { eventAt(i: number): PredictionEvent | undefined },
    readonly index: number,
    readonly item: unknown,
  ) {}
}

/** A PendingLine parsed; any other item as it is. */
export function resolveItem(item: unknown): unknown {
  if (item instanceof PredecodedItem) return resolveItem(item.item);
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
  constructor(
    readonly message: string,
    readonly reason: 'invalid_json' | 'invalid_utf8' = 'invalid_json',
  ) {}
}

/** Why an item whose bytes are not UTF-8 is rejected (`invalid_utf8`). */
export const INVALID_UTF8_MESSAGE =
  'not valid UTF-8 (a byte sequence with no character: it would be stored as U+FFFD, other than sent)';

const reject = (reason: RejectReason, message: string): Rejection => ({
  ok: false,
  reason,
  message,
});

// --- rules on the whole item: repeated keys, lone surrogates ----------------------------------

const QUOTE = 0x22;
const BACKSLASH = 0x5c;

/** String.prototype.isWellFormed (ES2024; Node ≥ 20): no lone surrogate. */
const wellFormed = (s: string): boolean => (s as unknown as WellFormed).isWellFormed();
interface WellFormed {
  isWellFormed(): boolean;
}

/**
 * The strings JSON.parse made of `v`: member keys and string values, at any depth. For the
 * text `v` was parsed from, this is every string the text spells, less one key (and its
 * value's strings) per repeated key: JSON.parse keeps the last member of a repeated key.
 */
function stringsIn(v: unknown, depth = 0): number {
  if (typeof v === 'string') return 1;
  if (typeof v !== 'object' || v === null) return 0;
  if (depth >= MAX_NESTING_DEPTH) throw TOO_DEEP;
  let n = 0;
  if (Array.isArray(v)) {
    for (let i = 0; i < v.length; i++) n += stringsIn(v[i], depth + 1);
    return n;
  }
  const o = v as Record<string, unknown>;
  for (const k in o) {
    const x = o[k];
    n +=
      typeof x === 'string'
        ? 2
        : typeof x === 'object' && x !== null
          ? 1 + stringsIn(x, depth + 1)
          : 1;
  }
  return n;
}

/** Thrown by the walks below at MAX_NESTING_DEPTH, caught by textProblem: no stack overflow. */
const TOO_DEEP = Symbol('too deep');

/**
 * The first key an object of `text` (valid JSON) repeats, unescaped; undefined when none does.
 * A key-by-key walk, for texts with escapes and to name the key in the message.
 */
export function repeatedKey(text: string): string | undefined {
  const objects: Array<Set<string>> = [];
  const n = text.length;
  for (let i = 0; i < n; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x7b) objects.push(new Set());
    else if (c === 0x7d) objects.pop();
    else if (c === QUOTE) {
      let j = i + 1;
      let escaped = false;
      for (; j < n; j++) {
        const d = text.charCodeAt(j);
        if (d === QUOTE) break;
        if (d === BACKSLASH) {
          escaped = true;
          j++;
        }
      }
      let k = j + 1;
      let d = text.charCodeAt(k);
      while (d === 0x20 || d === 0x0a || d === 0x0d || d === 0x09) d = text.charCodeAt(++k);
      if (d === 0x3a) {
        const key = escaped ? (JSON.parse(text.slice(i, j + 1)) as string) : text.slice(i + 1, j);
        const keys = objects[objects.length - 1];
        if (keys?.has(key)) return key;
        keys?.add(key);
      }
      i = j;
    }
  }
  return undefined;
}

/**
 * Whether the value JSON.parse made of `text` (valid JSON) lost a member to a repeated key.
 * Every quote of the text not escaped by an odd run of backslashes delimits a string, so the
 * text spells quotes / 2 strings, and the value holds that many unless a repeated key dropped
 * some: the quotes found with indexOf, one walk of the value (together about a third of
 * JSON.parse's time), no allocation.
 */
function hasRepeatedKey(text: string, value: unknown): boolean {
  let quotes = 0;
  for (let i = text.indexOf('"'); i >= 0; i = text.indexOf('"', i + 1)) {
    let b = i;
    while (b > 0 && text.charCodeAt(b - 1) === BACKSLASH) b--;
    if (((i - b) & 1) === 0) quotes++;
  }
  return quotes !== 2 * stringsIn(value);
}

/** The first string of `v` (a key or a value, at any depth) with a lone surrogate. */
function illFormed(v: unknown, depth = 0): string | undefined {
  if (typeof v === 'string') return wellFormed(v) ? undefined : v;
  if (typeof v !== 'object' || v === null) return undefined;
  if (depth >= MAX_NESTING_DEPTH) throw TOO_DEEP;
  if (Array.isArray(v)) {
    for (let i = 0; i < v.length; i++) {
      const bad = illFormed(v[i], depth + 1);
      if (bad !== undefined) return bad;
    }
    return undefined;
  }
  const o = v as Record<string, unknown>;
  for (const k in o) {
    if (!wellFormed(k)) return k;
    const x = o[k];
    if (typeof x === 'string') {
      if (!wellFormed(x)) return x;
    } else if (typeof x === 'object' && x !== null) {
      const bad = illFormed(x, depth + 1);
      if (bad !== undefined) return bad;
    }
  }
  return undefined;
}

/**
 * The item-wide rules (see RejectReason): a repeated key in the JSON text, a lone surrogate in
 * any string. `text` is what `value` was parsed from; undefined when the item came as a value
 * (a JSON array body parsed whole, an in-process caller): its keys are unique then, and the
 * store re-encodes it, so only its strings need a look. A lone surrogate comes from a text
 * only as a `\u` escape (text decoded from bytes has none), so most texts skip that walk.
 */
export function textProblem(text: string | undefined, value: unknown): Rejection | null {
  try {
    return walkProblem(text, value);
  } catch (err) {
    if (err !== TOO_DEEP) throw err;
    return reject(
      'too_deep',
      `arrays or objects are nested more than ${MAX_NESTING_DEPTH} levels deep (the store reads at most 1 024)`,
    );
  }
}

function walkProblem(text: string | undefined, value: unknown): Rejection | null {
  if (text !== undefined && hasRepeatedKey(text, value)) {
    const key = repeatedKey(text) ?? '?';
    return reject(
      'duplicate_key',
      `key ${JSON.stringify(key.slice(0, 64))} appears twice in one object; every key must be unique (JSON.parse keeps the last value, ClickHouse the first)`,
    );
  }
  if (text === undefined || text.indexOf('\\u') >= 0 || !wellFormed(text)) {
    const bad = illFormed(value);
    if (bad !== undefined) {
      return reject(
        'lone_surrogate',
        `the string ${JSON.stringify(bad.slice(0, 40))} holds a lone UTF-16 surrogate (e.g. "\\ud800" without its pair), which has no UTF-8 encoding`,
      );
    }
  }
  return null;
}

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

/**
 * Whether the date of an ISO-8601 text (YYYY-MM-DD…) is a day of its month. Date.parse takes
 * any day up to 31 and rolls it over: "2026-02-30" would be read as March 2 (the Kafka scanner
 * already sends such texts here, so the two paths agree).
 */
function dayExists(v: string): boolean {
  const year = Number(v.slice(0, 4));
  const month = Number(v.slice(5, 7));
  const day = Number(v.slice(8, 10));
  const leap = (year % 4 === 0 && year % 100 !== 0) || year % 400 === 0;
  const days =
    month === 2
      ? leap
        ? 29
        : 28
      : month === 4 || month === 6 || month === 9 || month === 11
        ? 30
        : 31;
  return day <= days;
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
  if (
    /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})$/.test(v) &&
    dayExists(v)
  ) {
    const parsed = Date.parse(v);
    ms = Number.isFinite(parsed) ? parsed : undefined;
  }
  lastTsText = v;
  lastTsMs = ms;
  return ms;
}

/** How `ts` was written, for messages: a number as is, a string quoted and cut short. */
function tsText(v: unknown): string {
  return typeof v === 'number' ? String(v) : JSON.stringify(String(v).slice(0, 40));
}

/** "3h 20m" style: how far ahead an event is, to the minute (at least "1m"). */
function aheadText(ms: number): string {
  const minutes = Math.max(1, Math.round(ms / 60_000));
  const days = Math.floor(minutes / 1440);
  const hours = Math.floor((minutes % 1440) / 60);
  const rest = minutes % 60;
  return [days > 0 ? `${days}d` : '', hours > 0 ? `${hours}h` : '', rest > 0 ? `${rest}m` : '']
    .filter((p) => p !== '')
    .join(' ');
}

/**
 * The rules on an event time `ms` read from `v` (see RejectReason): null when it is storable
 * (and, for a live source, not too far ahead of its clock). One place for predictions and
 * labels; the scanner (scan.ts) applies the same bounds and leaves every rejection to here.
 */
export function checkTime(v: unknown, ms: number, live: LiveClock | undefined): Rejection | null {
  if (typeof v === 'number' && ms < MIN_EPOCH_MS) {
    return reject(
      'ts_epoch_seconds',
      `"ts" ${v} would be ${new Date(ms).toISOString()} in epoch milliseconds: epoch seconds? ts must be epoch milliseconds or ISO 8601`,
    );
  }
  if (!(ms >= EARLIEST_STORABLE_TS)) {
    return reject(
      'ts_out_of_range',
      `"ts" ${tsText(v)} is before 1900-01-01T00:00:00.000Z, the earliest time driftd can store`,
    );
  }
  if (ms > LATEST_STORABLE_TS) {
    // A number this large is most likely epoch microseconds or nanoseconds.
    const hint =
      typeof v === 'number'
        ? ' (epoch microseconds? ts must be epoch milliseconds or ISO 8601)'
        : '';
    return reject(
      'ts_out_of_range',
      `"ts" ${tsText(v)} is after 2299-12-31T23:59:59.999Z, the latest time driftd can store${hint}`,
    );
  }
  if (live !== undefined) {
    const now = live.now();
    if (ms - now > live.maxFutureSkewMs) {
      return reject(
        'ts_in_future',
        `"ts" ${tsText(v)} is ${aheadText(ms - now)} ahead of driftd's clock (${new Date(now).toISOString()}); live events may be at most ${aheadText(live.maxFutureSkewMs)} ahead (ingest.maxFutureSkew)`,
      );
    }
  }
  return null;
}

/** A required text field: present, a string (or a finite number, if allowed), at most `max` long. */
function requireString(
  obj: Record<string, unknown>,
  key: string,
  allowNumber: boolean,
  max: number,
): Decoded<string> {
  const v = obj[key];
  if (v === undefined || v === null || v === '') {
    return reject('missing_field', `missing required field "${key}"`);
  }
  if (typeof v === 'string') {
    if (v.length > max) {
      return reject('too_long', `"${key}" is ${v.length} characters long, the limit is ${max}`);
    }
    return { ok: true, value: v };
  }
  if (allowNumber && typeof v === 'number' && Number.isFinite(v)) {
    // Only integers a double holds exactly: 12345678901234567890 would be read as
    // 12345678901234567000 (two ids colliding, a label joined to the wrong prediction), and
    // version 3.10 as "3.1".
    if (!Number.isSafeInteger(v)) {
      return reject(
        'wrong_type',
        `"${key}" ${v} is not an integer of at most 2^53 - 1, so JSON readers may alter it; send it as a string`,
      );
    }
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
  /** `unmonitored`: a field no window reads, kept in the raw record only (no length limit). */
  type: 'numeric' | 'categorical' | 'unmonitored',
  v: unknown,
): Rejection | null {
  if (v === undefined || v === null) return null;
  if (typeof v === 'number') {
    return Number.isFinite(v) ? null : reject('non_finite', `${prefix}${name} is ${v}`);
  }
  if (type === 'numeric') {
    return reject('wrong_type', `${prefix}${name} must be a number, got ${describe(v)}`);
  }
  if (typeof v === 'string') {
    if (type === 'categorical' && v.length > MAX_CATEGORY_LENGTH) {
      return reject(
        'too_long',
        `${prefix}${name} is a string of ${v.length} characters, the limit for a category is ${MAX_CATEGORY_LENGTH}`,
      );
    }
    return null;
  }
  if (typeof v === 'boolean') return null;
  return reject(
    'wrong_type',
    `${prefix}${name} must be a string, number or boolean, got ${describe(v)}`,
  );
}

/** Per-model lookups built once, not per event. */
interface ModelIndex {
  types: Map<string, 'numeric' | 'categorical'>;
  /** PII keys of `features` (monitored or not). */
  piiFeatures: readonly string[];
  /** `id` is a PII field. */
  piiId: boolean;
  /** The model has PII fields: its received text is not kept. */
  pii: boolean;
  /** Top-level members the config names; with `keepUnlisted` false, any other is dropped. */
  named: ReadonlySet<string>;
  keepUnlisted: boolean;
}
const indexes = new WeakMap<ModelConfig, ModelIndex>();
function indexOf(config: ModelConfig): ModelIndex {
  let idx = indexes.get(config);
  if (!idx) {
    idx = {
      types: new Map(config.features.map((f) => [f.name, f.type])),
      piiFeatures: config.piiFields.filter((f) => f !== 'id'),
      piiId: config.piiFields.includes('id'),
      pii: config.piiFields.length > 0,
      named: new Set(['model', 'version', 'id', 'ts', 'features', config.prediction.field]),
      keepUnlisted: config.storeUnlistedFields === true,
    };
    indexes.set(config, idx);
  }
  return idx;
}

/** Whether `raw` (a validated event) has a member or a feature the config does not name. */
function hasUnlisted(
  raw: Record<string, unknown>,
  features: Record<string, unknown>,
  idx: ModelIndex,
): boolean {
  for (const key in raw) if (!idx.named.has(key)) return true;
  for (const key in features) if (!idx.types.has(key)) return true;
  return false;
}

function keyFor(opts: DecodeOptions, model: string): PiiKey {
  const key = opts.piiKey;
  if (key === undefined || key === null) {
    throw new Error(`model "${model}" has PII fields and no PII key is configured`);
  }
  return key;
}

/** Validates a prediction event against its model's config; PII fields come back hashed. */
export function decodePrediction(source: unknown, opts: DecodeOptions): Decoded<PredictionEvent> {
  return neverThrows(() => decodePredictionItem(source, opts));
}

/**
 * A decoder's answer, whatever the item: an exception (a bug some input reaches) rejects that
 * one item with reason `undecodable`, instead of failing its whole batch or request — a batch
 * that fails whole is resent, and fails again, for ever.
 */
function neverThrows<T>(decode: () => Decoded<T>): Decoded<T> {
  try {
    return decode();
  } catch (err) {
    const what = err instanceof Error ? `${err.name}: ${err.message}` : String(err);
    return reject('undecodable', `driftd could not decode this item (${what.slice(0, 200)})`);
  }
}

function decodePredictionItem(source: unknown, opts: DecodeOptions): Decoded<PredictionEvent> {
  if (source instanceof PredecodedItem) {
    const event = source.answer.eventAt(source.index);
    if (event !== undefined) return { ok: true, value: event };
  }
  const item = resolveItem(source);
  if (item instanceof UnparseableItem) return reject(item.reason, item.message);
  const text = item instanceof TextItem ? item.text : undefined;
  const raw = item instanceof TextItem ? item.value : item;
  if (!isRecord(raw))
    return reject('not_an_object', `event must be a JSON object, got ${describe(raw)}`);
  const problem = item instanceof TextItem && item.checked ? null : textProblem(text, raw);
  if (problem) return problem;
  const model = requireString(raw, 'model', false, MAX_MODEL_LENGTH);
  if (!model.ok) return model;
  const config = opts.models.get(model.value);
  if (!config) return reject('unknown_model', `model "${model.value}" is not configured`);
  const version = requireString(raw, 'version', true, MAX_VERSION_LENGTH);
  if (!version.ok) return version;
  const allowed = config.versions.allow;
  if (allowed !== null && !allowed.includes(version.value)) {
    return reject(
      'version_not_allowed',
      `version ${JSON.stringify(version.value.slice(0, 64))} of model "${model.value}" is not in its versions.allow list`,
    );
  }
  const id = requireString(raw, 'id', true, MAX_ID_LENGTH);
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
  const badTime = checkTime(raw.ts, ts, opts.live);
  if (badTime) return badTime;
  if (raw.features === undefined || raw.features === null) {
    return reject('missing_field', 'missing required field "features"');
  }
  if (!isRecord(raw.features)) {
    return reject('wrong_type', `"features" must be an object, got ${describe(raw.features)}`);
  }
  const idx = indexOf(config);
  const types = idx.types;
  const rawFeatures = raw.features;
  for (const name in rawFeatures) {
    // Unmonitored fields must still be plain JSON scalars (kept or not, the item is checked
    // the same way whatever the config keeps).
    const bad = checkValue('features.', name, types.get(name) ?? 'unmonitored', rawFeatures[name]);
    if (bad) return bad;
  }
  // Validated in place: the parsed object is used as is (no per-event copy on the hot path),
  // except when fields the config does not name are dropped (data minimisation) or PII fields
  // are replaced by their HMACs.
  let features = rawFeatures as Record<string, FeatureValue>;
  const minimised = !idx.keepUnlisted && hasUnlisted(raw, rawFeatures, idx);
  if (minimised) {
    features = {};
    for (const name in rawFeatures) {
      if (types.has(name)) features[name] = rawFeatures[name] as FeatureValue;
    }
  }
  let eventId = id.value;
  if (idx.pii) {
    const key = keyFor(opts, config.id);
    if (!minimised) features = { ...features };
    for (const field of idx.piiFeatures) {
      if (field in features) features[field] = piiTransform(features[field] ?? null, key);
    }
    if (idx.piiId) eventId = piiTransform(eventId, key) as string;
  }
  const predictionField = config.prediction.field;
  const rawPrediction = raw[predictionField];
  const badPrediction = checkValue('', predictionField, config.prediction.type, rawPrediction);
  if (badPrediction) return badPrediction;
  const event: PredictionEvent = {
    model: model.value,
    version: version.value,
    id: eventId,
    ts,
    features,
    prediction: rawPrediction === undefined ? null : (rawPrediction as FeatureValue),
  };
  // The received text is the audit record, unless it holds PII in clear or fields the config
  // does not keep.
  if (text !== undefined && !idx.pii && !minimised) {
    event.raw = text;
    const bytes = (item as TextItem).bytes;
    if (bytes !== undefined) event.rawBytes = bytes;
  }
  return { ok: true, value: event };
}

export function decodeLabel(source: unknown, opts: DecodeOptions): Decoded<LabelEvent> {
  return neverThrows(() => decodeLabelItem(source, opts));
}

function decodeLabelItem(source: unknown, opts: DecodeOptions): Decoded<LabelEvent> {
  const item = resolveItem(source);
  if (item instanceof UnparseableItem) return reject(item.reason, item.message);
  const raw = itemValue(item);
  if (!isRecord(raw))
    return reject('not_an_object', `label must be a JSON object, got ${describe(raw)}`);
  const text = item instanceof TextItem ? item.text : undefined;
  const problem = item instanceof TextItem && item.checked ? null : textProblem(text, raw);
  if (problem) return problem;
  const model = requireString(raw, 'model', false, MAX_MODEL_LENGTH);
  if (!model.ok) return model;
  const config = opts.models.get(model.value);
  if (!config) return reject('unknown_model', `model "${model.value}" is not configured`);
  const given = requireString(raw, 'id', true, MAX_ID_LENGTH);
  if (!given.ok) return given;
  // A hashed id joins the prediction stored under the same hash.
  const id = indexOf(config).piiId
    ? { ok: true as const, value: piiTransform(given.value, keyFor(opts, config.id)) as string }
    : given;
  const absent = raw.ts === undefined || raw.ts === null;
  // A label without a time is stamped with the clock (a live source's, else the host's).
  const ts = absent ? (opts.live?.now() ?? Date.now()) : parseTimestamp(raw.ts);
  if (ts === undefined) {
    return reject(
      'bad_timestamp',
      `"ts" must be ISO-8601 with a zone or epoch milliseconds, got ${describe(raw.ts)}`,
    );
  }
  // Labels are never windowed by their own time (performance goes by the prediction's): a
  // future one moves no watermark, so only the storable range applies, on every source.
  if (!absent) {
    const badTime = checkTime(raw.ts, ts, undefined);
    if (badTime) return badTime;
  }
  const label = raw[config.label.field] ?? raw.label;
  if (label === undefined || label === null) {
    return reject('missing_field', `missing required field "${config.label.field}"`);
  }
  if (typeof label === 'number') {
    if (!Number.isFinite(label)) return reject('non_finite', `label is ${label}`);
  } else if (typeof label === 'string' && label.length > MAX_CATEGORY_LENGTH) {
    return reject(
      'too_long',
      `label is a string of ${label.length} characters, the limit is ${MAX_CATEGORY_LENGTH}`,
    );
  } else if (typeof label === 'boolean') {
    return { ok: true, value: { model: model.value, id: id.value, ts, label: label ? 1 : 0 } };
  } else if (typeof label !== 'string') {
    return reject('wrong_type', `label must be a number or string, got ${describe(label)}`);
  }
  return { ok: true, value: { model: model.value, id: id.value, ts, label } };
}
