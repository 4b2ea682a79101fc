/**
 * Finalisation on the real embedded ClickHouse (chdb) store, through real cluster-mode
 * pipelines (their `cluster` engine writes the results): partials of three lanes built from
 * real window states → one result equal to one state holding every event; a lane that has not
 * passed holds the window; two finalisers racing on one store leave exactly one revision and
 * one finalisation row per window (the insert deduplication token); an event that reaches an
 * idle lane after its last progress row, for a window finalised meanwhile from the lane's
 * provisional partial, is in the window's latest result (revision 'lane_late', one however
 * many finalisers race).
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Registry } from 'prom-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createFinaliser, type Finaliser } from '../../../src/cluster/finaliser.js';
import { progressRows } from '../../../src/cluster/progress.js';
import type { LaneProgressRow, PartialRow, WindowKey } from '../../../src/cluster/types.js';
import { validateConfig } from '../../../src/config/index.js';
import type { DriftdConfig, ModelConfig } from '../../../src/config/types.js';
import { createMetrics } from '../../../src/export/metrics.js';
import { createPipeline, type Pipeline } from '../../../src/ingest/pipeline.js';
import { createLogger } from '../../../src/logger.js';
import { createStore } from '../../../src/store/index.js';
import type { Store } from '../../../src/store/types.js';
import type { BaselineProfile, WindowBounds, WindowResult } from '../../../src/types.js';
import { evaluateWindow, type WindowState } from '../../../src/window/index.js';
import { createWindowState } from '../../../src/window/state.js';
import { expectNear } from '../../helpers/near.js';
import { makeBaseline, makeEvents, makeRows, manualClock } from '../../unit/window/fixtures.js';

const SIZE = 300_000;
/** Wall clock of the test (the finalisers' and the rows'), a window grid point. */
const NOW = Date.UTC(2026, 11, 7, 12);
/**
 * Partitions of the predictions topic: no instance has an HTTP lane in the set, so none is
 * preferred and both finalisers take every ready window at once (the race made certain).
 */
const LANES = ['predictions/0', 'predictions/1', 'predictions/2'];

let dir: string;
let store: Store;
let config: DriftdConfig;
let model: ModelConfig;
let baseline: BaselineProfile;
const logger = createLogger('silent');
/**
 * Each instance's wall clock, a few ms apart: two instances' results of one window differ in
 * when they were closed, so only the token (not identical blocks) makes the store keep one.
 */
const clockOf = (instanceId: string) => ({ now: () => NOW + (instanceId.charCodeAt(0) % 7) });

function pipelineOf(instanceId: string, clock = clockOf(instanceId)): Pipeline {
  return createPipeline({
    config,
    store,
    metrics: createMetrics(new Registry(), { version: 't' }),
    logger,
    clock,
    cluster: { instanceId },
  });
}

function finaliserOf(
  p: Pipeline,
  s: Parameters<typeof createFinaliser>[0]['store'] = store,
  clock = clockOf(p.cluster!.instanceId),
): Finaliser {
  return createFinaliser({
    store: s,
    engine: p.cluster!,
    models: new Map([[model.id, model]]),
    baselineById: (id) => p.baselineById(id),
    refreshBaselines: () => p.refreshBaselines(),
    kafkaLanes: () => LANES,
    metrics: createMetrics(new Registry(), { version: 't' }),
    logger,
    clock,
    intervalMs: 60_000,
    laneTimeoutMs: 600_000,
  });
}

function key(start: number): WindowKey {
  return { model: model.id, version: '3', sizeLabel: '5m', size: SIZE, start, end: start + SIZE };
}

/** One window's events split over the lanes by index: each lane's state, and one with all. */
function statesOf(
  w: WindowKey,
  n: number,
  seed: number,
): { whole: WindowState; parts: WindowState[] } {
  const bounds: WindowBounds = { ...w };
  const rows = makeRows(n, seed, { income: 0.3, euShare: 0.6 });
  const events = makeEvents(model, '3', rows, (i) => w.start + ((i * 7919) % SIZE));
  const whole = createWindowState({ bounds, model, baseline });
  const parts = LANES.map(() => createWindowState({ bounds, model, baseline }));
  events.forEach((e, i) => {
    whole.record(e);
    parts[(i * 31) % 3]!.record(e);
  });
  return { whole, parts };
}

async function writePartials(w: WindowKey, parts: WindowState[]): Promise<void> {
  const rows: PartialRow[] = parts.map((s, i) => ({
    ...w,
    lane: LANES[i]!,
    final: true,
    position: String(i + 1),
    baselineId: baseline.id,
    events: s.count,
    state: JSON.stringify(s.snapshot()),
    instance: 'writer',
    writtenAt: NOW - 3000,
  }));
  await store.insertPartials(rows);
}

let seq = 0;
async function writeProgress(watermarks: ReadonlyArray<number | null>): Promise<void> {
  seq++;
  const rows: LaneProgressRow[] = LANES.map((lane, i) => ({
    lane,
    model: model.id,
    version: '3',
    watermark: watermarks[i] ?? null,
    idle: false,
    retired: false,
    position: String(i + 1),
    seq,
    instance: 'writer',
    writtenAt: NOW - 1000,
  }));
  await store.insertLaneProgress(rows);
}

async function revisions(w: WindowKey): Promise<WindowResult[]> {
  const h = await store.windowHistory({
    model: w.model,
    window: w.sizeLabel,
    start: w.start,
    version: w.version,
  });
  return h.results.filter((r) => !r.segment);
}

async function finalisationsOf(w: WindowKey) {
  return (await store.finalisations(0, 10_000)).filter(
    (f) => f.start === w.start && f.sizeLabel === w.sizeLabel,
  );
}

/** What the tests compare of a result: everything evaluated, nothing of when or by whom. */
function evaluated(r: WindowResult) {
  return {
    eventCount: r.eventCount,
    lateCount: r.lateCount,
    driftShare: r.driftShare,
    datasetDrift: r.datasetDrift,
    // The store reads features back by name.
    features: [...r.features].sort((a, b) => (a.feature < b.feature ? -1 : 1)),
    prediction: r.prediction,
    baselineId: r.baselineId,
  };
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'driftd-finaliser-'));
  config = validateConfig({
    dataDir: join(dir, 'data'),
    store: { embedded: { path: join(dir, 'store') } },
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
        windows: { sizes: ['5m'], allowedLateness: '1m', idleTimeout: '2m' },
      },
    ],
  });
  model = config.models[0]!;
  store = createStore(config.store, { logger });
  await store.migrate();
  baseline = makeBaseline(model, '3');
  await store.saveBaseline(baseline);
}, 60_000);

afterAll(async () => {
  await store?.close();
  await rm(dir, { recursive: true, force: true });
});

describe('finaliser on the embedded ClickHouse store', () => {
  it("merges three lanes' partials into the result one instance computes, once every lane passed", async () => {
    const p = pipelineOf('a');
    await p.start();
    const f = finaliserOf(p);
    const w = key(NOW - 20 * SIZE);
    const { whole, parts } = statesOf(w, 900, 11);
    await writePartials(w, parts);
    // One lane one millisecond short of the window's end: it holds the window.
    await writeProgress([w.end, w.end + SIZE, w.end - 1]);
    expect((await f.runOnce()).finalised).toEqual([]);
    expect(await revisions(w)).toHaveLength(0);
    await writeProgress([w.end, w.end + SIZE, w.end]);
    expect((await f.runOnce()).finalised).toEqual([w]);

    const stored = await revisions(w);
    expect(stored).toHaveLength(1);
    const single = evaluateWindow(
      { bounds: { ...w }, state: whole, baseline, reason: 'watermark', closedAt: NOW },
      baseline,
      model,
    );
    expect(stored[0]!.eventCount).toBe(900);
    expectNear(evaluated(stored[0]!), evaluated(single));
    const verdicts = (r: WindowResult) => evaluated(r).features.map((x) => [x.feature, x.drifted]);
    expect(verdicts(stored[0]!)).toEqual(verdicts(single));
    const fin = await finalisationsOf(w);
    expect(fin).toHaveLength(1);
    expect(fin[0]).toMatchObject({ lanes: LANES, events: 900, instance: 'a' });
    expect(await store.pendingWindows(10)).not.toContainEqual(w);
  }, 60_000);

  it('two finalisers racing on one store leave one revision and one finalisation row per window', async () => {
    const a = pipelineOf('a');
    const b = pipelineOf('b');
    await a.start();
    await b.start();
    const fa = finaliserOf(a);
    // b reads the window as pending, then writes only after a has finalised it: the race made
    // certain (the rounds after it run both at once, as two instances do).
    let aDone: () => void = () => {};
    const gate = { wait: Promise.resolve() };
    const racing = Object.create(store) as Store;
    let bMerges = 0;
    racing.partialsOf = async (w) => {
      bMerges++;
      await gate.wait;
      return store.partialsOf(w);
    };
    const fb = finaliserOf(b, racing);
    const windows: WindowKey[] = [];
    for (let round = 0; round < 4; round++) {
      const w = key(NOW - (10 - round) * SIZE);
      windows.push(w);
      await writePartials(w, statesOf(w, 150, 100 + round).parts);
      await writeProgress([w.end, w.end, w.end]);
      if (round === 0) {
        gate.wait = new Promise<void>((done) => {
          aDone = done;
        });
        const rb = fb.runOnce();
        // Let b read the pending window first.
        await new Promise((r) => setTimeout(r, 200));
        await fa.runOnce();
        aDone();
        const report = await rb;
        gate.wait = Promise.resolve();
        // b did write the window (its INSERTs carried the token a's had).
        expect(bMerges).toBe(1);
        expect(report.finalised).toEqual([w]);
      } else {
        await Promise.all([fa.runOnce(), fb.runOnce()]);
      }
    }
    for (const w of windows) {
      expect(await revisions(w), `revisions of ${w.start}`).toHaveLength(1);
      expect(await finalisationsOf(w), `finalisations of ${w.start}`).toHaveLength(1);
    }
  }, 120_000);

  it("an event reaching an idle lane after its last progress row, for a window finalised meanwhile from the lane's provisional partial, is in the latest result: one 'lane_late' revision however many finalisers race", async () => {
    const clock = manualClock(NOW);
    const a = pipelineOf('a', clock);
    const b = pipelineOf('b', clock);
    await a.start();
    await b.start();
    const fa = finaliserOf(a, store, clock);
    // b merges only after a has (the race made certain, as in the test above).
    let release: () => void = () => {};
    let gate = Promise.resolve();
    const racing = Object.create(store) as Store;
    racing.partialsOf = async (w) => {
      await gate;
      return store.partialsOf(w);
    };
    const fb = finaliserOf(b, racing, clock);
    const w = key(NOW - 5 * SIZE);
    // Lanes 0 and 1 (another instance's) passed the window: their final partials.
    const { parts } = statesOf(w, 600, 21);
    await store.insertPartials(
      [0, 1].map((i) => ({
        ...w,
        lane: LANES[i]!,
        final: true,
        position: '1',
        baselineId: baseline.id,
        events: parts[i]!.count,
        state: JSON.stringify(parts[i]!.snapshot()),
        instance: 'writer',
        writtenAt: NOW - 3000,
      })),
    );
    seq++;
    await store.insertLaneProgress(
      [0, 1].map((i) => ({
        lane: LANES[i]!,
        model: model.id,
        version: '3',
        watermark: w.end,
        idle: false,
        retired: false,
        position: '1',
        seq,
        instance: 'writer',
        writtenAt: NOW - 1000,
      })),
    );
    // Lane 2 is a's: 40 events early in the window, then quiet for the idle timeout: its
    // provisional partial, and a progress row saying it is idle.
    const lane = LANES[2]!;
    a.cluster!.lanes.open(lane);
    const events = makeEvents(model, '3', makeRows(41, 77, {}), (i) => w.start + 1000 * (i + 1));
    const sourced = events.map((event, i) => ({
      event: { ...event, id: `late-lane-${i}` },
      source: { kind: 'kafka' as const, topic: 'predictions', partition: 2, offset: String(i) },
    }));
    a.record(sourced.slice(0, 40));
    await a.settle();
    clock.advance(120_000);
    await a.tick();
    await a.settle();
    seq++;
    const rows = progressRows(lane, a.cluster!.lanes.progress(lane), {
      position: '40',
      seq,
      instance: 'a',
      now: clock.now(),
    });
    expect(rows.map((r) => [r.version, r.idle])).toEqual([
      ['3', true],
      ['', true],
    ]);
    await store.insertLaneProgress(rows);
    // b finalises the window from lane 2's provisional partial.
    expect((await fb.runOnce()).finalised).toEqual([w]);
    const first = parts[0]!.count + parts[1]!.count + 40;
    expect((await revisions(w)).map((r) => r.eventCount)).toEqual([first]);
    // Meanwhile lane 2 receives one more event of the window (not late for the lane), then
    // a learns of the finalisation (its lanes close the window) and its lane writes it.
    clock.advance(1000);
    a.record(sourced.slice(40));
    await a.settle();
    expect((await fa.runOnce()).revised).toEqual([]);
    await a.tick();
    await a.settle();
    // Both finalisers revise it at once: one revision is kept.
    gate = new Promise<void>((done) => {
      release = done;
    });
    const rb = fb.runOnce();
    await new Promise((r) => setTimeout(r, 200));
    const ra = await fa.runOnce();
    release();
    const rbDone = await rb;
    expect(ra.revised).toEqual([w]);
    expect(rbDone.revised).toEqual([w]);
    const stored = await revisions(w);
    expect(stored.map((r) => [r.eventCount, r.revisionReason])).toEqual([
      [first, 'close'],
      [first + 1, 'lane_late'],
    ]);
    // The latest table (what the API and the gauges read) holds the revision.
    const shown = (
      await store.queryDrift({ model: model.id, from: w.start, to: w.end, window: '5m' })
    ).filter((r) => r.start === w.start && !r.segment);
    expect(shown.map((r) => [r.eventCount, r.revisionReason])).toEqual([[first + 1, 'lane_late']]);
    expect(await store.revisableWindows(0, 100)).toEqual([]);
    // Settled: nothing more to revise.
    expect((await fa.runOnce()).revised).toEqual([]);
    expect((await revisions(w)).length).toBe(2);
  }, 120_000);
});
