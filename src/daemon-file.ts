import { mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

/**
 * `<dataDir>/daemon.json`: which process serves the API on this data directory, and where.
 * The daemon writes it once it accepts requests and removes it at close; the CLI reads it to
 * go through the running daemon (the embedded store is one process's) instead of the store.
 * A crashed daemon's file stays behind: readers check that the process is alive and answers.
 */
export interface DaemonFile {
  pid: number;
  /** The API's base URL as the daemon listens (a wildcard host is reached on loopback). */
  url: string;
}

const NAME = 'daemon.json';

export async function writeDaemonFile(dataDir: string, file: DaemonFile): Promise<void> {
  await mkdir(dataDir, { recursive: true });
  const tmp = join(dataDir, `${NAME}.${process.pid}.tmp`);
  await writeFile(tmp, `${JSON.stringify(file)}\n`, { mode: 0o600 });
  await rename(tmp, join(dataDir, NAME));
}

/** Removes the file when it is this process's (another daemon may have started since). */
export async function removeDaemonFile(dataDir: string): Promise<void> {
  const current = await readDaemonFile(dataDir);
  if (current?.pid === process.pid) await rm(join(dataDir, NAME), { force: true });
}

/** The file's content, or null when there is none or it is not one of ours. */
export async function readDaemonFile(dataDir: string): Promise<DaemonFile | null> {
  let text: string;
  try {
    text = await readFile(join(dataDir, NAME), 'utf8');
  } catch {
    return null;
  }
  try {
    const v = JSON.parse(text) as Partial<DaemonFile>;
    if (!Number.isSafeInteger(v.pid) || typeof v.url !== 'string') return null;
    return { pid: v.pid!, url: v.url };
  } catch {
    return null;
  }
}

/** Whether a process with this id exists (it may belong to another user: still alive). */
export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** A listen address as clients reach it: a wildcard host becomes loopback. */
export function reachableUrl(url: string): string {
  return url.replace('//0.0.0.0:', '//127.0.0.1:').replace('//[::]:', '//[::1]:');
}
