import { readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { importBaseline } from '../../src/baseline/import.js';
import { validateConfig } from '../../src/config/index.js';
import { createDaemon, type Daemon } from '../../src/daemon.js';
import { generateAlertRules, toPrometheusRuleYaml } from '../../src/export/rules.js';
import { requireBinary } from '../helpers/binaries.js';
import {
  type RunningServer,
  startAlertmanager,
  startPrometheus,
  startWebhookReceiver,
  type WebhookReceiver,
} from '../helpers/prometheus.js';
import { mulberry32 } from '../helpers/random.js';

/*
 * Champion/challenger comparison end to end on real data (real chDB, real HTTP): the scores
 * and labels of a real model on real people (test/fixtures/cbpe-nannyml.json: NannyML's ACS
 * employment extract, the `hgb` model; scripts/fixtures/gen_cbpe.py). The baseline is the
 * fixture's reference set (scores + labels: the estimator is fitted on it at import).
 * Live traffic is the fixture's held-out pool, 2 000 rows a minute, 10 % of it routed to the
 * challenger (a canary). Two models, one daemon:
 * - canary: the challenger is a broken build of the model: its scores lose their confidence
 *   and pick up noise (0.5 + 0.4·(s − 0.5) + 0.08·z), so it is truly worse (noise flips the
 *   class near the threshold) and looks it (less confident scores);
 * - healthy: the challenger scores its rows exactly as the champion does.
 * The comparison shows the canary's regression before any label (prediction drift between
 * the versions, a drop of the estimated accuracy far beyond its standard error) and the
 * healthy challenger's absence of one; the realised difference follows the labels.
 * The one synthetic field is the feature `channel` (the fixture has scores only), drawn from
 * the same distribution for every row of both versions. A third model runs the broken build in
 * shadow mode (both versions score every id).
 *
 * The rollback signal, every component real: Prometheus (Debian `prometheus`) scrapes the
 * daemon's /metrics every second and evaluates the rules generated for this config;
 * DriftdChallengerWorse (the challenger worse than the champion in alerts.consecutiveWindows = 2
 * windows in a row: estimated ROC AUC drop or prediction drift, src/window/rollback.ts) goes
 * to a real Alertmanager (`prometheus-alertmanager`) and on to a webhook receiver here. The
 * broken builds page, the healthy challenger does not. Missing binaries skip the alert test
 * locally and fail it under CI=true or DRIFTD_REQUIRE_SERVICES=1.
 */

const prometheusBin = requireBinary('prometheus');
const alertmanagerBin = requireBinary('prometheus-alertmanager', 'alertmanager');
const alerting = prometheusBin.available && alertmanagerBin.available;

interface Fixture {
  models: Array<{
    name: string;
    reference: { scores: number[]; labels: string };
    pool?: { scores: number[]; labels: string };
  }>;
}
const fixture = JSON.parse(
  readFileSync(new URL('../fixtures/cbpe-nannyml.json', import.meta.url), 'utf8'),
) as Fixture;
const hgb = fixture.models.find((m) => m.name === 'hgb')!;
const pool = hgb.pool!;

const T0 = Date.parse('2026-11-22T10:00:00Z');
const MINUTE = 60_000;
const PER_WINDOW = 2000;
const WINDOWS = 4;
const CHANNELS = ['web', 'mobile', 'branch'];

type Model = 'canary' | 'healthy' | 'shadow';
type Comparison = {
  champion: string;
  challenger: string;
  start: string;
  championEvents: number;
  challengerEvents: number;
  challengerShare: number | null;
  prediction: { drifted: boolean } | null;
  features: Array<{ feature: string; drifted: boolean; insufficient: boolean }>;
  estimated: Record<string, { difference: number | null; standardError: number | null }>;
  realised: Record<string, { champion: number; challenger: number; difference: number | null }>;
  shadow: {
    matched: number;
    agreement: number | null;
    scoreDifference: { mean: number; p50: number; p90: number; p99: number; max: number } | null;
  } | null;
  driftdVersion: string;
  configHash: string;
};

describe('champion/challenger comparison through the daemon, on real scores', () => {
  let dir: string;
  let daemon: Daemon;
  let url: string;
  let prom: RunningServer | undefined;
  let am: RunningServer | undefined;
  let hook: WebhookReceiver | undefined;
  const token = 'e2e-token-0123456789abcdef';
  /** Labels of the rows sent, by model and id. */
  const labels: Record<Model, Array<{ id: string; label: number }>> = {
    canary: [],
    healthy: [],
    shadow: [],
  };

  const post = (path: string, body: unknown) =>
    fetch(`${url}${path}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
      body: JSON.stringify(body),
    });
  const get = (path: string) =>
    fetch(`${url}${path}`, { headers: { authorization: `Bearer ${token}` } });

  /**
   * The events of window `w` of `model`: rows of the pool, 10 % to the challenger; in shadow
   * mode every row scored by both versions (same id).
   */
  function windowEvents(model: Model, w: number) {
    const seed = { canary: 1, healthy: 2, shadow: 3 }[model];
    const random = mulberry32(1000 * seed + w);
    const offset = (seed - 1) * WINDOWS * PER_WINDOW + w * PER_WINDOW;
    const z = () => Math.sqrt(-2 * Math.log(random() + 1e-12)) * Math.cos(2 * Math.PI * random());
    return Array.from({ length: PER_WINDOW }, (_, i) => {
      const row = (offset + i) % pool.scores.length;
      const score = pool.scores[row]!;
      const challenger = random() < 0.1;
      const channel = CHANNELS[Math.floor(random() * 3)]!;
      const broken = Math.min(1, Math.max(0, 0.5 + 0.4 * (score - 0.5) + 0.08 * z()));
      const id = `${model}-${row}`;
      labels[model].push({ id, label: Number(pool.labels[row]) });
      const event = (version: string, prediction: number) => ({
        model,
        version,
        id,
        ts: new Date(T0 + w * MINUTE + (i * MINUTE) / PER_WINDOW).toISOString(),
        features: { channel },
        prediction,
      });
      if (model === 'shadow') return [event('1', score), event('2', broken)];
      return [event(challenger ? '2' : '1', challenger && model === 'canary' ? broken : score)];
    }).flat();
  }

  async function comparisons(model: Model, until: (c: Comparison[]) => boolean) {
    let out: Comparison[] = [];
    for (let i = 0; i < 200 && !until(out); i++) {
      await new Promise((r) => setTimeout(r, 100));
      const res = await get(`/api/v1/models/${model}/comparison?window=1m`);
      expect(res.status).toBe(200);
      out = ((await res.json()) as { comparisons: Comparison[] }).comparisons;
    }
    return out;
  }

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'driftd-e2e-compare-'));
    const model = (id: Model | 'plain') => ({
      id,
      task: 'binary-classification',
      features: [{ name: 'channel', type: 'categorical' }],
      windows: { sizes: ['1m'], allowedLateness: '0s', idleTimeout: '1h' },
      versions: { baselineFallback: 'latest' },
      drift: { minWindowSize: 100 },
      ...(id === 'plain' ? {} : { comparison: { champion: '1', shadow: id === 'shadow' } }),
    });
    const config = validateConfig(
      {
        dataDir: dir,
        server: { host: '127.0.0.1', port: 0, apiTokens: [token] },
        logLevel: 'silent',
        models: [model('canary'), model('healthy'), model('shadow'), model('plain')],
      },
      { env: {} },
    );
    daemon = createDaemon(config, { tickMs: 100 });
    await daemon.start();
    url = daemon.url!;
    if (alerting) {
      // Before any window closes: the alert must be seen while the windows are fresh.
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
      const rulesFile = join(dir, 'driftd.rules.yaml');
      await writeFile(rulesFile, toPrometheusRuleYaml(generateAlertRules(config)));
      prom = await startPrometheus({
        rulesFiles: [rulesFile],
        scrapeTargets: [new URL(url).host],
        alertmanagerUrl: am.url,
      });
    }
    // The baseline: the fixture's reference set (the champion's scores and labels).
    const channel = mulberry32(7);
    const lines = hgb.reference.scores.map(
      (s, i) => `${CHANNELS[Math.floor(channel() * 3)]},${s},${hgb.reference.labels[i]}`,
    );
    const file = join(dir, 'reference.csv');
    await writeFile(file, `channel,prediction,label\n${lines.join('\n')}\n`);
    for (const m of config.models) {
      const { profile, report } = await importBaseline({ model: m, version: '1', file });
      expect(report.cbpe).toMatchObject({ rows: 5000, skipped: null });
      await daemon.store.saveBaseline(profile);
    }
    await daemon.pipeline.refreshBaselines();

    for (const m of ['canary', 'healthy', 'shadow'] as const) {
      for (let w = 0; w < WINDOWS; w++) {
        expect((await post('/api/v1/events', windowEvents(m, w))).status).toBe(202);
      }
      // One event of each version in the next window closes the last one of both.
      const closers = ['1', '2'].map((version) => ({
        model: m,
        version,
        id: `${m}-closer-${version}`,
        ts: new Date(T0 + WINDOWS * MINUTE + 1).toISOString(),
        features: { channel: 'web' },
        prediction: 0.5,
      }));
      expect((await post('/api/v1/events', closers)).status).toBe(202);
    }
  }, 120_000);

  afterAll(async () => {
    await prom?.stop();
    await am?.stop();
    await hook?.stop();
    await daemon?.close();
    await rm(dir, { recursive: true, force: true });
  });

  it("shows the canary's regression before any label: prediction drift and a drop of the estimated accuracy", async () => {
    const list = await comparisons('canary', (c) => c.length >= WINDOWS);
    expect(list).toHaveLength(WINDOWS);
    for (const c of list) {
      expect(c).toMatchObject({ champion: '1', challenger: '2', realised: {} });
      expect(c.championEvents + c.challengerEvents).toBe(PER_WINDOW);
      expect(c.shadow).toBeNull();
      expect(c.challengerShare).toBeGreaterThan(0.07);
      expect(c.challengerShare).toBeLessThan(0.13);
      expect(c.driftdVersion).toMatch(/^\d+\.\d+\.\d+/);
      expect(c.configHash).toMatch(/^sha256:[0-9a-f]{64}$/);
      // The same traffic (channel) on both versions; the predictions moved.
      expect(c.features.find((f) => f.feature === 'channel')?.drifted).toBe(false);
      expect(c.prediction?.drifted).toBe(true);
      const acc = c.estimated.accuracy!;
      expect(acc.difference!).toBeLessThan(-3 * acc.standardError!);
      expect(c.estimated.roc_auc!.difference!).toBeLessThan(0);
    }
    const metrics = await (await fetch(`${url}/metrics`)).text();
    const share = metrics.match(
      /driftd_version_traffic_share\{model="canary",version="2",window="1m"\} ([0-9.e-]+)/,
    );
    expect(Number(share?.[1])).toBeCloseTo(list.at(-1)!.challengerShare!, 9);
    expect(metrics).toMatch(
      /driftd_version_comparison_drift_detected\{model="canary",champion="1",challenger="2",window="1m",feature="__prediction__"\} 1/,
    );
    const diff = metrics.match(
      /driftd_version_performance_difference\{model="canary",champion="1",challenger="2",window="1m",metric="accuracy",source="estimated"\} (-[0-9.e-]+)/,
    );
    expect(Number(diff?.[1])).toBeCloseTo(list.at(-1)!.estimated.accuracy!.difference!, 9);
  });

  it('a healthy challenger shows no regression', async () => {
    const list = await comparisons('healthy', (c) => c.length >= WINDOWS);
    expect(list).toHaveLength(WINDOWS);
    for (const c of list) {
      expect(c.prediction?.drifted).toBe(false);
      const acc = c.estimated.accuracy!;
      expect(Math.abs(acc.difference!)).toBeLessThan(3 * acc.standardError!);
    }
  });

  it.skipIf(!alerting)(
    'before any label, DriftdChallengerWorse reaches Alertmanager for the broken builds, not for the healthy challenger',
    async () => {
      // Every comparison is in (and judged) before the alert is awaited.
      await comparisons('canary', (c) => c.length >= WINDOWS);
      await comparisons('healthy', (c) => c.length >= WINDOWS);
      await comparisons('shadow', (c) => c.length >= WINDOWS);
      const firing =
        (model: string) =>
        (n: { status: string; alerts: Array<{ labels: Record<string, string> }> }) =>
          n.status === 'firing' &&
          n.alerts.some(
            (a) => a.labels.alertname === 'DriftdChallengerWorse' && a.labels.model === model,
          );
      const note = await hook!.waitFor(firing('canary'), 60_000);
      expect(note.alerts[0]!.labels).toMatchObject({
        alertname: 'DriftdChallengerWorse',
        model: 'canary',
        champion: '1',
        challenger: '2',
        window: '1m',
      });
      expect(note.alerts[0]!.annotations.description).toMatch(
        /^Version 2 of model canary was worse than the champion version 1 in \d+ consecutive 1m windows/,
      );
      await hook!.waitFor(firing('shadow'), 60_000);
      // The healthy challenger's run never reached K: no alert, even after more evaluations.
      const metrics = await (await fetch(`${url}/metrics`)).text();
      const run = metrics.match(
        /driftd_rollback_signal_consecutive_windows\{model="healthy",champion="1",challenger="2",window="1m"\} (\d+)/,
      );
      expect(Number(run?.[1])).toBeLessThan(2);
      await new Promise((r) => setTimeout(r, 5_000));
      const paged = new Set(
        hook!.notifications.flatMap((n) =>
          n.alerts
            .filter((a) => a.labels.alertname === 'DriftdChallengerWorse')
            .map((a) => a.labels.model),
        ),
      );
      expect([...paged].sort()).toEqual(['canary', 'shadow']);
    },
    90_000,
  );

  it('puts the realised difference next to the estimate once labels arrive', async () => {
    expect(
      (
        await post(
          '/api/v1/labels',
          labels.canary.map((l) => ({ model: 'canary', ...l })),
        )
      ).status,
    ).toBe(202);
    const list = await comparisons(
      'canary',
      (c) => c.length >= WINDOWS && c.every((x) => x.realised.accuracy !== undefined),
    );
    for (const c of list) {
      const r = c.realised.accuracy!;
      expect(r.difference!).toBeCloseTo(r.challenger - r.champion, 12);
      // The broken build is truly worse, as estimated.
      expect(r.difference!).toBeLessThan(0);
    }
  });

  it('shadow mode: both versions scored every id; their agreement and score differences', async () => {
    const list = await comparisons('shadow', (c) => c.length >= WINDOWS);
    expect(list).toHaveLength(WINDOWS);
    for (const c of list) {
      expect(c).toMatchObject({ championEvents: PER_WINDOW, challengerEvents: PER_WINDOW });
      expect(c.challengerShare).toBe(0.5);
      const s = c.shadow!;
      expect(s.matched).toBe(PER_WINDOW);
      // The broken build keeps the class of most confident rows, flips some near 0.5.
      expect(s.agreement).toBeGreaterThan(0.7);
      expect(s.agreement).toBeLessThan(1);
      const q = s.scoreDifference!;
      expect(q.p50).toBeLessThanOrEqual(q.p90);
      expect(q.p90).toBeLessThanOrEqual(q.p99);
      expect(q.p99).toBeLessThanOrEqual(q.max);
      expect(q.mean).toBeGreaterThan(0.05);
    }
    const metrics = await (await fetch(`${url}/metrics`)).text();
    const agreement = metrics.match(
      /driftd_shadow_agreement_ratio\{model="shadow",champion="1",challenger="2",window="1m"\} ([0-9.e-]+)/,
    );
    expect(Number(agreement?.[1])).toBeCloseTo(list.at(-1)!.shadow!.agreement!, 9);
  });

  it('answers a clear 4xx for what the route cannot answer', async () => {
    const error = async (path: string) => {
      const res = await get(path);
      return { status: res.status, message: ((await res.json()) as { message: string }).message };
    };
    expect(await error('/api/v1/models/plain/comparison')).toMatchObject({
      status: 404,
      message: expect.stringContaining('no comparison configured'),
    });
    expect(await error('/api/v1/models/nope/comparison')).toMatchObject({ status: 404 });
    expect(await error('/api/v1/models/canary/comparison?window=5m')).toMatchObject({
      status: 400,
      message: expect.stringContaining('window "5m" is not configured'),
    });
    expect(await error('/api/v1/models/canary/comparison?from=yesterday')).toMatchObject({
      status: 400,
      message: expect.stringContaining('"from"'),
    });
    expect(
      await error(
        '/api/v1/models/canary/comparison?from=2026-11-23T00:00:00Z&to=2026-11-22T00:00:00Z',
      ),
    ).toMatchObject({ status: 400, message: expect.stringContaining('is after "to"') });
    // Any storable range is fine, however wide.
    const wide = await get('/api/v1/models/canary/comparison?from=0&to=99999999999999999');
    expect(wide.status).toBe(200);
  });
});
