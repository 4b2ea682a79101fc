import type { FeatureDrift } from '../types.js';

/*
 * The shape of a version-to-version comparison (champion against challenger) for one window:
 * what the comparison produces (src/window/comparison.ts) and what the rollback signal judges
 * (src/window/rollback.ts). Kept apart so both sides share one definition.
 */

/** A configured pair of versions of one model. */
export interface VersionPair {
  model: string;
  champion: string;
  challenger: string;
}

/** One metric of both versions in the same window. */
export interface PairedMetric {
  champion: number | null;
  challenger: number | null;
  /** challenger − champion; null when either side is unknown. */
  difference: number | null;
  /** Standard error of the difference when known (estimates carry one), else null. */
  standardError: number | null;
}

/** Shadow mode: predictions of both versions for the same event id in the window. */
export interface ShadowAgreement {
  /** Ids scored by both versions in the window. */
  matched: number;
  /** Share of matched ids whose predicted class (or category) is the same; null for regression. */
  agreement: number | null;
  /** |challenger − champion| of numeric predictions over matched ids. */
  scoreDifference: { mean: number; p50: number; p90: number; p99: number; max: number } | null;
}

export interface VersionComparison extends VersionPair {
  window: string;
  windowStart: number;
  windowEnd: number;
  championEvents: number;
  challengerEvents: number;
  /** challengerEvents / (championEvents + challengerEvents); null when both are 0. */
  challengerShare: number | null;
  /**
   * The challenger's window tested against the champion's window (the champion as the
   * reference), with the same tests and calibration as against a baseline. Empty / null when
   * either window is too small for a verdict.
   */
  features: FeatureDrift[];
  prediction: FeatureDrift | null;
  /** Label-free estimates (CBPE) of both versions by metric (e.g. roc_auc, accuracy). */
  estimated: Record<string, PairedMetric>;
  /** Realised performance once labels arrive, by metric; {} before any label. */
  realised: Record<string, PairedMetric>;
  /** Shadow agreement when configured, else null. */
  shadow: ShadowAgreement | null;
}
