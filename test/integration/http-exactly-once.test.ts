/**
 * HTTP ingestion counts every stored event exactly once (real chDB; store failures and slow
 * inserts simulated by a wrapper around the raw-event insert):
 * - a request whose insert fails is counted zero times: the windows are rebuilt without it;
 * - a window closes, but is written only once the events it holds are stored;
 * - a request retried with its Idempotency-Key gets the first answer and is counted once,
 *   also when the retry comes while the first is in flight, and after a restart.
 */
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildProfileFromRows } from '../../src/baseline/index.js';
import { validateConfig } from '../../src/config/index.js';
import type { DriftdConfig } from '../../src/config/types.js';
import { createDaemon, type Daemon } from '../../src/daemon.js';
import { StoreError } from '../../src/errors.js';
import { createStore } from '../../src/store/index.js';
import type { Store } from '../../src/store/types.js';

const T0 = Date.parse('2026-11-22T10:00:00Z');
const MINUTE = 60_000;

const configInput = (dataDir: string) => ({
  dataDir,
  server: { port: 0 },
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

describe('HTTP exactly once into windows (real chDB; failures simulated by a store wrapper)', () => {
  let dir: string;
  let config: DriftdConfig;
  let daemon: Daemon;
  let real: Store;
  /** The next raw insert fails with a non-retriable error (a full disk, say). */
  let failNext = false;
  /** While set, raw inserts wait for it. */
  let hold: Promise<void> | undefined;

  function wrap(s: Store): Store {
    const store: Store = Object.create(s) as Store;
    store.insertEncodedEvents = async (batches) => {
      if (hold) await hold;
      if (failNext) {
        failNext = false;
        throw new StoreError('simulated: no space left on device', { clickhouseCode: 243 });
      }
      return s.insertEncodedEvents(batches);
    };
    return store;
  }

  async function startDaemon(): Promise<Daemon> {
    real = createStore(config.store);
    const d = createDaemon(config, { store: wrap(real), listen: false, httpCheckpointMs: 100 });
    await d.start();
    return d;
  }

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'driftd-exactly-'));
    config = validateConfig(configInput(dir), { env: {} });
    const store = createStore(config.store);
    await store.migrate();
    const rows = Array.from({ length: 200 }, (_, i) => ({
      features: { x: i % 20 },
      prediction: 1,
    }));
    await store.saveBaseline(buildProfileFromRows(config.models[0]!, '1', rows).profile);
    await store.close();
    daemon = await startDaemon();
  });
  afterAll(async () => {
    hold = undefined;
    await daemon?.close();
    await rm(dir, { recursive: true, force: true });
  });

  let nextId = 0;
  /** The body first sent with key-1. */
  let keyOne: unknown[] = [];
  const batch = (n: number, ts: number) =>
    Array.from({ length: n }, (_, i) => ({
      model: 'm',
      version: '1',
      id: `e-${nextId++}`,
      ts: new Date(ts + i).toISOString(),
      features: { x: i % 20 },
      prediction: 1,
    }));
  const post = (items: unknown[], key?: string, url = '/api/v1/events') =>
    daemon.app.inject({
      method: 'POST',
      url,
      payload: items as object[],
      headers: key === undefined ? {} : { 'idempotency-key': key },
    });
  /** Events in the open windows of model m, by window start. */
  const openCounts = () =>
    Object.fromEntries(
      daemon.pipeline.managers
        .get('m')!
        .snapshot()
        .open.map((w) => [new Date(w.bounds.start).toISOString().slice(11, 16), w.count]),
    );
  const written = async (start: number) =>
    (await daemon.store.queryDrift({ model: 'm', window: '1m', from: start, to: start + 1 }))
      .filter((w) => w.start === start)
      .map((w) => w.eventCount);
  const until = async (cond: () => boolean | Promise<boolean>, ms = 10_000) => {
    const end = Date.now() + ms;
    while (!(await cond())) {
      if (Date.now() > end) throw new Error('timed out');
      await new Promise((r) => setTimeout(r, 20));
    }
  };

  it('a request whose insert fails is counted zero times; its retry once', async () => {
    expect((await post(batch(30, T0))).statusCode).toBe(202);
    expect(openCounts()).toEqual({ '10:00': 30 });
    // 20 more in 10:00 and one in 10:01, which closes 10:00: the insert fails.
    const b = [...batch(20, T0 + 30_000), ...batch(1, T0 + MINUTE)];
    failNext = true;
    const failed = await post(b);
    expect(failed.statusCode).toBe(503);
    await until(() => daemon.pipeline.input.healthy);
    // Rebuilt from what is stored: the failed request left no trace in the windows.
    expect(openCounts()).toEqual({ '10:00': 30 });
    expect(await written(T0)).toEqual([]);
    // The client sends it again.
    expect((await post(b)).statusCode).toBe(202);
    expect(openCounts()).toEqual({ '10:01': 1 });
    expect(await written(T0)).toEqual([50]);
  });

  it('a window closed by a request is written only once that request is stored', async () => {
    const start = T0 + MINUTE;
    let release!: () => void;
    hold = new Promise((r) => {
      release = r;
    });
    // 29 more into 10:01 and one in 10:02, which closes 10:01; the insert is held.
    const pending = post([...batch(29, start + 1_000), ...batch(1, start + MINUTE)]);
    await until(() => daemon.pipeline.input.recorded > daemon.pipeline.input.durable);
    await daemon.pipeline.tick();
    await new Promise((r) => setTimeout(r, 200));
    expect(openCounts()).toEqual({ '10:02': 1 });
    expect(await written(start)).toEqual([]);
    hold = undefined;
    release();
    expect((await pending).statusCode).toBe(202);
    expect(await written(start)).toEqual([30]);
  });

  it('Idempotency-Key: a retry gets the first answer and is counted once, also while the first is in flight', async () => {
    const start = T0 + 2 * MINUTE;
    const items: unknown[] = batch(10, start + 1_000);
    items.push({ model: 'm', id: 'no-version' });
    keyOne = items;
    const first = await post(items, 'key-1');
    expect(first.statusCode).toBe(202);
    expect(first.json()).toMatchObject({ accepted: 10, rejected: 1 });
    const again = await post(items, 'key-1');
    expect(again.statusCode).toBe(202);
    expect(again.json()).toEqual(first.json());
    expect(openCounts()).toEqual({ '10:02': 11 });
    // The key with another body: refused, naming the header; nothing counted.
    const reused = await post(batch(3, start + 2_000), 'key-1');
    expect(reused.statusCode).toBe(422);
    expect(reused.json()).toMatchObject({ code: 'DRIFTD_ERR_IDEMPOTENCY_KEY_REUSED' });
    expect(reused.json().message).toContain('Idempotency-Key "key-1"');
    expect(openCounts()).toEqual({ '10:02': 11 });

    // Two sends of one request, the second while the first waits for its insert.
    let release!: () => void;
    hold = new Promise((r) => {
      release = r;
    });
    const twice = batch(5, start + 20_000);
    const a = post(twice, 'key-2');
    await until(() => daemon.pipeline.input.recorded > daemon.pipeline.input.durable);
    const b = post(twice, 'key-2');
    await new Promise((r) => setTimeout(r, 100));
    hold = undefined;
    release();
    const [ra, rb] = await Promise.all([a, b]);
    expect([ra.statusCode, rb.statusCode]).toEqual([202, 202]);
    expect(rb.json()).toEqual(ra.json());
    expect(openCounts()).toEqual({ '10:02': 16 });

    // A key that failed is forgotten: its retry is counted (once).
    failNext = true;
    const third = batch(4, start + 30_000);
    expect((await post(third, 'key-3')).statusCode).toBe(503);
    await until(() => daemon.pipeline.input.healthy);
    expect((await post(third, 'key-3')).statusCode).toBe(202);
    expect((await post(third, 'key-3')).statusCode).toBe(202);
    expect(openCounts()).toEqual({ '10:02': 20 });

    // Labels take the header too.
    const label = [{ model: 'm', id: 'e-0', ts: new Date(start).toISOString(), label: 1 }];
    expect((await post(label, 'key-1', '/api/v1/labels')).json()).toMatchObject({ accepted: 1 });
    expect((await post(label, 'key-1', '/api/v1/labels')).json()).toMatchObject({ accepted: 1 });
  });

  it('a key stays known across a restart (stored with the raw events, with its body fingerprint); the windows resume', async () => {
    await daemon.close();
    daemon = await startDaemon();
    expect(openCounts()).toEqual({ '10:02': 20 });
    // The same body under key-1: the first answer, nothing counted.
    const retry = await post(keyOne, 'key-1');
    expect(retry.statusCode).toBe(202);
    expect(retry.json()).toMatchObject({ accepted: 10, rejected: 1 });
    expect(openCounts()).toEqual({ '10:02': 20 });
    // Another body under key-1 (same shape, other ids): refused, nothing counted.
    const items: unknown[] = batch(10, T0 + 2 * MINUTE + 1_000);
    items.push({ model: 'm', id: 'no-version' });
    const reused = await post(items, 'key-1');
    expect(reused.statusCode).toBe(422);
    expect(reused.json().message).toContain('Idempotency-Key');
    expect(openCounts()).toEqual({ '10:02': 20 });
  });

  it('refuses a malformed Idempotency-Key, counting nothing', async () => {
    const res = await post(batch(1, T0 + 2 * MINUTE), 'x'.repeat(256));
    // An InvalidInputError: 400 once error bodies of the ingest routes serialize (issue 14,
    // item 6, another branch); on this branch the 400 schema turns it into a 500.
    expect(res.statusCode).toBeGreaterThanOrEqual(400);
    expect(openCounts()).toEqual({ '10:02': 20 });
  });

  it('an upgrade keeps the open windows of the file checkpoint driftd wrote before', async () => {
    const snapshot = daemon.pipeline.managers.get('m')!.snapshot();
    await daemon.close(); // one embedded engine per process at a time
    const legacy = validateConfig({ ...configInput(join(dir, 'legacy')) }, { env: {} });
    await mkdir(join(legacy.dataDir, 'checkpoints'), { recursive: true });
    await writeFile(join(legacy.dataDir, 'checkpoints', 'm.json'), JSON.stringify(snapshot));
    const store = createStore(legacy.store);
    await store.migrate();
    const rows = Array.from({ length: 200 }, (_, i) => ({
      features: { x: i % 20 },
      prediction: 1,
    }));
    await store.saveBaseline(buildProfileFromRows(legacy.models[0]!, '1', rows).profile);
    await store.close();
    const old = createDaemon(legacy, { listen: false });
    await old.start();
    try {
      const open = old.pipeline.managers.get('m')!.snapshot().open;
      expect(open.map((w) => w.count)).toEqual([20]);
    } finally {
      await old.close();
    }
  });
});
