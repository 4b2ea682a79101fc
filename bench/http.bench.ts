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
import { cpuPerEvent, cpuSample } from './cpu.js';
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
let next = 0;
function makeBatch() {
  const lines = [];
  for (let i = 0; i < batch && next < total; i++, next++) {
    const f = {};
    for (let k = 0; k < features; k++) f['f' + k] = k % 5 === 4 ? 'c' + Math.floor(u() * 8) : z() + (next > total / 2 ? 0.2 : 0);
    // 10k events per second of event time: windows of 1m close as the stream advances.
    lines.push(JSON.stringify({ model: 'bench', version: '1', id: 'e' + next, ts: new Date(t0 + Math.floor(next / 10)).toISOString(), features: f, prediction: u() }));
  }
  return lines.join('\\n');
}
// Pre-build a pool of bodies so the generator's own JSON work stays out of the measurement.
const pool = [];
for (let i = 0; i < 16; i++) pool.push(makeBatch());
let sent = 0, bodyIndex = 0;
async function worker() {
  while (sent < total) {
    const n = Math.min(batch, total - sent);
    sent += n;
    let body = pool[bodyIndex++ % pool.length];
    if (n < batch) body = body.split('\\n').slice(0, n).join('\\n');
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
    let s = 99;
    const u = () => {
      s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
      return (s + 0.5) / 4294967296;
    };
    const rows = Array.from({ length: 20_000 }, (_, i) => {
      const f: Record<string, number | string> = {};
      for (let k = 0; k < FEATURES; k++) {
        f[`f${k}`] =
          k % 5 === 4
            ? `c${Math.floor(u() * 8)}`
            : Math.sqrt(-2 * Math.log(u())) * Math.cos(2 * Math.PI * u());
      }
      return { id: `b${i}`, features: f, prediction: u() };
    });
    const { profile } = buildProfileFromRows(config.models[0]!, '1', rows);
    await daemon.store.saveBaseline(profile);
    await daemon.pipeline.refreshBaselines();

    const segments: number[] = [];
    const rss: number[] = [];
    let accepted = 0;
    let rejected = 0;
    const started = performance.now();
    const cpu0 = cpuSample();
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
          t0: Date.parse('2026-01-01T00:00:00Z'),
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
    const seconds = (performance.now() - started) / 1000;
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
        overall: Math.round(accepted / seconds),
        ...cpu,
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
