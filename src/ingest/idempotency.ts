/**
 * `Idempotency-Key` for the ingestion routes: a client that sends a request again with the
 * key of an earlier one (because it got no answer, or a timeout) gets that request's answer
 * and its events are counted once.
 *
 * - A key seen for the first time runs the request. While it runs, a retry with the same key
 *   waits for it and gets its outcome.
 * - A request that succeeded is remembered: a retry is answered without counting anything.
 *   The answer is derived again from the retried body (`answer`, decoding without recording:
 *   accepted/rejected/errors depend only on the body and the config), so an entry holds no
 *   report, only its key and the body's fingerprint (≈ 130 B + the key).
 * - A key names one request: sent again with another body (another fingerprint, `fingerprint`:
 *   a hash of the items as received), while the first runs or after it succeeded, the request
 *   is refused (IdempotencyKeyReusedError, HTTP 422) and nothing is counted. Keys loaded from
 *   rows a driftd before fingerprints stored carry none: their retries are answered as before.
 * - A request that failed is forgotten: it was counted zero times (see request-ingest.ts), so a
 *   retry runs anew.
 *
 * Bounds: at most `maxKeys` keys (default 100 000), each for `ttlMs` (default 24 h) after its
 * request succeeded; the oldest go first (insertion order, an LRU by first use). Keys are at
 * most 255 printable ASCII characters.
 *
 * Durability: HTTP events carry their request's key and fingerprint in the store
 * (`events.request_key` holds `requestTag(key, fingerprint)`), and a starting daemon loads the
 * tags of the events it received within `ttlMs` (`remember`), so a retry after a crash or
 * restart is deduplicated, and a reuse refused, too — also when the crash came between the
 * durable insert and the answer. A request whose items were all invalid stores no key: its
 * retry is answered the same and counts nothing either way.
 */
import { createHash } from 'node:crypto';
import { IdempotencyKeyReusedError, InvalidInputError } from '../errors.js';
import { PendingLine } from './decode.js';

export const MAX_KEY_LENGTH = 255;
export const DEFAULT_MAX_KEYS = 100_000;
export const DEFAULT_KEY_TTL_MS = 24 * 60 * 60 * 1000;
/** A key: printable ASCII, not starting with a space (also the OpenAPI header's pattern). */
export const KEY_PATTERN = '^[\\x21-\\x7e][\\x20-\\x7e]*$';
const KEY_RE = new RegExp(KEY_PATTERN);

export interface IdempotencyOptions {
  maxKeys?: number;
  ttlMs?: number;
  now?: () => number;
}

/** A request as the idempotency table knows it. */
export interface KeyedRequest {
  /** The `Idempotency-Key` header. */
  key: string;
  /** Which route: events and labels keep separate keys. */
  scope: 'events' | 'labels';
  /** `fingerprint(items)`; undefined: not known, reuse goes undetected. */
  fingerprint: string | undefined;
}

export interface Idempotency {
  /**
   * Runs `first` unless the key was seen: then waits for the request in flight, or (once it
   * succeeded) returns `answer()`, which must not count anything.
   * @throws IdempotencyKeyReusedError when the key was seen with another fingerprint
   */
  run<T>(request: KeyedRequest, first: () => Promise<T>, answer: () => T | Promise<T>): Promise<T>;
  /**
   * Marks event requests as succeeded, from their stored tags (`requestTag`: loaded from the
   * store at startup, or found in replayed rows).
   */
  remember(tags: Iterable<string>): void;
  readonly size: number;
}

/**
 * The fingerprint of a request's items: SHA-256 over each item as received (an NDJSON line's
 * bytes; a JSON item's canonical text), truncated to 128 bits. Computed only for requests that
 * carry a key. Undefined for an item JSON cannot print (nesting deeper than the stack).
 */
export function fingerprint(items: readonly unknown[]): string | undefined {
  const h = createHash('sha256');
  try {
    for (const item of items) {
      if (item instanceof PendingLine) h.update(item.source.bytes.subarray(item.start, item.end));
      else h.update(JSON.stringify(item) ?? 'undefined');
      h.update('\n');
    }
  } catch {
    return undefined;
  }
  return h.digest('base64url').slice(0, 22);
}

/**
 * What an HTTP event row stores in `request_key`: the key, then a newline (never part of a key:
 * printable ASCII only) and the fingerprint, if any.
 */
export function requestTag(key: string, print: string | undefined): string {
  return print === undefined ? key : `${key}\n${print}`;
}

function entryKey(scope: KeyedRequest['scope'], key: string): string {
  return scope === 'events' ? key : `${scope}\u0000${key}`;
}

/** @throws InvalidInputError when the header value is not a usable key */
export function checkIdempotencyKey(value: unknown): string | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'string' || value.length > MAX_KEY_LENGTH || !KEY_RE.test(value)) {
    throw new InvalidInputError(
      `Idempotency-Key must be 1 to ${MAX_KEY_LENGTH} printable ASCII characters, sent once`,
    );
  }
  return value;
}

type Entry =
  | { state: 'running'; done: Promise<unknown>; print: string | undefined }
  | { state: 'done'; until: number; print: string | undefined };

export function createIdempotency(opts: IdempotencyOptions = {}): Idempotency {
  const maxKeys = opts.maxKeys ?? DEFAULT_MAX_KEYS;
  const ttlMs = opts.ttlMs ?? DEFAULT_KEY_TTL_MS;
  const now = opts.now ?? Date.now;
  const entries = new Map<string, Entry>();

  function evict(): void {
    const t = now();
    for (const [k, e] of entries) {
      // Oldest first: stop at the first entry that is live and within the bound.
      if (e.state === 'done' && e.until <= t) entries.delete(k);
      else if (entries.size > maxKeys && e.state === 'done') entries.delete(k);
      else break;
    }
  }

  function markDone(key: string, print: string | undefined): void {
    entries.delete(key); // re-inserted: the newest position in the eviction order
    entries.set(key, { state: 'done', until: now() + ttlMs, print });
  }

  function refuseReuse(request: KeyedRequest, e: Entry): void {
    if (e.print === undefined || request.fingerprint === undefined) return;
    if (e.print === request.fingerprint) return;
    throw new IdempotencyKeyReusedError(
      `Idempotency-Key ${JSON.stringify(request.key)} was already used for a request with another body; send a new request with a new key`,
    );
  }

  return {
    async run(request, first, answer) {
      evict();
      const key = entryKey(request.scope, request.key);
      for (;;) {
        const e = entries.get(key);
        if (e === undefined) break;
        if (e.state === 'done' && e.until <= now()) {
          entries.delete(key);
          break;
        }
        refuseReuse(request, e);
        if (e.state === 'done') return answer();
        // In flight: wait for it; then look again (it either succeeded or was forgotten).
        await e.done.catch(() => undefined);
      }
      const done = first();
      entries.set(key, { state: 'running', done, print: request.fingerprint });
      try {
        const result = await done;
        markDone(key, request.fingerprint);
        return result;
      } catch (err) {
        entries.delete(key);
        throw err;
      } finally {
        evict();
      }
    },
    remember(tags) {
      for (const tag of tags) {
        if (tag === '') continue;
        const nl = tag.indexOf('\n');
        if (nl === -1) markDone(tag, undefined);
        else markDone(tag.slice(0, nl), tag.slice(nl + 1));
      }
      evict();
    },
    get size() {
      return entries.size;
    },
  };
}
