/**
 * Dashboards and alert rules against a real Prometheus (Debian `prometheus`) scraping the
 * daemon's real metric families (src/export/metrics.ts on a prom-client registry, process
 * metrics included, served by a fastify app with the daemon's request metrics, so Prometheus's
 * own scrapes are counted: the daemon itself is not needed to prove the queries), with a real
 * Alertmanager
 * delivering to a webhook receiver. Proves:
 *
 * - every PromQL expression of every dashboard parses (HTTP 400 from /api/v1/query otherwise)
 *   and returns data once the daemon's metrics are scraped (label sets match what is exported);
 * - every generated rule evaluates without error, and DriftdFeatureDrift goes all the way to
 *   the webhook with its labels and rendered annotations (DriftdFairnessDisparity too, naming
 *   the protected group);
 * - the test helpers (startPrometheus, startAlertmanager, startWebhookReceiver).
 *
 * Missing binaries skip locally and fail when CI=true or DRIFTD_REQUIRE_SERVICES=1.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Fastify, { type FastifyInstance } from 'fastify';
import { Registry } from 'prom-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { installRequestMetrics } from '../../src/api/request-metrics.js';
import { parseConfig } from '../../src/config/index.js';
import { dashboardQueries, generateDashboards } from '../../src/export/dashboards.js';
import { createMetrics, type Metrics } from '../../src/export/metrics.js';
import { generateAlertRules, toPrometheusRuleYaml } from '../../src/export/rules.js';
import { createFairnessCounts, evaluateFairness } from '../../src/stats/index.js';
import type { BaselineProfile, FeatureDrift, WindowResult } from '../../src/types.js';
import { judgePerformance } from '../../src/window/performance-verdict.js';
import { requireBinary } from '../helpers/binaries.js';
import {
  type RunningServer,
  startAlertmanager,
  startPrometheus,
  startWebhookReceiver,
  type WebhookReceiver,
} from '../helpers/prometheus.js';

const prometheusBin = requireBinary('prometheus');
const alertmanagerBin = requireBinary('prometheus-alertmanager', 'alertmanager');

/** Values Grafana would substitute for the dashboards' variables. */
const VARIABLES: Record<string, string> = {
  datasource: 'prometheus',
  model: 'credit-risk',
  version: '.*',
  window: '2s',
  feature: '.*',
  instance: '.*',
  __rate_interval: '30s',
  __interval: '15s',
  __range: '5m',
};

function interpolate(expr: string): string {
  return expr.replace(/\$\{(\w+)(?::\w+)?\}|\$(\w+)/g, (_, braced?: string, bare?: string) => {
    const name = (braced ?? bare)!;
    const value = VARIABLES[name];
    if (value === undefined) throw new Error(`no test value for $${name} in ${expr}`);
    return value;
  });
}

/** 2s windows so that window gauges move within seconds. */
const CONFIG = parseConfig(
  `
models:
  - id: credit-risk
    task: binary-classification
    features:
      - { name: income, type: numeric }
      - { name: region, type: categorical }
      - { name: sex, type: categorical }
    fairness:
      attributes: [{ field: sex, groups: [female, male], reference: male }]
    windows: { sizes: [2s], allowedLateness: 1s }
    drift: { minWindowSize: 100, shareThreshold: 0.5, psiThreshold: 0.2, fdr: 0.05 }
`,
  { env: {} },
);

function feature(name: string, type: 'numeric' | 'categorical', drifted: boolean, psi: number) {
  return {
    feature: name,
    type,
    test: type === 'numeric' ? 'ks' : 'chi-square',
    statistic: drifted ? 0.31 : 0.02,
    pValue: drifted ? 1e-9 : 0.6,
    adjustedPValue: drifted ? 2e-9 : 0.6,
    threshold: 0.05,
    drifted,
    psi,
    ksStatistic: type === 'numeric' ? 0.31 : null,
    ksBound: type === 'numeric' ? 0.001 : null,
    ksPValue: type === 'numeric' ? 2e-9 : null,
    verdictRule: 'calibrated',
    effect: type === 'numeric' ? 0.31 : 0.2,
    effectFloor: 0.1,
    statisticBound: type === 'numeric' ? 0.001 : null,
    boundStraddlesThreshold: false,
    count: 500,
    missingRatio: 0.01,
    outOfRangeRatio: 0.002,
    unseenRatio: type === 'categorical' ? 0.03 : 0,
    otherRatio: type === 'categorical' ? 0.05 : 0,
    insufficient: false,
  } satisfies FeatureDrift;
}

/** What the daemon records when a 2s window of credit-risk v3 closes now. */
function closeWindow(metrics: Metrics): void {
  const now = Date.now();
  const result: WindowResult = {
    model: 'credit-risk',
    version: '3',
    size: 2000,
    sizeLabel: '2s',
    start: now - 2000,
    end: now,
    baselineId: 'b-1',
    baselineHash: 'h-1',
    eventCount: 500,
    lateCount: 2,
    closedAt: now,
    features: [
      feature('income', 'numeric', true, 0.4321),
      feature('region', 'categorical', false, 0.01),
    ],
    prediction: feature('prediction', 'numeric', true, 0.2468),
    driftShare: 0.5,
    datasetDrift: true,
    provisional: false,
    // The label-free estimate of a binary classifier with an estimator (src/stats/cbpe.ts).
    estimate: {
      count: 500,
      rocAucErrorBound: 0.0001,
      metrics: Object.fromEntries(
        (['accuracy', 'precision', 'recall', 'f1', 'roc_auc'] as const).map((k) => [
          k,
          { value: 0.8, samplingError: 0.01, standardError: 0.012, lower: 0.764, upper: 0.836 },
        ]),
      ) as NonNullable<WindowResult['estimate']>['metrics'],
    },
  };
  metrics.recordWindow(result);
  metrics.recordPerformance({
    model: 'credit-risk',
    version: '3',
    size: 2000,
    sizeLabel: '2s',
    start: now - 2000,
    end: now,
    labeled: 200,
    coverage: 0.4,
    metrics: { roc_auc: 0.81, accuracy: 0.9, brier: 0.12, estimate_gap_roc_auc: 0.01 },
    computedAt: now,
  });
  const fairness = createFairnessCounts(['female', 'male', 'other', 'missing']);
  for (let i = 0; i < 200; i++) {
    const group = i % 2 === 0 ? 'female' : 'male';
    const selected = group === 'male' || i % 8 === 0;
    fairness.recordPrediction(group, selected);
    fairness.recordOutcome(group, selected, (i % 4 < 2 ? 1 : 0) as 0 | 1);
  }
  metrics.recordFairness(result, {
    sex: evaluateFairness(fairness, { reference: 'male' }),
  });
  // One segment of the window (models[].segments) in which a feature drifted.
  metrics.recordSegment({
    ...result,
    segment: 'region=EU',
    features: result.features.map((d) => ({ ...d, drifted: true, insufficient: false })),
  });
  metrics.recordSegmentPerformance({
    model: 'credit-risk',
    version: '3',
    size: 2000,
    sizeLabel: '2s',
    start: now - 2000,
    end: now,
    segment: 'region=EU',
    labeled: 80,
    coverage: 0.4,
    metrics: { accuracy: 0.85 },
    computedAt: now,
  });
  // A champion/challenger comparison of the window (models[].comparison), shadow mode.
  const paired = (champion: number, challenger: number, standardError: number | null) => ({
    champion,
    challenger,
    difference: challenger - champion,
    standardError,
  });
  metrics.comparison.recordComparison({
    model: 'credit-risk',
    champion: '3',
    challenger: '4',
    window: '2s',
    windowStart: now - 2000,
    windowEnd: now,
    championEvents: 450,
    challengerEvents: 50,
    challengerShare: 0.1,
    features: [feature('income', 'numeric', false, 0.01)],
    prediction: feature('prediction', 'numeric', true, 0.2468),
    estimated: { roc_auc: paired(0.8, 0.7, 0.03) },
    realised: { roc_auc: paired(0.81, 0.72, null) },
    shadow: {
      matched: 50,
      agreement: 0.9,
      scoreDifference: { mean: 0.02, p50: 0.01, p90: 0.05, p99: 0.1, max: 0.2 },
    },
  });
  for (const [version, share] of [
    ['3', 0.9],
    ['4', 0.1],
  ] as const) {
    metrics.comparison.recordTrafficShare({
      model: 'credit-risk',
      version,
      window: '2s',
      start: now - 2000,
      share,
    });
  }
  // The version's baseline, as the baseline cache records it (only what the gauges read).
  metrics.recordBaseline({
    model: 'credit-risk',
    version: '3',
    rowCount: 1000,
    performance: { roc_auc: 0.83, accuracy: 0.91, brier: 0.11 },
    features: { income: { missing: 10 }, region: { missing: 0 } },
  } as unknown as BaselineProfile);
  // A retrain episode opened (src/window/retrain.ts).
  metrics.recordRetrain({ model: 'credit-risk', version: '3', status: 'open' });
  metrics.eventsTotal.inc({ model: 'credit-risk', result: 'accepted' }, 500);
  metrics.eventsTotal.inc({ model: 'credit-risk', result: 'late' }, 2);
  metrics.labelsTotal.inc({ model: 'credit-risk', result: 'accepted' }, 200);
  metrics.deadLetterTotal.inc({ reason: 'invalid_json' });
  metrics.quarantinedTotal.inc({ kind: 'window_result' });
  metrics.storeWriteSeconds.observe({ table: 'window_results' }, 0.004);
  metrics.storeErrors.inc({ operation: 'insert' }, 0);
  metrics.kafkaConsumerLag.set({ topic: 'driftd.predictions', partition: '0' }, 42);
  metrics.kafkaRebalances.inc(0);
  metrics.kafkaErrors.inc({ operation: 'commit_offsets' }, 0);
  metrics.kafkaMessagesProcessed.inc({ topic: 'driftd.predictions' }, 500);
  metrics.lastEventTimestamp.set({ model: 'credit-risk' }, now / 1000);
  metrics.openWindows.set({ model: 'credit-risk' }, 2);
  // Cluster mode (src/cluster/).
  metrics.clusterLanesOwned.set({ kind: 'kafka' }, 2);
  metrics.clusterLanesOwned.set({ kind: 'http' }, 1);
  metrics.clusterPartialsWritten.inc({ kind: 'final' }, 3);
  metrics.clusterWindowsFinalised.inc({ model: 'credit-risk', window: '5m' });
  metrics.clusterFinalisationDelay.observe(0.8);
  metrics.clusterWindowsPending.set(1);
}

interface QueryResponse {
  status: 'success' | 'error';
  error?: string;
  data?: { resultType: string; result: unknown[] | [number, string] };
}

async function instantQuery(prom: RunningServer, expr: string): Promise<[number, QueryResponse]> {
  const res = await fetch(`${prom.url}/api/v1/query?query=${encodeURIComponent(expr)}`);
  return [res.status, (await res.json()) as QueryResponse];
}

const hasData = (r: QueryResponse) =>
  r.data !== undefined &&
  (r.data.resultType === 'scalar' || r.data.resultType === 'string'
    ? true
    : (r.data.result as unknown[]).length > 0);

async function eventually<T>(fn: () => Promise<T>, ok: (v: T) => boolean, timeoutMs: number) {
  const deadline = Date.now() + timeoutMs;
  let last = await fn();
  while (!ok(last) && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 500));
    last = await fn();
  }
  return last;
}

describe.skipIf(!prometheusBin.available || !alertmanagerBin.available)(
  'dashboards and rules on a real Prometheus scraping the daemon metrics',
  () => {
    let metricsServer: FastifyInstance | undefined;
    let ticker: NodeJS.Timeout | undefined;
    let hook: WebhookReceiver;
    let am: RunningServer | undefined;
    let prom: RunningServer | undefined;
    let dir: string;
    const queries = Object.entries(generateDashboards(CONFIG)).flatMap(([uid, d]) =>
      dashboardQueries(d).map((q) => ({ uid, expr: q, promql: interpolate(q) })),
    );

    beforeAll(async () => {
      const registry = new Registry();
      const metrics = createMetrics(registry, {
        version: '0.0.0-test',
        // Baseline performance close to the window's: not degraded, so no page.
        judgePerformance: (p) =>
          judgePerformance(p, CONFIG.models[0]!, { roc_auc: 0.8, brier: 0.1, accuracy: 0.9 }),
      });
      metrics.setKafkaReadiness(() => true);
      closeWindow(metrics);
      ticker = setInterval(() => closeWindow(metrics), 500);
      metricsServer = Fastify();
      installRequestMetrics(metricsServer, metrics);
      metricsServer.get('/metrics', async (_req, reply) =>
        reply.type(registry.contentType).send(await registry.metrics()),
      );
      const { port } = new URL(await metricsServer.listen({ host: '127.0.0.1', port: 0 }));

      hook = await startWebhookReceiver();
      am = await startAlertmanager({
        configYaml: stringify({
          route: {
            receiver: 'hook',
            group_by: ['alertname', 'model'],
            group_wait: '1s',
            group_interval: '1s',
            repeat_interval: '1h',
          },
          receivers: [{ name: 'hook', webhook_configs: [{ url: hook.url }] }],
        }),
      });
      dir = await mkdtemp(join(tmpdir(), 'driftd-dashboards-'));
      const rulesFile = join(dir, 'driftd.rules.yaml');
      await writeFile(rulesFile, toPrometheusRuleYaml(generateAlertRules(CONFIG)));
      prom = await startPrometheus({
        rulesFiles: [rulesFile],
        scrapeTargets: [`127.0.0.1:${port}`],
        alertmanagerUrl: am.url,
        evaluationInterval: '1s',
        scrapeInterval: '1s',
      });
    });

    afterAll(async () => {
      clearInterval(ticker);
      await prom?.stop();
      await am?.stop();
      await hook?.stop();
      await metricsServer?.close();
      if (dir) await rm(dir, { recursive: true, force: true });
    });

    it('the servers listen on 127.0.0.1 and are ready', async () => {
      for (const s of [prom!, am!]) {
        expect(new URL(s.url).hostname).toBe('127.0.0.1');
        expect(s.pid).toBeGreaterThan(0);
        expect((await fetch(`${s.url}/-/ready`)).status).toBe(200);
      }
    });

    it('rejects a malformed expression with HTTP 400 (the parse check can fail)', async () => {
      const [status, body] = await instantQuery(prom!, 'sum(rate(driftd_events_total[5m])');
      expect(status).toBe(400);
      expect(body.status).toBe('error');
    });

    it('parses every dashboard expression', async () => {
      expect(queries.length).toBeGreaterThan(60);
      const failures: string[] = [];
      for (const q of queries) {
        const [status, body] = await instantQuery(prom!, q.promql);
        if (status !== 200 || body.status !== 'success') {
          failures.push(`${q.uid}: ${q.promql}\n  -> ${status} ${body.error}`);
        }
      }
      expect(failures).toEqual([]);
    });

    it('every dashboard expression returns data from the daemon metrics', async () => {
      // ALERTS has data once rules fire; checked in the next test.
      const pending = queries.filter((q) => !q.expr.includes('ALERTS'));
      const empty = await eventually(
        async () => {
          const out: string[] = [];
          for (const q of pending) {
            const [, body] = await instantQuery(prom!, q.promql);
            if (!hasData(body)) out.push(`${q.uid}: ${q.promql}`);
          }
          return out;
        },
        (e) => e.length === 0,
        30_000,
      );
      expect(empty).toEqual([]);
    }, 60_000);

    it('evaluates every generated rule without error and delivers DriftdFeatureDrift to the webhook', async () => {
      const note = await hook.waitFor(
        (n) => n.commonLabels.alertname === 'DriftdFeatureDrift' && n.status === 'firing',
        30_000,
      );
      expect(note.alerts).toHaveLength(1);
      expect(note.alerts[0]!.labels).toEqual({
        alertname: 'DriftdFeatureDrift',
        severity: 'warning',
        model: 'credit-risk',
        version: '3',
        window: '2s',
        feature: 'income',
        test: 'ks',
      });
      // The query templates of the text render in a real Prometheus: count, threshold, events.
      // No runbook or API link: the config sets no alerts.runbookBaseUrl / apiBaseUrl.
      expect(note.alerts[0]!.annotations).toEqual({
        summary: 'Feature income of credit-risk drifted (ks)',
        description: expect.stringMatching(
          /^Feature income of model credit-risk version 3 drifted from its reference in \d+ consecutive 2s windows \(alerting at 2\)\. Verdict of the ks test: drift score \d+\.\d\d, drifted at 1 or more \(significant after Benjamini-Hochberg at FDR 0\.05 and an effect at or above its floor\)\. The latest 2s window had 500 events\.$/,
        ),
      });
      await hook.waitFor((n) => n.commonLabels.alertname === 'DriftdDatasetDrift', 30_000);
      await hook.waitFor((n) => n.commonLabels.alertname === 'DriftdPredictionDrift', 30_000);
      // The injected bias against women (closeWindow) pages with the group named.
      const fairness = await hook.waitFor(
        (n) => n.commonLabels.alertname === 'DriftdFairnessDisparity' && n.status === 'firing',
        30_000,
      );
      expect(fairness.alerts.map((a) => a.labels)).toEqual([
        {
          alertname: 'DriftdFairnessDisparity',
          severity: 'warning',
          model: 'credit-risk',
          version: '3',
          window: '2s',
          attribute: 'sex',
          group: 'female',
        },
      ]);

      const res = await fetch(`${prom!.url}/api/v1/rules?type=alert`);
      const body = (await res.json()) as {
        data: { groups: { rules: { name: string; health: string; lastError?: string }[] }[] };
      };
      const rules = body.data.groups.flatMap((g) => g.rules);
      expect(rules.length).toBe(generateAlertRules(CONFIG).groups.flatMap((g) => g.rules).length);
      for (const r of rules)
        expect([r.name, r.health, r.lastError ?? '']).toEqual([r.name, 'ok', '']);
      // Performance is at its baseline's (roc_auc 0.81 vs 0.8, brier 0.12 vs 0.1): no page.
      expect(hook.notifications.map((n) => n.commonLabels.alertname)).not.toContain(
        'DriftdPerformanceDegraded',
      );

      for (const q of queries.filter((x) => x.expr.includes('ALERTS'))) {
        const [, r] = await instantQuery(prom!, q.promql);
        expect(hasData(r), q.promql).toBe(true);
      }
    }, 60_000);
  },
);
