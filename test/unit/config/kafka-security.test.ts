/** kafka.ssl and kafka.sasl in the config: shapes, paths, where the password may come from. */
import { describe, expect, it } from 'vitest';
import {
  type ConfigEnv,
  InvalidConfigError,
  type ParseConfigOptions,
  parseConfig,
  redactConfig,
} from '../../../src/config/index.js';

const MODEL = `
models:
  - id: credit-risk
    task: binary-classification
    features:
      - name: income
        type: numeric
`;

const kafka = (section: string) => `${MODEL}kafka:\n  brokers: [k:9093]\n${section}`;

function parse(text: string, env: ConfigEnv = {}, options: ParseConfigOptions = {}) {
  return parseConfig(text, { source: '/etc/driftd/driftd.yaml', env, ...options });
}

function issuesOf(text: string, env: ConfigEnv = {}): readonly string[] {
  try {
    parse(text, env);
  } catch (err) {
    expect(err).toBeInstanceOf(InvalidConfigError);
    return (err as InvalidConfigError).issues;
  }
  throw new Error('expected the config to be rejected');
}

describe('kafka.ssl', () => {
  it('takes PEM file paths, relative to the config file', () => {
    const config = parse(kafka('  ssl: {ca: tls/ca.pem, cert: /pki/c.pem, key: /pki/c-key.pem}\n'));
    expect(config.kafka?.ssl).toEqual({
      ca: '/etc/driftd/tls/ca.pem',
      cert: '/pki/c.pem',
      key: '/pki/c-key.pem',
    });
  });

  it('true is TLS with the default CAs; false or absent is plaintext', () => {
    expect(parse(kafka('  ssl: true\n')).kafka?.ssl).toEqual({ ca: null, cert: null, key: null });
    expect(parse(kafka('  ssl: false\n')).kafka?.ssl).toBeNull();
    expect(parse(kafka('')).kafka?.ssl).toBeNull();
  });

  it('refuses a certificate without its key, other shapes and unknown keys (no verification opt-out)', () => {
    expect(issuesOf(kafka('  ssl: {cert: c.pem}\n'))).toEqual([
      'kafka.ssl.key: is required with kafka.ssl.cert (a client certificate and its key go together)',
    ]);
    expect(issuesOf(kafka('  ssl: yes\n'))).toEqual([
      'kafka.ssl: must be true, false or a mapping (ca, cert, key)',
    ]);
    expect(issuesOf(kafka('  ssl: {rejectUnauthorized: false}\n'))[0]).toMatch(
      /unknown key "rejectUnauthorized" at kafka.ssl/,
    );
  });
});

describe('kafka.sasl', () => {
  const scram = '  sasl: {mechanism: scram-sha-256, username: svc}\n';

  it('takes the password from DRIFTD_KAFKA_SASL_PASSWORD, or a password file', () => {
    const fromEnv = parse(kafka(scram), { DRIFTD_KAFKA_SASL_PASSWORD: 'pw' });
    expect(fromEnv.kafka?.sasl).toEqual({
      mechanism: 'scram-sha-256',
      username: 'svc',
      password: 'pw',
      passwordFile: null,
    });
    const fromFile = parse(
      kafka('  sasl: {mechanism: scram-sha-512, username: svc, passwordFile: secrets/kafka}\n'),
    );
    expect(fromFile.kafka?.sasl).toEqual({
      mechanism: 'scram-sha-512',
      username: 'svc',
      password: null,
      passwordFile: '/etc/driftd/secrets/kafka',
    });
  });

  it('refuses a password written in the config file, saying where it goes (even with the env set)', () => {
    const text = kafka(
      '  sasl:\n    mechanism: scram-sha-256\n    username: svc\n    password: hunter2\n',
    );
    const expected =
      'kafka.sasl.password: a password is not accepted in the config file; set the environment variable DRIFTD_KAFKA_SASL_PASSWORD or name a file holding it in kafka.sasl.passwordFile';
    expect(issuesOf(text)).toEqual([expected]);
    expect(issuesOf(text, { DRIFTD_KAFKA_SASL_PASSWORD: 'pw' })).toEqual([expected]);
    expect(issuesOf(text).join('\n')).not.toContain('hunter2');
    // Located in the file, like the schema's issues.
    expect(() => parse(text)).toThrow(/driftd\.yaml:13:15: kafka\.sasl\.password: /);
  });

  it('needs exactly one password source', () => {
    expect(issuesOf(kafka(scram))).toEqual([
      'kafka.sasl: has no password: set DRIFTD_KAFKA_SASL_PASSWORD or kafka.sasl.passwordFile',
    ]);
    expect(
      issuesOf(kafka('  sasl: {mechanism: plain, username: u, passwordFile: p}\n  ssl: true\n'), {
        DRIFTD_KAFKA_SASL_PASSWORD: 'pw',
      }),
    ).toEqual([
      'kafka.sasl.passwordFile: is set and so is DRIFTD_KAFKA_SASL_PASSWORD: keep one of the two',
    ]);
  });

  it('refuses DRIFTD_KAFKA_SASL_PASSWORD without kafka.sasl, plain without TLS, unknown mechanisms', () => {
    expect(issuesOf(kafka(''), { DRIFTD_KAFKA_SASL_PASSWORD: 'pw' })).toEqual([
      'DRIFTD_KAFKA_SASL_PASSWORD: is set but kafka.sasl is not configured (set its mechanism and username in the file)',
    ]);
    expect(issuesOf(kafka('  sasl: {mechanism: plain, username: u, passwordFile: p}\n'))).toEqual([
      'kafka.sasl.mechanism: plain sends the password in clear: set kafka.ssl too (or use scram-sha-256 / scram-sha-512)',
    ]);
    expect(issuesOf(kafka('  sasl: {mechanism: gssapi, username: u, passwordFile: p}\n'))).toEqual([
      'kafka.sasl.mechanism: must be plain, scram-sha-256 or scram-sha-512',
    ]);
  });

  it('redacts the password in config dumps', () => {
    const config = parse(kafka(scram), { DRIFTD_KAFKA_SASL_PASSWORD: 's3cret-pw' });
    const redacted = redactConfig(config);
    expect(redacted.kafka?.sasl?.password).toBe('[redacted]');
    expect(JSON.stringify(redacted)).not.toContain('s3cret-pw');
    expect(config.kafka?.sasl?.password).toBe('s3cret-pw');
  });
});
