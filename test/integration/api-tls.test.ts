/**
 * `server.tls`: the daemon's API over HTTPS on a real port (127.0.0.1), with certificates made
 * by openssl at test time (test/helpers/tls.ts): answers a client trusting the CA, serves no
 * plain HTTP on that port, and with `server.tls.ca` requires a client certificate signed by it.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { request as httpsRequest, type RequestOptions } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { validateConfig } from '../../src/config/index.js';
import { createDaemon, type Daemon } from '../../src/daemon.js';
import { ConfigError } from '../../src/errors.js';
import { createTestPki, type TestPki } from '../helpers/tls.js';

let pki: TestPki;
let pkiDir: string;
let dir: string;
const daemons: Daemon[] = [];

beforeAll(async () => {
  pkiDir = mkdtempSync(join(tmpdir(), 'driftd-api-tls-pki-'));
  pki = await createTestPki(pkiDir);
});
afterAll(() => rmSync(pkiDir, { recursive: true, force: true }));
afterEach(async () => {
  for (const d of daemons.splice(0)) await d.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

async function start(tls: Record<string, string> | null): Promise<Daemon> {
  dir = mkdtempSync(join(tmpdir(), 'driftd-api-tls-'));
  const config = validateConfig(
    {
      dataDir: dir,
      server: { host: '127.0.0.1', port: 0, tls },
      logLevel: 'silent',
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
  const daemon = createDaemon(config, {});
  daemons.push(daemon);
  await daemon.start();
  return daemon;
}

interface Answer {
  status: number;
  body: string;
}

function get(url: string, path: string, tls: RequestOptions = {}): Promise<Answer> {
  const u = new URL(path, url);
  const request = u.protocol === 'https:' ? httpsRequest : httpRequest;
  return new Promise((resolve, reject) => {
    const req = request(u, { ...tls, agent: false, timeout: 5000 }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => {
        body += c;
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
    req.end();
  });
}

const failureOf = (p: Promise<Answer>): Promise<NodeJS.ErrnoException | Answer> =>
  p.catch((e: NodeJS.ErrnoException) => e);

describe('server.tls: the API over HTTPS (openssl-made certificates)', () => {
  it('answers /healthz, /readyz, /metrics and /api/v1 over https to a client trusting the CA', async () => {
    const daemon = await start({ cert: pki.server.cert, key: pki.server.key });
    expect(daemon.url).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
    const ca = (await pki.ca.read()).cert;
    for (const path of ['/healthz', '/readyz', '/metrics', '/api/v1/models', '/openapi.json']) {
      const res = await get(daemon.url!, path, { ca });
      expect(res.status, path).toBe(200);
    }
    // localhost is in the certificate too.
    const local = await get(daemon.url!.replace('127.0.0.1', 'localhost'), '/healthz', { ca });
    expect(local.status).toBe(200);
  });

  it('serves no plain HTTP on that port, and a client not trusting the CA is refused', async () => {
    const daemon = await start({ cert: pki.server.cert, key: pki.server.key });
    const plain = await failureOf(get(daemon.url!.replace('https:', 'http:'), '/healthz'));
    expect(plain).toBeInstanceOf(Error);
    expect((plain as NodeJS.ErrnoException).code).toMatch(/ECONNRESET|EPIPE|HPE_/);

    const untrusting = await failureOf(get(daemon.url!, '/healthz'));
    expect(untrusting).toBeInstanceOf(Error);
    expect((untrusting as NodeJS.ErrnoException).code).toBe('UNABLE_TO_VERIFY_LEAF_SIGNATURE');

    // Still serving after both.
    const ca = (await pki.ca.read()).cert;
    expect((await get(daemon.url!, '/healthz', { ca })).status).toBe(200);
  });

  it('with server.tls.ca: a client certificate signed by it is required', async () => {
    const daemon = await start({ cert: pki.server.cert, key: pki.server.key, ca: pki.ca.cert });
    const ca = (await pki.ca.read()).cert;
    const client = await pki.client.read();
    const ok = await get(daemon.url!, '/healthz', { ca, ...client });
    expect(ok.status).toBe(200);

    const none = await failureOf(get(daemon.url!, '/healthz', { ca }));
    expect(none).toBeInstanceOf(Error);
    const rogue = await failureOf(
      get(daemon.url!, '/healthz', { ca, ...(await pki.rogueClient.read()) }),
    );
    expect(rogue).toBeInstanceOf(Error);

    expect((await get(daemon.url!, '/readyz', { ca, ...client })).status).toBe(200);
  });

  it("a key that is not the certificate's stops start() with a ConfigError naming server.tls", async () => {
    dir = mkdtempSync(join(tmpdir(), 'driftd-api-tls-'));
    const config = validateConfig(
      {
        dataDir: dir,
        server: {
          host: '127.0.0.1',
          port: 0,
          tls: { cert: pki.server.cert, key: pki.rogueServer.key },
        },
        logLevel: 'silent',
        models: [
          {
            id: 'm',
            task: 'regression',
            features: [{ name: 'x', type: 'numeric' }],
          },
        ],
      },
      { env: {} },
    );
    const daemon = createDaemon(config, {});
    daemons.push(daemon);
    const err = await daemon.start().then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as ConfigError).message).toMatch(
      /^invalid TLS configuration: server\.tls: the certificate, key and CA files do not load together \(.+\)$/,
    );
    expect((err as ConfigError).message).not.toContain('PRIVATE KEY');
  });
});
