import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ClickHouseStandIn, startClickHouseStandIn } from '../helpers/clickhouse-http.js';
import {
  type DaemonProcess,
  type Exit,
  startDaemonProcess,
  writeConfigFile,
} from '../helpers/daemon-process.js';

/**
 * `driftd start` as a real process where its surroundings misbehave: a store that is not there
 * yet, a SIGHUP, a reader of its output that goes away.
 */

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');

const model = {
  id: 'm',
  task: 'regression',
  features: [{ name: 'x', type: 'numeric' }],
  windows: { sizes: ['1m'], idleTimeout: '1h' },
};

/** A 127.0.0.1 port nothing listens on (taken from the OS, then released). */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as { port: number };
  await new Promise((r) => server.close(r));
  return port;
}

describe('driftd start with its ClickHouse server unreachable (ClickHouse: the test stand-in, started late)', () => {
  let dir: string;
  let d: DaemonProcess | undefined;
  let standIn: ClickHouseStandIn | undefined;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'driftd-store-wait-'));
  });
  afterAll(async () => {
    await d?.stop().catch(() => {});
    await standIn?.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('stays up and not ready, says what it waits for without telling clients, survives SIGHUP, and becomes ready once the store answers', async () => {
    const port = await closedPort();
    const configFile = await writeConfigFile(dir, {
      dataDir: join(dir, 'data'),
      server: { host: '127.0.0.1', port: 0 },
      store: { clickhouse: { url: `http://127.0.0.1:${port}`, requestTimeoutMs: 2000 } },
      logLevel: 'info',
      models: [model],
    });
    d = await startDaemonProcess({ configFile, logFile: join(dir, 'daemon.log') });
    const waiting = await d.waitForLog(
      (e) => typeof e.msg === 'string' && e.msg.startsWith('waiting for ClickHouse'),
      20_000,
    );
    expect(waiting.msg).toContain(`http://127.0.0.1:${port}`);
    expect(waiting.retryInMs).toBe(1000);

    expect((await fetch(`${d.url}/healthz`)).status).toBe(200);
    const ready = await fetch(`${d.url}/readyz`);
    expect(ready.status).toBe(503);
    const readyBody = await ready.text();
    expect(JSON.parse(readyBody)).toMatchObject({
      ready: false,
      checks: {
        pipeline: { ok: false, detail: 'waiting for the store' },
        store: { ok: false, detail: 'unreachable' },
      },
    });
    expect(readyBody).not.toContain(String(port));
    const early = await fetch(`${d.url}/api/v1/events`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '[]',
    });
    expect(early.status).toBe(503);
    expect(await early.json()).toMatchObject({ code: 'DRIFTD_ERR_NOT_READY' });

    // SIGHUP neither kills it nor starts a shutdown.
    process.kill(d.pid, 'SIGHUP');
    await new Promise((r) => setTimeout(r, 300));
    expect((await fetch(`${d.url}/healthz`)).status).toBe(200);

    standIn = await startClickHouseStandIn({ path: join(dir, 'standin'), port });
    await d.waitReady(30_000);
    const res = await fetch(`${d.url}/api/v1/events`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        model: 'm',
        version: '1',
        id: 'after-wait',
        ts: new Date().toISOString(),
        features: { x: 1 },
        prediction: 1,
      }),
    });
    expect(res.status).toBe(202);
    expect(d.logs.some((l) => l.msg === 'driftd stopped')).toBe(false);
    expect(await d.stop()).toEqual({ code: 0, signal: null });
  });

  it('a SIGTERM while it waits stops it cleanly (exit 0)', async () => {
    const configFile = await writeConfigFile(
      dir,
      {
        dataDir: join(dir, 'data2'),
        server: { host: '127.0.0.1', port: 0 },
        store: { clickhouse: { url: `http://127.0.0.1:${await closedPort()}` } },
        models: [model],
      },
      'sigterm.yaml',
    );
    const p = await startDaemonProcess({ configFile });
    await p.waitForLog((e) => typeof e.msg === 'string' && e.msg.startsWith('waiting for'));
    expect(await p.stop(10_000)).toEqual({ code: 0, signal: null });
    expect(p.logs.some((l) => l.msg === 'driftd stopped')).toBe(true);
  });
});

describe('a one-shot command against an unreachable ClickHouse server', () => {
  it('`driftd baseline list` retries, then exits 1 naming the server (not 13 without a word)', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'driftd-cli-store-'));
    try {
      const port = await closedPort();
      const configFile = await writeConfigFile(dir, {
        dataDir: dir,
        store: { clickhouse: { url: `http://127.0.0.1:${port}` } },
        models: [model],
      });
      const child = spawn(
        process.execPath,
        ['--import', 'tsx', join(ROOT, 'src/main.ts'), 'baseline', 'list', '--config', configFile],
        { cwd: ROOT, stdio: ['ignore', 'ignore', 'pipe'] },
      );
      let stderr = '';
      child.stderr.setEncoding('utf8').on('data', (c: string) => {
        stderr += c;
      });
      const exit = await new Promise<Exit>((r) =>
        child.once('exit', (code, signal) => r({ code, signal })),
      );
      expect(exit).toEqual({ code: 1, signal: null });
      expect(stderr).toContain(
        `cannot reach ClickHouse at http://127.0.0.1:${port} (ECONNREFUSED)`,
      );
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('driftd start whose stdout and stderr readers go away (`driftd start | head -1`; real chDB)', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'driftd-epipe-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('keeps serving with both pipes closed, and still shuts down with exit 0', async () => {
    const configFile = await writeConfigFile(dir, {
      dataDir: dir,
      server: { host: '127.0.0.1', port: 0 },
      logLevel: 'debug',
      models: [model],
    });
    const child = spawn(
      process.execPath,
      ['--import', 'tsx', join(ROOT, 'src/main.ts'), 'start', '--config', configFile],
      { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    const exited = new Promise<Exit>((r) =>
      child.once('exit', (code, signal) => r({ code, signal })),
    );
    try {
      // Read up to the line that carries the URL, then close both read ends, as `head -1` would.
      const url = await new Promise<string>((resolveUrl, reject) => {
        let text = '';
        child.stdout.setEncoding('utf8');
        child.stdout.on('data', (chunk: string) => {
          text += chunk;
          const m = /"url":"(http:\/\/127\.0\.0\.1:\d+)".*"msg":"driftd listening"/.exec(text);
          if (m) resolveUrl(m[1]!);
        });
        child.once('exit', () => reject(new Error(`daemon exited early: ${text}`)));
      });
      child.stdout.destroy();
      child.stderr.destroy();
      for (let i = 0; ; i++) {
        const res = await fetch(`${url}/readyz`).catch(() => undefined);
        if (res?.status === 200) break;
        if (child.exitCode !== null || child.signalCode !== null) {
          throw new Error(`daemon died: ${JSON.stringify(await exited)}`);
        }
        if (i > 200) throw new Error('daemon not ready');
        await new Promise((r) => setTimeout(r, 100));
      }
      // Logging goes on (at debug, every request and tick may write): nothing may crash.
      for (let i = 0; i < 5; i++) {
        const res = await fetch(`${url}/api/v1/events`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: '[{"model":"nope"}]',
        });
        expect(res.status).toBe(400);
      }
      expect((await fetch(`${url}/healthz`)).status).toBe(200);
      // SIGTERM writes to stderr, shutdown logs to stdout: both pipes are gone.
      child.kill('SIGTERM');
      expect(await exited).toEqual({ code: 0, signal: null });
    } finally {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    }
  });
});
