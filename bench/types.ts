/** One benchmark figure, printed by bench/run.ts as one JSON line. */
export interface BenchResult {
  /** Stable dotted name, e.g. `sketch.record`. */
  name: string;
  unit: 'ops/s' | 'us' | 'ms';
  /** Median over `runs` measured runs (warm-up runs excluded). */
  median: number;
  runs: number;
  /** Anything else worth recording: target, min/max, sizes, Node version. */
  [k: string]: unknown;
}

/**
 * What bench/run.ts accepts from a benchmark module. Looser than `BenchResult` on `unit` so
 * modules that report other units (events/s, rows/s, MB) still run under the same runner.
 */
export interface BenchRecord {
  name: string;
  unit: string;
  median: number;
  runs: number;
  [k: string]: unknown;
}
