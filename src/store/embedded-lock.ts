import { closeSync, mkdirSync, openSync, readFileSync, rmSync, writeSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { processAlive } from '../daemon-file.js';
import { StoreError } from '../errors.js';

/**
 * The embedded store is one process's: `<store path>/driftd.lock` names the process that has
 * it open, so a second daemon (or a CLI command opening the store while a daemon runs) is
 * refused with the directory and the other process named, instead of chDB's bare "Failed to
 * create connection". Several instances need the ClickHouse server store (docs/scale-out.md).
 *
 * Created with O_EXCL; a lock left by a process that is gone is taken over: its pid is dead,
 * or alive but started at another time (pid reuse; a container's pid 1 after a restart is
 * this process), or it was written on another host (a volume moved to a new pod: chDB's own
 * file lock still refuses a live second opener there). Within one process the store may be
 * opened several times (tests, the CLI): the lock is counted and removed at the last release.
 */

export const LOCK_FILE = 'driftd.lock';

interface LockOwner {
  pid: number;
  host: string;
  /** This process's start time as /proc reports it (clock ticks since boot); null elsewhere. */
  startTicks: number | null;
  startedAt: string;
}

const held = new Map<string, number>();

/** Takes the lock of the embedded store at `dir`; returns its release (idempotent). */
export function lockEmbeddedStore(dir: string): () => void {
  const path = join(dir, LOCK_FILE);
  const count = held.get(path);
  if (count !== undefined) {
    held.set(path, count + 1);
    return once(() => release(path));
  }
  mkdirSync(dir, { recursive: true });
  const me: LockOwner = {
    pid: process.pid,
    host: hostname(),
    startTicks: startTicksOf(process.pid),
    startedAt: new Date(Date.now() - process.uptime() * 1000).toISOString(),
  };
  for (let attempt = 0; ; attempt++) {
    try {
      const fd = openSync(path, 'wx', 0o600);
      try {
        writeSync(fd, `${JSON.stringify(me)}\n`);
      } finally {
        closeSync(fd);
      }
      break;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST' || attempt > 0) {
        if ((err as NodeJS.ErrnoException).code === 'EEXIST') throw inUse(dir, readOwner(path));
        throw new StoreError(
          `cannot lock the embedded store at ${dir}: ${(err as Error).message}`,
          {
            cause: err,
          },
        );
      }
      const owner = readOwner(path);
      if (owner !== undefined && isLive(owner)) throw inUse(dir, owner);
      rmSync(path, { force: true }); // stale: its process is gone; retry once
    }
  }
  held.set(path, 1);
  return once(() => release(path));
}

function release(path: string): void {
  const count = held.get(path) ?? 0;
  if (count > 1) {
    held.set(path, count - 1);
    return;
  }
  held.delete(path);
  if (readOwner(path)?.pid === process.pid) rmSync(path, { force: true });
}

function inUse(dir: string, owner: LockOwner | undefined): StoreError {
  const who =
    owner === undefined
      ? 'another process (its lock file is unreadable)'
      : `another driftd process (pid ${owner.pid} on ${owner.host}, started ${owner.startedAt})`;
  return new StoreError(
    `the embedded store at ${dir} is in use by ${who}: the embedded store is one process's. ` +
      'Stop that process first (or, for a CLI command, run it while the daemon runs: it goes ' +
      'through the daemon). To run several instances use the ClickHouse server store with ' +
      `cluster mode (docs/scale-out.md). If no such process exists, remove ${join(dir, LOCK_FILE)}.`,
  );
}

/** Whether the owner may still hold the store: only a live process of this host, started then. */
function isLive(owner: LockOwner): boolean {
  if (owner.host !== hostname()) return false;
  if (owner.pid === process.pid) return false; // not held by this process (checked above)
  if (!processAlive(owner.pid)) return false;
  if (owner.startTicks === null) return true;
  const ticks = startTicksOf(owner.pid);
  return ticks === null || ticks === owner.startTicks;
}

function readOwner(path: string): LockOwner | undefined {
  try {
    const v = JSON.parse(readFileSync(path, 'utf8')) as Partial<LockOwner>;
    if (!Number.isSafeInteger(v.pid) || typeof v.host !== 'string') return undefined;
    return {
      pid: v.pid!,
      host: v.host,
      startTicks: typeof v.startTicks === 'number' ? v.startTicks : null,
      startedAt: typeof v.startedAt === 'string' ? v.startedAt : 'at an unknown time',
    };
  } catch {
    return undefined;
  }
}

/** Field 22 of /proc/<pid>/stat (after the parenthesised command name); null off Linux. */
function startTicksOf(pid: number): number | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const ticks = Number(fields[19]);
    return Number.isSafeInteger(ticks) ? ticks : null;
  } catch {
    return null;
  }
}

function once(fn: () => void): () => void {
  let done = false;
  return () => {
    if (done) return;
    done = true;
    fn();
  };
}
