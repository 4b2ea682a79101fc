/**
 * PEM files named in the config (TLS certificates, keys, CAs): one rule for what makes a usable
 * file, applied when the config is validated (so `driftd config check` catches a wrong path)
 * and again when a connection is set up (the file is read then, so a renewed certificate is
 * picked up by a restart). Messages name the file, never its contents.
 */
import { readFileSync } from 'node:fs';
import { createSecureContext } from 'node:tls';
import { ConfigError } from '../errors.js';

/** Larger files are not certificates or keys (a bundle of many CAs stays well below). */
const MAX_PEM_BYTES = 4 * 1024 * 1024;

function load(path: string): { data: Buffer } | { problem: string } {
  let data: Buffer;
  try {
    data = readFileSync(path);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? 'error';
    const why =
      code === 'ENOENT'
        ? 'no such file'
        : code === 'EACCES'
          ? 'permission denied'
          : code === 'EISDIR'
            ? 'is a directory'
            : code;
    return { problem: `cannot read ${path} (${why})` };
  }
  if (data.length > MAX_PEM_BYTES) {
    return { problem: `${path} is larger than ${MAX_PEM_BYTES} bytes: not a PEM file` };
  }
  if (!data.includes('-----BEGIN ')) {
    return { problem: `${path} is not a PEM file (no "-----BEGIN" line)` };
  }
  return { data };
}

/** Why `path` is not a readable PEM file, or undefined when it is. */
export function pemFileProblem(path: string): string | undefined {
  const r = load(path);
  return 'problem' in r ? r.problem : undefined;
}

/** The file's bytes; a ConfigError naming the config key (e.g. `server.tls.key`) otherwise. */
export function readPemFile(path: string, key: string): Buffer {
  const r = load(path);
  if ('problem' in r) {
    const text = `${key}: ${r.problem}`;
    throw new ConfigError(`invalid TLS configuration: ${text}`, [text]);
  }
  return r.data;
}

/**
 * Checks that a certificate, its key and a CA load together (a key of another certificate,
 * an encrypted key, a broken PEM), so the mistake is a ConfigError naming `key` at boot rather
 * than a failure at the first connection.
 */
export function checkTlsFiles(
  files: { cert?: Buffer; key?: Buffer; ca?: Buffer },
  key: string,
): void {
  try {
    createSecureContext(files);
  } catch (err) {
    const reason = (err as Error).message.replace(/^error:[0-9A-F]+:/i, '').split('\n')[0];
    const text = `${key}: the certificate, key and CA files do not load together (${reason})`;
    throw new ConfigError(`invalid TLS configuration: ${text}`, [text], { cause: err });
  }
}
