import { canonicalJson, modelConfigHash } from '../config/hash.js';
import type { ModelConfig } from '../config/types.js';
import { LATEST_STORABLE_TS } from '../limits.js';
import type { FairnessResult } from '../stats/fairness.js';
import type { EventSourceSummary, FairnessRowsQuery } from '../store/types.js';
import type { BaselineProfile, FeatureProfile, PerformanceResult, WindowResult } from '../types.js';
import {
  countStoredOutcomes,
  evaluateWindowFairness,
  type StoredOutcomes,
  storedOutcomeQuery,
} from '../window/fairness.js';
import { judgePerformance, type PerformanceVerdict } from '../window/performance-verdict.js';
import { referenceName } from '../window/reference.js';
import { driftAlerts, performanceAlerts } from './alerts.js';
import { iso, seriesKey } from './keys.js';

/*
 * The period report (docs/report.md): what a validator attaches to a model review — for one
 * model and period, the baselines, the configuration in force, every window's verdicts, drift
 * over time, performance and label coverage, fairness by group, the alerts the results fired
 * and where the data came from. Built from the store only, so the same store and period give
 * the same report: no clock is read, every list has a stable order, and the HTML (html.ts)
 * renders this model and nothing else.
 */

export const REPORT_FORMAT = 'driftd-period-report/1';
const DAY = 86_400_000;
/** Longest period one report covers: a year and a day (a leap year, a whole-day boundary). */
export const MAX_REPORT_DAYS = 366;
/** Window results one report lists; beyond it the newest are left out and the report says so. */
export const MAX_REPORT_WINDOWS = 20_000;
/** Source rows (Kafka partitions, replayed files) of the lineage. */
export const MAX_REPORT_SOURCES = 1_000;

/** The store reads a report needs (the full Store satisfies it structurally). */
export interface ReportStore {
  listBaselines(opts?: { model?: string }): Promise<Array<{ id: string }>>;
  getBaseline(id: string): Promise<BaselineProfile | null>;
  queryDrift(q: { model: string; from: number; to: number }): Promise<WindowResult[]>;
  queryPerformance(q: { model: string; from: number; to: number }): Promise<PerformanceResult[]>;
  fairnessRows(q: FairnessRowsQuery): Promise<StoredOutcomes[]>;
  eventSources(q: {
    model: string;
    from: number;
    to: number;
    limit: number;
  }): Promise<EventSourceSummary[]>;
}

/**
 * Why `[from, to)` cannot be reported on, or null: times must be finite, from before to, and
 * the period at most MAX_REPORT_DAYS.
 */
export function periodProblem(from: number, to: number): string | null {
  if (!Number.isFinite(from) || !Number.isFinite(to)) return '"from" and "to" must be times';
  // to = LATEST_STORABLE_TS + 1 is the exclusive end of the last storable millisecond.
  for (const [name, ms] of [
    ['from', from],
    ['to', to],
  ] as const) {
    if (ms < 0 || ms > LATEST_STORABLE_TS + 1) {
      return `"${name}" (${iso(ms)}) is outside the times the store holds (1970-01-01 to ${iso(LATEST_STORABLE_TS)})`;
    }
  }
  if (!(from < to)) {
    return `"from" (${iso(from)}) must be before "to" (${iso(to)})`;
  }
  if (to - from > MAX_REPORT_DAYS * DAY) {
    return `the period ${iso(from)} to ${iso(to)} is longer than a report covers (${MAX_REPORT_DAYS} days): split it into several reports`;
  }
  return null;
}

/** A window result as results may carry it once other features add columns (optional here). */
export type StoredWindow = WindowResult & {
  segment?: string;
  driftdVersion?: string;
  configHash?: string;
};

export interface ReportBaseline {
  id: string;
  hash: string;
  version: string;
  createdAt: string;
  /** The training file's name (never its directory). */
  source: string;
  rowCount: number;
  badRows: number;
  params: BaselineProfile['params'];
  performance: Record<string, number> | null;
  /** Windows of the period evaluated against it. */
  windows: number;
  features: ReportProfileFeature[];
}

export type ReportProfileFeature =
  | {
      name: string;
      kind: 'numeric';
      count: number;
      mean: number;
      std: number;
      min: number;
      p01: number;
      p50: number;
      p99: number;
      max: number;
      missing: number;
    }
  | {
      name: string;
      kind: 'categorical';
      distinct: number;
      /** Top categories with their share of the baseline's rows, most frequent first. */
      top: Array<{ category: string; share: number }>;
      missing: number;
    };

export interface ReportWindow {
  version: string;
  window: string;
  /** '' = all traffic; a segment's windows are in `segments`. */
  start: string;
  end: string;
  closedAt: string;
  eventCount: number;
  lateCount: number;
  provisional: boolean;
  baselineId: string;
  reference: string;
  /** Whether any verdict was given (false: too few events). */
  judged: boolean;
  datasetDrift: boolean;
  driftShare: number;
  predictionDrift: boolean | null;
  driftedFeatures: string[];
  /** The driftd version and config hash that produced the result, when the store records them. */
  driftdVersion?: string;
  configHash?: string;
}

export interface DriftSeries {
  version: string;
  window: string;
  feature: string;
  test: string;
  /** One point per judged window: its start, the effect measure, the floor, the verdict. */
  points: Array<{ start: string; effect: number; floor: number | null; drifted: boolean }>;
}

export interface ReportPerformance {
  version: string;
  window: string;
  start: string;
  end: string;
  labeled: number;
  coverage: number;
  metrics: Record<string, number>;
  verdicts: Array<Pick<PerformanceVerdict, 'metric' | 'value' | 'limit' | 'degraded' | 'reason'>>;
}

export interface ReportAlert {
  /** The alert rule that fires on this run (src/export/rules.ts). */
  alert: string;
  version: string;
  window: string;
  /** `dataset`, `prediction`, `feature:<name>` or `performance:<metric>`. */
  series: string;
  /** The run of consecutive drifted/degraded windows, K or more long. */
  firstStart: string;
  lastEnd: string;
  windows: number;
  /** The window where the run reached K: the alert fired from its close on. */
  firedAt: string;
}

export interface ReportSegment {
  version: string;
  window: string;
  segment: string;
  windows: number;
  driftedWindows: number;
  maxDriftShare: number;
  driftedFeatures: string[];
}

export interface PeriodReport {
  format: typeof REPORT_FORMAT;
  model: string;
  from: string;
  to: string;
  /** The driftd that built the report. */
  builtBy: string;
  notes: string[];
  config: { hash: string; effective: unknown };
  baselines: ReportBaseline[];
  windows: ReportWindow[];
  drift: DriftSeries[];
  performance: ReportPerformance[];
  labelCoverage: Array<{
    version: string;
    window: string;
    windows: number;
    events: number;
    labeled: number;
    coverage: number | null;
  }>;
  /** Per version, over the whole period, from the stored predictions and labels; null: not configured. */
  fairness: Array<{ version: string; attributes: Record<string, FairnessResult> }> | null;
  /** Segments whose windows drifted; absent when the store has no segment results. */
  segments?: ReportSegment[];
  alerts: ReportAlert[];
  lineage: {
    baselineIds: string[];
    /** Distinct driftd versions / config hashes on the results, when the store records them. */
    driftdVersions?: string[];
    configHashes?: string[];
    sources: Array<
      Omit<EventSourceSummary, 'firstTs' | 'lastTs'> & { firstTs: string; lastTs: string }
    >;
  };
}

export interface ReportInput {
  store: ReportStore;
  model: ModelConfig;
  from: number;
  to: number;
  /** The driftd version building the report. */
  version: string;
}

const byKey =
  <T>(key: (t: T) => string) =>
  (a: T, b: T) => {
    const x = key(a);
    const y = key(b);
    return x < y ? -1 : x > y ? 1 : 0;
  };
/** Sortable text of a number (non-negative integers, e.g. epoch ms, up to 16 digits). */
const pad = (n: number) => String(n).padStart(16, '0');
const fileName = (path: string) => path.split(/[\\/]/).at(-1) ?? '';
/** Builds the report of `model` over `[from, to)`; the caller checked `periodProblem`. */
export async function buildReport(input: ReportInput): Promise<PeriodReport> {
  const { store, model, from, to } = input;
  const notes: string[] = [];
  const stored = (await store.queryDrift({ model: model.id, from, to })) as StoredWindow[];
  // Windows inside the period (a window overlapping its start or end belongs to its neighbour).
  const inPeriod = stored
    .filter((r) => r.start >= from && r.end <= to)
    .sort(
      byKey(
        (r) =>
          `${r.version}\u0000${r.sizeLabel}\u0000${r.segment ?? ''}\u0000${pad(r.start)}\u0000${pad(r.closedAt)}`,
      ),
    );
  // One result per window: the newest (a provisional result and its final one, revisions).
  const newest = new Map<string, StoredWindow>();
  for (const r of inPeriod)
    newest.set(`${seriesKey(r)}\u0000${r.segment ?? ''}\u0000${r.start}`, r);
  const latest = [...newest.values()];
  let all = latest.filter((r) => (r.segment ?? '') === '');
  const segmented = latest.filter((r) => (r.segment ?? '') !== '');
  if (all.length > MAX_REPORT_WINDOWS) {
    notes.push(
      `the period holds ${all.length} windows; the report lists the first ${MAX_REPORT_WINDOWS} (per version and size, oldest first): report on shorter periods for the rest`,
    );
    all = all.slice(0, MAX_REPORT_WINDOWS);
  }

  // Baselines: every one the windows were evaluated against, and the model's stored ones.
  const listed = await store.listBaselines({ model: model.id });
  const ids = [...new Set([...listed.map((b) => b.id), ...all.map((r) => r.baselineId)])]
    .filter((id) => id !== '')
    .sort();
  const profiles = new Map<string, BaselineProfile>();
  for (const id of ids) {
    const p = await store.getBaseline(id);
    if (p) profiles.set(id, p);
  }
  const usedBy = new Map<string, number>();
  for (const r of all) usedBy.set(r.baselineId, (usedBy.get(r.baselineId) ?? 0) + 1);
  const baselines = [...profiles.values()]
    .map((p) => presentProfile(p, usedBy.get(p.id) ?? 0))
    .sort(byKey((b) => `${b.version}\u0000${b.createdAt}\u0000${b.id}`));

  const windows = all.map(presentWindow);

  // Performance: the newest record per window, judged against its window's baseline.
  const baselineOfWindow = new Map<string, string>();
  for (const r of all) baselineOfWindow.set(`${seriesKey(r)}\u0000${r.start}`, r.baselineId);
  const perfRows = (await store.queryPerformance({ model: model.id, from, to }))
    .filter((p) => p.start >= from && p.end <= to)
    .sort(byKey((p) => `${seriesKey(p)}\u0000${pad(p.start)}\u0000${pad(p.computedAt)}`));
  const newestPerf = new Map<string, PerformanceResult>();
  for (const p of perfRows) newestPerf.set(`${seriesKey(p)}\u0000${p.start}`, p);
  const performance: ReportPerformance[] = [];
  for (const [key, p] of newestPerf) {
    const baselineId = baselineOfWindow.get(key);
    const base = baselineId === undefined ? undefined : profiles.get(baselineId)?.performance;
    performance.push({
      version: p.version,
      window: p.sizeLabel,
      start: iso(p.start),
      end: iso(p.end),
      labeled: p.labeled,
      coverage: p.coverage,
      metrics: sortedRecord(p.metrics),
      verdicts: judgePerformance(p, model, base).map((v) => ({
        metric: v.metric,
        value: v.value,
        limit: v.limit,
        degraded: v.degraded,
        reason: v.reason,
      })),
    });
  }

  const fairness = model.fairness ? await fairnessOf(input, all) : null;
  const segments = segmented.length > 0 ? segmentsOf(segmented) : undefined;
  const sources = await store.eventSources({
    model: model.id,
    from,
    to,
    limit: MAX_REPORT_SOURCES + 1,
  });
  if (sources.length > MAX_REPORT_SOURCES) {
    notes.push(`more than ${MAX_REPORT_SOURCES} event sources: the lineage lists the first ones`);
    sources.length = MAX_REPORT_SOURCES;
  }
  if (all.length > 0 && sources.length === 0) {
    notes.push(
      'no raw events of the period are stored (expired after store.rawEventsTtlDays, or erased): the lineage has no sources and fairness cannot be recomputed',
    );
  }
  const lineageOf = (pick: (r: StoredWindow) => string | undefined) => {
    const seen = [
      ...new Set(all.map(pick).filter((v): v is string => v !== undefined && v !== '')),
    ];
    return seen.length > 0 ? seen.sort() : undefined;
  };
  const driftdVersions = lineageOf((r) => r.driftdVersion);
  const configHashes = lineageOf((r) => r.configHash);

  return {
    format: REPORT_FORMAT,
    model: model.id,
    from: iso(from),
    to: iso(to),
    builtBy: input.version,
    notes,
    config: {
      hash: modelConfigHash(model),
      effective: JSON.parse(canonicalJson(model)) as unknown,
    },
    baselines,
    windows,
    drift: driftSeries(all),
    performance,
    labelCoverage: labelCoverage(all, [...newestPerf.values()]),
    fairness,
    ...(segments ? { segments } : {}),
    alerts: [...driftAlerts(all, model), ...performanceAlerts(performance, model)].sort(
      byKey((a) => `${a.version}\u0000${a.window}\u0000${a.firstStart}\u0000${a.series}`),
    ),
    lineage: {
      baselineIds: [...new Set(all.map((r) => r.baselineId))].filter((id) => id !== '').sort(),
      ...(driftdVersions ? { driftdVersions } : {}),
      ...(configHashes ? { configHashes } : {}),
      sources: sources.map((s) => ({
        ...s,
        file: fileName(s.file),
        firstTs: iso(s.firstTs),
        lastTs: iso(s.lastTs),
      })),
    },
  };
}

function sortedRecord<T>(r: Readonly<Record<string, T>>): Record<string, T> {
  return Object.fromEntries(Object.entries(r).sort(byKey(([k]) => k)));
}

function presentProfile(p: BaselineProfile, windows: number): ReportBaseline {
  const feature = (name: string, f: FeatureProfile): ReportProfileFeature => {
    if (f.kind === 'numeric') {
      const s = f.summary;
      return {
        name,
        kind: 'numeric',
        count: s.count,
        mean: s.mean,
        std: s.std,
        min: s.min,
        p01: s.p01,
        p50: s.p50,
        p99: s.p99,
        max: s.max,
        missing: f.missing,
      };
    }
    const total = f.counts.reduce((a, b) => a + b, 0) + f.other + f.missing;
    return {
      name,
      kind: 'categorical',
      distinct: f.distinct,
      top: f.categories
        .slice(0, 10)
        .map((category, i) => ({ category, share: total > 0 ? f.counts[i]! / total : 0 })),
      missing: f.missing,
    };
  };
  const features = Object.keys(p.features)
    .sort()
    .map((name) => feature(name, p.features[name]!));
  if (p.prediction) features.push(feature('__prediction__', p.prediction));
  return {
    id: p.id,
    hash: p.hash,
    version: p.version,
    createdAt: iso(p.createdAt),
    source: fileName(p.source),
    rowCount: p.rowCount,
    badRows: p.badRows,
    params: p.params,
    performance: p.performance ? sortedRecord(p.performance) : null,
    windows,
    features,
  };
}

function presentWindow(r: StoredWindow): ReportWindow {
  const judged = r.features.some((f) => !f.insufficient);
  return {
    version: r.version,
    window: r.sizeLabel,
    start: iso(r.start),
    end: iso(r.end),
    closedAt: iso(r.closedAt),
    eventCount: r.eventCount,
    lateCount: r.lateCount,
    provisional: r.provisional,
    baselineId: r.baselineId,
    reference: r.reference ? referenceName(r.reference) : 'baseline',
    judged,
    datasetDrift: r.datasetDrift,
    driftShare: r.driftShare,
    predictionDrift: r.prediction && !r.prediction.insufficient ? r.prediction.drifted : null,
    driftedFeatures: r.features
      .filter((f) => f.drifted)
      .map((f) => f.feature)
      .sort(),
    ...(r.driftdVersion ? { driftdVersion: r.driftdVersion } : {}),
    ...(r.configHash ? { configHash: r.configHash } : {}),
  };
}

function driftSeries(all: readonly StoredWindow[]): DriftSeries[] {
  const series = new Map<string, DriftSeries>();
  for (const r of all) {
    const drifts = [...r.features, ...(r.prediction ? [r.prediction] : [])];
    for (const f of drifts) {
      if (f.insufficient) continue;
      const name = r.prediction === f ? '__prediction__' : f.feature;
      const key = `${seriesKey(r)}\u0000${name}`;
      let s = series.get(key);
      if (s === undefined) {
        s = { version: r.version, window: r.sizeLabel, feature: name, test: f.test, points: [] };
        series.set(key, s);
      }
      s.points.push({
        start: iso(r.start),
        effect: f.effect,
        floor: f.verdictRule === 'calibrated' ? f.effectFloor : null,
        drifted: f.drifted,
      });
    }
  }
  return [...series.values()].sort(byKey((s) => `${s.version}\u0000${s.window}\u0000${s.feature}`));
}

function labelCoverage(all: readonly StoredWindow[], perf: readonly PerformanceResult[]) {
  const out = new Map<
    string,
    { version: string; window: string; windows: number; events: number; labeled: number }
  >();
  const entry = (version: string, window: string) => {
    const key = `${version}\u0000${window}`;
    let e = out.get(key);
    if (e === undefined) {
      e = { version, window, windows: 0, events: 0, labeled: 0 };
      out.set(key, e);
    }
    return e;
  };
  for (const r of all) {
    const e = entry(r.version, r.sizeLabel);
    e.windows += 1;
    e.events += r.eventCount;
  }
  for (const p of perf) entry(p.version, p.sizeLabel).labeled += p.labeled;
  return [...out.values()]
    .sort(byKey((e) => `${e.version}\u0000${e.window}`))
    .map((e) => ({ ...e, coverage: e.events > 0 ? Math.min(1, e.labeled / e.events) : null }));
}

/** Fairness per version over the period, recomputed from stored data as the fairness route does. */
async function fairnessOf(input: ReportInput, all: readonly StoredWindow[]) {
  const { model, store, from, to } = input;
  const versions = [...new Set(all.map((r) => r.version))].sort();
  const out: Array<{ version: string; attributes: Record<string, FairnessResult> }> = [];
  for (const version of versions) {
    const counts: Parameters<typeof evaluateWindowFairness>[1] = {};
    for (const a of model.fairness?.attributes ?? []) {
      const rows = await store.fairnessRows({
        model: model.id,
        version,
        from,
        to,
        ...storedOutcomeQuery(model, a),
      });
      counts[a.field] = countStoredOutcomes(model, a.field, rows);
    }
    out.push({ version, attributes: evaluateWindowFairness(model, counts) });
  }
  return out;
}

function segmentsOf(rows: readonly StoredWindow[]): ReportSegment[] {
  const out = new Map<string, ReportSegment>();
  for (const r of rows) {
    const key = `${seriesKey(r)}\u0000${r.segment}`;
    let s = out.get(key);
    if (s === undefined) {
      s = {
        version: r.version,
        window: r.sizeLabel,
        segment: r.segment ?? '',
        windows: 0,
        driftedWindows: 0,
        maxDriftShare: 0,
        driftedFeatures: [],
      };
      out.set(key, s);
    }
    s.windows += 1;
    if (r.datasetDrift || r.features.some((f) => f.drifted)) s.driftedWindows += 1;
    s.maxDriftShare = Math.max(s.maxDriftShare, r.driftShare);
    for (const f of r.features) {
      if (f.drifted && !s.driftedFeatures.includes(f.feature)) s.driftedFeatures.push(f.feature);
    }
  }
  return [...out.values()]
    .filter((s) => s.driftedWindows > 0)
    .map((s) => ({ ...s, driftedFeatures: s.driftedFeatures.sort() }))
    .sort(
      byKey(
        (s) =>
          `${pad(1e9 - s.driftedWindows)}\u0000${s.version}\u0000${s.window}\u0000${s.segment}`,
      ),
    );
}
