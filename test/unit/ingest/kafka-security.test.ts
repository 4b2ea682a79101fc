/**
 * The kafkajs security options built from kafka.ssl / kafka.sasl (files read at startup, errors
 * naming the key), and how refused connections are told apart. Certificates made with openssl.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { validateConfig } from '../../../src/config/index.js';
import type { KafkaConfig } from '../../../src/config/types.js';
import { createDaemon } from '../../../src/daemon.js';
import { kafkaRefusal, kafkaSecurity } from '../../../src/ingest/kafka/security.js';
import { createLogger } from '../../../src/logger.js';

const dir = mkdtempSync(join(tmpdir(), 'driftd-kafka-security-'));
const file = (name: string) => join(dir, name);
function selfSigned(name: string) {
  execFileSync(
    'openssl',
    ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1', '-subj', `/CN=${name}`].concat([
      '-keyout',
      file(`${name}-key.pem`),
      '-out',
      file(`${name}.pem`),
    ]),
    { stdio: 'ignore' },
  );
}
selfSigned('a');
selfSigned('b');
writeFileSync(file('password'), 's3cret\n');
writeFileSync(file('empty'), '');

afterAll(() => rmSync(dir, { recursive: true, force: true }));

const BASE: KafkaConfig = {
  brokers: ['127.0.0.1:1'],
  clientId: 'driftd',
  groupId: 'driftd',
  predictionsTopic: 'p',
  labelsTopic: 'l',
  deadLetterTopic: 'd',
  maxMessageBytes: 1 << 20,
  messageKey: 'none',
  ssl: null,
  sasl: null,
};
const tls = (ssl: Partial<NonNullable<KafkaConfig['ssl']>>): KafkaConfig => ({
  ...BASE,
  ssl: { ca: null, cert: null, key: null, ...ssl },
});

describe('kafkaSecurity', () => {
  it('is empty for plaintext without SASL', () => {
    expect(kafkaSecurity(BASE)).toEqual({});
  });

  it('reads the CA, the client certificate and key; verification always on', () => {
    const out = kafkaSecurity(
      tls({ ca: file('a.pem'), cert: file('b.pem'), key: file('b-key.pem') }),
    );
    const ssl = out.ssl as { ca: Buffer[]; cert: Buffer; key: Buffer; rejectUnauthorized: boolean };
    expect(ssl.rejectUnauthorized).toBe(true);
    expect(ssl.ca[0]!.toString()).toContain('BEGIN CERTIFICATE');
    expect(ssl.cert.toString()).toContain('BEGIN CERTIFICATE');
    expect(ssl.key.toString()).toContain('PRIVATE KEY');
    expect(kafkaSecurity(tls({})).ssl).toEqual({ rejectUnauthorized: true });
  });

  it('reads the password file without its trailing newline, or takes the env password', () => {
    const sasl = { mechanism: 'scram-sha-256', username: 'svc' } as const;
    expect(
      kafkaSecurity({ ...BASE, sasl: { ...sasl, password: null, passwordFile: file('password') } })
        .sasl,
    ).toEqual({ ...sasl, password: 's3cret' });
    expect(
      kafkaSecurity({ ...BASE, sasl: { ...sasl, password: 'env-pw', passwordFile: null } }).sasl,
    ).toEqual({ ...sasl, password: 'env-pw' });
  });

  it('names the key of a file that cannot be read or does not hold what it should', () => {
    expect(() => kafkaSecurity(tls({ ca: file('missing.pem') }))).toThrow(
      `kafka.ssl.ca: cannot read ${file('missing.pem')} (ENOENT)`,
    );
    expect(() => kafkaSecurity(tls({ ca: file('a-key.pem') }))).toThrow(/^kafka\.ssl\.ca: /);
    expect(() => kafkaSecurity(tls({ cert: file('a-key.pem'), key: file('a-key.pem') }))).toThrow(
      /^kafka\.ssl\.cert: /,
    );
    expect(() => kafkaSecurity(tls({ cert: file('a.pem'), key: file('b-key.pem') }))).toThrow(
      /^kafka\.ssl\.key: .*key values mismatch/,
    );
    const sasl = { mechanism: 'plain', username: 'u', password: null } as const;
    expect(() => kafkaSecurity({ ...BASE, sasl: { ...sasl, passwordFile: dir } })).toThrow(
      `kafka.sasl.passwordFile: cannot read ${dir} (EISDIR)`,
    );
    expect(() =>
      kafkaSecurity({ ...BASE, sasl: { ...sasl, passwordFile: file('empty') } }),
    ).toThrow(`kafka.sasl.passwordFile: ${file('empty')} is empty`);
  });

  it("fails the daemon's start with that error (not a retry loop)", async () => {
    const config = validateConfig(
      {
        dataDir: join(dir, 'data'),
        logLevel: 'silent',
        kafka: { brokers: ['127.0.0.1:1'], ssl: { ca: file('missing.pem') } },
        models: [{ id: 'm', task: 'regression', features: [{ name: 'x', type: 'numeric' }] }],
      },
      { env: {} },
    );
    const daemon = createDaemon(config, { listen: false });
    await expect(daemon.start()).rejects.toThrow(/kafka\.ssl\.ca: cannot read .*missing\.pem/);
    await daemon.close();
  });
});

describe('the logger', () => {
  it('redacts the SASL password wherever a Kafka config is logged', () => {
    let out = '';
    const logger = createLogger('info', {
      write: (chunk: string) => {
        out += chunk;
        return true;
      },
    } as unknown as NodeJS.WritableStream);
    const kafka = {
      ...BASE,
      sasl: { mechanism: 'plain', username: 'u', password: 'pw-123', passwordFile: null },
    };
    logger.info({ config: { kafka } }, 'config');
    logger.info({ kafka }, 'kafka');
    logger.info({ sasl: kafka.sasl }, 'sasl');
    expect(out.split('\n').filter(Boolean)).toHaveLength(3);
    expect(out).not.toContain('pw-123');
  });
});

describe('kafkaRefusal', () => {
  it('tells authentication, an untrusted broker certificate and a refused handshake apart, by name and code', () => {
    expect(kafkaRefusal({ name: 'KafkaJSSASLAuthenticationError', message: 'x' })).toBe(
      'authentication failed',
    );
    // kafkajs wraps the socket's error: KafkaJSNumberOfRetriesExceeded → KafkaJSConnectionError.
    const wrapped = (code: string) => ({
      name: 'KafkaJSNumberOfRetriesExceeded',
      cause: { name: 'KafkaJSConnectionError', code },
    });
    for (const code of [
      'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
      'SELF_SIGNED_CERT_IN_CHAIN',
      'CERT_HAS_EXPIRED',
      'ERR_TLS_CERT_ALTNAME_INVALID',
    ]) {
      expect(kafkaRefusal(wrapped(code))).toBe('broker certificate not trusted');
    }
    expect(kafkaRefusal(wrapped('ERR_SSL_SSL/TLS_ALERT_BAD_CERTIFICATE'))).toBe(
      'TLS handshake refused by the broker',
    );
    expect(kafkaRefusal(wrapped('ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED'))).toBe(
      'TLS handshake refused by the broker',
    );
    expect(kafkaRefusal(wrapped('ECONNREFUSED'))).toBeUndefined();
    expect(kafkaRefusal(new Error('authentication failed'))).toBeUndefined();
    expect(kafkaRefusal(undefined)).toBeUndefined();
  });
});
