/**
 * Real Prometheus and Alertmanager servers for tests (Debian packages `prometheus` and
 * `prometheus-alertmanager`), and a webhook receiver collecting Alertmanager notifications.
 *
 * Every server listens on 127.0.0.1 on a free port, keeps its state in its own temp dir, and
 * is stopped by PID with `stop()` (SIGTERM, then SIGKILL after a grace period). Check for the
 * binaries first with `requireBinary('prometheus')` / `requireBinary('prometheus-alertmanager',
 * 'alertmanager')` from ./binaries.js so that a missing one skips (or fails in CI).
 *
 *   const am = await startAlertmanager({ configYaml });
 *   const prom = await startPrometheus({ rulesFiles, scrapeTargets: ['127.0.0.1:8080'],
 *     alertmanagerUrl: am.url, evaluationInterval: '1s' });
 *   try { ... } finally { await prom.stop(); await am.stop(); }
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse, stringify } from 'yaml';
import { findBinary } from './binaries.js';

export interface RunningServer {
  /** Base URL, e.g. http://127.0.0.1:40123 (no trailing slash). */
  url: string;
  port: number;
  pid: number;
  /** Temp dir holding the config and the server's storage; removed by stop(). */
  dir: string;
  /** stdout + stderr so far (for failure messages). */
  output(): string;
  /** SIGTERM by PID, SIGKILL after 5 s; removes the temp dir. Idempotent. */
  stop(): Promise<void>;
}

export interface ScrapeJob {
  job: string;
  targets: string[];
  metricsPath?: string;
  scrapeInterval?: string;
}

export interface StartPrometheusOptions {
  /** Absolute paths of rule files to load. */
  rulesFiles?: string[];
  /** `host:port` targets scraped as job "driftd", or full job definitions. */
  scrapeTargets?: (string | ScrapeJob)[];
  /** Alertmanager base URL (e.g. from startAlertmanager) that firing alerts are sent to. */
  alertmanagerUrl?: string;
  /** Rule evaluation interval. @default "1s" */
  evaluationInterval?: string;
  /** Default scrape interval. @default "1s" */
  scrapeInterval?: string;
  /** Binary to run. @default prometheus on PATH */
  binary?: string;
}

export interface StartAlertmanagerOptions {
  /** alertmanager.yml contents. */
  configYaml: string;
  /** Binary to run. @default prometheus-alertmanager or alertmanager on PATH */
  binary?: string;
}

const READY_TIMEOUT_MS = 30_000;

/** A port that was free a moment ago on 127.0.0.1 (the server is retried if it loses the race). */
export async function freePort(): Promise<number> {
  const server = createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  server.close();
  await once(server, 'close');
  return port;
}

export async function startPrometheus(opts: StartPrometheusOptions = {}): Promise<RunningServer> {
  const binary = opts.binary ?? findBinary('prometheus');
  if (binary === null) throw new Error('prometheus not found on PATH');
  const interval = opts.scrapeInterval ?? '1s';
  const jobs = (opts.scrapeTargets ?? []).map((t) =>
    typeof t === 'string' ? { job: 'driftd', targets: [t] } : t,
  );
  // Group plain targets of the same job into one scrape config.
  const byJob = new Map<string, ScrapeJob>();
  for (const j of jobs) {
    const prev = byJob.get(j.job);
    if (prev) prev.targets.push(...j.targets);
    else byJob.set(j.job, { ...j, targets: [...j.targets] });
  }
  const config = {
    global: {
      scrape_interval: interval,
      evaluation_interval: opts.evaluationInterval ?? '1s',
    },
    rule_files: opts.rulesFiles ?? [],
    ...(opts.alertmanagerUrl === undefined
      ? {}
      : {
          alerting: {
            alertmanagers: [
              { static_configs: [{ targets: [new URL(opts.alertmanagerUrl).host] }] },
            ],
          },
        }),
    scrape_configs: [...byJob.values()].map((j) => ({
      job_name: j.job,
      metrics_path: j.metricsPath ?? '/metrics',
      scrape_interval: j.scrapeInterval ?? interval,
      static_configs: [{ targets: j.targets }],
    })),
  };
  return startServer('prometheus', binary, async (dir, port) => {
    const file = join(dir, 'prometheus.yml');
    await writeFile(file, stringify(config));
    return [
      `--config.file=${file}`,
      `--storage.tsdb.path=${join(dir, 'data')}`,
      `--web.listen-address=127.0.0.1:${port}`,
      '--log.level=warn',
    ];
  });
}

export async function startAlertmanager(opts: StartAlertmanagerOptions): Promise<RunningServer> {
  const binary = opts.binary ?? findBinary('prometheus-alertmanager', 'alertmanager');
  if (binary === null)
    throw new Error('prometheus-alertmanager (or alertmanager) not found on PATH');
  return startServer('alertmanager', binary, async (dir, port) => {
    const file = join(dir, 'alertmanager.yml');
    await writeFile(file, opts.configYaml);
    return [
      `--config.file=${file}`,
      `--storage.path=${join(dir, 'data')}`,
      `--web.listen-address=127.0.0.1:${port}`,
      // Empty: no gossip cluster (it would listen on 0.0.0.0:9094).
      '--cluster.listen-address=',
      '--log.level=warn',
    ];
  });
}

async function startServer(
  name: string,
  binary: string,
  prepare: (dir: string, port: number) => Promise<string[]>,
): Promise<RunningServer> {
  let lastError: unknown;
  for (let attempt = 0; attempt < 3; attempt++) {
    const dir = await mkdtemp(join(tmpdir(), `driftd-${name}-`));
    const port = await freePort();
    const args = await prepare(dir, port);
    const server = launch(name, binary, args, dir, port);
    try {
      await server.ready;
      return server.handle;
    } catch (err) {
      lastError = err;
      await server.handle.stop();
    }
  }
  throw lastError;
}

function launch(name: string, binary: string, args: string[], dir: string, port: number) {
  const child: ChildProcess = spawn(binary, args, { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout?.on('data', (b: Buffer) => {
    output += b.toString();
  });
  child.stderr?.on('data', (b: Buffer) => {
    output += b.toString();
  });
  let exited = child.exitCode !== null;
  const exit = new Promise<void>((resolve) => {
    child.once('exit', () => {
      exited = true;
      resolve();
    });
    child.once('error', (err) => {
      output += `\nspawn error: ${err.message}`;
      exited = true;
      resolve();
    });
  });
  const url = `http://127.0.0.1:${port}`;
  let stopping: Promise<void> | undefined;
  const handle: RunningServer = {
    url,
    port,
    pid: child.pid ?? -1,
    dir,
    output: () => output,
    stop: () => {
      stopping ??= (async () => {
        if (!exited && child.pid !== undefined) {
          process.kill(child.pid, 'SIGTERM');
          const killTimer = setTimeout(() => {
            if (!exited && child.pid !== undefined) process.kill(child.pid, 'SIGKILL');
          }, 5_000);
          await exit;
          clearTimeout(killTimer);
        }
        await rm(dir, { recursive: true, force: true });
      })();
      return stopping;
    },
  };
  const ready = (async () => {
    const deadline = Date.now() + READY_TIMEOUT_MS;
    while (Date.now() < deadline) {
      if (exited) throw new Error(`${name} exited before it was ready:\n${output}`);
      try {
        const res = await fetch(`${url}/-/ready`, { signal: AbortSignal.timeout(1_000) });
        if (res.ok) return;
      } catch {
        // not listening yet
      }
      await sleep(100);
    }
    throw new Error(`${name} not ready after ${READY_TIMEOUT_MS} ms:\n${output}`);
  })();
  return { handle, ready };
}

/** One Alertmanager webhook notification (webhook_config payload version 4). */
export interface WebhookNotification {
  receiver: string;
  status: 'firing' | 'resolved';
  groupLabels: Record<string, string>;
  commonLabels: Record<string, string>;
  commonAnnotations: Record<string, string>;
  alerts: {
    status: 'firing' | 'resolved';
    labels: Record<string, string>;
    annotations: Record<string, string>;
    startsAt: string;
    endsAt: string;
    fingerprint: string;
  }[];
  [key: string]: unknown;
}

export interface WebhookReceiver {
  /** URL to put in an Alertmanager webhook_config, e.g. http://127.0.0.1:40124/alerts. */
  url: string;
  /** Every notification received so far, with the request path it was posted to. */
  notifications: (WebhookNotification & { path: string })[];
  /** Resolves with the first notification matching `predicate` (already received or future). */
  waitFor(
    predicate: (n: WebhookNotification & { path: string }) => boolean,
    timeoutMs?: number,
  ): Promise<WebhookNotification & { path: string }>;
  stop(): Promise<void>;
}

/** An HTTP server on 127.0.0.1 collecting POSTed Alertmanager notifications (JSON). */
export async function startWebhookReceiver(): Promise<WebhookReceiver> {
  const notifications: (WebhookNotification & { path: string })[] = [];
  const waiters = new Set<() => void>();
  const server: Server = createServer((req, res) => {
    if (req.method !== 'POST') {
      res.writeHead(405).end();
      return;
    }
    readBody(req)
      .then((body) => {
        notifications.push({ ...(JSON.parse(body) as WebhookNotification), path: req.url ?? '/' });
        for (const wake of waiters) wake();
        res.writeHead(200).end();
      })
      .catch(() => res.writeHead(400).end());
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/alerts`,
    notifications,
    waitFor: (predicate, timeoutMs = 30_000) =>
      new Promise((resolve, reject) => {
        const check = (): boolean => {
          const found = notifications.find(predicate);
          if (found === undefined) return false;
          cleanup();
          resolve(found);
          return true;
        };
        const timer = setTimeout(() => {
          cleanup();
          reject(
            new Error(
              `no matching notification within ${timeoutMs} ms; received: ${JSON.stringify(notifications)}`,
            ),
          );
        }, timeoutMs);
        const wake = () => {
          check();
        };
        const cleanup = () => {
          clearTimeout(timer);
          waiters.delete(wake);
        };
        waiters.add(wake);
        check();
      }),
    stop: async () => {
      if (!server.listening) return;
      server.closeAllConnections();
      server.close();
      await once(server, 'close');
    },
  };
}

async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

const PROMQL_KEYWORDS = new Set(['and', 'or', 'unless', 'offset', 'bool', 'atan2', 'inf', 'nan']);

/**
 * Metric names a PromQL expression selects, by a small lexer (not a parser): strings, label
 * matchers, ranges, numbers/durations and `by/without/on/ignoring/group_x (...)` label lists
 * are removed; an identifier followed by `(` is a function or aggregation; what remains are
 * metric names (and keywords, which are dropped). Grafana variables (`$x`, `${x}`) are removed
 * first. Use a real Prometheus to check that the expression parses.
 */
export function promqlMetricNames(expr: string): string[] {
  let s = expr
    .replace(/"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|`[^`]*`/g, '""')
    .replace(/\$\{[^}]*\}|\$\w+/g, '')
    .replace(/\{[^}]*\}/g, ' ')
    .replace(/\[[^\]]*\]/g, ' ')
    .replace(/\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, ' ');
  s = s.replace(/(^|[^\w:])\d[\w.]*(?:[eE][+-]?\d+)?/g, '$1 ');
  const names: string[] = [];
  for (const m of s.matchAll(/([A-Za-z_:][\w:]*)(\s*\()?/g)) {
    const [, id, call] = m;
    if (call !== undefined || PROMQL_KEYWORDS.has(id!.toLowerCase())) continue;
    names.push(id!);
  }
  return [...new Set(names)];
}

/** The Alertmanager config driftd ships (routes, inhibitions, receivers). */
export const SHIPPED_ALERTMANAGER_YML = fileURLToPath(
  new URL('../../deploy/alertmanager/alertmanager.yml', import.meta.url),
);

/**
 * The shipped Alertmanager config for a test, as YAML: routes and inhibition rules untouched;
 * every receiver becomes the test webhook `hookUrl` (path = receiver name; `send_resolved` as
 * shipped for a webhook receiver, else true), no secret files, short group timers on every
 * route that sets them. `repeatInterval`: the repeat interval of those routes (1m by default);
 * null keeps the shipped ones (what the retrain route promises is one notification).
 */
export async function shippedAlertmanagerConfig(
  hookUrl: string,
  opts: { repeatInterval?: string | null } = {},
): Promise<string> {
  const config = parse(await readFile(SHIPPED_ALERTMANAGER_YML, 'utf8')) as {
    global: Record<string, unknown>;
    route: Record<string, unknown>;
    receivers: { name: string; webhook_configs?: { send_resolved?: boolean }[] }[];
  };
  delete config.global.slack_api_url_file;
  config.global.resolve_timeout = '30s';
  const repeat = opts.repeatInterval === undefined ? '1m' : opts.repeatInterval;
  const timers: Array<[string, string]> = [
    ['group_wait', '2s'],
    ['group_interval', '1s'],
    ...(repeat === null ? [] : [['repeat_interval', repeat] as [string, string]]),
  ];
  const shorten = (route: Record<string, unknown>) => {
    for (const [key, value] of timers) {
      if (route === config.route || key in route) route[key] = value;
    }
    for (const child of (route.routes ?? []) as Record<string, unknown>[]) shorten(child);
  };
  shorten(config.route);
  config.receivers = config.receivers.map(({ name, webhook_configs }) => ({
    name,
    webhook_configs: [
      {
        url: hookUrl.replace(/\/alerts$/, `/${name}`),
        send_resolved: webhook_configs?.[0]?.send_resolved ?? true,
      },
    ],
  }));
  return stringify(config);
}

/**
 * Runs every cleanup step even when one fails (a daemon, servers, a temp dir), then throws one
 * error naming every step that failed.
 */
export async function cleanUp(
  steps: ReadonlyArray<[string, (() => Promise<unknown>) | undefined]>,
): Promise<void> {
  const errors: string[] = [];
  for (const [what, step] of steps) {
    try {
      await step?.();
    } catch (err) {
      errors.push(`${what}: ${(err as Error).message}`);
    }
  }
  if (errors.length > 0) throw new Error(`cleanup failed: ${errors.join('; ')}`);
}
