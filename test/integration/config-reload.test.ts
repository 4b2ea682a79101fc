/**
 * Config reload through the admin route, in process (real chDB, real daemon, `inject`): a
 * threshold changes without losing the open window, models come and go, an invalid file is
 * refused with its errors and the old config stays, restart-only settings are reported,
 * concurrent reloads run one at a time, and events sent during reloads are all counted.
 * (SIGHUP through a real process: test/e2e/config-reload.test.ts.)
 */
import { mkdtemp, rename, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { buildProfileFromRows } from '../../src/baseline/index.js';
import { loadConfig, validateConfig } from '../../src/config/index.js';
import { createDaemon, type Daemon } from '../../src/daemon.js';
import { StoreError } from '../../src/errors.js';
import { createStore } from '../../src/store/index.js';
import type { Store } from '../../src/store/types.js';
import type { WindowResult } from '../../src/types.js';

const T0 = Date.parse('2026-11-22T10:00:00Z');
const MINUTE = 60_000;

/** Model `id` with one numeric feature x, fixed PSI threshold `threshold`, 1m windows. */
function model(id: string, threshold: number, extra: Record<string, unknown> = {}) {
  return {
    id,
    task: 'regression',
    features: [{ name: 'x', type: 'numeric', test: 'psi', threshold }],
    windows: { sizes: ['1m'], allowedLateness: '0s', idleTimeout: '1h' },
    drift: { minWindowSize: 5 },
    ...extra,
  };
}

/** `added` with a second feature, y (its baseline profiles both). */
const withY = () => ({
  ...model('added', 100),
  features: [
    { name: 'x', type: 'numeric', test: 'psi', threshold: 100 },
    { name: 'y', type: 'numeric' },
  ],
});

describe('config reload (POST /api/v1/admin/reload; real daemon in process, real chDB)', () => {
  let dir = '';
  let file = '';
  let daemon: Daemon;
  const base = () => ({ dataDir: dir, server: { port: 0 }, logLevel: 'silent' });
  // Replaced whole (a reload meeting a half-written file would refuse it, rightly).
  const writeConfig = async (input: Record<string, unknown>) => {
    await writeFile(`${file}.tmp`, stringify(input));
    await rename(`${file}.tmp`, file);
  };

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'driftd-reload-'));
    file = join(dir, 'driftd.yaml');
    const input = { ...base(), models: [model('m', 100), model('gone', 100)] };
    await writeConfig(input);
    const config = validateConfig({ ...input, models: [...input.models, withY()] }, { env: {} });
    const store = createStore(config.store);
    await store.migrate();
    // Baselines: x and y uniform over 0..19, for every model (including the one added later).
    const rows = Array.from({ length: 400 }, (_, i) => ({
      features: { x: i % 20, y: i % 20 },
      prediction: 1,
    }));
    for (const m of config.models) {
      await store.saveBaseline(buildProfileFromRows(m, '1', rows).profile);
    }
    await store.close();
    daemon = createDaemon(await loadConfig({ path: file, env: {} }), {
      listen: false,
      loadConfig: () => loadConfig({ path: file, env: {} }),
    });
    await daemon.start();
  });
  afterAll(async () => {
    await daemon?.close();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  let nextId = 0;
  /** n events of `modelId` from `ts`, x shifted far from the baseline (PSI large). */
  const batch = (modelId: string, n: number, ts: number) =>
    Array.from({ length: n }, (_, i) => ({
      model: modelId,
      version: '1',
      id: `e-${nextId++}`,
      ts: new Date(ts + i).toISOString(),
      features: { x: 15 + (i % 5) },
      prediction: 1,
    }));
  const post = async (items: unknown[]) => {
    const res = await daemon.app.inject({
      method: 'POST',
      url: '/api/v1/events',
      payload: items as object[],
    });
    expect(res.statusCode, res.body).toBe(202);
    return res.json() as { accepted: number; rejected: number };
  };
  const reload = () => daemon.app.inject({ method: 'POST', url: '/api/v1/admin/reload' });
  const openCount = (m: string) =>
    daemon.pipeline.managers
      .get(m)
      ?.snapshot()
      .open.reduce((n, w) => n + w.count, 0);
  const results = async (m: string, start: number): Promise<WindowResult[]> =>
    (await daemon.store.queryDrift({ model: m, window: '1m', from: start, to: start + 1 })).filter(
      (w) => w.start === start,
    );
  const metric = async (name: string) =>
    (await daemon.metrics.registry.getSingleMetric(name)?.get())?.values ?? [];
  const until = async (cond: () => Promise<boolean> | boolean, ms = 10_000) => {
    const end = Date.now() + ms;
    while (!(await cond())) {
      if (Date.now() > end) throw new Error('timed out');
      await new Promise((r) => setTimeout(r, 20));
    }
  };

  it('a threshold changed by a reload applies to the window open across it, which keeps every event', async () => {
    const start = T0;
    await post(batch('m', 30, start));
    expect(openCount('m')).toBe(30);

    await writeConfig({ ...base(), models: [model('m', 0.1), model('gone', 100)] });
    const res = await reload();
    expect(res.statusCode, res.body).toBe(200);
    expect(res.json()).toMatchObject({
      result: 'applied',
      added: [],
      removed: [],
      changed: ['models["m"].features[0].threshold'],
      needsRestart: [],
    });
    expect(daemon.config.models[0]!.features[0]!.threshold).toBe(0.1);
    // The open window moved into the new manager whole.
    expect(openCount('m')).toBe(30);

    await post(batch('m', 20, start + 100));
    await post(batch('m', 1, start + MINUTE)); // closes [start, start+1m) by watermark
    await until(async () => (await results('m', start)).length > 0);
    const [w] = await results('m', start);
    expect(w!.eventCount).toBe(50);
    expect(w!.features[0]!.threshold).toBe(0.1);
    expect(w!.features[0]!.drifted).toBe(true);
  });

  it('an invalid file is refused with its errors (422) and the running config stays', async () => {
    const before = daemon.config;
    const failures = async () =>
      (await metric('driftd_config_reloads_total')).find((v) => v.labels.result === 'failure')
        ?.value ?? 0;
    const failed = await failures();
    await writeConfig({
      ...base(),
      models: [{ ...model('m', 0.1), drift: { minWindowSize: -3, fdr: 7 } }],
    });
    const res = await reload();
    expect(res.statusCode).toBe(422);
    const body = res.json() as { code: string; issues: string[] };
    expect(body.code).toBe('DRIFTD_ERR_CONFIG');
    expect(body.issues.some((i) => i.includes('models[0].drift.minWindowSize'))).toBe(true);
    expect(body.issues.some((i) => i.includes('models[0].drift.fdr'))).toBe(true);
    expect(daemon.config).toBe(before);
    expect(await failures()).toBe(failed + 1);

    // Broken YAML too.
    await writeFile(file, 'models: [\n');
    const broken = await reload();
    expect(broken.statusCode).toBe(422);
    // The answer names the file, never the host's path to it.
    expect(broken.body).not.toContain(dirname(file));
    expect((broken.json() as { issues: string[] }).issues[0]).toMatch(/^[\w.-]+\.yaml:\d+:\d+: /);
    expect(daemon.config).toBe(before);
    // Events keep flowing into the old config's windows.
    expect((await post(batch('m', 5, T0 + 2 * MINUTE))).accepted).toBe(5);
  });

  it('restart-only settings are kept and reported as needing a restart', async () => {
    await writeConfig({
      ...base(),
      server: { port: 12345, bodyLimitBytes: 2_000_000 },
      logLevel: 'debug',
      models: [model('m', 0.1), model('gone', 100)],
    });
    const res = await reload();
    expect(res.statusCode, res.body).toBe(200);
    expect(res.json()).toMatchObject({
      result: 'unchanged',
      needsRestart: ['server.port', 'server.bodyLimitBytes', 'logLevel'],
    });
    expect(daemon.config.server.port).toBe(0);
    expect((await metric('driftd_config_restart_required'))[0]?.value).toBe(1);
    await writeConfig({ ...base(), models: [model('m', 0.1), model('gone', 100)] });
    expect((await reload()).json()).toMatchObject({ result: 'unchanged', needsRestart: [] });
    expect((await metric('driftd_config_restart_required'))[0]?.value).toBe(0);
  });

  it('a model added is monitored at once; a removed one has its open window closed and written', async () => {
    const start = T0 + 10 * MINUTE;
    await post(batch('gone', 12, start));
    const refused = await daemon.app.inject({
      method: 'POST',
      url: '/api/v1/events',
      payload: batch('added', 3, start),
    });
    expect(refused.statusCode).toBe(400); // every item rejected: model not configured

    await writeConfig({ ...base(), models: [model('m', 0.1), model('added', 100)] });
    const res = await reload();
    expect(res.statusCode, res.body).toBe(200);
    expect(res.json()).toMatchObject({ result: 'applied', added: ['added'], removed: ['gone'] });
    // The removed model's window was closed at the reload and written (flush), all 12 events.
    await until(async () => (await results('gone', start)).length > 0);
    expect((await results('gone', start))[0]!.eventCount).toBe(12);
    expect(daemon.pipeline.managers.has('gone')).toBe(false);
    const gone = await daemon.app.inject({
      method: 'POST',
      url: '/api/v1/events',
      payload: batch('gone', 2, start + 1000),
    });
    expect(gone.statusCode).toBe(400);

    // The added model: accepted (its baseline is loaded by the reload), windows close.
    expect((await post(batch('added', 10, start))).accepted).toBe(10);
    await post(batch('added', 1, start + MINUTE));
    await until(async () => (await results('added', start)).length > 0);
    expect((await results('added', start))[0]!.eventCount).toBe(10);
    const models = await daemon.app.inject({ method: 'GET', url: '/api/v1/models' });
    expect((models.json() as { models: Array<{ id: string }> }).models.map((m) => m.id)).toEqual([
      'm',
      'added',
    ]);
  });

  it('concurrent reloads run one at a time; events sent during them are all counted', async () => {
    const start = T0 + 20 * MINUTE;
    const accepted = async () =>
      (await metric('driftd_events_total')).find(
        (v) => v.labels.model === 'm' && v.labels.result === 'accepted',
      )?.value ?? 0;
    const acceptedBefore = await accepted();
    const thresholds = [0.2, 0.3, 0.4, 0.5, 0.6, 0.7];
    let sent = 0;
    const senders = (async () => {
      for (let i = 0; i < 40; i++) {
        const r = await post(batch('m', 25, start + i * 100));
        sent += r.accepted;
        await new Promise((res) => setImmediate(res));
      }
    })();
    const reloads: Array<Promise<{ statusCode: number; body: string }>> = [];
    for (const t of thresholds) {
      await writeConfig({ ...base(), models: [model('m', t), model('added', 100)] });
      // Several at once: each reads the file when its turn comes.
      reloads.push(reload(), reload());
      await new Promise((res) => setTimeout(res, 5));
    }
    const answers = await Promise.all(reloads);
    for (const a of answers) expect(a.statusCode, a.body).toBe(200);
    await senders;
    expect(daemon.config.models[0]!.features[0]!.threshold).toBe(0.7);
    expect(sent).toBe(40 * 25);
    expect(await accepted()).toBe(acceptedBefore + sent);
    expect(openCount('m')).toBe(sent);

    await post(batch('m', 1, start + MINUTE));
    await until(async () => (await results('m', start)).length > 0);
    const [w] = await results('m', start);
    expect(w!.eventCount).toBe(sent);
    expect(w!.features[0]!.threshold).toBe(0.7);
  });

  it('a feature added by a reload: the open window is written as it stands, the next ones have the feature', async () => {
    const start = T0 + 30 * MINUTE;
    await post(batch('added', 8, start));
    await writeConfig({ ...base(), models: [model('m', 0.7), withY()] });
    const res = await reload();
    expect(res.statusCode, res.body).toBe(200);
    // Its sketches have no room for y: closed and written at the reload with its 8 events.
    await until(async () => (await results('added', start)).length > 0);
    const [w] = await results('added', start);
    expect(w!.eventCount).toBe(8);
    expect(w!.features.map((f) => f.feature)).toEqual(['x']);
    expect(openCount('added')).toBe(0);
    // The rest of that window is late (stored, counted), the next window has y.
    const late = await post(batch('added', 2, start + 500));
    expect(late.accepted).toBe(2);
    await post(batch('added', 6, start + MINUTE));
    await post(batch('added', 1, start + 2 * MINUTE));
    await until(async () => (await results('added', start + MINUTE)).length > 0);
    const [next] = await results('added', start + MINUTE);
    expect(next!.eventCount).toBe(6);
    expect(next!.features.map((f) => f.feature)).toEqual(['x', 'y']);
  });
});

describe('config reload during a rebuild after a failed store write (real chDB; the failure simulated by a store wrapper)', () => {
  let dir = '';
  let file = '';
  let daemon: Daemon;
  /** The next raw insert fails for good (a full disk, say). */
  let failNext = false;
  /** While set, reading the latest checkpoint (the rebuild's first step) waits for it. */
  let hold: Promise<void> | undefined;
  const input = (models: unknown[]) => ({
    dataDir: dir,
    server: { port: 0 },
    logLevel: 'silent',
    models,
  });
  const writeConfig = async (config: Record<string, unknown>) => {
    await writeFile(`${file}.tmp`, stringify(config));
    await rename(`${file}.tmp`, file);
  };

  function wrap(s: Store): Store {
    const store: Store = Object.create(s) as Store;
    store.insertEncodedEvents = async (batches) => {
      if (failNext) {
        failNext = false;
        throw new StoreError('simulated: no space left on device', { clickhouseCode: 243 });
      }
      return s.insertEncodedEvents(batches);
    };
    store.latestCheckpoint = async (group) => {
      if (hold) await hold;
      return s.latestCheckpoint(group);
    };
    return store;
  }

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'driftd-reload-rebuild-'));
    file = join(dir, 'driftd.yaml');
    await writeConfig(input([model('m', 100), model('gone', 100)]));
    const config = await loadConfig({ path: file, env: {} });
    const store = createStore(config.store);
    await store.migrate();
    const rows = Array.from({ length: 400 }, (_, i) => ({
      features: { x: i % 20 },
      prediction: 1,
    }));
    for (const m of config.models)
      await store.saveBaseline(buildProfileFromRows(m, '1', rows).profile);
    await store.close();
    daemon = createDaemon(config, {
      store: wrap(createStore(config.store)),
      listen: false,
      httpCheckpointMs: 100,
      loadConfig: () => loadConfig({ path: file, env: {} }),
    });
    await daemon.start();
  });
  afterAll(async () => {
    hold = undefined;
    await daemon?.close();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  const post = (items: unknown[]) =>
    daemon.app.inject({ method: 'POST', url: '/api/v1/events', payload: items as object[] });
  const batch = (modelId: string, n: number, ts: number) =>
    Array.from({ length: n }, (_, i) => ({
      model: modelId,
      version: '1',
      id: `${modelId}-${ts}-${i}`,
      ts: new Date(ts + i).toISOString(),
      features: { x: i % 20 },
      prediction: 1,
    }));
  const until = async (cond: () => Promise<boolean> | boolean, ms = 10_000) => {
    const end = Date.now() + ms;
    while (!(await cond())) {
      if (Date.now() > end) throw new Error('timed out');
      await new Promise((r) => setTimeout(r, 20));
    }
  };

  it('is refused (503, retriable) while the windows are rebuilt, so a model removed by it still has its open window written', async () => {
    expect((await post(batch('gone', 12, T0))).statusCode).toBe(202);
    let release!: () => void;
    hold = new Promise((r) => {
      release = r;
    });
    failNext = true;
    expect((await post(batch('m', 5, T0))).statusCode).toBe(503);
    expect(daemon.pipeline.input.healthy).toBe(false);

    await writeConfig(input([model('m', 100)]));
    const during = await daemon.app.inject({ method: 'POST', url: '/api/v1/admin/reload' });
    expect(during.statusCode).toBe(503);
    expect(daemon.config.models.map((m) => m.id)).toEqual(['m', 'gone']);

    hold = undefined;
    release();
    await until(() => daemon.pipeline.input.healthy);
    const after = await daemon.app.inject({ method: 'POST', url: '/api/v1/admin/reload' });
    expect(after.statusCode, after.body).toBe(200);
    expect(after.json()).toMatchObject({ removed: ['gone'] });
    await until(
      async () =>
        (await daemon.store.queryDrift({ model: 'gone', window: '1m', from: T0, to: T0 + 1 }))
          .length > 0,
    );
    const [w] = await daemon.store.queryDrift({
      model: 'gone',
      window: '1m',
      from: T0,
      to: T0 + 1,
    });
    expect(w!.eventCount).toBe(12);
  });
});
