import type { ComparisonConfig, ModelConfig } from '../config/types.js';
import type { CbpeEstimate } from '../stats/index.js';
import type { BaselineProfile, WindowBounds } from '../types.js';
import type { PairedMetric, ShadowAgreement, VersionComparison } from './comparison-types.js';
import { evaluateWindow } from './evaluate.js';
import type { WindowState } from './state.js';

/*
 * Champion/challenger comparison (models[].comparison): per window span, each challenger's
 * window tested against the champion's window of the same span (same size, same start).
 *
 * The test is the window-reference path of src/window/reference.ts: the champion's window
 * takes the baseline's place with its own counts (`referenceProfile`), so the tests, the
 * two-sample calibration (KS at n_eff, Pearson's χ² only with every expected cell ≥ 5, else
 * the permutation null) and the verdict rule are the very ones of `reference: previous`, as
 * measured by test/calibration/reference.test.ts. That needs both windows built on the same
 * baseline (sketch counts are over the baseline's bins); when the versions have baselines of
 * their own, their bins differ and the comparison carries no drift verdict (features [] and
 * prediction null), only traffic and performance.
 *
 * When: once both versions' final windows of the span are closed (a provisional result of a
 * quiet window does not count), whichever closes last. Versions close at their own
 * watermarks, so the tracker holds a window until its partner arrives.
 *
 * Memory (bounded): per (model, window size), the spans of the last MAX_PENDING_SPANS starts
 * seen. For each span: the event count of every version (traffic share), the champion's
 * window state (kept for challengers still to come) and the state of each challenger whose
 * champion window has not closed yet (dropped once compared). Versions in no pair keep no
 * state. A partner closing after its span was evicted finds nothing: no comparison for that
 * span. Not checkpointed: a restart between the two closes of a span loses its comparison.
 */

/** Spans kept per (model, window size) while their versions close. */
export const MAX_PENDING_SPANS = 4;

/** A version's final window, as the comparison needs it. */
export interface ComparedWindow {
  bounds: WindowBounds;
  state: WindowState;
  baseline: BaselineProfile;
  closedAt: number;
  /** The window's label-free estimate (WindowResult.estimate), when the baseline has one. */
  estimate?: CbpeEstimate | undefined;
}

export interface TrafficShare {
  model: string;
  version: string;
  window: string;
  start: number;
  /** The version's events / all versions' events in the span (the windows closed so far). */
  share: number;
}

export interface ComparisonTracker {
  /**
   * A version's final window of `model`: the comparisons it completes (none when its partner
   * has not closed yet) and the traffic shares of the span's versions as they stand now.
   */
  add(
    w: ComparedWindow,
    model: ModelConfig,
  ): { comparisons: VersionComparison[]; shares: TrafficShare[] };
  /** Windows held (tests: the memory bound). */
  held(): number;
}

interface Span {
  start: number;
  counts: Map<string, number>;
  windows: Map<string, ComparedWindow>;
}

/** Whether `version` is compared with the champion under `cfg`. */
export function isChallenger(cfg: ComparisonConfig, version: string): boolean {
  if (version === cfg.champion) return false;
  return cfg.challengers === null || cfg.challengers.includes(version);
}

export function createComparisonTracker(): ComparisonTracker {
  /** `model\0size` → spans, oldest first. */
  const grids = new Map<string, Span[]>();

  function spanOf(b: WindowBounds): Span | undefined {
    const key = `${b.model}\0${b.sizeLabel}`;
    let spans = grids.get(key);
    if (spans === undefined) {
      spans = [];
      grids.set(key, spans);
    }
    let span = spans.find((s) => s.start === b.start);
    if (span === undefined) {
      span = { start: b.start, counts: new Map(), windows: new Map() };
      spans.push(span);
      spans.sort((x, y) => x.start - y.start);
      while (spans.length > MAX_PENDING_SPANS) spans.shift();
    }
    // Evicted at once: older than every span kept.
    return spans.includes(span) ? span : undefined;
  }

  return {
    add(w, model) {
      const b = w.bounds;
      const span = spanOf(b);
      if (span === undefined) return { comparisons: [], shares: [] };
      span.counts.set(b.version, w.state.count);
      let total = 0;
      for (const n of span.counts.values()) total += n;
      const shares: TrafficShare[] = [...span.counts].map(([version, n]) => ({
        model: b.model,
        version,
        window: b.sizeLabel,
        start: b.start,
        share: total > 0 ? n / total : 0,
      }));
      const cfg = model.comparison;
      const comparisons: VersionComparison[] = [];
      if (cfg === undefined) return { comparisons, shares };
      if (b.version === cfg.champion) {
        span.windows.set(b.version, w);
        for (const [version, other] of [...span.windows]) {
          if (!isChallenger(cfg, version)) continue;
          comparisons.push(compareWindows(w, other, model));
          span.windows.delete(version);
        }
      } else if (isChallenger(cfg, b.version)) {
        const champion = span.windows.get(cfg.champion);
        if (champion === undefined) span.windows.set(b.version, w);
        else comparisons.push(compareWindows(champion, w, model));
      }
      return { comparisons, shares };
    },
    held() {
      let n = 0;
      for (const spans of grids.values()) for (const s of spans) n += s.windows.size;
      return n;
    },
  };
}

/**
 * The challenger's window against the champion's of the same span (see the module comment),
 * with traffic and estimated performance; realised {} and shadow null (filled in later).
 */
export function compareWindows(
  champion: ComparedWindow,
  challenger: ComparedWindow,
  model: ModelConfig,
): VersionComparison {
  const a = champion.state.count;
  const b = challenger.state.count;
  const drift = driftBetween(champion, challenger, model);
  return {
    model: model.id,
    champion: champion.bounds.version,
    challenger: challenger.bounds.version,
    window: challenger.bounds.sizeLabel,
    windowStart: challenger.bounds.start,
    windowEnd: challenger.bounds.end,
    championEvents: a,
    challengerEvents: b,
    challengerShare: a + b > 0 ? b / (a + b) : null,
    features: drift?.features ?? [],
    prediction: drift?.prediction ?? null,
    estimated: pairEstimates(champion.estimate, challenger.estimate),
    realised: {},
    shadow: null,
  };
}

function driftBetween(
  champion: ComparedWindow,
  challenger: ComparedWindow,
  model: ModelConfig,
): { features: VersionComparison['features']; prediction: VersionComparison['prediction'] } | null {
  const baseline = challenger.baseline;
  if (champion.state.baselineId !== baseline.id || challenger.state.baselineId !== baseline.id) {
    return null;
  }
  const span = { start: champion.bounds.start, end: champion.bounds.end };
  const result = evaluateWindow(
    {
      state: challenger.state,
      closedAt: challenger.closedAt,
      reason: 'watermark',
      reference: { kind: 'previous', windows: 1, state: champion.state, spans: [span], note: null },
    },
    baseline,
    { ...model, reference: { kind: 'previous', windows: 1 } },
  );
  return { features: result.features, prediction: result.prediction };
}

/** Metrics estimated label-free (CBPE) for both versions, by name. */
export function pairEstimates(
  champion: CbpeEstimate | undefined,
  challenger: CbpeEstimate | undefined,
): Record<string, PairedMetric> {
  const out: Record<string, PairedMetric> = {};
  if (champion === undefined && challenger === undefined) return out;
  const names = new Set([
    ...Object.keys(champion?.metrics ?? {}),
    ...Object.keys(challenger?.metrics ?? {}),
  ]);
  for (const name of names) {
    const x = champion?.metrics[name as keyof CbpeEstimate['metrics']];
    const y = challenger?.metrics[name as keyof CbpeEstimate['metrics']];
    const cv = x?.value ?? null;
    const yv = y?.value ?? null;
    const both = cv !== null && yv !== null;
    const se =
      both && x?.standardError != null && y?.standardError != null
        ? Math.sqrt(x.standardError ** 2 + y.standardError ** 2)
        : null;
    out[name] = {
      champion: cv,
      challenger: yv,
      difference: both ? yv - cv : null,
      standardError: se,
    };
  }
  return out;
}

/**
 * Realised metrics of both versions from their performance records (labels), by name; the
 * estimate's keys (`estimated_*`, `estimate_gap_*`) are not realised metrics.
 */
export function pairRealised(
  champion: Readonly<Record<string, number>> | undefined,
  challenger: Readonly<Record<string, number>> | undefined,
): Record<string, PairedMetric> {
  const out: Record<string, PairedMetric> = {};
  const realised = (k: string) => !k.startsWith('estimated_') && !k.startsWith('estimate_gap_');
  const names = new Set(
    [...Object.keys(champion ?? {}), ...Object.keys(challenger ?? {})].filter(realised),
  );
  for (const name of names) {
    const cv = champion?.[name] ?? null;
    const yv = challenger?.[name] ?? null;
    out[name] = {
      champion: cv,
      challenger: yv,
      difference: cv !== null && yv !== null ? yv - cv : null,
      standardError: null,
    };
  }
  return out;
}

export type { ShadowAgreement, VersionComparison };
