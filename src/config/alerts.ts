import type { ModelTask } from '../types.js';
import type { MapReader, PathSegment, ReadContext } from './schema.js';
import type {
  AlertSeverity,
  PerformanceMetric,
  PerformanceThreshold,
  PipelineAlerts,
  ResolvedAlerts,
} from './types.js';

/**
 * The `alerts:` section: at the top level the defaults (and the pipeline alerts' settings),
 * under a model its own settings, merged over the defaults key by key (`labels`, `severity`
 * and `performance` entry by entry). The alert rules (src/export/rules.ts) and the daemon's
 * performance verdict (src/window/performance-verdict.ts) read only the resolved result.
 */

/** Alerts about one model; each has a runbook at docs/runbooks/<name>.md. */
export const MODEL_ALERT_NAMES = [
  'DriftdFeatureDrift',
  'DriftdDatasetDrift',
  'DriftdPredictionDrift',
  'DriftdPerformanceDegraded',
  'DriftdLabelCoverageLow',
  'DriftdFairnessDisparity',
  'DriftdFeatureAbsent',
  'DriftdFeatureMissing',
  'DriftdUnseenCategories',
  'DriftdOutOfRange',
  'DriftdInvalidEvents',
  'DriftdNoData',
  'DriftdWindowsStalled',
  'DriftdChallengerWorse',
] as const;

/** Alerts about the daemon and its inputs (labels and severity from the top level only). */
export const PIPELINE_ALERT_NAMES = [
  'DriftdUnknownModelEvents',
  'DriftdConsumerLagHigh',
  'DriftdDeadLetterRate',
  'DriftdKafkaConsumerNotReady',
  'DriftdKafkaConsumerCrashLooping',
  'DriftdKafkaConsumerStuck',
  'DriftdStoreErrors',
  'DriftdDown',
] as const;

/** Every alert driftd generates. */
export const ALERT_NAMES = [...MODEL_ALERT_NAMES, ...PIPELINE_ALERT_NAMES] as const;
export type ModelAlertName = (typeof MODEL_ALERT_NAMES)[number];
export type PipelineAlertName = (typeof PIPELINE_ALERT_NAMES)[number];
export type AlertName = (typeof ALERT_NAMES)[number];

/** `off` = the alert is not generated. */
export const ALERT_SEVERITIES = [
  'critical',
  'warning',
  'info',
  'off',
] as const satisfies readonly AlertSeverity[];

/**
 * Critical = someone must act now: the model's quality fell, driftd stopped producing verdicts
 * or lost its input. Drift alone is a warning (a seasonal model drifts daily and is fine), and
 * so are data-quality ratios; a feature absent from all traffic is a schema break: critical.
 */
export const DEFAULT_SEVERITY: Record<AlertName, Exclude<AlertSeverity, 'off'>> = {
  DriftdFeatureDrift: 'warning',
  DriftdDatasetDrift: 'warning',
  DriftdPredictionDrift: 'warning',
  DriftdPerformanceDegraded: 'critical',
  DriftdLabelCoverageLow: 'warning',
  DriftdFairnessDisparity: 'warning',
  DriftdFeatureAbsent: 'critical',
  DriftdFeatureMissing: 'warning',
  DriftdUnseenCategories: 'warning',
  DriftdOutOfRange: 'warning',
  DriftdInvalidEvents: 'warning',
  DriftdNoData: 'warning',
  DriftdWindowsStalled: 'critical',
  DriftdChallengerWorse: 'critical',
  DriftdUnknownModelEvents: 'warning',
  DriftdConsumerLagHigh: 'warning',
  DriftdDeadLetterRate: 'warning',
  DriftdKafkaConsumerNotReady: 'critical',
  DriftdKafkaConsumerCrashLooping: 'critical',
  DriftdKafkaConsumerStuck: 'critical',
  DriftdStoreErrors: 'critical',
  DriftdDown: 'critical',
};

/** The metrics each task computes (src/window/performance.ts), and which way is worse. */
export const TASK_METRICS: Record<ModelTask, readonly PerformanceMetric[]> = {
  'binary-classification': [
    'accuracy',
    'precision',
    'recall',
    'f1',
    'roc_auc',
    'log_loss',
    'brier',
  ],
  multiclass: ['accuracy'],
  regression: ['mae', 'rmse', 'mape'],
};
export const PERFORMANCE_METRICS = [
  'accuracy',
  'precision',
  'recall',
  'f1',
  'roc_auc',
  'log_loss',
  'brier',
  'mae',
  'rmse',
  'mape',
] as const satisfies readonly PerformanceMetric[];
/** Error metrics: higher is worse (a "drop" of performance is a rise of these). */
export const LOWER_IS_BETTER: ReadonlySet<PerformanceMetric> = new Set([
  'log_loss',
  'brier',
  'mae',
  'rmse',
  'mape',
]);

/**
 * Defaults relative to the model's own baseline performance: a model is degraded when it is
 * worse than it was on its training data, not when it is under a universal bar it may never
 * have reached (a credit model with baseline AUC 0.689 would page forever under "AUC < 0.7").
 * Regression errors are in the target's units, so they have no default.
 */
export const DEFAULT_PERFORMANCE: Record<
  ModelTask,
  Partial<Record<PerformanceMetric, PerformanceThreshold>>
> = {
  'binary-classification': {
    roc_auc: { dropFromBaseline: 0.05 },
    brier: { dropFromBaseline: 0.05 },
  },
  multiclass: { accuracy: { dropFromBaseline: 0.05 } },
  regression: {},
};

/** `alerts.rollback` defaults (see ModelAlertsYaml.rollback). */
export const ROLLBACK_DEFAULTS: ResolvedAlerts['rollback'] = {
  estimatedDrop: 0.05,
  realisedDrop: 0.05,
  predictionDrift: true,
};

/** Label names the rules set themselves; routing labels may not replace them. */
const RESERVED_LABELS = new Set([
  'alertname',
  'severity',
  'model',
  'version',
  'window',
  'feature',
  'metric',
  'test',
  'attribute',
  'group',
  'topic',
  'partition',
  'reason',
  'operation',
  'job',
  'instance',
]);
const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/;

/** `models[].alerts` as written; every key optional, absent = the top-level value. */
export interface ModelAlertsYaml {
  /**
   * Routing labels on every alert of the model, e.g. { team: risk-ml }; merged name by name
   * over the top-level ones. Prometheus label names; the labels driftd sets itself (severity,
   * model, version, window, feature, metric, ...) are refused. @default {}
   */
  labels?: Record<string, string>;
  /** Absolute http(s) URL; `runbook_url` = <base>/<AlertName>.md. @default null (no runbook link) */
  runbookBaseUrl?: string;
  /** Absolute http(s) URL of the driftd API as on-call reaches it; alerts link its summary route. @default null */
  apiBaseUrl?: string;
  /** K: drift and performance alerts fire after K consecutive drifted / degraded windows, 1..1000. @default 2 */
  consecutiveWindows?: number;
  /** Per alert name: critical | warning | info | off (not generated). @default DEFAULT_SEVERITY */
  severity?: Partial<Record<AlertName, AlertSeverity>>;
  /**
   * Per metric of the model's task: { below: x }, { above: x } or { dropFromBaseline: x }
   * (worse than the baseline's own value by more than x; for error metrics, above it); null
   * switches a default off. @default binary: roc_auc and brier { dropFromBaseline: 0.05 };
   * multiclass: accuracy { dropFromBaseline: 0.05 }; regression: none
   */
  performance?: Partial<Record<PerformanceMetric, PerformanceThreshold | null>>;
  /** alertBelow: DriftdLabelCoverageLow under this share (0.05); minForPerformance: a performance verdict needs this share labelled (0.1). */
  labelCoverage?: { alertBelow?: number; minForPerformance?: number };
  /**
   * Data-quality alerts, shares in (0, 1]: missingIncrease (missing ratio above the baseline's
   * by more than this, 0.1), unseenRatio (0.05), outOfRangeRatio (0.05), invalidRatio (share of
   * the model's events rejected as invalid over 10 minutes, 0.01).
   */
  dataQuality?: Partial<ResolvedAlerts['dataQuality']>;
  /**
   * Events per second the model normally receives; DriftdNoData then fires after the time in
   * which 20 events are expected (at least 5 minutes). @default null (the smallest window size,
   * between 10 minutes and 6 hours)
   */
  expectedEventsPerSecond?: number;
  /**
   * DriftdChallengerWorse, per challenger version against its champion (src/window/rollback.ts):
   * worse when the drop of a metric of `performance` exceeds estimatedDrop on the label-free
   * estimate (and its noise) or realisedDrop on labelled windows (both in the metric's units,
   * >= 0), or when the versions' predictions drift apart (predictionDrift). Fires after
   * consecutiveWindows worse windows. @default { estimatedDrop: 0.05, realisedDrop: 0.05, predictionDrift: true }
   */
  rollback?: Partial<ResolvedAlerts['rollback']>;
}

/** The top-level `alerts` as written: the models' defaults plus the pipeline alerts' settings. */
export interface AlertsYaml extends ModelAlertsYaml {
  /** Prometheus job scraping driftd, for DriftdDown. @default "driftd" */
  job?: string;
  /** DriftdConsumerLagHigh: total lag of a topic, in messages. @default 100000 */
  consumerLagMessages?: number;
  /** DriftdDeadLetterRate: dead-lettered messages per second, per reason. @default 0.1 */
  deadLettersPerSecond?: number;
}

/** What one `alerts:` mapping sets (absent keys: undefined). */
export interface AlertsInput {
  labels?: Record<string, string>;
  runbookBaseUrl?: string | null;
  apiBaseUrl?: string | null;
  consecutiveWindows?: number;
  severity?: Partial<Record<AlertName, AlertSeverity>>;
  performance?: Partial<Record<PerformanceMetric, PerformanceThreshold | null>>;
  labelCoverage?: { alertBelow?: number; minForPerformance?: number };
  dataQuality?: Partial<ResolvedAlerts['dataQuality']>;
  expectedEventsPerSecond?: number | null;
  rollback?: Partial<ResolvedAlerts['rollback']>;
}

/** The pipeline settings, top level only, with their defaults. */
const PIPELINE_DEFAULTS = {
  job: 'driftd',
  consumerLagMessages: 100_000,
  deadLettersPerSecond: 0.1,
};

/** Reads the top-level `alerts:` mapping: defaults for the models, and the pipeline alerts. */
export function readTopAlerts(r: MapReader): { defaults: AlertsInput; pipeline: PipelineAlerts } {
  const defaults = readAlertsInput(r, undefined);
  const job = r.string('job', { default: PIPELINE_DEFAULTS.job });
  const consumerLagMessages = r.integer('consumerLagMessages', {
    default: PIPELINE_DEFAULTS.consumerLagMessages,
    min: 1,
  });
  const deadLettersPerSecond = r.number('deadLettersPerSecond', {
    default: PIPELINE_DEFAULTS.deadLettersPerSecond,
    min: 0,
    exclusiveMin: true,
  });
  const severity: Partial<Record<AlertName, AlertSeverity>> = defaults.severity ?? {};
  const pipelineSeverity = Object.fromEntries(
    PIPELINE_ALERT_NAMES.map((name) => [name, severity[name] ?? DEFAULT_SEVERITY[name]]),
  ) as Record<PipelineAlertName, AlertSeverity>;
  return {
    defaults,
    pipeline: {
      labels: defaults.labels ?? {},
      runbookBaseUrl: defaults.runbookBaseUrl ?? null,
      apiBaseUrl: defaults.apiBaseUrl ?? null,
      severity: pipelineSeverity,
      job,
      consumerLagMessages,
      deadLettersPerSecond,
    },
  };
}

/** Reads `models[i].alerts`: the same keys as the top level, minus the pipeline settings. */
export function readModelAlerts(r: MapReader, task: ModelTask): AlertsInput {
  for (const key of ['job', 'consumerLagMessages', 'deadLettersPerSecond']) {
    if (r.has(key)) r.issue([key], 'is a pipeline setting: set it in the top-level alerts section');
  }
  return readAlertsInput(r, task);
}

/** Top-level defaults, then the model's own settings, over the built-in defaults. */
export function resolveAlerts(task: ModelTask, top: AlertsInput, own: AlertsInput): ResolvedAlerts {
  const severity = { ...DEFAULT_SEVERITY, ...top.severity, ...own.severity };
  const merged = { ...DEFAULT_PERFORMANCE[task], ...top.performance, ...own.performance };
  const performance: Partial<Record<PerformanceMetric, PerformanceThreshold>> = {};
  for (const metric of TASK_METRICS[task]) {
    const t = merged[metric];
    if (t !== undefined && t !== null) performance[metric] = t;
  }
  return {
    labels: { ...top.labels, ...own.labels },
    runbookBaseUrl: pick(own.runbookBaseUrl, top.runbookBaseUrl, null),
    apiBaseUrl: pick(own.apiBaseUrl, top.apiBaseUrl, null),
    consecutiveWindows: own.consecutiveWindows ?? top.consecutiveWindows ?? 2,
    severity,
    performance,
    labelCoverage: {
      alertBelow: own.labelCoverage?.alertBelow ?? top.labelCoverage?.alertBelow ?? 0.05,
      minForPerformance:
        own.labelCoverage?.minForPerformance ?? top.labelCoverage?.minForPerformance ?? 0.1,
    },
    dataQuality: {
      missingIncrease: own.dataQuality?.missingIncrease ?? top.dataQuality?.missingIncrease ?? 0.1,
      unseenRatio: own.dataQuality?.unseenRatio ?? top.dataQuality?.unseenRatio ?? 0.05,
      outOfRangeRatio: own.dataQuality?.outOfRangeRatio ?? top.dataQuality?.outOfRangeRatio ?? 0.05,
      invalidRatio: own.dataQuality?.invalidRatio ?? top.dataQuality?.invalidRatio ?? 0.01,
    },
    expectedEventsPerSecond: pick(own.expectedEventsPerSecond, top.expectedEventsPerSecond, null),
    rollback: { ...ROLLBACK_DEFAULTS, ...top.rollback, ...own.rollback },
  };
}

/** The built-in settings of a model with no `alerts` anywhere (configs built by hand). */
export function defaultAlerts(task: ModelTask): ResolvedAlerts {
  return resolveAlerts(task, {}, {});
}

/** The pipeline settings of a config with no top-level `alerts` (configs built by hand). */
export function defaultPipelineAlerts(): PipelineAlerts {
  return {
    labels: {},
    runbookBaseUrl: null,
    apiBaseUrl: null,
    severity: Object.fromEntries(
      PIPELINE_ALERT_NAMES.map((name) => [name, DEFAULT_SEVERITY[name]]),
    ) as Record<PipelineAlertName, AlertSeverity>,
    ...PIPELINE_DEFAULTS,
  };
}

function pick<T>(own: T | undefined, top: T | undefined, fallback: T): T {
  return own !== undefined ? own : top !== undefined ? top : fallback;
}

function readAlertsInput(r: MapReader, task: ModelTask | undefined): AlertsInput {
  const out: AlertsInput = {};
  const labels = r.read<Record<string, string> | undefined>('labels', undefined, readLabels);
  if (labels !== undefined) out.labels = labels;
  for (const key of ['runbookBaseUrl', 'apiBaseUrl'] as const) {
    const url = r.read<string | null | undefined>(key, undefined, readAbsoluteUrl);
    if (url !== undefined) out[key] = url;
  }
  if (r.has('consecutiveWindows')) {
    out.consecutiveWindows = r.integer('consecutiveWindows', { min: 1, max: 1000 });
  }
  if (r.has('severity')) {
    out.severity = r.map('severity', (s) => {
      const set: Partial<Record<AlertName, AlertSeverity>> = {};
      for (const name of ALERT_NAMES) {
        if (!s.has(name)) continue;
        if (task !== undefined && (PIPELINE_ALERT_NAMES as readonly string[]).includes(name)) {
          s.issue([name], 'is a pipeline alert: set its severity in the top-level alerts section');
          continue;
        }
        set[name] = s.choice(name, ALERT_SEVERITIES);
      }
      return set;
    });
  }
  if (r.has('performance')) {
    out.performance = r.map('performance', (p) => {
      const set: Partial<Record<PerformanceMetric, PerformanceThreshold | null>> = {};
      for (const metric of PERFORMANCE_METRICS) {
        if (p.isNull(metric)) {
          set[metric] = null; // switches a default off
          continue;
        }
        const value = p.read<PerformanceThreshold | null | undefined>(
          metric,
          undefined,
          (c, path, v) => readThreshold(c, path, v, metric),
        );
        if (value === undefined || value === null) continue;
        if (task !== undefined && !TASK_METRICS[task].includes(metric)) {
          p.issue(
            [metric],
            `is not a metric of ${task} models (they have ${TASK_METRICS[task].join(', ')})`,
          );
          continue;
        }
        set[metric] = value;
      }
      return set;
    });
  }
  if (r.has('labelCoverage')) {
    out.labelCoverage = r.map('labelCoverage', (l) => ({
      ...(l.has('alertBelow') ? { alertBelow: l.number('alertBelow', { min: 0, max: 1 }) } : {}),
      ...(l.has('minForPerformance')
        ? { minForPerformance: l.number('minForPerformance', { min: 0, max: 1 }) }
        : {}),
    }));
  }
  if (r.has('dataQuality')) {
    out.dataQuality = r.map('dataQuality', (d) => {
      const set: Partial<ResolvedAlerts['dataQuality']> = {};
      for (const key of [
        'missingIncrease',
        'unseenRatio',
        'outOfRangeRatio',
        'invalidRatio',
      ] as const) {
        if (d.has(key)) set[key] = d.number(key, { min: 0, max: 1, exclusiveMin: true });
      }
      return set;
    });
  }
  const rate = r.read<number | null | undefined>(
    'expectedEventsPerSecond',
    undefined,
    (c, path, v) => {
      if (typeof v === 'number' && Number.isFinite(v) && v > 0) return v;
      c.issue(
        path,
        'must be a number greater than 0 (events per second the model normally receives)',
      );
      return null;
    },
  );
  if (rate !== undefined) out.expectedEventsPerSecond = rate;
  if (r.has('rollback')) {
    out.rollback = r.map('rollback', (b) => {
      const set: Partial<ResolvedAlerts['rollback']> = {};
      for (const key of ['estimatedDrop', 'realisedDrop'] as const) {
        if (b.has(key)) set[key] = b.number(key, { min: 0 });
      }
      const drift = b.read<boolean | undefined>('predictionDrift', undefined, (c, path, v) => {
        if (typeof v === 'boolean') return v;
        c.issue(path, 'must be true or false');
        return undefined;
      });
      if (drift !== undefined) set.predictionDrift = drift;
      return set;
    });
  }
  return out;
}

function readLabels(ctx: ReadContext, path: PathSegment[], value: unknown): Record<string, string> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    ctx.issue(path, 'must be a mapping of label names to values, e.g. { team: risk-ml }');
    return {};
  }
  const out: Record<string, string> = {};
  for (const [name, v] of Object.entries(value)) {
    const at = [...path, name];
    if (!LABEL_NAME.test(name) || name.startsWith('__')) {
      ctx.issue(
        at,
        'is not a Prometheus label name (letters, digits and _, not starting with a digit or __)',
      );
    } else if (RESERVED_LABELS.has(name)) {
      ctx.issue(at, `is set by driftd's rules (${[...RESERVED_LABELS].join(', ')} are reserved)`);
    } else if (typeof v !== 'string' || v === '') {
      ctx.issue(at, 'must be a non-empty string');
    } else {
      out[name] = v;
    }
  }
  return out;
}

function readAbsoluteUrl(ctx: ReadContext, path: PathSegment[], value: unknown): string | null {
  if (typeof value !== 'string' || value === '') {
    ctx.issue(path, 'must be an absolute http:// or https:// URL');
    return null;
  }
  let url: URL | undefined;
  try {
    url = new URL(value);
  } catch {
    url = undefined;
  }
  if (url === undefined || (url.protocol !== 'http:' && url.protocol !== 'https:')) {
    ctx.issue(
      path,
      `${JSON.stringify(value)} is not an absolute http(s) URL: links in a page must be clickable (e.g. https://runbooks.example.org/driftd)`,
    );
    return null;
  }
  return value.replace(/\/+$/, '');
}

function readThreshold(
  ctx: ReadContext,
  path: PathSegment[],
  value: unknown,
  metric: PerformanceMetric,
): PerformanceThreshold | null {
  const kinds = ['below', 'above', 'dropFromBaseline'] as const;
  const bad = () => {
    const worse = LOWER_IS_BETTER.has(metric) ? 'above' : 'below';
    ctx.issue(
      path,
      `must be one of { below: x }, { above: x } or { dropFromBaseline: x } (for ${metric}, worse is ${worse}), or null to switch a default off`,
    );
    return null;
  };
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return bad();
  const keys = Object.keys(value);
  const kind = keys[0];
  if (keys.length !== 1 || !kinds.includes(kind as (typeof kinds)[number])) return bad();
  const x = (value as Record<string, unknown>)[kind!];
  if (typeof x !== 'number' || !Number.isFinite(x) || (kind === 'dropFromBaseline' && x < 0)) {
    ctx.issue(
      [...path, kind!],
      kind === 'dropFromBaseline' ? 'must be a number of at least 0' : 'must be a finite number',
    );
    return null;
  }
  if (kind === 'below') return { below: x };
  if (kind === 'above') return { above: x };
  return { dropFromBaseline: x };
}
