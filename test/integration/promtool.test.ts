/**
 * The generated alert rules against the real Prometheus tooling (Debian `prometheus` and
 * `prometheus-alertmanager`): `promtool check rules` and `promtool test rules` with the unit
 * tests in test/fixtures/rules/, `amtool` on deploy/alertmanager/alertmanager.yml, and the
 * routing and inhibition of that config in a real Alertmanager.
 *
 * Missing binaries skip locally and fail when CI=true or DRIFTD_REQUIRE_SERVICES=1.
 */
import { execFile } from 'node:child_process';
import { copyFile, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse, stringify } from 'yaml';
import { PIPELINE_ALERT_NAMES } from '../../src/config/alerts.js';
import { parseConfig } from '../../src/config/index.js';
import {
  generateAlertRules,
  toPrometheusRuleCrd,
  toPrometheusRuleYaml,
} from '../../src/export/rules.js';
import { requireBinary } from '../helpers/binaries.js';
import {
  type RunningServer,
  startAlertmanager,
  startWebhookReceiver,
  type WebhookReceiver,
} from '../helpers/prometheus.js';

const ROOT = resolve(import.meta.dirname, '../..');
const FIXTURES = join(ROOT, 'test/fixtures/rules');
const ALERTMANAGER_YML = join(ROOT, 'deploy/alertmanager/alertmanager.yml');

const promtool = requireBinary('promtool');
const amtool = requireBinary('amtool');
const alertmanager = requireBinary('prometheus-alertmanager', 'alertmanager');

interface RunResult {
  code: number;
  stdout: string;
  /** Command line, stdout and stderr, for failure messages. */
  output: string;
}

function run(cmd: string, args: string[], cwd = ROOT): Promise<RunResult> {
  return new Promise((done) => {
    execFile(cmd, args, { cwd, timeout: 240_000 }, (err, stdout, stderr) => {
      const code = err === null ? 0 : typeof err.code === 'number' ? err.code : 1;
      done({ code, stdout, output: `$ ${cmd} ${args.join(' ')}\n${stdout}${stderr}` });
    });
  });
}

/** Asserts exit code 0, showing the tool's output otherwise. */
function expectSuccess(r: RunResult): void {
  if (r.code !== 0) expect.fail(r.output);
}

/** The rules the promtool unit tests are written against: a fixed config with `alerts:`. */
async function fixtureRules() {
  const config = parseConfig(await readFile(join(FIXTURES, 'driftd.yaml'), 'utf8'), {
    source: 'test/fixtures/rules/driftd.yaml',
    env: {},
  });
  return generateAlertRules(config);
}

describe.skipIf(!promtool.available)('generated alert rules (real promtool)', () => {
  let dir: string;
  let testFiles: string[];

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'driftd-promtool-'));
    await writeFile(join(dir, 'rules.yaml'), toPrometheusRuleYaml(await fixtureRules()));
    testFiles = (await readdir(FIXTURES)).filter((f) => f.endsWith('.test.yaml')).sort();
    for (const f of testFiles) await copyFile(join(FIXTURES, f), join(dir, f));
  });

  afterAll(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('pass promtool check rules, duplicate-rule lint included', async () => {
    expectSuccess(await run(promtool.path!, ['check', 'rules', '--lint-fatal', 'rules.yaml'], dir));
  });

  it('pass the promtool unit tests in test/fixtures/rules', async () => {
    expect(testFiles).toEqual([
      'data-quality.test.yaml',
      'drift.test.yaml',
      'fairness.test.yaml',
      'kafka.test.yaml',
      'performance.test.yaml',
      'pipeline.test.yaml',
      'retrain.test.yaml',
      'rollback.test.yaml',
    ]);
    // One promtool per file, in parallel: each evaluates hours of series every minute.
    const results = await Promise.all(
      testFiles.map((f) => run(promtool.path!, ['test', 'rules', f], dir)),
    );
    for (const r of results) {
      expectSuccess(r);
      expect(r.output).toContain('SUCCESS');
    }
  }, 300_000);

  it('fail the unit tests when an expected annotation is wrong (the tests can fail)', {
    timeout: 60_000,
  }, async () => {
    const text = await readFile(join(dir, 'drift.test.yaml'), 'utf8');
    expect(text).toContain('drift score 1.80,');
    await writeFile(
      join(dir, 'mutated.test.yaml'),
      text.replace('drift score 1.80,', 'drift score 1.81,'),
    );
    const r = await run(promtool.path!, ['test', 'rules', 'mutated.test.yaml'], dir);
    expect(r.code, r.output).not.toBe(0);
    expect(r.output).toContain('drift score 1.80,');
  });

  it('the PrometheusRule resource carries rules promtool accepts', async () => {
    const crd = parse(
      toPrometheusRuleCrd(await fixtureRules(), {
        name: 'driftd',
        namespace: 'monitoring',
        labels: { release: 'kube-prometheus-stack' },
      }),
    ) as { apiVersion: string; kind: string; metadata: unknown; spec: unknown };
    expect(crd.apiVersion).toBe('monitoring.coreos.com/v1');
    expect(crd.kind).toBe('PrometheusRule');
    expect(crd.metadata).toEqual({
      name: 'driftd',
      namespace: 'monitoring',
      labels: { 'app.kubernetes.io/name': 'driftd', release: 'kube-prometheus-stack' },
    });
    await writeFile(join(dir, 'crd-spec.yaml'), stringify(crd.spec));
    expectSuccess(
      await run(promtool.path!, ['check', 'rules', '--lint-fatal', 'crd-spec.yaml'], dir),
    );
  });

  it('the committed deploy rule files are valid', async () => {
    expectSuccess(
      await run(promtool.path!, [
        'check',
        'rules',
        '--lint-fatal',
        'deploy/prometheus/rules/driftd.rules.yaml',
      ]),
    );
    const crd = parse(
      await readFile(join(ROOT, 'deploy/kubernetes/base/prometheusrule.yaml'), 'utf8'),
    );
    await writeFile(join(dir, 'deploy-crd-spec.yaml'), stringify(crd.spec));
    expectSuccess(
      await run(promtool.path!, ['check', 'rules', '--lint-fatal', 'deploy-crd-spec.yaml'], dir),
    );
  });

  it('deploy/prometheus/prometheus.yml is a valid Prometheus config', async () => {
    // check config also loads the rule files it names, relative to the config file.
    expectSuccess(
      await run(promtool.path!, ['check', 'config', 'deploy/prometheus/prometheus.yml']),
    );
  });
});

describe.skipIf(!amtool.available)('deploy/alertmanager/alertmanager.yml (real amtool)', () => {
  it('passes amtool check-config', async () => {
    expectSuccess(await run(amtool.path!, ['check-config', ALERTMANAGER_YML]));
  });

  it.each([
    [
      'critical drift of a team-owned model pages that team',
      ['alertname=DriftdDatasetDrift', 'severity=critical', 'model=credit-risk', 'team=risk-ml'],
      'alert-archive-webhook,risk-ml-pagerduty',
    ],
    [
      'warning of a team-owned model goes to its channel',
      ['alertname=DriftdFeatureDrift', 'severity=warning', 'model=credit-risk', 'team=risk-ml'],
      'alert-archive-webhook,risk-ml-slack',
    ],
    [
      'critical drift of another model pages the ML on-call',
      ['alertname=DriftdPerformanceDegraded', 'severity=critical', 'model=churn'],
      'alert-archive-webhook,ml-oncall-pagerduty',
    ],
    [
      'warning of another model goes to the ML channel',
      ['alertname=DriftdPredictionDrift', 'severity=warning', 'model=churn'],
      'alert-archive-webhook,ml-monitoring-slack',
    ],
    [
      'an info alert is archived, nobody is notified',
      ['alertname=DriftdFeatureDrift', 'severity=info', 'model=churn', 'team=ml-platform'],
      'alert-archive-webhook,no-notification',
    ],
    [
      'a new data-quality page of a team-owned model pages that team',
      ['alertname=DriftdFeatureAbsent', 'severity=critical', 'model=credit-risk', 'team=risk-ml'],
      'alert-archive-webhook,risk-ml-pagerduty',
    ],
    [
      'a Kafka consumer alert pages the platform team, whatever the team label',
      ['alertname=DriftdKafkaConsumerStuck', 'severity=critical', 'team=risk-ml'],
      'alert-archive-webhook,platform-pagerduty',
    ],
    [
      'driftd down pages the platform team',
      ['alertname=DriftdDown', 'severity=critical', 'job=driftd'],
      'alert-archive-webhook,platform-pagerduty',
    ],
    [
      'a retrain recommendation goes to the pipeline webhook, whatever the team',
      [
        'alertname=DriftdRetrainRecommended',
        'severity=info',
        'model=credit-risk',
        'version=v2',
        'team=risk-ml',
      ],
      'alert-archive-webhook,retrain-pipeline-webhook',
    ],
    [
      'pipeline warnings go to the platform channel',
      ['alertname=DriftdConsumerLagHigh', 'severity=warning', 'topic=driftd.predictions'],
      'alert-archive-webhook,platform-slack',
    ],
  ])('routes: %s', async (_name, labels, receivers) => {
    const r = await run(amtool.path!, [
      'config',
      'routes',
      'test',
      `--config.file=${ALERTMANAGER_YML}`,
      ...labels,
    ]);
    expectSuccess(r);
    expect(r.stdout.trim(), r.output).toBe(receivers);
  });
});

describe.skipIf(!amtool.available)('every committed rule reaches its team (real amtool)', () => {
  const PIPELINE = new Set<string>(PIPELINE_ALERT_NAMES);
  const receivers = (team: string | undefined, severity: string, pipeline: boolean): string => {
    if (pipeline) return severity === 'critical' ? 'platform-pagerduty' : 'platform-slack';
    if (team === 'risk-ml') return severity === 'critical' ? 'risk-ml-pagerduty' : 'risk-ml-slack';
    return severity === 'critical' ? 'ml-oncall-pagerduty' : 'ml-monitoring-slack';
  };

  it('routes each generated alert of deploy/prometheus/rules by its team and severity', async () => {
    const file = parse(
      await readFile(join(ROOT, 'deploy/prometheus/rules/driftd.rules.yaml'), 'utf8'),
    ) as { groups: { rules: { alert: string; labels: Record<string, string> }[] }[] };
    const cases = new Map<string, Record<string, string>>();
    for (const r of file.groups.flatMap((g) => g.rules)) {
      const labels: Record<string, string> = { alertname: r.alert, ...r.labels };
      cases.set(JSON.stringify([r.alert, labels.team, labels.severity, labels.model]), labels);
    }
    const teams = new Set([...cases.values()].map((l) => l.team));
    expect([...teams].sort()).toEqual(['ml-platform', 'risk-ml']);
    for (const labels of cases.values()) {
      if (labels.alertname === 'DriftdRetrainRecommended') {
        const r = await run(amtool.path!, [
          'config',
          'routes',
          'test',
          `--config.file=${ALERTMANAGER_YML}`,
          ...Object.entries(labels).map(([k, v]) => `${k}=${v}`),
        ]);
        expectSuccess(r);
        expect(r.stdout.trim()).toBe('alert-archive-webhook,retrain-pipeline-webhook');
        continue;
      }
      const pipeline =
        PIPELINE.has(labels.alertname!) || labels.alertname === 'DriftdWindowsStalled';
      const r = await run(amtool.path!, [
        'config',
        'routes',
        'test',
        `--config.file=${ALERTMANAGER_YML}`,
        ...Object.entries(labels).map(([k, v]) => `${k}=${v}`),
      ]);
      expectSuccess(r);
      expect(r.stdout.trim(), JSON.stringify(labels)).toBe(
        `alert-archive-webhook,${receivers(labels.team, labels.severity!, pipeline)}`,
      );
    }
  }, 60_000);
});

interface AmAlert {
  labels: Record<string, string>;
  status: { state: string; inhibitedBy: string[] };
}

describe.skipIf(!alertmanager.available)(
  'deploy/alertmanager/alertmanager.yml routing and inhibition (real Alertmanager)',
  () => {
    let am: RunningServer | undefined;
    let hook: WebhookReceiver;

    beforeAll(async () => {
      hook = await startWebhookReceiver();
      // The deploy config with every receiver replaced by the test webhook (path = receiver
      // name) and short group timers; routes and inhibition rules are kept as they are.
      const config = parse(await readFile(ALERTMANAGER_YML, 'utf8')) as {
        global: Record<string, unknown>;
        route: Record<string, unknown>;
        receivers: { name: string }[];
      };
      delete config.global.slack_api_url_file;
      Object.assign(config.route, { group_wait: '1s', group_interval: '1s' });
      config.receivers = config.receivers.map(({ name }) => ({
        name,
        webhook_configs: [{ url: hook.url.replace(/\/alerts$/, `/${name}`) }],
      }));
      am = await startAlertmanager({ configYaml: stringify(config) });
    });

    afterAll(async () => {
      await am?.stop();
      await hook?.stop();
    });

    it('dataset drift silences the feature-drift warnings of the same model version and window', async () => {
      const now = Date.now();
      const alert = (labels: Record<string, string>) => ({
        labels,
        annotations: { summary: labels.alertname },
        startsAt: new Date(now - 60_000).toISOString(),
        endsAt: new Date(now + 3_600_000).toISOString(),
      });
      const creditRisk = { model: 'credit-risk', version: '3', team: 'risk-ml' };
      const alerts = [
        alert({
          alertname: 'DriftdDatasetDrift',
          severity: 'critical',
          ...creditRisk,
          window: '5m',
        }),
        alert({
          alertname: 'DriftdFeatureDrift',
          severity: 'warning',
          ...creditRisk,
          window: '5m',
          feature: 'income',
        }),
        // Other window size, other model: not inhibited.
        alert({
          alertname: 'DriftdFeatureDrift',
          severity: 'warning',
          ...creditRisk,
          window: '1h',
          feature: 'income',
        }),
        alert({
          alertname: 'DriftdFeatureDrift',
          severity: 'warning',
          model: 'churn',
          version: '1',
          window: '5m',
          feature: 'tenure',
        }),
      ];
      const post = async (batch: typeof alerts) => {
        const posted = await fetch(`${am!.url}/api/v2/alerts`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify(batch),
        });
        expect(posted.status, await posted.text()).toBe(200);
      };
      // The inhibiting alert is known to Alertmanager before the warnings arrive, as when the
      // dataset alert is already firing: posted in one request, a notification pipeline can run
      // before the inhibitor has seen its source (an Alertmanager race, not a routing property).
      await post(alerts.slice(0, 1));
      for (let i = 0; ; i++) {
        const listed = (await (await fetch(`${am!.url}/api/v2/alerts`)).json()) as AmAlert[];
        if (listed.some((a) => a.labels.alertname === 'DriftdDatasetDrift')) break;
        if (i > 100) throw new Error('Alertmanager never listed the dataset alert');
        await new Promise((r) => setTimeout(r, 50));
      }
      await post(alerts.slice(1));

      const pageOfTeam = await hook.waitFor(
        (n) => n.path === '/risk-ml-pagerduty' && n.commonLabels.alertname === 'DriftdDatasetDrift',
      );
      expect(pageOfTeam.groupLabels).toEqual({
        alertname: 'DriftdDatasetDrift',
        model: 'credit-risk',
      });
      const teamWarning = await hook.waitFor((n) => n.path === '/risk-ml-slack');
      const otherModel = await hook.waitFor(
        (n) => n.path === '/ml-monitoring-slack' && n.groupLabels.model === 'churn',
      );
      expect(otherModel.alerts.map((a) => a.labels.feature)).toEqual(['tenure']);
      await hook.waitFor((n) => n.path === '/alert-archive-webhook');

      // The 5m feature warning is suppressed; only the 1h one reached the team channel.
      expect(teamWarning.alerts.map((a) => a.labels.window)).toEqual(['1h']);
      const res = await fetch(`${am!.url}/api/v2/alerts?inhibited=true&silenced=false`);
      const state = (await res.json()) as AmAlert[];
      const find = (alertname: string, model: string, window: string) =>
        state.find(
          (a) =>
            a.labels.alertname === alertname &&
            a.labels.model === model &&
            a.labels.window === window,
        );
      expect(find('DriftdFeatureDrift', 'credit-risk', '5m')?.status.state).toBe('suppressed');
      expect(find('DriftdFeatureDrift', 'credit-risk', '5m')?.status.inhibitedBy).toHaveLength(1);
      expect(find('DriftdFeatureDrift', 'credit-risk', '1h')?.status.state).toBe('active');
      expect(find('DriftdFeatureDrift', 'churn', '5m')?.status.state).toBe('active');
      // Inhibited alerts reach no receiver, the archive included.
      const delivered = hook.notifications.flatMap((n) => n.alerts.map((a) => a.labels));
      expect(delivered).not.toContainEqual(
        expect.objectContaining({
          alertname: 'DriftdFeatureDrift',
          window: '5m',
          model: 'credit-risk',
        }),
      );
    });

    it('a feature absent from traffic silences the drift and missing alerts of that feature only', async () => {
      const now = Date.now();
      const alert = (labels: Record<string, string>) => ({
        labels,
        annotations: { summary: labels.alertname },
        startsAt: new Date(now - 60_000).toISOString(),
        endsAt: new Date(now + 3_600_000).toISOString(),
      });
      const w = { model: 'house-price', version: '1', window: '10m', team: 'ml-platform' };
      const post = async (batch: ReturnType<typeof alert>[]) => {
        const posted = await fetch(`${am!.url}/api/v2/alerts`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify(batch),
        });
        expect(posted.status, await posted.text()).toBe(200);
      };
      await post([
        alert({ alertname: 'DriftdFeatureAbsent', severity: 'critical', ...w, feature: 'sqft' }),
      ]);
      for (let i = 0; ; i++) {
        const listed = (await (await fetch(`${am!.url}/api/v2/alerts`)).json()) as AmAlert[];
        if (listed.some((a) => a.labels.alertname === 'DriftdFeatureAbsent')) break;
        if (i > 100) throw new Error('Alertmanager never listed the absent-feature alert');
        await new Promise((r) => setTimeout(r, 50));
      }
      await post([
        alert({
          alertname: 'DriftdFeatureDrift',
          severity: 'warning',
          ...w,
          feature: 'sqft',
          test: 'ks',
        }),
        alert({ alertname: 'DriftdFeatureMissing', severity: 'warning', ...w, feature: 'sqft' }),
        alert({ alertname: 'DriftdFeatureMissing', severity: 'warning', ...w, feature: 'rooms' }),
      ]);
      await hook.waitFor(
        (n) => n.path === '/ml-monitoring-slack' && n.commonLabels.model === 'house-price',
      );
      const state = (await (
        await fetch(`${am!.url}/api/v2/alerts?inhibited=true&silenced=false`)
      ).json()) as AmAlert[];
      const of = (alertname: string, feature: string) =>
        state.find(
          (a) =>
            a.labels.alertname === alertname &&
            a.labels.model === 'house-price' &&
            a.labels.feature === feature,
        )?.status.state;
      expect(of('DriftdFeatureDrift', 'sqft')).toBe('suppressed');
      expect(of('DriftdFeatureMissing', 'sqft')).toBe('suppressed');
      expect(of('DriftdFeatureMissing', 'rooms')).toBe('active');
      expect(of('DriftdFeatureAbsent', 'sqft')).toBe('active');
    });
  },
);
