import { readFileSync } from 'node:fs';
import type { ConfigEnv } from './load.js';
import type { SecretRead, SecretSource } from './schema.js';

/** Largest secret file read: a token is a line, not a document. */
const MAX_SECRET_FILE_BYTES = 64 * 1024;

/**
 * Reads the secrets a config names (`secretEnv`, `secretFile`) once, at config load: the config
 * file names where a secret is, never the secret. Surrounding whitespace is dropped (a secret
 * file usually ends with a newline). Messages name the variable or file, never the value.
 */
export function createSecretReader(env: ConfigEnv): (source: SecretSource) => SecretRead {
  return (source) => {
    if ('env' in source) {
      const value = env[source.env]?.trim() ?? '';
      return value === ''
        ? { ok: false, message: `environment variable ${source.env} is not set` }
        : { ok: true, value };
    }
    let text: string;
    try {
      const buffer = readFileSync(source.file);
      if (buffer.length > MAX_SECRET_FILE_BYTES) {
        return {
          ok: false,
          message: `${source.file} is larger than ${MAX_SECRET_FILE_BYTES} bytes`,
        };
      }
      text = buffer.toString('utf8').trim();
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code ?? 'error';
      return { ok: false, message: `cannot read ${source.file} (${code})` };
    }
    return text === ''
      ? { ok: false, message: `${source.file} is empty` }
      : { ok: true, value: text };
  };
}
