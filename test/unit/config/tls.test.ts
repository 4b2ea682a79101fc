/**
 * The TLS keys of the config (`server.tls`, `store.clickhouse.tls`): PEM paths resolved like
 * other paths, checked readable at validation with errors naming the key, and read again (same
 * rule) when the connection is set up.
 */
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { InvalidConfigError, parseConfig } from '../../../src/config/index.js';
import { ConfigError } from '../../../src/errors.js';
import { createStore } from '../../../src/store/index.js';

let dir: string;
const PEM = '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n';

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'driftd-config-tls-'));
  for (const name of ['ca.pem', 'cert.pem', 'key.pem']) writeFileSync(join(dir, name), PEM);
  writeFileSync(join(dir, 'not-pem.txt'), 'hello');
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const MODEL = `
models:
  - id: m
    task: regression
    features:
      - name: x
        type: numeric
`;

function parse(yaml: string) {
  return parseConfig(`${yaml}${MODEL}`, { source: join(dir, 'driftd.yaml'), env: {} });
}

function issuesOf(yaml: string): readonly string[] {
  try {
    parse(yaml);
  } catch (err) {
    expect(err).toBeInstanceOf(InvalidConfigError);
    return (err as InvalidConfigError).issues;
  }
  throw new Error('expected the config to be rejected');
}

describe('server.tls', () => {
  it('absent = plain HTTP (null); paths resolve against the config file', () => {
    expect(parse('').server.tls).toBeNull();
    const config = parse('server:\n  tls:\n    cert: cert.pem\n    key: ./key.pem\n');
    expect(config.server.tls).toEqual({
      cert: join(dir, 'cert.pem'),
      key: join(dir, 'key.pem'),
      ca: null,
    });
    expect(
      parse(`server:\n  tls: { cert: cert.pem, key: key.pem, ca: ${join(dir, 'ca.pem')} }\n`).server
        .tls?.ca,
    ).toBe(join(dir, 'ca.pem'));
  });

  it('names the key of a missing, unreadable or non-PEM file, and a missing cert or key', () => {
    expect(issuesOf('server:\n  tls:\n    cert: nope.pem\n    key: not-pem.txt\n')).toEqual([
      `server.tls.cert: cannot read ${join(dir, 'nope.pem')} (no such file)`,
      `server.tls.key: ${join(dir, 'not-pem.txt')} is not a PEM file (no "-----BEGIN" line)`,
    ]);
    expect(issuesOf('server:\n  tls:\n    cert: cert.pem\n')).toEqual([
      'server.tls.key: is required',
    ]);
    expect(issuesOf('server:\n  tls:\n    cert: cert.pem\n    key: .\n')).toEqual([
      `server.tls.key: cannot read ${dir} (is a directory)`,
    ]);
    expect(
      issuesOf('server:\n  tls:\n    cert: cert.pem\n    key: key.pem\n    cat: ca.pem\n'),
    ).toEqual(['unknown key "cat" at server.tls (did you mean "ca"?)']);
  });

  it.skipIf(process.getuid?.() === 0)('a file without read permission is named too', () => {
    const locked = join(dir, 'locked.pem');
    writeFileSync(locked, PEM);
    chmodSync(locked, 0o000);
    expect(issuesOf('server:\n  tls:\n    cert: cert.pem\n    key: locked.pem\n')).toEqual([
      `server.tls.key: cannot read ${locked} (permission denied)`,
    ]);
  });
});

describe('store.clickhouse.tls', () => {
  const store = (tls: string, url = 'https://ch:8443', password = '') =>
    `store:\n  clickhouse:\n    url: ${url}\n    password: "${password}"\n    tls:\n${tls}`;

  it("reads ca, cert and key; absent = null (an https url then trusts Node's default CAs)", () => {
    const none = parse('store:\n  clickhouse:\n    url: https://ch:8443\n').store;
    expect(none.kind === 'clickhouse' && none.tls).toBeNull();
    const s = parse(store('      ca: ca.pem\n      cert: cert.pem\n      key: key.pem\n')).store;
    expect(s.kind === 'clickhouse' && s.tls).toEqual({
      ca: join(dir, 'ca.pem'),
      cert: join(dir, 'cert.pem'),
      key: join(dir, 'key.pem'),
    });
  });

  it('rejects tls with an http url, cert without key, a password with a client certificate, bad files', () => {
    expect(issuesOf(store('      ca: ca.pem\n', 'http://ch:8123'))).toEqual([
      'store.clickhouse.tls: needs an https:// url (store.clickhouse.url is not https)',
    ]);
    expect(issuesOf(store('      cert: cert.pem\n'))).toEqual([
      'store.clickhouse.tls.key: is required with cert',
    ]);
    expect(issuesOf(store('      cert: cert.pem\n      key: key.pem\n', undefined, 'pw'))).toEqual([
      'store.clickhouse.tls.cert: ClickHouse authenticates the user by this certificate: store.clickhouse.password must be empty',
    ]);
    expect(issuesOf(store('      ca: missing.pem\n'))).toEqual([
      `store.clickhouse.tls.ca: cannot read ${join(dir, 'missing.pem')} (no such file)`,
    ]);
  });

  it('a file gone after validation is a ConfigError naming the key when the store is created', () => {
    const gone = join(dir, 'gone.pem');
    writeFileSync(gone, PEM);
    const config = parse(store(`      ca: ${gone}\n`));
    rmSync(gone);
    const err = (() => {
      try {
        createStore(config.store);
      } catch (e) {
        return e;
      }
      return undefined;
    })();
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as ConfigError).issues).toEqual([
      `store.clickhouse.tls.ca: cannot read ${gone} (no such file)`,
    ]);
  });
});
