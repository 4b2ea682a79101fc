// --- sketches, psi, metrics, test choice ---
// Owned by the sketch/psi/metrics/test-choice module; another section of this file belongs to
// the KS / chi-square / divergence module. Snapshots are plain JSON (no typed arrays, no
// Infinity) so they can be persisted and shipped between daemon instances as-is.

/**
 * Persisted state of a numeric feature over one window. `counts[0]` holds values equal to the
 * baseline minimum `edges[0]`; `counts[i]` (i ≥ 1) holds values in `(edges[i-1], edges[i]]`.
 * Invariant: `sum(counts) + below + above + missing + nan === total`.
 */
export interface NumericSketchSnapshot {
  kind: 'numeric';
  /** One count per fine bin (`edges.length` bins). */
  counts: number[];
  /** Values below the baseline minimum, including -Infinity. */
  below: number;
  /** Values above the baseline maximum, including +Infinity. */
  above: number;
  /** `null` or `undefined` values. */
  missing: number;
  /** `NaN` values. */
  nan: number;
  /** Every recorded value, whatever its kind. */
  total: number;
  /**
   * How many values `sum` and `sumSquares` cover: the finite ones within ±1e100, in range or
   * not (±Infinity and absurdly large values would overflow them). Mean = sum / summed.
   */
  summed: number;
  /** Sum of the values counted in `summed`. */
  sum: number;
  /** Sum of squares of the values counted in `summed`. */
  sumSquares: number;
  /** Smallest finite value seen, `null` when none. */
  min: number | null;
  /** Largest finite value seen, `null` when none. */
  max: number | null;
  /**
   * Per fine bin, Σ over the bin's values of how far below the bin's upper edge each lies, in
   * whole steps of width/4096 (GAP_STEPS; rounded to nearest, at least 1 below the edge): the
   * bin's mean is `edges[i] − gaps[i]/counts[i] · width/4096` to within one step. Integers, so
   * merging adds exactly in any order; `gaps[i] === 0` exactly when every value of bin i equals
   * its upper edge (a repeated value). Absent from snapshots taken before driftd kept it, and
   * from any state such a snapshot was merged into: evaluation then falls back to mass uniform
   * within each bin, with a wider error bound (see `binnedWasserstein`).
   */
  gaps?: number[];
  /**
   * Per fine bin Σ of the squared step counts: with `gaps`, the spread of the bin's values
   * about their mean (0 for a bin holding one repeated value). Present exactly when `gaps` is.
   */
  gapSquares?: number[];
  /**
   * Σ over the values below the baseline range of their distance below edges[0], and over
   * those above of their distance above edges[last], in whole steps of (range)/4096 (at least
   * 1, at most 4096² steps: farther values, ±Infinity included, count as that cap). Present
   * exactly when `gaps` is.
   */
  belowGap?: number;
  aboveGap?: number;
}

/** Persisted state of a categorical feature over one window. */
export interface CategoricalSketchSnapshot {
  kind: 'categorical';
  /** The baseline's categories (its top-N), in baseline order. */
  categories: string[];
  /** One count per entry of `categories`. */
  counts: number[];
  /** Values outside `categories`. Always equals `sum(unseen) + unseenOverflow`. */
  other: number;
  /** `null`, `undefined` or `NaN` values. */
  missing: number;
  /** Every recorded value. */
  total: number;
  /** First distinct unseen values (capped) with their counts, for diagnostics. */
  unseen: Record<string, number>;
  /** Unseen values that did not fit in `unseen` (beyond the cap). */
  unseenOverflow: number;
  /**
   * Values never seen in the baseline at all (neither a category nor in the baseline's `seen`
   * list): a part of `other`. Absent from snapshots taken before driftd kept it, and from any
   * state such a snapshot was merged into; evaluation then falls back to `other`.
   */
  neverSeen?: number;
}

export type SketchSnapshot = NumericSketchSnapshot | CategoricalSketchSnapshot;

/**
 * A sketch's state without copying its per-bin arrays (the live typed arrays): what a snapshot
 * holds, for readers that only read it at once (window evaluation). Valid until the sketch next
 * records or merges; never persist or mutate it. Every snapshot is also a view.
 */
export interface NumericSketchView
  extends Omit<NumericSketchSnapshot, 'counts' | 'gaps' | 'gapSquares'> {
  counts: ArrayLike<number>;
  gaps?: ArrayLike<number> | undefined;
  gapSquares?: ArrayLike<number> | undefined;
}

export type SketchView = NumericSketchView | CategoricalSketchSnapshot;

/**
 * Mergeable window state: one shape for every sketch (create / record / merge / snapshot),
 * after opentelemetry-js sdk-metrics aggregators. `merge` adds `other` into this sketch.
 */
export interface Sketch<TValue, TSnapshot extends SketchSnapshot> {
  readonly kind: TSnapshot['kind'];
  record(value: TValue): void;
  merge(other: Sketch<TValue, TSnapshot> | TSnapshot): void;
  snapshot(): TSnapshot;
}

export interface NumericSketch extends Sketch<number | null | undefined, NumericSketchSnapshot> {
  readonly kind: 'numeric';
  /** The state without copying the per-bin arrays (see NumericSketchView). */
  view(): NumericSketchView;
  /** The baseline's fine bin edges (strictly increasing). */
  readonly edges: readonly number[];
  /** Number of fine bins (`edges.length`). */
  readonly binCount: number;
}

export type CategoricalValue = string | number | boolean | null | undefined;

export interface CategoricalSketch extends Sketch<CategoricalValue, CategoricalSketchSnapshot> {
  readonly kind: 'categorical';
  readonly categories: readonly string[];
  readonly maxUnseen: number;
}

export interface CategoricalSketchOptions {
  /** How many distinct unseen values keep their own count (default 100). */
  maxUnseen?: number;
  /**
   * Baseline values outside `categories` (the profile's `seen` list): a window value in
   * neither counts in `neverSeen`. Without it every value outside the categories does.
   */
  seen?: ReadonlySet<string>;
}

/** Fine-to-coarse bin mapping for PSI, see `coarseBins`. */
export interface CoarseBinning {
  /** For each fine bin, the index of its coarse bin (non-decreasing, starts at 0). */
  fineToCoarse: number[];
  /** Number of coarse bins (≤ the requested bucket count when mass is lumpy). */
  count: number;
  /**
   * Upper edge of each coarse bin in the feature's units. The first coarse bin also takes
   * values below the baseline range and the last one values above it (open-ended, as usual
   * for PSI deciles), so the last upper edge is reported as the baseline maximum.
   */
  upperEdges: number[];
}

export interface PsiOptions {
  /**
   * Replacement for a zero proportion (default 0.0001, Evidently's constant). When the
   * smallest non-zero proportion is itself ≤ epsilon, Evidently uses that proportion / 1e6.
   */
  epsilon?: number;
}

export interface PsiBin {
  /** Reference proportion after zero replacement. */
  ref: number;
  /** Current proportion after zero replacement. */
  cur: number;
  /** This bin's term of the sum: (ref − cur) · ln(ref / cur), never negative. */
  contribution: number;
}

export interface PsiResult {
  value: number;
  bins: PsiBin[];
}

export type DriftTestName = 'ks' | 'chi-square' | 'jensen-shannon' | 'psi' | 'wasserstein';

export interface TestChoiceInput {
  type: 'numeric' | 'categorical';
  /** Rows in the reference (baseline) sample, missing values excluded. */
  referenceSize: number;
  /** Rows in the current window. */
  currentSize: number;
  /** Distinct non-missing values in the reference sample, when known. */
  distinctValues?: number;
}

export interface TestChoice {
  test: DriftTestName;
  /** Drift when the p-value is below it (`p-value`) or the distance at/above it (`distance`). */
  threshold: number;
  kind: 'p-value' | 'distance';
}

export type BinaryLabel = 0 | 1;

export interface ConfusionCounts {
  tp: number;
  fp: number;
  tn: number;
  fn: number;
}

export interface BinaryMetricsSketchOptions {
  /** Equal-width score bins over [0, 1] for the ROC AUC histogram (default 1000). */
  scoreBins?: number;
  /** A score ≥ threshold counts as a positive prediction (default 0.5). */
  threshold?: number;
}

export interface BinaryMetricsSnapshot extends ConfusionCounts {
  kind: 'binary-metrics';
  scoreBins: number;
  threshold: number;
  /** Positive-label score histogram, bin b = [b/B, (b+1)/B), the last bin closed. */
  positiveScores: number[];
  /** Negative-label score histogram, same bins. */
  negativeScores: number[];
  /** Σ per-row log loss (scikit-learn clipping), so the mean is exact. */
  logLossSum: number;
  /** Σ (label − score)². */
  brierSum: number;
}

/** Values that are undefined for the data (no rows, one class only) are `null`, never NaN. */
export interface BinaryMetrics {
  count: number;
  positives: number;
  accuracy: number | null;
  precision: number | null;
  recall: number | null;
  f1: number | null;
  rocAuc: number | null;
  /** Largest possible |rocAuc − exact AUC| caused by histogramming the scores. */
  rocAucErrorBound: number | null;
  logLoss: number | null;
  brier: number | null;
}

export interface BinaryMetricsSketch {
  readonly kind: 'binary-metrics';
  record(label: BinaryLabel, score: number): void;
  merge(other: BinaryMetricsSketch | BinaryMetricsSnapshot): void;
  snapshot(): BinaryMetricsSnapshot;
  metrics(): BinaryMetrics;
}

export interface RegressionMetricsSnapshot {
  kind: 'regression-metrics';
  count: number;
  absErrorSum: number;
  squaredErrorSum: number;
  /** Σ |e| / max(|y|, float64 eps), scikit-learn's MAPE term. */
  absPercentageErrorSum: number;
}

export interface RegressionMetrics {
  count: number;
  mae: number | null;
  rmse: number | null;
  mape: number | null;
}

export interface RegressionMetricsSketch {
  readonly kind: 'regression-metrics';
  record(actual: number, predicted: number): void;
  merge(other: RegressionMetricsSketch | RegressionMetricsSnapshot): void;
  snapshot(): RegressionMetricsSnapshot;
  metrics(): RegressionMetrics;
}
// --- end sketches, psi, metrics, test choice ---

// --- exact tests (ks, chi-square, divergence, multiple testing) ---
// Owned by ks.ts / chi-square.ts / divergence.ts / multiple-testing.ts. Every number here is
// finite: bad input throws InvalidInputError instead of producing NaN.

/** Two-sample KS on raw samples, as SciPy `ks_2samp(x, y, method='auto')`. */
export interface KsTestResult {
  /** sup |F_ref − F_cur| over the pooled sample. */
  statistic: number;
  /** Two-sided p-value. */
  pValue: number;
  /** The p-value path SciPy's `auto` rule took: exact lattice-path count, or `kstwo`. */
  method: 'exact' | 'asymp';
}

/** Two-sample KS on counts over shared quantile bins. */
export interface BinnedKsTestResult {
  /** max over bin boundaries of |cumRef/nRef − cumCur/nCur|; never above the exact statistic. */
  statistic: number;
  /** Approximate: Kolmogorov's limiting distribution (SciPy `kstwobign`) at √(nm/(n+m))·D. */
  pValue: number;
  method: 'binned';
  /**
   * 0 ≤ exact statistic − statistic ≤ bound: the largest excursion the ECDFs can make inside
   * a bin beyond the binned statistic, given the bin counts (and interior counts, when given).
   * At most the largest reference bin mass; 0 contribution from bins holding one repeated
   * value on both sides.
   */
  bound: number;
}

export interface BinnedKsOptions {
  /**
   * Per bin, an upper bound on the reference count strictly below the bin's upper boundary
   * (≤ the bin's count; default the count). 0 where every value equals the upper edge.
   */
  referenceInterior?: ArrayLike<number>;
  /** The same for the current counts. */
  currentInterior?: ArrayLike<number>;
}

export type KsResult = KsTestResult | BinnedKsTestResult;

/** Pearson chi-square homogeneity test of a 2×k table, as SciPy `chi2_contingency`. */
export interface ChiSquareTestResult {
  statistic: number;
  pValue: number;
  /** Degrees of freedom after dropping categories empty in both rows (k' − 1, or 0). */
  dof: number;
}

export interface JensenShannonOptions {
  /** Base of the logarithm; default e (SciPy's default, and Evidently's scale). */
  base?: number;
}

export interface WassersteinOptions {
  /** Divide by the reference population standard deviation (ddof = 0). Default false. */
  normalize?: boolean;
}

export interface BenjaminiHochbergResult {
  /** `adjusted[i] <= alpha`, in input order. */
  rejected: boolean[];
  /** BH-adjusted p-values (step-up, monotone, capped at 1), in input order. */
  adjusted: number[];
}
// --- end exact tests (ks, chi-square, divergence, multiple testing) ---
