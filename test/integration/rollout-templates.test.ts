/**
 * The queries of deploy/argo-rollouts/analysis-template.yaml and deploy/flagger/
 * metric-template.yaml against a real Prometheus (Debian `prometheus`) scraping driftd's real
 * metric registry (src/export/metrics.ts, served over HTTP) after champion/challenger
 * comparisons were recorded through Metrics.recordComparison with the rollback judge of a
 * parsed config. The controllers are Kubernetes operators that cannot run here: their argument
 * substitution and decision (Argo: success / failure condition; Flagger: thresholdRange) are
 * applied by test/helpers/rollout-templates.ts to what Prometheus answers.
 *
 * Missing binaries skip locally and fail when CI=true or DRIFTD_REQUIRE_SERVICES=1.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Registry } from 'prom-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/config/index.js';
import { createMetrics, type Metrics } from '../../src/export/metrics.js';
import type { VersionComparison } from '../../src/window/comparison-types.js';
import { judgeRollback, rollbackThresholds } from '../../src/window/rollback.js';
import { requireBinary } from '../helpers/binaries.js';
import { comparison, paired, predictionDrift } from '../helpers/comparison.js';
import { type RunningServer, startPrometheus } from '../helpers/prometheus.js';
import {
  argoPhase,
  readYaml,
  renderFlaggerQuery,
  resolveArgoArgs,
} from '../helpers/rollout-templates.js';

const prometheusBin = requireBinary('prometheus');

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

describe.skipIf(!prometheusBin.available)('rollout templates against a real Prometheus', () => {
  let server: Server | undefined;
  let prom: RunningServer | undefined;

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
    prom = await startPrometheus({ scrapeTargets: [`127.0.0.1:${port}`] });
    // Until the first scrape is in.
    const deadline = Date.now() + 30_000;
    while ((await query(prom, 'driftd_rollback_signal_consecutive_windows')).length < 3) {
      if (Date.now() > deadline) throw new Error(`no scrape in 30 s\n${prom.output()}`);
      await new Promise((r) => setTimeout(r, 250));
    }
  }, 60_000);

  afterAll(async () => {
    await prom?.stop();
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
    const bare = (metric.provider.prometheus.query as string).replace(/\s*or vector\(0\)\s*$/, '');
    expect(bare).not.toContain('vector(0)');
    expect(await query(prom!, bare)).toEqual([]);
    expect(() => argoPhase(metric, [])).toThrow(/empty result/);
  });
});
