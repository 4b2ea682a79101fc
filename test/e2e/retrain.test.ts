/**
 * Issue 20 item 4, the retrain recommendation end to end, every component real and on
 * 127.0.0.1:
 *
 *   driftd as a child process (embedded chDB store, HTTP ingestion, /metrics)
 *     → Prometheus (Debian `prometheus`) scraping and evaluating every 1 s the rules GENERATED
 *       from this config
 *     → Alertmanager (Debian `prometheus-alertmanager`) running deploy/alertmanager/alertmanager.yml
 *       as shipped (the retrain route and its repeat_interval included); receivers pointed at
 *       the webhook below, short group timers
 *     → a webhook receiver in this test, standing in for the pipeline trigger.
 *
 * What it proves: a drift episode (dataset drift in `alerts.retrain.driftWindows` = 3
 * consecutive windows, then more) delivers exactly ONE notification to the pipeline webhook and
 * leaves exactly ONE record in the API, although the daemon is SIGKILLed twice: once in the
 * middle of the drift run (the run is derived from the store: the episode opens on the third
 * drifted window, not three windows after the restart) and once in the middle of the episode
 * (no second recommendation, no second delivery: the alert is not resolved by the scrapes the
 * restart misses). The first clean window closes the episode (API status closed, gauge 0).
 *
 * Event time is synthetic: 10 s windows, each POST of the next window closes the previous one.
 * Missing binaries skip locally and fail under CI=true or DRIFTD_REQUIRE_SERVICES=1.
 */
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
import { lcgNormals } from '../helpers/random.js';

const prometheusBin = requireBinary('prometheus');
const alertmanagerBin = requireBinary('prometheus-alertmanager', 'alertmanager');

const MODEL = 'churn-retrain';
const WINDOW = '10s';
const WINDOW_MS = 10_000;
const VERSION = '7';
const DRIFT_WINDOWS = 3;
const ROWS = 400;
/** Notification delay bound: scrape (1 s) + evaluation (1 s) + group_wait (2 s) + slack. */
const PAGE_WITHIN_MS = 15_000;
const PIPELINE = '/retrain-pipeline-webhook';

type Notification = WebhookNotification & { path: string };
type Row = { features: Record<string, number | string>; prediction: number };

const PLANS = ['basic', 'pro', 'team'];

const TRAINING: Row[] = (() => {
  const { z } = lcgNormals(41);
  return Array.from({ length: ROWS }, (_, i) => ({
    features: {
      tenure: 24 + 8 * z(),
      spend: 100 + 20 * z(),
      tickets: 3 + z(),
      plan: PLANS[i % 3]!,
    },
    prediction: 1 / (1 + Math.exp(-z())),
  }));
})();
/** Three of four features shifted by 2.5 standard deviations: dataset drift (share 0.75). */
const DRIFTED: Row[] = TRAINING.map((r) => ({
  ...r,
  features: {
    ...r.features,
    tenure: (r.features.tenure as number) + 20,
    spend: (r.features.spend as number) + 50,
    tickets: (r.features.tickets as number) + 2.5,
  },
}));

function configInput(dir: string, port: number) {
  return {
    dataDir: dir,
    server: { host: '127.0.0.1', port },
    logLevel: 'info',
    alerts: {
      labels: { team: 'ml-platform' },
      consecutiveWindows: 2,
      retrain: { driftWindows: DRIFT_WINDOWS },
    },
    models: [
      {
        id: MODEL,
        task: 'binary-classification',
        windows: { sizes: [WINDOW], allowedLateness: '0s', idleTimeout: '1h' },
        drift: { minWindowSize: 50 },
        features: [
          { name: 'tenure', type: 'numeric' },
          { name: 'spend', type: 'numeric' },
          { name: 'tickets', type: 'numeric' },
          { name: 'plan', type: 'categorical' },
        ],
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

interface ApiRecommendation {
  id: string;
  version: string;
  status: string;
  triggers: string[];
  window: string;
  closedAt: string | null;
  features: { feature: string; windows: number; maxEffect: number }[];
  windows: { start: string; end: string; drifted: boolean | null }[];
  configHash: string;
  driftdVersion: string;
}

describe.skipIf(!prometheusBin.available || !alertmanagerBin.available)(
  'issue 20 retrain recommendation end to end: one episode, one webhook delivery, one API record, across restarts',
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
      dir = await mkdtemp(join(tmpdir(), 'driftd-retrain-'));
      port = await freePort();
      const input = configInput(dir, port);
      configFile = await writeConfigFile(dir, input);
      config = validateConfig(input, { env: {} });

      const store = createStore(config.store);
      await store.migrate();
      const model = config.models[0]!;
      const rows = TRAINING.map((r, i) => ({
        model: MODEL,
        version: VERSION,
        id: `b-${i}`,
        ts: new Date(T0 - 3_600_000).toISOString(),
        ...r,
      }));
      await store.saveBaseline(buildProfileFromRows(model, VERSION, rows).profile);
      await store.close();

      hook = await startWebhookReceiver();
      // The shipped config, every receiver the test webhook (test/helpers/prometheus.ts).
      am = await startAlertmanager({
        configYaml: await shippedAlertmanagerConfig(hook.url, { repeatInterval: null }),
      });

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

    /** HTTP checkpoints every 200 ms: windows closed before a kill are not closed again. */
    async function startDaemon(): Promise<DaemonProcess> {
      const d = await startDaemonProcess({
        configFile,
        logFile: join(dir, 'daemon.log'),
        env: { DRIFTD_HTTP_CHECKPOINT_INTERVAL_MS: '200' },
      });
      await d.waitReady();
      return d;
    }

    const deliveries = () =>
      (hook!.notifications as Notification[]).filter(
        (n) => n.path === PIPELINE && n.commonLabels.alertname === 'DriftdRetrainRecommended',
      );
    async function diagnostics(): Promise<string> {
      const alerts = await fetch(`${prom!.url}/api/v1/alerts`)
        .then((r) => r.text())
        .catch((e: Error) => e.message);
      const notes = (hook!.notifications as Notification[]).map(
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
      expect(res.status, await res.text()).toBe(202);
    }
    /** Window k; its first event closes window k − 1. */
    async function postWindow(k: number, drifted: boolean): Promise<void> {
      const start = T0 + k * WINDOW_MS;
      const at = (i: number) => new Date(start + Math.floor((i * WINDOW_MS) / ROWS)).toISOString();
      const events = (drifted ? DRIFTED : TRAINING).map((row, i) => ({
        model: MODEL,
        version: VERSION,
        id: `${k}-${i}`,
        ts: at(i),
        ...row,
      }));
      await post('/api/v1/events', events);
    }
    const metrics = async () => (await fetch(`${daemon!.url}/metrics`)).text();
    const vl = { model: MODEL, version: VERSION };
    const datasetRun = async () =>
      sample(await metrics(), 'driftd_model_dataset_drift_consecutive_windows', {
        ...vl,
        window: WINDOW,
      });
    async function waitFor(what: string, done: () => Promise<boolean>): Promise<void> {
      const deadline = Date.now() + 20_000;
      while (!(await done())) {
        if (Date.now() > deadline) throw new Error(`${what} not seen within 20 s`);
        await sleep(100);
      }
    }
    async function recommendations(): Promise<ApiRecommendation[]> {
      const res = await fetch(`${daemon!.url}/api/v1/models/${MODEL}/retrain-recommendations`);
      expect(res.status).toBe(200);
      return ((await res.json()) as { recommendations: ApiRecommendation[] }).recommendations;
    }
    const windowStart = (k: number) => new Date(T0 + k * WINDOW_MS).toISOString();

    it('one drift episode: one delivery to the pipeline webhook and one API record, although the daemon is killed twice', async () => {
      await postWindow(0, false);
      await postWindow(1, true); // closes clean window 0
      await postWindow(2, true); // closes drifted window 1
      await postWindow(3, true); // closes drifted window 2
      await waitFor('a dataset drift run of 2', async () => (await datasetRun()) === 2);
      await sleep(1_000); // a checkpoint after windows 1 and 2 were written
      expect(await recommendations()).toEqual([]);

      // Killed in the middle of the run: the restarted daemon derives it from the store.
      expect((await daemon!.kill()).signal).toBe('SIGKILL');
      daemon = await startDaemon();
      expect(await recommendations()).toEqual([]);
      expect(sample(await metrics(), 'driftd_retrain_recommended', vl)).toBeUndefined();

      const closedAt = Date.now();
      await postWindow(4, true); // closes drifted window 3: the third in a row
      await waitFor('the recommendation', async () => (await recommendations()).length > 0);
      const [rec, ...others] = await recommendations();
      expect(others).toEqual([]);
      expect(rec).toMatchObject({
        version: VERSION,
        status: 'open',
        triggers: ['drift'],
        window: WINDOW,
        closedAt: null,
        id: `${WINDOW}@${windowStart(1)}`,
      });
      expect(rec!.configHash).toMatch(/^sha256:[0-9a-f]{64}$/);
      // Why: the three windows of the run and the features that drifted, with their effects.
      expect(rec!.windows.map((w) => [w.start, w.drifted])).toEqual([
        [windowStart(1), true],
        [windowStart(2), true],
        [windowStart(3), true],
      ]);
      expect(rec!.features.map((f) => f.feature).sort()).toEqual(['spend', 'tenure', 'tickets']);
      for (const f of rec!.features) {
        expect(f.windows).toBe(3);
        expect(f.maxEffect).toBeGreaterThan(0.5);
      }
      let text = await metrics();
      expect(sample(text, 'driftd_retrain_recommended', vl)).toBe(1);
      expect(sample(text, 'driftd_retrain_recommendations_total', vl)).toBe(1);

      const delivered = await hook!
        .waitFor(
          (n) => n.path === PIPELINE && n.commonLabels.alertname === 'DriftdRetrainRecommended',
          PAGE_WITHIN_MS,
        )
        .catch(async (err: Error) => {
          throw new Error(`${err.message}\n${await diagnostics()}`);
        });
      expect(Date.now() - closedAt).toBeLessThan(PAGE_WITHIN_MS + 5_000);
      expect(delivered.status).toBe('firing');
      expect(delivered.alerts.map((a) => a.labels)).toEqual([
        expect.objectContaining({ model: MODEL, version: VERSION, severity: 'info' }),
      ]);

      // Killed in the middle of the episode, long enough for Prometheus to miss scrapes.
      expect((await daemon!.kill()).signal).toBe('SIGKILL');
      await sleep(3_000);
      daemon = await startDaemon();
      text = await metrics();
      expect(sample(text, 'driftd_retrain_recommended', vl)).toBe(1);
      // Nothing raised since this start.
      expect(sample(text, 'driftd_retrain_recommendations_total', vl) ?? 0).toBe(0);

      await postWindow(5, true); // closes drifted window 4
      await postWindow(6, true); // closes drifted window 5
      await waitFor('a dataset drift run of 5', async () => (await datasetRun()) === 5);
      expect((await recommendations()).map((r) => [r.id, r.status])).toEqual([[rec!.id, 'open']]);
      expect(sample(await metrics(), 'driftd_retrain_recommendations_total', vl) ?? 0).toBe(0);

      // The first clean window closes the episode.
      await postWindow(7, false); // closes drifted window 6
      await postWindow(8, false); // closes clean window 7
      await waitFor(
        'the episode closed',
        async () => (await recommendations())[0]?.status === 'closed',
      );
      const after = await recommendations();
      expect(after.map((r) => [r.id, r.status])).toEqual([[rec!.id, 'closed']]);
      expect(after[0]!.closedAt).not.toBeNull();
      expect(sample(await metrics(), 'driftd_retrain_recommended', vl)).toBe(0);

      // Time for any second delivery (restart, repeat, resolve) to arrive: none did.
      await sleep(6_000);
      expect(
        deliveries().map((n) => n.status),
        await diagnostics(),
      ).toEqual(['firing']);
    }, 240_000);
  },
);
