import {
  BigValueColorMode,
  BigValueGraphMode,
  type DataSourceRef,
  LegendDisplayMode,
  LegendPlacement,
  LineInterpolation,
  ReduceDataOptionsBuilder,
  VizLegendOptionsBuilder,
} from '@grafana/grafana-foundation-sdk/common';
import {
  type Dashboard,
  DashboardBuilder,
  DashboardCursorSync,
  DashboardLinkBuilder,
  DashboardLinkType,
  DatasourceVariableBuilder,
  MappingType,
  QueryVariableBuilder,
  RowBuilder,
  type Threshold,
  ThresholdsConfigBuilder,
  ThresholdsMode,
  VariableRefresh,
  VariableSort,
} from '@grafana/grafana-foundation-sdk/dashboard';
import { DataqueryBuilder, PromQueryFormat } from '@grafana/grafana-foundation-sdk/prometheus';
import * as stat from '@grafana/grafana-foundation-sdk/stat';
import * as statetimeline from '@grafana/grafana-foundation-sdk/statetimeline';
import * as table from '@grafana/grafana-foundation-sdk/table';
import * as timeseries from '@grafana/grafana-foundation-sdk/timeseries';
import type { DriftdConfig } from '../config/types.js';
import { METRIC } from './metrics.js';
import { PROCESS_METRIC } from './process-metrics.js';

/**
 * Grafana dashboards generated as code from the same METRIC constants the daemon exports, so a
 * renamed metric cannot leave a dangling panel (test/unit/export/dashboards.test.ts checks every
 * query). Three dashboards with stable uids: the fleet overview, the drill-down of one model,
 * and the health of the pipeline. `scripts/generate-assets.ts` writes them to dashboards/.
 */

export const DASHBOARD_UIDS = {
  fleet: 'driftd-fleet',
  model: 'driftd-model',
  pipeline: 'driftd-pipeline',
} as const;
export type DashboardUid = (typeof DASHBOARD_UIDS)[keyof typeof DASHBOARD_UIDS];

/** A dashboard as Grafana imports it (the JSON model, also what `dashboards/<uid>.json` holds). */
export type DashboardJson = Dashboard;

// biome-ignore lint/suspicious/noTemplateCurlyInString: Grafana's variable syntax, not a template
const DS: DataSourceRef = { type: 'prometheus', uid: '${datasource}' };
const TAGS = ['driftd', 'ml-monitoring'];

/** Defaults taken from the config when given: the first model and window are preselected. */
interface Defaults {
  model?: string;
  window?: string;
  psiThreshold: number;
  shareThreshold: number;
}

function defaultsOf(config?: DriftdConfig): Defaults {
  const first = config?.models[0];
  return {
    ...(first === undefined ? {} : { model: first.id }),
    ...(first?.windows.sizes[0] === undefined ? {} : { window: first.windows.sizes[0].label }),
    psiThreshold: first?.drift.psiThreshold ?? 0.2,
    shareThreshold: first?.drift.shareThreshold ?? 0.5,
  };
}

/** The three driftd dashboards, keyed by uid, as Grafana dashboard JSON models. */
export function generateDashboards(config?: DriftdConfig): Record<DashboardUid, DashboardJson> {
  const d = defaultsOf(config);
  return {
    [DASHBOARD_UIDS.fleet]: numberPanels(fleetDashboard(d)),
    [DASHBOARD_UIDS.model]: numberPanels(modelDashboard(d)),
    [DASHBOARD_UIDS.pipeline]: numberPanels(pipelineDashboard()),
  };
}

/** Stable panel ids in layout order (Grafana links and embeds panels by id). */
function numberPanels(dashboard: DashboardJson): DashboardJson {
  let next = 1;
  const visit = (panels: readonly unknown[] | undefined) => {
    for (const panel of panels ?? []) {
      const p = panel as { id?: number; panels?: unknown[] };
      p.id = next++;
      visit(p.panels);
    }
  };
  visit(dashboard.panels);
  return dashboard;
}

/**
 * Every PromQL expression in a dashboard: panel targets (rows included) and the metric
 * selectors inside `label_values(...)`/`query_result(...)` variable queries. Grafana variables
 * (`$model`, `$__rate_interval`) are left in place.
 */
export function dashboardQueries(dashboard: DashboardJson): string[] {
  const out: string[] = [];
  const visit = (panels: readonly unknown[] | undefined) => {
    for (const panel of panels ?? []) {
      const p = panel as { targets?: { expr?: unknown }[]; panels?: unknown[] };
      for (const t of p.targets ?? []) if (typeof t.expr === 'string') out.push(t.expr);
      visit(p.panels);
    }
  };
  visit(dashboard.panels);
  for (const v of dashboard.templating?.list ?? []) {
    if (v.type !== 'query') continue;
    const text = typeof v.query === 'string' ? v.query : String(v.query?.query ?? '');
    const m = /^\s*(?:label_values|query_result)\((.*)\)\s*$/s.exec(text);
    if (m === null) continue;
    // label_values(selector, label): the selector is everything before the last comma.
    const inner = m[1]!;
    const selector = text.trimStart().startsWith('label_values')
      ? inner.slice(0, Math.max(0, inner.lastIndexOf(','))).trim()
      : inner.trim();
    if (selector !== '') out.push(selector);
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Building blocks
// ---------------------------------------------------------------------------------------------

function query(
  expr: string,
  legend?: string,
  opts: { instant?: boolean; table?: boolean; refId?: string } = {},
): DataqueryBuilder {
  const q = new DataqueryBuilder().datasource(DS).expr(expr);
  if (legend !== undefined) q.legendFormat(legend);
  if (opts.instant) q.instant();
  else q.range();
  if (opts.table) q.format(PromQueryFormat.Table);
  if (opts.refId !== undefined) q.refId(opts.refId);
  return q;
}

function thresholds(...steps: [number | null, string][]): ThresholdsConfigBuilder {
  return new ThresholdsConfigBuilder()
    .mode(ThresholdsMode.Absolute)
    .steps(steps.map(([value, color]): Threshold => ({ value, color })));
}

function lineChart(title: string, description: string, unit = 'none'): timeseries.PanelBuilder {
  return new timeseries.PanelBuilder()
    .title(title)
    .description(description)
    .datasource(DS)
    .unit(unit)
    .lineInterpolation(LineInterpolation.StepAfter)
    .legend(
      new VizLegendOptionsBuilder()
        .displayMode(LegendDisplayMode.Table)
        .placement(LegendPlacement.Right)
        .showLegend(true)
        .calcs(['lastNotNull', 'max']),
    )
    .height(8)
    .span(12);
}

function statPanel(title: string, description: string, unit = 'none'): stat.PanelBuilder {
  return new stat.PanelBuilder()
    .title(title)
    .description(description)
    .datasource(DS)
    .unit(unit)
    .reduceOptions(new ReduceDataOptionsBuilder().calcs(['lastNotNull']).values(false))
    .colorMode(BigValueColorMode.Background)
    .graphMode(BigValueGraphMode.None)
    .height(4)
    .span(4);
}

function tablePanel(title: string, description: string): table.PanelBuilder {
  return new table.PanelBuilder().title(title).description(description).datasource(DS).height(8);
}

const yesNo = [
  {
    type: MappingType.ValueToText as const,
    options: {
      '0': { text: 'no', color: 'green', index: 0 },
      '1': { text: 'yes', color: 'red', index: 1 },
    },
  },
];

/** Instant table queries merged on their labels into one row per series, columns renamed. */
function mergedTable(columns: Record<string, string>, hide: string[] = []) {
  return [
    { id: 'merge', options: {} },
    {
      id: 'organize',
      options: {
        excludeByName: Object.fromEntries(['Time', ...hide].map((c) => [c, true])),
        renameByName: columns,
      },
    },
  ];
}

function datasourceVariable(): DatasourceVariableBuilder {
  return new DatasourceVariableBuilder('datasource').label('Data source').type('prometheus');
}

function labelVariable(
  name: string,
  label: string,
  selector: string,
  opts: { multi?: boolean; current?: string } = {},
): QueryVariableBuilder {
  const text = `label_values(${selector}, ${name})`;
  const v = new QueryVariableBuilder(name)
    .label(label)
    .datasource(DS)
    .query(text)
    .definition(text)
    .refresh(VariableRefresh.OnTimeRangeChanged)
    .sort(VariableSort.AlphabeticalAsc);
  if (opts.multi) v.multi(true).includeAll(true).allValue('.*');
  if (opts.current !== undefined) {
    v.current({ text: opts.current, value: opts.current, selected: true });
  } else if (opts.multi) {
    v.current({ text: 'All', value: '$__all', selected: true });
  }
  return v;
}

function links(): DashboardLinkBuilder {
  return new DashboardLinkBuilder('driftd')
    .type(DashboardLinkType.Dashboards)
    .tags(['driftd'])
    .asDropdown(true)
    .includeVars(true)
    .keepTime(true);
}

function base(uid: DashboardUid, title: string, description: string): DashboardBuilder {
  return new DashboardBuilder(title)
    .uid(uid)
    .description(description)
    .tags(TAGS)
    .editable()
    .tooltip(DashboardCursorSync.Crosshair)
    .refresh('1m')
    .time({ from: 'now-24h', to: 'now' })
    .timezone('browser')
    .link(links());
}

// ---------------------------------------------------------------------------------------------
// Fleet overview
// ---------------------------------------------------------------------------------------------

function fleetDashboard(d: Defaults): DashboardJson {
  const sel = '{model=~"$model",window="$window"}';
  const models = '{model=~"$model"}';
  const b = base(
    DASHBOARD_UIDS.fleet,
    'driftd / Fleet overview',
    'Every monitored model: drift of its latest closed window, performance, alerts. ' +
      'Click a model in the table to drill down.',
  )
    .withVariable(datasourceVariable())
    .withVariable(labelVariable('model', 'Model', METRIC.windowEvents, { multi: true }))
    .withVariable(
      labelVariable('window', 'Window', `${METRIC.windowEvents}${models}`, {
        ...(d.window === undefined ? {} : { current: d.window }),
      }),
    )
    .withRow(new RowBuilder('Now'))
    .withPanel(
      statPanel('Models', 'Models with a closed window in the selected range.')
        .withTarget(
          query(`count(count by (model) (${METRIC.windowEvents}${models}))`, undefined, {
            instant: true,
          }),
        )
        .thresholds(thresholds([null, 'blue'])),
    )
    .withPanel(
      statPanel(
        'Models with dataset drift',
        'Models whose latest closed window has dataset drift (drift share at or above the ' +
          'threshold).',
      )
        .withTarget(
          query(
            `count(max by (model) (${METRIC.modelDatasetDrift}${sel}) == 1) or vector(0)`,
            undefined,
            { instant: true },
          ),
        )
        .thresholds(thresholds([null, 'green'], [1, 'red'])),
    )
    .withPanel(
      statPanel('Firing driftd alerts', 'Alerts named Driftd* firing now (Prometheus ALERTS).')
        .withTarget(
          query(
            'count(ALERTS{alertname=~"Driftd.*",alertstate="firing"}) or vector(0)',
            undefined,
            {
              instant: true,
            },
          ),
        )
        .thresholds(thresholds([null, 'green'], [1, 'orange'])),
    )
    .withPanel(
      statPanel('Accepted events/s', 'Prediction events accepted into windows, all models.', 'ops')
        .withTarget(
          query(
            `sum(rate(${METRIC.eventsTotal}{model=~"$model",result="accepted"}[$__rate_interval]))`,
            undefined,
            { instant: true },
          ),
        )
        .thresholds(thresholds([null, 'blue'])),
    )
    .withPanel(
      statPanel(
        'Rejected events/s',
        'Events that were late, invalid, duplicated or had no baseline.',
        'ops',
      )
        .withTarget(
          query(
            `sum(rate(${METRIC.eventsTotal}{model=~"$model",result!="accepted"}[$__rate_interval])) or vector(0)`,
            undefined,
            { instant: true },
          ),
        )
        .thresholds(thresholds([null, 'green'], [1, 'orange'])),
    )
    .withPanel(
      statPanel('Lowest label coverage', 'Lowest share of predictions with a label.', 'percentunit')
        .withTarget(query(`min(${METRIC.labelCoverage}${sel})`, undefined, { instant: true }))
        .thresholds(thresholds([null, 'red'], [0.05, 'orange'], [0.2, 'green'])),
    )
    .withRow(new RowBuilder('Models'))
    .withPanel(
      tablePanel(
        'Models (latest closed window)',
        'One row per model version. Drift share = share of features that drifted; ' +
          'close age = seconds since the window closed.',
      )
        .span(24)
        .withTarget(
          query(`max by (model, version) (${METRIC.modelDriftShare}${sel})`, undefined, {
            instant: true,
            table: true,
            refId: 'share',
          }),
        )
        .withTarget(
          query(`max by (model, version) (${METRIC.predictionPsi}${sel})`, undefined, {
            instant: true,
            table: true,
            refId: 'prediction',
          }),
        )
        .withTarget(
          query(`max by (model, version) (${METRIC.windowEvents}${sel})`, undefined, {
            instant: true,
            table: true,
            refId: 'events',
          }),
        )
        .withTarget(
          query(`max by (model, version) (${METRIC.labelCoverage}${sel})`, undefined, {
            instant: true,
            table: true,
            refId: 'coverage',
          }),
        )
        .withTarget(
          query(
            `time() - max by (model, version) (${METRIC.windowCloseTimestamp}${sel})`,
            undefined,
            { instant: true, table: true, refId: 'age' },
          ),
        )
        .transformations(
          mergedTable({
            model: 'Model',
            version: 'Version',
            'Value #share': 'Drift share',
            'Value #prediction': 'Prediction PSI',
            'Value #events': 'Events',
            'Value #coverage': 'Label coverage',
            'Value #age': 'Close age (s)',
          }),
        )
        .dataLinks([
          new DashboardLinkBuilder('Drill down')
            .type(DashboardLinkType.Link)
            .url(
              `/d/${DASHBOARD_UIDS.model}?var-model=\${__data.fields.model}&var-version=\${__data.fields.version}&var-window=$window&\${__url_time_range}`,
            ),
        ]),
    )
    .withPanel(
      lineChart(
        'Drift share by model',
        'Share of features that drifted in each closed window.',
        'percentunit',
      )
        .withTarget(
          query(
            `max by (model, version) (${METRIC.modelDriftShare}${sel})`,
            '{{model}} v{{version}}',
          ),
        )
        .min(0)
        .max(1)
        .thresholds(thresholds([null, 'green'], [d.shareThreshold, 'red'])),
    )
    .withPanel(
      lineChart('Prediction PSI by model', 'PSI of the model output vs its baseline.')
        .withTarget(
          query(
            `max by (model, version) (${METRIC.predictionPsi}${sel})`,
            '{{model}} v{{version}}',
          ),
        )
        .min(0)
        .thresholds(thresholds([null, 'green'], [d.psiThreshold, 'red'])),
    )
    .withPanel(
      lineChart(
        'Performance by model',
        'Performance of the latest window with labels (metric label names it; the label-free estimates and their gaps are on the model dashboard).',
      ).withTarget(
        query(
          `max by (model, version, metric) (${METRIC.modelPerformance}{model=~"$model",window="$window",metric!~"estimate.*"})`,
          '{{model}} v{{version}} {{metric}}',
        ),
      ),
    )
    .withPanel(
      lineChart(
        'Accepted events/s by model',
        'Prediction events accepted per second.',
        'ops',
      ).withTarget(
        query(
          `sum by (model) (rate(${METRIC.eventsTotal}{model=~"$model",result="accepted"}[$__rate_interval]))`,
          '{{model}}',
        ),
      ),
    )
    .withRow(new RowBuilder('Alerts'))
    .withPanel(
      tablePanel('Firing driftd alerts', 'Alerts named Driftd* firing now, with their labels.')
        .span(24)
        .withTarget(
          query(
            'max by (alertname, severity, model, version, window, feature, metric) (ALERTS{alertname=~"Driftd.*",alertstate="firing"})',
            undefined,
            { instant: true, table: true },
          ),
        )
        .transformations(mergedTable({}, ['Value'])),
    );
  return b.build();
}

// ---------------------------------------------------------------------------------------------
// Model drill-down
// ---------------------------------------------------------------------------------------------

function modelDashboard(d: Defaults): DashboardJson {
  const sel = '{model="$model",version=~"$version",window="$window"}';
  const fsel = '{model="$model",version=~"$version",window="$window",feature=~"$feature"}';
  // Comparison series name versions as champion / challenger, not `version`.
  const vsel = '{model="$model",window="$window"}';
  const b = base(
    DASHBOARD_UIDS.model,
    'driftd / Model',
    'One model: which features moved, since when, by how much; prediction drift, ' +
      'performance, label coverage and data quality. Diagnose further through the driftd API ' +
      '(GET /api/v1/models/<model>/summary).',
  )
    .withVariable(datasourceVariable())
    .withVariable(
      labelVariable('model', 'Model', METRIC.windowEvents, {
        ...(d.model === undefined ? {} : { current: d.model }),
      }),
    )
    .withVariable(
      labelVariable('version', 'Version', `${METRIC.windowEvents}{model="$model"}`, {
        multi: true,
      }),
    )
    .withVariable(
      labelVariable('window', 'Window', `${METRIC.windowEvents}{model="$model"}`, {
        ...(d.window === undefined ? {} : { current: d.window }),
      }),
    )
    .withVariable(
      labelVariable('feature', 'Feature', `${METRIC.featurePsi}{model="$model"}`, {
        multi: true,
      }),
    )
    .withRow(new RowBuilder('Latest closed window'))
    .withPanel(
      statPanel('Drift share', 'Share of features that drifted.', 'percentunit')
        .span(4)
        .withTarget(query(`max(${METRIC.modelDriftShare}${sel})`, undefined, { instant: true }))
        .thresholds(thresholds([null, 'green'], [d.shareThreshold, 'red'])),
    )
    .withPanel(
      statPanel('Dataset drift', 'Drift share at or above the dataset-drift threshold.')
        .span(4)
        .withTarget(query(`max(${METRIC.modelDatasetDrift}${sel})`, undefined, { instant: true }))
        .mappings(yesNo)
        .thresholds(thresholds([null, 'green'], [1, 'red'])),
    )
    .withPanel(
      statPanel('Prediction PSI', 'PSI of the model output vs the baseline.')
        .span(4)
        .decimals(3)
        .withTarget(query(`max(${METRIC.predictionPsi}${sel})`, undefined, { instant: true }))
        .thresholds(thresholds([null, 'green'], [d.psiThreshold, 'red'])),
    )
    .withPanel(
      statPanel('Events in window', 'Events in the latest closed window.')
        .span(4)
        .withTarget(query(`sum(${METRIC.windowEvents}${sel})`, undefined, { instant: true }))
        .thresholds(thresholds([null, 'blue'])),
    )
    .withPanel(
      statPanel('Label coverage', 'Share of predictions with a ground-truth label.', 'percentunit')
        .span(4)
        .withTarget(query(`min(${METRIC.labelCoverage}${sel})`, undefined, { instant: true }))
        .thresholds(thresholds([null, 'red'], [0.05, 'orange'], [0.2, 'green'])),
    )
    .withPanel(
      statPanel('Last window closed', 'Time since the latest window closed.', 's')
        .span(4)
        .withTarget(
          query(`time() - max(${METRIC.windowCloseTimestamp}${sel})`, undefined, { instant: true }),
        )
        .thresholds(thresholds([null, 'green'])),
    )
    .withRow(new RowBuilder('Feature drift'))
    .withPanel(
      tablePanel(
        'Top movers',
        'Features ranked by PSI in the latest closed window, with the drift verdict (after ' +
          'Benjamini-Hochberg), KS statistic and missing ratio. Details: ' +
          'GET /api/v1/models/<model>/features/<feature>/histogram.',
      )
        .span(12)
        .withTarget(
          query(`topk(15, max by (feature) (${METRIC.featurePsi}${fsel}))`, undefined, {
            instant: true,
            table: true,
            refId: 'psi',
          }),
        )
        .withTarget(
          query(`max by (feature) (${METRIC.featureDriftDetected}${fsel})`, undefined, {
            instant: true,
            table: true,
            refId: 'drifted',
          }),
        )
        .withTarget(
          query(`max by (feature) (${METRIC.featureKsStatistic}${fsel})`, undefined, {
            instant: true,
            table: true,
            refId: 'ks',
          }),
        )
        .withTarget(
          query(`max by (feature) (${METRIC.featureMissingRatio}${fsel})`, undefined, {
            instant: true,
            table: true,
            refId: 'missing',
          }),
        )
        .transformations([
          ...mergedTable({
            feature: 'Feature',
            'Value #psi': 'PSI',
            'Value #drifted': 'Drifted',
            'Value #ks': 'KS statistic',
            'Value #missing': 'Missing ratio',
          }),
          {
            id: 'filterByValue',
            options: {
              filters: [{ fieldName: 'PSI', config: { id: 'isNotNull', options: {} } }],
              type: 'include',
              match: 'all',
            },
          },
          { id: 'sortBy', options: { sort: [{ field: 'PSI', desc: true }] } },
        ])
        .overrideByName('Drifted', [{ id: 'mappings', value: yesNo }]),
    )
    .withPanel(
      lineChart(
        'Top movers over time',
        'PSI of the five features with the highest PSI at each point.',
      )
        .withTarget(query(`topk(5, max by (feature) (${METRIC.featurePsi}${fsel}))`, '{{feature}}'))
        .min(0)
        .thresholds(thresholds([null, 'green'], [d.psiThreshold, 'red'])),
    )
    .withPanel(
      new statetimeline.PanelBuilder()
        .title('Drift verdict per feature')
        .description('Red: the feature drifted in that window (after Benjamini-Hochberg).')
        .datasource(DS)
        .withTarget(
          query(`max by (feature) (${METRIC.featureDriftDetected}${fsel})`, '{{feature}}'),
        )
        .mappings(yesNo)
        .mergeValues(true)
        .height(8)
        .span(12),
    )
    .withPanel(
      lineChart(
        'Consecutive drifted windows',
        'Windows in a row (with events, up to the latest) in which each feature, the dataset and ' +
          'the model output drifted; the drift alerts fire when it reaches their window count.',
      )
        .withTarget(
          query(`max by (feature) (${METRIC.featureDriftConsecutive}${fsel})`, '{{feature}}'),
        )
        .withTarget(query(`max(${METRIC.modelDatasetDriftConsecutive}${sel})`, 'dataset drift'))
        .withTarget(query(`max(${METRIC.predictionDriftConsecutive}${sel})`, 'prediction drift'))
        .min(0),
    )
    .withPanel(
      lineChart('PSI per feature', 'Population stability index of each feature vs its baseline.')
        .withTarget(query(`max by (feature) (${METRIC.featurePsi}${fsel})`, '{{feature}}'))
        .min(0)
        .thresholds(thresholds([null, 'green'], [d.psiThreshold, 'red'])),
    )
    .withPanel(
      lineChart(
        'KS statistic per feature',
        'Two-sample KS statistic on the baseline quantile bins (numeric features); the exact one is at most its bound above.',
      )
        .withTarget(query(`max by (feature) (${METRIC.featureKsStatistic}${fsel})`, '{{feature}}'))
        .min(0)
        .max(1),
    )
    .withPanel(
      lineChart(
        'Error bounds of sketched statistics',
        'How far each sketched statistic can be from its exact value on the raw data (KS bound; ' +
          'the chosen test’s statistic bound for KS and Wasserstein), and features whose bound ' +
          'straddles the threshold (the verdict could flip with exact values).',
      )
        .withTarget(
          query(`max by (feature) (${METRIC.featureKsBound}${fsel})`, '{{feature}} KS bound'),
        )
        .withTarget(
          query(
            `max by (feature, test) (${METRIC.featureStatisticBound}${fsel})`,
            '{{feature}} {{test}} bound',
          ),
        )
        .withTarget(
          query(
            `max by (feature) (${METRIC.featureBoundStraddles}${fsel})`,
            '{{feature}} straddles threshold (1 = yes)',
          ),
        )
        .min(0),
    )
    .withPanel(
      lineChart(
        'Drift severity',
        'One scale for every test: how far past its verdict line each feature is ' +
          '(min(log(adjusted p)/log(alpha), effect/floor)); drifted exactly when at or above 1.',
      )
        .withTarget(
          query(
            `max by (feature, test) (${METRIC.featureDriftScore}${fsel})`,
            '{{feature}} {{test}}',
          ),
        )
        .withTarget(
          query(
            `max by (feature, test) (${METRIC.featureDriftThreshold}${fsel})`,
            '{{feature}} {{test}} threshold',
          ),
        ),
    )
    .withRow(new RowBuilder('Prediction and performance'))
    .withPanel(
      lineChart('Prediction PSI', 'PSI of the model output; red when its drift test fired.')
        .withTarget(query(`max by (version) (${METRIC.predictionPsi}${sel})`, 'v{{version}} PSI'))
        .withTarget(
          query(
            `max by (version, test) (${METRIC.predictionDriftScore}${sel})`,
            'v{{version}} {{test}} score',
          ),
        )
        .withTarget(
          query(
            `max by (version) (${METRIC.predictionDriftDetected}${sel})`,
            'v{{version}} drifted',
          ),
        )
        .min(0)
        .thresholds(thresholds([null, 'green'], [d.psiThreshold, 'red'])),
    )
    .withPanel(
      lineChart(
        'Performance',
        "Performance metrics of the latest window with labels (labels arrive late), the model's own performance on its baseline's training data (legend: baseline), and the label-free estimate of the latest closed window (binary classifiers; legend: estimated).",
      )
        .withTarget(
          query(
            `max by (version, metric) (${METRIC.modelPerformance}{model="$model",version=~"$version",window="$window",metric!~"estimate.*"})`,
            'v{{version}} {{metric}}',
            { refId: 'window' },
          ),
        )
        .withTarget(
          query(
            `max by (version, metric) (${METRIC.baselinePerformance}{model="$model",version=~"$version"})`,
            'v{{version}} {{metric}} (baseline)',
            { refId: 'baseline' },
          ),
        )
        .withTarget(
          query(
            `max by (version, metric) (${METRIC.modelPerformanceEstimate}{model="$model",version=~"$version",window="$window",band="estimate",metric=~"accuracy|precision|recall|f1|roc_auc"})`,
            'v{{version}} {{metric}} (estimated)',
            { refId: 'estimated' },
          ),
        ),
    )
    .withPanel(
      lineChart(
        'Estimate gap',
        'Realised minus label-free estimate, per metric, for the latest window with labels: the estimator’s own health (near 0 while the calibration holds).',
      ).withTarget(
        query(
          `max by (version, metric) (${METRIC.modelPerformance}{model="$model",version=~"$version",window="$window",metric=~"estimate_gap_.*"})`,
          'v{{version}} {{metric}}',
        ),
      ),
    )
    .withPanel(
      lineChart(
        'Degraded windows in a row',
        "Consecutive windows with labels judged degraded per metric (alerts.performance: a fixed line or the baseline's own value); DriftdPerformanceDegraded fires at alerts.consecutiveWindows.",
      )
        .withTarget(
          query(
            `max by (version, metric) (${METRIC.performanceDegradedConsecutive}${sel})`,
            'v{{version}} {{metric}}',
          ),
        )
        .withTarget(
          query(
            `max by (version, metric) (${METRIC.performanceDegraded}${sel})`,
            'v{{version}} {{metric}} degraded now',
          ),
        )
        .min(0),
    )
    .withPanel(
      lineChart(
        'Retrain recommended',
        'A retrain episode is open (1): sustained drift or estimated degradation (alerts.retrain); GET /api/v1/models/{model}/retrain-recommendations says why; and the episodes raised since the daemon started.',
      )
        .withTarget(
          query(
            `max by (version) (${METRIC.retrainRecommended}{model="$model",version=~"$version"})`,
            'v{{version}} open',
          ),
        )
        .withTarget(
          query(
            `sum by (version) (${METRIC.retrainRecommendations}{model="$model",version=~"$version"})`,
            'v{{version}} raised since start',
          ),
        )
        .min(0),
    )
    .withPanel(
      lineChart('Label coverage', 'Share of the window’s predictions with a label.', 'percentunit')
        .withTarget(query(`max by (version) (${METRIC.labelCoverage}${sel})`, 'v{{version}}'))
        .min(0)
        .max(1),
    )
    .withPanel(
      lineChart('Events per window', 'Events in each closed window.')
        .withTarget(query(`max by (version) (${METRIC.windowEvents}${sel})`, 'v{{version}}'))
        .min(0),
    )
    .withRow(new RowBuilder('Fairness'))
    .withPanel(
      lineChart(
        'Disparity ratio by protected group',
        'Each group’s rate ÷ the reference group’s (selection rate, TPR, FPR), per closed window; ' +
          'outside 0.8–1.25 (the four-fifths rule, models[].fairness.ratioBounds) is a disparity. ' +
          'Details: GET /api/v1/models/<model>/fairness.',
      )
        .withTarget(
          query(
            `max by (version, attribute, group, metric) (${METRIC.fairnessRatio}${sel})`,
            'v{{version}} {{attribute}}={{group}} {{metric}}',
          ),
        )
        .thresholds(thresholds([null, 'red'], [0.8, 'green'], [1.25, 'red'])),
    )
    .withPanel(
      lineChart(
        'Groups with a disparity',
        'Protected groups whose disparity verdict fired (1), their windows with a disparity in a row (the alert fires at alerts.consecutiveWindows), and the equalised-odds difference.',
      )
        .withTarget(
          query(
            `max by (version, attribute, group) (${METRIC.fairnessDisparity}${sel})`,
            'v{{version}} {{attribute}}={{group}} disparity',
          ),
        )
        .withTarget(
          query(
            `max by (version, attribute, group) (${METRIC.fairnessDisparityConsecutive}${sel})`,
            'v{{version}} {{attribute}}={{group}} windows in a row',
          ),
        )
        .withTarget(
          query(
            `max by (version, attribute) (${METRIC.fairnessEqualizedOdds}${sel})`,
            'v{{version}} {{attribute}} equalised-odds difference',
          ),
        )
        .min(0),
    )
    .withPanel(
      lineChart('Predictions per protected group', 'Sample size of each group’s rates.')
        .withTarget(
          query(
            `max by (version, attribute, group) (${METRIC.fairnessGroupPredictions}${sel})`,
            'v{{version}} {{attribute}}={{group}}',
          ),
        )
        .min(0),
    )
    .withRow(new RowBuilder('Segments'))
    .withPanel(
      lineChart(
        'Drift share by segment',
        'Share of features that drifted within each segment (models[].segments), against the ' +
          'baseline rows of that segment. Ranking: GET /api/v1/models/<model>/segments.',
        'percentunit',
      )
        .withTarget(
          query(
            `max by (version, segment) (${METRIC.segmentDriftShare}${sel})`,
            'v{{version}} {{segment}}',
          ),
        )
        .min(0)
        .max(1),
    )
    .withPanel(
      lineChart('Drifted features by segment', 'Features that drifted within a segment (1).')
        .withTarget(
          query(
            `max by (version, segment, feature) (${METRIC.segmentDriftDetected}${sel}) > 0`,
            'v{{version}} {{segment}} {{feature}}',
          ),
        )
        .min(0),
    )
    .withPanel(
      lineChart('Events per segment', 'Events of each segment in the latest window.')
        .withTarget(
          query(
            `max by (version, segment) (${METRIC.segmentEvents}${sel})`,
            'v{{version}} {{segment}}',
          ),
        )
        .min(0),
    )
    .withPanel(
      lineChart(
        'Performance by segment',
        'Realised performance of each segment (its labelled predictions), newest window with labels.',
      ).withTarget(
        query(
          `max by (version, segment, metric) (${METRIC.segmentPerformance}${sel})`,
          'v{{version}} {{segment}} {{metric}}',
        ),
      ),
    )
    .withRow(new RowBuilder('Versions: champion and challengers'))
    .withPanel(
      lineChart(
        'Traffic share per version',
        "Each version's share of the model's events in the newest window span (a canary's rollout step).",
        'percentunit',
      )
        .withTarget(
          query(`max by (version) (${METRIC.versionTrafficShare}${vsel})`, 'v{{version}}'),
        )
        .min(0)
        .max(1),
    )
    .withPanel(
      lineChart(
        'Challenger − champion performance',
        'Per compared pair (models[].comparison): the difference of estimated (label-free, known at close) and realised (labels) performance in the same window; below 0 the challenger is worse. Details: GET /api/v1/models/<model>/comparison.',
      )
        .withTarget(
          query(
            `max by (champion, challenger, metric, source) (${METRIC.performanceDifference}${vsel})`,
            'v{{challenger}} − v{{champion}} {{metric}} ({{source}})',
          ),
        )
        .thresholds(thresholds([null, 'red'], [0, 'green'])),
    )
    .withPanel(
      lineChart(
        'Drift between versions',
        "1 when the challenger's window drifted from the champion's window of the same span (__prediction__: the prediction), and the test statistic.",
      )
        .withTarget(
          query(
            `max by (champion, challenger, feature) (${METRIC.comparisonDriftDetected}${vsel})`,
            'v{{challenger}} vs v{{champion}} {{feature}}',
          ),
        )
        .withTarget(
          query(
            `max by (champion, challenger, feature) (${METRIC.comparisonDriftScore}${vsel})`,
            'v{{challenger}} vs v{{champion}} {{feature}} statistic',
            { refId: 'score' },
          ),
        )
        .min(0),
    )
    .withPanel(
      lineChart(
        'Shadow agreement',
        'Shadow mode: share of ids scored by both versions with the same predicted class, and the p90 of |score difference|.',
      )
        .withTarget(
          query(
            `max by (champion, challenger) (${METRIC.shadowAgreement}${vsel})`,
            'v{{challenger}} vs v{{champion}} agreement',
          ),
        )
        .withTarget(
          query(
            `max by (champion, challenger) (${METRIC.shadowScoreDifference}{model="$model",window="$window",quantile="0.9"})`,
            'v{{challenger}} vs v{{champion}} |Δscore| p90',
            { refId: 'p90' },
          ),
        )
        .min(0),
    )
    .withRow(new RowBuilder('Data quality'))
    .withPanel(
      lineChart(
        'Missing ratio',
        'Share of events with the feature missing, and of the baseline rows (legend: baseline).',
        'percentunit',
      )
        .withTarget(
          query(`max by (feature) (${METRIC.featureMissingRatio}${fsel})`, '{{feature}}', {
            refId: 'window',
          }),
        )
        .withTarget(
          query(
            `max by (feature) (${METRIC.featureBaselineMissingRatio}{model="$model",version=~"$version",feature=~"$feature"})`,
            '{{feature}} (baseline)',
            { refId: 'baseline' },
          ),
        )
        .min(0),
    )
    .withPanel(
      lineChart(
        'Out of baseline range',
        'Share of numeric values outside the baseline range.',
        'percentunit',
      )
        .withTarget(
          query(`max by (feature) (${METRIC.featureOutOfRangeRatio}${fsel})`, '{{feature}}'),
        )
        .min(0),
    )
    .withPanel(
      lineChart(
        'Unseen categories',
        'Share of categorical values never seen in the baseline.',
        'percentunit',
      )
        .withTarget(query(`max by (feature) (${METRIC.featureUnseenRatio}${fsel})`, '{{feature}}'))
        .min(0),
    )
    .withPanel(
      lineChart(
        'Outside the top-N categories',
        'Share of categorical values outside the baseline’s top-N categories (counted as other; ' +
          'includes values the baseline had beyond its top-N).',
        'percentunit',
      )
        .withTarget(query(`max by (feature) (${METRIC.featureOtherRatio}${fsel})`, '{{feature}}'))
        .min(0),
    )
    .withPanel(
      lineChart(
        'Events/s by result',
        'Ingestion outcome of this model’s events.',
        'ops',
      ).withTarget(
        query(
          `sum by (result) (rate(${METRIC.eventsTotal}{model="$model"}[$__rate_interval]))`,
          '{{result}}',
        ),
      ),
    )
    .withRow(new RowBuilder('Alerts'))
    .withPanel(
      tablePanel('Firing alerts for this model', 'Driftd* alerts firing now for this model.')
        .span(24)
        .withTarget(
          query(
            'max by (alertname, severity, version, champion, challenger, window, feature, metric) (ALERTS{alertname=~"Driftd.*",alertstate="firing",model="$model"})',
            undefined,
            { instant: true, table: true },
          ),
        )
        .transformations(mergedTable({}, ['Value'])),
    );
  return b.build();
}

// ---------------------------------------------------------------------------------------------
// Pipeline health
// ---------------------------------------------------------------------------------------------

function pipelineDashboard(): DashboardJson {
  const inst = '{instance=~"$instance"}';
  const http5xx = '{instance=~"$instance",code=~"5.."}';
  // Eight status panels: one line of 24 columns.
  const status = (title: string, description: string, unit?: string) =>
    statPanel(title, description, unit).span(3);
  const b = base(
    DASHBOARD_UIDS.pipeline,
    'driftd / Pipeline health',
    'The daemon itself: ingestion by outcome, Kafka lag and errors, dead letters, window ' +
      'closes, cluster mode (lanes, partials, finalisation), store latency and errors, HTTP requests by route and status, and the process ' +
      '(CPU, memory, event-loop lag).',
  )
    .withVariable(datasourceVariable())
    .withVariable(labelVariable('instance', 'Instance', METRIC.buildInfo, { multi: true }))
    .withRow(new RowBuilder('Status'))
    .withPanel(
      status('Instances up', 'driftd instances Prometheus scrapes successfully.')
        .withTarget(
          query(
            `sum(up{job="driftd"} * on (instance) group_left () max by (instance) (${METRIC.buildInfo}${inst}))`,
            undefined,
            { instant: true },
          ),
        )
        .thresholds(thresholds([null, 'red'], [1, 'green'])),
    )
    .withPanel(
      status('Events/s', 'Prediction events ingested per second, any outcome.', 'ops')
        .withTarget(
          query(`sum(rate(${METRIC.eventsTotal}${inst}[$__rate_interval]))`, undefined, {
            instant: true,
          }),
        )
        .thresholds(thresholds([null, 'blue'])),
    )
    .withPanel(
      status('Consumer lag', 'Messages behind, all topics and partitions.')
        .withTarget(
          query(
            `sum(max by (topic, partition) (${METRIC.kafkaConsumerLag}${inst})) or vector(0)`,
            undefined,
            { instant: true },
          ),
        )
        .thresholds(thresholds([null, 'green'], [10_000, 'orange'], [100_000, 'red'])),
    )
    .withPanel(
      status('Dead letters/s', 'Messages sent to the dead-letter topic per second.', 'ops')
        .withTarget(
          query(
            `sum(rate(${METRIC.deadLetterTotal}${inst}[$__rate_interval])) or vector(0)`,
            undefined,
            { instant: true },
          ),
        )
        .thresholds(thresholds([null, 'green'], [0.1, 'orange'])),
    )
    .withPanel(
      status('Open windows', 'Windows currently open, all models.')
        .withTarget(query(`sum(${METRIC.openWindows}${inst})`, undefined, { instant: true }))
        .thresholds(thresholds([null, 'blue'])),
    )
    .withPanel(
      status('Store errors/s', 'Failed store operations per second.', 'ops')
        .withTarget(
          query(
            `sum(rate(${METRIC.storeErrors}${inst}[$__rate_interval])) or vector(0)`,
            undefined,
            { instant: true },
          ),
        )
        .thresholds(thresholds([null, 'green'], [0.01, 'red'])),
    )
    .withPanel(
      status('HTTP 5xx ratio', 'Share of HTTP requests answered 5xx (all routes).', 'percentunit')
        .withTarget(
          query(
            `(sum(rate(${METRIC.httpRequests}${http5xx}[$__rate_interval])) or vector(0)) / clamp_min(sum(rate(${METRIC.httpRequests}${inst}[$__rate_interval])), 1e-9)`,
            undefined,
            { instant: true },
          ),
        )
        .thresholds(thresholds([null, 'green'], [0.001, 'orange'], [0.01, 'red'])),
    )
    .withPanel(
      status(
        'Event-loop lag p99',
        'Worst p99 event-loop delay over instances since the previous scrape.',
        's',
      )
        .withTarget(
          query(`max(${PROCESS_METRIC.eventLoopLagP99}${inst})`, undefined, { instant: true }),
        )
        .thresholds(thresholds([null, 'green'], [0.1, 'orange'], [0.5, 'red'])),
    )
    .withPanel(
      status(
        'Config reloads failed (1h)',
        'Reloads (SIGHUP, POST /api/v1/admin/reload) refused in the last hour: the running config stayed; the daemon log says why.',
      )
        .withTarget(
          query(
            `sum(increase(${METRIC.configReloads}{instance=~"$instance",result="failure"}[1h])) or vector(0)`,
            undefined,
            { instant: true },
          ),
        )
        .thresholds(thresholds([null, 'green'], [1, 'orange'])),
    )
    .withPanel(
      status(
        'Restart required',
        'Instances whose last reloaded config changed settings only a restart applies (server, store, kafka, …).',
      )
        .withTarget(
          query(`sum(${METRIC.configRestartRequired}${inst}) or vector(0)`, undefined, {
            instant: true,
          }),
        )
        .thresholds(thresholds([null, 'green'], [1, 'orange'])),
    )
    .withRow(new RowBuilder('Ingestion'))
    .withPanel(
      lineChart(
        'Events/s by result',
        'accepted, late, invalid, no_baseline, version_limit, duplicate: every event lands in exactly one.',
        'ops',
      ).withTarget(
        query(
          `sum by (result) (rate(${METRIC.eventsTotal}${inst}[$__rate_interval]))`,
          '{{result}}',
        ),
      ),
    )
    .withPanel(
      lineChart('Labels/s by result', 'Ground-truth label events by outcome.', 'ops').withTarget(
        query(
          `sum by (result) (rate(${METRIC.labelsTotal}${inst}[$__rate_interval]))`,
          '{{result}}',
        ),
      ),
    )
    .withPanel(
      lineChart('Consumer lag by topic', 'Messages between committed offset and high watermark.')
        .withTarget(
          query(
            `sum by (topic) (max by (topic, partition) (${METRIC.kafkaConsumerLag}${inst}))`,
            '{{topic}}',
          ),
        )
        .min(0),
    )
    .withPanel(
      lineChart('Consumer lag by partition', 'Lag of each partition (max over instances).')
        .withTarget(
          query(
            `max by (topic, partition) (${METRIC.kafkaConsumerLag}${inst})`,
            '{{topic}}/{{partition}}',
          ),
        )
        .min(0),
    )
    .withPanel(
      lineChart(
        'Kafka messages processed/s by topic',
        'Messages counted into windows or dead-lettered; flat with lag above 0 = stuck (DriftdKafkaConsumerStuck).',
        'ops',
      ).withTarget(
        query(
          `sum by (topic) (rate(${METRIC.kafkaMessagesProcessed}${inst}[$__rate_interval]))`,
          '{{topic}}',
        ),
      ),
    )
    .withPanel(
      lineChart(
        'Kafka consumer ready',
        '1 while the instance consumes as a member of its group (DriftdKafkaConsumerNotReady after 5m at 0).',
      )
        .withTarget(
          query(`max by (instance) (${METRIC.kafkaConsumerReady}${inst})`, '{{instance}}'),
        )
        .min(0)
        .max(1),
    )
    .withPanel(
      lineChart(
        'Kafka errors/s by operation',
        'Failed Kafka client operations: connect attempts, consumer crashes, offset commits, dead-letter sends, lag refreshes.',
        'ops',
      ).withTarget(
        query(
          `sum by (operation) (rate(${METRIC.kafkaErrors}${inst}[$__rate_interval]))`,
          '{{operation}}',
        ),
      ),
    )
    .withPanel(
      lineChart('Dead letters/s by reason', 'Messages dead-lettered, by reason.', 'ops').withTarget(
        query(
          `sum by (reason) (rate(${METRIC.deadLetterTotal}${inst}[$__rate_interval]))`,
          '{{reason}}',
        ),
      ),
    )
    .withPanel(
      lineChart(
        'Quarantined/s by kind',
        'Items the store refused for good (kept under <dataDir>/quarantine, not retried).',
        'ops',
      ).withTarget(
        query(
          `sum by (kind) (rate(${METRIC.quarantinedTotal}${inst}[$__rate_interval]))`,
          '{{kind}}',
        ),
      ),
    )
    .withPanel(
      lineChart(
        'Event-time delay',
        'Wall-clock now minus the event time of the newest accepted event, per model.',
        's',
      ).withTarget(
        query(`time() - max by (model) (${METRIC.lastEventTimestamp}${inst})`, '{{model}}'),
      ),
    )
    .withRow(new RowBuilder('Windows'))
    .withPanel(
      lineChart('Window closes/min', 'Windows closed per minute by model and size.').withTarget(
        query(
          `sum by (model, window) (rate(${METRIC.windowsClosed}${inst}[$__rate_interval])) * 60`,
          '{{model}} {{window}}',
        ),
      ),
    )
    .withPanel(
      lineChart(
        'Time since last window close',
        'Per model; DriftdWindowsStalled fires past the smallest window + lateness + idle timeout + a grace.',
        's',
      ).withTarget(
        query(`time() - max by (model) (${METRIC.windowCloseTimestamp}${inst})`, '{{model}}'),
      ),
    )
    .withPanel(
      lineChart('Open windows', 'Windows open per model.').withTarget(
        query(`sum by (model) (${METRIC.openWindows}${inst})`, '{{model}}'),
      ),
    )
    .withPanel(
      lineChart('Kafka rebalances', 'Consumer group joins per instance.').withTarget(
        query(`increase(${METRIC.kafkaRebalances}${inst}[$__rate_interval])`, '{{instance}}'),
      ),
    )
    // Cluster mode (docs/scale-out.md); empty on a single instance.
    .withRow(new RowBuilder('Cluster'))
    .withPanel(
      lineChart(
        'Lanes owned per instance',
        'Input lanes whose window state each instance holds (cluster mode): Kafka partitions (moved by rebalances) and its own HTTP lane.',
      )
        .withTarget(
          query(
            `sum by (instance, kind) (${METRIC.clusterLanesOwned}${inst})`,
            '{{instance}} {{kind}}',
          ),
        )
        .min(0),
    )
    .withPanel(
      lineChart(
        'Partials written/s',
        'Partial window rows written to the store (cluster mode): final (a lane closed its part of a window) or provisional (idle copy).',
        'ops',
      ).withTarget(
        query(
          `sum by (kind) (rate(${METRIC.clusterPartialsWritten}${inst}[$__rate_interval]))`,
          '{{kind}}',
        ),
      ),
    )
    .withPanel(
      lineChart(
        'Windows finalised/min by instance',
        'Windows whose partials an instance merged into the one result (cluster mode); any instance may finalise a window, the store keeps one.',
      ).withTarget(
        query(
          `sum by (instance) (rate(${METRIC.clusterWindowsFinalised}${inst}[$__rate_interval])) * 60`,
          '{{instance}}',
        ),
      ),
    )
    .withPanel(
      lineChart(
        'Finalisation delay',
        'p50 and p95 of the time from the last lane closing its part of a window to the window being finalised (cluster mode).',
        's',
      )
        .withTarget(
          query(
            `histogram_quantile(0.95, sum by (le) (rate(${METRIC.clusterFinalisationDelay}_bucket${inst}[$__rate_interval])))`,
            'p95',
          ),
        )
        .withTarget(
          query(
            `histogram_quantile(0.5, sum by (le) (rate(${METRIC.clusterFinalisationDelay}_bucket${inst}[$__rate_interval])))`,
            'p50',
          ),
        ),
    )
    .withPanel(
      lineChart(
        'Pending windows',
        'Windows with partials and no finalisation yet, as each instance last looked (cluster mode): growing = a lane holds windows back (a stopped instance, a partition not consumed).',
      )
        .withTarget(
          query(`max by (instance) (${METRIC.clusterWindowsPending}${inst})`, '{{instance}}'),
        )
        .min(0)
        .span(24),
    )
    .withRow(new RowBuilder('Store'))
    .withPanel(
      lineChart('Store write latency', 'p50 and p99 of store writes, by table.', 's')
        .withTarget(
          query(
            `histogram_quantile(0.99, sum by (le, table) (rate(${METRIC.storeWriteSeconds}_bucket${inst}[$__rate_interval])))`,
            'p99 {{table}}',
          ),
        )
        .withTarget(
          query(
            `histogram_quantile(0.5, sum by (le, table) (rate(${METRIC.storeWriteSeconds}_bucket${inst}[$__rate_interval])))`,
            'p50 {{table}}',
          ),
        ),
    )
    .withPanel(
      lineChart('Store writes/s and errors/s', 'Writes by table, failures by operation.', 'ops')
        .withTarget(
          query(
            `sum by (table) (rate(${METRIC.storeWriteSeconds}_count${inst}[$__rate_interval]))`,
            'writes {{table}}',
          ),
        )
        .withTarget(
          query(
            `sum by (operation) (rate(${METRIC.storeErrors}${inst}[$__rate_interval]))`,
            'errors {{operation}}',
          ),
        ),
    )
    .withRow(new RowBuilder('HTTP API'))
    .withPanel(
      lineChart(
        'Requests/s by route and status',
        'Route patterns (route="unmatched": paths no route matches), by status code.',
        'reqps',
      ).withTarget(
        query(
          `sum by (method, route, code) (rate(${METRIC.httpRequests}${inst}[$__rate_interval]))`,
          '{{method}} {{route}} {{code}}',
        ),
      ),
    )
    .withPanel(
      lineChart(
        'Error ratio by status class',
        'Share of requests answered 4xx (client errors: refused input, auth, unknown paths) and 5xx.',
        'percentunit',
      ).withTarget(
        query(
          `sum by (status_class) (rate(${METRIC.httpRequestSeconds}_count{instance=~"$instance",status_class=~"4xx|5xx"}[$__rate_interval])) / ignoring (status_class) group_left () clamp_min(sum(rate(${METRIC.httpRequestSeconds}_count${inst}[$__rate_interval])), 1e-9) or on () vector(0)`,
          '{{status_class}}',
        ),
      ),
    )
    .withPanel(
      lineChart('Request latency by route', 'p50 and p99 time to answer, by route.', 's')
        .withTarget(
          query(
            `histogram_quantile(0.99, sum by (le, route) (rate(${METRIC.httpRequestSeconds}_bucket${inst}[$__rate_interval])))`,
            'p99 {{route}}',
          ),
        )
        .withTarget(
          query(
            `histogram_quantile(0.5, sum by (le, route) (rate(${METRIC.httpRequestSeconds}_bucket${inst}[$__rate_interval])))`,
            'p50 {{route}}',
          ),
        ),
    )
    .withRow(new RowBuilder('Process'))
    .withPanel(
      lineChart(
        'Event-loop lag',
        'p99 and max event-loop delay since the previous scrape: high values delay every request, batch and window close.',
        's',
      )
        .withTarget(query(`${PROCESS_METRIC.eventLoopLagP99}${inst}`, 'p99 {{instance}}'))
        .withTarget(query(`${PROCESS_METRIC.eventLoopLagMax}${inst}`, 'max {{instance}}')),
    )
    .withPanel(
      lineChart('CPU', 'CPU seconds per second (user + system), per instance.', 'percentunit')
        .withTarget(
          query(`rate(${PROCESS_METRIC.cpuSeconds}${inst}[$__rate_interval])`, '{{instance}}'),
        )
        .min(0),
    )
    .withPanel(
      lineChart('Memory', 'Resident set size and V8 heap used, per instance.', 'bytes')
        .withTarget(query(`${PROCESS_METRIC.residentMemory}${inst}`, 'rss {{instance}}'))
        .withTarget(query(`${PROCESS_METRIC.heapUsed}${inst}`, 'heap used {{instance}}'))
        .min(0),
    )
    .withPanel(
      lineChart(
        'File descriptors',
        'Open file descriptors as a share of the limit (sockets, store files, logs).',
        'percentunit',
      )
        .withTarget(
          query(
            `${PROCESS_METRIC.openFds}${inst} / ${PROCESS_METRIC.maxFds}${inst}`,
            '{{instance}}',
          ),
        )
        .min(0),
    )
    .withPanel(
      tablePanel('Build', 'driftd version per instance.')
        .span(24)
        .height(5)
        .withTarget(
          query(`max by (instance, version) (${METRIC.buildInfo}${inst})`, undefined, {
            instant: true,
            table: true,
          }),
        )
        .transformations(mergedTable({ instance: 'Instance', version: 'Version' }, ['Value'])),
    );
  return b.build();
}

/** Stable JSON for a dashboard file (what `dashboards/<uid>.json` holds). */
export function dashboardJson(dashboard: DashboardJson): string {
  return `${JSON.stringify(dashboard, null, 2)}\n`;
}
