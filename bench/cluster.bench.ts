/**
 * Scale-out (issue 18, docs/scale-out.md): N daemons in cluster mode, one consumer group, one
 * ClickHouse store, for N = 1, 2, 3 — events/s, CPU per event and the finalisation delay.
 *
 * One topic of 6 partitions is filled once with E events of 20 features (kafka.bench's
 * generator; E from DRIFTD_BENCH_CLUSTER_EVENTS, default 600 000) over one hour of event time
 * (1m and 5m windows: 72 windows), in event-time order per partition, plus one far-future event
 * per partition so every window closes. The store is the ClickHouse STAND-IN
 * (test/helpers/clickhouse-http.ts: the real engine, chDB, behind our HTTP layer) running in
 * THIS process: its cost is part of what is measured (reported apart as `store…`). For each N
 * the bench starts N daemon child processes (`node --import tsx src/main.ts start`, cluster
 * mode, instanceId bench-<i>, the same fresh group, a fresh database) at once and measures
 * from the first instance joining the group until every event is counted (driftd_events_total
 * summed over the instances) and every window is done (cluster mode: its finalisation row;
 * single-instance mode: its result), polled by a cheap count; then, outside the timing, that
 * every window has its one result holding all its events (`resultsComplete`). The children
 * heartbeat every 0.5 s (DRIFTD_KAFKA_HEARTBEAT_INTERVAL_MS) so they rejoin quickly after the
 * rebalances of the others joining.
 * - events/s = E / that time (it includes the group's rebalances while the others join);
 * - CPU per event = Σ over the children of utime+stime (/proc/<pid>/stat) from each one's
 *   readiness (its start-up is left out) to the end, plus this process's (the store), / E;
 * - the finalisation delay: the window_finalisations rows' delay_seconds (median, p95; the
 *   time from a window's last lane partial to its finalisation), and the tail from the last
 *   event counted to the last window finalised.
 * First, as the reference, one daemon in single-instance mode on the same input and store
 * (`cluster.end_to_end.single`; DRIFTD_BENCH_CLUSTER_SINGLE=0 skips it): what cluster mode
 * costs one instance. Without cluster support in the config schema (`cluster:` refused) only
 * that reference runs.
 *
 * Needs the test broker (as kafka.bench; topics and groups are unique to this bench). The
 * instance counts can be narrowed: DRIFTD_BENCH_CLUSTER_INSTANCES=1,3.
 */
import { readFileSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import kafkajs from 'kafkajs';
import { buildProfileFromRows } from '../src/baseline/index.js';
import type { ClusterStore, FinalisationRow } from '../src/cluster/types.js';
import { validateConfig } from '../src/config/index.js';
import { createStore } from '../src/store/index.js';
import type { Store } from '../src/store/types.js';
import { startClickHouseStandIn } from '../test/helpers/clickhouse-http.js';
import {
  type DaemonProcess,
  startDaemonProcess,
  writeConfigFile,
} from '../test/helpers/daemon-process.js';
import { mulberry32 as rand } from '../test/helpers/random.js';
import { benchModel, brokers, reachable, row } from './kafka.bench.js';
import type { BenchRecord } from './types.js';

const { Kafka, logLevel } = kafkajs;

const EVENTS = Number(process.env.DRIFTD_BENCH_CLUSTER_EVENTS ?? 600_000);
const INSTANCES = (process.env.DRIFTD_BENCH_CLUSTER_INSTANCES ?? '1,2,3')
  .split(',')
  .map((s) => Number(s.trim()))
  .filter((n) => Number.isInteger(n) && n > 0);
/** Also run one daemon in single-instance mode first, as the reference (0 = skip it). */
const SINGLE = process.env.DRIFTD_BENCH_CLUSTER_SINGLE !== '0';
const PARTITIONS = 6;
const HOUR = 3_600_000;
const SIZES = [
  { label: '1m', ms: 60_000 },
  { label: '5m', ms: 300_000 },
] as const;
const WINDOWS = SIZES.reduce((s, w) => s + HOUR / w.ms, 0);
/** A run that counts nothing new and finalises nothing for this long fails. */
const STALL_MS = 120_000;
/** With every window done, a count that stays short of E this long means events were lost. */
const LOST_MS = 15_000;
/**
 * Diagnosis, not figures: every 250 ms record the raw rows of lane_progress, window_partials
 * (without state) and window_finalisations as they appear (before merges collapse them), into
 * <dir>/<run>/trace.jsonl (kept with DRIFTD_BENCH_KEEP=1). Its queries load the store.
 */
const TRACE = process.env.DRIFTD_BENCH_CLUSTER_TRACE === '1';
const TICKS_PER_SECOND = 100; // USER_HZ

/** utime + stime of a process, seconds (NaN once it is gone). */
function processCpuSeconds(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / TICKS_PER_SECOND;
  } catch {
    return Number.NaN;
  }
}

function ownCpuSeconds(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1e6;
}

interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/** Prometheus text exposition → samples (no escapes in our label values). */
function parseMetrics(text: string): Sample[] {
  const out: Sample[] = [];
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const m = /^([A-Za-z_:][\w:]*)(?:\{(.*)\})? (\S+)/.exec(line);
    if (!m) continue;
    const labels: Record<string, string> = {};
    for (const l of (m[2] ?? '').matchAll(/(\w+)="([^"]*)"/g)) labels[l[1]!] = l[2]!;
    out.push({ name: m[1]!, labels, value: Number(m[3]) });
  }
  return out;
}

async function scrape(d: DaemonProcess): Promise<Sample[]> {
  const res = await fetch(`${d.url}/metrics`);
  if (!res.ok) throw new Error(`GET /metrics of pid ${d.pid}: ${res.status}`);
  return parseMetrics(await res.text());
}

function sum(samples: Sample[], name: string, labels: Record<string, string> = {}): number {
  return samples
    .filter((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v))
    .reduce((a, s) => a + s.value, 0);
}

/** histogram_quantile over cumulative buckets summed across instances (linear in a bucket). */
function histogramQuantile(samples: Sample[], name: string, q: number): number | null {
  const buckets = new Map<number, number>();
  for (const s of samples) {
    if (s.name !== `${name}_bucket`) continue;
    const le = s.labels.le === '+Inf' ? Number.POSITIVE_INFINITY : Number(s.labels.le);
    buckets.set(le, (buckets.get(le) ?? 0) + s.value);
  }
  const sorted = [...buckets].sort((a, b) => a[0] - b[0]);
  const total = sorted.at(-1)?.[1] ?? 0;
  if (total === 0) return null;
  const rank = q * total;
  let prevLe = 0;
  let prevCount = 0;
  for (const [le, count] of sorted) {
    if (count >= rank) {
      if (!Number.isFinite(le)) return prevLe; // as Prometheus: the highest finite bound
      return prevLe + ((le - prevLe) * (rank - prevCount)) / Math.max(count - prevCount, 1e-9);
    }
    prevLe = le;
    prevCount = count;
  }
  return prevLe;
}

function quantile(sorted: readonly number[], q: number): number | null {
  if (sorted.length === 0) return null;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1));
  return sorted[i]!;
}

/** The store's requests during a run, counted per kind and table ("insert window_partials"). */
function requestClasses(
  requests: readonly { kind: string; sql: string }[],
): Record<string, number> {
  const out: Record<string, number> = {};
  for (const r of requests) {
    const table = /(?:INSERT\s+INTO|FROM)\s+(?:`?\w+`?\.)?`?(\w+)`?/i.exec(r.sql)?.[1] ?? r.kind;
    const key = `${r.kind} ${table}`;
    out[key] = (out[key] ?? 0) + 1;
  }
  return Object.fromEntries(Object.entries(out).sort((a, b) => b[1] - a[1]));
}

/** driftd_events_total summed per `result` over the instances. */
function byResult(samples: Sample[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const x of samples) {
    if (x.name !== 'driftd_events_total') continue;
    const r = x.labels.result ?? '';
    out[r] = (out[r] ?? 0) + x.value;
  }
  return out;
}

const round = (x: number, digits = 1) => Math.round(x * 10 ** digits) / 10 ** digits;
const sleep = (ms: number) => new Promise((res) => setTimeout(res, ms));

export async function runClusterBenchmarks(): Promise<BenchRecord[]> {
  if (!(await reachable())) {
    process.stderr.write(
      `bench: cluster: no broker at ${brokers().join(',')}; skipped (start one with: bash scripts/kafka.sh start)\n`,
    );
    return [];
  }
  const kafka = new Kafka({
    clientId: 'driftd-bench-cluster',
    brokers: brokers(),
    logLevel: logLevel.NOTHING,
  });
  const admin = kafka.admin();
  await admin.connect();
  const suffix = `${Date.now().toString(36)}-${Math.floor(Math.random() * 1e6).toString(36)}`;
  const topic = `bench-cluster-${suffix}`;
  const topics = [topic, `${topic}-labels`, `${topic}-dlq`];
  const root = await mkdtemp(join(tmpdir(), 'driftd-bench-cluster-'));
  const children: DaemonProcess[] = [];
  const standIn = await startClickHouseStandIn({ path: join(root, 'chdb') });
  try {
    await admin.createTopics({
      topics: topics.map((t) => ({
        topic: t,
        numPartitions: t === topic ? PARTITIONS : 1,
        replicationFactor: 1,
        // Every N reads the whole backlog (see kafka.bench.ts).
        configEntries: [
          { name: 'retention.bytes', value: '-1' },
          { name: 'retention.ms', value: String(24 * HOUR) },
        ],
      })),
      waitForLeaders: true,
    });
    const t0 = Math.floor(Date.now() / HOUR) * HOUR - 3 * HOUR;
    const r = rand(42);
    const producer = kafka.producer();
    await producer.connect();
    const produceStart = performance.now();
    let bytes = 0;
    for (let i = 0; i < EVENTS; i += 5000) {
      const messages = [];
      for (let k = i; k < Math.min(EVENTS, i + 5000); k++) {
        const { features, prediction } = row(r);
        const value = JSON.stringify({
          model: 'bench',
          version: '1',
          id: `e-${k}`,
          ts: new Date(t0 + Math.floor((k * HOUR) / EVENTS)).toISOString(),
          features,
          prediction,
        });
        bytes += value.length;
        messages.push({ partition: k % PARTITIONS, value });
      }
      await producer.send({ topic, acks: -1, messages });
    }
    await producer.send({
      topic,
      acks: -1,
      messages: Array.from({ length: PARTITIONS }, (_, p) => ({
        partition: p,
        value: JSON.stringify({
          model: 'bench',
          version: '1',
          id: `sentinel-${p}`,
          ts: new Date(t0 + 2 * HOUR).toISOString(),
          features: row(r).features,
          prediction: 0.5,
        }),
      })),
    });
    await producer.disconnect();
    const produceSeconds = (performance.now() - produceStart) / 1000;
    process.stderr.write(
      `bench: cluster: ${EVENTS} events produced to ${PARTITIONS} partitions in ${produceSeconds.toFixed(1)} s; store = the ClickHouse stand-in in the bench process (its CPU is counted)\n`,
    );
    const baselineRows = Array.from({ length: 5000 }, () => row(r));

    const rawConfig = (dir: string, database: string, group: string, instance?: string) => ({
      dataDir: dir,
      logLevel: 'info',
      server: { host: '127.0.0.1', port: 0 },
      store: { clickhouse: { url: standIn.url, database } },
      kafka: {
        brokers: brokers(),
        groupId: group,
        predictionsTopic: topic,
        labelsTopic: `${topic}-labels`,
        deadLetterTopic: `${topic}-dlq`,
      },
      models: [{ id: 'bench', ...benchModel() }],
      ...(instance === undefined ? {} : { cluster: { enabled: true, instanceId: instance } }),
    });
    // Cluster mode needs the `cluster:` key; until the schema has it, N = 1 runs single-instance.
    let clusterAvailable = true;
    try {
      validateConfig(rawConfig(join(root, 'probe'), 'probe', 'probe', 'bench-0'), { env: {} });
    } catch (err) {
      clusterAvailable = false;
      process.stderr.write(
        `bench: cluster: the config refuses cluster mode (${(err as Error).message.replace(/\s+/g, ' ').trim()}); running the single-instance reference only\n`,
      );
    }

    const records: BenchRecord[] = [];
    // First one daemon in single-instance mode (today's path, the reference), then N in cluster mode.
    const plan = [
      ...(SINGLE ? [{ n: 1, cluster: false }] : []),
      ...(clusterAvailable ? INSTANCES.map((n) => ({ n, cluster: true })) : []),
    ];
    for (const { n, cluster } of plan) {
      const tag = cluster ? `n${n}` : 'single';
      const database = `bench_cluster_${suffix.replace(/-/g, '_')}_${tag}`;
      const group = `bench-cluster-${suffix}-${tag}`;
      const config = validateConfig(
        rawConfig(join(root, tag, 'probe'), database, group, cluster ? 'bench-0' : undefined),
        { env: {} },
      );
      const store = createStore(config.store) as Store & Partial<ClusterStore>;
      await store.migrate();
      await store.saveBaseline(
        buildProfileFromRows(config.models[0]!, '1', baselineRows, { createdAt: 0 }).profile,
      );
      const files = await Promise.all(
        Array.from({ length: n }, async (_, i) => {
          const dir = join(root, tag, `i${i}`);
          await mkdir(dir, { recursive: true });
          return writeConfigFile(
            dir,
            rawConfig(dir, database, group, cluster ? `bench-${i}` : undefined),
          );
        }),
      );
      const spawned = performance.now();
      const started = await Promise.all(
        files.map((configFile, i) =>
          startDaemonProcess({
            configFile,
            logFile: join(root, tag, `i${i}`, 'daemon.log'),
            // A member rejoins after a rebalance at its next heartbeat: 0.5 s instead of 3 s, so
            // the N instances share the partitions soon after the first one joined.
            env: { DRIFTD_KAFKA_LOG_LEVEL: 'nothing', DRIFTD_KAFKA_HEARTBEAT_INTERVAL_MS: '500' },
            startTimeoutMs: 120_000,
          }),
        ),
      );
      children.push(...started);
      // Each child's readiness (group joined): when, its CPU then (start-up excluded).
      const ready = await Promise.all(
        started.map(async (d) => {
          await d.waitReady(120_000);
          return { at: performance.now(), cpu: processCpuSeconds(d.pid) };
        }),
      );
      const firstReady = Math.min(...ready.map((x) => x.at));
      const allReady = Math.max(...ready.map((x) => x.at));
      // This process's CPU (the store) from the first readiness on: sampled late, by at most
      // the children's join spread; the store does next to nothing before any child is ready.
      const own0 = ownCpuSeconds();
      let countedAtAllReady: number | undefined;
      const counted = async (): Promise<{ events: number; samples: Sample[][] }> => {
        const samples = await Promise.all(started.map(scrape));
        // Every result (accepted, late, …): an event counted late is consumed too, and the
        // results check below says whether the windows hold every event.
        const events = samples.reduce((a, s) => a + sum(s, 'driftd_events_total'), 0);
        return { events, samples };
      };
      // Windows done, by a cheap count (the poll's own store cost is counted as the store's):
      // cluster mode, the finalisation rows; single-instance mode, the windows with results.
      const endBound = t0 + HOUR;
      const windowsDone = async (): Promise<number> => {
        const sql = cluster
          ? `SELECT uniqExact(size_label, window_start) AS n FROM \`${database}\`.window_finalisations WHERE model = 'bench' AND toUnixTimestamp64Milli(window_end) <= ${endBound}`
          : `SELECT uniqExact(window, window_start) AS n FROM \`${database}\`.window_results WHERE model = 'bench' AND toUnixTimestamp64Milli(window_end) <= ${endBound}`;
        const [row] = await standIn.query<{ n: number | string }>(sql);
        return Number(row?.n ?? 0);
      };
      // Then, once: every window has its one result holding every event of the window.
      // Events missing from the 1m windows' results (0 = every event is in its window).
      let missing = 0;
      const resultsComplete = async (): Promise<boolean> => {
        missing = 0;
        let complete = true;
        for (const size of SIZES) {
          const windows = await store.queryDrift({
            model: 'bench',
            window: size.label,
            from: t0,
            to: endBound,
          });
          const final = windows.filter((w) => !w.provisional && w.end <= endBound);
          const events = final.reduce((a, w) => a + w.eventCount, 0);
          if (size.label === '1m') missing = EVENTS - events;
          if (final.length !== HOUR / size.ms || events !== EVENTS) complete = false;
        }
        return complete;
      };
      const requestsBefore = standIn.requests.length;
      let consumedAt: number | undefined;
      let doneAt: number | undefined;
      let last = -1;
      let progressAt = performance.now();
      let finalSamples: Sample[][] = [];
      let seenEvents = 0;
      const trace: string[] = [];
      const traced = new Set<string>();
      const traceRows = async () => {
        const tables = {
          progress: `SELECT lane, model, version, toUnixTimestamp64Milli(watermark) AS watermark, idle, position, seq, instance, toUnixTimestamp64Milli(written_at) AS at FROM \`${database}\`.lane_progress`,
          partial: `SELECT lane, size_label, toUnixTimestamp64Milli(window_start) AS start, final, instance, events, position, toUnixTimestamp64Milli(written_at) AS at FROM \`${database}\`.window_partials`,
          finalisation: `SELECT size_label, toUnixTimestamp64Milli(window_start) AS start, lanes, events, instance, toUnixTimestamp64Milli(written_at) AS at FROM \`${database}\`.window_finalisations`,
        };
        for (const [table, sql] of Object.entries(tables)) {
          for (const r of await standIn.query<Record<string, unknown>>(sql)) {
            const line = JSON.stringify({ table, ...r });
            if (traced.has(line)) continue;
            traced.add(line);
            trace.push(JSON.stringify({ seen: Date.now(), table, ...r }));
          }
        }
      };
      let countChangedAt = performance.now();
      let lastCount = -1;
      let windowsAt: number | undefined;
      while (doneAt === undefined) {
        const now = performance.now();
        if (TRACE && cluster) await traceRows();
        const c = await counted();
        seenEvents = c.events;
        if (countedAtAllReady === undefined && now >= allReady) countedAtAllReady = c.events;
        if (c.events !== lastCount) {
          lastCount = c.events;
          countChangedAt = now;
        }
        if (consumedAt === undefined && c.events >= EVENTS + PARTITIONS) consumedAt = now;
        const done = await windowsDone();
        if (done >= WINDOWS) {
          windowsAt ??= now;
          // Every event counted — or, in a run that lost events (`eventsCounted` says how many
          // it counted), none counted for LOST_MS with every window done.
          if (consumedAt !== undefined || now - countChangedAt > LOST_MS) {
            consumedAt ??= countChangedAt;
            doneAt = Math.max(windowsAt, consumedAt);
            finalSamples = c.samples;
            break;
          }
        }
        const progress = c.events + done;
        if (progress !== last) {
          last = progress;
          progressAt = now;
        } else if (now - progressAt > STALL_MS) {
          throw new Error(
            `cluster bench N=${n} stalled: ${c.events} of ${EVENTS + PARTITIONS} events counted, ${done} of ${WINDOWS} windows done, nothing new for ${STALL_MS / 1000} s (logs: ${root})`,
          );
        }
        await sleep(250);
      }
      const childCpu = started.reduce(
        (a, d, i) => a + (processCpuSeconds(d.pid) - ready[i]!.cpu),
        0,
      );
      const storeCpu = ownCpuSeconds() - own0;
      const seconds = (doneAt - firstReady) / 1000;
      const storeRequests = requestClasses(standIn.requests.slice(requestsBefore));
      if (TRACE && cluster) {
        await traceRows();
        const file = join(root, tag, 'trace.jsonl');
        await writeFile(file, `${trace.join('\n')}\n`);
        process.stderr.write(`bench: cluster: trace of N=${n} in ${file}\n`);
      }
      let verified = await resultsComplete();
      for (let i = 0; i < 20 && !verified; i++) {
        await sleep(500);
        verified = await resultsComplete();
      }

      // The finalisation record: one row per window, and its delays.
      let finalisations: FinalisationRow[] = [];
      if (cluster && store.finalisations) {
        finalisations = (await store.finalisations(0, 100_000)).filter(
          (f) => f.model === 'bench' && f.end <= t0 + HOUR,
        );
      }
      const keys = new Set(finalisations.map((f) => `${f.sizeLabel}|${f.start}`));
      // Exactly once, from the raw rows (finalisations() shows one per window whatever is stored).
      const [stored] = cluster
        ? await standIn.query<{ rows: string | number }>(
            `SELECT count() AS rows FROM \`${database}\`.window_finalisations WHERE model = 'bench' AND toUnixTimestamp64Milli(window_end) <= ${endBound}`,
          )
        : [];
      const [revisions] = await standIn.query<{ n: string | number }>(
        `SELECT uniqExact(window, window_start, written_at) AS n FROM \`${database}\`.window_result_revisions WHERE model = 'bench' AND toUnixTimestamp64Milli(window_end) <= ${endBound}`,
      );
      // What the finaliser reads per window: the time of partialsOf, and the partials' size.
      const partialsMs: number[] = [];
      let stateBytes = 0;
      let partialCount = 0;
      if (cluster && store.partialsOf) {
        for (const f of finalisations.slice(0, 6)) {
          const started = performance.now();
          const parts = await store.partialsOf(f);
          partialsMs.push(performance.now() - started);
          for (const part of parts) stateBytes += part.state.length;
          partialCount += parts.length;
        }
        partialsMs.sort((a, b) => a - b);
      }
      const delays = finalisations.map((f) => f.delaySeconds).sort((a, b) => a - b);
      const all = finalSamples.flat();
      const finalisedBy = finalSamples.map((s) => sum(s, 'driftd_cluster_windows_finalised_total'));
      const rec: BenchRecord = {
        name: `cluster.end_to_end.${tag}`,
        unit: 'events/s',
        median: Math.round(EVENTS / seconds),
        runs: 1,
        mode: cluster ? 'cluster' : 'single',
        instances: n,
        events: EVENTS,
        partitions: PARTITIONS,
        features: 20,
        avgMessageBytes: Math.round(bytes / EVENTS),
        windows: WINDOWS,
        store: 'ClickHouse stand-in (chDB + our HTTP layer) in the bench process',
        seconds: round(seconds, 2),
        consumeSeconds: round(((consumedAt ?? doneAt) - firstReady) / 1000, 2),
        finaliseTailSeconds: round((doneAt - (consumedAt ?? doneAt)) / 1000, 2),
        joinSpreadSeconds: round((allReady - firstReady) / 1000, 2),
        startupSeconds: round((firstReady - spawned) / 1000, 2),
        eventsCountedWhenAllJoined: countedAtAllReady ?? seenEvents,
        eventsCounted: seenEvents,
        cpuUsPerEvent: round(((childCpu + storeCpu) * 1e6) / EVENTS),
        daemonsCpuUsPerEvent: round((childCpu * 1e6) / EVENTS),
        storeCpuUsPerEvent: round((storeCpu * 1e6) / EVENTS),
        coresBusy: round((childCpu + storeCpu) / seconds, 2),
        resultsComplete: verified,
        eventsMissingFromResults: missing,
        eventsByResult: byResult(finalSamples.flat()),
        resultRevisions: Number(revisions?.n ?? 0),
        storeRequests,
        ...(cluster
          ? {
              finalisations: finalisations.length,
              finalisationRows: Number(stored?.rows ?? 0),
              finalisedOnce:
                keys.size === WINDOWS &&
                Number(stored?.rows ?? 0) === WINDOWS &&
                Number(revisions?.n ?? 0) === WINDOWS,
              partialsOfMedianMs: round(quantile(partialsMs, 0.5) ?? Number.NaN),
              partialStateKb: round(stateBytes / Math.max(partialCount, 1) / 1024),
              finalisationDelayMedianS: quantile(delays, 0.5),
              finalisationDelayP95S: quantile(delays, 0.95),
              finalisationDelayMaxS: delays.at(-1) ?? null,
              histogramDelayMedianS: histogramQuantile(
                all,
                'driftd_cluster_finalisation_delay_seconds',
                0.5,
              ),
              histogramDelayP95S: histogramQuantile(
                all,
                'driftd_cluster_finalisation_delay_seconds',
                0.95,
              ),
              windowsFinalisedBy: finalisedBy,
              partialsWritten: sum(all, 'driftd_cluster_partials_written_total'),
            }
          : {}),
      };
      records.push(rec);
      process.stderr.write(
        `bench: cluster ${cluster ? `N=${n}` : 'single-instance reference'}: ${rec.median} events/s (${rec.seconds} s from the first join; consumed in ${rec.consumeSeconds} s, last window ${rec.finaliseTailSeconds} s later; join spread ${rec.joinSpreadSeconds} s), CPU per event ${rec.cpuUsPerEvent} µs (daemons ${rec.daemonsCpuUsPerEvent}, store ${rec.storeCpuUsPerEvent})${cluster ? `, finalisation delay median ${rec.finalisationDelayMedianS} s, p95 ${rec.finalisationDelayP95S} s, finalised once: ${rec.finalisedOnce}` : ''}; results complete: ${verified}${verified ? '' : ` (${missing} events missing from the 1m windows)`}\n`,
      );
      await Promise.all(started.map((d) => d.stop(30_000)));
      children.length = 0;
      await store.close();
    }
    return records;
  } finally {
    await Promise.all(children.map((d) => d.kill().catch(() => undefined)));
    await standIn.close();
    await admin.deleteTopics({ topics, timeout: 10_000 }).catch(() => undefined);
    await admin.disconnect();
    if (process.env.DRIFTD_BENCH_KEEP === '1')
      process.stderr.write(`bench: cluster: kept ${root}\n`);
    else await rm(root, { recursive: true, force: true });
  }
}
