import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import {
  type ConfigEnv,
  InvalidConfigError,
  parseConfig,
  redactConfig,
} from '../../../src/config/index.js';
import { createLogger } from '../../../src/logger.js';

/** server.auth: named, scoped tokens whose secrets come from the environment or files. */

const MODEL = `
models:
  - id: m
    task: regression
    features: [{name: x, type: numeric}]
`;
const GOOD = 'a-good-secret-0123456789';
const dir = mkdtempSync(join(tmpdir(), 'driftd-auth-config-'));

function parse(server: string, env: ConfigEnv = {}) {
  return parseConfig(`${MODEL}server:\n${server}`, {
    source: join(dir, 'driftd.yaml'),
    env,
  });
}

function issues(server: string, env: ConfigEnv = {}): readonly string[] {
  try {
    parse(server, env);
  } catch (err) {
    expect(err).toBeInstanceOf(InvalidConfigError);
    return (err as InvalidConfigError).issues;
  }
  throw new Error('expected the config to be rejected');
}

describe('server.auth', () => {
  it('reads named tokens with scopes, secrets from the environment and from files', () => {
    writeFileSync(join(dir, 'ingest.token'), `  ${GOOD}-file\n`);
    const config = parse(
      `  auth:
    metrics: read
    tokens:
      - {name: grafana, scopes: [read], secretEnv: DRIFTD_TOKEN_GRAFANA}
      - {name: ingest, scopes: [write], secretFile: ingest.token}
      - {name: ops, scopes: [read, admin], secretEnv: OPS}
`,
      { DRIFTD_TOKEN_GRAFANA: GOOD, OPS: `${GOOD}-ops` },
    );
    expect(config.server.auth).toEqual({
      metrics: 'read',
      tokens: [
        { name: 'grafana', scopes: ['read'], secret: GOOD },
        // A relative secretFile resolves against the config file; surrounding whitespace is dropped.
        { name: 'ingest', scopes: ['write'], secret: `${GOOD}-file` },
        { name: 'ops', scopes: ['read', 'admin'], secret: `${GOOD}-ops` },
      ],
    });
    const redacted = redactConfig(config);
    expect(JSON.stringify(redacted)).not.toContain(GOOD);
    expect(redacted.server.auth.tokens[0]).toEqual({
      name: 'grafana',
      scopes: ['read'],
      secret: '[redacted]',
    });
  });

  it('the logger redacts token secrets even when handed the unredacted config', () => {
    const config = parse('  auth: {tokens: [{name: g, scopes: [read], secretEnv: T}]}\n', {
      T: GOOD,
      DRIFTD_API_TOKENS: `${GOOD}-legacy`,
    });
    let out = '';
    const sink = new Writable({
      write(chunk, _enc, done) {
        out += String(chunk);
        done();
      },
    });
    createLogger('info', sink).info({ config }, 'config');
    expect(out).toContain('"name":"g"');
    expect(out).not.toContain(GOOD);
  });

  it('refuses a too-short token at load, naming the token and never echoing the secret', () => {
    const found = issues('  auth: {tokens: [{name: grafana, scopes: [read], secretEnv: T}]}\n', {
      T: 'short-secret',
    });
    expect(found).toEqual([
      expect.stringMatching(
        /server\.auth\.tokens\[0\]\.secretEnv: token "grafana": the secret in T must be at least 16 characters/,
      ),
    ]);
    expect(found.join('\n')).not.toContain('short-secret');
    // The unnamed tokens of DRIFTD_API_TOKENS too, named by position and variable.
    expect(issues('  port: 8080\n', { DRIFTD_API_TOKENS: `${GOOD},tiny` })).toEqual([
      'server.apiTokens[1] (from DRIFTD_API_TOKENS): must be at least 16 characters (use a random secret, e.g. openssl rand -hex 32)',
    ]);
    writeFileSync(join(dir, 'short.token'), 'abc\n');
    expect(
      issues('  auth: {tokens: [{name: f, scopes: [write], secretFile: short.token}]}\n'),
    ).toEqual([
      expect.stringMatching(
        /tokens\[0\]\.secretFile: token "f": the secret in \S+short\.token must be at least 16/,
      ),
    ]);
  });

  it.each([
    [
      '{name: a, scopes: [read], secret: "0123456789abcdef0123"}',
      'token "a": a secret never goes in the config file',
    ],
    ['{name: a, scopes: [read]}', 'token "a": set exactly one of "secretEnv" or "secretFile"'],
    [
      '{name: a, scopes: [read], secretEnv: X, secretFile: f}',
      'token "a": set exactly one of "secretEnv" or "secretFile"',
    ],
    ['{name: a, scopes: [read], secretEnv: UNSET}', 'environment variable UNSET is not set'],
    ['{name: a, scopes: [read], secretFile: missing.token}', 'missing.token (ENOENT)'],
    ['{name: a, scopes: [], secretEnv: X}', 'tokens[0].scopes: must not be empty'],
    [
      '{name: a, scopes: [root], secretEnv: X}',
      'tokens[0].scopes[0]: must be read, write or admin',
    ],
    ['{name: a, scopes: [read, read], secretEnv: X}', '"read" is listed twice'],
    ['{name: "Bad Name", scopes: [read], secretEnv: X}', 'is not a valid token name'],
    ['{name: a, scopes: [read], secretEnv: "not a var"}', 'must be an environment variable name'],
  ])('refuses %s', (token, message) => {
    const found = issues(`  auth: {tokens: [${token}]}\n`, { X: GOOD });
    expect(found.join('\n')).toContain(message);
    expect(found.join('\n')).not.toContain('0123456789abcdef0123');
  });

  it('refuses two tokens with one name or one secret, and a bad metrics setting', () => {
    const found = issues(
      `  auth:
    metrics: closed
    tokens:
      - {name: a, scopes: [read], secretEnv: X}
      - {name: a, scopes: [write], secretEnv: Y}
      - {name: b, scopes: [admin], secretEnv: X}
`,
      { X: GOOD, Y: `${GOOD}-y`, DRIFTD_API_TOKENS: GOOD },
    );
    expect(found.join('\n')).toContain('duplicate token name "a" (also at tokens[0])');
    expect(found.join('\n')).toContain('tokens[2]: has the same secret as');
    expect(found.join('\n')).toContain('server.auth.metrics: must be open or read');
    expect(found.join('\n')).not.toContain(GOOD);
  });
});
