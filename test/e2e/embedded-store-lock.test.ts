/**
 * The embedded store is one process's (src/store/embedded-lock.ts): two real daemons on one
 * data directory; the second is refused naming the directory and the first process, and exits
 * non-zero without touching the store. A SIGKILLed daemon's lock is stale: the next one starts.
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type DaemonProcess,
  startDaemonProcess,
  writeConfigFile,
} from '../helpers/daemon-process.js';

const ROOT = resolve(import.meta.dirname, '../..');

describe('the embedded store refuses a second daemon (two real processes)', () => {
  let root: string;
  const running: DaemonProcess[] = [];

  beforeAll(async () => {
    root = await mkdtemp(join(tmpdir(), 'driftd-store-lock-'));
  });
  afterAll(async () => {
    for (const d of running) await d.kill().catch(() => undefined);
    if (root) await rm(root, { recursive: true, force: true });
  });

  /** Runs `driftd start` to its exit; what it printed. */
  function runToExit(configFile: string): Promise<{ code: number | null; output: string }> {
    return new Promise((done, fail) => {
      const child = spawn(
        process.execPath,
        ['--import', 'tsx', join(ROOT, 'src/main.ts'), 'start', '--config', configFile],
        { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] },
      );
      let output = '';
      child.stdout.on('data', (c) => {
        output += c;
      });
      child.stderr.on('data', (c) => {
        output += c;
      });
      const timer = setTimeout(() => {
        child.kill('SIGKILL');
        fail(new Error(`the second daemon did not exit: ${output}`));
      }, 45_000);
      child.on('exit', (code) => {
        clearTimeout(timer);
        done({ code, output });
      });
    });
  }

  it('refuses the second, names the directory and the first; a killed daemon leaves no lock in the way', async () => {
    const dataDir = join(root, 'data');
    const config = await writeConfigFile(root, {
      dataDir,
      server: { host: '127.0.0.1', port: 0 },
      models: [
        {
          id: 'lock-model',
          task: 'regression',
          features: [{ name: 'x', type: 'numeric' }],
        },
      ],
    });
    const first = await startDaemonProcess({ configFile: config, logFile: join(root, 'a.log') });
    running.push(first);
    await first.waitReady();

    const second = await runToExit(config);
    expect(second.code).not.toBe(0);
    expect(second.output).toContain(
      `the embedded store at ${join(dataDir, 'store')} is in use by another driftd process (pid ${first.pid} on`,
    );
    expect(second.output).toContain('docs/scale-out.md');
    // The first one is unharmed.
    expect((await fetch(`${first.url}/readyz`)).status).toBe(200);

    await first.kill(); // SIGKILL: its lock file stays behind, its process is gone
    expect(existsSync(join(dataDir, 'store', 'driftd.lock'))).toBe(true);
    const third = await startDaemonProcess({ configFile: config, logFile: join(root, 'c.log') });
    running.push(third);
    await third.waitReady();
    expect((await third.stop()).code).toBe(0);
    expect(existsSync(join(dataDir, 'store', 'driftd.lock'))).toBe(false);
  }, 120_000);
});
