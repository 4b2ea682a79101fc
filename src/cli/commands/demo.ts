import { existsSync } from 'node:fs';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { stringify } from 'yaml';
import { buildProfileFromRows } from '../../baseline/index.js';
import { validateConfig } from '../../config/index.js';
import { createDaemon } from '../../daemon.js';
import { loadWeather, toPredictionEvent, trainWetDayModel } from '../../demo/weather.js';
import { ConfigError } from '../../errors.js';
import { createStore } from '../../store/index.js';
import type { PerformanceResult, WindowResult } from '../../types.js';
import type { FlagsOf } from '../commands.js';
import type { CliIo } from '../index.js';

const MARKER = '.driftd-demo';
const DAY = 86_400_000;

/** The demo's config, as a user would write it in driftd.yaml. */
export function demoConfigInput(dataDir: string, port: number) {
  return {
    dataDir,
    server: { host: '127.0.0.1', port },
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
        windows: { sizes: ['30d', '90d'], allowedLateness: '1d', idleTimeout: '5s' },
        drift: { minWindowSize: 30 },
      },
    ],
  };
}

/**
 * `driftd demo`: the daemon on the embedded store, a baseline from spring 2012 of real NOAA
 * weather (vega-datasets), then June 2012 → December 2015 replayed at accelerated event time
 * with labels arriving three event-days late. The seasons are real drift: summer and winter
 * windows move away from the spring baseline, autumn comes back.
 */
export async function run(flags: FlagsOf<'demo'>, io: CliIo): Promise<number> {
  const dataDir = resolve(flags['data-dir'] ?? '.driftd-demo');
  const port = flags.port === undefined ? 8080 : Number(flags.port);
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    throw new ConfigError(`--port must be an integer between 0 and 65535, got "${flags.port}"`);
  }
  const speed = flags.speed === undefined ? 40 : Number(flags.speed);
  if (!(speed > 0))
    throw new ConfigError(
      `--speed must be a positive number of event-days per second, got "${flags.speed}"`,
    );

  // Each run starts clean, but only a directory the demo itself created is ever removed.
  if (existsSync(dataDir)) {
    if (!existsSync(join(dataDir, MARKER))) {
      throw new ConfigError(
        `${dataDir} exists and was not created by driftd demo; pass --data-dir <new dir>`,
      );
    }
    await rm(dataDir, { recursive: true, force: true });
  }
  await mkdir(dataDir, { recursive: true });
  await writeFile(join(dataDir, MARKER), 'created by driftd demo; removed by the next demo run\n');
  const input = demoConfigInput(dataDir, port);
  await writeFile(join(dataDir, 'driftd.yaml'), stringify(input));
  const config = validateConfig(input, { source: join(dataDir, 'driftd.yaml') });
  const model = config.models[0]!;

  io.out.write('driftd demo: real weather data (Seattle and New York, NOAA, via vega-datasets)\n');
  const days = await loadWeather();
  const trainFrom = Date.parse('2012-03-01T00:00:00Z');
  const liveFrom = Date.parse('2012-06-01T00:00:00Z');
  const training = days.filter((d) => d.ts >= trainFrom && d.ts < liveFrom);
  const live = days.filter((d) => d.ts >= liveFrom);
  const wetModel = trainWetDayModel(training);
  // With the training labels, as a baseline file with a label column: the baseline also fits
  // the label-free performance estimate each window shows before its labels arrive.
  const baselineRows = training.map((d) => ({
    ...toPredictionEvent(d, wetModel, '1'),
    label: d.wet,
  }));
  const { profile } = buildProfileFromRows(model, '1', baselineRows, {
    source: 'vega-datasets weather.csv 2012-03..2012-05',
    estimator: true,
  });

  // Latest performance per 30d window start: labels arrive 3 event-days late, so when a window
  // closes, the previous one has all its labels.
  const perf = new Map<number, PerformanceResult>();
  const onWindow = (r: WindowResult) => {
    if (r.sizeLabel !== '30d') return;
    const moved = r.features
      .filter((f) => f.drifted)
      .map(
        (f) =>
          `${f.feature}${f.test === 'ks' ? ` (KS p=${fmtP(f.adjustedPValue ?? f.pValue)})` : ` (${f.test} ${f.statistic.toFixed(3)})`}`,
      );
    const prev = perf.get(r.start - r.size);
    const auc = prev?.metrics.roc_auc;
    const estimated = r.estimate?.metrics.roc_auc.value ?? null;
    const estText = estimated === null ? '' : `  est. AUC ${estimated.toFixed(3)}`;
    const perfText = `${estText}${auc === undefined ? '' : `  prev. window AUC ${auc.toFixed(3)}`}`;
    // A window too small for any verdict says so instead of "no drift" (the summary route
    // passes over it to the newest window with a verdict).
    const verdict = r.features.some((f) => !f.insufficient)
      ? moved.length
        ? `moved: ${moved.join(', ')}`
        : 'no drift'
      : `too few events for a verdict (< ${model.drift.minWindowSize})`;
    io.out.write(
      `  window ${day(r.start)} → ${day(r.end)}  ${String(r.eventCount).padStart(3)} events  drift share ${(r.driftShare * 100).toFixed(0).padStart(3)}%${r.datasetDrift ? ' DATASET DRIFT' : ''}${perfText}  ${verdict}\n`,
    );
  };
  // The baseline goes in first, as `driftd baseline import` would do before `driftd start`.
  const store = createStore(config.store);
  try {
    await store.migrate();
    await store.saveBaseline(profile);
  } finally {
    await store.close();
  }
  const daemon = createDaemon(config, {
    onWindow,
    onPerformance: (p) => {
      // Records without labels carry only the estimate, shown with the window itself.
      if (p.sizeLabel === '30d' && p.labeled > 0) perf.set(p.start, p);
    },
  });
  await daemon.start();
  try {
    const url = daemon.url ?? `http://127.0.0.1:${port}`;
    io.out.write(
      `baseline ${profile.id}: ${profile.rowCount} days of spring 2012, model "weather-wet-day" v1 (logistic regression)\n` +
        `replaying ${live.length} days (June 2012 → Dec 2015) at ${speed} event-days/s; labels arrive 3 event-days late\n\n` +
        `  what moved:   ${url}/api/v1/models/weather-wet-day/summary\n` +
        `  drift:        ${url}/api/v1/models/weather-wet-day/drift?window=30d\n` +
        `  histogram:    ${url}/api/v1/models/weather-wet-day/features/temp_max/histogram?window=30d\n` +
        `  performance:  ${url}/api/v1/models/weather-wet-day/performance?window=30d\n` +
        `  audit:        ${url}/api/v1/predictions/sea-2013-07-04\n` +
        `  metrics:      ${url}/metrics      OpenAPI: ${url}/openapi.json\n\n`,
    );
    let labelled = 0;
    const byDay = new Map<number, typeof live>();
    for (const d of live) byDay.set(d.ts, [...(byDay.get(d.ts) ?? []), d]);
    const stop = { requested: false };
    void io.shutdown.then(() => {
      stop.requested = true;
    });
    for (const [ts, group] of byDay) {
      if (stop.requested) break;
      await daemon.pipeline.ingestEvents(
        group.map((d) => toPredictionEvent(d, wetModel, '1')),
        'replay',
      );
      const due: typeof live = [];
      while (labelled < live.length && live[labelled]!.ts <= ts - 3 * DAY)
        due.push(live[labelled++]!);
      if (due.length) await daemon.pipeline.ingestLabels(due.map((d) => labelOf(d)));
      await sleep(1000 / speed);
    }
    if (!stop.requested) {
      await daemon.pipeline.ingestLabels(live.slice(labelled).map((d) => labelOf(d)));
      await daemon.pipeline.flush();
      io.out.write(
        `\nreplay finished: ${live.length} events, windows written to ${join(dataDir, 'store')}\n`,
      );
      if (!flags['exit-after-replay']) {
        io.out.write(`driftd keeps serving at ${url}; Ctrl-C to stop\n`);
        await io.shutdown;
      }
    }
  } finally {
    await daemon.close();
  }
  return 0;
}

const labelOf = (d: { location: string; date: string; ts: number; wet: 0 | 1 }) => ({
  model: 'weather-wet-day',
  id: `${d.location === 'Seattle' ? 'sea' : 'nyc'}-${d.date}`,
  ts: new Date(d.ts + 3 * DAY).toISOString(),
  label: d.wet,
});
const day = (ms: number) => new Date(ms).toISOString().slice(0, 10);
const fmtP = (p: number | null) =>
  p === null ? '-' : p < 1e-4 ? p.toExponential(1) : p.toFixed(4);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
