import { stringify } from 'yaml';
import {
  type AlertName,
  defaultPipelineAlerts,
  LOWER_IS_BETTER,
  type ModelAlertName,
  type PipelineAlertName,
} from '../config/alerts.js';
import { formatDuration } from '../config/duration.js';
import type {
  AlertSeverity,
  DriftdConfig,
  ModelConfig,
  PerformanceMetric,
  PerformanceThreshold,
  PipelineAlerts,
  ResolvedAlerts,
} from '../config/types.js';
import { METRIC } from './metrics.js';

export { ALERT_NAMES, type AlertName } from '../config/alerts.js';

/**
 * Prometheus alert rules generated from the config (its `alerts:` sections and the models'
 * drift settings), so thresholds, window sizes, owners and metric names cannot drift apart
 * from what the daemon exports.
 *
 * Timing model. Drift and performance alerts fire on the daemon's own count of consecutive
 * drifted / degraded windows (`*_consecutive_windows >= K`, K = alerts.consecutiveWindows),
 * not on a long `for:`: the count is restored from the store at startup, so a daemon restart
 * neither cancels nor delays a page, and a 7d window pages when its K-th drifted window closes
 * rather than 1.5 × 7d later. Data-quality alerts fire on the latest window (its ratios are
 * facts about that window, not samples of a noisy statistic); a window needs
 * drift.minWindowSize events and must have closed recently (a retired version's last gauges
 * never alert forever).
 *
 * Aggregation. Window gauges are a property of the model, not of the daemon instance that
 * exported them, so model rules aggregate `by (model, version, window[, feature])`: several
 * instances (or a restarted pod) never yield duplicate alerts, and the alert labels are
 * exactly the ones Alertmanager routes and inhibits on.
 */

export interface AlertingRule {
  alert: AlertName;
  expr: string;
  for?: string;
  labels: Record<string, string>;
  annotations: { summary: string; description: string; runbook_url?: string };
}

export interface RuleGroup {
  name: string;
  rules: AlertingRule[];
}

/** A Prometheus rules file (`rule_files:` entry), as an object. */
export interface RulesFile {
  groups: RuleGroup[];
}

/** `for:` of the pipeline alerts (their thresholds carry the slack). */
const PIPELINE_FOR = '5m';
const LAG_FOR = '10m';
/** Range of the rate-based alerts (invalid events, dead letters, store errors). */
const RATE_RANGE = '10m';
/** Errors that must persist: some in every ERROR_RANGE for ERROR_FOR (a stray one stays quiet). */
const ERROR_RANGE = '5m';
const ERROR_FOR = '10m';
/** Crash loop: this many consumer crashes within CRASH_RANGE. */
const CRASHES = 3;
const CRASH_RANGE = '15m';
/** NoData waits for the time in which this many events are expected (Poisson: P(0) = e^-20). */
const NO_DATA_EXPECTED_EVENTS = 20;
const MIN_NO_DATA_MS = 5 * 60_000;
const MIN_DEFAULT_NO_DATA_MS = 10 * 60_000;
const MAX_DEFAULT_NO_DATA_MS = 6 * 3_600_000;

/** The alert rules for every configured model plus the pipeline. */
export function generateAlertRules(config: DriftdConfig): RulesFile {
  const groups: RuleGroup[] = config.models.map((model) => ({
    name: `driftd.model.${model.id}`,
    rules: modelRules(model),
  }));
  groups.push({
    name: 'driftd.pipeline',
    rules: pipelineRules(config.alerts ?? defaultPipelineAlerts(), config.kafka !== null),
  });
  return { groups };
}

/** What `driftd rules generate` warns about: settings whose absence makes pages less useful. */
export function alertSettingWarnings(config: DriftdConfig): string[] {
  const out: string[] = [];
  const noRunbook = config.models.filter((m) => m.alerts.runbookBaseUrl === null).map((m) => m.id);
  if (noRunbook.length > 0 || (config.alerts && config.alerts.runbookBaseUrl === null)) {
    out.push(
      'alerts.runbookBaseUrl is not set: alerts carry no runbook link (set it to where docs/runbooks/ is published)',
    );
  }
  if (config.models.some((m) => m.alerts.apiBaseUrl === null)) {
    out.push('alerts.apiBaseUrl is not set: alerts carry no link to the API summary of the model');
  }
  return out;
}

/** Seconds, for PromQL comparisons with time(). */
const seconds = (ms: number) => Math.ceil(ms / 1000);

/** How long DriftdNoData waits: 20 expected events, or the smallest window without a rate. */
export function noDataAfterMs(model: ModelConfig): number {
  const rate = model.alerts.expectedEventsPerSecond;
  if (rate !== null) {
    return Math.max(MIN_NO_DATA_MS, Math.ceil(NO_DATA_EXPECTED_EVENTS / rate) * 1000);
  }
  const smallest = Math.min(...model.windows.sizes.map((s) => s.ms));
  return Math.min(MAX_DEFAULT_NO_DATA_MS, Math.max(MIN_DEFAULT_NO_DATA_MS, smallest));
}

/**
 * How long after its last close the smallest window is overdue: its size (the next one ends),
 * the allowed lateness (the watermark must pass its end), the idle timeout (a quiet stream
 * gets provisional results after it) and a grace of a quarter window, at least 5 minutes.
 */
export function stallAfterMs(model: ModelConfig): number {
  const smallest = Math.min(...model.windows.sizes.map((s) => s.ms));
  return (
    smallest +
    model.windows.allowedLatenessMs +
    model.windows.idleTimeoutMs +
    Math.max(5 * 60_000, Math.ceil(smallest / 4))
  );
}

/** A Go-template expression querying one value; `fallback` when the query returns nothing. */
function queried(promql: string, args: string[], format: string, fallback: string): string {
  const printf = `printf ${JSON.stringify(promql)}${args.map((a) => ` ${a}`).join('')}`;
  return `{{ with ${printf} | query }}{{ . | first | value | printf ${JSON.stringify(format)} }}{{ else }}${fallback}{{ end }}`;
}

function modelRules(model: ModelConfig): AlertingRule[] {
  const a = model.alerts;
  const rules: AlertingRule[] = [];
  const rule = (
    alert: ModelAlertName,
    expr: string,
    text: { summary: string; description: string },
    opts: { for?: number; labels?: Record<string, string> } = {},
  ): void => {
    const severity = a.severity[alert];
    if (severity === 'off') return;
    rules.push(
      build(alert, severity, expr, text, a, { ...opts.labels, model: model.id }, opts.for),
    );
  };
  const d = model.drift;
  const K = a.consecutiveWindows;
  const minEvents = d.minWindowSize;
  const id = JSON.stringify(model.id);
  const W = 'model, version, window';
  const verdictRule =
    d.verdict === 'threshold'
      ? 'fixed thresholds: statistic / threshold for distances, log(adjusted p) / log(threshold) for p-values'
      : `significant after Benjamini-Hochberg at FDR ${d.fdr} and an effect at or above its floor`;

  for (const size of model.windows.sizes) {
    const w = size.label;
    const sel = selector({ model: model.id, window: w });
    // Enough events for a verdict, and a window that closed recently: the gauges of a retired
    // version keep their last value until restart and must not alert forever.
    const fresh = seconds(2 * size.ms + model.windows.allowedLatenessMs);
    const enough = [
      `and on (${W})`,
      `  max by (${W}) (${METRIC.windowEvents}${sel}) >= ${minEvents}`,
      `and on (${W})`,
      `  time() - max by (${W}) (${METRIC.windowCloseTimestamp}${sel}) < ${fresh}`,
    ].join('\n');
    const who = 'model {{ $labels.model }} version {{ $labels.version }}';
    const v = '$labels.version';
    const inWindow = (labels: string) =>
      `{model=${id},version=%q,window=${JSON.stringify(w)}${labels}}`;
    const events = queried(
      `max(${METRIC.windowEvents}${inWindow('')})`,
      [v],
      '%.0f',
      'an unknown number of',
    );
    const latest = `The latest ${w} window had ${events} events.`;
    const link = summaryLink(a, model.id, w);
    const count = (metric: string, labels: string, args: string[]) =>
      queried(`max(${metric}${inWindow(labels)})`, [v, ...args], '%.0f', `${K} or more`);
    const byWindow = { window: w };

    rule(
      'DriftdFeatureDrift',
      [
        `max by (${W}, feature, test) (${METRIC.featureDriftScore}${sel})`,
        `and on (${W}, feature)`,
        `  max by (${W}, feature) (${METRIC.featureDriftConsecutive}${sel}) >= ${K}`,
        enough,
      ].join('\n'),
      {
        summary:
          'Feature {{ $labels.feature }} of {{ $labels.model }} drifted ({{ $labels.test }})',
        description:
          `Feature {{ $labels.feature }} of ${who} drifted from its reference in ` +
          `${count(METRIC.featureDriftConsecutive, ',feature=%q', ['$labels.feature'])} consecutive ${w} windows (alerting at ${K}). ` +
          `Verdict of the {{ $labels.test }} test: drift score {{ printf "%.2f" $value }}, drifted at ` +
          `${queried(`max(${METRIC.featureDriftThreshold}${inWindow(',feature=%q,test=%q')})`, [v, '$labels.feature', '$labels.test'], '%g', '1')} ` +
          `or more (${verdictRule}). ${latest}${link}`,
      },
      { labels: byWindow },
    );
    rule(
      'DriftdDatasetDrift',
      [
        `max by (${W}) (${METRIC.modelDriftShare}${sel})`,
        `and on (${W})`,
        `  max by (${W}) (${METRIC.modelDatasetDriftConsecutive}${sel}) >= ${K}`,
        enough,
      ].join('\n'),
      {
        summary:
          'Dataset drift on {{ $labels.model }}: {{ $value | humanizePercentage }} of features drifted',
        description:
          `{{ $value | humanizePercentage }} of the features of ${who} drifted in the latest ${w} window, ` +
          `and the dataset drifted (${pct(d.shareThreshold)} of features or more) in ` +
          `${count(METRIC.modelDatasetDriftConsecutive, '', [])} consecutive ${w} windows (alerting at ${K}). ${latest}${link}`,
      },
      { labels: byWindow },
    );
    rule(
      'DriftdPredictionDrift',
      [
        `max by (${W}, test) (${METRIC.predictionDriftScore}${sel})`,
        `and on (${W})`,
        `  max by (${W}) (${METRIC.predictionDriftConsecutive}${sel}) >= ${K}`,
        enough,
      ].join('\n'),
      {
        summary: 'Predictions of {{ $labels.model }} drifted ({{ $labels.test }})',
        description:
          `The output distribution of ${who} drifted from its reference in ` +
          `${count(METRIC.predictionDriftConsecutive, '', [])} consecutive ${w} windows (alerting at ${K}). ` +
          `Verdict of the {{ $labels.test }} test: drift score {{ printf "%.2f" $value }}, drifted at 1 or more; ` +
          `output PSI ${queried(`max(${METRIC.predictionPsi}${inWindow('')})`, [v], '%.3f', 'unknown')}. ${latest}${link}`,
      },
      { labels: byWindow },
    );

    // Performance describes the latest window *with labels*, which may be days old: only
    // require the version to still be live (any of its windows closed recently).
    const stallSeconds = seconds(stallAfterMs(model) + size.ms);
    const live = [
      'and on (model, version)',
      `  time() - max by (model, version) (${METRIC.windowCloseTimestamp}${selector({ model: model.id })}) < ${stallSeconds}`,
    ].join('\n');
    for (const [metric, threshold] of Object.entries(a.performance) as [
      PerformanceMetric,
      PerformanceThreshold,
    ][]) {
      const perf = selector({ model: model.id, window: w, metric });
      const q = (name: string, labels: string) => `max(${name}${labels})`;
      const baseline = queried(
        q(METRIC.baselinePerformance, `{model=${id},version=%q,metric=${JSON.stringify(metric)}}`),
        [v],
        '%.3f',
        'unknown',
      );
      const coverage = queried(q(METRIC.labelCoverage, inWindow('')), [v], '%.2f', 'unknown');
      rule(
        'DriftdPerformanceDegraded',
        [
          `max by (${W}, metric) (${METRIC.modelPerformance}${perf})`,
          `and on (${W}, metric)`,
          `  max by (${W}, metric) (${METRIC.performanceDegradedConsecutive}${perf}) >= ${K}`,
          live,
        ].join('\n'),
        {
          summary: `{{ $labels.model }} ${metric} is {{ printf "%.3f" $value }} (${describeThreshold(metric, threshold)})`,
          description:
            `The ${metric} of ${who} is {{ printf "%.3f" $value }} in its latest ${w} window with labels ` +
            `(label coverage ${coverage}; the baseline's ${metric} is ${baseline}). Degraded ` +
            `(${describeThreshold(metric, threshold)}) in ` +
            `${count(METRIC.performanceDegradedConsecutive, `,metric=${JSON.stringify(metric)}`, [])} consecutive ${w} windows with labels (alerting at ${K}).${link}`,
        },
        { labels: { ...byWindow, metric } },
      );
    }

    const coverageSel = `${METRIC.labelCoverage}${sel}`;
    rule(
      'DriftdLabelCoverageLow',
      [
        '(',
        `  max by (${W}) (${coverageSel})`,
        '  or',
        `  0 * max by (${W}) (${METRIC.windowEvents}${sel})`,
        `) < ${a.labelCoverage.alertBelow}`,
        `and on (${W})`,
        `  max by (${W}) (${METRIC.windowEvents}${sel}) >= ${minEvents}`,
        live,
      ].join('\n'),
      {
        summary:
          'Few ground-truth labels for {{ $labels.model }}: {{ $value | humanizePercentage }}',
        description:
          `Only {{ $value | humanizePercentage }} of the predictions of ${who} in its latest ` +
          `${w} window with labels have a ground-truth label (alerting below ` +
          `${pct(a.labelCoverage.alertBelow)}; a performance verdict needs ${pct(a.labelCoverage.minForPerformance)}), ` +
          `so its performance is unknown or unreliable.${link}`,
      },
      { for: Math.max(2 * 3_600_000, 4 * size.ms), labels: byWindow },
    );

    // Data quality of the latest window. The baseline's own missing ratio is the reference: a
    // feature often missing in training is not a schema break when it is missing live.
    const m = selector({ model: model.id });
    const F = `${W}, feature`;
    const missing = `max by (${F}) (${METRIC.featureMissingRatio}${sel})`;
    const baselineMissing = [
      `(`,
      `  max by (model, version, feature) (${METRIC.featureBaselineMissingRatio}${m})`,
      '  or on (model, version, feature)',
      `  0 * max by (model, version, feature) (${METRIC.featureMissingRatio}${sel})`,
      ')',
    ].join('\n');
    const baselineMissingText = queried(
      `max(${METRIC.featureBaselineMissingRatio}{model=${id},version=%q,feature=%q})`,
      [v, '$labels.feature'],
      '%.3f',
      'not known',
    );
    rule(
      'DriftdFeatureAbsent',
      [
        `${missing} >= 1`,
        'unless on (model, version, feature)',
        `  max by (model, version, feature) (${METRIC.featureBaselineMissingRatio}${m}) >= 1`,
        enough,
      ].join('\n'),
      {
        summary:
          'Feature {{ $labels.feature }} of {{ $labels.model }} is absent from its events (schema break?)',
        description:
          `Feature {{ $labels.feature }} is missing from every event of ${who} in the latest ${w} ` +
          `window (baseline missing ratio ${baselineMissingText}). A renamed or dropped field ` +
          `upstream reads as "missing": its drift cannot be judged. ${latest}${link}`,
      },
      { labels: byWindow },
    );
    rule(
      'DriftdFeatureMissing',
      [
        `${missing} < 1`,
        `and on (${F})`,
        `  ${missing}`,
        '  - on (model, version, feature) group_left ()',
        `  ${baselineMissing.split('\n').join('\n  ')}`,
        `  > ${a.dataQuality.missingIncrease}`,
        enough,
      ].join('\n'),
      {
        summary:
          'Feature {{ $labels.feature }} of {{ $labels.model }} is missing in {{ $value | humanizePercentage }} of events',
        description:
          `Feature {{ $labels.feature }} is missing in {{ $value | humanizePercentage }} of the events of ${who} ` +
          `in the latest ${w} window, more than ${a.dataQuality.missingIncrease} above its baseline missing ratio ` +
          `(${baselineMissingText}). ${latest}${link}`,
      },
      { labels: byWindow },
    );
    rule(
      'DriftdUnseenCategories',
      [
        `max by (${F}) (${METRIC.featureUnseenRatio}${sel}) > ${a.dataQuality.unseenRatio}`,
        enough,
      ].join('\n'),
      {
        summary:
          'Feature {{ $labels.feature }} of {{ $labels.model }}: {{ $value | humanizePercentage }} unseen categories',
        description:
          `{{ $value | humanizePercentage }} of the values of feature {{ $labels.feature }} of ${who} in the ` +
          `latest ${w} window are categories never seen in its baseline (alerting above ` +
          `${pct(a.dataQuality.unseenRatio)}). ${latest}${link}`,
      },
      { labels: byWindow },
    );
    rule(
      'DriftdOutOfRange',
      [
        `max by (${F}) (${METRIC.featureOutOfRangeRatio}${sel}) > ${a.dataQuality.outOfRangeRatio}`,
        enough,
      ].join('\n'),
      {
        summary:
          'Feature {{ $labels.feature }} of {{ $labels.model }}: {{ $value | humanizePercentage }} out of range',
        description:
          `{{ $value | humanizePercentage }} of the present values of feature {{ $labels.feature }} of ${who} ` +
          `in the latest ${w} window are outside its baseline range (alerting above ` +
          `${pct(a.dataQuality.outOfRangeRatio)}). ${latest}${link}`,
      },
      { labels: byWindow },
    );

    if (model.fairness) {
      const f = model.fairness;
      // Fairness gauges are computed from the store when labels arrive (src/window/fairness.ts),
      // not counted per window by the daemon: 1.5 windows of `for:` = the last two windows.
      rule(
        'DriftdFairnessDisparity',
        [`max by (${W}, attribute, group) (${METRIC.fairnessDisparity}${sel}) == 1`, live].join(
          '\n',
        ),
        {
          summary:
            'Protected group {{ $labels.attribute }}={{ $labels.group }} of {{ $labels.model }} has a disparity',
          description:
            `The group {{ $labels.group }} of the protected attribute {{ $labels.attribute }} of ` +
            `${who} has a disparity ratio (selection rate, TPR or FPR against the reference ` +
            `group) outside ${f.ratioBounds.min}–${f.ratioBounds.max}` +
            `${f.verdict === 'significant' ? `, significant at ${pct(f.confidence)} confidence` : ''}, ` +
            `in the last two ${w} windows (groups of at least ${f.minGroupSize}).${link}`,
        },
        { for: Math.ceil((1.5 * size.ms) / 1000) * 1000, labels: byWindow },
      );
    }

    // The challenger's run of worse windows (src/window/rollback.ts), while the challenger
    // still closes windows: a version rolled back keeps its last count until restart.
    const P = 'model, champion, challenger, window';
    const signal = `max(${METRIC.rollbackSignal}{model=${id},champion=%q,challenger=%q,window=${JSON.stringify(w)}})`;
    const latestSignal =
      `{{ with printf ${JSON.stringify(signal)} $labels.champion $labels.challenger | query }}` +
      '{{ if eq (. | first | value) 1.0 }}worse{{ else }}not worse{{ end }}' +
      '{{ else }}without a verdict yet{{ end }}';
    rule(
      'DriftdChallengerWorse',
      [
        `max by (${P}) (${METRIC.rollbackSignalConsecutive}${sel}) >= ${K}`,
        'and on (model, challenger, window)',
        '  label_replace(',
        `    time() - max by (${W}) (${METRIC.windowCloseTimestamp}${sel}) < ${fresh},`,
        '    "challenger", "$1", "version", "(.*)"',
        '  )',
      ].join('\n'),
      {
        summary:
          'Challenger {{ $labels.challenger }} of {{ $labels.model }} is worse than champion {{ $labels.champion }}',
        description:
          'Version {{ $labels.challenger }} of model {{ $labels.model }} was worse than the champion ' +
          `version {{ $labels.champion }} in {{ $value }} consecutive ${w} windows (alerting at ${K}): ` +
          `${describeRollback(a)}. In the latest compared window it was ${latestSignal}. ` +
          'Stop the rollout or roll back; the comparison shows which reason holds.' +
          comparisonLink(a, model.id, w),
      },
      { labels: byWindow },
    );
  }

  const m = selector({ model: model.id });
  const events = (result?: string) =>
    `${METRIC.eventsTotal}${selector(result === undefined ? { model: model.id } : { model: model.id, result })}`;
  rule(
    'DriftdInvalidEvents',
    [
      `sum by (model) (rate(${events('invalid')}[${RATE_RANGE}]))`,
      `/ sum by (model) (rate(${events()}[${RATE_RANGE}]))`,
      `> ${a.dataQuality.invalidRatio}`,
    ].join('\n'),
    {
      summary:
        '{{ $value | humanizePercentage }} of the events for {{ $labels.model }} are invalid',
      description:
        `{{ $value | humanizePercentage }} of the prediction events for model {{ $labels.model }} over the last ` +
        `${RATE_RANGE} were rejected as invalid (alerting above ${pct(a.dataQuality.invalidRatio)}): HTTP ` +
        'per-item errors, replay rejections and Kafka dead letters. They are in no window.' +
        summaryLink(a, model.id, undefined),
    },
    { for: 5 * 60_000 },
  );

  // Stalls are judged per model across versions and window sizes: an old version that stops
  // receiving traffic after a rollout must not alert forever.
  const accepted = events('accepted');
  const noDataMs = noDataAfterMs(model);
  const noData = formatDuration(noDataMs);
  const stallMs = stallAfterMs(model);
  const stall = formatDuration(Math.ceil(stallMs / 1000) * 1000);
  const stallSeconds = seconds(stallMs);
  const lastClose = `max by (model) (${METRIC.windowCloseTimestamp}${m})`;
  const expected =
    a.expectedEventsPerSecond === null
      ? 'the smallest window size, as no alerts.expectedEventsPerSecond is set'
      : `the time in which ${NO_DATA_EXPECTED_EVENTS} events are expected at ${a.expectedEventsPerSecond}/s`;
  rule(
    'DriftdNoData',
    // First branch: the counter existed `noData` ago (so the range really covers it) and did
    // not move since. Second: no sample at all for `noData` although driftd was already scraped
    // then (nothing accepted since driftd started). DriftdDown inhibits this alert.
    [
      `sum by (model) (increase(${accepted}[${noData}])) == 0`,
      `  and on (model) group by (model) (${accepted} offset ${noData})`,
      'or',
      `sum by (model) (absent_over_time(${accepted}[${noData}]))`,
      `  and on () group (${METRIC.buildInfo} offset ${noData})`,
    ].join('\n'),
    {
      summary: `No events accepted for {{ $labels.model }} in the last ${noData}`,
      description:
        `driftd accepted no prediction events for model {{ $labels.model }} in the last ${noData} ` +
        `(${expected}), so its drift is not being monitored.`,
    },
    { for: 5 * 60_000 },
  );
  rule(
    'DriftdWindowsStalled',
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
    {
      summary:
        'No window of {{ $labels.model }} closed in the last {{ $value | humanizeDuration }}',
      description:
        'Events for model {{ $labels.model }} are being accepted but no window has closed in the ' +
        `last {{ $value | humanizeDuration }} (alerting after ${stall}: the smallest window, the ` +
        'allowed lateness, the idle timeout and a grace). Drift results are not being produced.',
    },
    { for: 5 * 60_000 },
  );
  return rules;
}

function build(
  alert: AlertName,
  severity: Exclude<AlertSeverity, 'off'>,
  expr: string,
  text: { summary: string; description: string },
  where: Pick<ResolvedAlerts, 'labels' | 'runbookBaseUrl'>,
  fixed: Record<string, string>,
  forMs?: number,
): AlertingRule {
  const runbook =
    where.runbookBaseUrl === null ? {} : { runbook_url: `${where.runbookBaseUrl}/${alert}.md` };
  return {
    alert,
    expr,
    ...(forMs === undefined ? {} : { for: formatDuration(Math.ceil(forMs / 1000) * 1000) }),
    labels: { ...where.labels, ...fixed, severity },
    annotations: { ...text, ...runbook },
  };
}

function summaryLink(
  a: Pick<ResolvedAlerts, 'apiBaseUrl'>,
  model: string,
  window: string | undefined,
): string {
  if (a.apiBaseUrl === null) return '';
  const query = window === undefined ? '' : `?window=${encodeURIComponent(window)}`;
  return ` Summary: ${a.apiBaseUrl}/api/v1/models/${encodeURIComponent(model)}/summary${query}`;
}

/** The conditions that make a challenger worse (alerts.rollback), in words. */
function describeRollback(a: Pick<ResolvedAlerts, 'rollback' | 'performance'>): string {
  const r = a.rollback;
  const metrics = Object.keys(a.performance);
  const out: string[] = [];
  if (metrics.length > 0) {
    out.push(
      `${metrics.join(', ')} worse by more than ${r.estimatedDrop} on the label-free estimate ` +
        `(beyond its noise) or by more than ${r.realisedDrop} on labelled windows`,
    );
  }
  if (r.predictionDrift) out.push("its predictions drifted from the champion's");
  return out.length === 0 ? 'no condition is configured' : out.join(', or ');
}

function comparisonLink(a: Pick<ResolvedAlerts, 'apiBaseUrl'>, model: string, w: string): string {
  if (a.apiBaseUrl === null) return '';
  return ` Comparison: ${a.apiBaseUrl}/api/v1/models/${encodeURIComponent(model)}/comparison?window=${encodeURIComponent(w)}`;
}

function describeThreshold(metric: PerformanceMetric, t: PerformanceThreshold): string {
  if ('below' in t) return `below ${t.below}`;
  if ('above' in t) return `above ${t.above}`;
  return LOWER_IS_BETTER.has(metric)
    ? `more than ${t.dropFromBaseline} above the baseline's`
    : `more than ${t.dropFromBaseline} below the baseline's`;
}

function pipelineRules(p: PipelineAlerts, kafka: boolean): AlertingRule[] {
  const rules: AlertingRule[] = [];
  const rule = (
    alert: PipelineAlertName,
    expr: string,
    forDuration: string | undefined,
    text: { summary: string; description: string },
  ) => {
    const severity = p.severity[alert];
    if (severity === 'off') return;
    const built = build(alert, severity, expr, text, p, {});
    rules.push(forDuration === undefined ? built : { ...built, for: forDuration });
  };
  const up = `up${selector({ job: p.job })}`;
  rule(
    'DriftdUnknownModelEvents',
    `sum(increase(${METRIC.eventsTotal}${selector({ model: 'unknown' })}[${ERROR_RANGE}])) > 0`,
    ERROR_FOR,
    {
      summary: 'driftd receives events for models it does not monitor',
      description:
        `driftd received {{ $value | humanize }} prediction events in the last ${ERROR_RANGE} (and some in ` +
        `every ${ERROR_RANGE} for ${ERROR_FOR}) for model ids that are not configured (counted with ` +
        'model="unknown"). A producer uses a wrong model id, or a model was removed from the config too early.',
    },
  );
  if (kafka) {
    rule(
      'DriftdConsumerLagHigh',
      // One owner per partition; after a rebalance the previous owner may still export a stale
      // value until its next refresh, so dedupe by partition with max.
      [
        'sum by (topic) (',
        `  max by (topic, partition) (${METRIC.kafkaConsumerLag})`,
        `) > ${p.consumerLagMessages}`,
      ].join('\n'),
      LAG_FOR,
      {
        summary: 'driftd is {{ $value | humanize }} messages behind on {{ $labels.topic }}',
        description:
          'The driftd consumer group is {{ $value | humanize }} messages behind on topic ' +
          `{{ $labels.topic }} (alerting above ${p.consumerLagMessages} for ${LAG_FOR}). ` +
          'Drift verdicts are delayed by the time it takes to catch up.',
      },
    );
    rule(
      'DriftdDeadLetterRate',
      `sum by (reason) (rate(${METRIC.deadLetterTotal}[5m])) > ${p.deadLettersPerSecond}`,
      LAG_FOR,
      {
        summary: 'driftd dead-letters {{ printf "%.2f" $value }} messages/s ({{ $labels.reason }})',
        description:
          'driftd sent {{ printf "%.2f" $value }} messages per second to the dead-letter topic with ' +
          `reason {{ $labels.reason }} over the last 5m (alerting above ` +
          `${p.deadLettersPerSecond}/s for ${LAG_FOR}). These events are not in any window.`,
      },
    );
    rule(
      'DriftdKafkaConsumerNotReady',
      `max by (instance) (${METRIC.kafkaConsumerReady}) == 0`,
      PIPELINE_FOR,
      {
        summary: 'The Kafka consumer of driftd instance {{ $labels.instance }} is not consuming',
        description:
          'The Kafka consumer of driftd at {{ $labels.instance }} has not been running in its group for ' +
          `${PIPELINE_FOR} (connecting, rejoining or stopped; its /readyz says which). Its partitions are ` +
          'not being read unless another instance took them over.',
      },
    );
    rule(
      'DriftdKafkaConsumerCrashLooping',
      `sum by (instance) (increase(${METRIC.kafkaErrors}${selector({ operation: 'consumer_crash' })}[${CRASH_RANGE}])) >= ${CRASHES}`,
      undefined,
      {
        summary: 'The Kafka consumer of driftd instance {{ $labels.instance }} is crash-looping',
        description:
          'The Kafka consumer of driftd at {{ $labels.instance }} crashed and restarted ' +
          `{{ $value | humanize }} times in the last ${CRASH_RANGE} (alerting at ${CRASHES}). Each ` +
          'restart rejoins the group, so the whole group keeps rebalancing.',
      },
    );
    rule(
      'DriftdKafkaConsumerStuck',
      [
        'sum by (topic) (',
        `  max by (topic, partition) (${METRIC.kafkaConsumerLag})`,
        ') > 0',
        'unless on (topic)',
        `  sum by (topic) (increase(${METRIC.kafkaMessagesProcessed}[${RATE_RANGE}])) > 0`,
      ].join('\n'),
      PIPELINE_FOR,
      {
        summary:
          'driftd makes no progress on {{ $labels.topic }} ({{ $value | humanize }} messages waiting)',
        description:
          `{{ $value | humanize }} messages are waiting on topic {{ $labels.topic }} but driftd processed none ` +
          `of them in the last ${RATE_RANGE} (plus ${PIPELINE_FOR}). A partition is blocked (a message that ` +
          'cannot be written, a store outage) or the consumer is paused.',
      },
    );
  }
  rule(
    'DriftdStoreErrors',
    `sum by (operation) (increase(${METRIC.storeErrors}[${ERROR_RANGE}])) > 0`,
    ERROR_FOR,
    {
      summary: 'driftd store operation {{ $labels.operation }} keeps failing',
      description:
        `{{ $value | humanize }} store operations {{ $labels.operation }} failed in the last ${ERROR_RANGE} ` +
        `(and some in every ${ERROR_RANGE} for ${ERROR_FOR}). driftd retries and keeps its input until writes ` +
        'succeed, but results and raw events are not being stored meanwhile.',
    },
  );
  rule('DriftdDown', `${up} == 0\nor\nabsent(${up})`, PIPELINE_FOR, {
    summary:
      '{{ if $labels.instance }}driftd instance {{ $labels.instance }} is down' +
      `{{ else }}No driftd target (job ${p.job}) is being scraped{{ end }}`,
    description:
      '{{ if $labels.instance }}Prometheus could not scrape driftd at {{ $labels.instance }}' +
      `{{ else }}Prometheus has no scrape target for job ${p.job} (not deployed, or service ` +
      `discovery lost it){{ end }} for ${PIPELINE_FOR}. Models it monitors get no drift ` +
      'verdicts and no alerts.',
  });
  return rules;
}

/** `{a="x",b="y"}` with PromQL string escaping. */
function selector(labels: Record<string, string>): string {
  const parts = Object.entries(labels).map(([k, v]) => `${k}=${JSON.stringify(v)}`);
  return `{${parts.join(',')}}`;
}

function pct(share: number): string {
  return `${Number((share * 100).toPrecision(6))}%`;
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
