import { Counter, Gauge, Histogram, type LabelValues, type Registry } from 'prom-client';
import type { FairnessResult } from '../stats/fairness.js';
import type {
  BaselineProfile,
  FeatureDrift,
  PerformanceResult,
  WindowBounds,
  WindowResult,
} from '../types.js';
import type { VersionComparison } from '../window/comparison-types.js';
import { groupDisparity } from '../window/fairness.js';
import type { PerformanceVerdict } from '../window/performance-verdict.js';
import type { RollbackVerdict } from '../window/rollback.js';
import { severity } from '../window/verdict.js';
import { type ComparisonMetrics, createComparisonMetrics } from './comparison-metrics.js';
import { collectProcessMetrics } from './process-metrics.js';
import { createShownVersions } from './shown-versions.js';
import { createStreaks, type StreakKey, type VerdictHistory } from './streaks.js';

/**
 * Every metric family the daemon exports, in one place. Alert rules and dashboards are
 * generated from these constants, so a rename here cannot leave a dangling query.
 * Label sets are bounded: model, version, feature and window all come from the config or
 * the (few) model versions that have a baseline; event-level values never become labels.
 * HTTP routes are the route patterns (never the raw URL), Kafka and store operations are fixed
 * names. The process/runtime families (standard names) are in process-metrics.ts.
 */
export const METRIC = {
  featurePsi: 'driftd_feature_psi',
  featureKsStatistic: 'driftd_feature_ks_statistic',
  featureKsPValue: 'driftd_feature_ks_pvalue',
  featureDriftScore: 'driftd_feature_drift_score',
  featureDriftThreshold: 'driftd_feature_drift_threshold',
  featureDriftDetected: 'driftd_feature_drift_detected',
  featureDriftConsecutive: 'driftd_feature_drift_consecutive_windows',
  featureMissingRatio: 'driftd_feature_missing_ratio',
  featureOutOfRangeRatio: 'driftd_feature_out_of_range_ratio',
  featureUnseenRatio: 'driftd_feature_unseen_ratio',
  featureOtherRatio: 'driftd_feature_other_ratio',
  featureKsBound: 'driftd_feature_ks_bound',
  featureStatisticBound: 'driftd_feature_statistic_bound',
  featureBoundStraddles: 'driftd_feature_bound_straddles_threshold',
  modelDriftShare: 'driftd_model_drift_share',
  modelDatasetDrift: 'driftd_model_dataset_drift',
  modelDatasetDriftConsecutive: 'driftd_model_dataset_drift_consecutive_windows',
  predictionPsi: 'driftd_prediction_psi',
  predictionDriftDetected: 'driftd_prediction_drift_detected',
  predictionDriftConsecutive: 'driftd_prediction_drift_consecutive_windows',
  predictionDriftScore: 'driftd_prediction_drift_score',
  // Baseline values (wt-baseline).
  baselinePerformance: 'driftd_model_baseline_performance',
  featureBaselineMissingRatio: 'driftd_feature_baseline_missing_ratio',
  modelPerformance: 'driftd_model_performance',
  performanceDegraded: 'driftd_model_performance_degraded',
  performanceDegradedConsecutive: 'driftd_model_performance_degraded_consecutive_windows',
  modelPerformanceEstimate: 'driftd_model_performance_estimate',
  labelCoverage: 'driftd_model_label_coverage_ratio',
  fairnessRatio: 'driftd_fairness_ratio',
  fairnessDisparity: 'driftd_fairness_disparity_detected',
  fairnessGroupPredictions: 'driftd_fairness_group_predictions',
  fairnessEqualizedOdds: 'driftd_fairness_equalized_odds_difference',
  // fairstore: restart-proof fairness alerting (src/export/streaks.ts).
  fairnessDisparityConsecutive: 'driftd_fairness_disparity_consecutive_windows',
  // segments: per segment of the latest window ("<field>=<value>", bounded by the baseline).
  segmentDriftDetected: 'driftd_segment_drift_detected',
  segmentDriftShare: 'driftd_segment_drift_share',
  segmentEvents: 'driftd_segment_events',
  segmentPerformance: 'driftd_segment_performance',
  windowEvents: 'driftd_window_events',
  windowCloseTimestamp: 'driftd_window_close_timestamp_seconds',
  windowsClosed: 'driftd_windows_closed_total',
  openWindows: 'driftd_open_windows',
  eventsTotal: 'driftd_events_total',
  labelsTotal: 'driftd_labels_total',
  deadLetterTotal: 'driftd_dead_letter_total',
  quarantinedTotal: 'driftd_quarantined_total',
  storeWriteSeconds: 'driftd_store_write_duration_seconds',
  storeErrors: 'driftd_store_errors_total',
  kafkaConsumerLag: 'driftd_kafka_consumer_lag_messages',
  kafkaRebalances: 'driftd_kafka_rebalances_total',
  // Scale-out (cluster mode, src/cluster/): per instance.
  clusterLanesOwned: 'driftd_cluster_lanes_owned',
  clusterPartialsWritten: 'driftd_cluster_partials_written_total',
  clusterWindowsFinalised: 'driftd_cluster_windows_finalised_total',
  clusterFinalisationDelay: 'driftd_cluster_finalisation_delay_seconds',
  clusterWindowsPending: 'driftd_cluster_windows_pending',
  kafkaErrors: 'driftd_kafka_errors_total',
  kafkaConsumerReady: 'driftd_kafka_consumer_ready',
  kafkaMessagesProcessed: 'driftd_kafka_messages_processed_total',
  httpRequests: 'driftd_http_requests_total',
  httpRequestSeconds: 'driftd_http_request_duration_seconds',
  lastEventTimestamp: 'driftd_last_event_timestamp_seconds',
  buildInfo: 'driftd_build_info',
  configReloads: 'driftd_config_reloads_total',
  configRestartRequired: 'driftd_config_restart_required',
  // Version comparison (wt-compare; src/export/comparison-metrics.ts).
  versionTrafficShare: 'driftd_version_traffic_share',
  comparisonDriftDetected: 'driftd_version_comparison_drift_detected',
  comparisonDriftScore: 'driftd_version_comparison_drift_score',
  performanceDifference: 'driftd_version_performance_difference',
  shadowAgreement: 'driftd_shadow_agreement_ratio',
  shadowScoreDifference: 'driftd_shadow_score_difference',
  // Rollback signal (wt-rollback): challenger versions against their champion.
  rollbackSignal: 'driftd_rollback_signal',
  rollbackSignalConsecutive: 'driftd_rollback_signal_consecutive_windows',
  // Retrain recommendation (wt-retrain, src/window/retrain.ts).
  retrainRecommended: 'driftd_retrain_recommended',
  retrainRecommendations: 'driftd_retrain_recommendations_total',
} as const;

export type MetricName = (typeof METRIC)[keyof typeof METRIC];

/** Results of `driftd_events_total{result}`: every ingested event lands in exactly one. */
export type EventResult =
  | 'accepted'
  | 'late'
  | 'invalid'
  | 'no_baseline'
  | 'version_limit'
  | 'duplicate';
export type LabelResult = 'accepted' | 'invalid' | 'unknown_prediction';
/** Operations of `driftd_kafka_errors_total{operation}`: what failed talking to the brokers. */
export type KafkaErrorOperation =
  | 'connect'
  | 'consumer_crash'
  | 'commit_offsets'
  | 'produce_dead_letters'
  | 'lag_refresh'
  | 'lane_restore';
/** Label names of the HTTP request families (see src/api/request-metrics.ts). */
export type HttpRequestLabels = 'method' | 'route' | 'code';

type FeatureLabels = 'model' | 'version' | 'window' | 'feature';
type WindowLabels = 'model' | 'version' | 'window';
type FairnessLabels = WindowLabels | 'attribute' | 'group';
type PairLabels = 'model' | 'champion' | 'challenger' | 'window';

export interface Metrics {
  readonly registry: Registry;
  /** Champion/challenger comparison gauges (src/export/comparison-metrics.ts). */
  readonly comparison: ComparisonMetrics;
  featurePsi: Gauge<FeatureLabels>;
  featureKsStatistic: Gauge<FeatureLabels>;
  featureKsPValue: Gauge<FeatureLabels>;
  featureDriftScore: Gauge<FeatureLabels | 'test'>;
  featureDriftThreshold: Gauge<FeatureLabels | 'test'>;
  featureDriftDetected: Gauge<FeatureLabels>;
  featureDriftConsecutive: Gauge<FeatureLabels>;
  featureMissingRatio: Gauge<FeatureLabels>;
  featureOutOfRangeRatio: Gauge<FeatureLabels>;
  featureUnseenRatio: Gauge<FeatureLabels>;
  featureOtherRatio: Gauge<FeatureLabels>;
  featureKsBound: Gauge<FeatureLabels>;
  featureStatisticBound: Gauge<FeatureLabels | 'test'>;
  featureBoundStraddles: Gauge<FeatureLabels>;
  modelDriftShare: Gauge<WindowLabels>;
  modelDatasetDrift: Gauge<WindowLabels>;
  modelDatasetDriftConsecutive: Gauge<WindowLabels>;
  predictionPsi: Gauge<WindowLabels>;
  predictionDriftDetected: Gauge<WindowLabels>;
  predictionDriftConsecutive: Gauge<WindowLabels>;
  predictionDriftScore: Gauge<WindowLabels | 'test'>;
  modelPerformance: Gauge<WindowLabels | 'metric'>;
  performanceDegraded: Gauge<WindowLabels | 'metric'>;
  performanceDegradedConsecutive: Gauge<WindowLabels | 'metric'>;
  modelPerformanceEstimate: Gauge<WindowLabels | 'metric' | 'band'>;
  labelCoverage: Gauge<WindowLabels>;
  fairnessRatio: Gauge<FairnessLabels | 'metric'>;
  fairnessDisparity: Gauge<FairnessLabels>;
  fairnessGroupPredictions: Gauge<FairnessLabels>;
  fairnessEqualizedOdds: Gauge<WindowLabels | 'attribute'>;
  fairnessDisparityConsecutive: Gauge<FairnessLabels>;
  segmentDriftDetected: Gauge<WindowLabels | 'segment' | 'feature'>;
  segmentDriftShare: Gauge<WindowLabels | 'segment'>;
  segmentEvents: Gauge<WindowLabels | 'segment'>;
  segmentPerformance: Gauge<WindowLabels | 'segment' | 'metric'>;
  windowEvents: Gauge<WindowLabels>;
  windowCloseTimestamp: Gauge<WindowLabels>;
  windowsClosed: Counter<'model' | 'window'>;
  openWindows: Gauge<'model'>;
  eventsTotal: Counter<'model' | 'result'>;
  labelsTotal: Counter<'model' | 'result'>;
  deadLetterTotal: Counter<'reason'>;
  quarantinedTotal: Counter<'kind'>;
  storeWriteSeconds: Histogram<'table'>;
  storeErrors: Counter<'operation'>;
  kafkaConsumerLag: Gauge<'topic' | 'partition'>;
  kafkaRebalances: Counter;
  /** Lanes whose window state this instance holds: kind="kafka" (partitions owned) or "http". */
  clusterLanesOwned: Gauge<'kind'>;
  /** Partial window rows written (final: the lane closed the window; provisional: idle copy). */
  clusterPartialsWritten: Counter<'kind'>;
  /** Windows this instance finalised (wrote the one global result of). */
  clusterWindowsFinalised: Counter<'model' | 'window'>;
  /** Seconds from the last lane's final partial of a window to its finalisation. */
  clusterFinalisationDelay: Histogram;
  /** Windows with partials and no finalisation yet, as this instance last saw them. */
  clusterWindowsPending: Gauge;
  kafkaErrors: Counter<'operation'>;
  kafkaConsumerReady: Gauge;
  kafkaMessagesProcessed: Counter<'topic'>;
  httpRequests: Counter<HttpRequestLabels>;
  httpRequestSeconds: Histogram<'method' | 'route' | 'status_class'>;
  lastEventTimestamp: Gauge<'model'>;
  configReloads: Counter<'result'>;
  configRestartRequired: Gauge;
  baselinePerformance: Gauge<'model' | 'version' | 'metric'>;
  featureBaselineMissingRatio: Gauge<'model' | 'version' | 'feature'>;
  rollbackSignal: Gauge<PairLabels>;
  rollbackSignalConsecutive: Gauge<PairLabels>;
  /**
   * Judges a champion/challenger comparison of one window (opts.judgeRollback) and sets the
   * rollback gauges: this window's verdict (newest window of the pair only; absent without a
   * verdict) and the run of consecutive worse windows (every verdict counts, a rewrite of a
   * window replaces its verdict). Answers the verdict; null without opts.judgeRollback.
   */
  recordComparison(c: VersionComparison): RollbackVerdict | null;
  retrainRecommended: Gauge<'model' | 'version'>;
  retrainRecommendations: Counter<'model' | 'version'>;
  /**
   * A retrain episode opened (gauge 1, counter + 1) or closed (gauge 0). `restored`: an episode
   * the store holds as open, shown again at startup (the counter does not move).
   */
  recordRetrain(
    rec: { model: string; version: string; status: 'open' | 'closed' },
    opts?: RecordOptions,
  ): void;
  /**
   * Sets the gauges of the baseline a model version is now evaluated against (its performance,
   * its features' missing ratios), replacing those of the version's previous baseline.
   */
  recordBaseline(profile: BaselineProfile): void;
  /**
   * Sets every gauge of a written window result (the newest window of its series only, see
   * shown-versions.ts) and its consecutive-drift counts. `restored`: a stored result replayed
   * at startup (src/export/restore.ts), not a window closed now (no counter moves).
   */
  recordWindow(result: WindowResult, opts?: RecordOptions): void;
  /**
   * Sets the gauges of a segment's window result (`result.segment`), the newest window of its
   * (model, version, window) only; a newer window's segments replace every older one's series.
   */
  recordSegment(result: WindowResult): void;
  /**
   * Sets the performance gauges of a segment's record (`result.segment`), the newest window
   * with labels of its (model, version, window) only; a newer window's segments replace every
   * older one's series.
   */
  recordSegmentPerformance(result: PerformanceResult): void;
  /**
   * Sets the gauges of a window's performance, its verdict per metric (opts.judgePerformance)
   * and the count of consecutive degraded windows. Results of a series must come in window
   * order (an older window than the newest one seen leaves the verdict gauges alone): replaying
   * the last K stored results restores the count.
   */
  recordPerformance(result: PerformanceResult): void;
  /** The Kafka consumer's state, read at each scrape (driftd_kafka_consumer_ready). */
  setKafkaReadiness(ready: (() => boolean) | null): void;
  /**
   * Sets the fairness gauges of a window's protected attributes (src/window/fairness.ts),
   * replacing the series of an older window; a window older than the one shown is ignored,
   * except for the consecutive-disparity counts, where every computation counts (labels that
   * arrive late change an older window's verdicts).
   */
  recordFairness(window: WindowBounds, results: Record<string, FairnessResult>): void;
  /**
   * Startup: the stored disparity verdicts of one protected group (src/export/restore.ts),
   * before the latest stored fairness results are replayed through recordFairness.
   */
  seedFairnessStreak(
    key: { model: string; version: string; window: string; attribute: string; group: string },
    history: VerdictHistory,
  ): void;
  /**
   * Startup: the stored verdicts of one consecutive-drift series (src/export/streaks.ts), before
   * the latest results are replayed through recordWindow.
   */
  seedStreak(key: StreakKey, history: VerdictHistory): void;
  /**
   * Removes every series of a model version (its state was retired to make room for another).
   * /metrics holds at most `versions.maxActive` versions per model in any case (`maxVersions`).
   */
  forgetVersion(model: string, version: string): void;
}

/** The streak series of a protected group (apart from the drift series' names). */
const fairnessSeries = (attribute: string, group: string) =>
  `fairness:${JSON.stringify([attribute, group])}`;
/**
 * The streak series of a challenger against one champion: the challenger's version, series
 * `rollback:<champion>` (seedStreak with this key restores it from stored comparisons).
 */
export function rollbackStreakKey(
  c: Pick<VersionComparison, 'model' | 'champion' | 'challenger' | 'window'>,
): StreakKey {
  return {
    model: c.model,
    version: c.challenger,
    window: c.window,
    series: `rollback:${c.champion}`,
  };
}

export interface RecordOptions {
  restored?: boolean;
}

export interface MetricsOptions {
  /** driftd's version (driftd_build_info). */
  version: string;
  /** Performance verdicts of a window (src/window/performance-verdict.ts); none without it. */
  judgePerformance?: (p: PerformanceResult) => readonly PerformanceVerdict[];
  /** Versions of a model with series at once (its `versions.maxActive`); default unbounded. */
  maxVersions?: (model: string) => number;
  /** Rollback verdict of a comparison (src/window/rollback.ts); no rollback gauges without it. */
  judgeRollback?: (c: VersionComparison) => RollbackVerdict;
}

export function createMetrics(registry: Registry, opts: MetricsOptions): Metrics {
  const registers = [registry];
  const gauge = <L extends string>(name: string, help: string, labelNames: readonly L[]) =>
    new Gauge<L>({ name, help, labelNames, registers });
  const counter = <L extends string>(name: string, help: string, labelNames: readonly L[]) =>
    new Counter<L>({ name, help, labelNames, registers });
  const f = ['model', 'version', 'window', 'feature'] as const;
  const w = ['model', 'version', 'window'] as const;
  let kafkaReady: (() => boolean) | null = null;

  const m = {
    registry,
    comparison: createComparisonMetrics(registry),
    featurePsi: gauge(
      METRIC.featurePsi,
      'Population stability index of the feature in the latest closed window vs its baseline.',
      f,
    ),
    featureKsStatistic: gauge(
      METRIC.featureKsStatistic,
      'Two-sample KS statistic on the baseline quantile bins; the exact one is at most driftd_feature_ks_bound above it.',
      f,
    ),
    featureKsBound: gauge(
      METRIC.featureKsBound,
      'Error bound of the binned KS statistic: exact KS ∈ [statistic, statistic + bound] (numeric features).',
      f,
    ),
    featureStatisticBound: gauge(
      METRIC.featureStatisticBound,
      'Error bound of the chosen test statistic estimated from sketches (KS, Wasserstein) against its exact value on the raw values.',
      [...f, 'test'] as const,
    ),
    featureBoundStraddles: gauge(
      METRIC.featureBoundStraddles,
      "1 when the statistic's error bound straddles the threshold (the verdict could flip with exact values), else 0.",
      f,
    ),
    featureKsPValue: gauge(
      METRIC.featureKsPValue,
      'Asymptotic KS p-value of the binned statistic, for every numeric feature whatever its test.',
      f,
    ),
    featureDriftScore: gauge(
      METRIC.featureDriftScore,
      'Severity of the feature in the latest closed window, one scale for every test: min(log(adjusted p)/log(alpha), effect/floor) for calibrated verdicts (statistic/threshold or log(p)/log(threshold) for fixed ones); drifted exactly when >= 1.',
      [...f, 'test'] as const,
    ),
    featureDriftThreshold: gauge(
      METRIC.featureDriftThreshold,
      'Line the drift score is compared against (always 1: the score is a severity).',
      [...f, 'test'] as const,
    ),
    featureDriftDetected: gauge(
      METRIC.featureDriftDetected,
      '1 when the feature drifted in the latest closed window (after BH-FDR), else 0.',
      f,
    ),
    featureDriftConsecutive: gauge(
      METRIC.featureDriftConsecutive,
      'Windows in a row, up to the latest with a verdict, in which the feature drifted (0 once one is clean; windows without a verdict skipped, see src/export/streaks.ts).',
      f,
    ),
    featureMissingRatio: gauge(
      METRIC.featureMissingRatio,
      'Share of events in the latest closed window with the feature missing.',
      f,
    ),
    featureOutOfRangeRatio: gauge(
      METRIC.featureOutOfRangeRatio,
      'Share of present values outside the baseline range.',
      f,
    ),
    featureUnseenRatio: gauge(
      METRIC.featureUnseenRatio,
      'Share of categorical values never seen in the baseline (exact up to 10 000 distinct baseline values, an upper bound beyond).',
      f,
    ),
    featureOtherRatio: gauge(
      METRIC.featureOtherRatio,
      "Share of categorical values outside the baseline's top-N categories (counted as other).",
      f,
    ),
    modelDriftShare: gauge(
      METRIC.modelDriftShare,
      'Share of features that drifted in the latest closed window.',
      w,
    ),
    modelDatasetDrift: gauge(
      METRIC.modelDatasetDrift,
      '1 when the drift share reached the dataset-drift threshold.',
      w,
    ),
    modelDatasetDriftConsecutive: gauge(
      METRIC.modelDatasetDriftConsecutive,
      'Windows in a row, up to the latest with a verdict, with dataset drift (0 once one is clean).',
      w,
    ),
    predictionPsi: gauge(
      METRIC.predictionPsi,
      'PSI of the model output in the latest closed window vs the baseline.',
      w,
    ),
    predictionDriftDetected: gauge(
      METRIC.predictionDriftDetected,
      '1 when the model output drifted in the latest closed window.',
      w,
    ),
    predictionDriftConsecutive: gauge(
      METRIC.predictionDriftConsecutive,
      'Windows in a row, up to the latest with a verdict, in which the model output drifted (0 once one is clean).',
      w,
    ),
    predictionDriftScore: gauge(
      METRIC.predictionDriftScore,
      'Severity of the model output drift in the latest closed window, on the scale of driftd_feature_drift_score (drifted at 1 or more); test names the test that made the verdict.',
      [...w, 'test'] as const,
    ),
    modelPerformance: gauge(
      METRIC.modelPerformance,
      'Performance metric of the latest window with labels (metric label names it).',
      [...w, 'metric'] as const,
    ),
    performanceDegraded: gauge(
      METRIC.performanceDegraded,
      "1 when the latest window with labels is degraded on the metric (alerts.performance: a fixed line or the baseline's own value), 0 when not; absent without a verdict.",
      [...w, 'metric'] as const,
    ),
    performanceDegradedConsecutive: gauge(
      METRIC.performanceDegradedConsecutive,
      'Consecutive windows with labels degraded on the metric, up to the latest (windows without a verdict are skipped).',
      [...w, 'metric'] as const,
    ),
    modelPerformanceEstimate: gauge(
      METRIC.modelPerformanceEstimate,
      'Label-free performance estimate of the latest closed window (CBPE, binary classifiers): band="estimate", or the lower / upper end of its 3-standard-error band.',
      [...w, 'metric', 'band'] as const,
    ),
    labelCoverage: gauge(
      METRIC.labelCoverage,
      'Share of the window’s predictions that have a ground-truth label.',
      w,
    ),
    fairnessRatio: gauge(
      METRIC.fairnessRatio,
      'Disparity ratio of a protected group: its rate ÷ the reference group’s (metric: selection_rate, true_positive_rate, false_positive_rate), latest window.',
      [...w, 'attribute', 'group', 'metric'] as const,
    ),
    fairnessDisparity: gauge(
      METRIC.fairnessDisparity,
      '1 when a protected group’s disparity ratio is outside the configured bounds (and significant, by default), latest window.',
      [...w, 'attribute', 'group'] as const,
    ),
    fairnessGroupPredictions: gauge(
      METRIC.fairnessGroupPredictions,
      'Predictions of a protected group in the latest window (the sample size of its rates).',
      [...w, 'attribute', 'group'] as const,
    ),
    fairnessEqualizedOdds: gauge(
      METRIC.fairnessEqualizedOdds,
      'Equalised-odds difference (Fairlearn, worst case) across a protected attribute’s groups, latest window.',
      [...w, 'attribute'] as const,
    ),
    fairnessDisparityConsecutive: gauge(
      METRIC.fairnessDisparityConsecutive,
      'Windows in a row, up to the latest with a verdict, in which a protected group had a disparity (0 once one is fair; windows where the group has too few predictions, and the reference group, have no verdict; see src/export/streaks.ts).',
      [...w, 'attribute', 'group'] as const,
    ),
    segmentDriftDetected: gauge(
      METRIC.segmentDriftDetected,
      '1 when the feature drifted within the segment (against the baseline rows of that segment), latest window.',
      [...w, 'segment', 'feature'] as const,
    ),
    segmentDriftShare: gauge(
      METRIC.segmentDriftShare,
      'Share of features (with a verdict) that drifted within the segment, latest window.',
      [...w, 'segment'] as const,
    ),
    segmentEvents: gauge(METRIC.segmentEvents, 'Events of the segment in the latest window.', [
      ...w,
      'segment',
    ] as const),
    segmentPerformance: gauge(
      METRIC.segmentPerformance,
      'Realised performance metric of the segment (its labelled predictions), latest window with labels.',
      [...w, 'segment', 'metric'] as const,
    ),
    windowEvents: gauge(METRIC.windowEvents, 'Events in the latest closed window.', w),
    windowCloseTimestamp: gauge(
      METRIC.windowCloseTimestamp,
      'Wall-clock time the latest window closed, seconds since epoch.',
      w,
    ),
    windowsClosed: counter(METRIC.windowsClosed, 'Windows closed.', ['model', 'window'] as const),
    openWindows: gauge(METRIC.openWindows, 'Windows currently open.', ['model'] as const),
    eventsTotal: counter(
      METRIC.eventsTotal,
      'Prediction events ingested, by outcome (model="unknown" for unconfigured models).',
      ['model', 'result'] as const,
    ),
    labelsTotal: counter(METRIC.labelsTotal, 'Label events ingested, by outcome.', [
      'model',
      'result',
    ] as const),
    deadLetterTotal: counter(METRIC.deadLetterTotal, 'Messages dead-lettered, by reason.', [
      'reason',
    ] as const),
    quarantinedTotal: counter(
      METRIC.quarantinedTotal,
      'Items the store refused for good (not retried), kept under <dataDir>/quarantine, by kind.',
      ['kind'] as const,
    ),
    storeWriteSeconds: new Histogram<'table'>({
      name: METRIC.storeWriteSeconds,
      help: 'Duration of store writes.',
      labelNames: ['table'] as const,
      buckets: [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 10],
      registers,
    }),
    storeErrors: counter(METRIC.storeErrors, 'Failed store operations.', ['operation'] as const),
    kafkaConsumerLag: gauge(
      METRIC.kafkaConsumerLag,
      'Messages not yet processed: partition high watermark minus the last processed offset minus 1.',
      ['topic', 'partition'] as const,
    ),
    kafkaRebalances: new Counter({
      name: METRIC.kafkaRebalances,
      help: 'Consumer group rebalances (group joins).',
      registers,
    }),
    clusterLanesOwned: gauge(
      METRIC.clusterLanesOwned,
      'Input lanes whose window state this instance holds (cluster mode): Kafka partitions owned, its HTTP lane.',
      ['kind'] as const,
    ),
    clusterPartialsWritten: counter(
      METRIC.clusterPartialsWritten,
      'Partial window rows written (cluster mode), kind="final" (the lane closed the window) or "provisional" (idle copy).',
      ['kind'] as const,
    ),
    clusterWindowsFinalised: counter(
      METRIC.clusterWindowsFinalised,
      "Windows this instance finalised: merged every lane's partial and wrote the one result (cluster mode).",
      ['model', 'window'] as const,
    ),
    clusterFinalisationDelay: new Histogram({
      name: METRIC.clusterFinalisationDelay,
      help: "Seconds from the last lane closing its part of a window to the window's finalisation (cluster mode).",
      buckets: [0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300],
      registers,
    }),
    clusterWindowsPending: new Gauge({
      name: METRIC.clusterWindowsPending,
      help: 'Windows with partial rows and no finalisation yet, as this instance last looked (cluster mode).',
      registers,
    }),
    kafkaErrors: counter(
      METRIC.kafkaErrors,
      'Failed Kafka client operations (connect attempts, consumer crashes, offset commits, dead-letter sends, lag refreshes).',
      ['operation'] as const,
    ),
    httpRequests: counter(
      METRIC.httpRequests,
      'HTTP requests answered, by method, route pattern (route="unmatched" for unknown paths) and status code.',
      ['method', 'route', 'code'] as const,
    ),
    httpRequestSeconds: new Histogram<'method' | 'route' | 'status_class'>({
      name: METRIC.httpRequestSeconds,
      help: 'Time from request received to response sent, by method, route pattern and status class (2xx, 4xx, 5xx).',
      labelNames: ['method', 'route', 'status_class'] as const,
      buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers,
    }),
    kafkaConsumerReady: new Gauge({
      name: METRIC.kafkaConsumerReady,
      help: "1 while this instance's Kafka consumer runs in its group (joined, fetching), else 0; absent without Kafka.",
      registers: [],
      collect() {
        if (kafkaReady !== null) this.set(kafkaReady() ? 1 : 0);
      },
    }),
    kafkaMessagesProcessed: counter(
      METRIC.kafkaMessagesProcessed,
      'Kafka messages processed (counted into windows, or dead-lettered), by topic.',
      ['topic'] as const,
    ),
    lastEventTimestamp: gauge(
      METRIC.lastEventTimestamp,
      'Event time of the newest accepted event, seconds since epoch.',
      ['model'] as const,
    ),
    configReloads: counter(
      METRIC.configReloads,
      'Config reloads (SIGHUP, POST /api/v1/admin/reload), by result: success, or failure (invalid or refused; the running config stays).',
      ['result'] as const,
    ),
    configRestartRequired: gauge(
      METRIC.configRestartRequired,
      '1 when the last reloaded config changed settings that only a restart applies (listed in the log and the reload answer).',
      [] as const,
    ),
    baselinePerformance: gauge(
      METRIC.baselinePerformance,
      "The model's own performance on its baseline's training data (metric names as driftd_model_performance), for the version's current baseline.",
      ['model', 'version', 'metric'] as const,
    ),
    featureBaselineMissingRatio: gauge(
      METRIC.featureBaselineMissingRatio,
      "Share of the baseline's valid rows with the feature missing (compare driftd_feature_missing_ratio).",
      ['model', 'version', 'feature'] as const,
    ),
    rollbackSignal: gauge(
      METRIC.rollbackSignal,
      '1 when the challenger version was worse than the champion in the latest compared window (alerts.rollback: estimated or realised performance drop, or prediction drift between them), 0 when not; absent without a verdict.',
      ['model', 'champion', 'challenger', 'window'] as const,
    ),
    rollbackSignalConsecutive: gauge(
      METRIC.rollbackSignalConsecutive,
      'Compared windows in a row, up to the latest with a verdict, in which the challenger was worse than the champion (0 once one is not); DriftdChallengerWorse fires at alerts.consecutiveWindows.',
      ['model', 'champion', 'challenger', 'window'] as const,
    ),
    retrainRecommended: gauge(
      METRIC.retrainRecommended,
      '1 while a retrain episode of the model version is open (sustained drift or estimated degradation; GET /api/v1/models/{model}/retrain-recommendations says why), else 0.',
      ['model', 'version'] as const,
    ),
    retrainRecommendations: counter(
      METRIC.retrainRecommendations,
      'Retrain recommendations raised (one per episode) since the daemon started.',
      ['model', 'version'] as const,
    ),
  };
  // Both results exported from the start: a first failure is then an increase from 0.
  for (const result of ['success', 'failure']) m.configReloads.inc({ result }, 0);
  gauge(METRIC.buildInfo, 'driftd build information.', ['version'] as const).set(
    { version: opts.version },
    1,
  );
  collectProcessMetrics(registry);

  /** Error bounds and data-quality shares that the verdict logic does not use. */
  const recordBounds = (fl: Record<FeatureLabels, string>, d: FeatureDrift): void => {
    if (d.ksBound !== null) m.featureKsBound.set(fl, d.ksBound);
    if (d.statisticBound !== null) {
      m.featureStatisticBound.set({ ...fl, test: d.test }, d.statisticBound);
    }
    m.featureBoundStraddles.set(fl, d.boundStraddlesThreshold ? 1 : 0);
    if (d.type === 'categorical') m.featureOtherRatio.set(fl, d.otherRatio);
  };

  const streaks = createStreaks();
  const shown = createShownVersions();
  const maxVersions = opts.maxVersions ?? (() => Number.POSITIVE_INFINITY);

  /** Whether a result of this version gets series (and removes the version it displaces). */
  const admit = (model: string, version: string, end: number): boolean => {
    const a = shown.admit(model, version, end, maxVersions(model));
    if (a.evicted !== undefined) {
      // Displaced: its series and what they were derived from go (memory bounded by the cap).
      removeSeries(model, a.evicted);
      shown.forget(model, a.evicted);
      streaks.forget(model, a.evicted);
      for (const [key, s] of degradedStreaks) {
        if (s.model === model && s.version === a.evicted) degradedStreaks.delete(key);
      }
    }
    return a.admitted;
  };

  /** The consecutive-drift gauges: every verdict counts, even of an older window (a rewrite). */
  const recordStreaks = (r: WindowResult): void => {
    const wl = { model: r.model, version: r.version, window: r.sizeLabel };
    // No verdict (see streaks.ts): too few values, or an open window found clean so far.
    const verdict = (drifted: boolean, insufficient: boolean) =>
      insufficient || (r.provisional && !drifted) ? null : drifted;
    const observe = (series: string, drifted: boolean | null) =>
      streaks.observe({ ...wl, series }, r.start, drifted);
    for (const d of r.features) {
      m.featureDriftConsecutive.set(
        { ...wl, feature: d.feature },
        observe(`feature:${d.feature}`, verdict(d.drifted, d.insufficient)),
      );
    }
    const noFeatureVerdict = r.features.every((d) => d.insufficient);
    m.modelDatasetDriftConsecutive.set(
      wl,
      observe('dataset', verdict(r.datasetDrift, noFeatureVerdict)),
    );
    if (r.prediction) {
      m.predictionDriftConsecutive.set(
        wl,
        observe('prediction', verdict(r.prediction.drifted, r.prediction.insufficient)),
      );
    }
  };

  const recordWindow = (r: WindowResult, o: RecordOptions = {}): void => {
    // A provisional result (quiet stream, window still open) is counted when it closes.
    if (!r.provisional && !o.restored) {
      m.windowsClosed.inc({ model: r.model, window: r.sizeLabel });
    }
    if (!admit(r.model, r.version, r.end)) return;
    const wl = { model: r.model, version: r.version, window: r.sizeLabel };
    recordStreaks(r);
    if (!shown.latest('window', wl, r.start)) return;
    for (const d of r.features) {
      const fl = { ...wl, feature: d.feature };
      m.featurePsi.set(fl, d.psi);
      if (d.ksStatistic !== null) m.featureKsStatistic.set(fl, d.ksStatistic);
      if (d.ksPValue !== null) m.featureKsPValue.set(fl, d.ksPValue);
      m.featureDriftScore.set({ ...fl, test: d.test }, severity(d));
      m.featureDriftThreshold.set({ ...fl, test: d.test }, 1);
      m.featureDriftDetected.set(fl, d.drifted ? 1 : 0);
      m.featureMissingRatio.set(fl, d.missingRatio);
      m.featureOutOfRangeRatio.set(fl, d.outOfRangeRatio);
      m.featureUnseenRatio.set(fl, d.unseenRatio);
      recordBounds(fl, d);
    }
    m.modelDriftShare.set(wl, r.driftShare);
    m.modelDatasetDrift.set(wl, r.datasetDrift ? 1 : 0);
    if (r.prediction) {
      m.predictionPsi.set(wl, r.prediction.psi);
      m.predictionDriftDetected.set(wl, r.prediction.drifted ? 1 : 0);
      if (!r.prediction.insufficient) {
        m.predictionDriftScore.set({ ...wl, test: r.prediction.test }, severity(r.prediction));
      }
    }
    if (r.estimate) {
      for (const [metric, e] of Object.entries(r.estimate.metrics)) {
        if (e.value !== null)
          m.modelPerformanceEstimate.set({ ...wl, metric, band: 'estimate' }, e.value);
        if (e.lower !== null)
          m.modelPerformanceEstimate.set({ ...wl, metric, band: 'lower' }, e.lower);
        if (e.upper !== null)
          m.modelPerformanceEstimate.set({ ...wl, metric, band: 'upper' }, e.upper);
      }
    }
    m.windowEvents.set(wl, r.eventCount);
    m.windowCloseTimestamp.set(wl, r.closedAt / 1000);
  };

  /** Per model, version, window size and metric: the newest judged window and its streak. */
  const degradedStreaks = new Map<
    string,
    { model: string; version: string; start: number; before: number; count: number }
  >();
  const recordVerdict = (p: PerformanceResult, v: PerformanceVerdict): void => {
    const labels = { model: p.model, version: p.version, window: p.sizeLabel, metric: v.metric };
    const key = JSON.stringify(labels);
    const s = degradedStreaks.get(key);
    if (s !== undefined && p.start < s.start) return; // labels for an older window: not the latest
    // The drift runs' rule (src/export/streaks.ts): a window without a verdict (too few labels,
    // or no labelled record at all, a gap) neither extends nor breaks the run; a rewrite of the
    // newest window replaces its verdict.
    const before = s === undefined ? 0 : p.start === s.start ? s.before : s.count;
    const count = v.degraded === null ? before : v.degraded ? before + 1 : 0;
    degradedStreaks.set(key, {
      model: p.model,
      version: p.version,
      start: p.start,
      before,
      count,
    });
    if (v.degraded === null) m.performanceDegraded.remove(labels);
    else m.performanceDegraded.set(labels, v.degraded ? 1 : 0);
    m.performanceDegradedConsecutive.set(labels, count);
  };

  const recordPerformance = (p: PerformanceResult): void => {
    // A record without labels (written at a window's close) carries only the label-free
    // estimate, whose gauges recordWindow sets: it must not become "the latest window with
    // labels", or the realised metrics and verdicts of older labelled windows never show.
    if (p.labeled === 0) return;
    const wl = { model: p.model, version: p.version, window: p.sizeLabel };
    if (!admit(p.model, p.version, p.end) || !shown.latest('performance', wl, p.start)) return;
    m.labelCoverage.set(wl, p.coverage);
    for (const [metric, value] of Object.entries(p.metrics)) {
      if (Number.isFinite(value)) m.modelPerformance.set({ ...wl, metric }, value);
    }
    for (const v of opts.judgePerformance?.(p) ?? []) recordVerdict(p, v);
  };

  const setKafkaReadiness = (ready: (() => boolean) | null): void => {
    const registered = registry.getSingleMetric(METRIC.kafkaConsumerReady) !== undefined;
    kafkaReady = ready;
    if (ready !== null && !registered) registry.registerMetric(m.kafkaConsumerReady);
    if (ready === null && registered) registry.removeSingleMetric(METRIC.kafkaConsumerReady);
  };

  // Per (model, version, window): the window shown and the series it set, so a newer window's
  // groups replace the older one's and no series outlives its window.
  const fairnessShown = new Map<
    string,
    { start: number; series: Array<[Gauge<string>, Record<string, string>]> }
  >();
  const recordFairness = (b: WindowBounds, results: Record<string, FairnessResult>): void => {
    if (!admit(b.model, b.version, b.end)) return;
    const wl0 = { model: b.model, version: b.version, window: b.sizeLabel };
    for (const [attribute, r] of Object.entries(results)) {
      for (const g of r.groups) {
        const key = { ...wl0, series: fairnessSeries(attribute, g.group) };
        m.fairnessDisparityConsecutive.set(
          { ...wl0, attribute, group: g.group },
          streaks.observe(key, b.start, groupDisparity(g)),
        );
      }
    }
    const key = JSON.stringify([b.model, b.version, b.sizeLabel]);
    const shown = fairnessShown.get(key);
    if (shown !== undefined && shown.start > b.start) return;
    for (const [g, labels] of shown?.series ?? []) g.remove(labels);
    const series: Array<[Gauge<string>, Record<string, string>]> = [];
    const set = <L extends string>(g: Gauge<L>, labels: Record<L, string>, v: number) => {
      g.set(labels, v);
      series.push([g as Gauge<string>, labels]);
    };
    const wl = { model: b.model, version: b.version, window: b.sizeLabel };
    for (const [attribute, r] of Object.entries(results)) {
      if (r.equalizedOdds.difference !== null) {
        set(m.fairnessEqualizedOdds, { ...wl, attribute }, r.equalizedOdds.difference);
      }
      for (const g of r.groups) {
        const gl = { ...wl, attribute, group: g.group };
        set(m.fairnessGroupPredictions, gl, g.predictions);
        set(m.fairnessDisparity, gl, g.verdict === 'disparity' ? 1 : 0);
        for (const [metric, ratio] of Object.entries(g.ratios)) {
          if (ratio.value === null || g.group === r.reference) continue;
          set(m.fairnessRatio, { ...gl, metric: metric.replaceAll('-', '_') }, ratio.value);
        }
      }
    }
    fairnessShown.set(key, { start: b.start, series });
  };

  // Per (model, version, window): the window whose segments are shown and the series they set.
  const segmentsShown = new Map<
    string,
    { start: number; series: Array<[Gauge<string>, Record<string, string>]> }
  >();
  const recordSegment = (r: WindowResult): void => {
    if (!r.segment || !admit(r.model, r.version, r.end)) return;
    const key = JSON.stringify([r.model, r.version, r.sizeLabel]);
    let shown = segmentsShown.get(key);
    if (shown !== undefined && shown.start > r.start) return;
    if (shown === undefined || shown.start < r.start) {
      for (const [g, labels] of shown?.series ?? []) g.remove(labels);
      shown = { start: r.start, series: [] };
      segmentsShown.set(key, shown);
    }
    const series = shown.series;
    const set = <L extends string>(g: Gauge<L>, labels: Record<L, string>, v: number) => {
      g.set(labels, v);
      series.push([g as Gauge<string>, labels]);
    };
    const sl = { model: r.model, version: r.version, window: r.sizeLabel, segment: r.segment };
    for (const d of r.features) {
      if (!d.insufficient)
        set(m.segmentDriftDetected, { ...sl, feature: d.feature }, d.drifted ? 1 : 0);
    }
    set(m.segmentDriftShare, sl, r.driftShare);
    set(m.segmentEvents, sl, r.eventCount);
  };

  // Per (model, version, window): the labelled window whose segments' performance is shown.
  const segmentPerformanceShown = new Map<
    string,
    { start: number; series: Array<Record<string, string>> }
  >();
  const recordSegmentPerformance = (p: PerformanceResult): void => {
    if (!p.segment || p.labeled === 0 || !admit(p.model, p.version, p.end)) return;
    const key = JSON.stringify([p.model, p.version, p.sizeLabel]);
    let shown = segmentPerformanceShown.get(key);
    if (shown !== undefined && shown.start > p.start) return;
    if (shown === undefined || shown.start < p.start) {
      for (const labels of shown?.series ?? []) m.segmentPerformance.remove(labels);
      shown = { start: p.start, series: [] };
      segmentPerformanceShown.set(key, shown);
    }
    const sl = { model: p.model, version: p.version, window: p.sizeLabel, segment: p.segment };
    // A rewrite of the window (late labels) replaces the segment's metrics.
    for (const labels of shown.series.filter((l) => l.segment === p.segment)) {
      m.segmentPerformance.remove(labels);
    }
    shown.series = shown.series.filter((l) => l.segment !== p.segment);
    for (const [metric, value] of Object.entries(p.metrics)) {
      if (!Number.isFinite(value)) continue;
      m.segmentPerformance.set({ ...sl, metric }, value);
      shown.series.push({ ...sl, metric });
    }
  };

  // Series set per model version, so a newer baseline's replace them synchronously.
  const baselineSeries = new Map<string, { metrics: string[]; features: string[] }>();
  const recordBaseline = (p: BaselineProfile): void => {
    const vl = { model: p.model, version: p.version };
    const key = `${p.model}\u0000${p.version}`;
    const old = baselineSeries.get(key);
    for (const metric of old?.metrics ?? []) m.baselinePerformance.remove({ ...vl, metric });
    for (const feature of old?.features ?? []) {
      m.featureBaselineMissingRatio.remove({ ...vl, feature });
    }
    const metrics: string[] = [];
    for (const [metric, value] of Object.entries(p.performance ?? {})) {
      if (!Number.isFinite(value)) continue;
      m.baselinePerformance.set({ ...vl, metric }, value);
      metrics.push(metric);
    }
    const features: string[] = [];
    if (p.rowCount > 0) {
      for (const [feature, f] of Object.entries(p.features)) {
        m.featureBaselineMissingRatio.set({ ...vl, feature }, f.missing / p.rowCount);
        features.push(feature);
      }
    }
    baselineSeries.set(key, { metrics, features });
  };

  const versioned = Object.values(m).filter(
    (x): x is Gauge<string> =>
      x instanceof Gauge &&
      ((x as unknown as { labelNames: readonly string[] }).labelNames ?? []).includes('version'),
  );
  // Synchronous (prom-client's own series map; its get() is async): a result of the version
  // recorded right after this must not lose its series to a removal still pending.
  const seriesOf = (g: Gauge<string>) =>
    Object.values(
      (g as unknown as { hashMap: Record<string, { labels: LabelValues<string> }> }).hashMap,
    );
  function removeSeries(model: string, version: string): void {
    for (const g of versioned) {
      for (const { labels } of seriesOf(g)) {
        if (labels.model === model && labels.version === version) g.remove(labels);
      }
    }
    for (const shownMap of [fairnessShown, segmentsShown, segmentPerformanceShown]) {
      for (const key of shownMap.keys()) {
        const [m0, v0] = JSON.parse(key) as [string, string];
        if (m0 === model && v0 === version) shownMap.delete(key);
      }
    }
    // The pair gauges name versions as champion / challenger.
    for (const g of [m.rollbackSignal, m.rollbackSignalConsecutive] as Gauge<string>[]) {
      for (const { labels } of seriesOf(g)) {
        if (
          labels.model === model &&
          (labels.champion === version || labels.challenger === version)
        )
          g.remove(labels);
      }
    }
    for (const [key, s] of rollbackShown) {
      if (s.model === model && (s.champion === version || s.challenger === version))
        rollbackShown.delete(key);
    }
  }

  /**
   * Retired: the series go now. Its drift and degraded runs stay (the version counts against
   * the cap until displaced): the last windows the retirement closed are written after this and
   * show again with their true counts, as they would after a restart; a newer version
   * displaces them.
   */
  const forgetVersion = (model: string, version: string): void => {
    removeSeries(model, version);
    m.comparison.forgetVersion(model, version);
  };

  const seedStreak = (key: StreakKey, history: VerdictHistory): void => streaks.seed(key, history);
  const seedFairnessStreak: Metrics['seedFairnessStreak'] = (k, history) =>
    streaks.seed(
      {
        model: k.model,
        version: k.version,
        window: k.window,
        series: fairnessSeries(k.attribute, k.group),
      },
      history,
    );

  // Per pair and window size: the newest window whose verdict the signal gauge shows.
  const rollbackShown = new Map<
    string,
    { model: string; champion: string; challenger: string; start: number }
  >();
  const recordComparison = (c: VersionComparison): RollbackVerdict | null => {
    if (opts.judgeRollback === undefined) return null;
    const verdict = opts.judgeRollback(c);
    const labels = {
      model: c.model,
      champion: c.champion,
      challenger: c.challenger,
      window: c.window,
    };
    // The drift runs' streaks, one series per champion of the challenger (restart: seedStreak).
    const count = streaks.observe(rollbackStreakKey(c), c.windowStart, verdict.worse);
    m.rollbackSignalConsecutive.set(labels, count);
    const key = JSON.stringify(labels);
    const shownStart = rollbackShown.get(key)?.start;
    if (shownStart !== undefined && c.windowStart < shownStart) return verdict;
    rollbackShown.set(key, { ...labels, start: c.windowStart });
    if (verdict.worse === null) m.rollbackSignal.remove(labels);
    else m.rollbackSignal.set(labels, verdict.worse ? 1 : 0);
    return verdict;
  };

  const recordRetrain: Metrics['recordRetrain'] = (rec, o = {}) => {
    const vl = { model: rec.model, version: rec.version };
    m.retrainRecommended.set(vl, rec.status === 'open' ? 1 : 0);
    if (rec.status === 'open' && !o.restored) m.retrainRecommendations.inc(vl);
  };

  return {
    ...m,
    recordWindow,
    recordSegment,
    recordSegmentPerformance,
    recordPerformance,
    recordFairness,
    recordBaseline,
    seedStreak,
    seedFairnessStreak,
    recordComparison,
    recordRetrain,
    forgetVersion,
    setKafkaReadiness,
  };
}
