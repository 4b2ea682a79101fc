import type { ClusterStatus } from '../cluster/status.js';
import type { DriftdConfig, ModelConfig } from '../config/types.js';
import type { Metrics } from '../export/metrics.js';
import type { RejectReason } from '../ingest/decode.js';
import type { Logger } from '../logger.js';
import type { ReloadReport } from '../reload.js';
import type {
  EventSourceSummary,
  FairnessQuery,
  FairnessRowsQuery,
  FairnessWindowResult,
  Store,
  WindowHistory,
  WindowHistoryQuery,
} from '../store/types.js';
import type {
  BaselineProfile,
  EventSource,
  LabelEvent,
  PerformanceResult,
  PredictionEvent,
  WindowResult,
} from '../types.js';
import type { StoredOutcomes } from '../window/fairness.js';
import type { PerformanceVerdict } from '../window/performance-verdict.js';

/** One rejected item of an ingestion batch. */
export interface ItemError {
  index: number;
  reason: RejectReason;
  message: string;
}

export interface IngestReport {
  accepted: number;
  rejected: number;
  /** Per-item errors, capped; `rejected` is the true count. */
  errors: ItemError[];
}

/** What the API needs from the pipeline: the same ingestion path every source uses. */
export interface IngestPort {
  /** `idempotencyKey`: the request's Idempotency-Key header (a retry is counted once). */
  ingestEvents(
    items: readonly unknown[],
    source: 'http' | 'replay',
    opts?: { idempotencyKey?: string },
  ): Promise<IngestReport>;
  ingestLabels(
    items: readonly unknown[],
    opts?: { idempotencyKey?: string },
  ): Promise<IngestReport>;
}

export interface BaselineSummary {
  id: string;
  hash: string;
  model: string;
  version: string;
  createdAt: number;
  rowCount: number;
  source: string;
}

/** What the baseline routes need besides the store: the engine's baseline cache. */
export interface BaselinesPort {
  /** Loads newly stored baselines, so the next window of their version is evaluated on them. */
  refresh(): Promise<void>;
}

export interface StoredPrediction {
  event: PredictionEvent;
  label: LabelEvent | null;
  late: boolean;
  source: EventSource;
  ingestedAt: number;
  /** The text the event arrived as; null when not kept (models with PII fields, events with fields the config does not name). */
  raw: string | null;
}

export interface RangeQuery {
  model: string;
  from: number;
  to: number;
  window?: string;
  feature?: string;
  version?: string;
  /** A segment's results, '*' for every segment's; absent = the whole traffic's. */
  segment?: string;
}

/** An exact KS recompute over raw events (the store computes it inside ClickHouse). */
export interface ExactKsRequest {
  model: string;
  version: string;
  from: number;
  to: number;
  feature: string;
  reference: readonly number[];
}

export interface ExactKsAnswer {
  n: number;
  m: number;
  statistic: number | null;
  pValue: number | null;
  lateEvents: number;
}

/** The read side of the store the API uses (the full Store satisfies it structurally). */
export interface ApiStore extends Pick<Store, 'retrainRecommendations'> {
  listBaselines(opts?: { model?: string }): Promise<BaselineSummary[]>;
  getBaseline(id: string): Promise<BaselineProfile | null>;
  /** Stores a baseline; false when one with its id (content hash) is already stored. */
  saveBaseline(profile: BaselineProfile): Promise<boolean>;
  queryDrift(q: RangeQuery): Promise<WindowResult[]>;
  latestWindowResult(
    model: string,
    opts?: { window?: string; version?: string },
  ): Promise<WindowResult | null>;
  queryPerformance(q: RangeQuery): Promise<PerformanceResult[]>;
  /** Every stored revision of one window, oldest first (results and performance). */
  windowHistory(q: WindowHistoryQuery): Promise<WindowHistory>;
  /** Newest comparison of each (pair, window) starting in [from, to) (models[].comparison). */
  queryComparisons: Store['queryComparisons'];
  getPrediction(id: string, opts?: { model?: string }): Promise<StoredPrediction | null>;
  exactKs(q: ExactKsRequest): Promise<ExactKsAnswer>;
  /** Stored fairness results, the latest computation of each window. */
  queryFairness(q: FairnessQuery): Promise<FairnessWindowResult[]>;
  /** Stored predictions and labels counted per attribute value, prediction and label (a range). */
  fairnessRows(q: FairnessRowsQuery): Promise<StoredOutcomes[]>;
  /** Deletes one prediction's stored copies and labels (id as stored); rows removed per table. */
  erasePrediction(model: string, id: string): Promise<{ events: number; labels: number }>;
  /** Where a model's stored events of a range came from (the period report's lineage). */
  eventSources(q: {
    model: string;
    from: number;
    to: number;
    limit: number;
  }): Promise<EventSourceSummary[]>;
  ping(): Promise<void>;
}

export interface Readiness {
  ready: boolean;
  checks: Record<string, { ok: boolean; detail?: string }>;
}

export interface ApiDeps {
  config: DriftdConfig;
  models: ReadonlyMap<string, ModelConfig>;
  store: ApiStore;
  ingest: IngestPort;
  /** Absent: baseline imports are stored but only seen by the engine at its next refresh. */
  baselines?: BaselinesPort;
  metrics: Metrics;
  logger: Logger;
  readiness: () => Promise<Readiness>;
  /**
   * False while the daemon is not running (starting, waiting for its store, stopping):
   * /api/v1 then answers 503 `DRIFTD_ERR_NOT_READY`. Default: always true.
   */
  accepting?: () => boolean;
  /** Reloads the config file (POST /api/v1/admin/reload); absent = the route answers 404. */
  reload?: () => Promise<ReloadReport>;
  /** Cluster mode's lanes and pending windows (GET /api/v1/cluster); absent = 404. */
  cluster?: (limit: number) => Promise<ClusterStatus>;
  version: string;
  /** Performance verdicts of a window (the daemon's, as on /metrics); none without it. */
  judgePerformance?: (p: PerformanceResult) => readonly PerformanceVerdict[];
}
