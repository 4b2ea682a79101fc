/**
 * The finaliser as the daemon runs it (cluster mode, HTTP input behind a load balancer): two
 * daemons in one process share one real chDB store; a window's events are posted half to each
 * (each instance's HTTP input is a lane of its own). The window's one result holds every event,
 * written once, and both instances' /metrics show it (the one that did not finalise it reads it
 * from the store).
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildProfileFromRows } from '../../../src/baseline/index.js';
import { validateConfig } from '../../../src/config/index.js';
import type { DriftdConfig } from '../../../src/config/types.js';
import { createDaemon, type Daemon } from '../../../src/daemon.js';
import { createStore } from '../../../src/store/index.js';
import type { Store } from '../../../src/store/types.js';

const T0 = Date.parse('2026-11-22T10:00:00Z');
const MINUTE = 60_000;

const configInput = (dataDir: string, storePath: string) => ({
  dataDir,
  server: { port: 0 },
  store: { embedded: { path: storePath } },
  logLevel: 'silent',
  models: [
    {
      id: 'm',
      task: 'regression',
      features: [{ name: 'x', type: 'numeric' }],
      windows: { sizes: ['1m'], allowedLateness: '0s', idleTimeout: '1h' },
      drift: { minWindowSize: 5 },
    },
  ],
});

describe('finaliser in two cluster-mode daemons sharing one store (HTTP lanes)', () => {
  let dir: string;
  let store: Store;
  const daemons: Daemon[] = [];

  function start(instanceId: string): Promise<Daemon> {
    const base = validateConfig(configInput(join(dir, instanceId), join(dir, 'store')), {
      env: {},
    });
    const config: DriftdConfig = {
      ...base,
      cluster: { enabled: true, instanceId, finaliseIntervalMs: 100, laneTimeoutMs: 600_000 },
    };
    // One store for both (one chDB per process); each daemon's close leaves it open.
    const shared = Object.create(store) as Store;
    shared.close = async () => {};
    const d = createDaemon(config, { store: shared, listen: false, httpCheckpointMs: 50 });
    daemons.push(d);
    return d.start().then(() => d);
  }

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'driftd-finaliser-daemon-'));
    const config = validateConfig(configInput(join(dir, 'setup'), join(dir, 'store')), { env: {} });
    store = createStore(config.store);
    await store.migrate();
    const rows = Array.from({ length: 200 }, (_, i) => ({
      features: { x: i % 20 },
      prediction: 1,
    }));
    await store.saveBaseline(buildProfileFromRows(config.models[0]!, '1', rows).profile);
  }, 60_000);

  afterAll(async () => {
    for (const d of daemons) await d.close().catch(() => {});
    await store?.close();
    await rm(dir, { recursive: true, force: true });
  });

  let nextId = 0;
  const batch = (n: number, ts: number) =>
    Array.from({ length: n }, (_, i) => ({
      model: 'm',
      version: '1',
      id: `e-${nextId++}`,
      ts: new Date(ts + i).toISOString(),
      features: { x: (i * 7) % 20 },
      prediction: 1,
    }));
  const post = async (d: Daemon, items: unknown[]) => {
    const res = await d.app.inject({
      method: 'POST',
      url: '/api/v1/events',
      payload: items as object[],
    });
    expect(res.statusCode).toBe(202);
  };
  const until = async (cond: () => boolean | Promise<boolean>, ms = 20_000) => {
    const end = Date.now() + ms;
    while (!(await cond())) {
      if (Date.now() > end) throw new Error('timed out');
      await new Promise((r) => setTimeout(r, 50));
    }
  };

  it("one result per window holding both lanes' events, on both instances' /metrics", async () => {
    const a = await start('a');
    const b = await start('b');
    await post(a, batch(30, T0));
    await post(b, batch(20, T0 + 30_000));
    // Only a's lane has passed the window: b's holds it.
    await post(a, batch(1, T0 + MINUTE));
    await new Promise((r) => setTimeout(r, 600));
    expect(await store.finalisations(0, 100)).toEqual([]);
    await post(b, batch(1, T0 + MINUTE + 5));
    await until(async () => (await store.finalisations(0, 100)).length > 0);

    const fins = await store.finalisations(0, 100);
    expect(fins).toHaveLength(1);
    expect(fins[0]).toMatchObject({ start: T0, lanes: ['http:a', 'http:b'], events: 50 });
    const history = await store.windowHistory({
      model: 'm',
      window: '1m',
      start: T0,
      version: '1',
    });
    expect(history.results.map((r) => r.eventCount)).toEqual([50]);
    // Both instances show it, whichever wrote it.
    const shown = async (d: Daemon) =>
      (await d.metrics.registry.metrics()).includes(
        'driftd_model_drift_share{model="m",version="1",window="1m"}',
      );
    await until(async () => (await shown(a)) && (await shown(b)));
    const finalisedHere = async (d: Daemon) =>
      /driftd_cluster_windows_finalised_total\{model="m",window="1m"\} 1/.test(
        await d.metrics.registry.metrics(),
      );
    expect([await finalisedHere(a), await finalisedHere(b)].filter(Boolean)).toHaveLength(1);
  }, 60_000);
});
