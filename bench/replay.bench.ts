/**
 * Replay (backfill) end to end: `driftd replay` in-process on a JSONL file of 20-feature events
 * with the embedded store (read → decode → windows → raw events in chDB → window closes).
 * Reports events/s over the whole replay (3 runs, each a fresh store) and the event loop's
 * utilisation during it: what is idle is time parsing could use while inserts run. Also the
 * process CPU and the main thread's CPU per event (medians): steadier than events/s on a busy
 * shared machine.
 * `DRIFTD_BENCH_REPLAY_EVENTS` sets the file's length (default 1 000 000).
 */
import { createWriteStream } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { PassThrough } from 'node:stream';
import { buildProfileFromRows } from '../src/baseline/index.js';
import { runCli } from '../src/cli/index.js';
import { loadConfig } from '../src/config/index.js';
import { createStore } from '../src/store/index.js';
import { baselineRows, lcg } from './rows.js';
import type { BenchRecord } from './types.js';

const FEATURES = 20;

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return Math.round(s[Math.floor(s.length / 2)]! * 10) / 10;
}
const RUNS = 3;

async function writeEvents(file: string, total: number): Promise<void> {
  const u = lcg(12345);
  const z = () => Math.sqrt(-2 * Math.log(u())) * Math.cos(2 * Math.PI * u());
  const pool = Array.from({ length: 20_000 }, () => {
    const f: Record<string, number | string> = {};
    for (let k = 0; k < FEATURES; k++) f[`f${k}`] = k % 5 === 4 ? `c${Math.floor(u() * 8)}` : z();
    return JSON.stringify(f);
  });
  const out = createWriteStream(file);
  const t0 = Date.parse('2026-01-01T00:00:00Z');
  let chunk = '';
  for (let i = 0; i < total; i++) {
    const ts = new Date(t0 + Math.floor(i / 10)).toISOString();
    chunk += `{"model":"bench","version":"1","id":"e${i}","ts":"${ts}","features":${pool[i % pool.length]},"prediction":${(i % 997) / 997}}\n`;
    if (chunk.length > 1 << 20) {
      if (!out.write(chunk)) await new Promise<void>((r) => out.once('drain', () => r()));
      chunk = '';
    }
  }
  out.end(chunk);
  await new Promise<void>((r) => out.once('finish', () => r()));
}

export async function runReplayBenchmarks(): Promise<BenchRecord[]> {
  const total = Number(process.env.DRIFTD_BENCH_REPLAY_EVENTS ?? 1_000_000);
  const dir = await mkdtemp(join(tmpdir(), 'driftd-bench-replay-'));
  try {
    const file = join(dir, 'events.jsonl');
    await writeEvents(file, total);
    const rates: number[] = [];
    const utilisation: number[] = [];
    const cpuPerEvent: number[] = [];
    const mainPerEvent: number[] = [];
    for (let run = 0; run < RUNS; run++) {
      const config = join(dir, `driftd-${run}.yaml`);
      const features = Array.from(
        { length: FEATURES },
        (_, k) => `      - { name: f${k}, type: ${k % 5 === 4 ? 'categorical' : 'numeric'} }`,
      );
      await writeFile(
        config,
        [
          `dataDir: ${JSON.stringify(join(dir, `data-${run}`))}`,
          'logLevel: warn',
          'models:',
          '  - id: bench',
          '    task: binary-classification',
          '    features:',
          ...features,
          '    windows: { sizes: [1m], allowedLateness: 0s, idleTimeout: 1h }',
        ].join('\n'),
      );
      const loaded = await loadConfig({ path: config });
      const store = createStore(loaded.store);
      await store.migrate();
      const rows = baselineRows(20_000, FEATURES);
      await store.saveBaseline(buildProfileFromRows(loaded.models[0]!, '1', rows).profile);
      await store.close();

      const out = new PassThrough();
      let stdout = '';
      out.on('data', (c) => {
        stdout += c;
      });
      const err = new PassThrough().resume();
      const elu0 = performance.eventLoopUtilization();
      const cpu0 = process.cpuUsage();
      const main0 = process.threadCpuUsage();
      const started = performance.now();
      const code = await runCli(['replay', '--config', config, '--file', file], {
        out,
        err,
        shutdown: new Promise(() => {}),
      });
      const seconds = (performance.now() - started) / 1000;
      const elu = performance.eventLoopUtilization(elu0);
      const cpu = process.cpuUsage(cpu0);
      const main = process.threadCpuUsage(main0);
      // CPU per event: what a busy shared machine's throughput hides (it moves with the load).
      const cpuUs = (cpu.user + cpu.system) / total;
      const mainUs = (main.user + main.system) / total;
      if (code !== 0 || !stdout.includes(`${total} events accepted, 0 rejected`)) {
        throw new Error(`replay failed (exit ${code}): ${stdout}`);
      }
      rates.push(total / seconds);
      utilisation.push(elu.utilization);
      cpuPerEvent.push(cpuUs);
      mainPerEvent.push(mainUs);
      process.stderr.write(
        `  replay: ${total} events in ${seconds.toFixed(1)} s, ${Math.round(total / seconds)} events/s, event loop busy ${(elu.utilization * 100).toFixed(0)} %, CPU ${cpuUs.toFixed(1)} µs per event (main thread ${mainUs.toFixed(1)})\n`,
      );
    }
    const sorted = [...rates].sort((a, b) => a - b);
    return [
      {
        name: 'replay.events_per_second',
        unit: 'events/s',
        median: Math.round(sorted[Math.floor(sorted.length / 2)]!),
        runs: RUNS,
        events: total,
        features: FEATURES,
        min: Math.round(sorted[0]!),
        max: Math.round(sorted.at(-1)!),
        eventLoopBusy: utilisation.map((x) => Math.round(x * 100) / 100),
        /** Process CPU (every thread, the embedded engine's included) per event, µs. */
        cpuUsPerEvent: median(cpuPerEvent),
        /** The main thread's CPU per event, µs: the event loop's share. */
        mainThreadUsPerEvent: median(mainPerEvent),
        /** Peak RSS of this process so far (every module run before included), MB. */
        maxRssMb: Math.round(process.resourceUsage().maxRSS / 1024),
      },
    ];
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
