import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { validateConfig } from '../../src/config/index.js';
import { createDaemon, type Daemon } from '../../src/daemon.js';
import { type ClickHouseStandIn, startClickHouseStandIn } from '../helpers/clickhouse-http.js';

/**
 * The ClickHouse driver's real failures (ClickHouse exceptions over HTTP, then the server gone)
 * never reach a response: no host, port, path or exception text in any body, /readyz included.
 * ClickHouse: the test stand-in (the embedded engine behind ClickHouse's HTTP interface).
 */

const TOKEN = 'hygiene-ch-0123456789abcdef';

describe('response hygiene with the ClickHouse driver failing (ClickHouse: the test stand-in)', () => {
  let dir: string;
  let standIn: ClickHouseStandIn;
  let daemon: Daemon;
  let hostPort: string;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'driftd-hygiene-ch-'));
    standIn = await startClickHouseStandIn({ path: join(dir, 'standin') });
    hostPort = new URL(standIn.url).host;
    const config = validateConfig(
      {
        dataDir: join(dir, 'data'),
        server: { host: '127.0.0.1', port: 0 },
        store: { clickhouse: { url: standIn.url, requestTimeoutMs: 2000 } },
        logLevel: 'silent',
        models: [{ id: 'm', task: 'regression', features: [{ name: 'x', type: 'numeric' }] }],
      },
      { env: { DRIFTD_API_TOKENS: TOKEN } },
    );
    daemon = createDaemon(config, { listen: false });
    await daemon.start();
  });
  afterAll(async () => {
    await daemon?.close().catch(() => {});
    await standIn?.close();
    await rm(dir, { recursive: true, force: true });
  });

  const routes = [
    '/api/v1/models',
    '/api/v1/models/m/drift',
    '/api/v1/models/m/summary',
    '/api/v1/models/m/features/x/histogram',
    '/api/v1/models/m/performance',
    '/api/v1/predictions/p-1',
    '/readyz',
  ];
  const get = (url: string) =>
    daemon.app.inject({ method: 'GET', url, headers: { authorization: `Bearer ${TOKEN}` } });

  function leaks(body: string): string[] {
    return [
      hostPort,
      '127.0.0.1',
      'DB::Exception',
      'Code: ',
      'NOT_ENOUGH_SPACE',
      dir,
      '/tmp/',
      '/work/',
    ].filter((f) => body.includes(f));
  }

  it('a ClickHouse exception answers 503 with a generic reason', async () => {
    const found: string[] = [];
    for (const url of routes.slice(0, -1)) {
      standIn.inject(
        {
          kind: 'error',
          code: 243,
          name: 'NOT_ENOUGH_SPACE',
          message: `Cannot reserve 1.00 MiB, not enough space on ${dir}/disk at ${hostPort}`,
        },
        { times: 5, match: 'query' },
      );
      const res = await get(url);
      expect(res.statusCode, `${url}: ${res.body}`).toBe(503);
      found.push(...leaks(res.body).map((l) => `${url}: ${l}`));
    }
    expect(found).toEqual([]);
  });

  it('with the server gone, reads and /readyz name no host, port or error text', async () => {
    await standIn.close();
    const found: string[] = [];
    for (const url of routes) {
      const res = await get(url);
      expect(res.statusCode, `${url}: ${res.body}`).toBe(503);
      found.push(...leaks(res.body).map((l) => `${url}: ${l}`));
    }
    expect(found).toEqual([]);
  });
});
