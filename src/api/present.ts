import type {
  BaselineProfile,
  EventSource,
  FeatureDrift,
  FeatureProfile,
  PerformanceResult,
  ResultLineage,
  WindowResult,
} from '../types.js';
import type { PerformanceVerdict } from '../window/performance-verdict.js';
import { referenceName } from '../window/reference.js';
import type { BaselineSummary } from './ports.js';

const iso = (ms: number) => new Date(ms).toISOString();

/** Store results → API shape: ISO times, `window` label instead of internal size fields. */
export function presentWindow(r: WindowResult) {
  return {
    model: r.model,
    version: r.version,
    window: r.sizeLabel,
    start: iso(r.start),
    end: iso(r.end),
    baselineId: r.baselineId,
    baselineHash: r.baselineHash,
    eventCount: r.eventCount,
    lateCount: r.lateCount,
    closedAt: iso(r.closedAt),
    driftShare: r.driftShare,
    datasetDrift: r.datasetDrift,
    segment: r.segment ?? '',
    reference: presentReference(r),
    provisional: r.provisional,
    prediction: r.prediction ? presentFeature(r.prediction) : null,
    features: r.features.map(presentFeature),
    ...presentLineage(r),
  };
}

/** Which driftd and which config produced a result, and why it was written; null: unrecorded. */
export function presentLineage(r: ResultLineage) {
  return {
    driftdVersion: r.driftdVersion ?? null,
    configHash: r.configHash ?? null,
    revisionReason: r.revisionReason ?? null,
  };
}

/** A performance revision as the history shows it: the stored row, no verdict of today's. */
export function presentPerformanceRow(p: PerformanceResult) {
  return {
    model: p.model,
    version: p.version,
    window: p.sizeLabel,
    start: iso(p.start),
    end: iso(p.end),
    labeled: p.labeled,
    coverage: p.coverage,
    metrics: p.metrics,
    computedAt: iso(p.computedAt),
    ...presentLineage(p),
  };
}

/** The window's reference with ISO times; results from before driftd kept it: the baseline. */
function presentReference(r: WindowResult) {
  const ref = r.reference;
  if (ref === undefined) {
    return {
      kind: 'baseline',
      name: 'baseline',
      windows: 0,
      found: 0,
      start: null,
      end: null,
      eventCount: null,
      note: null,
    };
  }
  return {
    kind: ref.kind,
    name: referenceName(ref),
    windows: ref.windows,
    found: ref.found,
    start: ref.start === null ? null : iso(ref.start),
    end: ref.end === null ? null : iso(ref.end),
    eventCount: ref.eventCount,
    note: ref.note,
  };
}

export function presentFeature(d: FeatureDrift) {
  const { histogram: _omit, ...rest } = d as FeatureDrift & { histogram?: unknown };
  return rest;
}

/** A file path as the API shows it: the name, never the directory (the host's business). */
export const fileName = (path: string) => path.split(/[\\/]/).at(-1) ?? '';

/** Where a stored event came from; a replayed file by its name only. */
export function presentSource(s: EventSource): EventSource {
  return s.kind === 'replay' && s.file !== undefined ? { ...s, file: fileName(s.file) } : s;
}

/**
 * A baseline as the API shows it: its training file by name only (the directory it was imported
 * from is the host's business, not the client's); `hash` identifies the content.
 */
export function presentBaseline(b: BaselineSummary) {
  return {
    ...b,
    source: fileName(b.source),
    createdAt: iso(b.createdAt),
  };
}

export function presentPerformance(
  p: PerformanceResult,
  verdicts: readonly PerformanceVerdict[],
  baseline: { id: string; metrics: Record<string, number> | null } | null = null,
) {
  return {
    model: p.model,
    version: p.version,
    window: p.sizeLabel,
    start: iso(p.start),
    end: iso(p.end),
    segment: p.segment ?? '',
    labeled: p.labeled,
    coverage: p.coverage,
    metrics: p.metrics,
    // Per metric with a threshold in alerts.performance: degraded or not, against which line.
    verdicts: verdicts.map((v) => ({
      metric: v.metric,
      value: v.value,
      threshold: v.threshold,
      baseline: v.baseline,
      limit: v.limit,
      degraded: v.degraded,
      reason: v.reason,
    })),
    computedAt: iso(p.computedAt),
    ...presentLineage(p),
    baseline,
  };
}

/** One severity scale for every test and rule (defined in src/window/verdict.ts). */
export { severity } from '../window/verdict.js';

/**
 * A baseline's profile as the API shows it (GET /api/v1/baselines/{id}): bins, categories,
 * summary statistics, performance, hash and source (by file name). The reservoir sample and
 * the list of every seen category are left out (their sizes are given): they are raw training
 * values, and the bins and summaries describe the distribution.
 */
export function presentBaselineProfile(p: BaselineProfile) {
  const feature = (f: FeatureProfile) => {
    if (f.kind === 'numeric') {
      const { sample, gaps: _gaps, gapSquares: _gapSquares, ...rest } = f;
      return { ...rest, sampleSize: sample.length };
    }
    const { seen, ...rest } = f;
    return { ...rest, ...(seen === undefined ? {} : { seenCount: seen.length }) };
  };
  return {
    id: p.id,
    hash: p.hash,
    model: p.model,
    version: p.version,
    createdAt: iso(p.createdAt),
    source: fileName(p.source),
    rowCount: p.rowCount,
    badRows: p.badRows,
    params: p.params,
    performance: p.performance ?? null,
    hasEstimator: p.cbpe !== undefined,
    features: Object.fromEntries(Object.entries(p.features).map(([k, f]) => [k, feature(f)])),
    prediction: p.prediction === null ? null : feature(p.prediction),
  };
}
