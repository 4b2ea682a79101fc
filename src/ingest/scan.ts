import type { ModelConfig } from '../config/types.js';
import {
  EARLIEST_STORABLE_TS,
  LATEST_STORABLE_TS,
  MAX_CATEGORY_LENGTH,
  MAX_ID_LENGTH,
  MAX_VERSION_LENGTH,
  MIN_EPOCH_MS,
} from '../limits.js';
import { productError } from '../stats/special.js';
import { parseTimestamp } from './decode.js';

/*
 * The fast path of the Kafka decode thread: reads a prediction event straight from its bytes,
 * without JSON.parse building an object tree that decodePrediction walks and the answer writer
 * walks again. It reads only the plain shape producers write: an object of printable ASCII
 * strings without escapes, JSON numbers, booleans and nulls, a flat `features` object, the
 * model named before its features, a configured model that hashes no PII field, and no field
 * the config does not name unless the model keeps such fields (storeUnlistedFields). On anything
 * else — other shapes, invalid JSON, and every event the general path would reject — it says
 * no, and the caller decodes the message the general way, which gives the event or the
 * rejection with its reason and message. So this path decides nothing of its own: what it
 * reads is what JSON.parse + decodePrediction give for the same bytes, down to the double of
 * each number (test/unit/ingest/scan.test.ts compares the two answers byte for byte).
 *
 * The rules of "accepted means storable" (decode.ts, src/limits.ts) hold here by the same
 * bounds: a time outside the store's range, a numeric time below MIN_EPOCH_MS (epoch seconds),
 * a live event too far ahead of the clock, a version, id or category string over its limit,
 * a key repeated in an object — each makes this path say no. Strings with escapes never come
 * this way, so neither do lone surrogates.
 */

const QUOTE = 0x22;
const COMMA = 0x2c;
const COLON = 0x3a;
const OPEN = 0x7b;
const CLOSE = 0x7d;
const BACKSLASH = 0x5c;
const MINUS = 0x2d;
const PLUS = 0x2b;
const DOT = 0x2e;
const ZERO = 0x30;
const NINE = 0x39;

const KEY_MODEL = 1;
const KEY_VERSION = 2;
const KEY_ID = 3;
const KEY_TS = 4;
const KEY_FEATURES = 5;

/** Keys of one object this path tracks for repeats beyond the ones it reads (else: no). */
const MAX_OTHER_KEYS = 32;

/** Exact powers of ten as doubles (10^22 is the largest one a double holds exactly). */
const POW10 = Array.from({ length: 23 }, (_, i) => Number(`1e${i}`));

/** A scanned value's kind (strings are byte ranges of the input). V_ABSENT: not in the event. */
export const V_ABSENT = 0;
export const V_NUMBER = 1;
export const V_STRING = 2;
export const V_TRUE = 3;
export const V_FALSE = 4;
export const V_NULL = 5;

interface ModelPlan {
  idBytes: Uint8Array;
  /** Configured feature names as bytes, in config order, and whether each is numeric. */
  names: Uint8Array[];
  numeric: boolean[];
  predictionField: Uint8Array;
  predictionNumeric: boolean;
  /** storeUnlistedFields: else an event with a field the config does not name goes the general way (which drops it). */
  keepUnlisted: boolean;
}

const encoder = new TextEncoder();

function isPlainAscii(s: string): boolean {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x20 || c >= 0x7f || c === QUOTE || c === BACKSLASH) return false;
  }
  return true;
}

/** Undefined for a model this path leaves to the general one. */
function planFor(config: ModelConfig): ModelPlan | undefined {
  // PII fields are hashed by the general path; names this path could not match byte for
  // byte (escapes, non-ASCII) leave the model to it as well.
  if (config.piiFields.length > 0) return undefined;
  if (!isPlainAscii(config.id) || !isPlainAscii(config.prediction.field)) return undefined;
  if (config.features.some((f) => !isPlainAscii(f.name))) return undefined;
  if (['model', 'version', 'id', 'ts', 'features'].includes(config.prediction.field))
    return undefined;
  return {
    idBytes: encoder.encode(config.id),
    names: config.features.map((f) => encoder.encode(f.name)),
    numeric: config.features.map((f) => f.type === 'numeric'),
    predictionField: encoder.encode(config.prediction.field),
    predictionNumeric: config.prediction.type === 'numeric',
    keepUnlisted: config.storeUnlistedFields === true,
  };
}

// --- decimal to double ---------------------------------------------------------------------------

const TWO_53 = 2 ** 53;
const bits = new Float64Array(1);
const words = new Uint32Array(bits.buffer);
/** Index of the high 32-bit word of a double in `words` (little-endian hosts: 1). */
const HI = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1 ? 1 : 0;
const LO = 1 - HI;

/** The next double away from zero (x positive, finite). */
function nextUp(x: number): number {
  bits[0] = x;
  words[LO] = (words[LO]! + 1) >>> 0;
  if (words[LO] === 0) words[HI] = words[HI]! + 1;
  return bits[0]!;
}

/** The next double toward zero (x positive, not the smallest subnormal). */
function nextDown(x: number): number {
  bits[0] = x;
  if (words[LO] === 0) words[HI] = words[HI]! - 1;
  words[LO] = (words[LO]! - 1) >>> 0;
  return bits[0]!;
}

/**
 * The double nearest to (high · 10^lowDigits + low) · 10^scale, with `high` < 10^9 and `low` <
 * 10^lowDigits ≤ 10^8: the digits of a decimal of at most 17 significant digits, which is
 * every double printed shortest (JavaScript, Python's repr) or with %.17g. Undefined when this
 * cannot be sure of the correctly rounded result; Number() on the text decides then.
 *
 * Exact decimals below 2^53 with |scale| ≤ 22 take one IEEE operation of two exact operands
 * (Clinger's fast path). Longer ones with a fractional part are divided once and corrected:
 * the mantissa is exact as a sum of two doubles, the product quotient × 10^k exact as another
 * (Dekker), so the residual tells whether the quotient is the nearest double or its neighbour;
 * a residual within a hair of half a unit (a near tie) gives up.
 */
function toDouble(high: number, low: number, lowDigits: number, scale: number): number | undefined {
  const a = high * POW10[lowDigits]!; // < 10^9 · 5^8 · 2^8: exact
  const m = a + low;
  const mErr = a - m + low; // exact: m + mErr is the mantissa
  if (mErr === 0 && m <= TWO_53) {
    if (scale === 0) return m;
    if (scale < 0 && scale >= -22) return m / POW10[-scale]!;
    if (scale > 0 && scale <= 22) return m * POW10[scale]!;
    return undefined;
  }
  if (scale >= 0 || scale < -22 || m === 0) return undefined;
  const p10 = POW10[-scale]!;
  let q = m / p10;
  // q · p10 = p + pErr exactly (Dekker's product).
  const p = q * p10;
  const pErr = productError(q, p10, p);
  // mantissa − q · p10: m − p is exact (the two are within a unit of each other).
  const residual = m - p + (mErr - pErr);
  // Half the spacing of doubles at q, scaled by p10 (a power of ten times a power of two: exact).
  const up = nextUp(q) - q;
  const half = (up / 2) * p10;
  const margin = half * 2 ** -30;
  const r = Math.abs(residual);
  if (Math.abs(r - half) <= margin) return undefined;
  if (r < half) return q;
  if (r > 3 * half) return undefined;
  if (residual > 0) q = nextUp(q);
  else {
    const down = nextDown(q);
    // At a power of two the spacing below is half the spacing above: let Number() decide.
    if (q - down !== up) return undefined;
    q = down;
  }
  return q;
}

/** Days in a month of the proleptic Gregorian calendar. */
function daysIn(year: number, month: number): number {
  if (month === 2) return (year % 4 === 0 && year % 100 !== 0) || year % 400 === 0 ? 29 : 28;
  return month === 4 || month === 6 || month === 9 || month === 11 ? 30 : 31;
}

/**
 * After a successful `scan`, the event: its model (index into the list given), version and id
 * (byte ranges), time, and per configured feature (config order) and for the prediction a value
 * kind with its number or byte range. Reused from message to message.
 */
export class EventScanner {
  private readonly plans: Array<ModelPlan | undefined>;
  private readonly anyPlan: boolean;
  /** Every plan's prediction field: a member seen before the model may be one of them. */
  private readonly predictionFields: Uint8Array[];
  /** The value just read: its kind and its number or string byte range. */
  private kind = V_ABSENT;
  private num = 0;
  private s0 = 0;
  private s1 = 0;
  private lastTs = new Uint8Array(64);
  private lastTsLength = -1;
  private lastTsMs = 0;
  /** The live clock's reading for this batch and its allowed skew (see `scan`). */
  private now = 0;
  private maxFutureSkewMs = Number.POSITIVE_INFINITY;
  /** Byte ranges of the keys read and not needed, per object (top level, then `features`). */
  private readonly otherKeys = new Int32Array(4 * MAX_OTHER_KEYS);
  private otherTop = 0;
  private otherFeatures = 0;

  model = -1;
  ts = 0;
  versionStart = 0;
  versionEnd = 0;
  idStart = 0;
  idEnd = 0;
  /** Per configured feature of `model`, then the prediction at index features.length. */
  kinds: Uint8Array = new Uint8Array(0);
  nums: Float64Array = new Float64Array(0);
  starts: Int32Array = new Int32Array(0);
  ends: Int32Array = new Int32Array(0);

  constructor(models: readonly ModelConfig[]) {
    this.plans = models.map(planFor);
    this.anyPlan = this.plans.some((p) => p !== undefined);
    this.predictionFields = this.plans.flatMap((p) => (p === undefined ? [] : [p.predictionField]));
    const most = Math.max(0, ...models.map((m) => m.features.length)) + 1;
    this.kinds = new Uint8Array(most);
    this.nums = new Float64Array(most);
    this.starts = new Int32Array(most);
    this.ends = new Int32Array(most);
  }

  /**
   * Reads the event in `bytes` (a whole message value); false when it is not of the plain
   * shape this path reads: decode it the general way then. Byte ranges index `bytes`.
   *
   * The readers below take the position and return the one after what they read, or -1 when
   * it is not of the plain shape; a read past the end gives undefined, which nothing matches.
   */
  scan(bytes: Uint8Array, live?: { now: number; maxFutureSkewMs: number }): boolean {
    if (!this.anyPlan) return false;
    this.now = live?.now ?? 0;
    this.maxFutureSkewMs = live?.maxFutureSkewMs ?? Number.POSITIVE_INFINITY;
    this.otherTop = 0;
    this.otherFeatures = 0;
    return this.event(bytes, bytes.length);
  }

  /**
   * Notes key `k0..k1` (a key no other check tracks) of the top-level object (slot 0) or of
   * `features` (slot 1); false when the object had it already, or has more such keys than
   * this path tracks.
   */
  private firstOther(b: Uint8Array, k0: number, k1: number, slot: 0 | 1): boolean {
    const keys = this.otherKeys;
    const base = slot * 2 * MAX_OTHER_KEYS;
    const n = slot === 0 ? this.otherTop : this.otherFeatures;
    if (n === MAX_OTHER_KEYS) return false;
    const length = k1 - k0;
    for (let i = 0; i < n; i++) {
      const s0 = keys[base + 2 * i]!;
      const s1 = keys[base + 2 * i + 1]!;
      if (s1 - s0 !== length) continue;
      let same = true;
      for (let j = 0; j < length; j++) {
        if (b[s0 + j] !== b[k0 + j]) {
          same = false;
          break;
        }
      }
      if (same) return false;
    }
    keys[base + 2 * n] = k0;
    keys[base + 2 * n + 1] = k1;
    if (slot === 0) this.otherTop = n + 1;
    else this.otherFeatures = n + 1;
    return true;
  }

  private event(b: Uint8Array, end: number): boolean {
    let at = ws(b, 0, end);
    if (b[at] !== OPEN) return false;
    at = ws(b, at + 1, end);
    if (b[at] === CLOSE) return false; // {}: the general path rejects it
    let plan: ModelPlan | undefined;
    let seen = 0;
    let haveFeatures = false;
    const kinds = this.kinds;
    for (;;) {
      at = ws(b, at, end);
      if (b[at] !== QUOTE) return false;
      const k0 = at + 1;
      const k1 = stringEnd(b, at, end);
      if (k1 < 0) return false;
      const key = topKey(b, k0, k1);
      at = ws(b, k1 + 1, end);
      if (b[at] !== COLON) return false;
      at = ws(b, at + 1, end);
      if (key !== 0) {
        const bit = 1 << key;
        if ((seen & bit) !== 0) return false; // a duplicate: JSON.parse keeps the last
        seen |= bit;
      }
      if (key === KEY_FEATURES) {
        if (plan === undefined) return false;
        at = this.features(b, at, end, plan);
        if (at < 0) return false;
        haveFeatures = true;
      } else {
        at = this.value(b, at, end);
        if (at < 0) return false;
        const kind = this.kind;
        if (key === KEY_MODEL) {
          if (kind !== V_STRING) return false;
          plan = this.planOf(b, this.s0, this.s1);
          if (plan === undefined) return false;
          const n = plan.names.length + 1;
          for (let i = 0; i < n; i++) kinds[i] = V_ABSENT;
        } else if (key === KEY_VERSION) {
          if (kind !== V_STRING || this.s1 === this.s0 || this.s1 - this.s0 > MAX_VERSION_LENGTH) {
            return false;
          }
          this.versionStart = this.s0;
          this.versionEnd = this.s1;
        } else if (key === KEY_ID) {
          if (kind !== V_STRING || this.s1 === this.s0 || this.s1 - this.s0 > MAX_ID_LENGTH) {
            return false;
          }
          this.idStart = this.s0;
          this.idEnd = this.s1;
        } else if (key === KEY_TS) {
          let ts: number | undefined;
          if (kind === V_STRING) ts = this.timestamp(b);
          else if (kind === V_NUMBER) {
            ts = parseTimestamp(this.num);
            if (ts !== undefined && ts < MIN_EPOCH_MS) return false; // epoch seconds?
          }
          if (ts === undefined || !(ts >= EARLIEST_STORABLE_TS) || ts > LATEST_STORABLE_TS) {
            return false;
          }
          if (ts - this.now > this.maxFutureSkewMs) return false;
          this.ts = ts;
        } else if (plan === undefined) {
          // Before the model: a member that is some model's prediction goes the general way.
          for (const field of this.predictionFields) if (sameBytes(b, k0, k1, field)) return false;
          if (!this.firstOther(b, k0, k1, 0)) return false;
        } else if (sameBytes(b, k0, k1, plan.predictionField)) {
          const p = plan.names.length;
          if (kinds[p] !== V_ABSENT) return false; // a duplicate
          if (plan.predictionNumeric && kind !== V_NUMBER && kind !== V_NULL) return false;
          if (kind === V_STRING && this.s1 - this.s0 > MAX_CATEGORY_LENGTH) return false;
          this.keep(p);
        } else if (!this.firstOther(b, k0, k1, 0)) return false;
        // Any other member: a scalar, valid and not needed (once per object).
      }
      at = ws(b, at, end);
      const c = b[at++];
      if (c === COMMA) continue;
      if (c !== CLOSE) return false;
      break;
    }
    if (ws(b, at, end) !== end) return false;
    const required = (1 << KEY_MODEL) | (1 << KEY_VERSION) | (1 << KEY_ID) | (1 << KEY_TS);
    // Fields the config does not name are dropped by the general path (the stored record is
    // re-encoded without them); this path keeps the bytes whole, so it takes only events
    // without such fields, unless the model keeps them.
    if (plan !== undefined && !plan.keepUnlisted && this.otherTop + this.otherFeatures > 0) {
      return false;
    }
    return (seen & required) === required && haveFeatures;
  }

  /** Keeps the value just read as entry `i`. */
  private keep(i: number): void {
    this.kinds[i] = this.kind;
    this.nums[i] = this.num;
    this.starts[i] = this.s0;
    this.ends[i] = this.s1;
  }

  /**
   * A flat object of scalars. Keys are expected in config order: the next configured name is
   * compared in place first; any other key is read and looked up.
   */
  private features(b: Uint8Array, at: number, end: number, plan: ModelPlan): number {
    if (b[at] !== OPEN) return -1;
    at = ws(b, at + 1, end);
    if (b[at] === CLOSE) return at + 1;
    const names = plan.names;
    const numeric = plan.numeric;
    const kinds = this.kinds;
    let next = 0;
    this.otherFeatures = 0;
    for (;;) {
      at = ws(b, at, end);
      if (b[at] !== QUOTE) return -1;
      let f = -1;
      const expected = next < names.length ? names[next]! : undefined;
      if (expected !== undefined && keyIs(b, at + 1, expected)) {
        f = next;
        at += expected.length + 2;
      } else {
        const k1 = stringEnd(b, at, end);
        if (k1 < 0) return -1;
        for (let j = 0; j < names.length; j++) {
          if (sameBytes(b, at + 1, k1, names[j]!)) {
            f = j;
            break;
          }
        }
        // A feature not configured: read once per object, like every key.
        if (f < 0 && !this.firstOther(b, at + 1, k1, 1)) return -1;
        at = k1 + 1;
      }
      at = ws(b, at, end);
      if (b[at] !== COLON) return -1;
      at = this.value(b, ws(b, at + 1, end), end);
      if (at < 0) return -1;
      if (f >= 0) {
        const kind = this.kind;
        if (numeric[f] && kind !== V_NUMBER && kind !== V_NULL) return -1;
        if (kind === V_STRING && this.s1 - this.s0 > MAX_CATEGORY_LENGTH) return -1;
        if (kinds[f] !== V_ABSENT) return -1; // a duplicate: JSON.parse keeps the last
        this.keep(f);
        next = f + 1;
      }
      // A feature not configured: a scalar, valid, kept only in the raw record.
      at = ws(b, at, end);
      const c = b[at++];
      if (c === COMMA) continue;
      return c === CLOSE ? at : -1;
    }
  }

  private planOf(b: Uint8Array, s0: number, s1: number): ModelPlan | undefined {
    const plans = this.plans;
    for (let i = 0; i < plans.length; i++) {
      const p = plans[i];
      if (p !== undefined && sameBytes(b, s0, s1, p.idBytes)) {
        this.model = i;
        return p;
      }
    }
    return undefined;
  }

  /** An ISO-8601 UTC time `YYYY-MM-DDTHH:MM:SS[.f{1,3}]Z` read here; any other text as parseTimestamp reads it. */
  private timestamp(b: Uint8Array): number | undefined {
    const { s0, s1 } = this;
    const n = s1 - s0;
    if (n === this.lastTsLength) {
      let same = true;
      for (let i = 0; i < n; i++) {
        if (this.lastTs[i] !== b[s0 + i]) {
          same = false;
          break;
        }
      }
      if (same) return this.lastTsMs;
    }
    let ms = isoUtc(b, s0, s1);
    if (ms === undefined) {
      ms = parseTimestamp(latin1(b, s0, s1));
      if (ms === undefined) return undefined;
    }
    if (n <= this.lastTs.length) {
      this.lastTs.set(b.subarray(s0, s1));
      this.lastTsLength = n;
      this.lastTsMs = ms;
    }
    return ms;
  }

  /** A scalar JSON value at `at` (objects and arrays are not of the plain shape). */
  private value(b: Uint8Array, at: number, end: number): number {
    const c = b[at];
    if (c === QUOTE) {
      const q = stringEnd(b, at, end);
      if (q < 0) return -1;
      this.kind = V_STRING;
      this.s0 = at + 1;
      this.s1 = q;
      return q + 1;
    }
    if (c === MINUS || (c !== undefined && c >= ZERO && c <= NINE)) return this.number(b, at, end);
    let kind = V_ABSENT;
    let word: Uint8Array | undefined;
    if (c === 0x74) {
      kind = V_TRUE;
      word = TRUE;
    } else if (c === 0x66) {
      kind = V_FALSE;
      word = FALSE;
    } else if (c === 0x6e) {
      kind = V_NULL;
      word = NULL;
    } else return -1;
    if (at + word.length > end) return -1;
    for (let i = 1; i < word.length; i++) if (b[at + i] !== word[i]) return -1;
    this.kind = kind;
    return at + word.length;
  }

  /** A JSON number (RFC 8259 grammar) as the double JSON.parse makes of it (see toDouble). */
  private number(b: Uint8Array, at: number, end: number): number {
    const start = at;
    let negative = false;
    if (b[at] === MINUS) {
      negative = true;
      at++;
    }
    if (at >= end) return -1;
    // A digit's value, or > 9 for any other byte (`>>> 0` makes those below '0' large).
    let d = (b[at]! - ZERO) >>> 0;
    if (d > 9) return -1;
    // The significant digits: the first 9 in `high`, the next 8 in `low`; more go to Number().
    // One loop per stage, each ending at the first byte that is not a digit (which the next
    // stage then sees at once): no per-digit test of which stage a digit belongs to.
    let high = 0;
    let low = 0;
    let lowDigits = 0;
    let digits = 0;
    let scale = 0;
    if (d === 0) at++;
    else {
      for (; at < end && digits < 9; at++, digits++) {
        d = (b[at]! - ZERO) >>> 0;
        if (d > 9) break;
        high = high * 10 + d;
      }
      for (; at < end && digits < 17; at++, digits++) {
        d = (b[at]! - ZERO) >>> 0;
        if (d > 9) break;
        low = low * 10 + d;
        lowDigits++;
      }
      for (; at < end; at++, digits++) {
        if ((b[at]! - ZERO) >>> 0 > 9) break;
        scale++;
      }
    }
    if (at < end && b[at] === DOT) {
      at++;
      const first = at;
      // Leading zeros are not significant.
      if (digits === 0) for (; at < end && b[at] === ZERO; at++) scale--;
      for (; at < end && digits < 9; at++, digits++, scale--) {
        d = (b[at]! - ZERO) >>> 0;
        if (d > 9) break;
        high = high * 10 + d;
      }
      for (; at < end && digits < 17; at++, digits++, scale--) {
        d = (b[at]! - ZERO) >>> 0;
        if (d > 9) break;
        low = low * 10 + d;
        lowDigits++;
      }
      for (; at < end; at++, digits++) if ((b[at]! - ZERO) >>> 0 > 9) break;
      if (at === first) return -1;
    }
    if (at < end && (b[at] === 0x65 || b[at] === 0x45)) {
      at++;
      let expNegative = false;
      if (b[at] === MINUS || b[at] === PLUS) {
        expNegative = b[at] === MINUS;
        at++;
      }
      const first = at;
      let exp = 0;
      for (; at < end; at++) {
        d = (b[at]! - ZERO) >>> 0;
        if (d > 9) break;
        if (exp < 100_000) exp = exp * 10 + d;
      }
      if (at === first) return -1;
      scale += expNegative ? -exp : exp;
    }
    let v = digits <= 17 ? toDouble(high, low, lowDigits, scale) : undefined;
    if (v === undefined) {
      v = Number(latin1(b, negative ? start + 1 : start, at));
      // Beyond the double range: the general path rejects it (non_finite).
      if (!Number.isFinite(v)) return -1;
    }
    this.kind = V_NUMBER;
    this.num = negative ? -v : v;
    return at;
  }
}

/** Past any JSON whitespace from `at`. */
function ws(b: Uint8Array, at: number, end: number): number {
  while (at < end) {
    const c = b[at]!;
    if (c > 0x20 || (c !== 0x20 && c !== 0x0a && c !== 0x0d && c !== 0x09)) break;
    at++;
  }
  return at;
}

/**
 * The closing quote of a string opening at `at`, of printable ASCII without escapes; -1 for
 * anything else (escapes, control or non-ASCII bytes, no end).
 */
function stringEnd(b: Uint8Array, at: number, end: number): number {
  for (let i = at + 1; i < end; i++) {
    const c = b[i]!;
    if (c === QUOTE) return i;
    if (c < 0x20 || c >= 0x80 || c === BACKSLASH) return -1;
  }
  return -1;
}

/** Whether the key whose body starts at `s` is `w` (plain ASCII: no escapes to read). */
function keyIs(b: Uint8Array, s: number, w: Uint8Array): boolean {
  const n = w.length;
  for (let i = 0; i < n; i++) if (b[s + i] !== w[i]) return false;
  return b[s + n] === QUOTE;
}

function topKey(b: Uint8Array, k0: number, k1: number): number {
  switch (k1 - k0) {
    case 2:
      if (b[k0] === 0x69 && b[k0 + 1] === 0x64) return KEY_ID;
      return b[k0] === 0x74 && b[k0 + 1] === 0x73 ? KEY_TS : 0;
    case 5:
      return sameBytes(b, k0, k1, MODEL) ? KEY_MODEL : 0;
    case 7:
      return sameBytes(b, k0, k1, VERSION) ? KEY_VERSION : 0;
    case 8:
      return sameBytes(b, k0, k1, FEATURES) ? KEY_FEATURES : 0;
    default:
      return 0;
  }
}

const MODEL = encoder.encode('model');
const VERSION = encoder.encode('version');
const FEATURES = encoder.encode('features');
const TRUE = encoder.encode('true');
const FALSE = encoder.encode('false');
const NULL = encoder.encode('null');

function sameBytes(b: Uint8Array, s0: number, s1: number, w: Uint8Array): boolean {
  if (s1 - s0 !== w.length) return false;
  for (let i = 0; i < w.length; i++) if (b[s0 + i] !== w[i]) return false;
  return true;
}

function latin1(b: Uint8Array, s0: number, s1: number): string {
  return Buffer.from(b.buffer, b.byteOffset + s0, s1 - s0).toString('latin1');
}

function digit2(b: Uint8Array, at: number): number {
  const a = b[at]! - ZERO;
  const c = b[at + 1]! - ZERO;
  return a >= 0 && a <= 9 && c >= 0 && c <= 9 ? a * 10 + c : -1;
}

/** `YYYY-MM-DDTHH:MM:SS[.f{1,3}]Z` with every field in range, else undefined. */
function isoUtc(b: Uint8Array, s0: number, s1: number): number | undefined {
  const n = s1 - s0;
  if (n !== 20 && (n < 22 || n > 24)) return undefined;
  if (b[s1 - 1] !== 0x5a) return undefined;
  if (b[s0 + 4] !== MINUS || b[s0 + 7] !== MINUS || b[s0 + 10] !== 0x54) return undefined;
  if (b[s0 + 13] !== COLON || b[s0 + 16] !== COLON) return undefined;
  const y1 = digit2(b, s0);
  const y2 = digit2(b, s0 + 2);
  const month = digit2(b, s0 + 5);
  const day = digit2(b, s0 + 8);
  const hour = digit2(b, s0 + 11);
  const minute = digit2(b, s0 + 14);
  const second = digit2(b, s0 + 17);
  // Date.UTC reads years 0–99 as 1900–1999: those go the general way.
  if (y1 < 1 || y2 < 0 || month < 1 || month > 12 || day < 1 || hour < 0 || hour > 23) {
    return undefined;
  }
  if (minute < 0 || minute > 59 || second < 0 || second > 59) return undefined;
  const year = y1 * 100 + y2;
  if (day > daysIn(year, month)) return undefined;
  let ms = 0;
  if (n > 20) {
    if (b[s0 + 19] !== DOT) return undefined;
    let scale = 100;
    for (let i = s0 + 20; i < s1 - 1; i++) {
      const d = b[i]! - ZERO;
      if (d < 0 || d > 9) return undefined;
      ms += d * scale;
      scale /= 10;
    }
  }
  return Date.UTC(year, month - 1, day, hour, minute, second, ms);
}
