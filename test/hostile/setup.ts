/**
 * What the hostile suites share: the daemon's models (FLOOD takes the garbage, CALM only valid
 * events), their baselines, and the checks on a daemon after a flood (exact window counts,
 * metric series under the README's bound).
 */
import { buildProfileFromRows } from '../../src/baseline/index.js';
import type { DriftdConfig } from '../../src/config/types.js';
import type { Daemon } from '../../src/daemon.js';
import type { Store } from '../../src/store/types.js';
import {
  CALM,
  CATEGORIES,
  FLOOD,
  type Generated,
  isAccepted,
  type Outcome,
  VERSION,
} from './cases.js';

/** Event time of the first flood batch: in the past of the daemon's clock. */
export const T0 = Date.parse('2026-11-22T10:00:00Z');
export const MINUTE = 60_000;
/** Versions with window state per model (README: versions.maxActive). */
export const MAX_ACTIVE = 3;
export const FEATURES = 2;
export const SIZES = 1;
/** Performance metrics of a binary classifier, at most (README's P). */
export const PERFORMANCE_METRICS = 11;
/** README: /metrics series ≤ V × S × (13 F + 7 + P) per model, plus a fixed set. */
export const SERIES_PER_MODEL = MAX_ACTIVE * SIZES * (13 * FEATURES + 7 + PERFORMANCE_METRICS);

export function modelsConfig(): Array<Record<string, unknown>> {
  return [FLOOD, CALM].map((id) => ({
    id,
    task: 'binary-classification',
    features: [
      { name: 'n', type: 'numeric' },
      { name: 'c', type: 'categorical' },
    ],
    // Lateness covers the spread of one batch's (shuffled) event times: no valid event is late.
    windows: { sizes: ['1m'], allowedLateness: '1m', idleTimeout: '1h' },
    // FLOOD evaluates any version against its latest baseline: versions from the input become
    // metric label values (escaped, and bounded by maxActive) while the garbage flows.
    versions: { maxActive: MAX_ACTIVE, ...(id === FLOOD ? { baselineFallback: 'latest' } : {}) },
    drift: { minWindowSize: 10 },
  }));
}

export async function saveBaselines(config: DriftdConfig, store: Store): Promise<void> {
  for (const model of config.models) {
    const rows = Array.from({ length: 500 }, (_, i) => ({
      id: `b${i}`,
      features: { n: (i * 7) % 100, c: CATEGORIES[i % CATEGORIES.length] },
      prediction: (i % 100) / 100,
    }));
    await store.saveBaseline(buildProfileFromRows(model, VERSION, rows).profile);
  }
}

/** Expected events per 1m window start of FLOOD/VERSION: the accepted items that count. */
export function tallyWindows(
  items: Iterable<{ g: Generated; outcome: Outcome }>,
  into = new Map<number, number>(),
): Map<number, number> {
  for (const { g, outcome } of items) {
    if (!isAccepted(outcome) || !g.c.counts) continue;
    const start = Math.floor(g.item.ts / MINUTE) * MINUTE;
    into.set(start, (into.get(start) ?? 0) + 1);
  }
  return into;
}

/** Window start → event count of a model's stored 1m results (version VERSION) in [from, to). */
export async function storedCounts(
  store: Store,
  model: string,
  from: number,
  to: number,
): Promise<Map<number, number>> {
  const results = await store.queryDrift({ model, window: '1m', from, to });
  const out = new Map<number, number>();
  for (const r of results) {
    if (r.version !== VERSION) continue;
    out.set(r.start, (out.get(r.start) ?? 0) + r.eventCount);
  }
  return out;
}

const LABEL = '[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\\\\n]|\\\\[\\\\"n])*"';
const SAMPLE = new RegExp(
  `^[a-zA-Z_:][a-zA-Z0-9_:]*(?:\\{(?:${LABEL}(?:,${LABEL})*)?\\})? (?:[-+]?[0-9.]+(?:[eE][-+]?[0-9]+)?|NaN|[-+]?Inf)$`,
);

/** Lines of a Prometheus text exposition that do not parse (label values must be escaped). */
export function malformedLines(text: string): string[] {
  return text.split('\n').filter((l) => l !== '' && !l.startsWith('#') && !SAMPLE.test(l));
}

export function seriesCount(text: string): number {
  return text.split('\n').filter((l) => l !== '' && !l.startsWith('#')).length;
}

/** Sum of a metric's values whose labels include `labels`. */
export async function metricValue(d: Daemon, name: string, labels: Record<string, string> = {}) {
  const metric = await d.metrics.registry.getSingleMetric(name)?.get();
  let sum = 0;
  for (const v of metric?.values ?? []) {
    if (Object.entries(labels).every(([k, want]) => String(v.labels[k]) === want)) sum += v.value;
  }
  return sum;
}

/** What went wrong per case, at most a few examples each (one assertion per case at the end). */
export class Mismatches {
  private readonly byCase = new Map<string, string[]>();
  private readonly seen = new Map<string, number>();
  add(caseName: string, what: string): void {
    const list = this.byCase.get(caseName) ?? [];
    if (list.length < 3) list.push(what);
    this.byCase.set(caseName, list);
  }
  count(caseName: string): void {
    this.seen.set(caseName, (this.seen.get(caseName) ?? 0) + 1);
  }
  /** Case names with their mismatches (first examples), for expect.soft per case. */
  entries(): Array<[string, string[]]> {
    return [...this.seen.keys()].sort().map((name) => [name, this.byCase.get(name) ?? []]);
  }
  timesSeen(caseName: string): number {
    return this.seen.get(caseName) ?? 0;
  }
}

/** Whether an item error `reason` satisfies outcome `o` (a rejection). */
export function reasonMatches(o: Outcome, reason: string | undefined): boolean {
  if (o === 'accepted') return reason === undefined;
  if (reason === undefined) return false;
  return o === 'rejected' ? true : reason === o.reason;
}

export function describeOutcome(o: Outcome): string {
  return typeof o === 'string' ? o : `rejected (${o.reason})`;
}
