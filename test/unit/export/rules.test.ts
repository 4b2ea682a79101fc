import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { parseConfig } from '../../../src/config/index.js';
import type { DriftdConfig } from '../../../src/config/types.js';
import { METRIC } from '../../../src/export/metrics.js';
import {
  ALERT_NAMES,
  type AlertingRule,
  alertSettingWarnings,
  buildPrometheusRuleCrd,
  generateAlertRules,
  type RulesFile,
  toPrometheusRuleCrd,
  toPrometheusRuleYaml,
} from '../../../src/export/rules.js';
import { promqlMetricNames } from '../../helpers/prometheus.js';

const ROOT = resolve(import.meta.dirname, '../../..');
const FIXTURES = join(ROOT, 'test/fixtures/rules');

function fixtureConfig(): DriftdConfig {
  return parseConfig(readFileSync(join(FIXTURES, 'driftd.yaml'), 'utf8'), { env: {} });
}

function config(yaml: string): DriftdConfig {
  return parseConfig(yaml, { env: {} });
}

const allRules = (file: RulesFile): AlertingRule[] => file.groups.flatMap((g) => g.rules);
const rulesNamed = (file: RulesFile, alert: string) =>
  allRules(file).filter((r) => r.alert === alert);

describe('generateAlertRules', () => {
  const rules = generateAlertRules(fixtureConfig());

  it('has one group per model, then the pipeline group', () => {
    expect(rules.groups.map((g) => g.name)).toEqual([
      'driftd.model.credit-risk',
      'driftd.model.house-price',
      'driftd.pipeline',
    ]);
  });

  it('generates every alert, each with a severity, summary, description and absolute runbook', () => {
    const names = new Set(allRules(rules).map((r) => r.alert));
    expect([...names].sort()).toEqual([...ALERT_NAMES].sort());
    for (const r of allRules(rules)) {
      expect(r.labels.severity, r.alert).toMatch(/^(warning|critical|info)$/);
      expect(r.annotations.summary, r.alert).not.toBe('');
      expect(r.annotations.description, r.alert).not.toBe('');
      expect(r.annotations.runbook_url).toBe(`https://runbooks.example.org/driftd/${r.alert}.md`);
      if (r.for !== undefined) expect(r.for, r.alert).toMatch(/^\d+(ms|s|m|h|d)$/);
    }
  });

  it('has a runbook in docs/runbooks for every alert, with the expected sections', () => {
    for (const alert of ALERT_NAMES) {
      const file = join(ROOT, 'docs/runbooks', `${alert}.md`);
      expect(existsSync(file), file).toBe(true);
      const text = readFileSync(file, 'utf8');
      expect(text.startsWith(`# ${alert}\n`), file).toBe(true);
      for (const section of ['## Meaning', '## Impact', '## Diagnosis', '## Mitigation']) {
        expect(text, `${file}: ${section}`).toContain(section);
      }
      expect(text, file).toContain('$DRIFTD');
    }
    const pages = readdirSync(join(ROOT, 'docs/runbooks')).filter((f) => f !== 'README.md');
    expect(pages.sort()).toEqual(ALERT_NAMES.map((a) => `${a}.md`).sort());
  });

  it('uses only metrics the daemon exports (plus up), by their METRIC names', () => {
    const known = new Set<string>([...Object.values(METRIC), 'up']);
    for (const r of allRules(rules)) {
      const names = promqlMetricNames(r.expr);
      expect(names.length, r.expr).toBeGreaterThan(0);
      for (const name of names) expect(known, `${r.alert}: ${name}`).toContain(name);
    }
  });

  it('scopes every model rule to its model and labels it', () => {
    for (const group of rules.groups.slice(0, 2)) {
      const model = group.name.replace('driftd.model.', '');
      for (const r of group.rules) {
        expect(r.labels.model).toBe(model);
        const selectors = r.expr.match(/driftd_\w+\{[^}]*\}/g) ?? [];
        expect(selectors.length, r.expr).toBeGreaterThan(0);
        for (const s of selectors) expect(s, r.alert).toContain(`model="${model}"`);
      }
    }
  });

  it('fires drift and performance on K consecutive windows, with no long for:', () => {
    for (const alert of [
      'DriftdFeatureDrift',
      'DriftdDatasetDrift',
      'DriftdPredictionDrift',
      'DriftdPerformanceDegraded',
    ]) {
      for (const r of rulesNamed(rules, alert)) {
        expect(r.for, alert).toBeUndefined();
        const k = r.labels.model === 'house-price' ? 3 : 2;
        expect(r.expr, alert).toMatch(new RegExp(`_consecutive_windows\\{[^}]*\\}\\) >= ${k}\n`));
      }
    }
  });

  it('takes minimum sample size, freshness and stall times from the model config', () => {
    const c = config(`
models:
  - id: fraud
    task: binary-classification
    features: [{ name: amount, type: numeric }]
    windows: { sizes: [10m, 2h], allowedLateness: 5m, idleTimeout: 2m }
    drift: { minWindowSize: 250, shareThreshold: 0.3, fdr: 0.01, psiThreshold: 0.25 }
`);
    const r = generateAlertRules(c);
    const feature = rulesNamed(r, 'DriftdFeatureDrift');
    expect(feature.map((x) => x.labels.window)).toEqual(['10m', '2h']);
    expect(feature[0]!.expr).toContain(
      'max by (model, version, window) (driftd_window_events{model="fraud",window="10m"}) >= 250',
    );
    // Fresh: the window closed less than 2 x 10m + 5m ago.
    expect(feature[0]!.expr).toContain(
      'time() - max by (model, version, window) (driftd_window_close_timestamp_seconds{model="fraud",window="10m"}) < 1500',
    );
    expect(feature[0]!.annotations.description).toContain('FDR 0.01');
    expect(feature[0]!.annotations.description).not.toContain('PSI');
    const dataset = rulesNamed(r, 'DriftdDatasetDrift');
    expect(dataset[0]!.labels.severity).toBe('warning');
    expect(dataset[0]!.annotations.description).toContain('(30% of features or more)');
    // Stalls: the smallest window 10m + 5m lateness + 2m idle + max(5m, 10m / 4) = 22m.
    const stalled = rulesNamed(r, 'DriftdWindowsStalled');
    expect(stalled).toHaveLength(1);
    expect(stalled[0]!.expr).toContain(
      'time() - max by (model) (driftd_window_close_timestamp_seconds{model="fraud"}) > 1320',
    );
    expect(stalled[0]!.expr).toContain('[22m]');
    // No expected rate: NoData waits the smallest window, at least 10m.
    expect(rulesNamed(r, 'DriftdNoData')[0]!.expr).toContain(
      'increase(driftd_events_total{model="fraud",result="accepted"}[10m])',
    );
    // Coverage waits max(2h, 4 x window).
    expect(rulesNamed(r, 'DriftdLabelCoverageLow').map((x) => x.for)).toEqual(['2h', '8h']);
  });

  it('sizes NoData and WindowsStalled by window size and expected rate, never by the largest window', () => {
    const c = config(`
models:
  - id: daily
    task: binary-classification
    features: [{ name: amount, type: numeric }]
    windows: { sizes: [1d, 7d], allowedLateness: 1h }
  - id: busy
    task: binary-classification
    features: [{ name: amount, type: numeric }]
    windows: { sizes: [1d, 7d] }
    alerts: { expectedEventsPerSecond: 0.01 }
`);
    const r = generateAlertRules(c);
    const noData = (model: string) =>
      rulesNamed(r, 'DriftdNoData').find((x) => x.labels.model === model)!.expr;
    // Without a rate: the smallest window, capped at 6h (was 2 x 7d + lateness = 337h).
    expect(noData('daily')).toContain('[6h]');
    // 20 expected events at 0.01/s: 2000 s.
    expect(noData('busy')).toContain('[2000s]');
    const stalled = rulesNamed(r, 'DriftdWindowsStalled').find((x) => x.labels.model === 'daily')!;
    // 1d + 1h lateness + 2m idle + 6h grace.
    expect(stalled.expr).toContain(`> ${86_400 + 3600 + 120 + 21_600}`);
  });

  it('has relative default performance thresholds, overridable per model from the YAML', () => {
    const perf = (file: RulesFile, model: string) =>
      rulesNamed(file, 'DriftdPerformanceDegraded')
        .filter((x) => x.labels.model === model)
        .map(
          (x) =>
            `${x.labels.window} ${x.labels.metric}: ${x.annotations.summary.replace(/^.*\(/, '(')}`,
        );
    expect(perf(rules, 'credit-risk')).toEqual([
      "5m roc_auc: (more than 0.05 below the baseline's)",
      '5m brier: (above 0.25)',
      "1h roc_auc: (more than 0.05 below the baseline's)",
      '1h brier: (above 0.25)',
    ]);
    expect(perf(rules, 'house-price')).toEqual(['10m mape: (above 0.3)']);

    const tuned = generateAlertRules(
      config(`
alerts:
  performance: { roc_auc: { below: 0.75 }, recall: { below: 0.4 } }
models:
  - id: fraud
    task: binary-classification
    features: [{ name: amount, type: numeric }]
    windows: { sizes: [5m] }
    alerts: { performance: { brier: null, log_loss: { dropFromBaseline: 0.1 } } }
`),
    );
    expect(perf(tuned, 'fraud')).toEqual([
      '5m recall: (below 0.4)',
      '5m roc_auc: (below 0.75)',
      "5m log_loss: (more than 0.1 above the baseline's)",
    ]);
  });

  it('routes by the labels of the YAML: model labels over top-level ones', () => {
    for (const rule of allRules(rules)) {
      const model = rule.labels.model;
      expect(rule.labels.team).toBe(model === 'credit-risk' ? 'risk-ml' : 'ml-platform');
    }
  });

  it('takes severities from the YAML; off drops the alert', () => {
    const house = rules.groups[1]!.rules;
    expect(house.find((r) => r.alert === 'DriftdDatasetDrift')!.labels.severity).toBe('critical');
    expect(house.some((r) => r.alert === 'DriftdUnseenCategories')).toBe(false);
    const credit = rules.groups[0]!.rules;
    expect(credit.find((r) => r.alert === 'DriftdDatasetDrift')!.labels.severity).toBe('warning');
  });

  it('links the API summary of the model and window', () => {
    const r = rulesNamed(rules, 'DriftdFeatureDrift')[0]!;
    expect(r.annotations.description).toContain(
      'Summary: https://driftd.example.org/api/v1/models/credit-risk/summary?window=5m',
    );
  });

  it('without runbookBaseUrl or apiBaseUrl: no runbook_url, no link, and a warning', () => {
    const c = config(`
models:
  - id: m
    task: regression
    features: [{ name: x, type: numeric }]
`);
    const r = generateAlertRules(c);
    for (const rule of allRules(r)) {
      expect(rule.annotations.runbook_url).toBeUndefined();
      expect(rule.annotations.description).not.toContain('Summary:');
    }
    expect(alertSettingWarnings(c)).toHaveLength(2);
    expect(alertSettingWarnings(fixtureConfig())).toEqual([]);
  });

  it('uses the configured job in DriftdDown, pipeline thresholds from the YAML', () => {
    const c = config(`
alerts: { job: ml/driftd, consumerLagMessages: 5000, deadLettersPerSecond: 2 }
kafka: { brokers: ["localhost:9092"] }
models:
  - id: m
    task: regression
    features: [{ name: x, type: numeric }]
`);
    const r = generateAlertRules(c);
    expect(rulesNamed(r, 'DriftdDown')[0]!.expr).toBe(
      'up{job="ml/driftd"} == 0\nor\nabsent(up{job="ml/driftd"})',
    );
    expect(rulesNamed(r, 'DriftdConsumerLagHigh')[0]!.expr).toMatch(/\) > 5000$/);
    expect(rulesNamed(r, 'DriftdDeadLetterRate')[0]!.expr).toMatch(/ > 2$/);
  });

  it('has no Kafka alerts without Kafka', () => {
    const c = config(`
models:
  - id: m
    task: regression
    features: [{ name: x, type: numeric }]
`);
    const names = allRules(generateAlertRules(c)).map((r) => r.alert);
    expect(names).not.toContain('DriftdConsumerLagHigh');
    expect(names).not.toContain('DriftdKafkaConsumerNotReady');
    expect(names).toContain('DriftdStoreErrors');
  });

  it('escapes label values in selectors', () => {
    const c = config(`
alerts: { job: 'a"b\\c' }
models:
  - id: m
    task: regression
    features: [{ name: x, type: numeric }]
`);
    expect(rulesNamed(generateAlertRules(c), 'DriftdDown')[0]!.expr).toContain(
      'up{job="a\\"b\\\\c"}',
    );
  });
});

describe('serialisation', () => {
  const rules = generateAlertRules(fixtureConfig());

  it('the rules file round-trips through YAML, with a do-not-edit header', () => {
    const text = toPrometheusRuleYaml(rules);
    expect(text.startsWith('# Generated by driftd')).toBe(true);
    expect(parse(text)).toEqual(rules);
  });

  it('the PrometheusRule resource carries the same groups', () => {
    const crd = parse(
      toPrometheusRuleCrd(rules, { name: 'driftd', namespace: 'mon', labels: { release: 'x' } }),
    );
    expect(crd).toEqual(
      buildPrometheusRuleCrd(rules, { name: 'driftd', namespace: 'mon', labels: { release: 'x' } }),
    );
    expect(crd).toMatchObject({
      apiVersion: 'monitoring.coreos.com/v1',
      kind: 'PrometheusRule',
      metadata: { name: 'driftd', namespace: 'mon', labels: { release: 'x' } },
      spec: { groups: rules.groups },
    });
    expect(buildPrometheusRuleCrd(rules, { name: 'n' }).metadata).toEqual({
      name: 'n',
      labels: { 'app.kubernetes.io/name': 'driftd' },
    });
  });
});

describe('promtool unit tests in test/fixtures/rules', () => {
  interface PromtoolTests {
    rule_files: string[];
    tests: {
      name: string;
      alert_rule_test?: { alertname: string; exp_alerts: unknown[] }[];
    }[];
  }
  const files = readdirSync(FIXTURES).filter((f) => f.endsWith('.test.yaml'));
  const suites = files.map(
    (f) => parse(readFileSync(join(FIXTURES, f), 'utf8'), { merge: true }) as PromtoolTests,
  );
  const cases = suites.flatMap((s) => s.tests.flatMap((t) => t.alert_rule_test ?? []));

  it('load the generated rules.yaml', () => {
    for (const s of suites) expect(s.rule_files).toEqual(['rules.yaml']);
  });

  it('expect every alert to fire in one case and to stay quiet in another', () => {
    const firing = new Set(cases.filter((c) => c.exp_alerts.length > 0).map((c) => c.alertname));
    expect([...firing].sort()).toEqual([...ALERT_NAMES].sort());
    const quiet = new Set(cases.filter((c) => c.exp_alerts.length === 0).map((c) => c.alertname));
    expect([...quiet].sort()).toEqual([...ALERT_NAMES].sort());
  });
});
