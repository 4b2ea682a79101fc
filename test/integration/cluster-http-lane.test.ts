/**
 * Cluster mode's HTTP lane (real chDB store): an instance's HTTP input is a lane of its own,
 * checkpointed on its own (src/ingest/checkpointer.ts with `pipeline.cluster`): a cut writes a
 * LaneCheckpoint to `driftd:http:<id>` and the lane's progress rows; the lane's closed windows
 * are stored as partials; after a kill (the objects dropped, nothing closed) a new pipeline
 * restores the same lane state and replays only that lane's events stored after the cut —
 * not another instance's sharing the store. Needs the store branch's cluster tables (wt-store).
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Registry } from 'prom-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildProfileFromRows } from '../../src/baseline/index.js';
import { type ClusterStore, windowKeyString } from '../../src/cluster/types.js';
import { validateConfig } from '../../src/config/index.js';
import type { DriftdConfig } from '../../src/config/types.js';
import { StoreError } from '../../src/errors.js';
import { createMetrics } from '../../src/export/metrics.js';
import { decodeLaneCheckpoint } from '../../src/ingest/checkpoint.js';
import { createHttpCheckpointer } from '../../src/ingest/checkpointer.js';
import { createPipeline, type Pipeline } from '../../src/ingest/pipeline.js';
import { createLogger } from '../../src/logger.js';
import { createStore } from '../../src/store/index.js';
import type { Store } from '../../src/store/types.js';
import { type ClosedWindow, createWindowState } from '../../src/window/index.js';

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

describe('cluster HTTP lane: checkpoint, kill, restore (real chDB)', () => {
  let dir: string;
  let config: DriftdConfig;
  let store: Store & ClusterStore;
  const logger = createLogger('silent');
  const clock = { now: () => Date.now() };

  async function instance(id: string, refresh?: { intervalMs: number; progressRefreshMs: number }) {
    const metrics = createMetrics(new Registry(), { version: 'test' });
    const pipeline = createPipeline({
      config,
      store,
      metrics,
      logger,
      clock,
      cluster: { instanceId: id },
    });
    await pipeline.start();
    const checkpointer = createHttpCheckpointer({ pipeline, store, logger, clock, ...refresh });
    return { pipeline, checkpointer, metrics };
  }

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'driftd-cluster-http-'));
    config = validateConfig(configInput(dir), { env: {} });
    store = createStore(config.store) as Store & ClusterStore;
    await store.migrate();
    const rows = Array.from({ length: 200 }, (_, i) => ({
      features: { x: i % 20 },
      prediction: 1,
    }));
    await store.saveBaseline(buildProfileFromRows(config.models[0]!, '1', rows).profile);
  });
  afterAll(async () => {
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
      features: { x: i % 20 },
      prediction: 1,
    }));
  const ingest = async (p: Pipeline, items: unknown[]) => {
    const r = await p.ingestEvents(items, 'http');
    expect(r.accepted).toBe(items.length);
  };
  /** The lane's windows as a restart would see them (when each was taken left out). */
  const laneState = (p: Pipeline, lane: string) => {
    const snap = p.cluster!.lanes.snapshot(lane);
    return Object.fromEntries(Object.entries(snap).map(([m, s]) => [m, { ...s, takenAt: 0 }]));
  };

  it('restores the lane of the checkpoint and replays only its own events stored after it', async () => {
    const a = await instance('a');
    const r0 = await a.checkpointer.restore();
    expect(r0).toEqual({ position: 0, replayed: 0, seq: 0 });
    // Registered before taking requests: its lane-level progress row.
    expect(
      (await store.laneProgress()).filter((p) => p.lane === 'http:a').map((p) => [p.model, p.idle]),
    ).toEqual([['', true]]);

    // 10:00 gets 40 events, 10:01 closes it (a final partial of lane http:a).
    await ingest(a.pipeline, batch(40, T0));
    await ingest(a.pipeline, batch(10, T0 + MINUTE));
    await a.pipeline.settle();
    await a.checkpointer.checkpoint();
    const cp = decodeLaneCheckpoint((await store.latestCheckpoint('driftd:http:a'))!);
    expect(cp).toMatchObject({ lane: 'http:a', seq: 1, instance: 'a' });
    expect(Number(cp.position)).toBeGreaterThan(0);
    const progress = (await store.laneProgress()).filter((p) => p.lane === 'http:a');
    const version = progress.find((p) => p.model === 'm' && p.version === '1')!;
    expect(version).toMatchObject({ watermark: T0 + MINUTE + 9, idle: false, seq: 1 });
    expect(progress.find((p) => p.model === '')).toMatchObject({ watermark: T0 + MINUTE + 9 });
    const partials = await store.partialsOf({
      model: 'm',
      version: '1',
      sizeLabel: '1m',
      size: MINUTE,
      start: T0,
      end: T0 + MINUTE,
    });
    expect(partials.map((p) => [p.lane, p.final, p.events, p.instance])).toEqual([
      ['http:a', true, 40, 'a'],
    ]);

    // After the cut: more of a's events, and instance b's (another lane, same store).
    await ingest(a.pipeline, batch(15, T0 + MINUTE + 100));
    const b = await instance('b');
    await b.checkpointer.restore();
    await ingest(b.pipeline, batch(25, T0 + MINUTE + 200));
    await a.pipeline.settle();
    await b.pipeline.settle();
    const before = laneState(a.pipeline, 'http:a');
    expect(before.m!.open.map((w) => w.count)).toEqual([25]);

    // Kill a: its objects are dropped, nothing is closed or checkpointed.
    const a2 = await instance('a');
    const r = await a2.checkpointer.restore();
    expect(r.seq).toBe(1);
    // Only its own 15 events after the cut, not b's 25.
    expect(r.replayed).toBe(15);
    expect(laneState(a2.pipeline, 'http:a')).toEqual(before);
    // It continues the lane's checkpoint sequence.
    await ingest(a2.pipeline, batch(1, T0 + MINUTE + 300));
    await a2.pipeline.settle();
    await a2.checkpointer.checkpoint();
    expect((await store.latestCheckpoint('driftd:http:a'))!.seq).toBe(2);
    // b's lane is b's alone.
    expect(laneState(b.pipeline, 'http:b').m!.open.map((w) => w.count)).toEqual([25]);
    expect(a2.pipeline.cluster!.lanes.ids()).toEqual(['http:a']);
  });

  it('writeFinal: the merged window written by two instances with one token is one revision', async () => {
    const a = await instance('a');
    const b = await instance('b');
    const key = {
      model: 'm',
      version: '1',
      sizeLabel: '1m',
      size: MINUTE,
      start: T0,
      end: T0 + MINUTE,
    };
    const final = async (p: Pipeline, closedAt: number) => {
      // What the finaliser does: merge the lanes' partials, evaluate and write once (each
      // instance at its own time: the rows differ, only the token makes them one).
      const parts = await store.partialsOf(key);
      const baseline = (await store.getBaseline(parts[0]!.baselineId))!;
      const state = createWindowState({ bounds: key, model: config.models[0]!, baseline });
      for (const part of parts) state.merge(JSON.parse(part.state));
      const closed: ClosedWindow = {
        bounds: key,
        state,
        baseline,
        reason: 'watermark',
        closedAt,
      };
      return p.cluster!.writeFinal([closed], () => `final:${windowKeyString(key)}`);
    };
    const [ra] = await final(a.pipeline, T0 + 2 * MINUTE);
    const [rb] = await final(b.pipeline, T0 + 3 * MINUTE);
    expect(ra!.eventCount).toBe(40);
    expect(rb!.eventCount).toBe(40);
    const history = await store.windowHistory({ model: 'm', window: '1m', start: T0 });
    expect(history.results.filter((r) => !r.segment).map((r) => r.eventCount)).toEqual([40]);
    expect(
      (await store.queryDrift({ model: 'm', window: '1m', from: T0, to: T0 + 1 })).length,
    ).toBe(1);
  });

  it('a quiet live lane refreshes its progress rows (the finalisers keep counting it)', async () => {
    const c = await instance('c', { intervalMs: 50, progressRefreshMs: 300 });
    await c.checkpointer.restore();
    const writtenAt = async () =>
      (await store.laneProgress()).find((p) => p.lane === 'http:c' && p.model === '')!.writtenAt;
    const registered = await writtenAt();
    c.checkpointer.start();
    await new Promise((r) => setTimeout(r, 1000));
    await c.checkpointer.close();
    // No event, no change: rows anyway, at least every progressRefreshMs.
    expect(await writtenAt()).toBeGreaterThan(registered);
    expect((await store.latestCheckpoint('driftd:http:c'))!.seq).toBeGreaterThanOrEqual(2);
  });

  it('a failed HTTP raw write rebuilds the HTTP lane only: the Kafka lanes keep their windows', async () => {
    let failNext = false;
    const failing = Object.create(store) as Store & ClusterStore;
    failing.insertEncodedEvents = async (batches) => {
      if (failNext) {
        failNext = false;
        throw new StoreError('simulated: no space left on device', { clickhouseCode: 243 });
      }
      return store.insertEncodedEvents(batches);
    };
    const metrics = createMetrics(new Registry(), { version: 'test' });
    const pipeline = createPipeline({
      config,
      store: failing,
      metrics,
      logger,
      clock,
      cluster: { instanceId: 'd' },
    });
    await pipeline.start();
    const checkpointer = createHttpCheckpointer({ pipeline, store: failing, logger, clock });
    await checkpointer.restore();
    checkpointer.start();
    // A Kafka lane (as its source opens it) with 12 events in an open window.
    const lanes = pipeline.cluster!.lanes;
    lanes.open('preds/0');
    pipeline.record(
      batch(12, T0 + 5 * MINUTE).map((e, i) => ({
        event: { ...e, ts: Date.parse(e.ts) },
        source: { kind: 'kafka' as const, topic: 'preds', partition: 0, offset: String(i) },
      })),
      { rows: { add() {} } },
    );
    await ingest(pipeline, batch(7, T0 + 5 * MINUTE));
    const kafkaBefore = laneState(pipeline, 'preds/0');
    const httpBefore = laneState(pipeline, 'http:d');
    failNext = true;
    await expect(pipeline.ingestEvents(batch(5, T0 + 5 * MINUTE + 100), 'http')).rejects.toThrow();
    const until = Date.now() + 10_000;
    while (!pipeline.input.healthy && Date.now() < until)
      await new Promise((r) => setTimeout(r, 20));
    expect(pipeline.input.healthy).toBe(true);
    // The HTTP lane: rebuilt without the failed request; the Kafka lane: untouched.
    expect(laneState(pipeline, 'http:d')).toEqual(httpBefore);
    expect(laneState(pipeline, 'preds/0')).toEqual(kafkaBefore);
    expect(kafkaBefore.m!.open.map((w) => w.count)).toEqual([12]);
    await checkpointer.close();
  });

  it("HTTP requests in flight neither hold back the Kafka lanes' partials nor keep them from being quiescent (their cut)", async () => {
    let release: () => void = () => {};
    let hold: Promise<void> | undefined;
    const held = Object.create(store) as Store & ClusterStore;
    held.insertEncodedEvents = async (batches) => {
      if (hold) await hold;
      return store.insertEncodedEvents(batches);
    };
    const pipeline = createPipeline({
      config,
      store: held,
      metrics: createMetrics(new Registry(), { version: 'test' }),
      logger,
      clock,
      cluster: { instanceId: 'e' },
    });
    await pipeline.start();
    const checkpointer = createHttpCheckpointer({ pipeline, store: held, logger, clock });
    await checkpointer.restore();
    pipeline.cluster!.lanes.open('preds/3');
    hold = new Promise((r) => {
      release = r;
    });
    const request = pipeline.ingestEvents(batch(5, T0 + 20 * MINUTE), 'http');
    await new Promise((r) => setTimeout(r, 50));
    expect(pipeline.input.durable).toBeLessThan(pipeline.input.recorded);
    // The Kafka lanes' part is written: their cut may be taken now.
    expect(pipeline.quiescent()).toBe(true);
    // A Kafka lane's window closed and not yet written: not quiescent.
    pipeline.record(
      [...batch(3, T0 + 20 * MINUTE), ...batch(1, T0 + 21 * MINUTE)].map((e, i) => ({
        event: { ...e, ts: Date.parse(e.ts) },
        source: { kind: 'kafka' as const, topic: 'preds', partition: 3, offset: String(i) },
      })),
      { rows: { add() {} } },
    );
    expect(pipeline.quiescent()).toBe(false);
    // Its partial goes out at once: the HTTP input's gate holds only the HTTP lane's windows.
    await pipeline.tick();
    const parts = await store.partialsOf({
      model: 'm',
      version: '1',
      sizeLabel: '1m',
      size: MINUTE,
      start: T0 + 20 * MINUTE,
      end: T0 + 21 * MINUTE,
    });
    expect(parts.map((p) => [p.lane, p.events])).toEqual([['preds/3', 3]]);
    expect(pipeline.input.durable).toBeLessThan(pipeline.input.recorded);
    expect(pipeline.quiescent()).toBe(true);
    release();
    hold = undefined;
    await request;
    await pipeline.settle();
    expect(pipeline.quiescent()).toBe(true);
  });
});
