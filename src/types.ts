/**
 * Domain types shared by ingest, window, store, export and api. The event shapes are the
 * user-facing contract of DESIGN.md; timestamps are epoch milliseconds once decoded.
 */

import type { CbpeEstimate, CbpeModel } from './stats/cbpe.js';

export type FeatureValue = number | string | boolean | null;
export type FeatureType = 'numeric' | 'categorical';
export type ModelTask = 'binary-classification' | 'multiclass' | 'regression';

/** Where an event came from; Kafka events carry their coordinates for dedup and lineage. */
export type EventSource =
  | { kind: 'http' }
  | { kind: 'replay'; file?: string; line?: number }
  | { kind: 'kafka'; topic: string; partition: number; offset: string };

export interface PredictionEvent {
  model: string;
  version: string;
  id: string;
  /** Event time, epoch ms. */
  ts: number;
  features: Record<string, FeatureValue>;
  prediction: FeatureValue;
  /**
   * The event's JSON text exactly as received (an NDJSON line, a Kafka message value), set by
   * the decoder when the model hashes no PII field. Its `features` member parses to `features`
   * (the decoder validated that very object); the store keeps the text as the raw record and
   * skips re-encoding the features on the hot path.
   */
  raw?: string;
  /**
   * `raw` as UTF-8 bytes, when the source had them (a Kafka value, an ASCII request body).
   * May come without `raw` (the Kafka decode thread): the bytes are then the raw record, and
   * `features` holds only the model's configured features.
   */
  rawBytes?: Uint8Array;
}

export interface LabelEvent {
  model: string;
  id: string;
  ts: number;
  label: number | string;
}

export interface NumericSummary {
  count: number;
  mean: number;
  std: number;
  min: number;
  max: number;
  p01: number;
  p50: number;
  p99: number;
}

export interface NumericProfile {
  kind: 'numeric';
  /** Fine quantile-bin edges (K+1 at most, fewer when the data has ties). */
  edges: number[];
  /** Reference counts per fine bin. */
  counts: number[];
  /**
   * Per fine bin, the reference values' gap sums in steps of width/4096 (see NumericSketchSnapshot.gaps).
   * Absent from profiles built before driftd-baseline/2: evaluation then takes bin midpoints.
   */
  gaps?: number[];
  /** Per fine bin Σ of squared gap steps (see NumericSketchSnapshot.gapSquares); with `gaps`. */
  gapSquares?: number[];
  /**
   * Distinct reference values, exact up to DISTINCT_CAP (10 000) and that cap beyond. Absent
   * from profiles built before driftd-baseline/2: the number of fine edges is used instead.
   */
  distinct?: number;
  /** Fine-bin index → coarse (PSI) bin index. */
  coarse: number[];
  /**
   * Window references only (src/window/reference.ts): reference values below the baseline's
   * minimum / above its maximum, and their out-of-range gap sums (NumericSketchSnapshot). A
   * baseline has none by construction.
   */
  below?: number;
  above?: number;
  belowGap?: number;
  aboveGap?: number;
  missing: number;
  nan: number;
  summary: NumericSummary;
  /** Reservoir sample of the raw values, kept for exact recompute and Wasserstein. */
  sample: number[];
}

export interface CategoricalProfile {
  kind: 'categorical';
  /** Top-N categories of the reference, most frequent first. */
  categories: string[];
  counts: number[];
  /** Reference values outside the top-N. */
  other: number;
  missing: number;
  /** Number of distinct reference values (exact up to the tracking cap). */
  distinct: number;
  /**
   * Every distinct reference value outside `categories`, sorted; complete when `seenComplete`
   * (at most DISTINCT_CAP = 10 000 distinct values), else the first ones met. A window value in
   * neither list was never seen in the baseline. Absent from profiles built before
   * driftd-baseline/2: `unseenRatio` then falls back to the share outside the top-N.
   */
  seen?: string[];
  seenComplete?: boolean;
}

export type FeatureProfile = NumericProfile | CategoricalProfile;

export interface BaselineParams {
  bins: number;
  psiBuckets: number;
  topCategories: number;
  sampleSize: number;
}

/** Immutable training-data profile. `id` is derived from `hash`, so re-importing the same data is idempotent. */
export interface BaselineProfile {
  id: string;
  /** sha256 over the input bytes and the params. */
  hash: string;
  model: string;
  version: string;
  createdAt: number;
  source: string;
  rowCount: number;
  badRows: number;
  params: BaselineParams;
  features: Record<string, FeatureProfile>;
  prediction: FeatureProfile | null;
  /** The model's own performance on the baseline data (same metric names as windows), when the file has label and prediction columns. */
  performance?: Record<string, number>;
  /**
   * The label-free performance estimator fitted on the baseline's labels and scores
   * (src/baseline/cbpe.ts); absent when the model is not a binary classifier with a numeric
   * score, or the baseline file has no usable label column.
   */
  cbpe?: CbpeModel;
  /**
   * Per segment field (models[].segments), the profiles of its segments: each of the field's
   * `values` (its most frequent baseline values) and "__other__", built on those rows alone
   * (src/baseline/segments.ts). Absent when the model has no segments.
   */
  segments?: Record<string, SegmentFieldProfile>;
}

export interface SegmentFieldProfile {
  /** The field's segment values, most frequent first; any other value is "__other__". */
  values: string[];
  /** By segment value ("__other__" included); a segment without usable rows has none. */
  profiles: Record<string, SegmentProfile>;
}

/** The part of a profile a segment has of its own: its rows' features and prediction. */
export interface SegmentProfile {
  rowCount: number;
  /** Every feature but the segment field itself (constant within the segment). */
  features: Record<string, FeatureProfile>;
  prediction: FeatureProfile | null;
}

export type DriftTest = 'ks' | 'psi' | 'chi-square' | 'jensen-shannon' | 'wasserstein';

/** Baseline vs window distribution over the PSI bins (numeric) or categories, as proportions. */
export interface FeatureHistogram {
  /** Numeric features: coarse bin edges, one more than the bins. */
  edges?: number[];
  /** Categorical features: the category of each bin (the last is "__other__"). */
  labels?: string[];
  reference: number[];
  current: number[];
}

export interface FeatureDrift {
  feature: string;
  type: FeatureType;
  test: DriftTest;
  /** Value of the chosen test: a statistic for p-value tests, a distance otherwise. */
  statistic: number;
  /**
   * Raw p-value of the test at the window's size: KS and chi-square from their distributions,
   * PSI / Jensen-Shannon / Wasserstein from the null simulated from the baseline's bins
   * (src/stats/null-distribution.ts). null when there is no verdict (insufficient window).
   */
  pValue: number | null;
  /** Benjamini–Hochberg adjusted p-value across the model's features; null without a verdict. */
  adjustedPValue: number | null;
  /**
   * Calibrated rule: the level the adjusted p-value is compared with (the feature's α).
   * Fixed-threshold rule: the threshold of the statistic (a p-value level for KS/chi-square).
   */
  threshold: number;
  /** How the verdict was reached: significance and effect floor, or a fixed threshold. */
  verdictRule: 'calibrated' | 'threshold';
  /**
   * The effect measure the floor applies to: the distance itself for PSI, Jensen-Shannon and
   * Wasserstein, the KS statistic D for KS, Cohen's w = √(χ²/n_eff) for chi-square.
   */
  effect: number;
  /** Minimum effect for a calibrated verdict; null under a fixed threshold. */
  effectFloor: number | null;
  drifted: boolean;
  psi: number;
  /**
   * KS statistic on fine bins (numeric only) and its error bound vs exact KS on the raw data:
   * ksStatistic ≤ exact ≤ ksStatistic + ksBound.
   */
  ksStatistic: number | null;
  ksBound: number | null;
  /** KS p-value on fine bins for every numeric feature, whatever its test (null: no data). */
  ksPValue: number | null;
  /**
   * Error bound of `statistic` against the same statistic computed on the raw values, for the
   * tests estimated from sketches: KS (exact ∈ [statistic, statistic + bound]) and Wasserstein
   * (|statistic − exact| ≤ bound, normed like the statistic). Null for the tests defined on
   * the baseline's bins (PSI, chi-square, Jensen-Shannon), which are computed exactly.
   */
  statisticBound: number | null;
  /**
   * True when the exact statistic could give the other verdict: the feature's rule (calibrated:
   * adjusted p-value ≤ α and effect ≥ floor; fixed: threshold) re-applied at both ends of the
   * interval the bound gives, BH recomputed with this p-value replaced (src/window/bounds.ts;
   * see /recompute for an exact KS). Always false when there is no verdict or no bound.
   */
  boundStraddlesThreshold: boolean;
  count: number;
  missingRatio: number;
  outOfRangeRatio: number;
  /**
   * Share of the window's non-missing values never seen in the baseline (categorical;
   * exact while the baseline had ≤ 10 000 distinct values, an upper bound beyond). 0 for
   * numeric features (see outOfRangeRatio).
   */
  unseenRatio: number;
  /** Share of the window's non-missing values outside the baseline's top-N categories. */
  otherRatio: number;
  /**
   * No verdict: the window had fewer events than the model's minimum for a verdict, or (with a
   * window reference) its reference did (`insufficientReason`).
   */
  insufficient: boolean;
  /** Why `insufficient`: 'window' or 'reference'; absent when there is a verdict. */
  insufficientReason?: InsufficientReason;
  histogram?: FeatureHistogram;
}

export type InsufficientReason = 'window' | 'reference';

/**
 * What a window was compared with (lineage): its training baseline, or the sum of earlier
 * windows of the same version and size on the baseline's bins (src/window/reference.ts).
 */
export interface ResultReference {
  kind: 'baseline' | 'previous' | 'rolling';
  /** Windows asked for: 0 for the baseline, 1 for previous, N for rolling. */
  windows: number;
  /** Windows found and summed (0 for the baseline). */
  found: number;
  /** Start of the oldest and end of the newest window summed; null for the baseline or none. */
  start: number | null;
  end: number | null;
  /** Events in the reference: the baseline's rows, or the windows' events. */
  eventCount: number;
  /** Why the reference is short of what was asked for, or missing; null when complete. */
  note: string | null;
}

/**
 * Why a result row was written (its revision reason): a window's first result at its close, a
 * provisional one of a quiet open window, performance recomputed as labels arrive, a replay,
 * a restart's rewrite, a cluster window finalised again because a lane counted events into it
 * after the partial it was finalised from ('lane_late', docs/scale-out.md); 'migrated' for
 * rows written before revisions were recorded (migration 12).
 */
export type RevisionReason =
  | 'close'
  | 'provisional'
  | 'flush'
  | 'late_labels'
  | 'replay'
  | 'recompute'
  | 'restart'
  | 'lane_late'
  | 'migrated';

/**
 * Lineage of a stored result: the driftd version and the model's effective config
 * (src/config/hash.ts) that produced it, and why this revision was written. Every producer in
 * driftd sets them; a result built by hand (tests) may leave them out and is stored with ''.
 */
export interface ResultLineage {
  driftdVersion?: string;
  configHash?: string;
  revisionReason?: RevisionReason;
  /** When the row was stored (read back from the store; set by the store on insert). */
  writtenAt?: number;
}

export interface WindowBounds {
  model: string;
  version: string;
  /** Window size, ms. */
  size: number;
  /** The configured size as written (e.g. "5m"): the `window` metric label. */
  sizeLabel: string;
  start: number;
  end: number;
  /**
   * "<field>=<value>" for a segment's window (src/window/segments.ts); absent (or '') for the
   * whole traffic.
   */
  segment?: string;
}

export interface WindowResult extends WindowBounds, ResultLineage {
  baselineId: string;
  baselineHash: string;
  eventCount: number;
  lateCount: number;
  closedAt: number;
  features: FeatureDrift[];
  prediction: FeatureDrift | null;
  /** Share of features (with a verdict) that drifted. */
  driftShare: number;
  datasetDrift: boolean;
  /**
   * What the window was compared with. Absent only on results from before driftd 0.2 (the
   * baseline, the only reference then).
   */
  reference?: ResultReference;
  /**
   * The window was still open: its stream had been quiet for the idle timeout, so this result
   * was written from what it held then. The final result (same window, later closedAt)
   * replaces it once the watermark passes the window's end.
   */
  provisional: boolean;
  /**
   * Label-free performance estimate of the window (src/stats/cbpe.ts), when the baseline has
   * an estimator: expected metrics with their bands, known at close, long before the labels.
   */
  estimate?: CbpeEstimate;
}

export interface PerformanceResult extends WindowBounds, ResultLineage {
  labeled: number;
  coverage: number;
  metrics: Record<string, number>;
  computedAt: number;
}
