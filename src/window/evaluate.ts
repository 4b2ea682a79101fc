import { modelConfigHash } from '../config/hash.js';
import type { FeatureConfig, ModelConfig } from '../config/types.js';
import { InvalidInputError } from '../errors.js';
import { type BinnedSide, wassersteinOfBins } from '../stats/binned-wasserstein.js';
import type {
  CategoricalSketchSnapshot,
  CbpeEstimate,
  CbpeSnapshot,
  NumericSketchView,
  SketchView,
  TestChoice,
} from '../stats/index.js';
import {
  binnedKsTest,
  chiSquareTest,
  chooseTest,
  createCbpeSketch,
  jensenShannonDistance,
  NULL_MAX_SIZE,
  psi,
} from '../stats/index.js';
import { GAP_STEPS, outOfRangeStep } from '../stats/sketch.js';
import { kolmogorovSurvival } from '../stats/special.js';
import { twoSampleNull } from '../stats/two-sample-null.js';
import type {
  BaselineProfile,
  CategoricalProfile,
  DriftTest,
  FeatureDrift,
  FeatureProfile,
  NumericProfile,
  RevisionReason,
  WindowResult,
} from '../types.js';
import { VERSION } from '../version.js';
import { flagStraddles, noteBound } from './bounds.js';
import { windowName } from './identity.js';
import type { ClosedWindow, CloseReason } from './manager.js';
import {
  describeReference,
  referenceConfig,
  referenceProfile,
  type WindowReference,
} from './reference.js';
import type { WindowState, WindowStateSnapshot } from './state.js';
import type { FeatureRule } from './verdict.js';
import {
  applyVerdicts,
  decide,
  isPValueTest,
  modelEffectFloor,
  NULL_SCALE,
  simulatedNull,
} from './verdict.js';

/*
 * Drift verdict of one closed window against its baseline. Pure and deterministic: the same
 * window state, baseline and config always give the same result (closedAt comes from the
 * window), so any verdict can be re-derived offline from the stored state.
 *
 * Per feature (in model-config order; configured features the baseline does not profile are
 * left out — there is nothing to compare them with):
 * - test: the feature's configured test, else `chooseTest` on the baseline (referenceSize =
 *   the profile's non-missing rows, distinctValues = the profile's exact distinct count, for
 *   numeric profiles too; only profiles from before driftd-baseline/2, which lack it, fall back
 *   to the number of fine edges, which overcounts: 5 equally frequent values make 9 edges,
 *   interpolated between the atoms). A configured test that
 *   makes no sense for the type (KS/Wasserstein on a categorical feature) falls back to the
 *   automatic choice; config validation should have refused it.
 * - numeric: PSI over the profile's coarse bins and binned KS over the fine bins are always
 *   computed (`psi`, `ksStatistic`, `ksBound`), whatever the test. Values below / above the
 *   baseline range get a bin of their own at each end for KS, chi-square, Jensen-Shannon and
 *   Wasserstein, and fall in the first / last coarse bin for PSI (open-ended deciles).
 *   Jensen-Shannon is in natural logarithms (SciPy's default base, Evidently's scale for its
 *   0.1 threshold). Wasserstein is `binnedWasserstein` on the per-bin gap sums, normed by the
 *   baseline's population std.
 * - bounds: `statisticBound` is the chosen statistic's error bound against its value on the
 *   raw data (KS, Wasserstein; null for PSI, chi-square and Jensen-Shannon, which are defined
 *   on the bins), and `boundStraddlesThreshold` says when the exact value could lie on the
 *   other side of the threshold (src/window/bounds.ts, after the verdicts).
 * - categorical: the baseline's categories + "other"; window values outside the categories
 *   (seen in the baseline beyond its top-N, or never seen) count in "other". PSI over the same
 *   bins. `otherRatio` = other / count; `unseenRatio` = values never seen in the baseline
 *   (neither a category nor in the profile's `seen` list) / count.
 * - count = non-missing values in the window; NaN counts as missing.
 *
 * Verdicts (the rule and its references: src/window/verdict.ts):
 * - insufficient = count < drift.minWindowSize: no verdict (drifted false, p-values null,
 *   left out of the drift share), statistics still reported when count > 0.
 * - every test gets a p-value at the window's size (KS and chi-square from their laws, PSI,
 *   Jensen-Shannon and Wasserstein from a null simulated from the baseline's bins), and an
 *   effect (`effect`); Benjamini–Hochberg runs across every feature with a verdict at
 *   drift.fdr; calibrated: drifted = adjusted p ≤ the feature's α AND effect ≥ its floor;
 *   a feature with a fixed `threshold` (or drift.verdict = threshold) keeps the fixed rule.
 * - KS on the fine bins (`ksStatistic`, `ksBound`, `ksPValue`) is reported for every numeric
 *   feature, whatever its test.
 * - driftShare = drifted / features with a verdict (0 when none has one);
 *   datasetDrift = a verdict exists and driftShare ≥ drift.shareThreshold.
 * - The prediction is evaluated like a feature, on its own: not in the BH family (its adjusted
 *   p-value is its raw p-value) and not in the drift share.
 */

/** chi-square keeps Pearson's χ² law while every expected window count is at least this. */
const COCHRAN_MIN_EXPECTED = 5;

/** Threshold of the distance tests when neither the feature nor chooseTest gives one. */
const DEFAULT_DISTANCE_THRESHOLD = 0.1;
const OTHER_LABEL = '__other__';

/** Whatever evaluateWindow needs from a closed window; a merged snapshot works too. */
export interface EvaluableWindow {
  state: WindowState | WindowStateSnapshot;
  closedAt: number;
  /** How the window was closed; 'idle' is a provisional result of a still-open window. */
  reason?: CloseReason;
  /** Why its result is written, when not the close itself (a replay, a restart). */
  revisionReason?: RevisionReason;
  /** The window reference (models[].reference previous / rolling), resolved at close. */
  reference?: WindowReference | undefined;
}

/** How one feature is evaluated against its reference. */
interface Against {
  /** The baseline's profile of the feature: test choice (and the bins, scale and categories). */
  base: FeatureProfile;
  /** A window reference (its size must reach drift.minWindowSize too). */
  windows: boolean;
}

/**
 * The drift result of a closed window.
 *
 * @param closed a `ClosedWindow` from the manager, or any window state (e.g. merged from
 *   several instances) with its close time
 * @param baseline the baseline the window was built on (`ClosedWindow.baseline`)
 * @throws InvalidInputError when the state was built on another baseline or its sketches do
 *   not fit the baseline's bins
 */
export function evaluateWindow(
  closed: EvaluableWindow | ClosedWindow,
  baseline: BaselineProfile,
  model: ModelConfig,
): WindowResult {
  // A live state is read through its view: no copy of the per-bin arrays.
  const snap = 'view' in closed.state ? closed.state.view() : closed.state;
  if (snap.baselineId !== baseline.id) {
    throw new InvalidInputError(
      `window ${windowName(snap.bounds)} was built on baseline ${snap.baselineId}, not ${baseline.id}`,
    );
  }
  const fdr = model.drift.fdr;

  // A window reference takes the baseline's place with its own counts (src/window/reference.ts).
  const windows = referenceConfig(model).kind !== 'baseline';
  const given = windows ? closed.reference : undefined;
  const refState = given?.state ?? null;
  const refView = refState === null ? null : refState.view();
  const against = windows ? referenceProfile(baseline, refView) : baseline;
  const reference = describeReference(model, baseline, given, refView?.count ?? 0);

  const drafts: FeatureDrift[] = [];
  for (const cfg of model.features) {
    const profile = against.features[cfg.name];
    const base = baseline.features[cfg.name];
    const sketch = snap.features[cfg.name];
    if (profile === undefined || base === undefined || sketch === undefined) continue;
    drafts.push(evaluateFeature(cfg.name, profile, sketch, cfg, model, { base, windows }));
  }

  applyVerdicts(drafts, fdr);

  let withVerdict = 0;
  let drifted = 0;
  for (const d of drafts) {
    if (d.insufficient) continue;
    withVerdict++;
    if (d.drifted) drifted++;
  }
  const driftShare = withVerdict === 0 ? 0 : drifted / withVerdict;

  let prediction: FeatureDrift | null = null;
  if (baseline.prediction !== null && against.prediction !== null && snap.prediction !== null) {
    const cfg: FeatureConfig = {
      name: model.prediction.field,
      type: model.prediction.type,
      test: null,
      threshold: null,
    };
    prediction = evaluateFeature(cfg.name, against.prediction, snap.prediction, cfg, model, {
      base: baseline.prediction,
      windows,
    });
    if (prediction.pValue !== null && !prediction.insufficient) {
      prediction.adjustedPValue = prediction.pValue;
      prediction.drifted = decide(prediction);
    }
  }

  flagStraddles(drafts);
  if (prediction !== null) flagStraddles([prediction], false);

  return {
    ...snap.bounds,
    baselineId: baseline.id,
    baselineHash: baseline.hash,
    eventCount: snap.count,
    lateCount: snap.lateCount,
    closedAt: closed.closedAt,
    features: drafts,
    prediction,
    driftShare,
    datasetDrift: withVerdict > 0 && driftShare >= model.drift.shareThreshold,
    reference,
    provisional: closed.reason === 'idle',
    driftdVersion: VERSION,
    configHash: modelConfigHash(model),
    revisionReason:
      closed.revisionReason ??
      (closed.reason === 'idle' ? 'provisional' : closed.reason === 'flush' ? 'flush' : 'close'),
    ...estimateOf(snap.cbpe, baseline),
  };
}

/** The window's label-free performance estimate, from its CBPE sums and the baseline's fit. */
function estimateOf(
  sums: CbpeSnapshot | undefined,
  baseline: BaselineProfile,
): { estimate?: CbpeEstimate } {
  if (sums === undefined || baseline.cbpe === undefined) return {};
  return {
    estimate: createCbpeSketch(baseline.cbpe, { scoreBins: sums.scoreBins }, sums).estimate(),
  };
}

type FeatureSettings = Pick<FeatureConfig, 'test' | 'threshold' | 'alpha' | 'effectFloor'>;

/**
 * Test, verdict rule, level and effect floor for one feature (see the module comment). The
 * fixed `threshold` is the feature's configured one, else (drift.verdict = threshold) drift.fdr
 * for p-value tests, drift.psiThreshold for PSI and chooseTest's default (0.1) for the others.
 */
export function resolveTest(
  type: FeatureProfile['kind'],
  cfg: FeatureSettings,
  choice: TestChoice,
  model: ModelConfig,
): { test: DriftTest; kind: 'p-value' | 'distance' } & FeatureRule {
  let test: DriftTest = cfg.test ?? choice.test;
  if (type === 'categorical' && (test === 'ks' || test === 'wasserstein')) test = choice.test;
  const kind = isPValueTest(test) ? 'p-value' : 'distance';
  if (cfg.threshold === null && (model.drift.verdict ?? 'calibrated') === 'calibrated') {
    return {
      test,
      kind,
      rule: 'calibrated',
      threshold: cfg.alpha ?? model.drift.fdr,
      effectFloor: cfg.effectFloor ?? modelEffectFloor(test, model),
    };
  }
  let threshold: number;
  if (cfg.threshold !== null) threshold = cfg.threshold;
  else if (kind === 'p-value') threshold = model.drift.fdr;
  else if (test === 'psi') threshold = model.drift.psiThreshold;
  else if (test === choice.test) threshold = choice.threshold;
  else threshold = DEFAULT_DISTANCE_THRESHOLD;
  return { test, kind, rule: 'threshold', threshold, effectFloor: null };
}

function evaluateFeature(
  name: string,
  profile: FeatureProfile,
  sketch: SketchView,
  cfg: FeatureSettings,
  model: ModelConfig,
  against: Against,
): FeatureDrift {
  if (profile.kind !== sketch.kind) {
    throw new InvalidInputError(
      `feature ${name}: ${sketch.kind} window sketch against a ${profile.kind} baseline profile`,
    );
  }
  return profile.kind === 'numeric'
    ? evaluateNumeric(name, profile, sketch as NumericSketchView, cfg, model, against)
    : evaluateCategorical(name, profile, sketch as CategoricalSketchSnapshot, cfg, model, against);
}

function sum(xs: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < xs.length; i++) s += xs[i] as number;
  return s;
}

function emptyDrift(
  name: string,
  type: FeatureDrift['type'],
  test: DriftTest,
  rule: FeatureRule,
): FeatureDrift {
  return {
    feature: name,
    type,
    test,
    statistic: 0,
    pValue: null,
    adjustedPValue: null,
    threshold: rule.threshold,
    verdictRule: rule.rule,
    effect: 0,
    effectFloor: rule.effectFloor,
    drifted: false,
    psi: 0,
    ksStatistic: null,
    ksBound: null,
    ksPValue: null,
    statisticBound: null,
    boundStraddlesThreshold: false,
    count: 0,
    missingRatio: 0,
    outOfRangeRatio: 0,
    unseenRatio: 0,
    otherRatio: 0,
    insufficient: true,
  };
}

/**
 * Draws of the two-sample null of a window reference (src/stats/two-sample-null.ts): every
 * close has a new reference, so it is simulated at every close. The Monte Carlo p-value is
 * exactly valid at any B; fewer draws only blur p-values near α.
 */
export const WINDOW_REFERENCE_SIMULATIONS = 400;

/**
 * Pearson's χ² law for the two-sample table of a window reference: every expected cell count
 * (each row's size times the pooled mass of a non-empty column) at least 5 (Cochran 1954).
 */
function pooledCochran(
  ref: ArrayLike<number>,
  cur: ArrayLike<number>,
  nRef: number,
  nCur: number,
): boolean {
  let min = Number.POSITIVE_INFINITY;
  for (let i = 0; i < ref.length; i++) {
    const t = (ref[i] as number) + (cur[i] as number);
    if (t > 0 && t < min) min = t;
  }
  return (Math.min(nRef, nCur) * min) / (nRef + nCur) >= COCHRAN_MIN_EXPECTED;
}

/**
 * Whether the feature gets statistics (both sides have values), and sets `insufficient`: a
 * verdict needs drift.minWindowSize values in the window, and in a window reference too.
 */
function judge(
  out: FeatureDrift,
  count: number,
  referenceSize: number,
  model: ModelConfig,
  against: Against,
): boolean {
  const min = model.drift.minWindowSize;
  const shortWindow = count < min;
  const shortReference = against.windows && referenceSize < min;
  out.insufficient = shortWindow || shortReference || referenceSize === 0;
  if (out.insufficient) out.insufficientReason = shortWindow ? 'window' : 'reference';
  return count > 0 && referenceSize > 0;
}

/**
 * What a numeric profile contributes to every window's evaluation, computed once per
 * baseline (profiles are immutable, so it is cached by object identity).
 */
interface NumericReference {
  /** Fine counts with an empty out-of-range bin at each end (k + 2 bins). */
  ext: Float64Array;
  /**
   * Per ext bin, the reference count strictly below the bin's upper edge (binned KS): 0 for
   * the point bin {edges[0]} and for bins whose values all equal their edge (gap sum 0).
   */
  interior: Float64Array;
  size: number;
  coarse: Float64Array;
  histogram: { edges: number[]; reference: number[] };
  populationStd: number;
  /** Smallest non-zero baseline bin mass (Cochran's rule for chi-square). */
  minMass: number;
  /**
   * The reference side of Wasserstein: the profile, or for a window reference with values out
   * of the baseline's range, those values moved onto the range's ends (atoms at edges[0] and
   * edges[k−1]), with `foldBound` ≥ the W1 cost of that move (feature units).
   */
  wasserstein: BinnedSide & { counts: ArrayLike<number> };
  foldBound: number;
}

const numericReferences = new WeakMap<NumericProfile, NumericReference>();

/** A reusable buffer for per-close scratch counts (evaluation is synchronous). */
let scratch = new Float64Array(0);
function scratchOf(n: number): Float64Array {
  if (scratch.length !== n) scratch = new Float64Array(n);
  return scratch;
}

function numericReference(name: string, profile: NumericProfile): NumericReference {
  const cached = numericReferences.get(profile);
  if (cached !== undefined) return cached;
  const k = profile.edges.length;
  if (profile.counts.length !== k || profile.coarse.length !== k) {
    throw new InvalidInputError(
      `feature ${name}: baseline profile has ${k} edges but ${profile.counts.length} counts and ${profile.coarse.length} coarse indices`,
    );
  }
  const ext = new Float64Array(k + 2);
  const interior = new Float64Array(k + 2);
  const gaps = profile.gaps?.length === k ? profile.gaps : null;
  // A window reference may hold values out of the baseline's range; a baseline never does.
  const below = profile.below ?? 0;
  const above = profile.above ?? 0;
  let size = below + above;
  ext[0] = below;
  interior[0] = below;
  ext[k + 1] = above;
  interior[k + 1] = above;
  for (let i = 0; i < k; i++) {
    const c = profile.counts[i] as number;
    ext[i + 1] = c;
    if (i > 0 && (gaps === null || (gaps[i] as number) > 0)) interior[i + 1] = c;
    size += c;
  }
  const coarse = new Float64Array((profile.coarse[k - 1] as number) + 1);
  for (let i = 0; i < k; i++) {
    const c = profile.coarse[i] as number;
    coarse[c] = (coarse[c] as number) + (profile.counts[i] as number);
  }
  coarse[0] = (coarse[0] as number) + below;
  coarse[coarse.length - 1] = (coarse[coarse.length - 1] as number) + above;
  let wasserstein: NumericReference['wasserstein'] = profile;
  let foldBound = 0;
  if (below + above > 0) {
    const folded = Float64Array.from(profile.counts);
    folded[0] = (folded[0] as number) + below;
    folded[k - 1] = (folded[k - 1] as number) + above;
    wasserstein = {
      counts: folded,
      gaps: profile.gaps ?? null,
      gapSquares: profile.gapSquares ?? null,
    };
    const lo = profile.edges[0] as number;
    const hi = profile.edges[k - 1] as number;
    const step = outOfRangeStep(lo, hi);
    // Each value moves by its recorded gap (± one step); without gaps, by at most the cap.
    const cap = GAP_STEPS * GAP_STEPS;
    const moved = (profile.belowGap ?? cap * below) + (profile.aboveGap ?? cap * above);
    foldBound = ((moved + below + above) * step) / size;
  }
  const edges = [profile.edges[0] as number];
  for (let i = 0; i < k; i++) {
    const next = profile.coarse[i + 1];
    if (next === undefined || next !== profile.coarse[i]) edges.push(profile.edges[i] as number);
  }
  const n = profile.summary.count;
  let minCount = Number.POSITIVE_INFINITY;
  for (let i = 0; i < k + 2; i++) {
    const c = ext[i] as number;
    if (c > 0 && c < minCount) minCount = c;
  }
  const ref: NumericReference = {
    minMass: size > 0 ? minCount / size : 0,
    ext,
    interior,
    size,
    coarse,
    histogram: { edges, reference: Array.from(coarse, (c) => (size > 0 ? c / size : 0)) },
    // The profile's std is the sample one (ddof 1); normed Wasserstein divides by ddof 0.
    populationStd: n > 1 ? profile.summary.std * Math.sqrt((n - 1) / n) : 0,
    wasserstein,
    foldBound,
  };
  numericReferences.set(profile, ref);
  return ref;
}

function evaluateNumeric(
  name: string,
  profile: NumericProfile,
  s: NumericSketchView,
  cfg: FeatureSettings,
  model: ModelConfig,
  against: Against,
): FeatureDrift {
  const reference = numericReference(name, profile);
  const k = profile.edges.length;
  if (s.counts.length !== k) {
    throw new InvalidInputError(
      `feature ${name}: window has ${s.counts.length} fine bins, the baseline ${k}`,
    );
  }
  const referenceSize = reference.size;
  const count = s.total - s.missing - s.nan;
  // The test is the baseline's choice, whatever the reference (a window reference's size
  // would change it from window to window).
  const base = against.base as NumericProfile;
  const baseSize = base === profile ? referenceSize : numericReference(name, base).size;
  const choice = chooseTest({
    type: 'numeric',
    referenceSize: Math.max(1, baseSize),
    currentSize: count,
    // The profile's exact distinct count (driftd-baseline/2); older profiles: the fine edges.
    distinctValues: Math.min(base.distinct ?? k, Math.max(1, baseSize)),
  });
  const { test, ...rule } = resolveTest('numeric', cfg, choice, model);
  const out = emptyDrift(name, 'numeric', test, rule);
  out.count = count;
  out.missingRatio = s.total === 0 ? 0 : (s.missing + s.nan) / s.total;
  out.outOfRangeRatio = count === 0 ? 0 : (s.below + s.above) / count;
  if (!judge(out, count, referenceSize, model, against)) return out;

  // One pass over the window's fine bins: coarse PSI bins (the outer ones open-ended), the fine
  // bins with an out-of-range bin at each end (the reference has no mass there), and for KS the
  // counts strictly below each bin's upper edge (none in the point bin {edges[0]}, none where
  // every value sits on the edge: gap sum 0).
  const counts = s.counts;
  const coarse = profile.coarse;
  const gaps = s.gaps?.length === k ? s.gaps : null;
  const curCoarse = new Float64Array(reference.coarse.length);
  const cur = new Float64Array(k + 2);
  const curInterior = scratchOf(k + 2);
  for (let i = 0; i < k; i++) {
    const c = counts[i] as number;
    const j = coarse[i] as number;
    curCoarse[j] = (curCoarse[j] as number) + c;
    cur[i + 1] = c;
    curInterior[i + 1] = i === 0 || (gaps !== null && gaps[i] === 0) ? 0 : c;
  }
  curCoarse[0] = (curCoarse[0] as number) + s.below;
  curCoarse[curCoarse.length - 1] = (curCoarse[curCoarse.length - 1] as number) + s.above;
  out.psi = psi(reference.coarse, curCoarse).value;
  out.histogram = {
    edges: reference.histogram.edges,
    reference: reference.histogram.reference,
    current: Array.from(curCoarse, (c) => c / count),
  };
  const ref = reference.ext;
  cur[0] = s.below;
  cur[k + 1] = s.above;
  curInterior[0] = s.below;
  curInterior[k + 1] = s.above;
  const ks = binnedKsTest(ref, cur, {
    referenceInterior: reference.interior,
    currentInterior: curInterior,
  });
  out.ksStatistic = ks.statistic;
  out.ksBound = ks.bound;
  out.ksPValue = ks.pValue;

  const std = reference.populationStd;
  let chi: ReturnType<typeof chiSquareTest> | null = null;
  switch (test) {
    case 'ks':
      out.statistic = ks.statistic;
      out.statisticBound = ks.bound;
      break;
    case 'psi':
      out.statistic = out.psi;
      break;
    case 'chi-square':
      chi = chiSquareTest(ref, cur);
      out.statistic = chi.statistic;
      break;
    case 'jensen-shannon':
      out.statistic = jensenShannonDistance(ref, cur);
      break;
    case 'wasserstein': {
      const w = wassersteinOfBins(profile.edges, reference.wasserstein, referenceSize, s, count);
      const bound = w.bound + reference.foldBound;
      out.statistic = std > 0 ? w.distance / std : w.distance;
      out.statisticBound = std > 0 ? bound / std : bound;
      break;
    }
  }
  if (out.insufficient) return out;

  // Significance at this window's size (src/window/verdict.ts), and the effect.
  const nEff = (count * referenceSize) / (count + referenceSize);
  out.effect = chi !== null ? Math.sqrt(chi.statistic / nEff) : out.statistic;
  if (test === 'ks') {
    out.pValue = ks.pValue;
    // Exact D ∈ [D, D + bound]; its p-value by the same law as binnedKsTest's.
    noteBound(out, {
      low: ks.statistic,
      high: Math.min(1, ks.statistic + ks.bound),
      pValueAt: (d) => kolmogorovSurvival(Math.sqrt(nEff) * d),
    });
  } else if (
    chi !== null &&
    (against.windows
      ? pooledCochran(ref, cur, referenceSize, count)
      : count * reference.minMass >= COCHRAN_MIN_EXPECTED)
  ) {
    out.pValue = chi.pValue;
  } else if (against.windows) {
    // Two samples of similar size: the pooled two-sample bootstrap (two-sample-null.ts).
    const nul = windowNull(profile, reference, test, { ext: cur, coarse: curCoarse, sketch: s });
    out.pValue = nul.pValue(out.statistic);
    if (out.statisticBound !== null) {
      noteBound(out, {
        low: Math.max(0, out.statistic - out.statisticBound),
        high: out.statistic + out.statisticBound,
        pValueAt: (w) => nul.pValue(w),
      });
    }
  } else {
    const nul = numericNull(profile, reference, test);
    out.pValue = nul.pValue(out.statistic, nEff);
    if (out.statisticBound !== null) {
      // Exact normed W1 within ± bound; its p-value from the same simulated null.
      noteBound(out, {
        low: Math.max(0, out.statistic - out.statisticBound),
        high: out.statistic + out.statisticBound,
        pValueAt: (w) => nul.pValue(w, nEff),
      });
    }
  }
  return out;
}

/**
 * The two-sample null of a numeric feature's statistic against a window reference, on the
 * bins its test uses (the same statistic functions as the window close).
 */
function windowNull(
  profile: NumericProfile,
  reference: NumericReference,
  test: DriftTest,
  window: { ext: Float64Array; coarse: Float64Array; sketch: NumericSketchView },
) {
  const simulations = WINDOW_REFERENCE_SIMULATIONS;
  switch (test) {
    case 'psi':
      return twoSampleNull({
        reference: reference.coarse,
        current: window.coarse,
        simulations,
        statistic: (r, c) => psi(r, c).value,
      });
    case 'chi-square':
      return twoSampleNull({
        reference: reference.ext,
        current: window.ext,
        simulations,
        statistic: (r, c) => chiSquareTest(r, c).statistic,
      });
    case 'wasserstein': {
      // On the fine bins, out-of-range values of either side folded onto the range's ends;
      // simulated values inside a bin spread like the pooled values there (their gap sums).
      const k = profile.edges.length;
      const s = window.sketch;
      const side = reference.wasserstein;
      const cur = Float64Array.from(s.counts);
      cur[0] = (cur[0] as number) + s.below;
      cur[k - 1] = (cur[k - 1] as number) + s.above;
      const known =
        side.gaps != null && side.gapSquares != null && s.gaps != null && s.gapSquares != null;
      const meanGap = new Float64Array(k);
      const meanSquare = new Float64Array(k);
      if (known) {
        for (let i = 0; i < k; i++) {
          const n = (side.counts[i] as number) + (cur[i] as number);
          if (n > 0) {
            meanGap[i] = ((side.gaps![i] as number) + (s.gaps![i] as number)) / n;
            meanSquare[i] = ((side.gapSquares![i] as number) + (s.gapSquares![i] as number)) / n;
          }
        }
      }
      const sideOf = (c: Float64Array) => {
        const gaps = new Float64Array(k);
        const gapSquares = new Float64Array(k);
        return { counts: c as ArrayLike<number>, gaps, gapSquares };
      };
      const a = sideOf(new Float64Array(k));
      const bSide = sideOf(new Float64Array(k));
      const fill = (into: ReturnType<typeof sideOf>, c: Float64Array): number => {
        let m = 0;
        into.counts = c;
        for (let i = 0; i < k; i++) {
          const ci = c[i] as number;
          m += ci;
          into.gaps[i] = ci * (meanGap[i] as number);
          into.gapSquares[i] = ci * (meanSquare[i] as number);
        }
        return m;
      };
      const std = reference.populationStd;
      return twoSampleNull({
        reference: side.counts,
        current: cur,
        simulations,
        statistic: (r, c) => {
          const nr = fill(a, r);
          const nc = fill(bSide, c);
          const win = {
            counts: bSide.counts,
            gaps: known ? bSide.gaps : null,
            gapSquares: known ? bSide.gapSquares : null,
            below: 0,
            above: 0,
            belowGap: 0,
            aboveGap: 0,
            min: null,
            max: null,
          };
          const refSide = {
            counts: a.counts,
            gaps: known ? a.gaps : null,
            gapSquares: known ? a.gapSquares : null,
          };
          const w = wassersteinOfBins(profile.edges, refSide, nr, win, nc);
          return std > 0 ? w.distance / std : w.distance;
        },
      });
    }
    default:
      return twoSampleNull({
        reference: reference.ext,
        current: window.ext,
        simulations,
        statistic: (r, c) => jensenShannonDistance(r, c),
      });
  }
}

/** The simulated null of a numeric feature's test statistic, on the bins that test uses. */
function numericNull(profile: NumericProfile, reference: NumericReference, test: DriftTest) {
  return simulatedNull(profile, test, () => {
    const scale = NULL_SCALE[test];
    switch (test) {
      case 'psi':
        return {
          referenceCounts: reference.coarse,
          scale,
          statistic: (r, c) => psi(r, c).value,
        };
      case 'wasserstein': {
        // The window close's own statistic (wassersteinOfBins on the baseline's counts and gap
        // sums). A simulated window has counts only; under the null its values inside a bin
        // are distributed like the baseline's there, so its gap sums are the baseline's per-
        // value means times its counts (same within-bin mean and spread as the reference).
        const std = reference.populationStd;
        const side = reference.wasserstein;
        const k = profile.edges.length;
        const refGaps = profile.gaps?.length === k ? profile.gaps : null;
        const refSquares = profile.gapSquares?.length === k ? profile.gapSquares : null;
        const meanGap = new Float64Array(k);
        const meanSquare = new Float64Array(k);
        for (let i = 0; i < k; i++) {
          const c = side.counts[i] as number;
          if (c > 0 && refGaps !== null) meanGap[i] = (refGaps[i] as number) / c;
          if (c > 0 && refSquares !== null) meanSquare[i] = (refSquares[i] as number) / c;
        }
        const gaps = new Float64Array(k);
        const gapSquares = new Float64Array(k);
        const window = {
          counts: gaps as ArrayLike<number>,
          gaps: refGaps === null ? null : gaps,
          gapSquares: refGaps === null || refSquares === null ? null : gapSquares,
          below: 0,
          above: 0,
          belowGap: 0,
          aboveGap: 0,
          min: null,
          max: null,
        };
        return {
          referenceCounts: side.counts,
          scale,
          statistic: (_r, c) => {
            let m = 0;
            for (let i = 0; i < k; i++) {
              const ci = c[i] as number;
              m += ci;
              gaps[i] = ci * (meanGap[i] as number);
              gapSquares[i] = ci * (meanSquare[i] as number);
            }
            window.counts = c;
            const w = wassersteinOfBins(profile.edges, side, reference.size, window, m);
            return std > 0 ? w.distance / std : w.distance;
          },
        };
      }
      case 'chi-square':
        return {
          referenceCounts: reference.ext,
          scale,
          statistic: (r, c) => chiSquareTest(r, c).statistic,
        };
      default:
        // Natural logarithms, as the window close (jensenShannonDistance's default base).
        return {
          referenceCounts: reference.ext,
          scale,
          statistic: (r, c) => jensenShannonDistance(r, c),
        };
    }
  });
}

function evaluateCategorical(
  name: string,
  profile: CategoricalProfile,
  s: CategoricalSketchSnapshot,
  cfg: FeatureSettings,
  model: ModelConfig,
  against: Against,
): FeatureDrift {
  const k = profile.categories.length;
  if (s.counts.length !== k) {
    throw new InvalidInputError(
      `feature ${name}: window has ${s.counts.length} categories, the baseline ${k}`,
    );
  }
  const referenceSize = sum(profile.counts) + profile.other;
  const count = s.total - s.missing;
  const base = against.base as CategoricalProfile;
  const baseSize = base === profile ? referenceSize : sum(base.counts) + base.other;
  const choice = chooseTest({
    type: 'categorical',
    referenceSize: Math.max(1, baseSize),
    currentSize: count,
    distinctValues: Math.min(Math.max(1, base.distinct), Math.max(1, baseSize)),
  });
  const { test, ...rule } = resolveTest('categorical', cfg, choice, model);
  const out = emptyDrift(name, 'categorical', test, rule);
  out.count = count;
  out.missingRatio = s.total === 0 ? 0 : s.missing / s.total;
  // Never seen in the baseline: neither a top-N category nor in the profile's `seen` list.
  // Profiles or snapshots from before driftd kept those: the share outside the top-N.
  const neverSeen = profile.seen !== undefined && s.neverSeen !== undefined ? s.neverSeen : s.other;
  out.unseenRatio = count === 0 ? 0 : neverSeen / count;
  out.otherRatio = count === 0 ? 0 : s.other / count;
  if (!judge(out, count, referenceSize, model, against)) return out;

  const ref = new Float64Array(k + 1);
  const cur = new Float64Array(k + 1);
  ref.set(profile.counts);
  cur.set(s.counts);
  ref[k] = profile.other;
  cur[k] = s.other;

  out.psi = psi(ref, cur).value;
  out.histogram = {
    labels: [...profile.categories, OTHER_LABEL],
    reference: Array.from(normalize(ref)),
    current: Array.from(normalize(cur)),
  };

  let chi: ReturnType<typeof chiSquareTest> | null = null;
  switch (test) {
    case 'chi-square':
      chi = chiSquareTest(ref, cur);
      out.statistic = chi.statistic;
      break;
    case 'psi':
      out.statistic = out.psi;
      break;
    default:
      out.statistic = jensenShannonDistance(ref, cur);
      break;
  }
  if (out.insufficient) return out;

  const nEff = (count * referenceSize) / (count + referenceSize);
  out.effect = chi !== null ? Math.sqrt(chi.statistic / nEff) : out.statistic;
  let minCount = Number.POSITIVE_INFINITY;
  for (let i = 0; i <= k; i++) {
    const c = ref[i] as number;
    if (c > 0 && c < minCount) minCount = c;
  }
  if (
    chi !== null &&
    (against.windows
      ? pooledCochran(ref, cur, referenceSize, count)
      : (count * minCount) / referenceSize >= COCHRAN_MIN_EXPECTED)
  ) {
    out.pValue = chi.pValue;
  } else if (against.windows) {
    out.pValue = twoSampleNull({
      reference: ref,
      current: cur,
      simulations: WINDOW_REFERENCE_SIMULATIONS,
      statistic:
        test === 'psi'
          ? (r, c) => psi(r, c).value
          : test === 'chi-square'
            ? (r, c) => chiSquareTest(r, c).statistic
            : (r, c) => jensenShannonDistance(r, c),
    }).pValue(out.statistic);
  } else {
    out.pValue = categoricalNull(profile, ref, test).pValue(out.statistic, nEff);
  }
  return out;
}

/** The simulated null of a categorical feature's test statistic over its categories + other. */
function categoricalNull(profile: CategoricalProfile, ref: Float64Array, test: DriftTest) {
  const nullTest = test === 'jensen-shannon' || test === 'psi' ? test : 'chi-square';
  return simulatedNull(profile, nullTest, () => ({
    referenceCounts: ref,
    scale: NULL_SCALE[nullTest],
    statistic:
      nullTest === 'psi'
        ? (r, c) => psi(r, c).value
        : nullTest === 'chi-square'
          ? (r, c) => chiSquareTest(r, c).statistic
          : (r, c) => jensenShannonDistance(r, c),
  }));
}

/**
 * Work that a first window close would otherwise do: simulating the null distribution of every
 * simulated test (PSI, Jensen-Shannon, Wasserstein) at the largest grid size, which serves
 * every window of more than NULL_MAX_SIZE effective events. One task per feature, so a caller
 * can yield between them (the daemon runs them when it loads a baseline).
 */
export function nullWarmups(baseline: BaselineProfile, model: ModelConfig): Array<() => void> {
  const tasks: Array<() => void> = [];
  // A window reference's p-values come from permutations at each close, not these nulls.
  if (referenceConfig(model).kind !== 'baseline') return tasks;
  for (const cfg of model.features) {
    const profile = baseline.features[cfg.name];
    if (profile === undefined) continue;
    if (profile.kind === 'numeric') {
      const reference = numericReference(cfg.name, profile);
      if (reference.size === 0) continue;
      const k = profile.edges.length;
      const choice = chooseTest({
        type: 'numeric',
        referenceSize: reference.size,
        currentSize: 0,
        distinctValues: Math.min(profile.distinct ?? k, reference.size),
      });
      const { test, rule } = resolveTest('numeric', cfg, choice, model);
      if (rule !== 'calibrated' || isPValueTest(test)) continue;
      tasks.push(() => {
        numericNull(profile, reference, test).pValue(0, NULL_MAX_SIZE);
      });
    } else {
      const k = profile.categories.length;
      const ref = new Float64Array(k + 1);
      ref.set(profile.counts);
      ref[k] = profile.other;
      const referenceSize = sum(ref);
      if (referenceSize === 0) continue;
      const choice = chooseTest({
        type: 'categorical',
        referenceSize,
        currentSize: 0,
        distinctValues: Math.min(Math.max(1, profile.distinct), referenceSize),
      });
      const { test, rule } = resolveTest('categorical', cfg, choice, model);
      if (rule !== 'calibrated' || isPValueTest(test)) continue;
      tasks.push(() => {
        categoricalNull(profile, ref, test).pValue(0, NULL_MAX_SIZE);
      });
    }
  }
  return tasks;
}

function normalize(counts: Float64Array): Float64Array {
  const total = sum(counts);
  const out = new Float64Array(counts.length);
  if (total > 0) for (let i = 0; i < counts.length; i++) out[i] = (counts[i] as number) / total;
  return out;
}
