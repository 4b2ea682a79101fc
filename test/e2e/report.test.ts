/**
 * The period report end to end, with the real daemon (real HTTP, real embedded ClickHouse) on
 * real data: the demo's NOAA weather (vega-datasets; Seattle and New York, 2012–2013) replayed
 * into 30-day windows with labels three days late and `location` as a protected attribute.
 * The report is built twice through the admin route and once through `driftd report` (via
 * the daemon, then offline from the store): the same bytes every time. Its content is checked
 * against the stored results; its HTML opens in a real headless chromium with the network off
 * and draws its plots. Hostile inputs get a 4xx naming the problem.
 */
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { inflateSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildProfileFromRows } from '../../src/baseline/index.js';
import { modelConfigHash } from '../../src/config/hash.js';
import { validateConfig } from '../../src/config/index.js';
import type { ModelConfig } from '../../src/config/types.js';
import { createDaemon, type Daemon } from '../../src/daemon.js';
import { loadWeather, toPredictionEvent, trainWetDayModel } from '../../src/demo/weather.js';
import type { PeriodReport } from '../../src/report/index.js';
import type { BaselineProfile } from '../../src/types.js';
import { chromium, openInChromium } from '../helpers/chromium.js';
import { runCliInProcess } from '../helpers/cli.js';
import { writeConfigFile } from '../helpers/daemon-process.js';

const DAY = 86_400_000;
const ADMIN = 'report-e2e-admin-token-0123456789';
const READER = 'report-e2e-reader-token-0123456789';
const FROM = '2012-06-01T00:00:00Z';
const TO = '2013-06-01T00:00:00Z';

describe('the period report (real daemon, real embedded store, real weather data)', () => {
  let dir: string;
  let configFile: string;
  let daemon: Daemon | undefined;
  let url: string;
  let model: ModelConfig;
  let profile: BaselineProfile;
  let html: string;
  let json: string;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'driftd-report-'));
    const input = {
      dataDir: dir,
      server: {
        host: '127.0.0.1',
        port: 0,
        auth: {
          tokens: [
            {
              name: 'admin',
              scopes: ['read', 'write', 'admin'],
              secretFile: join(dir, 'admin.token'),
            },
            { name: 'reader', scopes: ['read'], secretFile: join(dir, 'reader.token') },
          ],
        },
      },
      // The 2012 data kept: 20 years (a TTL ending past 2106 overflows ClickHouse's DateTime).
      store: { rawEventsTtlDays: 7300 },
      logLevel: 'warn',
      models: [
        {
          id: 'weather-wet-day',
          task: 'binary-classification',
          features: [
            { name: 'temp_max', type: 'numeric' },
            { name: 'temp_min', type: 'numeric' },
            { name: 'wind', type: 'numeric' },
            { name: 'precipitation', type: 'numeric' },
            { name: 'location', type: 'categorical' },
          ],
          prediction: { field: 'prediction', type: 'numeric' },
          label: { field: 'label', positive: 1, threshold: 0.5 },
          windows: { sizes: ['30d'], allowedLateness: '1d', idleTimeout: '1h' },
          drift: { minWindowSize: 30 },
          fairness: {
            attributes: [
              { field: 'location', groups: ['Seattle', 'New York'], reference: 'Seattle' },
            ],
          },
        },
      ],
    };
    await writeFile(join(dir, 'admin.token'), ADMIN);
    await writeFile(join(dir, 'reader.token'), READER);
    configFile = await writeConfigFile(dir, input);
    const config = validateConfig(input, { source: configFile });
    model = config.models[0]!;

    const days = await loadWeather();
    const liveFrom = Date.parse(FROM);
    const liveTo = Date.parse(TO) + 60 * DAY; // past the period, so its last windows close
    const training = days.filter(
      (d) => d.ts >= Date.parse('2012-03-01T00:00:00Z') && d.ts < liveFrom,
    );
    const wet = trainWetDayModel(training);
    profile = buildProfileFromRows(
      model,
      '1',
      training.map((d) => ({ ...toPredictionEvent(d, wet, '1'), label: d.wet })),
      { source: '/home/someone/private/weather-2012-spring.csv', estimator: true, createdAt: 0 },
    ).profile;

    daemon = createDaemon(config, { tickMs: 100 });
    await daemon.start();
    url = daemon.url!;
    await daemon.store.saveBaseline(profile);
    await daemon.pipeline.refreshBaselines();
    const live = days.filter((d) => d.ts >= liveFrom && d.ts < liveTo);
    // Ten event-days per batch, labels three event-days late.
    const batches = new Map<number, typeof live>();
    for (const d of live) {
      const batch = Math.floor((d.ts - liveFrom) / (10 * DAY));
      batches.set(batch, [...(batches.get(batch) ?? []), d]);
    }
    let labelled = 0;
    const labelOf = (d: (typeof live)[number]) => ({
      model: model.id,
      id: toPredictionEvent(d, wet, '1').id,
      ts: new Date(d.ts + 3 * DAY).toISOString(),
      label: d.wet,
    });
    for (const group of batches.values()) {
      await daemon.pipeline.ingestEvents(
        group.map((d) => toPredictionEvent(d, wet, '1')),
        'replay',
      );
      const due: typeof live = [];
      const ts = group.at(-1)!.ts;
      while (labelled < live.length && live[labelled]!.ts <= ts - 3 * DAY)
        due.push(live[labelled++]!);
      if (due.length) await daemon.pipeline.ingestLabels(due.map(labelOf));
    }
    await daemon.pipeline.ingestLabels(live.slice(labelled).map(labelOf));
    await daemon.pipeline.flush();
    // Performance follows labels asynchronously: wait until every window of the period has
    // every label, so the reports below read a store that no longer changes.
    const [from, to] = [Date.parse(FROM), Date.parse(TO)];
    const deadline = Date.now() + 180_000;
    for (;;) {
      const windows = (await daemon.store.queryDrift({ model: model.id, from, to })).filter(
        (w) => w.start >= from && w.end <= to,
      );
      const perf = (await daemon.store.queryPerformance({ model: model.id, from, to })).filter(
        (p) => p.start >= from && p.end <= to && p.labeled > 0,
      );
      const labeled = new Map(perf.map((p) => [p.start, p.labeled]));
      if (windows.length > 0 && windows.every((w) => labeled.get(w.start) === w.eventCount)) break;
      if (Date.now() > deadline) {
        const all = await daemon.store.queryPerformance({ model: model.id, from, to });
        throw new Error(
          `performance of the period not written in time: ${JSON.stringify(all.map((p) => [p.start, p.labeled, p.computedAt]))} ${JSON.stringify(windows.map((w) => [w.start, w.eventCount]))}`,
        );
      }
      await new Promise((r) => setTimeout(r, 250));
    }
  }, 300_000);

  afterAll(async () => {
    await daemon?.close();
    await rm(dir, { recursive: true, force: true });
  });

  const report = (body: unknown, token = ADMIN) =>
    fetch(`${url}/api/v1/admin/reports`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
      body: JSON.stringify(body),
    });

  it('is byte-identical when built twice, in both formats, and through the CLI', async () => {
    const texts: Record<string, string[]> = { html: [], json: [] };
    for (const format of ['html', 'json', 'html', 'json'] as const) {
      const res = await report({ model: model.id, from: FROM, to: TO, format });
      expect(res.status).toBe(200);
      expect(res.headers.get('content-type')).toContain(
        format === 'html' ? 'text/html' : 'application/json',
      );
      texts[format]!.push(await res.text());
    }
    [html, json] = [texts.html![0]!, texts.json![0]!];
    expect(texts.html![1]).toBe(html);
    expect(texts.json![1]).toBe(json);
    expect(html.length).toBeGreaterThan(10_000);

    // `driftd report` finds the running daemon serving the config's dataDir and goes through it.
    const out = join(dir, 'cli.html');
    const cli = await runCliInProcess(
      'report',
      '--config',
      configFile,
      '--model',
      model.id,
      '--from',
      FROM,
      '--to',
      TO,
      '--token-file',
      join(dir, 'admin.token'),
      '--out',
      out,
    );
    expect(cli.stderr).toContain(`written to ${out}`);
    expect(cli.code).toBe(0);
    expect(await readFile(out, 'utf8')).toBe(html);
  });

  it('carries the baselines, the config in force, every verdict, and the alerts the results fired', async () => {
    const r = JSON.parse(json) as PeriodReport;
    expect(r.model).toBe(model.id);
    expect([r.from, r.to]).toEqual([new Date(FROM).toISOString(), new Date(TO).toISOString()]);
    expect(r.config.hash).toBe(modelConfigHash(model));
    expect(r.baselines.map((b) => [b.id, b.hash, b.source])).toEqual([
      [profile.id, profile.hash, 'weather-2012-spring.csv'],
    ]);
    expect(JSON.stringify(r)).not.toContain('/home/someone');
    expect(r.baselines[0]!.features.map((f) => f.name)).toContain('temp_max');

    // Every 30-day window inside the period, as the drift route lists them.
    const res = await fetch(
      `${url}/api/v1/models/${model.id}/drift?window=30d&from=${FROM}&to=${TO}`,
      { headers: { authorization: `Bearer ${READER}` } },
    );
    const stored = (
      (await res.json()) as {
        windows: Array<{ start: string; end: string; datasetDrift: boolean; eventCount: number }>;
      }
    ).windows.filter(
      (w) => w.start >= new Date(FROM).toISOString() && w.end <= new Date(TO).toISOString(),
    );
    expect(stored.length).toBeGreaterThanOrEqual(11);
    expect(r.windows.map((w) => [w.start, w.datasetDrift, w.eventCount])).toEqual(
      stored.map((w) => [w.start, w.datasetDrift, w.eventCount]),
    );
    expect(r.lineage.baselineIds).toEqual([profile.id]);

    // Drift over time: a series per feature and the prediction, one point per judged window.
    expect(r.drift.map((s) => s.feature).sort()).toEqual([
      '__prediction__',
      'location',
      'precipitation',
      'temp_max',
      'temp_min',
      'wind',
    ]);
    // The seasons move the temperatures away from the spring baseline: some windows drift.
    expect(r.windows.some((w) => w.driftedFeatures.includes('temp_max'))).toBe(true);

    // Performance and label coverage: every label arrived.
    expect(r.performance.length).toBeGreaterThan(0);
    expect(r.labelCoverage).toEqual([
      expect.objectContaining({ version: '1', window: '30d', coverage: 1 }),
    ]);

    // Fairness by location, over every prediction of the period.
    const groups = r.fairness![0]!.attributes.location!.groups;
    expect(groups.map((g) => g.group).sort()).toEqual(['New York', 'Seattle']);
    const events = r.lineage.sources.reduce((s, x) => s + x.events, 0);
    expect(groups.reduce((s, g) => s + g.predictions, 0)).toBe(events);
    expect(r.lineage.sources.map((s) => s.source)).toEqual(['replay']);

    // Alerts: each is a run of ≥ K consecutive windows drifted in that series, and every such
    // run of the windows listed is an alert.
    const k = model.alerts.consecutiveWindows;
    expect(r.alerts.length).toBeGreaterThan(0);
    for (const a of r.alerts.filter((x) => x.series.startsWith('feature:'))) {
      const feature = a.series.slice('feature:'.length);
      const run = r.windows.filter((w) => w.start >= a.firstStart && w.end <= a.lastEnd);
      expect(run.length).toBe(a.windows);
      expect(a.windows).toBeGreaterThanOrEqual(k);
      expect(run.every((w) => w.driftedFeatures.includes(feature))).toBe(true);
      expect(a.alert).toBe('DriftdFeatureDrift');
    }
    const tempRuns = countRuns(
      r.windows.map((w) => w.driftedFeatures.includes('temp_max')),
      k,
    );
    expect(r.alerts.filter((a) => a.series === 'feature:temp_max')).toHaveLength(tempRuns);
  });

  it.skipIf(!chromium().available)(
    'opens in a real headless chromium with the network off and draws its plots',
    async () => {
      const r = JSON.parse(json) as PeriodReport;
      const file = join(dir, 'report.html');
      await writeFile(file, html);
      const visit = await openInChromium<{
        charts: number;
        sized: number;
        drawnPaths: number;
        points: number;
        hits: number;
        scripts: number;
      }>(
        file,
        `(() => {
          const charts = [...document.querySelectorAll('svg.chart')];
          const box = (e) => e.getBoundingClientRect();
          return {
            charts: charts.length,
            sized: charts.filter((c) => box(c).width > 100 && box(c).height > 50).length,
            drawnPaths: [...document.querySelectorAll('svg.chart path.series')].filter((p) => p.getBBox().width > 0).length,
            points: [...document.querySelectorAll('svg.chart circle.pt')].filter((c) => c.getBBox().width > 0).length,
            hits: document.querySelectorAll('svg.chart circle.pt.hit').length,
            scripts: document.scripts.length,
          };
        })()`,
      );
      expect(visit.requests).toEqual([]);
      const v = visit.value;
      const perfCharts = 1 + new Set(r.performance.flatMap((p) => Object.keys(p.metrics))).size;
      expect(v.charts).toBe(r.drift.length + perfCharts);
      expect(v.sized).toBe(v.charts);
      expect(v.drawnPaths).toBeGreaterThanOrEqual(r.drift.length);
      const driftPoints = r.drift.reduce((s, x) => s + x.points.length, 0);
      expect(v.points).toBeGreaterThan(driftPoints);
      expect(v.hits).toBeGreaterThanOrEqual(
        r.drift.reduce((s, x) => s + x.points.filter((p) => p.drifted).length, 0),
      );
      expect(v.scripts).toBe(0);
      expect(distinctPixelBytes(visit.screenshot)).toBeGreaterThan(32);
    },
    120_000,
  );

  it('is self-contained: no script, no URL to fetch, a CSP that forbids the network', () => {
    expect(html).toContain(
      `<meta http-equiv="Content-Security-Policy" content="default-src 'none';`,
    );
    expect(html).not.toMatch(/<script|<link|<img|<iframe|src=|href=|url\(/i);
    // The only URL is the SVG namespace (an identifier, never fetched).
    const urls = [...html.matchAll(/https?:\/\/[^\s"'<>]+/g)].map((m) => m[0]);
    expect(new Set(urls)).toEqual(new Set(['http://www.w3.org/2000/svg']));
  });

  it('refuses hostile input with a 4xx naming the problem', async () => {
    const cases: Array<[unknown, number, RegExp, string?]> = [
      [{ model: model.id, from: TO, to: FROM }, 400, /"from" .* must be before "to"/],
      [{ model: model.id, from: FROM, to: FROM }, 400, /must be before/],
      [
        { model: model.id, from: '2010-01-01T00:00:00Z', to: TO },
        400,
        /longer than a report covers \(366 days\)/,
      ],
      [{ model: 'nope', from: FROM, to: TO }, 404, /model "nope" is not configured/],
      [{ model: model.id, from: 'yesterday', to: TO }, 400, /"from" must be ISO-8601/],
      [{ model: model.id, from: FROM, to: '2012-02-30T00:00:00Z' }, 400, /"to" must be ISO-8601/],
      [
        { model: model.id, from: '0', to: '99999999999999' },
        400,
        /"to" .* outside the times the store holds/,
      ],
      [{ model: model.id, from: FROM, to: TO, format: 'pdf' }, 400, /format/],
      [{ model: model.id, from: FROM }, 400, /to/],
      [{ model: model.id, from: FROM, to: TO, extra: 1 }, 400, /extra|additional/],
      [{ model: model.id, from: FROM, to: TO }, 403, /scope "admin"/, READER],
      [{ model: model.id, from: FROM, to: TO }, 401, /token/, 'not-a-token-at-all-0123456789'],
    ];
    for (const [body, status, message, token] of cases) {
      const res = await report(body, token);
      const text = await res.text();
      expect(res.status, `${JSON.stringify(body)}: ${text}`).toBe(status);
      expect((JSON.parse(text) as { message: string }).message, text).toMatch(message);
    }
    // One report at a time: a second one while the first is built is 409, retriable.
    const both = await Promise.all([
      report({ model: model.id, from: FROM, to: TO, format: 'json' }),
      report({ model: model.id, from: FROM, to: TO, format: 'json' }),
    ]);
    expect(both.map((r) => r.status).sort()).toEqual([200, 409]);
    const refused = both.find((r) => r.status === 409)!;
    expect(((await refused.json()) as { message: string }).message).toMatch(/another report/);
    expect(await both.find((r) => r.status === 200)!.text()).toBe(json);
    const cli = await runCliInProcess(
      'report',
      '--config',
      configFile,
      '--model',
      model.id,
      '--from',
      TO,
      '--to',
      FROM,
    );
    expect(cli.code).not.toBe(0);
    expect(cli.stderr).toMatch(/must be before/);
  });

  it('answers a baseline profile on GET /api/v1/baselines/:id, 404 naming an unknown id', async () => {
    const get = (id: string) =>
      fetch(`${url}/api/v1/baselines/${encodeURIComponent(id)}`, {
        headers: { authorization: `Bearer ${READER}` },
      });
    const res = await get(profile.id);
    expect(res.status).toBe(200);
    const body = (await res.json()) as {
      id: string;
      hash: string;
      source: string;
      rowCount: number;
      performance: unknown;
      features: Record<
        string,
        {
          edges?: number[];
          counts?: number[];
          summary?: unknown;
          sample?: unknown;
          sampleSize?: number;
          categories?: string[];
        }
      >;
    };
    expect([body.id, body.hash, body.source, body.rowCount]).toEqual([
      profile.id,
      profile.hash,
      'weather-2012-spring.csv',
      profile.rowCount,
    ]);
    const temp = profile.features.temp_max!;
    if (temp.kind !== 'numeric') throw new Error('temp_max is numeric');
    const got = body.features.temp_max!;
    expect(got.edges).toEqual(temp.edges);
    expect(got.counts).toEqual(temp.counts);
    expect(got.summary).toEqual(temp.summary);
    expect(got.sample).toBeUndefined();
    expect(got.sampleSize).toBe(temp.sample.length);
    expect(body.features.location!.categories!.sort()).toEqual(['New York', 'Seattle']);
    expect(body.performance).toEqual(profile.performance);
    const missing = await get('no-such-baseline');
    expect(missing.status).toBe(404);
    expect(((await missing.json()) as { message: string }).message).toBe(
      'no baseline with id "no-such-baseline" is stored',
    );
  });

  it('gives the same bytes from the store directly once the daemon is stopped', async () => {
    await daemon!.close();
    daemon = undefined;
    for (const [format, want] of [
      ['json', () => json],
      ['html', () => html],
    ] as const) {
      const cli = await runCliInProcess(
        'report',
        '--config',
        configFile,
        '--model',
        model.id,
        '--from',
        FROM,
        '--to',
        TO,
        '--format',
        format,
        '--offline',
      );
      expect(cli.stderr).toBe('');
      expect(cli.code).toBe(0);
      expect(cli.stdout).toBe(want());
    }
  }, 120_000);
});

/** Runs of `k` or more true values in a row. */
function countRuns(hits: readonly boolean[], k: number): number {
  let runs = 0;
  let length = 0;
  for (const h of [...hits, false]) {
    if (h) length += 1;
    else {
      if (length >= k) runs += 1;
      length = 0;
    }
  }
  return runs;
}

/** Distinct byte values of a PNG's decompressed pixel rows (a blank page has a handful). */
function distinctPixelBytes(png: Buffer): number {
  const idat: Buffer[] = [];
  for (let at = 8; at < png.length; ) {
    const length = png.readUInt32BE(at);
    const type = png.toString('ascii', at + 4, at + 8);
    if (type === 'IDAT') idat.push(png.subarray(at + 8, at + 8 + length));
    at += 12 + length;
  }
  return new Set(inflateSync(Buffer.concat(idat))).size;
}
