import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { StoreError } from '../../../src/errors.js';
import { LOCK_FILE, lockEmbeddedStore } from '../../../src/store/embedded-lock.js';

describe('lockEmbeddedStore (src/store/embedded-lock.ts)', () => {
  let dir: string;
  let child: ChildProcess | undefined;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'driftd-lock-'));
  });
  afterEach(() => {
    child?.kill('SIGKILL');
    child = undefined;
    rmSync(dir, { recursive: true, force: true });
  });
  const lockPath = () => join(dir, LOCK_FILE);
  const write = (owner: object) => writeFileSync(lockPath(), JSON.stringify(owner));
  const startTicks = (pid: number) => {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19]);
  };

  it('writes this process, is counted within it, and is removed at the last release', () => {
    const a = lockEmbeddedStore(dir);
    expect(JSON.parse(readFileSync(lockPath(), 'utf8'))).toMatchObject({
      pid: process.pid,
      host: hostname(),
    });
    const b = lockEmbeddedStore(dir); // the same process may open it again
    a();
    a(); // idempotent
    expect(existsSync(lockPath())).toBe(true);
    b();
    expect(existsSync(lockPath())).toBe(false);
  });

  it('refuses a live process of this host, naming it and the directory', async () => {
    child = spawn('sleep', ['30']);
    await new Promise((r) => child!.once('spawn', r));
    const pid = child.pid!;
    write({
      pid,
      host: hostname(),
      startTicks: startTicks(pid),
      startedAt: '2026-01-01T00:00:00Z',
    });
    expect(() => lockEmbeddedStore(dir)).toThrow(StoreError);
    expect(() => lockEmbeddedStore(dir)).toThrow(
      `the embedded store at ${dir} is in use by another driftd process (pid ${pid} on ${hostname()}, started 2026-01-01T00:00:00Z)`,
    );
    expect(JSON.parse(readFileSync(lockPath(), 'utf8')).pid).toBe(pid); // left alone
  });

  it.each([
    ['a dead pid', () => ({ pid: 2 ** 22 + 17, host: hostname(), startTicks: 1 })],
    [
      'this pid (a restarted container: pid 1 again)',
      () => ({ pid: process.pid, host: hostname(), startTicks: 1 }),
    ],
    [
      'a live pid started at another time (reused)',
      () => ({ pid: process.ppid, host: hostname(), startTicks: 1 }),
    ],
    [
      'another host (a volume moved to a new pod)',
      () => ({ pid: process.ppid, host: 'elsewhere', startTicks: null }),
    ],
    ['an unreadable file (a crash while writing it)', () => ({})],
  ])('takes over a stale lock: %s', (_, owner) => {
    write(owner());
    const release = lockEmbeddedStore(dir);
    expect(JSON.parse(readFileSync(lockPath(), 'utf8')).pid).toBe(process.pid);
    release();
  });
});
