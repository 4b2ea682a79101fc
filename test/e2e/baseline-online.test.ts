import { spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type DaemonProcess,
  startDaemonProcess,
  writeConfigFile,
} from '../helpers/daemon-process.js';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');

/** `driftd …` as a real process, as an operator runs it next to the daemon. */
function driftd(args: string[], env: Record<string, string> = {}) {
  const child = spawn(process.execPath, ['--import', 'tsx', join(ROOT, 'src/main.ts'), ...args], {
    cwd: ROOT,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (c: string) => {
    stdout += c;
  });
  child.stderr.setEncoding('utf8').on('data', (c: string) => {
    stderr += c;
  });
  return new Promise<{ code: number | null; stdout: string; stderr: string }>((done) =>
    child.once('exit', (code) => done({ code, stdout, stderr })),
  );
}

/**
 * Onboarding a model version without downtime: a real `driftd start` on the embedded store
 * (which one process holds) and real `driftd baseline import` / `list` processes beside it.
 */
describe('baselines while the daemon runs (real processes, embedded store)', () => {
  let dir: string;
  let configFile: string;
  let daemon: DaemonProcess;
  const token = 'online-admin-0123456789abcdef';

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'driftd-baseline-online-'));
    configFile = await writeConfigFile(dir, {
      dataDir: join(dir, 'data'),
      server: { host: '127.0.0.1', port: 0 },
      logLevel: 'info',
      models: [
        {
          id: 'credit-risk',
          task: 'binary-classification',
          features: [
            { name: 'income', type: 'numeric' },
            { name: 'age', type: 'numeric' },
            { name: 'region', type: 'categorical' },
            { name: 'segment', type: 'categorical' },
          ],
        },
      ],
    });
    daemon = await startDaemonProcess({ configFile, env: { DRIFTD_API_TOKENS: token } });
    await daemon.waitReady();
  }, 90_000);
  afterAll(async () => {
    await daemon?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  it('imports and lists through the daemon; the store directly is held by it', async () => {
    const file = join(ROOT, 'test/fixtures/baseline/small.csv');
    const env = { DRIFTD_API_TOKENS: token };
    const imported = await driftd(
      [
        'baseline',
        'import',
        '--config',
        configFile,
        '--model',
        'credit-risk',
        '--version',
        '3',
        '--file',
        file,
      ],
      env,
    );
    expect(imported.stderr).toContain(`uploading ${file} to ${daemon.url}`);
    expect(imported.code).toBe(0);
    const id = /^stored: baseline (bl_[0-9a-f]{16})$/m.exec(imported.stdout)?.[1];
    expect(id).toBeDefined();

    const listed = await driftd(['baseline', 'list', '--config', configFile, '--json'], env);
    expect(listed.code).toBe(0);
    expect((JSON.parse(listed.stdout) as Array<{ id: string }>).map((b) => b.id)).toEqual([id]);
    const log = await daemon.waitForLog((e) => e.msg === 'baseline imported');
    expect(log).toMatchObject({ baseline: id, created: true });

    // What main did while a daemon ran: the store directly, which the daemon holds.
    const offline = await driftd(['baseline', 'list', '--config', configFile, '--offline'], env);
    expect(offline.code).toBe(1);
    // The embedded store's lock names the process holding it (src/store/embedded-lock.ts).
    expect(offline.stderr).toContain('is in use by another driftd process');
  }, 120_000);

  it('without a token the daemon refuses, and the CLI says what to give', async () => {
    const file = join(dir, 'train.jsonl');
    await writeFile(file, '{"income":1,"age":2,"region":"EU","segment":"a"}\n');
    const refused = await driftd([
      'baseline',
      'import',
      '--config',
      configFile,
      '--model',
      'credit-risk',
      '--version',
      '4',
      '--file',
      file,
    ]);
    // The config names no token here (it came from the daemon's environment): 401.
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/answered 401: .*--token-file or \$DRIFTD_TOKEN/);
  }, 60_000);
});
