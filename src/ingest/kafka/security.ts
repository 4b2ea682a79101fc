/**
 * Kafka security: the kafkajs `ssl` and `sasl` options built from `kafka.ssl` / `kafka.sasl`
 * (PEM files and the password file read once, when the source is made), and why a connection
 * was refused, told apart for the log and the readiness check.
 */

import { X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createSecureContext, type SecureContextOptions } from 'node:tls';
import type { KafkaConfig as KafkajsConfig, SASLOptions } from 'kafkajs';
import type { KafkaConfig } from '../../config/types.js';
import { KafkaSourceError } from './options.js';

/** What the kafkajs client takes beside brokers and timeouts; one for every client. */
export type KafkaSecurity = Pick<KafkajsConfig, 'ssl' | 'sasl'>;

function readSecret(key: string, path: string): Buffer {
  try {
    return readFileSync(path);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new KafkaSourceError(`${key}: cannot read ${path} (${code ?? (err as Error).message})`, {
      cause: err,
    });
  }
}

/**
 * The client's TLS and SASL options. Throws a KafkaSourceError naming the config key when a
 * file cannot be read or does not hold what it should (a startup error, not retried).
 */
export function kafkaSecurity(cfg: KafkaConfig): KafkaSecurity {
  const out: KafkaSecurity = {};
  if (cfg.ssl !== null) {
    const tls: SecureContextOptions = {};
    if (cfg.ssl.ca !== null) tls.ca = [readSecret('kafka.ssl.ca', cfg.ssl.ca)];
    if (cfg.ssl.cert !== null) tls.cert = readSecret('kafka.ssl.cert', cfg.ssl.cert);
    if (cfg.ssl.key !== null) tls.key = readSecret('kafka.ssl.key', cfg.ssl.key);
    checkPem(tls);
    // rejectUnauthorized stays Node's default (true): the broker's chain and host name are
    // verified; there is deliberately no setting to turn that off.
    out.ssl = { ...tls, rejectUnauthorized: true };
  }
  if (cfg.sasl !== null) {
    const password =
      cfg.sasl.password ??
      readPassword(readSecret('kafka.sasl.passwordFile', cfg.sasl.passwordFile!));
    if (password === '') {
      throw new KafkaSourceError(`kafka.sasl.passwordFile: ${cfg.sasl.passwordFile} is empty`);
    }
    out.sasl = {
      mechanism: cfg.sasl.mechanism,
      username: cfg.sasl.username,
      password,
    } as SASLOptions;
  }
  return out;
}

/** The file's text without one trailing newline (what `echo secret > file` writes). */
function readPassword(bytes: Buffer): string {
  return bytes.toString('utf8').replace(/\r?\n$/, '');
}

/** The PEM files parsed now, so a wrong file fails at startup, not at every connect. */
function checkPem(tls: SecureContextOptions): void {
  const check = (key: string, parse: () => unknown) => {
    try {
      parse();
    } catch (err) {
      throw new KafkaSourceError(`${key}: ${(err as Error).message}`, { cause: err });
    }
  };
  // createSecureContext takes a CA file without any certificate in silence.
  if (tls.ca !== undefined) check('kafka.ssl.ca', () => new X509Certificate(String(tls.ca)));
  if (tls.cert !== undefined) check('kafka.ssl.cert', () => new X509Certificate(String(tls.cert)));
  if (tls.cert !== undefined && tls.key !== undefined) {
    check('kafka.ssl.key', () => createSecureContext({ cert: tls.cert, key: tls.key }));
  }
}

/**
 * Why a connection was refused, when it is a security matter: each a fixed phrase for the
 * log and the readiness detail.
 */
export type KafkaRefusal =
  | 'authentication failed'
  | 'broker certificate not trusted'
  | 'TLS handshake refused by the broker';

/** Node's certificate verification failures (tls `verifyError` codes). */
const UNTRUSTED = new Set([
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'CERT_UNTRUSTED',
  'CERT_SIGNATURE_FAILURE',
  'CERT_HAS_EXPIRED',
  'CERT_NOT_YET_VALID',
  'CERT_REVOKED',
  'CERT_REJECTED',
  'INVALID_CA',
  'ERR_TLS_CERT_ALTNAME_INVALID',
]);

/**
 * The refusal behind `err` (kafkajs wraps the socket's error in `cause`/`originalError`), by
 * error name and code, never by message text; undefined for anything else.
 */
export function kafkaRefusal(err: unknown): KafkaRefusal | undefined {
  let e = err as { name?: unknown; code?: unknown; cause?: unknown; originalError?: unknown };
  for (let i = 0; e && typeof e === 'object' && i < 8; i++) {
    if (e.name === 'KafkaJSSASLAuthenticationError') return 'authentication failed';
    if (typeof e.code === 'string') {
      if (UNTRUSTED.has(e.code)) return 'broker certificate not trusted';
      // The broker's TLS alert: our certificate missing (mTLS), or not one it trusts.
      if (e.code.startsWith('ERR_SSL_') && e.code.includes('ALERT')) {
        return 'TLS handshake refused by the broker';
      }
    }
    e = (e.cause ?? e.originalError) as typeof e;
  }
  return undefined;
}
