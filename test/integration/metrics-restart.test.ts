/**
 * /metrics across a daemon restart, on both stores (the embedded engine, and the ClickHouse
 * server driver against the STAND-IN HTTP interface, test/helpers/clickhouse-http.ts): the
 * latest results' gauges are back before any new window closes, and the consecutive-drift
 * counts go on from where they were, so a restart in the middle of a drift does not cancel
 * its page. Real daemons in-process, real HTTP ingestion.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { buildProfileFromRows } from '../../src/baseline/index.js';
import { validateConfig } from '../../src/config/index.js';
import type { DriftdConfig } from '../../src/config/types.js';
import { createDaemon, type Daemon } from '../../src/daemon.js';
import { createChdbExecutor } from '../../src/store/chdb.js';
import { createClickHouseExecutor, createStore } from '../../src/store/index.js';
import type { SqlExecutor, Store } from '../../src/store/types.js';
import { startClickHouseStandIn } from '../helpers/clickhouse-http.js';
import { mulberry32 } from '../helpers/random.js';

const T0 = Date.parse('2026-11-22T10:00:00Z');
const MINUTE = 60_000;
const PER_WINDOW = 200;

interface Opened {
  exec: () => SqlExecutor;
  stop: () => Promise<void>;
}

const DRIVERS = [
  {
    name: 'embedded store',
    open: async (path: string): Promise<Opened> => ({
      exec: () => createChdbExecutor({ path }),
      stop: async () => {},
    }),
  },
  {
    name: 'ClickHouse server store (stand-in HTTP interface)',
    open: async (path: string): Promise<Opened> => {
      const standIn = await startClickHouseStandIn({ path });
      return {
        exec: () =>
          createClickHouseExecutor({
            url: standIn.url,
            username: 'default',
            password: '',
            requestTimeoutMs: 10_000,
          }),
        stop: () => standIn.close(),
      };
    },
  },
];

function configFor(dir: string): DriftdConfig {
  return validateConfig(
    {
      dataDir: dir,
      server: { host: '127.0.0.1', port: 0 },
      logLevel: 'silent',
      models: [
        {
          id: 'credit-risk',
          task: 'binary-classification',
          features: [
            { name: 'income', type: 'numeric' },
            { name: 'age', type: 'numeric' },
            { name: 'region', type: 'categorical' },
          ],
          windows: { sizes: ['1m'], allowedLateness: '0s', idleTimeout: '1h' },
          drift: { minWindowSize: 50 },
        },
      ],
    },
    { env: {} },
  );
}

/** Rows like the baseline's; `shift` moves income by that many standard deviations. */
function rows(n: number, seed: number, shift = 0) {
  const r = mulberry32(seed);
  return Array.from({ length: n }, (_, i) => ({
    features: {
      income: 50_000 + 10_000 * (r() + r() + r() - 1.5 + shift),
      age: Math.round(20 + 50 * r()),
      region: i % 3 === 0 ? 'EU' : 'US',
    },
    prediction: r(),
  }));
}

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

describe.each(DRIVERS)('/metrics across a restart, $name', (driver) => {
  let dir: string;
  let opened: Opened;
  let daemon: Daemon | undefined;
  let config: DriftdConfig;

  const storeFor = (): Store =>
    createStore(
      driver.name === 'embedded store'
        ? config.store
        : {
            kind: 'clickhouse',
            url: 'http://stand-in.invalid',
            database: 'driftd',
            username: 'default',
            password: '',
            requestTimeoutMs: 10_000,
            rawEventsTtlDays: 30,
          },
      { executor: opened.exec() },
    );

  async function boot(): Promise<Daemon> {
    const d = createDaemon(config, { store: storeFor(), tickMs: 100 });
    await d.start();
    return d;
  }

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'driftd-metrics-restart-'));
    config = configFor(dir);
    opened = await driver.open(dir);
  });

  afterEach(async () => {
    await daemon?.close();
    daemon = undefined;
    await opened.stop();
    await rm(dir, { recursive: true, force: true });
  });

  let next = 0;
  /** Posts window k (drifted or not); its first event closes window k − 1. */
  async function postWindow(d: Daemon, k: number, drifted: boolean): Promise<void> {
    const events = rows(PER_WINDOW, 100 + k, drifted ? 2.5 : 0).map((row, i) => ({
      model: 'credit-risk',
      version: '3',
      id: `e-${next++}`,
      ts: new Date(T0 + k * MINUTE + Math.floor((i * MINUTE) / PER_WINDOW)).toISOString(),
      ...row,
    }));
    const res = await fetch(`${d.url}/api/v1/events`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(events),
    });
    expect(res.status).toBe(202);
  }
  const metrics = async (d: Daemon) => (await fetch(`${d.url}/metrics`)).text();
  /** /metrics once `n` windows have closed (the result write trails the POST). */
  async function afterWindows(d: Daemon, n: number): Promise<string> {
    const deadline = Date.now() + 20_000;
    for (;;) {
      const text = await metrics(d);
      const closed = sample(text, 'driftd_windows_closed_total', { model: 'credit-risk' }) ?? 0;
      if (closed >= n || Date.now() > deadline) return text;
      await new Promise((r) => setTimeout(r, 50));
    }
  }
  const wl = { model: 'credit-risk', version: '3', window: '1m' };
  const income = { ...wl, feature: 'income' };

  it('restores the latest gauges and continues the drift runs', async () => {
    daemon = await boot();
    await daemon.store.saveBaseline(
      buildProfileFromRows(config.models[0]!, '3', rows(3000, 1), { createdAt: T0 - 3_600_000 })
        .profile,
    );
    await daemon.pipeline.refreshBaselines();

    // Windows 0 clean, 1 and 2 drifted; window 3 stays open.
    await postWindow(daemon, 0, false);
    await postWindow(daemon, 1, true);
    await postWindow(daemon, 2, true);
    await postWindow(daemon, 3, true);
    const before = await afterWindows(daemon, 3);
    expect(sample(before, 'driftd_feature_drift_consecutive_windows', income)).toBe(2);
    expect(
      sample(before, 'driftd_feature_drift_consecutive_windows', { ...wl, feature: 'age' }),
    ).toBe(0);
    const datasetRun = sample(before, 'driftd_model_dataset_drift_consecutive_windows', wl);
    const datasetDrift = sample(before, 'driftd_model_dataset_drift', wl);
    expect(datasetRun).toBe(datasetDrift === 1 ? 2 : 0);
    const gauges = (text: string) =>
      text
        .split('\n')
        .filter((l) => /^driftd_(feature|model|prediction|window)_\w+\{/.test(l))
        .sort();
    const shown = gauges(before);
    expect(shown.filter((l) => l.startsWith('driftd_feature_psi{')).length).toBe(3);
    await daemon.close();

    // Restarted: every gauge as it was before any window closes (window 3 is still open).
    daemon = await boot();
    const after = await metrics(daemon);
    expect(sample(after, 'driftd_windows_closed_total', { model: 'credit-risk' })).toBeUndefined();
    expect(gauges(after)).toEqual(shown);

    // Window 3 (drifted) closes: the run goes on from 2.
    await postWindow(daemon, 4, false);
    const later = await afterWindows(daemon, 1);
    expect(sample(later, 'driftd_feature_drift_consecutive_windows', income)).toBe(3);
    expect(sample(later, 'driftd_model_dataset_drift_consecutive_windows', wl)).toBe(
      datasetDrift === 1 ? 3 : 0,
    );
  }, 120_000);
});
