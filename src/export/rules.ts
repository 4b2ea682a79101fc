import { stringify } from 'yaml';
import { formatDuration } from '../config/duration.js';
import type { DriftdConfig, ModelConfig, WindowSizeConfig } from '../config/types.js';
import type { ModelTask } from '../types.js';
import { METRIC } from './metrics.js';

/**
 * Prometheus alert rules generated from the model config, so thresholds, window sizes and
 * metric names cannot drift apart from what the daemon exports.
 *
 * Timing model. Every window gauge is latched: it holds the verdict of the latest closed
 * window until the next window of that size closes, roughly one window size later. A `for:`
 * of 1.5 × the window size therefore means "the last two consecutive windows" (the alert
 * fires halfway through the second window's latch), and never races a window boundary the
 * way a whole multiple would. Drift and performance alerts use it; one noisy window does not
 * page anyone. During a backlog replay windows close faster than wall-clock, so only the
 * windows closed in the last 1.5 × size count: that is intended.
 *
 * Aggregation. Window gauges are a property of the model, not of the daemon instance that
 * exported them, so model rules aggregate `by (model, version, window[, feature])`: several
 * instances (or a restarted pod) never yield duplicate alerts, and the alert labels are
 * exactly the ones Alertmanager routes and inhibits on.
 */

/** Every alert driftd generates; each has a runbook at docs/runbooks/<name>.md. */
export const ALERT_NAMES = [
  'DriftdFeatureDrift',
  'DriftdDatasetDrift',
  'DriftdPredictionDrift',
  'DriftdPerformanceDegraded',
  'DriftdLabelCoverageLow',
  'DriftdFairnessDisparity',
  'DriftdNoData',
  'DriftdWindowsStalled',
  'DriftdConsumerLagHigh',
  'DriftdDeadLetterRate',
  'DriftdDown',
] as const;
export type AlertName = (typeof ALERT_NAMES)[number];

export type Severity = 'warning' | 'critical';

export interface AlertingRule {
  alert: AlertName;
  expr: string;
  for?: string;
  labels: Record<string, string>;
  annotations: { summary: string; description: string; runbook_url: string };
}

export interface RuleGroup {
  name: string;
  rules: AlertingRule[];
}

/** A Prometheus rules file (`rule_files:` entry), as an object. */
export interface RulesFile {
  groups: RuleGroup[];
}

/** Binary: accuracy, precision, recall, f1, roc_auc, log_loss, brier; regression: mae, rmse, mape. */
export type PerformanceMetric =
  | 'accuracy'
  | 'precision'
  | 'recall'
  | 'f1'
  | 'roc_auc'
  | 'log_loss'
  | 'brier'
  | 'mae'
  | 'rmse'
  | 'mape';

/** Degraded when the metric is below `below` or above `above`; `null` switches a default off. */
export type PerformanceThresholds = Partial<
  Record<PerformanceMetric, { below: number } | { above: number } | null>
>;

/**
 * Defaults only where a threshold means the same for every model: a ROC AUC under 0.7 is weak
 * discrimination whatever the base rate, and a Brier score over 0.25 is worse than always
 * predicting 0.5. Accuracy, precision, recall, F1 and log loss depend on the base rate, and
 * the regression errors on the target's scale, so those (and multiclass accuracy, which
 * depends on the number of classes) need a per-model value in `performanceThresholds`.
 */
export const DEFAULT_PERFORMANCE_THRESHOLDS: Record<ModelTask, PerformanceThresholds> = {
  'binary-classification': { roc_auc: { below: 0.7 }, brier: { above: 0.25 } },
  multiclass: {},
  regression: {},
};

const TASK_METRICS: Record<ModelTask, readonly PerformanceMetric[]> = {
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

export interface AlertRuleOptions {
  /**
   * Base of every `runbook_url`; the alert's name and `.md` are appended.
   * @default "docs/runbooks" (the repository path; use e.g.
   *   "https://github.com/<org>/driftd/blob/main/docs/runbooks" for clickable links)
   */
  runbookBaseUrl?: string;
  /** Prometheus job scraping driftd, for DriftdDown. @default "driftd" */
  job?: string;
  /** Static labels on every alert, e.g. `{ team: 'ml-platform' }`, for routing. */
  labels?: Record<string, string>;
  /** Extra labels per model id, e.g. `{ 'credit-risk': { team: 'risk-ml' } }`; win over `labels`. */
  modelLabels?: Record<string, Record<string, string>>;
  /** Per model id, merged over DEFAULT_PERFORMANCE_THRESHOLDS for its task. */
  performanceThresholds?: Record<string, PerformanceThresholds>;
  /** Performance alerts need at least this label coverage in the window. @default 0.1 */
  minLabelCoverageForPerformance?: number;
  /** DriftdLabelCoverageLow fires below this coverage. @default 0.05 */
  labelCoverageMin?: number;
  /** DriftdConsumerLagHigh: total lag of a topic, in messages. @default 100000 */
  consumerLagMessages?: number;
  /** DriftdDeadLetterRate: dead-lettered messages per second, per reason. @default 0.1 */
  deadLetterPerSecond?: number;
}

type Defaulted =
  | 'runbookBaseUrl'
  | 'job'
  | 'minLabelCoverageForPerformance'
  | 'labelCoverageMin'
  | 'consumerLagMessages'
  | 'deadLetterPerSecond';

const DEFAULTS: Required<Pick<AlertRuleOptions, Defaulted>> = {
  runbookBaseUrl: 'docs/runbooks',
  job: 'driftd',
  minLabelCoverageForPerformance: 0.1,
  labelCoverageMin: 0.05,
  consumerLagMessages: 100_000,
  deadLetterPerSecond: 0.1,
};

/** Minimum `for:` of label-coverage alerts: labels arrive minutes to days after predictions. */
const LABEL_COVERAGE_MIN_FOR_MS = 2 * 3_600_000;
/** `for:` of the pipeline alerts and of the stall alerts (their thresholds carry the slack). */
const PIPELINE_FOR_MS = 5 * 60_000;
const PIPELINE_FOR = formatDuration(PIPELINE_FOR_MS);
const LAG_FOR = '10m';
const DEAD_LETTER_RANGE = '5m';

/** The alert rules for every configured model plus the pipeline. */
export function generateAlertRules(config: DriftdConfig, opts: AlertRuleOptions = {}): RulesFile {
  const o = { ...DEFAULTS, ...stripUndefined(opts) };
  const runbook = (alert: AlertName) => `${o.runbookBaseUrl.replace(/\/+$/, '')}/${alert}.md`;
  const groups: RuleGroup[] = config.models.map((model) => ({
    name: `driftd.model.${model.id}`,
    rules: modelRules(model, o, runbook),
  }));
  groups.push({ name: 'driftd.pipeline', rules: pipelineRules(o, runbook) });
  return { groups };
}

type Resolved = AlertRuleOptions & Required<Pick<AlertRuleOptions, Defaulted>>;

function modelRules(
  model: ModelConfig,
  o: Resolved,
  runbook: (a: AlertName) => string,
): AlertingRule[] {
  const rules: AlertingRule[] = [];
  const extra = { ...o.labels, ...o.modelLabels?.[model.id] };
  const rule = (
    alert: AlertName,
    severity: Severity,
    expr: string,
    forMs: number,
    summary: string,
    description: string,
    fixed: Record<string, string> = {},
  ): AlertingRule => ({
    alert,
    expr,
    for: formatDuration(forMs),
    labels: { ...extra, model: model.id, ...fixed, severity },
    annotations: { summary, description, runbook_url: runbook(alert) },
  });
  const d = model.drift;
  const minEvents = d.minWindowSize;
  const performance = performanceThresholds(model, o.performanceThresholds?.[model.id]);
  const largest = Math.max(...model.windows.sizes.map((s) => s.ms));
  const stallSeconds = Math.ceil((2 * largest + model.windows.allowedLatenessMs) / 1000);
  const stallMs = stallSeconds * 1000;
  const stall = formatDuration(stallMs);

  for (const size of model.windows.sizes) {
    const sel = selector({ model: model.id, window: size.label });
    const consecutive = twoWindows(size);
    const W = 'model, version, window';
    // Enough events for a verdict, and a window that closed recently: the gauges of a retired
    // version keep their last value until restart and must not alert forever.
    const fresh = Math.ceil((2 * size.ms + model.windows.allowedLatenessMs) / 1000);
    const enough = [
      `and on (${W})`,
      `  max by (${W}) (${METRIC.windowEvents}${sel}) >= ${minEvents}`,
      `and on (${W})`,
      `  time() - max by (${W}) (${METRIC.windowCloseTimestamp}${sel}) < ${fresh}`,
    ].join('\n');
    // Performance and coverage describe the latest window *with labels*, which may be days old:
    // only require the version to still be live (any of its windows closed recently).
    const live = [
      `and on (model, version)`,
      `  time() - max by (model, version) (${METRIC.windowCloseTimestamp}${selector({ model: model.id })}) < ${stallSeconds}`,
    ].join('\n');
    const who = 'model {{ $labels.model }} version {{ $labels.version }}';
    const sample = `windows of at least ${minEvents} events`;
    const byWindow = { window: size.label };

    rules.push(
      rule(
        'DriftdFeatureDrift',
        'warning',
        [
          `max by (${W}, feature) (${METRIC.featurePsi}${sel})`,
          `and on (${W}, feature)`,
          `  max by (${W}, feature) (${METRIC.featureDriftDetected}${sel}) == 1`,
          enough,
        ].join('\n'),
        consecutive,
        'Feature {{ $labels.feature }} of {{ $labels.model }} drifted from its baseline',
        `Feature {{ $labels.feature }} of ${who} drifted from its baseline in the last two ` +
          `${size.label} windows (drift test after Benjamini-Hochberg at FDR ${d.fdr}, ${sample}). ` +
          `PSI is {{ printf "%.3f" $value }} (${d.psiThreshold} or more is a shift).`,
        byWindow,
      ),
      rule(
        'DriftdDatasetDrift',
        'critical',
        [`max by (${W}) (${METRIC.modelDriftShare}${sel}) >= ${d.shareThreshold}`, enough].join(
          '\n',
        ),
        consecutive,
        'Dataset drift on {{ $labels.model }}: {{ $value | humanizePercentage }} of features drifted',
        `{{ $value | humanizePercentage }} of the features of ${who} drifted in the last two ` +
          `${size.label} windows (dataset drift at ${pct(d.shareThreshold)} or more, ${sample}).`,
        byWindow,
      ),
      rule(
        'DriftdPredictionDrift',
        'warning',
        [
          `max by (${W}) (${METRIC.predictionPsi}${sel})`,
          `and on (${W})`,
          `  max by (${W}) (${METRIC.predictionDriftDetected}${sel}) == 1`,
          enough,
        ].join('\n'),
        consecutive,
        'Predictions of {{ $labels.model }} drifted from the baseline',
        `The output distribution of ${who} drifted from its baseline in the last two ` +
          `${size.label} windows (${sample}). ` +
          `PSI is {{ printf "%.3f" $value }} (${d.psiThreshold} or more is a shift).`,
        byWindow,
      ),
    );

    const coverageSel = `${METRIC.labelCoverage}${sel}`;
    for (const [metric, threshold] of performance) {
      const below = 'below' in threshold;
      const value = below ? threshold.below : threshold.above;
      const perfSel = selector({ model: model.id, window: size.label, metric });
      rules.push(
        rule(
          'DriftdPerformanceDegraded',
          'critical',
          [
            `max by (${W}, metric) (${METRIC.modelPerformance}${perfSel}) ${below ? '<' : '>'} ${value}`,
            `and on (${W})`,
            `  max by (${W}) (${coverageSel}) >= ${o.minLabelCoverageForPerformance}`,
            live,
          ].join('\n'),
          consecutive,
          `{{ $labels.model }} ${metric} is {{ printf "%.3f" $value }} (${below ? 'below' : 'above'} ${value})`,
          `The ${metric} of ${who} is {{ printf "%.3f" $value }}, ${below ? 'below' : 'above'} ` +
            `${value}, in the latest ${size.label} windows with labels (at least ` +
            `${pct(o.minLabelCoverageForPerformance)} of their predictions labeled).`,
          { ...byWindow, metric },
        ),
      );
    }

    rules.push(
      rule(
        'DriftdLabelCoverageLow',
        'warning',
        [
          '(',
          `  max by (${W}) (${coverageSel})`,
          '  or',
          `  0 * max by (${W}) (${METRIC.windowEvents}${sel})`,
          `) < ${o.labelCoverageMin}`,
          `and on (${W})`,
          `  max by (${W}) (${METRIC.windowEvents}${sel}) >= ${minEvents}`,
          live,
        ].join('\n'),
        Math.max(LABEL_COVERAGE_MIN_FOR_MS, 4 * size.ms),
        'Few ground-truth labels for {{ $labels.model }}: {{ $value | humanizePercentage }}',
        `Only {{ $value | humanizePercentage }} of the predictions of ${who} in its latest ` +
          `${size.label} window with labels have a ground-truth label (alerting below ` +
          `${pct(o.labelCoverageMin)}), so its performance metrics are missing or unreliable.`,
        byWindow,
      ),
    );

    if (model.fairness) {
      const f = model.fairness;
      const G = `${W}, attribute, group`;
      rules.push(
        rule(
          'DriftdFairnessDisparity',
          'warning',
          [`max by (${G}) (${METRIC.fairnessDisparity}${sel}) == 1`, live].join('\n'),
          consecutive,
          'Protected group {{ $labels.attribute }}={{ $labels.group }} of {{ $labels.model }} has a disparity',
          `The group {{ $labels.group }} of the protected attribute {{ $labels.attribute }} of ` +
            `${who} has a disparity ratio (selection rate, TPR or FPR against the reference ` +
            `group) outside ${f.ratioBounds.min}–${f.ratioBounds.max}` +
            `${f.verdict === 'significant' ? `, significant at ${pct(f.confidence)} confidence` : ''}, ` +
            `in the last two ${size.label} windows (groups of at least ${f.minGroupSize}).`,
          byWindow,
        ),
      );
    }
  }

  // Stalls are judged per model across versions and window sizes: an old version that stops
  // receiving traffic after a rollout must not alert forever.
  const m = selector({ model: model.id });
  const accepted = `${METRIC.eventsTotal}${selector({ model: model.id, result: 'accepted' })}`;
  const lastClose = `max by (model) (${METRIC.windowCloseTimestamp}${m})`;
  rules.push(
    rule(
      'DriftdNoData',
      'warning',
      // First branch: the counter existed `stall` ago (so the range really covers `stall`) and
      // did not move since. Second: no sample at all for `stall` although driftd was already
      // scraped `stall` ago (nothing accepted since driftd started). DriftdDown inhibits this
      // alert when driftd itself is down.
      [
        `sum by (model) (increase(${accepted}[${stall}])) == 0`,
        `  and on (model) group by (model) (${accepted} offset ${stall})`,
        'or',
        `sum by (model) (absent_over_time(${accepted}[${stall}]))`,
        `  and on () group (${METRIC.buildInfo} offset ${stall})`,
      ].join('\n'),
      PIPELINE_FOR_MS,
      `No events accepted for {{ $labels.model }} in the last ${stall}`,
      `driftd accepted no prediction events for model {{ $labels.model }} in the last ${stall} ` +
        '(2 x the largest window + allowed lateness), so its drift is not being monitored.',
    ),
    rule(
      'DriftdWindowsStalled',
      'critical',
      // Value: seconds since the newest window close. Second branch: no close at all in the last
      // `stall` (e.g. never since a restart), for a model whose event counter existed `stall`
      // ago, so a fresh install gets the time to close its first window.
      [
        '(',
        `  time() - ${lastClose} > ${stallSeconds}`,
        '  or',
        `  ${stallSeconds} * group by (model) (${accepted} offset ${stall})`,
        '    unless on (model)',
        `    max by (model) (max_over_time(${METRIC.windowCloseTimestamp}${m}[${stall}]))`,
        ')',
        'and on (model)',
        `  sum by (model) (increase(${accepted}[${stall}])) > 0`,
      ].join('\n'),
      PIPELINE_FOR_MS,
      'No window of {{ $labels.model }} closed in the last {{ $value | humanizeDuration }}',
      'Events for model {{ $labels.model }} are being accepted but no window has closed in the ' +
        `last {{ $value | humanizeDuration }} (alerting after ${stall}: 2 x the largest window + ` +
        'allowed lateness). Drift results are not being produced.',
    ),
  );
  return rules;
}

function pipelineRules(o: Resolved, runbook: (a: AlertName) => string): AlertingRule[] {
  const labels = (severity: Severity) => ({ ...o.labels, severity });
  const annotations = (alert: AlertName, summary: string, description: string) => ({
    summary,
    description,
    runbook_url: runbook(alert),
  });
  const up = `up${selector({ job: o.job })}`;
  return [
    {
      alert: 'DriftdConsumerLagHigh',
      // One owner per partition; after a rebalance the previous owner may still export a stale
      // value until its next refresh, so dedupe by partition with max.
      expr: [
        `sum by (topic) (`,
        `  max by (topic, partition) (${METRIC.kafkaConsumerLag})`,
        `) > ${o.consumerLagMessages}`,
      ].join('\n'),
      for: LAG_FOR,
      labels: labels('warning'),
      annotations: annotations(
        'DriftdConsumerLagHigh',
        'driftd is {{ $value | humanize }} messages behind on {{ $labels.topic }}',
        'The driftd consumer group is {{ $value | humanize }} messages behind on topic ' +
          `{{ $labels.topic }} (alerting above ${o.consumerLagMessages} for ${LAG_FOR}). ` +
          'Drift verdicts are delayed by the time it takes to catch up.',
      ),
    },
    {
      alert: 'DriftdDeadLetterRate',
      expr: `sum by (reason) (rate(${METRIC.deadLetterTotal}[${DEAD_LETTER_RANGE}])) > ${o.deadLetterPerSecond}`,
      for: LAG_FOR,
      labels: labels('warning'),
      annotations: annotations(
        'DriftdDeadLetterRate',
        'driftd dead-letters {{ printf "%.2f" $value }} messages/s ({{ $labels.reason }})',
        'driftd sent {{ printf "%.2f" $value }} messages per second to the dead-letter topic with ' +
          `reason {{ $labels.reason }} over the last ${DEAD_LETTER_RANGE} (alerting above ` +
          `${o.deadLetterPerSecond}/s for ${LAG_FOR}). These events are not in any window.`,
      ),
    },
    {
      alert: 'DriftdDown',
      expr: `${up} == 0\nor\nabsent(${up})`,
      for: PIPELINE_FOR,
      labels: labels('critical'),
      annotations: annotations(
        'DriftdDown',
        '{{ if $labels.instance }}driftd instance {{ $labels.instance }} is down' +
          `{{ else }}No driftd target (job ${o.job}) is being scraped{{ end }}`,
        '{{ if $labels.instance }}Prometheus could not scrape driftd at {{ $labels.instance }}' +
          `{{ else }}Prometheus has no scrape target for job ${o.job} (not deployed, or service ` +
          `discovery lost it){{ end }} for ${PIPELINE_FOR}. Models it monitors get no drift ` +
          'verdicts and no alerts.',
      ),
    },
  ];
}

/** 1.5 × the window size, in whole seconds (see the timing model above). */
function twoWindows(size: WindowSizeConfig): number {
  return Math.ceil((1.5 * size.ms) / 1000) * 1000;
}

function performanceThresholds(
  model: ModelConfig,
  overrides: PerformanceThresholds | undefined,
): [PerformanceMetric, { below: number } | { above: number }][] {
  const merged: PerformanceThresholds = {
    ...DEFAULT_PERFORMANCE_THRESHOLDS[model.task],
    ...overrides,
  };
  const out: [PerformanceMetric, { below: number } | { above: number }][] = [];
  for (const metric of TASK_METRICS[model.task]) {
    const t = merged[metric];
    if (t !== undefined && t !== null) out.push([metric, t]);
  }
  return out;
}

/** `{a="x",b="y"}` with PromQL string escaping. */
function selector(labels: Record<string, string>): string {
  const parts = Object.entries(labels).map(([k, v]) => `${k}=${JSON.stringify(v)}`);
  return `{${parts.join(',')}}`;
}

function pct(share: number): string {
  return `${Number((share * 100).toPrecision(6))}%`;
}

function stripUndefined<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}

const HEADER =
  '# Generated by driftd from the model config (driftd rules generate). Do not edit by hand:\n' +
  '# change the config or the generator (src/export/rules.ts) and regenerate.\n';

/** A Prometheus rules file (for `rule_files:`), as YAML. */
export function toPrometheusRuleYaml(rules: RulesFile): string {
  return HEADER + stringify(rules, { lineWidth: 0 });
}

export interface PrometheusRuleMeta {
  name: string;
  namespace?: string;
  /** Must match the Prometheus resource's `ruleSelector` (kube-prometheus: e.g. `release`). */
  labels?: Record<string, string>;
}

/** Name, namespace and labels of the PrometheusRule that deploy/ and the CLI produce. */
export const DEFAULT_PROMETHEUS_RULE_META: PrometheusRuleMeta = {
  name: 'driftd',
  namespace: 'driftd',
  labels: { 'app.kubernetes.io/part-of': 'driftd', release: 'kube-prometheus-stack' },
};

/** The kube-prometheus `PrometheusRule` resource carrying the same groups. */
export function buildPrometheusRuleCrd(rules: RulesFile, meta: PrometheusRuleMeta) {
  return {
    apiVersion: 'monitoring.coreos.com/v1',
    kind: 'PrometheusRule',
    metadata: {
      name: meta.name,
      ...(meta.namespace === undefined ? {} : { namespace: meta.namespace }),
      labels: { 'app.kubernetes.io/name': 'driftd', ...meta.labels },
    },
    spec: { groups: rules.groups },
  };
}

/** The kube-prometheus `monitoring.coreos.com/v1` PrometheusRule, as YAML. */
export function toPrometheusRuleCrd(rules: RulesFile, meta: PrometheusRuleMeta): string {
  return HEADER + stringify(buildPrometheusRuleCrd(rules, meta), { lineWidth: 0 });
}
