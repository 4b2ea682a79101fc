/**
 * Runs every benchmark module imported below and prints one JSON line per result on stdout
 * (progress and errors go to stderr), so `npm run bench > results.jsonl` is machine-readable.
 * Optional arguments select modules by name: `npx tsx bench/run.ts stats window`.
 */
import { runBaselineBenchmarks } from './baseline.bench.js';
import { runStatsBenchmarks } from './stats.bench.js';
import type { BenchRecord } from './types.js';
import { runWindowBenchmarks } from './window.bench.js';

const modules: Array<{ name: string; run: () => Promise<readonly BenchRecord[]> }> = [
  { name: 'stats', run: runStatsBenchmarks },
  { name: 'window', run: runWindowBenchmarks },
  { name: 'baseline', run: runBaselineBenchmarks },
];

const wanted = process.argv.slice(2);
const unknown = wanted.filter((w) => !modules.some((m) => m.name === w));
if (unknown.length > 0) {
  process.stderr.write(
    `unknown benchmark module(s): ${unknown.join(', ')}; known: ${modules.map((m) => m.name).join(', ')}\n`,
  );
  process.exit(2);
}

for (const m of modules) {
  if (wanted.length > 0 && !wanted.includes(m.name)) continue;
  process.stderr.write(`bench: ${m.name}…\n`);
  const started = performance.now();
  for (const result of await m.run()) {
    process.stdout.write(
      `${JSON.stringify({ ...result, module: m.name, node: process.version })}\n`,
    );
  }
  process.stderr.write(
    `bench: ${m.name} done in ${((performance.now() - started) / 1000).toFixed(1)} s\n`,
  );
}
