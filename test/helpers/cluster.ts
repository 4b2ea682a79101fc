/**
 * Cluster mode end to end (issue 18, docs/scale-out.md): N driftd daemons as real child
 * processes in cluster mode, sharing one ClickHouse store — the STAND-IN HTTP interface
 * (test/helpers/clickhouse-http.ts) running in the test process on a chDB directory of its own —
 * and, with Kafka, one consumer group; and the REFERENCE: the same input through ONE ordinary
 * single-instance daemon (no `cluster:`), with a store of its own (database `driftd_ref` on the
 * same stand-in, so the test process reads both through the same engine).
 *
 *   const c = await createCluster({ name: 'k', models: [model], kafka, prepare });
 *   await c.start('i-1', 'i-2', 'i-3');     // instanceId = the name; distinct API ports
 *   await c.kill('i-2');                     // SIGKILL: no shutdown code runs
 *   await c.start('i-2');                    // restart with the same instanceId
 *   await c.stop('i-1');                     // SIGTERM: a graceful leave
 *   await c.waitFinalised(MODEL, from, to, 30);
 *   const ref = await c.startReference();
 *   c.results('cluster', …) / c.results('reference', …)
 *   await c.close();
 */
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type {
  ClusterStore,
  FinalisationRow,
  LaneProgressRow,
  PartialRow,
  WindowKey,
} from '../../src/cluster/types.js';
import { windowKeyString } from '../../src/cluster/types.js';
import { validateConfig } from '../../src/config/index.js';
import type { DriftdConfig, StoreConfig } from '../../src/config/types.js';
import { createStore } from '../../src/store/index.js';
import type { EventSourceSummary, Store } from '../../src/store/types.js';
import type { WindowResult } from '../../src/types.js';
import { type ClickHouseStandIn, startClickHouseStandIn } from './clickhouse-http.js';
import {
  type DaemonProcess,
  type Exit,
  type LogEntry,
  startDaemonProcess,
  writeConfigFile,
} from './daemon-process.js';

export const CLUSTER_DATABASE = 'driftd';
export const REFERENCE_DATABASE = 'driftd_ref';

export type Run = 'cluster' | 'reference';

export interface ClusterOptions {
  /** Names the temp directory and log files. */
  name: string;
  /** `models:` of every config (the input to validateConfig). */
  models: Record<string, unknown>[];
  /** `kafka:` of the cluster's instances (one consumer group); absent = HTTP only. */
  kafka?: Record<string, unknown>;
  /** `kafka:` of the reference (another group, so it reads the whole topic itself). */
  referenceKafka?: Record<string, unknown>;
  /** Environment of every daemon (tuning: checkpoint intervals, session timeout, …). */
  env?: Record<string, string>;
  /** cluster.finaliseInterval (a duration). @default "500ms" */
  finaliseInterval?: string;
  /** cluster.laneTimeout (a duration). @default the config's */
  laneTimeout?: string;
  /** Fills a freshly migrated store (baselines); called for the cluster's and the reference's. */
  prepare: (store: Store, config: DriftdConfig) => Promise<void>;
}

export interface Cluster {
  readonly root: string;
  readonly standIn: ClickHouseStandIn;
  /** The running instances by instanceId. */
  readonly instances: ReadonlyMap<string, DaemonProcess>;
  /** Starts (or restarts) instances by instanceId and waits until each is ready. */
  start(...ids: string[]): Promise<DaemonProcess[]>;
  /** SIGKILL. */
  kill(id: string): Promise<Exit>;
  /** SIGTERM (graceful), SIGKILL after 30 s. */
  stop(id: string): Promise<Exit>;
  /** The running instance (throws if it is not running). */
  get(id: string): DaemonProcess;
  /** The reference: one single-instance daemon (no cluster:), database driftd_ref. */
  startReference(): Promise<DaemonProcess>;
  /** A store client on the run's database (the test process's; closed by close()). */
  store(run: Run): Store & ClusterStore;
  /** Whole-traffic window results (latest per window) overlapping [from, to), every size. */
  results(run: Run, model: string, from: number, to: number): Promise<WindowResult[]>;
  /** Stored revisions per whole-traffic window (kind dataset), from the revisions table. */
  revisions(run: Run, model: string): Promise<RevisionCount[]>;
  /** Every finalisation row (no merge applied: raw rows of the table, via the store). */
  finalisations(): Promise<FinalisationRow[]>;
  /** Raw event rows of the run's store (FINAL): rows, distinct ids, late rows. */
  rawEvents(run: Run, model: string): Promise<{ n: number; ids: number; late: number }>;
  eventSources(run: Run, model: string, from: number, to: number): Promise<EventSourceSummary[]>;
  /**
   * Waits until `expected` windows of `model` starting in [from, to) are finalised AND their
   * results are readable; returns the finalisation rows.
   */
  waitFinalised(
    model: string,
    from: number,
    to: number,
    expected: number,
    timeoutMs?: number,
  ): Promise<FinalisationRow[]>;
  /** Lane progress rows (latest per lane, model, version). */
  progress(): Promise<LaneProgressRow[]>;
  /** The latest partial of every lane of one window. */
  partials(w: WindowKey): Promise<PartialRow[]>;
  /** A metric of a running instance's /metrics (sum of the samples whose labels include `labels`). */
  metric(id: string, name: string, labels?: Record<string, string>): Promise<number>;
  /**
   * What the observability promises, as problems found (empty: all good): every
   * instance of `shows` has the latest window of each size on /metrics (driftd_window_events,
   * also when another instance finalised it; waits up to 15 s), and each instance of `counts`
   * (alive since the start) counts exactly the finalisation rows the store kept from it.
   */
  observability(
    model: string,
    from: number,
    to: number,
    finalisations: readonly FinalisationRow[],
    who: { shows: readonly string[]; counts: readonly string[] },
  ): Promise<string[]>;
  /** Every log line of every life of every instance (and the reference), with its name. */
  logs(): Array<LogEntry & { daemon: string }>;
  /** Kills every daemon still running, closes the store clients and the stand-in, removes the directory. */
  close(): Promise<void>;
}

export interface RevisionCount {
  window: string;
  version: string;
  start: number;
  reason: string;
  n: number;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export async function waitUntil(
  what: string,
  probe: () => Promise<boolean> | boolean,
  timeoutMs = 60_000,
  everyMs = 100,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await probe())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms: ${what}`);
    await sleep(everyMs);
  }
}

/** Prometheus text: the sum of `name`'s samples whose labels include `labels`. */
export function sampleSum(text: string, name: string, labels: Record<string, string> = {}): number {
  let sum = 0;
  for (const line of text.split('\n')) {
    if (!(line.startsWith(`${name}{`) || line.startsWith(`${name} `))) continue;
    const close = line.lastIndexOf('}');
    const body = close > 0 ? line.slice(name.length + 1, close) : '';
    if (Object.entries(labels).every(([k, v]) => body.includes(`${k}="${v}"`))) {
      sum += Number(line.slice(line.lastIndexOf(' ') + 1));
    }
  }
  return sum;
}

export async function createCluster(opts: ClusterOptions): Promise<Cluster> {
  const root = await mkdtemp(join(tmpdir(), `driftd-cluster-${opts.name}-`));
  const standIn = await startClickHouseStandIn({ path: join(root, 'standin') });
  const running = new Map<string, DaemonProcess>();
  const every: Array<{ name: string; d: DaemonProcess }> = [];
  const configFiles = new Map<string, string>();
  const stores = new Map<Run, Store & ClusterStore>();

  const storeSection = (database: string) => ({
    clickhouse: { url: standIn.url, database, requestTimeoutMs: 30_000 },
  });
  const referenceInput: Record<string, unknown> = {
    dataDir: join(root, 'reference'),
    server: { host: '127.0.0.1', port: 0 },
    logLevel: 'info',
    store: storeSection(REFERENCE_DATABASE),
    ...(opts.kafka ? { kafka: { ...opts.kafka, ...opts.referenceKafka } } : {}),
    models: opts.models,
  };
  const referenceConfig = validateConfig(referenceInput, { env: {} });

  const storeConfig = (database: string): StoreConfig => ({
    ...(referenceConfig.store as Extract<StoreConfig, { kind: 'clickhouse' }>),
    database,
  });
  const storeOf = (run: Run): Store & ClusterStore => {
    let s = stores.get(run);
    if (!s) {
      s = createStore(
        storeConfig(run === 'cluster' ? CLUSTER_DATABASE : REFERENCE_DATABASE),
      ) as Store & ClusterStore;
      stores.set(run, s);
    }
    return s;
  };

  // Both stores migrated and prepared before any daemon starts (so no two instances race to
  // migrate, and every instance finds the baselines).
  for (const run of ['cluster', 'reference'] as const) {
    const s = storeOf(run);
    await s.migrate();
    await opts.prepare(s, referenceConfig);
  }

  async function configFileOf(id: string): Promise<string> {
    const known = configFiles.get(id);
    if (known) return known;
    const dir = join(root, id);
    await mkdir(dir, { recursive: true });
    const file = await writeConfigFile(
      root,
      {
        dataDir: dir,
        server: { host: '127.0.0.1', port: 0 },
        logLevel: 'info',
        store: storeSection(CLUSTER_DATABASE),
        ...(opts.kafka ? { kafka: { ...opts.kafka, clientId: `driftd-e2e-${id}` } } : {}),
        cluster: {
          enabled: true,
          instanceId: id,
          finaliseInterval: opts.finaliseInterval ?? '500ms',
          ...(opts.laneTimeout !== undefined ? { laneTimeout: opts.laneTimeout } : {}),
        },
        models: opts.models,
      },
      `${id}.yaml`,
    );
    configFiles.set(id, file);
    return file;
  }

  async function spawnDaemon(name: string, configFile: string): Promise<DaemonProcess> {
    const d = await startDaemonProcess({
      configFile,
      env: opts.env ?? {},
      logFile: join(root, `${name}.log`),
    });
    every.push({ name, d });
    await d.waitReady(60_000);
    return d;
  }

  async function start(...ids: string[]): Promise<DaemonProcess[]> {
    return Promise.all(
      ids.map(async (id) => {
        if (running.has(id)) throw new Error(`instance ${id} is already running`);
        const d = await spawnDaemon(id, await configFileOf(id));
        running.set(id, d);
        void d.exited.then(() => {
          if (running.get(id) === d) running.delete(id);
        });
        return d;
      }),
    );
  }

  function get(id: string): DaemonProcess {
    const d = running.get(id);
    if (!d) throw new Error(`instance ${id} is not running`);
    return d;
  }

  const dbOf = (run: Run) => (run === 'cluster' ? CLUSTER_DATABASE : REFERENCE_DATABASE);
  const quote = (s: string) => `'${s.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;

  return {
    root,
    standIn,
    instances: running,
    start,
    get,
    kill: (id) => get(id).kill('SIGKILL'),
    stop: (id) => get(id).stop(30_000),
    async startReference() {
      const file = await writeConfigFile(root, referenceInput, 'reference.yaml');
      return spawnDaemon('reference', file);
    },
    store: storeOf,
    async results(run, model, from, to) {
      return storeOf(run).queryDrift({ model, from, to });
    },
    async revisions(run, model) {
      const rows = await standIn.query<{
        window: string;
        version: string;
        start: string | number;
        reason: string;
        n: string | number;
      }>(
        `SELECT window, version, toUnixTimestamp64Milli(window_start) AS start,
                revision_reason AS reason, count() AS n
         FROM ${dbOf(run)}.window_result_revisions
         WHERE model = ${quote(model)} AND kind = 'dataset' AND segment = ''
         GROUP BY window, version, start, reason
         ORDER BY window, start, version, reason`,
      );
      return rows.map((r) => ({ ...r, start: Number(r.start), n: Number(r.n) }));
    },
    async finalisations() {
      return storeOf('cluster').finalisations(0, 1_000_000);
    },
    async rawEvents(run, model) {
      const [row] = await standIn.query<{ n: string; ids: string; late: string }>(
        `SELECT count() AS n, uniqExact(id) AS ids, countIf(late = 1) AS late
         FROM ${dbOf(run)}.events FINAL WHERE model = ${quote(model)}`,
      );
      return { n: Number(row!.n), ids: Number(row!.ids), late: Number(row!.late) };
    },
    async eventSources(run, model, from, to) {
      return storeOf(run).eventSources({ model, from, to, limit: 10_000 });
    },
    async waitFinalised(model, from, to, expected, timeoutMs = 90_000) {
      let last: FinalisationRow[] = [];
      const mine = (f: FinalisationRow) => f.model === model && f.start >= from && f.start < to;
      try {
        await waitUntil(
          `${expected} windows of ${model} finalised`,
          async () => {
            last = (await storeOf('cluster').finalisations(0, 1_000_000)).filter(mine);
            const keys = new Set(last.map((f) => windowKeyString(f)));
            return keys.size >= expected;
          },
          timeoutMs,
          250,
        );
        await waitUntil(
          `${expected} results of ${model}`,
          async () =>
            (await storeOf('cluster').queryDrift({ model, from, to })).filter(
              (w) => w.start >= from && w.start < to,
            ).length >= expected,
          15_000,
          250,
        );
      } catch (err) {
        const pending = await storeOf('cluster')
          .pendingWindows(1000)
          .catch(() => []);
        const progress = await storeOf('cluster')
          .laneProgress()
          .catch(() => []);
        throw new Error(
          `${(err as Error).message}\nfinalised: ${new Set(last.map((f) => windowKeyString(f))).size}\npending: ${JSON.stringify(pending.map((w) => windowKeyString(w)))}\nprogress: ${JSON.stringify(progress)}`,
        );
      }
      return last;
    },
    progress: () => storeOf('cluster').laneProgress(),
    partials: (w) => storeOf('cluster').partialsOf(w),
    async metric(id, name, labels = {}) {
      const text = await (await fetch(`${get(id).url}/metrics`)).text();
      return sampleSum(text, name, labels);
    },
    async observability(model, from, to, finalisations, who) {
      const problems: string[] = [];
      const latest = new Map<string, number>();
      for (const w of sortResults(await storeOf('cluster').queryDrift({ model, from, to }))) {
        latest.set(w.sizeLabel, w.eventCount);
      }
      const shown = async (id: string, window: string) => {
        const text = await (await fetch(`${get(id).url}/metrics`)).text();
        return sampleSum(text, 'driftd_window_events', { model, window });
      };
      await waitUntil(
        'every instance shows the latest windows on /metrics',
        async () => {
          for (const id of who.shows) {
            for (const [window, n] of latest) if ((await shown(id, window)) !== n) return false;
          }
          return true;
        },
        15_000,
        250,
      ).catch(async () => {
        for (const id of who.shows) {
          for (const [window, n] of latest) {
            const got = await shown(id, window);
            if (got !== n) {
              problems.push(
                `${id} shows driftd_window_events{window="${window}"} ${got}, latest ${n}`,
              );
            }
          }
        }
      });
      for (const id of who.counts) {
        const text = await (await fetch(`${get(id).url}/metrics`)).text();
        const counted = sampleSum(text, 'driftd_cluster_windows_finalised_total', { model });
        const kept = finalisations.filter((f) => f.instance === id).length;
        if (counted !== kept) {
          problems.push(
            `${id} counts ${counted} windows finalised (driftd_cluster_windows_finalised_total), the store kept ${kept} finalisation rows from it`,
          );
        }
      }
      return problems;
    },
    logs() {
      return every.flatMap(({ name, d }) => d.logs.map((e) => ({ ...e, daemon: name })));
    },
    async close() {
      await Promise.all(every.map(({ d }) => d.kill('SIGKILL').catch(() => undefined)));
      for (const s of stores.values()) await s.close().catch(() => undefined);
      await standIn.close();
      // DRIFTD_TEST_KEEP=1 keeps the daemons' logs and configs (and the store) for a post-mortem.
      if (process.env.DRIFTD_TEST_KEEP === '1') console.info(`[cluster] kept ${root}`);
      else await rm(root, { recursive: true, force: true });
    },
  };
}

/** A window result without what differs by design between two runs (when it was written). */
export function comparable(w: WindowResult): Omit<WindowResult, 'closedAt' | 'writtenAt'> {
  const { closedAt: _closedAt, writtenAt: _writtenAt, ...rest } = w;
  return rest;
}

/** Results in one stable order (size, start, version). */
export function sortResults(ws: readonly WindowResult[]): WindowResult[] {
  return [...ws].sort(
    (a, b) =>
      a.sizeLabel.localeCompare(b.sizeLabel) ||
      a.start - b.start ||
      a.version.localeCompare(b.version),
  );
}

/**
 * Field-by-field differences of two result lists (by window), for a failure message that names
 * the window and the field instead of a 10 000-line diff.
 */
export function resultDifferences(
  got: readonly WindowResult[],
  want: readonly WindowResult[],
  max = 20,
): string[] {
  const key = (w: WindowResult) =>
    `${w.sizeLabel}@${new Date(w.start).toISOString()}/v${w.version}`;
  const a = new Map(got.map((w) => [key(w), comparable(w)]));
  const b = new Map(want.map((w) => [key(w), comparable(w)]));
  // First the windows whose event counts differ, one line each (what a lost lane looks like),
  // then up to `max` field differences.
  const counts: string[] = [];
  for (const [k, x] of a) {
    const y = b.get(k);
    if (y && x.eventCount !== y.eventCount) {
      counts.push(`${k}: eventCount cluster ${x.eventCount} ≠ reference ${y.eventCount}`);
    }
  }
  const out: string[] = [];
  for (const k of new Set([...a.keys(), ...b.keys()])) {
    const x = a.get(k);
    const y = b.get(k);
    if (!x) out.push(`${k}: missing in the cluster run`);
    else if (!y) out.push(`${k}: only in the cluster run (eventCount ${x.eventCount})`);
    else diffValue(k, x, y, out);
    if (out.length >= max) break;
  }
  return [...counts, ...out.slice(0, max)];
}

function diffValue(path: string, x: unknown, y: unknown, out: string[]): void {
  if (Object.is(x, y)) return;
  if (typeof x !== 'object' || typeof y !== 'object' || x === null || y === null) {
    out.push(`${path}: cluster ${JSON.stringify(x)} ≠ reference ${JSON.stringify(y)}`);
    return;
  }
  if (Array.isArray(x) && Array.isArray(y) && x.length !== y.length) {
    out.push(`${path}: cluster has ${x.length} items, reference ${y.length}`);
    return;
  }
  const keys = new Set([...Object.keys(x), ...Object.keys(y)]);
  for (const k of keys) {
    const label = Array.isArray(x)
      ? `${path}[${(x as Array<{ name?: string }>)[Number(k)]?.name ?? k}]`
      : `${path}.${k}`;
    diffValue(label, (x as Record<string, unknown>)[k], (y as Record<string, unknown>)[k], out);
  }
}
