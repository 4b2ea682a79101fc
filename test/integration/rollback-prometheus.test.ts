/**
 * The queries of deploy/argo-rollouts/analysis-template.yaml and deploy/flagger/
 * metric-template.yaml against a real Prometheus (Debian `prometheus`) scraping driftd's real
 * metric registry (src/export/metrics.ts, served over HTTP) after champion/challenger
 * comparisons were recorded through Metrics.recordComparison with the rollback judge of a
 * parsed config. The controllers are Kubernetes operators that cannot run here: their argument
 * substitution and decision (Argo: success / failure condition; Flagger: thresholdRange) are
 * applied by test/helpers/rollout-templates.ts to what Prometheus answers.
 *
 * The same registry and the generated DriftdChallengerWorse rule go through a real Alertmanager
 * to a webhook: the worse challenger pages, the others do not.
 *
 * Missing binaries skip locally and fail when CI=true or DRIFTD_REQUIRE_SERVICES=1.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Registry } from 'prom-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { parseConfig } from '../../src/config/index.js';
import { createMetrics, type Metrics } from '../../src/export/metrics.js';
import { generateAlertRules, toPrometheusRuleYaml } from '../../src/export/rules.js';
import type { VersionComparison } from '../../src/window/comparison-types.js';
import { judgeRollback, rollbackThresholds } from '../../src/window/rollback.js';
import { requireBinary } from '../helpers/binaries.js';
import { comparison, paired, predictionDrift } from '../helpers/comparison.js';
import {
  type RunningServer,
  startAlertmanager,
  startPrometheus,
  startWebhookReceiver,
  type WebhookReceiver,
} from '../helpers/prometheus.js';
import {
  argoPhase,
  readYaml,
  renderFlaggerQuery,
  resolveArgoArgs,
} from '../helpers/rollout-templates.js';

const prometheusBin = requireBinary('prometheus');
const alertmanagerBin = requireBinary('prometheus-alertmanager', 'alertmanager');

const CONFIG = parseConfig(
  `
models:
  - id: credit-risk
    task: binary-classification
    features: [{ name: income, type: numeric }]
    windows: { sizes: [5m] }
    alerts: { consecutiveWindows: 2, rollback: { estimatedDrop: 0.05 } }
`,
  { env: {} },
);
const MODEL = CONFIG.models[0]!;
const W = 300_000;

/** Window k of champion 3 against `challenger`: AUC estimates, and optionally prediction drift. */
function compared(
  challenger: string,
  k: number,
  auc: number,
  over: Partial<VersionComparison> = {},
): VersionComparison {
  return comparison({
    model: 'credit-risk',
    champion: '3',
    challenger,
    windowStart: k * W,
    windowEnd: (k + 1) * W,
    estimated: { roc_auc: paired(0.82, auc, 0.02) },
    ...over,
  });
}

/**
 * 4: worse in two windows in a row (an AUC 0.15 below, then prediction drift); 5: as good in
 * both; 6: worse once, then not; 7: never compared.
 */
function record(metrics: Metrics): void {
  // Every challenger still closes windows (the alert's freshness condition).
  const now = Date.now();
  for (const version of ['3', '4', '5', '6', '7']) {
    metrics.recordWindow({
      model: 'credit-risk',
      version,
      size: W,
      sizeLabel: '5m',
      start: now - W,
      end: now,
      baselineId: 'b',
      baselineHash: 'h',
      eventCount: 500,
      lateCount: 0,
      closedAt: now,
      features: [],
      prediction: null,
      driftShare: 0,
      datasetDrift: false,
      provisional: false,
    });
  }
  for (const c of [
    compared('4', 0, 0.67),
    compared('4', 1, 0.81, { prediction: predictionDrift(true) }),
    compared('5', 0, 0.83),
    compared('5', 1, 0.81),
    compared('6', 0, 0.6),
    compared('6', 1, 0.8),
  ]) {
    metrics.recordComparison(c);
  }
}

interface QueryResponse {
  status: string;
  data: { resultType: string; result: Array<{ value: [number, string] }> };
}

/** Prometheus's instant answer as the controllers read it: the samples' values. */
async function query(prom: RunningServer, promql: string): Promise<number[]> {
  const res = await fetch(`${prom.url}/api/v1/query?query=${encodeURIComponent(promql)}`);
  const body = (await res.json()) as QueryResponse;
  if (res.status !== 200) throw new Error(`${promql}: HTTP ${res.status} ${JSON.stringify(body)}`);
  expect(body.data.resultType).toBe('vector');
  return body.data.result.map((r) => Number(r.value[1]));
}

describe.skipIf(!prometheusBin.available || !alertmanagerBin.available)(
  'rollout templates and DriftdChallengerWorse against a real Prometheus',
  () => {
    let server: Server | undefined;
    let prom: RunningServer | undefined;
    let am: RunningServer | undefined;
    let hook: WebhookReceiver | undefined;
    let dir: string | undefined;

    beforeAll(async () => {
      const registry = new Registry();
      const metrics = createMetrics(registry, {
        version: 'test',
        judgeRollback: (c) => judgeRollback(c, rollbackThresholds(MODEL.alerts)),
      });
      record(metrics);
      server = createServer((_, res) => {
        void registry.metrics().then((text) => {
          res.writeHead(200, { 'content-type': registry.contentType });
          res.end(text);
        });
      });
      await new Promise<void>((done) => server!.listen(0, '127.0.0.1', done));
      const { port } = server.address() as AddressInfo;
      hook = await startWebhookReceiver();
      am = await startAlertmanager({
        configYaml: stringify({
          route: {
            receiver: 'hook',
            group_by: ['alertname', 'model', 'challenger'],
            group_wait: '1s',
            group_interval: '1s',
            repeat_interval: '1h',
          },
          receivers: [{ name: 'hook', webhook_configs: [{ url: hook.url }] }],
        }),
      });
      dir = await mkdtemp(join(tmpdir(), 'driftd-rollback-'));
      const rulesFile = join(dir, 'driftd.rules.yaml');
      await writeFile(rulesFile, toPrometheusRuleYaml(generateAlertRules(CONFIG)));
      prom = await startPrometheus({
        rulesFiles: [rulesFile],
        scrapeTargets: [`127.0.0.1:${port}`],
        alertmanagerUrl: am.url,
      });
      // Until the first scrape is in.
      const deadline = Date.now() + 30_000;
      while ((await query(prom, 'driftd_rollback_signal_consecutive_windows')).length < 3) {
        if (Date.now() > deadline) throw new Error(`no scrape in 30 s\n${prom.output()}`);
        await new Promise((r) => setTimeout(r, 250));
      }
    }, 60_000);

    afterAll(async () => {
      await prom?.stop();
      await am?.stop();
      await hook?.stop();
      if (dir) await rm(dir, { recursive: true, force: true });
      await new Promise((done) => (server ? server.close(done) : done(undefined)));
    });

    const expected = [
      ['4', 'Failed', 2],
      ['5', 'Successful', 0],
      ['6', 'Successful', 0],
      ['7', 'Successful', 0],
    ] as const;

    it('Argo Rollouts: the analysis fails for a challenger worse in K windows, and only for it', async () => {
      const doc = readYaml('deploy/argo-rollouts/analysis-template.yaml');
      for (const [challenger, phase, value] of expected) {
        const [metric] = JSON.parse(
          resolveArgoArgs(JSON.stringify(doc.spec.metrics), doc.spec.args, {
            model: 'credit-risk',
            challenger,
          }),
        );
        const result = await query(prom!, metric.provider.prometheus.query);
        expect(result, challenger).toEqual([value]);
        expect(argoPhase(metric, result), challenger).toBe(phase);
      }
    });

    it('Argo Rollouts: a window regex that excludes the judged size finds no evidence', async () => {
      const doc = readYaml('deploy/argo-rollouts/analysis-template.yaml');
      const [metric] = JSON.parse(
        resolveArgoArgs(JSON.stringify(doc.spec.metrics), doc.spec.args, {
          model: 'credit-risk',
          challenger: '4',
          window: '1h',
        }),
      );
      expect(await query(prom!, metric.provider.prometheus.query)).toEqual([0]);
    });

    it('Flagger: the check halts for a challenger worse in K windows, and only for it', async () => {
      const doc = readYaml('deploy/flagger/metric-template.yaml');
      const canary = readYaml('deploy/flagger/canary-analysis.example.yaml');
      const { max } = canary.spec.analysis.metrics[0].thresholdRange as { max: number };
      for (const [challenger, phase, value] of expected) {
        const result = await query(
          prom!,
          renderFlaggerQuery(doc.spec.query, { model: 'credit-risk', challenger }),
        );
        // Flagger reads one value (an empty answer is "no values found": a halted check).
        expect(result, challenger).toEqual([value]);
        expect(result[0]! > max ? 'Failed' : 'Successful', challenger).toBe(phase);
      }
    });

    it('without `or vector(0)` an uncompared challenger would answer nothing (why it is there)', async () => {
      const doc = readYaml('deploy/argo-rollouts/analysis-template.yaml');
      const [metric] = JSON.parse(
        resolveArgoArgs(JSON.stringify(doc.spec.metrics), doc.spec.args, {
          model: 'credit-risk',
          challenger: '7',
        }),
      );
      const bare = (metric.provider.prometheus.query as string).replace(
        /\s*or vector\(0\)\s*$/,
        '',
      );
      expect(bare).not.toContain('vector(0)');
      expect(await query(prom!, bare)).toEqual([]);
      expect(() => argoPhase(metric, [])).toThrow(/empty result/);
    });

    it('DriftdChallengerWorse reaches Alertmanager for the worse challenger, and only for it', async () => {
      const note = await hook!.waitFor(
        (n) => n.commonLabels.alertname === 'DriftdChallengerWorse' && n.status === 'firing',
        30_000,
      );
      expect(note.alerts.map((a) => a.labels)).toEqual([
        {
          alertname: 'DriftdChallengerWorse',
          severity: 'critical',
          model: 'credit-risk',
          champion: '3',
          challenger: '4',
          window: '5m',
        },
      ]);
      // The query in the text renders in a real Prometheus (the latest window was worse).
      expect(note.alerts[0]!.annotations.description).toMatch(
        /^Version 4 of model credit-risk was worse than the champion version 3 in 2 consecutive 5m windows \(alerting at 2\): .* In the latest compared window it was worse\./,
      );
      const firing = await query(prom!, 'ALERTS{alertname="DriftdChallengerWorse"}');
      expect(firing).toEqual([1]);
      expect(hook!.notifications.flatMap((n) => n.alerts.map((a) => a.labels.challenger))).toEqual([
        '4',
      ]);
    });
  },
);
