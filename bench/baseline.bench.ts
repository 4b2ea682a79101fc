/**
 * Baseline import throughput: a generated 1 M-row × 20-feature CSV (16 numeric, 4
 * categorical, plus the prediction), imported three times, each in a fresh process (forked with
 * this process's runtime flags); median wall time, rows/s and the peak RSS of an import's
 * process (its maxRSS). In this process the RSS would also hold whatever the benchmark
 * modules before this one left on the heap (after stats and window: 857 MB instead of 327). The file is generated once into a temp dir
 * and removed afterwards. CPU seconds and the load average are recorded too: on a shared
 * machine wall time mostly measures the neighbours.
 */

import { fork } from 'node:child_process';
import { once } from 'node:events';
import { createWriteStream } from 'node:fs';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { importBaseline } from '../src/baseline/import.js';
import { defaultAlerts } from '../src/config/alerts.js';
import type { FeatureConfig, ModelConfig } from '../src/config/types.js';
import type { BenchRecord } from './types.js';

const ROWS = 1_000_000;
const NUMERIC = 16;
const CATEGORICAL = 4;
const RUNS = 3;

function benchModel(): ModelConfig {
  const features: FeatureConfig[] = [];
  for (let i = 0; i < NUMERIC; i++) {
    features.push({ name: `num_${i}`, type: 'numeric', test: null, threshold: null });
  }
  for (let i = 0; i < CATEGORICAL; i++) {
    features.push({ name: `cat_${i}`, type: 'categorical', test: null, threshold: null });
  }
  return {
    id: 'bench',
    task: 'binary-classification',
    features,
    prediction: { field: 'prediction', type: 'numeric' },
    label: { field: 'label', positive: 1, threshold: 0.5 },
    windows: { sizes: [{ label: '5m', ms: 300_000 }], allowedLatenessMs: 60_000, idleTimeoutMs: 0 },
    versions: { allow: null, maxActive: 10, baselineFallback: 'none' },
    drift: {
      minWindowSize: 100,
      shareThreshold: 0.5,
      fdr: 0.05,
      bins: 1000,
      psiBuckets: 10,
      psiThreshold: 0.2,
      topCategories: 100,
      sampleSize: 10_000,
    },
    piiFields: [],
    alerts: defaultAlerts('binary-classification'),
  };
}

/** Writes the CSV: mixed distributions, 1% missing, categorical columns of 5 to 5 000 levels. */
async function generate(file: string): Promise<void> {
  let seed = 12345;
  const rand = (): number => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const levels = [5, 50, 500, 5000];
  const out = createWriteStream(file);
  const header = [
    ...Array.from({ length: NUMERIC }, (_, i) => `num_${i}`),
    ...Array.from({ length: CATEGORICAL }, (_, i) => `cat_${i}`),
    'prediction',
  ];
  out.write(`${header.join(',')}\n`);
  const batch: string[] = [];
  for (let r = 0; r < ROWS; r++) {
    const cells: string[] = [];
    for (let i = 0; i < NUMERIC; i++) {
      if (rand() < 0.01) cells.push('');
      else if (i % 4 === 0)
        cells.push((Math.exp(rand() * 8) * 10).toFixed(2)); // skewed
      else if (i % 4 === 1)
        cells.push(String(Math.floor(rand() * 100))); // integer ties
      else cells.push(((rand() + rand() + rand() - 1.5) * 1000).toFixed(3)); // bell-ish
    }
    for (let i = 0; i < CATEGORICAL; i++) {
      const k = levels[i]!;
      // Zipf-like: low indexes are frequent.
      cells.push(`level_${Math.floor(k * rand() ** 3)}`);
    }
    cells.push(rand().toFixed(4));
    batch.push(cells.join(','));
    if (batch.length === 10_000) {
      if (!out.write(`${batch.join('\n')}\n`)) await once(out, 'drain');
      batch.length = 0;
    }
  }
  if (batch.length > 0) out.write(`${batch.join('\n')}\n`);
  out.end();
  await once(out, 'finish');
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 === 1 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

export async function runBaselineBenchmarks(): Promise<BenchRecord[]> {
  const dir = await mkdtemp(join(tmpdir(), 'driftd-bench-baseline-'));
  try {
    const file = join(dir, 'train.csv');
    const genStart = performance.now();
    await generate(file);
    const generateSeconds = (performance.now() - genStart) / 1000;
    const bytes = (await stat(file)).size;
    const seconds: number[] = [];
    const cpuSeconds: number[] = [];
    const peaks: number[] = [];
    let id = '';
    for (let run = 0; run < RUNS; run++) {
      const r = await importInChild(file);
      if (r.rows !== ROWS) throw new Error(`imported ${r.rows} rows`);
      id = r.id;
      seconds.push(r.seconds);
      cpuSeconds.push(r.cpuSeconds);
      peaks.push(r.peakRss);
    }
    const peakRss = Math.max(...peaks);
    const med = median(seconds);
    const common = {
      rows: ROWS,
      features: NUMERIC + CATEGORICAL,
      fileBytes: bytes,
      baselineId: id,
    };
    return [
      {
        name: 'baseline.import.1m_rows_20_features',
        unit: 's',
        median: med,
        runs: RUNS,
        samples: seconds,
        // CPU time of this process: steadier than wall time on a shared machine.
        cpuSeconds: median(cpuSeconds),
        cpuSamples: cpuSeconds,
        loadAverage1m: loadavg()[0],
        rowsPerSecond: ROWS / med,
        mbPerSecond: bytes / 1e6 / med,
        generateSeconds,
        ...common,
      },
      {
        name: 'baseline.import.rows_per_second',
        unit: 'rows/s',
        median: ROWS / med,
        runs: RUNS,
        ...common,
      },
      {
        name: 'baseline.import.peak_rss',
        unit: 'MB',
        median: peakRss / 1e6,
        runs: RUNS,
        note: 'peak RSS of a fresh process doing one import (maxRSS, includes the runtime); largest of the runs',
        samples: peaks.map((b) => b / 1e6),
        ...common,
      },
    ];
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

interface ImportRun {
  seconds: number;
  cpuSeconds: number;
  peakRss: number;
  rows: number;
  id: string;
}

/** One import of `file` in a fresh process (this module, run with CHILD_ENV set). */
function importInChild(file: string): Promise<ImportRun> {
  return new Promise((resolve, reject) => {
    const child = fork(fileURLToPath(import.meta.url), [], {
      env: { ...process.env, [CHILD_ENV]: file },
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    let result: ImportRun | undefined;
    child.on('message', (m) => {
      result = m as ImportRun;
    });
    child.on('error', reject);
    child.on('exit', (code) => {
      if (code === 0 && result) resolve(result);
      else reject(new Error(`baseline import process exited with code ${code}`));
    });
  });
}

const CHILD_ENV = 'DRIFTD_BENCH_BASELINE_IMPORT';
const childFile = process.env[CHILD_ENV];
if (childFile !== undefined && process.send !== undefined) {
  const t0 = performance.now();
  const cpu0 = process.cpuUsage();
  const { profile } = await importBaseline({ model: benchModel(), version: '1', file: childFile });
  const cpu = process.cpuUsage(cpu0);
  const run: ImportRun = {
    seconds: (performance.now() - t0) / 1000,
    cpuSeconds: (cpu.user + cpu.system) / 1e6,
    // maxRSS is in kilobytes.
    peakRss: process.resourceUsage().maxRSS * 1024,
    rows: profile.rowCount,
    id: profile.id,
  };
  process.send(run, () => process.exit(0));
}
