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

  it('generates every alert, each with a severity, summary, description and runbook', () => {
    const names = new Set(allRules(rules).map((r) => r.alert));
    expect([...names].sort()).toEqual([...ALERT_NAMES].sort());
    for (const r of allRules(rules)) {
      expect(r.labels.severity, r.alert).toMatch(/^(warning|critical)$/);
      expect(r.annotations.summary, r.alert).not.toBe('');
      expect(r.annotations.description, r.alert).not.toBe('');
      expect(r.annotations.runbook_url).toBe(`docs/runbooks/${r.alert}.md`);
      expect(r.for, r.alert).toMatch(/^\d+(ms|s|m|h|d)$/);
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

  it('takes minimum sample size, thresholds and for: durations from the model config', () => {
    const c = config(`
models:
  - id: fraud
    task: binary-classification
    features: [{ name: amount, type: numeric }]
    windows: { sizes: [10m, 2h], allowedLateness: 5m }
    drift: { minWindowSize: 250, shareThreshold: 0.3, fdr: 0.01, psiThreshold: 0.25 }
`);
    const r = generateAlertRules(c);
    const feature = rulesNamed(r, 'DriftdFeatureDrift');
    expect(feature.map((x) => [x.labels.window, x.for])).toEqual([
      ['10m', '15m'],
      ['2h', '3h'],
    ]);
    expect(feature[0]!.expr).toContain(
      'max by (model, version, window) (driftd_window_events{model="fraud",window="10m"}) >= 250',
    );
    // Fresh: the window closed less than 2 x 10m + 5m ago.
    expect(feature[0]!.expr).toContain(
      'time() - max by (model, version, window) (driftd_window_close_timestamp_seconds{model="fraud",window="10m"}) < 1500',
    );
    expect(feature[0]!.annotations.description).toContain('FDR 0.01');
    expect(feature[0]!.annotations.description).toContain('0.25 or more is a shift');
    const dataset = rulesNamed(r, 'DriftdDatasetDrift');
    expect(dataset[0]!.expr).toMatch(
      /^max by \(model, version, window\) \(driftd_model_drift_share\{model="fraud",window="10m"\}\) >= 0\.3\n/,
    );
    expect(dataset[0]!.labels.severity).toBe('critical');
    expect(dataset[0]!.annotations.description).toContain('dataset drift at 30% or more');
    // Stalls: 2 x 2h + 5m = 14700 s.
    const stalled = rulesNamed(r, 'DriftdWindowsStalled');
    expect(stalled).toHaveLength(1);
    expect(stalled[0]!.expr).toContain(
      'time() - max by (model) (driftd_window_close_timestamp_seconds{model="fraud"}) > 14700',
    );
    expect(stalled[0]!.expr).toContain('[245m]');
    expect(rulesNamed(r, 'DriftdNoData')[0]!.expr).toContain(
      'increase(driftd_events_total{model="fraud",result="accepted"}[245m])',
    );
    // Coverage waits max(2h, 4 x window).
    expect(rulesNamed(r, 'DriftdLabelCoverageLow').map((x) => x.for)).toEqual(['2h', '8h']);
  });

  it('rounds for: up to whole seconds for odd window sizes', () => {
    const c = config(`
models:
  - id: m
    task: regression
    features: [{ name: x, type: numeric }]
    windows: { sizes: [7s] }
`);
    expect(rulesNamed(generateAlertRules(c), 'DriftdFeatureDrift')[0]!.for).toBe('11s');
  });

  it('has default performance thresholds only where they do not depend on the model', () => {
    const perf = (file: RulesFile, model: string) =>
      rulesNamed(file, 'DriftdPerformanceDegraded')
        .filter((x) => x.labels.model === model)
        .map((x) => {
          const [, op, value] = /\) ([<>]) ([\d.]+)$/.exec(x.expr.split('\n')[0]!) ?? [];
          return `${x.labels.window} ${x.labels.metric} ${op} ${value}`;
        });
    expect(perf(rules, 'credit-risk')).toEqual([
      '5m roc_auc < 0.7',
      '5m brier > 0.25',
      '1h roc_auc < 0.7',
      '1h brier > 0.25',
    ]);
    expect(perf(rules, 'house-price')).toEqual([]);

    const tuned = generateAlertRules(fixtureConfig(), {
      performanceThresholds: {
        'credit-risk': { roc_auc: { below: 0.75 }, brier: null, recall: { below: 0.4 } },
        'house-price': { rmse: { above: 50_000 }, accuracy: { below: 0.9 } },
      },
    });
    expect(perf(tuned, 'credit-risk')).toEqual([
      '5m recall < 0.4',
      '5m roc_auc < 0.75',
      '1h recall < 0.4',
      '1h roc_auc < 0.75',
    ]);
    // accuracy is not a regression metric: ignored.
    expect(perf(tuned, 'house-price')).toEqual(['10m rmse > 50000']);
  });

  it('adds routing labels without letting them override severity or model', () => {
    const r = generateAlertRules(fixtureConfig(), {
      labels: { team: 'ml-platform', severity: 'info' },
      modelLabels: { 'credit-risk': { team: 'risk-ml', model: 'other' } },
    });
    for (const rule of allRules(r)) {
      expect(rule.labels.severity).toMatch(/^(warning|critical)$/);
      const model = rule.labels.model;
      if (model === undefined) expect(rule.labels.team).toBe('ml-platform');
      else expect(rule.labels.team).toBe(model === 'credit-risk' ? 'risk-ml' : 'ml-platform');
      if (model !== undefined) expect(['credit-risk', 'house-price']).toContain(model);
    }
  });

  it('points runbook_url at a configurable base', () => {
    const r = generateAlertRules(fixtureConfig(), {
      runbookBaseUrl: 'https://example.com/driftd/blob/main/docs/runbooks/',
    });
    expect(allRules(r)[0]!.annotations.runbook_url).toBe(
      'https://example.com/driftd/blob/main/docs/runbooks/DriftdFeatureDrift.md',
    );
  });

  it('uses the configured job in DriftdDown, pipeline thresholds from the options', () => {
    const r = generateAlertRules(fixtureConfig(), {
      job: 'ml/driftd',
      consumerLagMessages: 5000,
      deadLetterPerSecond: 2,
    });
    expect(rulesNamed(r, 'DriftdDown')[0]!.expr).toBe(
      'up{job="ml/driftd"} == 0\nor\nabsent(up{job="ml/driftd"})',
    );
    expect(rulesNamed(r, 'DriftdConsumerLagHigh')[0]!.expr).toMatch(/\) > 5000$/);
    expect(rulesNamed(r, 'DriftdDeadLetterRate')[0]!.expr).toMatch(/ > 2$/);
  });

  it('escapes label values in selectors', () => {
    const r = generateAlertRules(fixtureConfig(), { job: 'a"b\\c' });
    expect(rulesNamed(r, 'DriftdDown')[0]!.expr).toContain('up{job="a\\"b\\\\c"}');
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
