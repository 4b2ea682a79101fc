/**
 * `store.clickhouse.tls`: the ClickHouse server driver over HTTPS, against the STAND-IN
 * ClickHouse HTTP interface (test/helpers/clickhouse-http.ts, chDB behind node:https; no
 * ClickHouse server can be installed here) with certificates made by openssl at test time
 * (test/helpers/tls.ts). Covers: a configured CA, mutual TLS with X.509 user authentication,
 * refusals (no client certificate, one from another CA, an untrusted server certificate, a
 * plain-HTTP port), and a daemon that waits, not ready, saying why in its log.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { validateConfig } from '../../../src/config/index.js';
import type { DriftdConfig } from '../../../src/config/types.js';
import { createDaemon } from '../../../src/daemon.js';
import { ConfigError, StoreError } from '../../../src/errors.js';
import { createLogger } from '../../../src/logger.js';
import { createStore } from '../../../src/store/index.js';
import type { Store } from '../../../src/store/types.js';
import { type ClickHouseStandIn, startClickHouseStandIn } from '../../helpers/clickhouse-http.js';
import { createTestPki, type TestPki } from '../../helpers/tls.js';

let pki: TestPki;
let pkiDir: string;
let dir: string;
let standIn: ClickHouseStandIn | undefined;
const stores: Store[] = [];

beforeAll(async () => {
  pkiDir = mkdtempSync(join(tmpdir(), 'driftd-ch-tls-pki-'));
  pki = await createTestPki(pkiDir);
});
afterAll(() => rmSync(pkiDir, { recursive: true, force: true }));

afterEach(async () => {
  for (const s of stores.splice(0)) await s.close();
  await standIn?.close();
  standIn = undefined;
  if (dir) rmSync(dir, { recursive: true, force: true });
});

/** The stand-in over HTTPS with `server` (default: the test CA's); `clientCa` = mutual TLS required. */
async function startHttps(
  opts: {
    server?: TestPki['server'];
    clientCa?: string;
    certificateUsers?: Record<string, string>;
  } = {},
): Promise<ClickHouseStandIn> {
  dir = mkdtempSync(join(tmpdir(), 'driftd-ch-tls-'));
  const { cert, key } = await (opts.server ?? pki.server).read();
  const { readFile } = await import('node:fs/promises');
  standIn = await startClickHouseStandIn({
    path: dir,
    users: { driftd: 'pw' },
    tls: { cert, key, ...(opts.clientCa ? { ca: await readFile(opts.clientCa) } : {}) },
    ...(opts.certificateUsers ? { certificateUsers: opts.certificateUsers } : {}),
  });
  return standIn;
}

/** A validated config for the stand-in: the whole path from the file's keys to the driver. */
function configFor(
  url: string,
  clickhouse: { username?: string; password?: string; tls?: Record<string, string> | null },
): DriftdConfig {
  return validateConfig(
    {
      dataDir: join(dir, 'daemon'),
      server: { host: '127.0.0.1', port: 0 },
      logLevel: 'silent',
      store: {
        clickhouse: {
          url,
          username: clickhouse.username ?? 'driftd',
          password: clickhouse.password ?? 'pw',
          requestTimeoutMs: 5000,
          tls: clickhouse.tls ?? null,
        },
      },
      models: [
        {
          id: 'credit-risk',
          task: 'binary-classification',
          features: [{ name: 'income', type: 'numeric' }],
          windows: { sizes: ['5m'] },
        },
      ],
    },
    { env: {} },
  );
}

function open(config: DriftdConfig): Store {
  const store = createStore(config.store);
  stores.push(store);
  return store;
}

async function failure(p: Promise<unknown>): Promise<StoreError> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(StoreError);
  return err as StoreError;
}

describe('store.clickhouse.tls against the HTTPS stand-in (openssl-made certificates)', () => {
  it('with tls.ca: migrations, writes and reads run over https', async () => {
    const s = await startHttps();
    expect(s.url).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
    const store = open(configFor(s.url, { tls: { ca: pki.ca.cert } }));
    const report = await store.migrate();
    expect(report.applied.length).toBeGreaterThan(0);
    await store.ping();
    const rows = await s.query<{ n: string }>(
      "SELECT count() AS n FROM system.tables WHERE database = 'driftd'",
    );
    expect(Number(rows[0]!.n)).toBeGreaterThan(3);
    expect(s.requests.some((r) => r.kind === 'query' && r.status === 200)).toBe(true);
  });

  it("an https url without tls.ca trusts Node's default CAs only: the test CA is refused", async () => {
    const s = await startHttps();
    const err = await failure(open(configFor(s.url, {})).migrate());
    expect(err.code).toBe('DRIFTD_ERR_STORE_UNAVAILABLE');
    expect(err.message).toContain(`TLS with ClickHouse at ${s.url} failed`);
    expect(err.message).toContain("the server's certificate is not signed by a trusted CA");
    expect(s.requests).toHaveLength(0);
  });

  it('a server certificate from another CA fails clearly, once, as unavailable', async () => {
    const s = await startHttps({ server: pki.rogueServer });
    const err = await failure(open(configFor(s.url, { tls: { ca: pki.ca.cert } })).migrate());
    expect(err.code).toBe('DRIFTD_ERR_STORE_UNAVAILABLE');
    expect(err.retriable).toBe(false);
    expect(err.message).toMatch(
      /^TLS with ClickHouse at https:\/\/127\.0\.0\.1:\d+ failed \([A-Z_]+\): the server's certificate is not signed by a trusted CA \(check store\.clickhouse\.tls\.ca\)$/,
    );
    expect(err.message).not.toContain('pw');
  });

  it('mutual TLS: the client certificate authenticates the user (X.509), password empty', async () => {
    const s = await startHttps({ clientCa: pki.ca.cert, certificateUsers: { driftd: 'driftd' } });
    const store = open(
      configFor(s.url, {
        password: '',
        tls: { ca: pki.ca.cert, cert: pki.client.cert, key: pki.client.key },
      }),
    );
    await store.migrate();
    await store.ping();
    const queries = s.requests.filter((r) => r.kind === 'query');
    expect(queries.length).toBeGreaterThan(0);
    expect(queries.every((r) => r.user === 'driftd' && r.status === 200)).toBe(true);
  });

  it("a client certificate without tls.ca still verifies the server against Node's default CAs", async () => {
    const s = await startHttps({ clientCa: pki.ca.cert, certificateUsers: { driftd: 'driftd' } });
    const config = configFor(s.url, {
      password: '',
      tls: { cert: pki.client.cert, key: pki.client.key },
    });
    const err = await failure(open(config).migrate());
    expect(err.message).toContain("the server's certificate is not signed by a trusted CA");
    expect(s.requests).toHaveLength(0);
  });

  it('a server requiring client certificates refuses a client without one, with a clear error', async () => {
    const s = await startHttps({ clientCa: pki.ca.cert, certificateUsers: { driftd: 'driftd' } });
    const err = await failure(open(configFor(s.url, { tls: { ca: pki.ca.cert } })).migrate());
    expect(err.code).toBe('DRIFTD_ERR_STORE_UNAVAILABLE');
    expect(err.message).toMatch(
      /^TLS with ClickHouse at https:\/\/127\.0\.0\.1:\d+ failed \(ERR_SSL_[A-Z0-9_]+\): the server refused the client certificate, or needs one \(check store\.clickhouse\.tls\.cert and key\)$/,
    );
    expect(s.requests).toHaveLength(0);
  });

  it('a client certificate from another CA is refused in the handshake', async () => {
    const s = await startHttps({ clientCa: pki.ca.cert, certificateUsers: { driftd: 'driftd' } });
    const config = configFor(s.url, {
      password: '',
      tls: { ca: pki.ca.cert, cert: pki.rogueClient.cert, key: pki.rogueClient.key },
    });
    const err = await failure(open(config).migrate());
    // An alert (ERR_SSL_*) or, when the server verifies after TLS 1.3's handshake, a reset.
    expect(err.code).toBe('DRIFTD_ERR_STORE_UNAVAILABLE');
    expect(err.message).toMatch(
      /(the server refused the client certificate|\(ECONNRESET\) while running a statement; a server refusing the client certificate may reset the connection) .*check store\.clickhouse\.tls\.cert and key/,
    );
    expect(s.requests).toHaveLength(0);
  });

  it('a certificate naming another user fails authentication (code 516), not the handshake', async () => {
    const s = await startHttps({
      clientCa: pki.ca.cert,
      certificateUsers: { driftd: 'someone-else' },
    });
    const config = configFor(s.url, {
      password: '',
      tls: { ca: pki.ca.cert, cert: pki.client.cert, key: pki.client.key },
    });
    const err = await failure(open(config).migrate());
    expect(err.code).toBe('DRIFTD_ERR_STORE');
    expect(err.clickhouseCode).toBe(516);
    expect(err.message).toContain('check store.clickhouse.username and password');
  });

  it("a client key that is not the certificate's is a ConfigError naming the key, before any connection", async () => {
    const s = await startHttps({ clientCa: pki.ca.cert, certificateUsers: { driftd: 'driftd' } });
    const config = configFor(s.url, {
      password: '',
      tls: { ca: pki.ca.cert, cert: pki.client.cert, key: pki.rogueClient.key },
    });
    expect(() => createStore(config.store)).toThrow(
      /^invalid TLS configuration: store\.clickhouse\.tls: the certificate, key and CA files do not load together \(.+\)$/,
    );
    expect(() => createStore(config.store)).toThrow(ConfigError);
    expect(s.requests).toHaveLength(0);
  });

  it('an https url on a plain-HTTP port says so', async () => {
    dir = mkdtempSync(join(tmpdir(), 'driftd-ch-tls-'));
    standIn = await startClickHouseStandIn({ path: dir, users: { driftd: 'pw' } });
    const url = standIn.url.replace('http:', 'https:');
    const err = await failure(open(configFor(url, { tls: { ca: pki.ca.cert } })).migrate());
    expect(err.code).toBe('DRIFTD_ERR_STORE_UNAVAILABLE');
    expect(err.message).toContain('the server does not speak TLS on this port');
  });

  it('the daemon waits for an untrusted server: up, not ready, its log says why; no internals over HTTP', async () => {
    const s = await startHttps({ server: pki.rogueServer });
    const lines: string[] = [];
    const sink = new Writable({
      write(chunk: Buffer, _enc, done) {
        lines.push(...chunk.toString('utf8').split('\n').filter(Boolean));
        done();
      },
    });
    const config = configFor(s.url, { tls: { ca: pki.ca.cert } });
    const daemon = createDaemon(config, {
      listen: false,
      waitForStore: true,
      logger: createLogger('info', sink),
    });
    const started = daemon.start().then(
      () => 'started',
      (e: unknown) => e,
    );
    try {
      await expect
        .poll(() => lines.some((l) => l.includes('not signed by a trusted CA')), {
          timeout: 10_000,
        })
        .toBe(true);
      const waiting = JSON.parse(lines.find((l) => l.includes('not signed by a trusted CA'))!) as {
        msg: string;
        reason: string;
        code: string;
      };
      expect(waiting.msg).toMatch(
        /^waiting for ClickHouse at https:\/\/127\.0\.0\.1:\d+: not ready/,
      );
      expect(waiting.code).toBe('DRIFTD_ERR_STORE_UNAVAILABLE');
      expect(waiting.reason).toContain('check store.clickhouse.tls.ca');

      const health = await daemon.app.inject({ method: 'GET', url: '/healthz' });
      expect(health.statusCode).toBe(200);
      const ready = await daemon.app.inject({ method: 'GET', url: '/readyz' });
      expect(ready.statusCode).toBe(503);
      const api = await daemon.app.inject({ method: 'GET', url: '/api/v1/models' });
      for (const res of [ready, api]) {
        expect(res.statusCode).toBe(503);
        expect(res.body).not.toMatch(/TLS|certificate|127\.0\.0\.1|ERR_SSL|UNABLE_TO/);
        expect(res.body).not.toContain(new URL(s.url).port);
      }
    } finally {
      await daemon.close();
    }
    expect(await started).not.toBe('started');
  });

  it('the waiting daemon starts once the server presents a certificate of the configured CA, without a restart', async () => {
    const rogue = await startHttps({ server: pki.rogueServer });
    const port = Number(new URL(rogue.url).port);
    const config = configFor(rogue.url, { tls: { ca: pki.ca.cert } });
    const daemon = createDaemon(config, { listen: false, waitForStore: true });
    const started = daemon.start();
    try {
      await expect
        .poll(async () => (await daemon.app.inject({ method: 'GET', url: '/readyz' })).statusCode)
        .toBe(503);
      expect(rogue.requests).toHaveLength(0);
      // The operator fixes the server's certificate: same port, the test CA's certificate.
      await rogue.close();
      const { cert, key } = await pki.server.read();
      standIn = await startClickHouseStandIn({
        path: dir,
        users: { driftd: 'pw' },
        port,
        tls: { cert, key },
      });
      await started;
      expect(daemon.state).toBe('running');
      const ready = await daemon.app.inject({ method: 'GET', url: '/readyz' });
      expect(ready.statusCode).toBe(200);
    } finally {
      await daemon.close();
      await started.catch(() => {});
    }
  }, 30_000);
});
