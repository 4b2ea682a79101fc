/**
 * Decoding a batch of Kafka prediction values on another thread. Parsing the JSON of an event
 * and validating it took about a third of the event loop's time under Kafka load (JSON.parse
 * of 20 features ~4 µs, validation ~1 µs); handing the parsed objects back as they are would
 * cost more again (structured clone reads slower than JSON.parse). So the decode thread writes
 * what the windows need in a compact binary form, and the event loop reads it:
 *
 *   main: packValues (one copy of the values) ──► thread: decodePacked (parse, validate, write)
 *   main: readDecoded (events with the configured features) ◄──┘
 *
 * The decisions are `decodePrediction`'s, unchanged: the same reasons and messages for
 * dead letters. An accepted event carries only the model's configured features (what the
 * windows read); the store keeps the received bytes as the raw record, from which it reads
 * every feature. Events of a model with PII fields are decoded on the event loop as before
 * (their stored record is re-encoded with the fields hashed, so every field is needed).
 *
 * No kafkajs here: values and header texts come in as plain bytes and strings.
 */
import { isUtf8 } from 'node:buffer';
import { GrowableBuffer } from '../bytes.js';
import type { ModelConfig } from '../config/types.js';
import type { FeatureValue, PredictionEvent } from '../types.js';
import {
  type Decoded,
  type DecodeOptions,
  decodePrediction,
  INVALID_UTF8_MESSAGE,
  isRecord,
  type RejectReason,
  TextItem,
  textProblem,
} from './decode.js';
import { EventScanner, V_FALSE, V_NULL, V_NUMBER, V_STRING, V_TRUE } from './scan.js';

export type ParsedValue =
  | { ok: true; value: unknown; item: TextItem }
  | {
      ok: false;
      reason: RejectReason;
      message: string;
      /** The parsed value, when the text parsed but broke an item-wide rule (its model label). */
      value?: unknown;
    };

/**
 * Model/version texts beside a message's value (its headers; for predictions also its key, if
 * configured), asked for only when the JSON lacks the field.
 */
export type HeaderLookup = (field: 'model' | 'version') => string | undefined;

/**
 * A Kafka message value as the decoder takes it: size-checked, parsed, checked for repeated
 * keys and lone surrogates (`textProblem`), with
 * model/version filled in from the headers when the JSON has none. The text is the raw record
 * as received (the headers that filled in model/version are not part of it; the store has
 * them in their columns); its bytes ride along when they are valid UTF-8 (copied, not
 * re-encoded).
 */
export function parseValue(
  value: Uint8Array | null,
  maxBytes: number,
  headers?: HeaderLookup,
): ParsedValue {
  if (value === null || value.length === 0) {
    return { ok: false, reason: 'invalid_json', message: 'message has no value' };
  }
  if (value.length > maxBytes) {
    return {
      ok: false,
      reason: 'oversized',
      message: `message value is ${value.length} bytes, limit is ${maxBytes} (kafka.maxMessageBytes)`,
    };
  }
  const bytes = Buffer.isBuffer(value)
    ? value
    : Buffer.from(value.buffer, value.byteOffset, value.length);
  // Decoded, an invalid sequence would become U+FFFD: stored other than sent.
  if (!isUtf8(bytes)) return { ok: false, reason: 'invalid_utf8', message: INVALID_UTF8_MESSAGE };
  const text = bytes.toString('utf8');
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (err) {
    return {
      ok: false,
      reason: 'invalid_json',
      message: `not valid JSON: ${(err as Error).message}`,
    };
  }
  // Before the headers add members of their own to the parsed value (see TextItem.checked).
  const problem = textProblem(text, parsed);
  if (problem) return { ...problem, value: parsed };
  if (isRecord(parsed) && headers !== undefined) {
    if (parsed.model === undefined) {
      const model = headers('model');
      if (model !== undefined) parsed.model = model;
    }
    if (parsed.version === undefined) {
      const version = headers('version');
      if (version !== undefined) parsed.version = version;
    }
  }
  return {
    ok: true,
    value: parsed,
    item: new TextItem(parsed, text, bytes, true),
  };
}

/** The model label of a dead letter: its configured model, else "unknown". */
export function modelLabel(value: unknown, models: ReadonlyMap<string, ModelConfig>): string {
  const model = isRecord(value) ? value.model : undefined;
  return typeof model === 'string' && models.has(model) ? model : 'unknown';
}

/** A prediction message decoded: an event, or a dead letter with its reason. */
export type DecodedMessage =
  | { ok: true; event: PredictionEvent }
  | { ok: false; reason: RejectReason; message: string; model: string };

/** One message on the event loop (the path every message took before the decode thread). */
export function decodeMessage(
  value: Uint8Array | null,
  maxBytes: number,
  opts: DecodeOptions,
  headers?: HeaderLookup,
): DecodedMessage {
  const parsed = parseValue(value, maxBytes, headers);
  if (!parsed.ok) {
    const { reason, message } = parsed;
    return { ok: false, reason, message, model: modelLabel(parsed.value, opts.models) };
  }
  const d: Decoded<PredictionEvent> = decodePrediction(parsed.item, opts);
  if (d.ok) return { ok: true, event: d.value };
  return { ...d, model: modelLabel(parsed.value, opts.models) };
}

// --- the packed batch (event loop → decode thread) ----------------------------------------------

/** The values of a batch in one transferable buffer, with their header texts if any. */
export interface PackedValues {
  /** Every value, back to back (a null value is empty). */
  bytes: Uint8Array;
  /** End offset of value i in `bytes` (its start is the end of value i − 1). */
  ends: Uint32Array;
  /** Model/version header texts by message (null: none), when any message has one. */
  headerModels: Array<string | null> | null;
  headerVersions: Array<string | null> | null;
  /** The live clock's reading when the batch was packed (the decode thread has no clock). */
  now?: number;
}

export function packValues(
  values: ReadonlyArray<Uint8Array | null>,
  headers?: (i: number) => { model?: string; version?: string } | undefined,
): PackedValues {
  let total = 0;
  for (const v of values) total += v === null ? 0 : v.length;
  // Not from the shared pool: the whole ArrayBuffer is transferred to the decode thread.
  const bytes = new Uint8Array(total);
  const ends = new Uint32Array(values.length);
  let at = 0;
  let headerModels: Array<string | null> | null = null;
  let headerVersions: Array<string | null> | null = null;
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    if (v) {
      bytes.set(v, at);
      at += v.length;
    }
    ends[i] = at;
    const h = headers?.(i);
    if (h?.model !== undefined) {
      headerModels ??= new Array<string | null>(values.length).fill(null);
      headerModels[i] = h.model;
    }
    if (h?.version !== undefined) {
      headerVersions ??= new Array<string | null>(values.length).fill(null);
      headerVersions[i] = h.version;
    }
  }
  return { bytes, ends, headerModels, headerVersions };
}

// --- the decoded batch (decode thread → event loop) ---------------------------------------------

const KIND_EVENT = 0;
const KIND_DEAD = 1;
/** Decoded on the event loop instead (a model with PII fields). */
const KIND_LOCAL = 2;

const TAG_ABSENT = 0;
const TAG_NULL = 1;
const TAG_NUMBER = 2;
const TAG_ASCII = 3;
const TAG_UTF8 = 4;
const TAG_TRUE = 5;
const TAG_FALSE = 6;

/** The answer's writer; its buffer is transferred to the event loop whole (see GrowableBuffer). */
class Writer extends GrowableBuffer {
  /** A view of `buf` for numbers (one store each, where Buffer's writers go byte by byte). */
  private view: DataView | undefined;
  private viewOf: Buffer | undefined;
  private dataView(): DataView {
    // `buf` is replaced when it grows.
    if (this.viewOf !== this.buf) {
      this.viewOf = this.buf;
      this.view = new DataView(this.buf.buffer, this.buf.byteOffset, this.buf.length);
    }
    return this.view!;
  }
  u8(v: number): void {
    this.room(1);
    this.buf[this.len++] = v;
  }
  u16(v: number): void {
    this.room(2);
    this.dataView().setUint16(this.len, v, true);
    this.len += 2;
  }
  u32At(at: number, v: number): void {
    this.dataView().setUint32(at, v, true);
  }
  f64(v: number): void {
    this.room(8);
    this.dataView().setFloat64(this.len, v, true);
    this.len += 8;
  }
  /** A string with its kind in the tag: ASCII reads back faster than UTF-8. */
  str(s: string, asciiTag = TAG_ASCII, utf8Tag = TAG_UTF8): void {
    // At most 3 bytes per UTF-16 code unit, + tag + length.
    this.room(s.length * 3 + 5);
    const start = this.len + 5;
    const n = this.buf.write(s, start, 'utf8');
    this.buf[this.len] = n === s.length ? asciiTag : utf8Tag;
    this.u32At(this.len + 1, n);
    this.len = start + n;
  }
  /** Bytes `s0..s1` of `src`, printable ASCII, as a string with its tag (as `str` writes it). */
  ascii(src: Uint8Array, s0: number, s1: number): void {
    const n = s1 - s0;
    this.room(n + 5);
    this.buf[this.len] = TAG_ASCII;
    this.u32At(this.len + 1, n);
    let at = this.len + 5;
    // Short ones (ids, categories) byte by byte: cheaper than a view to copy from.
    if (n <= 64) for (let i = s0; i < s1; i++) this.buf[at++] = src[i]!;
    else {
      this.buf.set(src.subarray(s0, s1), at);
      at += n;
    }
    this.len = at;
  }
  value(v: unknown): void {
    if (v === undefined) this.u8(TAG_ABSENT);
    else if (v === null) this.u8(TAG_NULL);
    else if (typeof v === 'number') {
      this.u8(TAG_NUMBER);
      this.f64(v);
    } else if (typeof v === 'string') this.str(v);
    else if (v === true) this.u8(TAG_TRUE);
    else if (v === false) this.u8(TAG_FALSE);
    // The decoder admits only JSON scalars here.
    else throw new TypeError(`unexpected decoded value of type ${typeof v}`);
  }
}

/**
 * Builds a model's features object from its values in config order, in one step: an object
 * literal of the feature names as constant keys, so every event's object has one known shape.
 * Storing twenty names one by one into an empty object (a keyed store each, new to the inline
 * cache every time) cost more than reading the whole message. Null for names a literal cannot
 * carry as a plain key (`__proto__` would set the prototype instead).
 */
type FeatureMaker = (values: readonly FeatureValue[]) => Record<string, FeatureValue>;
const makers = new WeakMap<ModelConfig, FeatureMaker | null>();

export function featureMaker(config: ModelConfig): FeatureMaker | null {
  let make = makers.get(config);
  if (make === undefined) {
    const names = config.features.map((f) => f.name);
    make = names.includes('__proto__')
      ? null
      : // JSON.stringify quotes any name as a valid JavaScript string literal.
        (new Function(
          'v',
          `return {${names.map((n, i) => `${JSON.stringify(n)}: v[${i}]`).join(', ')}};`,
        ) as FeatureMaker);
    makers.set(config, make);
  }
  return make;
}

/** The models in the order both threads index them by. */
export function modelList(models: ReadonlyMap<string, ModelConfig>): ModelConfig[] {
  return [...models.values()];
}

/**
 * Decode thread: every message of the batch, in order, in the compact form. A live source's
 * clock (`opts.live`) is read once for the batch, and both paths judge every message's time
 * by that reading.
 */
export function decodePacked(
  packed: PackedValues,
  models: readonly ModelConfig[],
  given: DecodeOptions,
  maxBytes: number,
  /** Whether plain messages take the scanner (off: every message the general way, for tests). */
  fast = true,
): Uint8Array {
  const index = new Map<string, number>();
  for (let i = 0; i < models.length; i++) index.set(models[i]!.id, i);
  const { bytes, ends, headerModels, headerVersions } = packed;
  const source = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length);
  const out = new Writer(Math.max(64, ends.length * 256));
  const scanner = fast ? scannerFor(models) : undefined;
  const live = given.live && { now: given.live.now(), maxFutureSkewMs: given.live.maxFutureSkewMs };
  const opts: DecodeOptions = live ? { ...given, live: { ...live, now: () => live.now } } : given;
  let start = 0;
  for (let i = 0; i < ends.length; i++) {
    const end = ends[i]!;
    const value = start === end ? null : source.subarray(start, end);
    start = end;
    // The plain shape is read straight into the answer; anything else the general way below.
    if (
      value !== null &&
      value.length <= maxBytes &&
      scanner?.scan(value, live) &&
      versionAllowed(models[scanner.model]!, value, scanner.versionStart, scanner.versionEnd)
    ) {
      writeScanned(out, scanner, models[scanner.model]!, value);
      continue;
    }
    const headers: HeaderLookup | undefined =
      headerModels === null && headerVersions === null
        ? undefined
        : (field) => (field === 'model' ? headerModels?.[i] : headerVersions?.[i]) ?? undefined;
    const parsed = parseValue(value, maxBytes, headers);
    if (!parsed.ok) {
      out.u8(KIND_DEAD);
      out.str(parsed.reason);
      out.str(parsed.message);
      out.str(modelLabel(parsed.value, opts.models));
      continue;
    }
    const model = isRecord(parsed.value) ? parsed.value.model : undefined;
    const config = typeof model === 'string' ? opts.models.get(model) : undefined;
    if (config !== undefined && config.piiFields.length > 0) {
      out.u8(KIND_LOCAL);
      continue;
    }
    const d = decodePrediction(parsed.item, opts);
    if (!d.ok) {
      out.u8(KIND_DEAD);
      out.str(d.reason);
      out.str(d.message);
      out.str(modelLabel(parsed.value, opts.models));
      continue;
    }
    const e = d.value;
    out.u8(KIND_EVENT);
    out.u16(index.get(e.model)!);
    out.str(e.version);
    out.str(e.id);
    out.f64(e.ts);
    // The raw record: the value's own bytes when they are UTF-8 (the event loop has them),
    // else the decoded text.
    if (e.rawBytes !== undefined) out.u8(1);
    else {
      out.u8(0);
      out.str(e.raw ?? '');
    }
    const fields = config!.features;
    for (let f = 0; f < fields.length; f++) out.value(e.features[fields[f]!.name]);
    out.value(e.prediction);
  }
  return out.finish();
}

/**
 * The scanned version is in the model's `versions.allow` list (any version when it has none).
 * One that is not goes the general way, which rejects it with its reason.
 */
function versionAllowed(config: ModelConfig, value: Uint8Array, start: number, end: number) {
  const allow = config.versions.allow;
  if (allow === null) return true;
  const bytes = Buffer.from(value.buffer, value.byteOffset, value.byteLength);
  return allow.includes(bytes.toString('latin1', start, end));
}

const scanners = new WeakMap<readonly ModelConfig[], EventScanner>();
function scannerFor(models: readonly ModelConfig[]): EventScanner {
  let s = scanners.get(models);
  if (s === undefined) {
    s = new EventScanner(models);
    scanners.set(models, s);
  }
  return s;
}

/** A scanned event in the answer, byte for byte what the general path writes for it. */
function writeScanned(out: Writer, s: EventScanner, config: ModelConfig, value: Uint8Array): void {
  out.u8(KIND_EVENT);
  out.u16(s.model);
  out.ascii(value, s.versionStart, s.versionEnd);
  out.ascii(value, s.idStart, s.idEnd);
  out.f64(s.ts);
  out.u8(1); // the raw record is the value's bytes (ASCII, so UTF-8)
  const n = config.features.length;
  const { kinds, nums, starts, ends } = s;
  for (let f = 0; f <= n; f++) {
    switch (kinds[f]) {
      case V_NUMBER:
        out.u8(TAG_NUMBER);
        out.f64(nums[f]!);
        break;
      case V_STRING:
        out.ascii(value, starts[f]!, ends[f]!);
        break;
      case V_TRUE:
        out.u8(TAG_TRUE);
        break;
      case V_FALSE:
        out.u8(TAG_FALSE);
        break;
      case V_NULL:
        out.u8(TAG_NULL);
        break;
      default:
        // An absent feature; an absent prediction is null (decodePrediction's default).
        out.u8(f === n ? TAG_NULL : TAG_ABSENT);
    }
  }
}

/**
 * Short ASCII strings of the answer (versions, categories) as one string per distinct text,
 * keyed by length and bytes (7 bits each: exact below 2^53): no new string per event, and the
 * sketches' category lookups hash each text once.
 */
const INTERN_MAX_LENGTH = 6;
const INTERN_MAX_ENTRIES = 4096;
const interned = new Map<number, string>();

class Reader {
  at = 0;
  /** Numbers read through a DataView: one load each where Buffer's readers go byte by byte. */
  private readonly view: DataView;
  constructor(readonly buf: Buffer) {
    this.view = new DataView(buf.buffer, buf.byteOffset, buf.length);
  }
  u8(): number {
    return this.buf[this.at++]!;
  }
  u16(): number {
    const v = this.view.getUint16(this.at, true);
    this.at += 2;
    return v;
  }
  u32(at: number): number {
    return this.view.getUint32(at, true);
  }
  f64(): number {
    const v = this.view.getFloat64(this.at, true);
    this.at += 8;
    return v;
  }
  /** The string after its tag. */
  strBody(tag: number): string {
    const n = this.u32(this.at);
    const start = this.at + 4;
    this.at = start + n;
    return this.buf.toString(tag === TAG_ASCII ? 'latin1' : 'utf8', start, start + n);
  }
  str(): string {
    return this.strBody(this.u8());
  }
  /** As `strBody`, short ASCII strings from the intern table. */
  sharedBody(tag: number): string {
    const buf = this.buf;
    const n = this.u32(this.at);
    if (tag !== TAG_ASCII || n > INTERN_MAX_LENGTH) return this.strBody(tag);
    const start = this.at + 4;
    this.at = start + n;
    let key = n;
    for (let i = start; i < start + n; i++) key = key * 128 + buf[i]!;
    let s = interned.get(key);
    if (s === undefined) {
      if (interned.size >= INTERN_MAX_ENTRIES) interned.clear();
      s = buf.toString('latin1', start, start + n);
      interned.set(key, s);
    }
    return s;
  }
  skipStr(): void {
    const tag = this.u8();
    if (tag !== TAG_ASCII && tag !== TAG_UTF8) {
      throw new TypeError(`corrupt decoded batch: string tag ${tag} at byte ${this.at - 1}`);
    }
    this.at += 4 + this.u32(this.at);
  }
  skipValue(): void {
    const tag = this.u8();
    if (tag === TAG_NUMBER) this.at += 8;
    else if (tag === TAG_ASCII || tag === TAG_UTF8) this.at += 4 + this.u32(this.at);
    else if (tag !== TAG_ABSENT && tag !== TAG_NULL && tag !== TAG_TRUE && tag !== TAG_FALSE) {
      throw new TypeError(`corrupt decoded batch: value tag ${tag} at byte ${this.at - 1}`);
    }
  }
  value(): FeatureValue | undefined {
    const tag = this.u8();
    switch (tag) {
      case TAG_ABSENT:
        return undefined;
      case TAG_NULL:
        return null;
      case TAG_NUMBER:
        return this.f64();
      case TAG_ASCII:
      case TAG_UTF8:
        return this.sharedBody(tag);
      case TAG_TRUE:
        return true;
      case TAG_FALSE:
        return false;
      default:
        throw new TypeError(`corrupt decoded batch: value tag ${tag} at byte ${this.at - 1}`);
    }
  }
}

/**
 * Event loop: the decode thread's answer for `values` (the batch it was packed from), checked
 * whole when opened (a corrupt or short answer throws here, before anything is used), each
 * message then read when asked for: a batch of thousands of events need not exist as objects
 * all at once, so each one can be recorded and dropped while it is still young.
 */
export class DecodedBatch {
  private readonly reader: Reader;
  /** One message's feature values while its features object is made. */
  private readonly scratch: Array<FeatureValue | undefined> = [];
  private readonly starts: Int32Array;
  private readonly kinds: Uint8Array;

  constructor(
    decoded: Uint8Array,
    private readonly values: ReadonlyArray<Uint8Array | null>,
    private readonly models: readonly ModelConfig[],
  ) {
    const r = new Reader(Buffer.from(decoded.buffer, decoded.byteOffset, decoded.length));
    this.reader = r;
    this.starts = new Int32Array(values.length);
    this.kinds = new Uint8Array(values.length);
    for (let i = 0; i < values.length; i++) {
      if (r.at >= decoded.length) {
        throw new TypeError(`corrupt decoded batch: ends at message ${i} of ${values.length}`);
      }
      this.starts[i] = r.at;
      const kind = r.u8();
      this.kinds[i] = kind;
      if (kind === KIND_LOCAL) continue;
      if (kind === KIND_DEAD) {
        for (let k = 0; k < 3; k++) r.skipStr();
        continue;
      }
      if (kind !== KIND_EVENT) {
        throw new TypeError(`corrupt decoded batch: kind ${kind} for message ${i}`);
      }
      const config = models[r.u16()];
      if (config === undefined) throw new TypeError('corrupt decoded batch: model index');
      r.skipStr(); // version
      r.skipStr(); // id
      r.at += 8; // ts
      if (r.u8() !== 1) r.skipStr(); // raw text
      for (let f = 0; f <= config.features.length; f++) r.skipValue(); // features, prediction
    }
    if (r.at !== decoded.length) {
      throw new TypeError(
        `corrupt decoded batch: ${decoded.length - r.at} bytes left after ${values.length} messages`,
      );
    }
  }

  /** What the answer holds for message `i`: an event, a rejection, or "decode it yourself". */
  kind(i: number): 'event' | 'dead' | 'local' {
    const k = this.kinds[i];
    return k === KIND_EVENT ? 'event' : k === KIND_DEAD ? 'dead' : 'local';
  }

  /** Message `i`'s event when the thread accepted it (a new object each call). */
  eventAt(i: number): PredictionEvent | undefined {
    if (this.kinds[i] !== KIND_EVENT) return undefined;
    const r = this.reader;
    r.at = this.starts[i]! + 1;
    return this.event(i);
  }

  /** Message `i` read (a new object each call); null where it is to be decoded here. */
  message(i: number): DecodedMessage | null {
    const r = this.reader;
    r.at = this.starts[i]!;
    const kind = r.u8();
    if (kind === KIND_LOCAL) return null;
    if (kind === KIND_DEAD) {
      const reason = r.str() as RejectReason;
      const message = r.str();
      return { ok: false, reason, message, model: r.str() };
    }
    return { ok: true, event: this.event(i) };
  }

  /** The event of message `i`, read from just after its kind. */
  private event(i: number): PredictionEvent {
    const r = this.reader;
    const config = this.models[r.u16()]!;
    const version = r.sharedBody(r.u8());
    const id = r.str();
    const ts = r.f64();
    const event: PredictionEvent = {
      model: config.id,
      version,
      id,
      ts,
      features: {},
      prediction: null,
    };
    if (r.u8() === 1) event.rawBytes = this.values[i]!;
    else event.raw = r.str();
    const fields = config.features;
    const values = this.scratch;
    let absent = false;
    for (let f = 0; f < fields.length; f++) {
      const v = r.value();
      values[f] = v;
      if (v === undefined) absent = true;
    }
    const make = absent ? null : featureMaker(config);
    if (make !== null) event.features = make(values as FeatureValue[]);
    else {
      // A feature the message lacks stays absent from the object, as JSON.parse leaves it.
      const features = event.features;
      for (let f = 0; f < fields.length; f++) {
        const v = values[f];
        if (v !== undefined) features[fields[f]!.name] = v;
      }
    }
    event.prediction = r.value() ?? null;
    return event;
  }
}

/** Every message of an answer read at once (see DecodedBatch); null where decoded here. */
export function readDecoded(
  decoded: Uint8Array,
  values: ReadonlyArray<Uint8Array | null>,
  models: readonly ModelConfig[],
): Array<DecodedMessage | null> {
  const batch = new DecodedBatch(decoded, values, models);
  return values.map((_, i) => batch.message(i));
}
