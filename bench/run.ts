/**
 * Runs every benchmark module in this directory (`*.bench.ts`, or `*.bench.js` once compiled)
 * and prints one JSON line per result on stdout; progress and errors go to stderr, so
 * `npm run bench > results.jsonl` is machine-readable. A module takes part by exporting an
 * async `run…Benchmarks()` returning `BenchRecord[]`. Discovering modules rather than
 * importing a fixed list lets each stage add its benchmarks without touching the runner.
 * Optional arguments select modules by file name: `npx tsx bench/run.ts stats window`.
 */
import { readdirSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import type { BenchRecord } from './types.js';

type RunBenchmarks = () => Promise<readonly BenchRecord[]>;

const here = dirname(fileURLToPath(import.meta.url));
// Micro-benchmarks first: the end-to-end ones leave background work behind (engine merges,
// the broker deleting topics) that skews a microsecond figure measured right after them.
const FIRST = ['stats', 'window', 'baseline'];
const rank = (f: string) => {
  const i = FIRST.indexOf(basename(f).replace(/\.bench\.(ts|js|mjs)$/, ''));
  return i < 0 ? FIRST.length : i;
};
const files = readdirSync(here)
  .filter((f) => /\.bench\.(ts|js|mjs)$/.test(f) && !f.endsWith('.d.ts'))
  .sort((a, b) => rank(a) - rank(b) || a.localeCompare(b));
const available = files.map((f) => basename(f).replace(/\.bench\.(ts|js|mjs)$/, ''));

const wanted = process.argv.slice(2);
const unknown = wanted.filter((w) => !available.includes(w));
if (unknown.length > 0) {
  process.stderr.write(
    `unknown benchmark module(s): ${unknown.join(', ')}; available: ${available.join(', ')}\n`,
  );
  process.exit(2);
}

let failed = false;
for (const [i, file] of files.entries()) {
  const name = available[i] as string;
  if (wanted.length > 0 && !wanted.includes(name)) continue;
  const mod = (await import(pathToFileURL(join(here, file)).href)) as Record<string, unknown>;
  const runners = Object.entries(mod).filter(
    (e): e is [string, RunBenchmarks] =>
      /^run\w*Benchmarks$/.test(e[0]) && typeof e[1] === 'function',
  );
  if (runners.length === 0) {
    process.stderr.write(`bench: ${file} exports no run…Benchmarks function, skipped\n`);
    continue;
  }
  for (const [exportName, run] of runners) {
    process.stderr.write(`bench: ${name} (${exportName})…\n`);
    const started = performance.now();
    try {
      for (const result of await run()) {
        process.stdout.write(
          `${JSON.stringify({ ...result, module: name, node: process.version })}\n`,
        );
      }
    } catch (err) {
      // One broken module must not hide the others' figures; the exit code still says so.
      failed = true;
      process.stderr.write(
        `bench: ${name} failed: ${err instanceof Error ? err.stack : String(err)}\n`,
      );
    }
    const seconds = ((performance.now() - started) / 1000).toFixed(1);
    process.stderr.write(`bench: ${name} done in ${seconds} s\n`);
  }
}
if (failed) process.exitCode = 1;
