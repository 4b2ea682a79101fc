import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { daemonFor } from '../../../src/cli/daemon-or-store.js';
import { validateConfig } from '../../../src/config/index.js';
import type { DriftdConfig } from '../../../src/config/types.js';
import { ConfigError } from '../../../src/errors.js';

/** How `baseline import` / `list` choose between a running daemon and the store. */
describe('daemonFor', () => {
  let dir: string;
  let config: DriftdConfig;
  let authorization: string | undefined;
  const server = createServer((req, res) => {
    if (req.url !== '/healthz') authorization = req.headers.authorization;
    res.end('{"status":"ok"}');
  });
  let live: string;
  let closed: string;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'driftd-daemon-for-'));
    config = validateConfig(
      {
        dataDir: dir,
        server: {
          auth: { tokens: [{ name: 'ops', scopes: ['admin'], secretEnv: 'T_OPS' }] },
        },
        models: [{ id: 'm', task: 'regression', features: [{ name: 'x', type: 'numeric' }] }],
      },
      { env: { T_OPS: 'ops-0123456789abcdefgh' } },
    );
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    live = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    // A port nothing listens on (fetch refuses some fixed ports outright, e.g. 1).
    const gone = createServer();
    await new Promise<void>((r) => gone.listen(0, '127.0.0.1', r));
    closed = `http://127.0.0.1:${(gone.address() as AddressInfo).port}`;
    await new Promise((r) => gone.close(r));
  });
  afterAll(async () => {
    server.close();
    await rm(dir, { recursive: true, force: true });
  });

  const daemonJson = (pid: number, url: string) =>
    writeFile(join(dir, 'daemon.json'), JSON.stringify({ pid, url }));

  it('uses the store when no daemon serves the data directory', async () => {
    await rm(join(dir, 'daemon.json'), { force: true });
    expect(await daemonFor(config, {}, 'admin')).toBeNull();
  });

  it("ignores a crashed daemon's file (its process is gone), names a live one that is silent", async () => {
    await daemonJson(2 ** 22 + 12_345, live); // above Linux's pid_max default: no such process
    expect(await daemonFor(config, {}, 'admin')).toBeNull();
    await daemonJson(process.pid, closed);
    await expect(daemonFor(config, {}, 'admin')).rejects.toThrow(
      new RegExp(`pid ${process.pid}.*does not answer \\(ECONNREFUSED\\).*--server`),
    );
  });

  it('goes through the daemon serving the data directory, unless --offline', async () => {
    await daemonJson(process.pid, live);
    const daemon = await daemonFor(config, {}, 'admin');
    expect(daemon?.base).toBe(live);
    // No --token-file or $DRIFTD_TOKEN: the config's token holding the scope.
    await daemon!.request('/api/v1/baselines');
    expect(authorization).toBe('Bearer ops-0123456789abcdefgh');
    expect(await daemonFor(config, { offline: true }, 'admin')).toBeNull();
  });

  it('requires --server to answer, and refuses it with --offline', async () => {
    expect((await daemonFor(config, { server: `${live}/` }, 'admin'))?.base).toBe(live);
    await expect(daemonFor(config, { server: closed }, 'admin')).rejects.toThrow(
      /no driftd answers there \(ECONNREFUSED\)/,
    );
    await expect(daemonFor(config, { server: live, offline: true }, 'admin')).rejects.toThrow(
      ConfigError,
    );
  });
});
