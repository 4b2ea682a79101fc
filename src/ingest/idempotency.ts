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
 *   report, only its key (≈ 100 B + the key). A key names one request: reusing it for another
 *   body is not detected, and that body is answered, never counted.
 * - A request that failed is forgotten: it was counted zero times (see request-ingest.ts), so a
 *   retry runs anew.
 *
 * Bounds: at most `maxKeys` keys (default 100 000), each for `ttlMs` (default 24 h) after its
 * request succeeded; the oldest go first (insertion order, an LRU by first use). Keys are at
 * most 255 printable ASCII characters.
 *
 * Durability: HTTP events carry their request's key in the store (`events.request_key`), and a
 * starting daemon loads the keys of the events it received within `ttlMs` (`remember`), so a
 * retry after a crash or restart is deduplicated too — also when the crash came between the
 * durable insert and the answer. A request whose items were all invalid stores no key: its
 * retry is answered the same and counts nothing either way.
 */
import { InvalidInputError } from '../errors.js';

export const MAX_KEY_LENGTH = 255;
export const DEFAULT_MAX_KEYS = 100_000;
export const DEFAULT_KEY_TTL_MS = 24 * 60 * 60 * 1000;
const KEY_RE = /^[\x21-\x7e][\x20-\x7e]*$/;

export interface IdempotencyOptions {
  maxKeys?: number;
  ttlMs?: number;
  now?: () => number;
}

export interface Idempotency {
  /**
   * Runs `first` unless `key` was seen: then waits for the request in flight, or (once it
   * succeeded) returns `answer()`, which must not count anything.
   */
  run<T>(key: string, first: () => Promise<T>, answer: () => T | Promise<T>): Promise<T>;
  /** Marks keys as succeeded (loaded from the store at startup, or found in replayed rows). */
  remember(keys: Iterable<string>): void;
  readonly size: number;
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

type Entry = { state: 'running'; done: Promise<unknown> } | { state: 'done'; until: number };

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

  function markDone(key: string): void {
    entries.delete(key); // re-inserted: the newest position in the eviction order
    entries.set(key, { state: 'done', until: now() + ttlMs });
  }

  return {
    async run(key, first, answer) {
      evict();
      for (;;) {
        const e = entries.get(key);
        if (e === undefined) break;
        if (e.state === 'done') {
          if (e.until > now()) return answer();
          entries.delete(key);
          break;
        }
        // In flight: wait for it; then look again (it either succeeded or was forgotten).
        await e.done.catch(() => undefined);
      }
      const done = first();
      entries.set(key, { state: 'running', done });
      try {
        const result = await done;
        markDone(key);
        return result;
      } catch (err) {
        entries.delete(key);
        throw err;
      } finally {
        evict();
      }
    },
    remember(keys) {
      for (const k of keys) if (k !== '') markDone(k);
      evict();
    },
    get size() {
      return entries.size;
    },
  };
}
