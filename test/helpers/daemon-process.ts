/**
 * The daemon as a real child process (`node --import tsx src/main.ts start --config …`), for
 * end-to-end tests that kill it: start, wait for readiness, watch its log, SIGKILL, restart,
 * stop. The child is node itself (no npx/shell in between), so a signal reaches the daemon.
 *
 *   const cfg = await writeConfigFile(dir, { ...config });
 *   const d = await startDaemonProcess({ configFile: cfg, env: { DRIFTD_KAFKA_SESSION_TIMEOUT_MS: '6000' } });
 *   await d.waitReady();
 *   await d.kill();            // SIGKILL: no shutdown code runs
 *   await d.stop();            // SIGTERM, then SIGKILL after a timeout
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { createWriteStream, type WriteStream } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { stringify } from 'yaml';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');

export interface LogEntry {
  level?: number;
  msg?: string;
  stage?: string;
  [k: string]: unknown;
}

export interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

export interface DaemonProcess {
  readonly pid: number;
  /** http://127.0.0.1:port once the daemon logged that it listens. */
  readonly url: string | undefined;
  /** Parsed JSON log lines so far (stdout). */
  readonly logs: readonly LogEntry[];
  readonly exited: Promise<Exit>;
  /** Resolves with the first log entry (from `from` on) matching `predicate`. */
  waitForLog(
    predicate: (e: LogEntry) => boolean,
    timeoutMs?: number,
    from?: number,
  ): Promise<LogEntry>;
  /** Waits until GET /readyz answers 200 (Kafka: the consumer group is joined). */
  waitReady(timeoutMs?: number): Promise<void>;
  /** GET a path of the daemon's HTTP API as JSON. */
  get<T>(path: string): Promise<T>;
  /** Sends `signal` (default SIGKILL) and waits for the exit. */
  kill(signal?: NodeJS.Signals): Promise<Exit>;
  /** SIGTERM (graceful shutdown), SIGKILL after `timeoutMs`. */
  stop(timeoutMs?: number): Promise<Exit>;
}

export interface StartOptions {
  configFile: string;
  /** Extra environment (merged over this process's). */
  env?: Record<string, string>;
  /** Raw stdout/stderr are appended here, for post-mortems. */
  logFile?: string;
  /** How long to wait for "driftd listening", ms. @default 60000 */
  startTimeoutMs?: number;
}

/** Writes `config` as YAML to `<dir>/<name>` and returns the path. */
export async function writeConfigFile(
  dir: string,
  config: Record<string, unknown>,
  name = 'driftd.yaml',
): Promise<string> {
  const file = join(dir, name);
  await writeFile(file, stringify(config));
  return file;
}

export async function startDaemonProcess(opts: StartOptions): Promise<DaemonProcess> {
  const child: ChildProcess = spawn(
    process.execPath,
    ['--import', 'tsx', join(ROOT, 'src/main.ts'), 'start', '--config', opts.configFile],
    {
      cwd: ROOT,
      env: { ...process.env, ...opts.env },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  if (child.pid === undefined) throw new Error('could not spawn the daemon');
  const pid = child.pid;
  const sink: WriteStream | undefined = opts.logFile
    ? createWriteStream(opts.logFile, { flags: 'a' })
    : undefined;
  sink?.write(`--- daemon pid ${pid} started ${new Date().toISOString()}\n`);
  const logs: LogEntry[] = [];
  const waiters = new Set<() => void>();
  let url: string | undefined;
  let buffered = '';
  let done: Exit | undefined;

  child.stdout?.setEncoding('utf8');
  child.stdout?.on('data', (chunk: string) => {
    sink?.write(chunk);
    buffered += chunk;
    let nl = buffered.indexOf('\n');
    while (nl !== -1) {
      const line = buffered.slice(0, nl);
      buffered = buffered.slice(nl + 1);
      nl = buffered.indexOf('\n');
      if (!line.startsWith('{')) continue;
      try {
        const entry = JSON.parse(line) as LogEntry;
        logs.push(entry);
        if (entry.msg === 'driftd listening' && typeof entry.url === 'string') url = entry.url;
      } catch {
        // not a log line
      }
    }
    for (const w of waiters) w();
  });
  child.stderr?.setEncoding('utf8');
  child.stderr?.on('data', (chunk: string) => sink?.write(`[stderr] ${chunk}`));

  const exited = new Promise<Exit>((resolveExit) => {
    child.once('exit', (code, signal) => {
      done = { code, signal };
      sink?.write(`--- daemon pid ${pid} exited code=${code} signal=${signal}\n`);
      sink?.end();
      for (const w of waiters) w();
      resolveExit(done);
    });
  });

  function waitForLog(
    predicate: (e: LogEntry) => boolean,
    timeoutMs = 60_000,
    from = 0,
  ): Promise<LogEntry> {
    return new Promise((resolveLog, reject) => {
      let checked = from;
      const check = () => {
        for (; checked < logs.length; checked++) {
          const e = logs[checked]!;
          if (predicate(e)) {
            finish();
            resolveLog(e);
            return;
          }
        }
        if (done) {
          finish();
          reject(new Error(`daemon exited (${JSON.stringify(done)}) before the awaited log line`));
        }
      };
      const timer = setTimeout(() => {
        finish();
        reject(new Error(`timed out after ${timeoutMs} ms waiting for a log line`));
      }, timeoutMs);
      const finish = () => {
        clearTimeout(timer);
        waiters.delete(check);
      };
      waiters.add(check);
      check();
    });
  }

  await waitForLog((e) => e.msg === 'driftd listening', opts.startTimeoutMs ?? 60_000);

  const proc: DaemonProcess = {
    pid,
    get url() {
      return url;
    },
    logs,
    exited,
    waitForLog,
    async waitReady(timeoutMs = 60_000) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        if (done) throw new Error(`daemon exited (${JSON.stringify(done)}) before it was ready`);
        try {
          const res = await fetch(`${url}/readyz`);
          if (res.status === 200) return;
        } catch {
          // not listening yet
        }
        if (Date.now() > deadline) throw new Error(`daemon not ready after ${timeoutMs} ms`);
        await new Promise((r) => setTimeout(r, 100));
      }
    },
    async get<T>(path: string): Promise<T> {
      const res = await fetch(`${url}${path}`);
      if (!res.ok) throw new Error(`GET ${path}: ${res.status} ${await res.text()}`);
      return (await res.json()) as T;
    },
    async kill(signal: NodeJS.Signals = 'SIGKILL') {
      if (!done) process.kill(pid, signal);
      return exited;
    },
    async stop(timeoutMs = 30_000) {
      if (done) return done;
      process.kill(pid, 'SIGTERM');
      const timer = setTimeout(() => {
        if (!done) process.kill(pid, 'SIGKILL');
      }, timeoutMs);
      try {
        return await exited;
      } finally {
        clearTimeout(timer);
      }
    },
  };
  return proc;
}
