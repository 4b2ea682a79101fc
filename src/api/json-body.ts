import { isUtf8 } from 'node:buffer';
import type { FastifyInstance } from 'fastify';
import { HttpError } from './errors.js';

/**
 * The application/json body parser, in place of fastify's: same rules (an empty body, invalid
 * JSON and prototype-poisoning keys are refused), but the answer says which rule and where.
 * fastify's own parser drops the reason ("Body is not valid JSON but content-type is set to
 * 'application/json'" for a NaN literal and for a `__proto__` key alike).
 */

// A key spelled __proto__ / constructor, its letters possibly \u-escaped (the forms JSON.parse
// turns into those keys). Only a body matching these is walked, so clean bodies cost one scan.
const SUSPECT_PROTO =
  /"(?:_|\\u005[Ff])(?:_|\\u005[Ff])(?:p|\\u0070)(?:r|\\u0072)(?:o|\\u006[Ff])(?:t|\\u0074)(?:o|\\u006[Ff])(?:_|\\u005[Ff])(?:_|\\u005[Ff])"\s*:/;
const SUSPECT_CONSTRUCTOR =
  /"(?:c|\\u0063)(?:o|\\u006[Ff])(?:n|\\u006[Ee])(?:s|\\u0073)(?:t|\\u0074)(?:r|\\u0072)(?:u|\\u0075)(?:c|\\u0063)(?:t|\\u0074)(?:o|\\u006[Ff])(?:r|\\u0072)"\s*:/;

/**
 * Path of the first poisoning key in `value` (e.g. `[3].features.__proto__`), or undefined.
 * Walked with a stack of its own, not by recursion: JSON.parse takes nesting far deeper than
 * the call stack (a 20 000-deep body made this walk throw a RangeError, answered 500).
 */
function poisonedKey(root: unknown): string | undefined {
  const stack: Array<{ value: unknown; path: string }> = [{ value: root, path: '$' }];
  while (stack.length > 0) {
    const { value, path } = stack.pop()!;
    if (value === null || typeof value !== 'object') continue;
    if (Array.isArray(value)) {
      for (let i = value.length - 1; i >= 0; i--)
        stack.push({ value: value[i], path: `${path}[${i}]` });
      continue;
    }
    const keys = Object.keys(value);
    for (const key of keys) {
      const child = (value as Record<string, unknown>)[key];
      if (key === '__proto__') return `${path}.__proto__`;
      if (
        key === 'constructor' &&
        child !== null &&
        typeof child === 'object' &&
        Object.hasOwn(child, 'prototype')
      ) {
        return `${path}.constructor.prototype`;
      }
    }
    for (let k = keys.length - 1; k >= 0; k--) {
      const key = keys[k]!;
      stack.push({ value: (value as Record<string, unknown>)[key], path: `${path}.${key}` });
    }
  }
  return undefined;
}

/** Parses a JSON body (a leading byte-order mark is dropped) or throws a 400 HttpError naming the reason. */
export function parseJsonBody(body: string): unknown {
  const text = body.charCodeAt(0) === 0xfeff ? body.slice(1) : body;
  if (text.trim() === '') {
    throw new HttpError(
      400,
      'DRIFTD_ERR_EMPTY_BODY',
      'the body is empty: send a JSON array of items, one JSON object, or NDJSON',
    );
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    throw new HttpError(
      400,
      'DRIFTD_ERR_INVALID_JSON',
      `the body is not valid JSON (${(err as Error).message}); NaN and Infinity are not JSON, and NDJSON needs Content-Type: application/x-ndjson`,
    );
  }
  if (SUSPECT_PROTO.test(text) || SUSPECT_CONSTRUCTOR.test(text)) {
    const at = poisonedKey(value);
    if (at !== undefined) {
      throw new HttpError(
        400,
        'DRIFTD_ERR_FORBIDDEN_KEY',
        `the body has a key that could alter object prototypes, at ${at}; rename it`,
      );
    }
  }
  return value;
}

export function installJsonBodyParser(app: FastifyInstance): void {
  app.removeContentTypeParser('application/json');
  // fastify's default text/plain parser would hand routes a string; driftd takes JSON only.
  app.removeContentTypeParser('text/plain');
  app.addContentTypeParser('application/json', { parseAs: 'buffer' }, (_req, body, done) => {
    try {
      const bytes = body as Buffer;
      // Decoded as a string, an invalid sequence would become U+FFFD and an item holding it
      // be stored other than sent (NDJSON lines and Kafka values: reason invalid_utf8).
      if (!isUtf8(bytes)) {
        throw new HttpError(
          400,
          'DRIFTD_ERR_INVALID_UTF8',
          'the body is not valid UTF-8 (a byte sequence with no character); JSON must be sent as UTF-8',
        );
      }
      done(null, parseJsonBody(bytes.toString('utf8')));
    } catch (err) {
      done(err as Error, undefined);
    }
  });
}
