import type { ModelConfig, PerformanceMetric, PerformanceThreshold } from '../config/types.js';
import type { DriftTest, WindowResult } from '../types.js';
import { judgePerformance } from './performance-verdict.js';

/**
 * Retrain episodes: when a model version has drifted, or is estimated to perform worse than its
 * thresholds, for long enough that retraining is the answer, one recommendation is raised per
 * EPISODE, never one per window.
 *
 * Per model version and window size, the windows with a verdict form two runs, counted as the
 * drift runs of src/export/streaks.ts are: dataset drift (a window without a verdict: too few
 * events, or a provisional result found clean, neither extends nor ends the run), and the
 * label-free estimate (CBPE) judged against `alerts.performance` like a realised metric
 * (src/window/performance-verdict.ts; degraded when any configured metric is; a window without
 * an estimate has no verdict). A rewrite of a window replaces its verdicts.
 *
 * - The condition holds for a window size when its drift run is >= `alerts.retrain.driftWindows`
 *   or its degradation run is >= `alerts.retrain.estimatedDegradationWindows`.
 * - An episode OPENS when the condition holds for some window size of a version without an open
 *   episode: one recommendation, whose evidence is that size's run (its windows, the features
 *   that drifted with their effect sizes, the estimates against their limits).
 * - It CLOSES when the condition holds for none of the version's window sizes any more, i.e. at
 *   the first window with a verdict that is clean on both counts (a run ends there) in every
 *   size that held it. A new run of the same length then opens a new episode.
 *
 * Pure: the caller stores the transitions (src/ingest/retrain-writer.ts), and on startup feeds
 * back the stored windows (`seed`) and open episodes (`restoreOpen`), then `reconcile`s, so a
 * restart in the middle of an episode raises no second recommendation.
 */

/** Windows kept per version and size beyond the longest run a config asks for (rewrites). */
const SLACK = 8;

export interface RetrainFeature {
  feature: string;
  test: DriftTest;
  /** The effect size its verdict used (src/types.ts FeatureDrift.effect). */
  effect: number;
  statistic: number;
}

export interface RetrainEstimate {
  metric: PerformanceMetric;
  value: number;
  threshold: PerformanceThreshold;
  limit: number;
  degraded: boolean;
}

/** One window of a run, as the recommendation records it. */
export interface RetrainWindow {
  start: number;
  end: number;
  /** Dataset drift verdict; null = none (see above). */
  drifted: boolean | null;
  driftShare: number;
  /** Features that drifted in the window. */
  features: RetrainFeature[];
  /** Estimate verdicts (only the metrics with one); empty without an estimate. */
  estimates: RetrainEstimate[];
  /** Estimate degraded on some metric; null = no verdict. */
  degraded: boolean | null;
}

export type RetrainTrigger = 'drift' | 'estimated_degradation';

export interface RetrainRecommendation {
  /** Stable per episode: `<window>@<first window start ISO>`, unique per model version. */
  id: string;
  model: string;
  version: string;
  status: 'open' | 'closed';
  /** What held when it opened. */
  triggers: RetrainTrigger[];
  /** The window size whose run opened it. */
  window: string;
  /** The settings in force when it opened. */
  driftWindows: number;
  estimatedDegradationWindows: number;
  /** Wall clock, epoch ms. */
  openedAt: number;
  closedAt: number | null;
  /** The run that opened it, oldest first. */
  windows: RetrainWindow[];
  /** Per feature drifted in the run: in how many of its windows, and its largest effect. */
  features: Array<{ feature: string; test: DriftTest; windows: number; maxEffect: number }>;
  /** The config hash of the model when it opened (lineage). */
  configHash: string;
}

export interface RetrainEpisodes {
  /**
   * A written window result of a model version; `estimated` = its label-free estimate as
   * metric → value (absent: none). Answers the episode opened or closed by it, if any.
   */
  observe(input: RetrainInput, model: ModelConfig, ctx: JudgeContext): RetrainRecommendation | null;
  /** Startup: a stored window (oldest first), without any transition. */
  seed(input: RetrainInput, model: ModelConfig, ctx: JudgeContext): void;
  /** Startup: an episode the store holds as open. */
  restoreOpen(rec: RetrainRecommendation): void;
  /**
   * Startup, after seed and restoreOpen: the transitions the stored windows call for (an
   * episode whose close, or opening, was not written before a stop).
   */
  reconcile(model: ModelConfig, ctx: JudgeContext): RetrainRecommendation[];
  /** Open episodes (gauge, API). */
  open(): RetrainRecommendation[];
  /**
   * A retired model version (no more windows): its windows are dropped; an open episode is
   * kept (one record) until a result of the version closes it or a restart reconciles it.
   */
  retire(model: string, version: string): void;
  /** Versions held (tests, bounds). */
  size(): number;
}

export interface JudgeContext {
  /** The version's baseline performance (relative thresholds), if any. */
  baseline: Readonly<Record<string, number>> | undefined;
  /** Wall clock, epoch ms. */
  now: number;
  configHash: string;
}

/** A window result reduced to what the episodes use. */
export interface RetrainInput {
  model: string;
  version: string;
  sizeLabel: string;
  start: number;
  end: number;
  provisional: boolean;
  datasetDrift: boolean;
  /** No feature had a verdict. */
  insufficient: boolean;
  driftShare: number;
  features: RetrainFeature[];
  estimated: Record<string, number> | null;
}

/** The input of a window result; `estimated` defaults to the result's own estimate. */
export function retrainInput(
  r: WindowResult,
  estimated: Record<string, number> | null = estimateValues(r),
): RetrainInput {
  return {
    model: r.model,
    version: r.version,
    sizeLabel: r.sizeLabel,
    start: r.start,
    end: r.end,
    provisional: r.provisional,
    datasetDrift: r.datasetDrift,
    insufficient: r.features.every((f) => f.insufficient),
    driftShare: r.driftShare,
    features: r.features
      .filter((f) => f.drifted && !f.insufficient)
      .map((f) => ({ feature: f.feature, test: f.test, effect: f.effect, statistic: f.statistic })),
    estimated,
  };
}

function estimateValues(r: WindowResult): Record<string, number> | null {
  if (!r.estimate) return null;
  const out: Record<string, number> = {};
  for (const [metric, e] of Object.entries(r.estimate.metrics)) {
    if (e.value !== null && Number.isFinite(e.value)) out[metric] = e.value;
  }
  return out;
}

/** Stored performance keys (`estimated_<metric>`, src/window/performance.ts) → metric → value. */
export function storedEstimate(metrics: Readonly<Record<string, number>>): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [k, v] of Object.entries(metrics)) {
    if (!k.startsWith('estimated_') || k.endsWith('_lower') || k.endsWith('_upper')) continue;
    if (Number.isFinite(v)) out[k.slice('estimated_'.length)] = v;
  }
  return out;
}

function windowOf(input: RetrainInput, model: ModelConfig, ctx: JudgeContext): RetrainWindow {
  // The same "no verdict" rule as the drift runs: an open window found clean may fill up yet.
  const drifted =
    input.insufficient || (input.provisional && !input.datasetDrift) ? null : input.datasetDrift;
  const estimates: RetrainEstimate[] = [];
  if (input.estimated !== null) {
    for (const v of judgePerformance(
      { metrics: input.estimated, coverage: 1 },
      model,
      ctx.baseline,
    )) {
      if (v.degraded === null || v.value === null || v.limit === null) continue;
      estimates.push({
        metric: v.metric,
        value: v.value,
        threshold: v.threshold,
        limit: v.limit,
        degraded: v.degraded,
      });
    }
  }
  let degraded: boolean | null = estimates.length === 0 ? null : estimates.some((e) => e.degraded);
  if (input.provisional && degraded === false) degraded = null;
  return {
    start: input.start,
    end: input.end,
    drifted,
    driftShare: input.driftShare,
    features: input.features,
    estimates,
    degraded,
  };
}

/** The trailing run of `key` (windows without a verdict skipped), oldest first. */
function runOf(windows: readonly RetrainWindow[], key: 'drifted' | 'degraded'): RetrainWindow[] {
  const run: RetrainWindow[] = [];
  for (let i = windows.length - 1; i >= 0; i--) {
    const v = windows[i]![key];
    if (v === false) break;
    if (v === true) run.unshift(windows[i]!);
  }
  return run;
}

interface Held {
  sizeLabel: string;
  triggers: RetrainTrigger[];
  run: RetrainWindow[];
}

function holds(
  sizeLabel: string,
  windows: readonly RetrainWindow[],
  model: ModelConfig,
): Held | null {
  const { driftWindows, estimatedDegradationWindows } = model.alerts.retrain;
  const drift = runOf(windows, 'drifted');
  const degraded = runOf(windows, 'degraded');
  const triggers: RetrainTrigger[] = [];
  if (drift.length >= driftWindows) triggers.push('drift');
  if (degraded.length >= estimatedDegradationWindows) triggers.push('estimated_degradation');
  if (triggers.length === 0) return null;
  // The evidence: every window of the runs that hold, oldest first, once each.
  const byStart = new Map<number, RetrainWindow>();
  if (triggers.includes('drift')) for (const w of drift) byStart.set(w.start, w);
  if (triggers.includes('estimated_degradation')) for (const w of degraded) byStart.set(w.start, w);
  const run = [...byStart.values()].sort((a, b) => a.start - b.start);
  return { sizeLabel, triggers, run };
}

function recommendationOf(
  model: ModelConfig,
  version: string,
  held: Held,
  ctx: JudgeContext,
): RetrainRecommendation {
  const features = new Map<
    string,
    { feature: string; test: DriftTest; windows: number; maxEffect: number }
  >();
  for (const w of held.run) {
    for (const f of w.features) {
      const s = features.get(f.feature);
      if (s === undefined) {
        features.set(f.feature, {
          feature: f.feature,
          test: f.test,
          windows: 1,
          maxEffect: f.effect,
        });
      } else {
        s.windows++;
        s.maxEffect = Math.max(s.maxEffect, f.effect);
      }
    }
  }
  const first = held.run[0]!;
  return {
    id: `${held.sizeLabel}@${new Date(first.start).toISOString()}`,
    model: model.id,
    version,
    status: 'open',
    triggers: held.triggers,
    window: held.sizeLabel,
    driftWindows: model.alerts.retrain.driftWindows,
    estimatedDegradationWindows: model.alerts.retrain.estimatedDegradationWindows,
    openedAt: ctx.now,
    closedAt: null,
    windows: held.run,
    features: [...features.values()].sort(
      (a, b) =>
        b.windows - a.windows || b.maxEffect - a.maxEffect || (a.feature < b.feature ? -1 : 1),
    ),
    configHash: ctx.configHash,
  };
}

interface VersionState {
  /** Per window size: windows with any verdict, ascending starts. */
  sizes: Map<string, RetrainWindow[]>;
  open: RetrainRecommendation | null;
}

const versionKey = (model: string, version: string) => `${model}\u0000${version}`;

export function createRetrainEpisodes(): RetrainEpisodes {
  const versions = new Map<string, VersionState>();

  function stateOf(model: string, version: string): VersionState {
    const key = versionKey(model, version);
    let s = versions.get(key);
    if (s === undefined) {
      s = { sizes: new Map(), open: null };
      versions.set(key, s);
    }
    return s;
  }

  function place(s: VersionState, input: RetrainInput, model: ModelConfig, ctx: JudgeContext) {
    const w = windowOf(input, model, ctx);
    let list = s.sizes.get(input.sizeLabel);
    if (list === undefined) {
      list = [];
      s.sizes.set(input.sizeLabel, list);
    }
    let i = list.length;
    while (i > 0 && list[i - 1]!.start > w.start) i--;
    const replace = i > 0 && list[i - 1]!.start === w.start;
    const none = w.drifted === null && w.degraded === null;
    if (replace) {
      if (none) list.splice(i - 1, 1);
      else list[i - 1] = w;
    } else if (!none) {
      list.splice(i, 0, w);
    }
    const { driftWindows, estimatedDegradationWindows } = model.alerts.retrain;
    const keep = Math.max(driftWindows, estimatedDegradationWindows) + SLACK;
    if (list.length > keep) list.splice(0, list.length - keep);
  }

  function firstHeld(s: VersionState, model: ModelConfig): Held | null {
    // Window sizes in config order: the first that holds opens the episode.
    const order = model.windows.sizes.map((z) => z.label);
    for (const label of [...order, ...[...s.sizes.keys()].filter((l) => !order.includes(l))]) {
      const list = s.sizes.get(label);
      if (list === undefined) continue;
      const h = holds(label, list, model);
      if (h !== null) return h;
    }
    return null;
  }

  function transition(
    s: VersionState,
    version: string,
    model: ModelConfig,
    ctx: JudgeContext,
  ): RetrainRecommendation | null {
    const held = firstHeld(s, model);
    if (s.open === null && held !== null) {
      s.open = recommendationOf(model, version, held, ctx);
      return s.open;
    }
    if (s.open !== null && held === null) {
      const closed: RetrainRecommendation = { ...s.open, status: 'closed', closedAt: ctx.now };
      s.open = null;
      return closed;
    }
    return null;
  }

  return {
    observe(input, model, ctx) {
      const s = stateOf(input.model, input.version);
      place(s, input, model, ctx);
      return transition(s, input.version, model, ctx);
    },
    seed(input, model, ctx) {
      place(stateOf(input.model, input.version), input, model, ctx);
    },
    restoreOpen(rec) {
      stateOf(rec.model, rec.version).open = rec;
    },
    reconcile(model, ctx) {
      const out: RetrainRecommendation[] = [];
      for (const [key, s] of versions) {
        const [id, version] = key.split('\u0000') as [string, string];
        if (id !== model.id) continue;
        const t = transition(s, version, model, ctx);
        if (t !== null) out.push(t);
      }
      return out;
    },
    open() {
      return [...versions.values()].flatMap((s) => (s.open === null ? [] : [s.open]));
    },
    retire(model, version) {
      const key = versionKey(model, version);
      const s = versions.get(key);
      if (s === undefined) return;
      if (s.open === null) versions.delete(key);
      else s.sizes.clear();
    },
    size: () => versions.size,
  };
}
