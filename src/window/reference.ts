import type { ModelConfig, ReferenceConfig } from '../config/types.js';
import type { CategoricalSketchSnapshot, NumericSketchView, SketchView } from '../stats/index.js';
import type {
  BaselineProfile,
  CategoricalProfile,
  FeatureProfile,
  NumericProfile,
  ResultReference,
  WindowBounds,
} from '../types.js';
import { previousWindow, UTC, type WindowSpan } from './identity.js';
import { createWindowState, type WindowState, type WindowStateSnapshot } from './state.js';

/*
 * The reference a window is compared with (models[].reference):
 * - baseline (default): the training baseline.
 * - previous: the window just before it (same version and size; for a daily window the
 *   previous local day, src/window/identity.ts).
 * - rolling N: the sum of the N windows before it.
 *
 * Window references are sums of closed windows' sketches. Every window's sketches are counts
 * over its baseline's bins (fine quantile bins, categories), so the sum is exact addition, and
 * the sum is compared with the window by the very code that compares it with the baseline:
 * the reference's counts take the place of the baseline's (`referenceProfile`). So a window
 * reference needs the baseline: its bins are the bins, its test choice (the baseline's size
 * and distinct values) the test, its standard deviation the scale of normed Wasserstein, its
 * categories the "unseen" of unseenRatio; and only windows built on the same baseline are
 * summed (a new baseline starts the references over).
 *
 * Which windows: the N windows before the window in its grid, by identity (not by arrival),
 * so a replay, a restart or a recompute find the same ones. Windows without events do not
 * exist and are not counted; the reference says how many of the N it found and why not all
 * (`ResultReference.note`). With none, or with fewer non-missing values of a feature than
 * drift.minWindowSize, the feature's verdict is "insufficient reference" (insufficient, with
 * insufficientReason 'reference'), not drift.
 *
 * Calibration: the reference is a sample of N_ref events, not a population, so the null
 * accounts for both samples. KS runs at n_eff = n·N_ref/(n + N_ref), as against a baseline;
 * chi-square keeps Pearson's law only when every expected cell of the two-sample table is
 * ≥ 5; every other p-value comes from a permutation test of the pooled events
 * (src/stats/two-sample-null.ts), which stays exact however sparse the reference's bins.
 * Measured by test/calibration/reference.test.ts; see docs/calibration.md.
 *
 * Memory: the window manager keeps the last N final closed windows per (version, size), N ≤
 * MAX_REFERENCE_WINDOWS; they are part of its snapshot, so a restart resumes with them.
 */

/** A closed window's reference, resolved when it closed (ClosedWindow.reference). */
export interface WindowReference {
  kind: 'previous' | 'rolling';
  /** Windows asked for. */
  windows: number;
  /** The sum of the windows found, on the window's baseline; null when none was found. */
  state: WindowState | null;
  /** The windows summed, oldest first. */
  spans: WindowSpan[];
  /** Why fewer than `windows` were summed; null when all were. */
  note: string | null;
}

/** Persisted form of a WindowReference (manager snapshots). */
export interface WindowReferenceSnapshot {
  kind: 'previous' | 'rolling';
  windows: number;
  state: WindowStateSnapshot | null;
  spans: WindowSpan[];
  note: string | null;
}

const BASELINE: ReferenceConfig = Object.freeze({ kind: 'baseline', windows: 0 });

/** The model's reference (the baseline when not configured). */
export function referenceConfig(model: ModelConfig): ReferenceConfig {
  return model.reference ?? BASELINE;
}

/** Closed windows a version keeps per size for its references. */
export function historyLength(model: ModelConfig): number {
  return referenceConfig(model).windows;
}

/**
 * The reference of the window `bounds` (built on `baseline`) among `history`, the closed
 * windows kept for its version and size.
 */
export function resolveReference(opts: {
  model: ModelConfig;
  bounds: WindowBounds;
  baseline: BaselineProfile;
  history: readonly WindowState[];
}): WindowReference | undefined {
  const { model, bounds, baseline, history } = opts;
  const cfg = referenceConfig(model);
  if (cfg.kind === 'baseline') return undefined;
  const wanted = new Set<number>();
  let b = bounds;
  for (let i = 0; i < cfg.windows; i++) {
    b = previousWindow(b, model.timeZone ?? UTC);
    wanted.add(b.start);
  }
  const found: WindowState[] = [];
  const otherBaselines = new Set<string>();
  for (const h of history) {
    if (!wanted.has(h.bounds.start) || h.bounds.sizeLabel !== bounds.sizeLabel) continue;
    if (h.baselineId === baseline.id) found.push(h);
    else otherBaselines.add(h.baselineId);
  }
  found.sort((x, y) => x.bounds.start - y.bounds.start);
  const what =
    cfg.kind === 'previous' ? 'the previous window' : `the ${cfg.windows} windows before`;
  let note: string | null = null;
  if (otherBaselines.size > 0) {
    note = `${otherBaselines.size === 1 ? 'a window' : 'windows'} of ${what} ${otherBaselines.size === 1 ? 'was' : 'were'} built on baseline ${[...otherBaselines].join(', ')}, not this window's ${baseline.id}: window references sum the baseline's bins, so they start over with a new baseline`;
  } else if (found.length === 0) {
    note = `no closed window in ${what} (the first window of this version, or ${cfg.kind === 'previous' ? 'it' : 'they'} had no events)`;
  } else if (found.length < cfg.windows) {
    note = `${found.length} of ${cfg.windows} windows found (the others had no events)`;
  }
  if (found.length === 0)
    return { kind: cfg.kind, windows: cfg.windows, state: null, spans: [], note };
  const first = found[0]!.bounds;
  const last = found[found.length - 1]!.bounds;
  const refBounds: WindowBounds = { ...bounds, start: first.start, end: last.end };
  const state = createWindowState({ bounds: refBounds, model, baseline });
  for (const h of found) state.merge({ ...h.snapshot(), bounds: refBounds });
  return {
    kind: cfg.kind,
    windows: cfg.windows,
    state,
    spans: found.map((h) => ({ start: h.bounds.start, end: h.bounds.end })),
    note,
  };
}

export function snapshotReference(r: WindowReference): WindowReferenceSnapshot {
  return { ...r, state: r.state === null ? null : r.state.snapshot(), spans: [...r.spans] };
}

export function restoreReference(
  r: WindowReferenceSnapshot,
  model: ModelConfig,
  baseline: BaselineProfile,
): WindowReference {
  return {
    ...r,
    state:
      r.state === null
        ? null
        : createWindowState({ bounds: r.state.bounds, model, baseline }, r.state),
  };
}

/** The lineage of a result's reference. */
export function describeReference(
  model: ModelConfig,
  baseline: BaselineProfile,
  reference: WindowReference | undefined,
  eventCount: number,
): ResultReference {
  const cfg = referenceConfig(model);
  if (cfg.kind === 'baseline') {
    return {
      kind: 'baseline',
      windows: 0,
      found: 0,
      start: null,
      end: null,
      eventCount: baseline.rowCount,
      note: null,
    };
  }
  const spans = reference?.spans ?? [];
  return {
    kind: cfg.kind,
    windows: cfg.windows,
    found: spans.length,
    start: spans[0]?.start ?? null,
    end: spans[spans.length - 1]?.end ?? null,
    eventCount,
    note:
      reference === undefined
        ? 'no reference windows were given to the evaluation'
        : reference.note,
  };
}

/** "baseline", "previous" or "rolling:N": the reference's name in the store and metrics. */
export function referenceName(r: Pick<ResultReference, 'kind' | 'windows'>): string {
  return r.kind === 'rolling' ? `rolling:${r.windows}` : r.kind;
}

/** The reference of a stored row: its name plus the window-level columns. */
export function parseReference(
  name: string,
  rest: Omit<ResultReference, 'kind' | 'windows'>,
): ResultReference {
  const rolling = /^rolling:(\d+)$/.exec(name);
  if (rolling !== null) return { kind: 'rolling', windows: Number(rolling[1]), ...rest };
  if (name === 'previous') return { kind: 'previous', windows: 1, ...rest };
  return { kind: 'baseline', windows: 0, ...rest };
}

/**
 * The baseline with its counts replaced by the reference's (bins, test choice inputs, summary
 * and categories stay the baseline's); every count 0 when `view` is null (no reference).
 */
export function referenceProfile(
  baseline: BaselineProfile,
  view: {
    features: Record<string, SketchView>;
    prediction: SketchView | null;
    count: number;
  } | null,
): BaselineProfile {
  const features: Record<string, FeatureProfile> = {};
  for (const [name, profile] of Object.entries(baseline.features)) {
    features[name] = derive(profile, view?.features[name]);
  }
  return {
    ...baseline,
    rowCount: view?.count ?? 0,
    features,
    prediction:
      baseline.prediction === null
        ? null
        : derive(baseline.prediction, view?.prediction ?? undefined),
  };
}

function derive(profile: FeatureProfile, sketch: SketchView | undefined): FeatureProfile {
  if (profile.kind === 'numeric') {
    const s = sketch?.kind === 'numeric' ? (sketch as NumericSketchView) : undefined;
    const k = profile.edges.length;
    const out: NumericProfile = {
      ...profile,
      counts: s === undefined ? new Array<number>(k).fill(0) : Array.from(s.counts),
      missing: s === undefined ? 0 : s.missing,
      nan: s === undefined ? 0 : s.nan,
      below: s?.below ?? 0,
      above: s?.above ?? 0,
      sample: [],
    };
    if (s?.gaps !== undefined && s.gapSquares !== undefined) {
      out.gaps = Array.from(s.gaps);
      out.gapSquares = Array.from(s.gapSquares);
      out.belowGap = s.belowGap ?? 0;
      out.aboveGap = s.aboveGap ?? 0;
    } else {
      delete out.gaps;
      delete out.gapSquares;
    }
    return out;
  }
  const s = sketch?.kind === 'categorical' ? (sketch as CategoricalSketchSnapshot) : undefined;
  const out: CategoricalProfile = {
    ...profile,
    counts: s === undefined ? new Array<number>(profile.categories.length).fill(0) : [...s.counts],
    other: s?.other ?? 0,
    missing: s?.missing ?? 0,
  };
  return out;
}
