/**
 * HTTP ingestion end to end: a load generator in a worker thread posts NDJSON batches of
 * 20-feature events to a daemon on the embedded store (decode → windows → raw events in
 * chDB → window closes → results). Reports events/s (median over measurement segments) and
 * RSS sampled throughout, so a leak shows as growth between the first and last segment.
 * `DRIFTD_BENCH_HTTP_EVENTS` sets the total (default 10 000 000, the memory check).
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import { buildProfileFromRows } from '../src/baseline/index.js';
import { validateConfig } from '../src/config/index.js';
import { createDaemon } from '../src/daemon.js';
import { cpuPerEvent, cpuSample, threadCpuPerEvent, threadSample } from './cpu.js';
import { baselineRows } from './rows.js';
import type { BenchRecord } from './types.js';

const FEATURES = 20;
const BATCH = Number(process.env.DRIFTD_BENCH_HTTP_BATCH ?? 5000);
const IN_FLIGHT = Number(process.env.DRIFTD_BENCH_HTTP_IN_FLIGHT ?? 4);

const WORKER = `
const { parentPort, workerData } = require('node:worker_threads');
const { url, total, batch, inFlight, features, t0 } = workerData;
let s = 12345;
const u = () => { s = (Math.imul(s, 1664525) + 1013904223) >>> 0; return (s + 0.5) / 4294967296; };
const z = () => Math.sqrt(-2 * Math.log(u())) * Math.cos(2 * Math.PI * u());
// Every event is new: its own id and an event time that advances (10 000 events per second of
// event time, so a 1m window closes every 600 000 events). The features of each event are one
// of a pool of pre-serialised objects, so the generator's own JSON work stays small.
const FEATURE_POOL = 20000;
const featurePool = [];
for (let i = 0; i < FEATURE_POOL; i++) {
  const f = {};
  for (let k = 0; k < features; k++) f['f' + k] = k % 5 === 4 ? 'c' + Math.floor(u() * 8) : z();
  featurePool.push(JSON.stringify(f));
}
const shifted = featurePool.map((j) => JSON.stringify(Object.fromEntries(Object.entries(JSON.parse(j)).map(([k, v]) => [k, typeof v === 'number' ? v + 0.2 : v]))));
const predictions = Array.from({ length: 997 }, () => String(u()));
let next = 0;
let isoMs = -1, iso = '';
function makeBatch(n) {
  let body = '';
  for (let i = 0; i < n; i++, next++) {
    const ms = t0 + Math.floor(next / 10);
    if (ms !== isoMs) { isoMs = ms; iso = new Date(ms).toISOString(); }
    // The second half drifts by +0.2 on every numeric feature.
    const f = (next > total / 2 ? shifted : featurePool)[next % FEATURE_POOL];
    body += (i ? '\\n' : '') + '{"model":"bench","version":"1","id":"e' + next + '","ts":"' + iso + '","features":' + f + ',"prediction":' + predictions[next % 997] + '}';
  }
  return body;
}
let sent = 0;
async function worker() {
  while (sent < total) {
    const n = Math.min(batch, total - sent);
    sent += n;
    const body = makeBatch(n);
    const res = await fetch(url + '/api/v1/events', { method: 'POST', headers: { 'content-type': 'application/x-ndjson' }, body });
    const r = await res.json();
    parentPort.postMessage({ accepted: r.accepted, rejected: r.rejected });
  }
}
Promise.all(Array.from({ length: inFlight }, worker)).then(() => parentPort.postMessage({ done: true }));
`;

export async function runHttpBenchmarks(): Promise<BenchRecord[]> {
  const total = Number(process.env.DRIFTD_BENCH_HTTP_EVENTS ?? 10_000_000);
  const dir = await mkdtemp(join(tmpdir(), 'driftd-bench-http-'));
  const features = Array.from({ length: FEATURES }, (_, k) => ({
    name: `f${k}`,
    type: k % 5 === 4 ? 'categorical' : 'numeric',
  }));
  const config = validateConfig(
    {
      dataDir: dir,
      server: { host: '127.0.0.1', port: 0, bodyLimitBytes: 64 * 1024 * 1024 },
      logLevel: 'warn',
      models: [
        {
          id: 'bench',
          task: 'binary-classification',
          features,
          windows: { sizes: ['1m'], allowedLateness: '0s', idleTimeout: '1h' },
        },
      ],
    },
    { env: {} },
  );
  const daemon = createDaemon(config);
  await daemon.start();
  try {
    const rows = baselineRows(20_000, FEATURES);
    const { profile } = buildProfileFromRows(config.models[0]!, '1', rows);
    await daemon.store.saveBaseline(profile);
    await daemon.pipeline.refreshBaselines();

    const t0 = Date.parse('2026-01-01T00:00:00Z');
    const segments: number[] = [];
    const rss: number[] = [];
    let accepted = 0;
    let rejected = 0;
    const started = performance.now();
    const cpu0 = cpuSample();
    const threads0 = threadSample();
    let segStart = started;
    let segCount = 0;
    const segmentSize = Math.max(BATCH * 20, Math.floor(total / 10));
    const rssTimer = setInterval(() => rss.push(process.memoryUsage().rss), 1000);
    await new Promise<void>((resolve, reject) => {
      const w = new Worker(WORKER, {
        eval: true,
        workerData: {
          url: daemon.url,
          total,
          batch: BATCH,
          inFlight: IN_FLIGHT,
          features: FEATURES,
          t0,
        },
      });
      w.on('message', (m: { accepted?: number; rejected?: number; done?: boolean }) => {
        if (m.done) {
          void w.terminate();
          resolve();
          return;
        }
        accepted += m.accepted ?? 0;
        rejected += m.rejected ?? 0;
        segCount += (m.accepted ?? 0) + (m.rejected ?? 0);
        if (segCount >= segmentSize) {
          const now = performance.now();
          segments.push((segCount / (now - segStart)) * 1000);
          process.stderr.write(
            `  http: ${accepted} events, ${Math.round(segments.at(-1)!)} events/s, rss ${mb(process.memoryUsage().rss)} MB\n`,
          );
          segStart = now;
          segCount = 0;
        }
      });
      w.on('error', reject);
    });
    clearInterval(rssTimer);
    // Includes the load generator's thread (same process): the daemon's share is below it.
    const cpu = cpuPerEvent(cpu0, cpuSample(), accepted + rejected);
    const threads = threadCpuPerEvent(threads0, threadSample(), accepted + rejected);
    const seconds = (performance.now() - started) / 1000;
    // The stream must have done real work: windows closed and evaluated along the way.
    const windows = await daemon.store.queryDrift({
      model: 'bench',
      window: '1m',
      from: t0,
      to: t0 + total / 10 + 60_000,
    });
    const late =
      (await daemon.metrics.registry.getSingleMetric('driftd_events_total')?.get())?.values
        .filter((v) => v.labels.result === 'late')
        .reduce((sum, v) => sum + v.value, 0) ?? 0;
    const sorted = [...segments].sort((a, b) => a - b);
    const firstTenth = rss.slice(0, Math.max(1, Math.ceil(rss.length / 10)));
    const lastTenth = rss.slice(-Math.max(1, Math.ceil(rss.length / 10)));
    return [
      {
        name: 'http.ingest.events_per_second',
        unit: 'events/s',
        median: Math.round(sorted[Math.floor(sorted.length / 2)] ?? accepted / seconds),
        runs: segments.length,
        features: FEATURES,
        batch: BATCH,
        inFlight: IN_FLIGHT,
        events: accepted,
        rejected,
        late,
        windowsClosed: windows.length,
        overall: Math.round(accepted / seconds),
        ...cpu,
        threads,
        target: 50_000,
      },
      {
        name: 'http.ingest.rss_mb',
        unit: 'MB',
        median: mb(median(rss)),
        runs: rss.length,
        events: accepted,
        firstTenthMedian: mb(median(firstTenth)),
        lastTenthMedian: mb(median(lastTenth)),
        max: mb(Math.max(...rss)),
      },
    ];
  } finally {
    await daemon.close();
    await rm(dir, { recursive: true, force: true });
  }
}

const mb = (b: number) => Math.round(b / 1048576);
function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)] ?? 0;
}
