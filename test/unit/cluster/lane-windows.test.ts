/**
 * Cluster mode's per-lane windows (src/cluster/lane-windows.ts) through the engine's way in
 * (src/ingest/stream-intake.ts): events routed to their lane's managers, whose closed windows,
 * merged by addition, are what one instance counting every lane computes; closeThrough;
 * progress rows; the partial writer's rows.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { createLaneWindows, type LaneRegistry } from '../../../src/cluster/lane-windows.js';
import { createPartialWriter } from '../../../src/cluster/partial-writer.js';
import { progressRows } from '../../../src/cluster/progress.js';
import type { PartialRow } from '../../../src/cluster/types.js';
import { createLiveConfig } from '../../../src/config/live.js';
import type { DriftdConfig, ModelConfig } from '../../../src/config/types.js';
import { createMetrics, type Metrics } from '../../../src/export/metrics.js';
import type { BaselineCache } from '../../../src/ingest/baselines.js';
import { createQuarantine } from '../../../src/ingest/quarantine.js';
import type { ResultWriter } from '../../../src/ingest/result-writer.js';
import type { RowSink, SourcedEvent } from '../../../src/ingest/source.js';
import { createSerial, createStoreWrites } from '../../../src/ingest/store-writes.js';
import { createStreamIntake } from '../../../src/ingest/stream-intake.js';
import { createWindowRegistry, type WindowRegistry } from '../../../src/ingest/window-registry.js';
import { createLogger } from '../../../src/logger.js';
import type { StoredEvent } from '../../../src/store/types.js';
import type { BaselineProfile, EventSource } from '../../../src/types.js';
import {
  type ClosedWindow,
  createWindowState,
  evaluateSegments,
  evaluateWindow,
} from '../../../src/window/index.js';
import { testModel } from '../../helpers/model.js';
import { makeBaseline, makeEvents, makeRows, manualClock, rng } from '../window/fixtures.js';

const model: ModelConfig = testModel({
  windows: {
    sizes: [
      { label: '5m', ms: 300_000 },
      { label: '15m', ms: 900_000 },
    ],
    allowedLatenessMs: 60_000,
    idleTimeoutMs: 120_000,
  },
  segments: { fields: ['region'], maxPerField: 2 },
});
const baseline = makeBaseline(model, '3', 4000);
const config = { models: [model] } as unknown as DriftdConfig;
const logger = createLogger('silent');
const PARTITIONS = 3;

function baselineCache(b: BaselineProfile): BaselineCache {
  return {
    refresh: async () => {},
    refreshSoon() {},
    refreshIfOlder: async () => {},
    baselineFor: (_m, version) => (version === b.version ? b : undefined),
    has: () => true,
    byId: (id) => (id === b.id ? b : undefined),
    forgetGauges() {},
    reportGauges() {},
  };
}

/** A result writer that only collects what is queued (the engine's closed windows). */
function collector(): ResultWriter & { all: ClosedWindow[] } {
  const all: ClosedWindow[] = [];
  return {
    all,
    queue(closed) {
      for (const c of closed) all.push(c);
    },
    queued: [],
    due: () => false,
    write: async () => [],
    writeLogged: async () => {},
  };
}

const nowhere: RowSink = { add() {} };

function engine(cluster: boolean, metrics: Metrics) {
  const clock = manualClock(5_000_000);
  const live = createLiveConfig(config);
  const baselines = baselineCache(baseline);
  const l: LaneRegistry | undefined = !cluster
    ? undefined
    : createLaneWindows({ instanceId: 'a', live, clock, metrics, baselines, logger });
  const windows: WindowRegistry = l ?? createWindowRegistry({ live, clock, metrics, baselines });
  const results = collector();
  const intake = createStreamIntake({
    clock,
    metrics,
    logger,
    windows,
    baselines,
    raw: {} as never,
    results,
    gate: (c) => c.slice(),
    countEvent: () => {},
    lanes: l,
  });
  return { clock, windows, lanes: l, results, intake };
}

/**
 * Events of 3 partitions, each partition's in its own (mostly increasing) time order with some
 * late ones, interleaved at random; region drifts in the second half.
 */
function stream(n: number, seed: number): SourcedEvent[] {
  const r = rng(seed);
  const rows = makeRows(n, seed, {});
  const drift = makeRows(n, seed + 1, { euShare: 0.9, income: 1 });
  const t0 = 1_700_000_000_000 - (1_700_000_000_000 % 900_000);
  const clocks = Array.from({ length: PARTITIONS }, () => t0);
  const offsets = Array.from({ length: PARTITIONS }, () => 0);
  const out: SourcedEvent[] = [];
  const events = makeEvents(model, '3', rows, () => 0);
  const drifted = makeEvents(model, '3', drift, () => 0);
  for (let i = 0; i < n; i++) {
    const p = Math.floor(r() * PARTITIONS);
    clocks[p]! += Math.floor(r() * 6_000);
    // 3 % of the events are up to 4 minutes behind their partition (some of them late).
    const ts = r() < 0.03 ? clocks[p]! - Math.floor(r() * 240_000) : clocks[p]!;
    const e = { ...(i < n / 2 ? events[i]! : drifted[i]!), id: `e-${i}`, ts };
    const source: EventSource = {
      kind: 'kafka',
      topic: 'preds',
      partition: p,
      offset: String(offsets[p]!++),
    };
    out.push({ event: e, source });
  }
  return out;
}

const keyOf = (c: ClosedWindow) => `${c.bounds.version}|${c.bounds.sizeLabel}|${c.bounds.start}`;

/** What a window's evaluation shows, without when and why it was closed. */
function shown(c: Pick<ClosedWindow, 'state'>) {
  const strip = (r: object) => {
    const {
      closedAt: _a,
      provisional: _p,
      revisionReason: _r,
      ...rest
    } = r as Record<string, unknown>;
    return rest;
  };
  const w = { state: c.state, closedAt: 0 };
  return {
    result: strip(evaluateWindow(w, baseline, model)),
    segments: evaluateSegments(w, model).map(strip),
  };
}

/**
 * Where two values differ: integers exactly, other numbers beyond a relative 1e-9 (a float sum
 * depends on the order of its terms: the lanes' sums add up in another order than one stream's).
 */
function differences(a: unknown, b: unknown, path = ''): string[] {
  if (typeof a === 'number' && typeof b === 'number') {
    if (Number.isInteger(a) && Number.isInteger(b)) return a === b ? [] : [`${path}: ${a} ≠ ${b}`];
    const scale = Math.max(Math.abs(a), Math.abs(b), 1e-300);
    return Math.abs(a - b) / scale <= 1e-9 || (Number.isNaN(a) && Number.isNaN(b))
      ? []
      : [`${path}: ${a} ≠ ${b}`];
  }
  if (typeof a !== 'object' || a === null || typeof b !== 'object' || b === null)
    return Object.is(a, b) ? [] : [`${path}: ${String(a)} ≠ ${String(b)}`];
  if (Array.isArray(a) !== Array.isArray(b)) return [`${path}: array vs object`];
  const keys = new Set([...Object.keys(a), ...Object.keys(b)]);
  const out: string[] = [];
  for (const k of keys) {
    out.push(
      ...differences(
        (a as Record<string, unknown>)[k],
        (b as Record<string, unknown>)[k],
        `${path}.${k}`,
      ),
    );
  }
  return out;
}

function mergeByWindow(closed: readonly ClosedWindow[]): Map<string, ClosedWindow> {
  const out = new Map<string, ClosedWindow>();
  for (const c of closed) {
    const k = keyOf(c);
    let m = out.get(k);
    if (m === undefined) {
      m = {
        ...c,
        state: createWindowState({ bounds: c.bounds, model, baseline: c.baseline }),
      };
      out.set(k, m);
    }
    m.state.merge(c.state);
  }
  return out;
}

describe('lane windows', () => {
  const metrics = () => createMetrics(new Registry(), { version: 'test' });

  it('merged lane windows equal one manager counting every lane (counts, sketches, segments, late, verdicts)', () => {
    const events = stream(12_000, 11);
    const single = engine(false, metrics());
    for (const m of single.windows.managers.values())
      m.addLanes(Array.from({ length: PARTITIONS }, (_, p) => `preds/${p}`));
    const cluster = engine(true, metrics());
    for (let p = 0; p < PARTITIONS; p++) cluster.lanes!.open(`preds/${p}`);
    // The same per-partition sequences, delivered in batches as the consumer would.
    for (let i = 0; i < events.length; i += 500) {
      const batch = events.slice(i, i + 500);
      single.intake.record(
        batch.map((e) => ({ event: { ...e.event }, source: e.source })),
        { rows: nowhere },
      );
      cluster.intake.record(
        batch.map((e) => ({ event: { ...e.event }, source: e.source })),
        { rows: nowhere },
      );
    }
    single.results.queue(single.windows.flushAll());
    cluster.results.queue(cluster.windows.flushAll());

    const want = new Map(single.results.all.map((c) => [keyOf(c), c]));
    // Every lane window says which lane it is.
    expect(new Set(cluster.results.all.map((c) => c.lane))).toEqual(
      new Set(['preds/0', 'preds/1', 'preds/2']),
    );
    const got = mergeByWindow(cluster.results.all);
    expect([...got.keys()].sort()).toEqual([...want.keys()].sort());
    let late = 0;
    for (const [k, w] of want) {
      const g = got.get(k)!;
      expect(g.state.count, k).toBe(w.state.count);
      expect(g.state.lateCount, k).toBe(w.state.lateCount);
      late += w.state.lateCount;
      const { offsets: _o1, ...gs } = g.state.snapshot();
      const { offsets: _o2, ...ws } = w.state.snapshot();
      expect(differences(gs, ws), k).toEqual([]);
      expect(differences(shown(g), shown(w)), k).toEqual([]);
    }
    // The stream has late events, and they are counted the same.
    expect(late).toBeGreaterThan(0);
    expect([...want.values()].some((w) => shown(w).result.driftShare !== 0)).toBe(true);
  });

  it('an event routed to the wrong lane changes the merged windows (the test sees routing)', () => {
    const events = stream(3000, 5);
    const a = engine(true, metrics());
    const b = engine(true, metrics());
    for (let p = 0; p < PARTITIONS; p++) {
      a.lanes!.open(`preds/${p}`);
      b.lanes!.open(`preds/${p}`);
    }
    a.intake.record(events, { rows: nowhere });
    // Partition 0's and 1's events swapped lanes: lateness is judged against the wrong lane.
    b.intake.record(
      events.map((e) =>
        e.source.kind === 'kafka' && e.source.partition < 2
          ? { ...e, source: { ...e.source, partition: 1 - e.source.partition } }
          : e,
      ),
      { rows: nowhere },
    );
    const late = (x: ReturnType<typeof engine>) =>
      [...x.lanes!.ids()].map((l) =>
        x
          .lanes!.registry(l)!
          .get(model.id)!
          .lateTotals()
          .map((t) => t.late),
      );
    expect(late(a)).not.toEqual(late(b));
  });

  it('refuses an event of a Kafka lane it does not hold; opens the HTTP lane on first use and stamps its rows', () => {
    const c = engine(true, metrics());
    const [e] = stream(1, 3);
    expect(() => c.intake.record([e!], { rows: nowhere })).toThrow(/preds\/\d is not held/);
    const rows: StoredEvent[] = [];
    c.intake.record([{ event: { ...e!.event }, source: { kind: 'http' } }], {
      rows: { add: (r) => rows.push(r) },
    });
    expect(c.lanes!.ids()).toEqual(['http:a']);
    expect(rows[0]!.lane).toBe('http:a');
  });

  it('lane-level idleness follows every delivery, also of a source object reused across requests', () => {
    const c = engine(true, metrics());
    const http: EventSource = { kind: 'http' };
    const [e] = stream(2, 8);
    c.intake.record([{ event: { ...e!.event }, source: http }], { rows: nowhere });
    c.clock.advance(100_000);
    c.intake.record([{ event: { ...e!.event, id: 'again' }, source: http }], { rows: nowhere });
    c.clock.advance(100_000);
    // 100 s since the last delivery: below the 120 s idle timeout.
    expect(c.lanes!.progress('http:a').at(-1)!.idle).toBe(false);
    c.clock.advance(20_000);
    expect(c.lanes!.progress('http:a').at(-1)!.idle).toBe(true);
  });

  it('a Kafka lane opened or restored holds windows back until the idle timeout, as one instance holds an announced partition; an HTTP lane that never delivered does not', () => {
    const c = engine(true, metrics());
    const lanes = c.lanes!;
    lanes.open('preds/0');
    lanes.restore('preds/2', {});
    lanes.open('http:b');
    const idle = (lane: string) => lanes.progress(lane).at(-1)!.idle;
    // Its owner has not fetched yet: messages may be waiting (a lag read earlier says nothing
    // of them), so it must not let windows be finalised without it.
    expect([idle('preds/0'), idle('preds/2'), idle('http:b')]).toEqual([false, false, true]);
    c.clock.advance(119_000);
    expect([idle('preds/0'), idle('preds/2')]).toEqual([false, false]);
    c.clock.advance(1_000);
    expect([idle('preds/0'), idle('preds/2')]).toEqual([true, true]);
  });

  it('closeThrough closes the open windows it covers (final partials of those with events) and makes later events for them late', () => {
    const c = engine(true, metrics());
    c.lanes!.open('preds/0');
    const t0 = 1_700_000_100_000 - (1_700_000_100_000 % 900_000);
    const ev = (i: number, ts: number): SourcedEvent => ({
      event: { ...makeEvents(model, '3', makeRows(1, i), () => ts)[0]!, id: `c-${i}` },
      source: { kind: 'kafka', topic: 'preds', partition: 0, offset: String(i) },
    });
    c.intake.record([ev(0, t0 + 1000), ev(1, t0 + 2000)], { rows: nowhere });
    expect(c.windows.openWindows()).toBe(2); // 5m and 15m
    c.lanes!.closeThrough(model.id, '3', '5m', t0 + 300_000);
    expect(c.windows.openWindows()).toBe(1);
    // The closed window is the lane's final partial ('flush'): its events reach the store
    // even if they go beyond the provisional copy the window was finalised from.
    const closed = c.windows.drain();
    expect(closed.map((w) => [w.bounds.sizeLabel, w.reason, w.state.count, w.lane])).toEqual([
      ['5m', 'flush', 2, 'preds/0'],
    ]);
    const rows: StoredEvent[] = [];
    c.intake.record([ev(2, t0 + 3000)], { rows: { add: (r) => rows.push(r) } });
    expect(rows[0]!.late).toBe(true);
    expect(c.results.all.filter((w) => w.bounds.sizeLabel === '5m')).toEqual([]);
    expect(c.windows.flushAll().map((w) => w.bounds.sizeLabel)).toEqual(['15m']);
    // A version the lane has not seen yet starts closed through the mark too.
    c.lanes!.closeThrough(model.id, '4', '5m', t0 + 300_000);
    const snap = c.lanes!.snapshot('preds/0')[model.id]!;
    expect(snap.streams.find((s) => s.version === '3')!.sizes[0]!.closedThrough).toBe(t0 + 300_000);
  });

  it('a lane opened or restored after a finalisation is closed through it too', () => {
    const c = engine(true, metrics());
    const t0 = 1_700_000_100_000 - (1_700_000_100_000 % 900_000);
    const ev = (p: number, i: number, ts: number): SourcedEvent => ({
      event: { ...makeEvents(model, '3', makeRows(1, i), () => ts)[0]!, id: `n-${p}-${i}` },
      source: { kind: 'kafka', topic: 'preds', partition: p, offset: String(i) },
    });
    c.lanes!.open('preds/0');
    c.intake.record([ev(0, 0, t0 + 1000)], { rows: nowhere });
    const before = c.lanes!.snapshot('preds/0');
    c.lanes!.closeThrough(model.id, '3', '5m', t0 + 300_000);
    // A partition assigned afterwards, and one restored from a cut taken before the mark.
    c.lanes!.open('preds/1');
    c.lanes!.restore('preds/0', before);
    const rows: StoredEvent[] = [];
    c.intake.record([ev(1, 1, t0 + 2000), ev(0, 2, t0 + 3000)], {
      rows: { add: (r) => rows.push(r) },
    });
    expect(rows.map((r) => r.late)).toEqual([true, true]);
    expect(c.windows.flushAll().map((w) => w.bounds.sizeLabel)).toEqual(['15m', '15m']);
  });

  it('progress: per version and lane-level rows; quiet only once the provisional copies are queued; held back by unwritten partials', () => {
    const c = engine(true, metrics());
    const lanes = c.lanes!;
    lanes.open('preds/1');
    // Never delivered: no watermark, and not idle before the idle timeout (a Kafka lane).
    expect(lanes.progress('preds/1')).toEqual([
      { model: '', version: '', watermark: null, idle: false },
    ]);
    const t0 = 1_700_000_100_000 - (1_700_000_100_000 % 900_000);
    const events = makeEvents(model, '3', makeRows(3, 2), (i) => t0 + i * 400_000).map(
      (event, i): SourcedEvent => ({
        event,
        source: { kind: 'kafka', topic: 'preds', partition: 1, offset: String(i) },
      }),
    );
    c.intake.record(events, { rows: nowhere });
    const wm = t0 + 800_000 - 60_000;
    expect(lanes.progress('preds/1')).toEqual([
      { model: model.id, version: '3', watermark: wm, idle: false },
      { model: '', version: '', watermark: wm, idle: false },
    ]);
    // A window closed and not stored yet holds its version below the window's end.
    const unwritten = c.results.all.filter((w) => w.lane === 'preds/1');
    expect(unwritten.length).toBeGreaterThan(0);
    lanes.pendingFrom(() => unwritten);
    const firstEnd = Math.min(...unwritten.map((w) => w.bounds.end));
    expect(lanes.progress('preds/1')[0]!.watermark).toBe(firstEnd - 1);
    lanes.pendingFrom(() => []);
    // Quiet for the idle timeout: not idle until tick queued the provisional copies.
    c.clock.advance(120_000);
    expect(lanes.progress('preds/1').map((p) => p.idle)).toEqual([false, true]);
    const provisional = c.windows.tick();
    expect(provisional.length).toBeGreaterThan(0);
    expect(provisional.every((w) => w.reason === 'idle' && w.lane === 'preds/1')).toBe(true);
    expect(lanes.progress('preds/1').map((p) => p.idle)).toEqual([true, true]);

    const rows = progressRows('preds/1', lanes.progress('preds/1'), {
      position: '3',
      seq: 7,
      instance: 'a',
      now: 42,
    });
    expect(rows).toEqual([
      {
        lane: 'preds/1',
        model: model.id,
        version: '3',
        watermark: wm,
        idle: true,
        retired: false,
        position: '3',
        seq: 7,
        instance: 'a',
        writtenAt: 42,
      },
      {
        lane: 'preds/1',
        model: '',
        version: '',
        watermark: wm,
        idle: true,
        retired: false,
        position: '3',
        seq: 7,
        instance: 'a',
        writtenAt: 42,
      },
    ]);
  });

  it('snapshot/restore/drop: a lane restored from its snapshot holds the same windows', () => {
    const a = engine(true, metrics());
    a.lanes!.open('preds/2');
    const events = stream(2000, 9).map((e) => ({
      ...e,
      source: {
        ...(e.source as { topic: string }),
        kind: 'kafka' as const,
        partition: 2,
        offset: '0',
      },
    }));
    a.intake.record(events, { rows: nowhere });
    const snap = a.lanes!.snapshot('preds/2');
    const b = engine(true, metrics());
    const report = b.lanes!.restore('preds/2', snap);
    expect(report.failed).toEqual([]);
    expect(b.lanes!.snapshot('preds/2')[model.id]!.open).toEqual(snap[model.id]!.open);
    b.lanes!.drop('preds/2');
    expect(b.lanes!.has('preds/2')).toBe(false);
    expect(b.windows.openWindows()).toBe(0);
  });
});

describe('partial writer', () => {
  it('writes a lane window as its final partial, an idle copy as a provisional one', async () => {
    const registry = new Registry();
    const metrics = createMetrics(registry, { version: 'test' });
    const c = engine(true, metrics);
    c.lanes!.open('preds/0');
    const t0 = 1_700_000_100_000 - (1_700_000_100_000 % 900_000);
    const events = makeEvents(model, '3', makeRows(40, 4), (i) =>
      i < 20 ? t0 + i * 1000 : t0 + 360_000 + i * 1000,
    ).map(
      (event, i): SourcedEvent => ({
        event,
        source: { kind: 'kafka', topic: 'preds', partition: 0, offset: String(100 + i) },
      }),
    );
    c.intake.record(events, { rows: nowhere });
    c.clock.advance(120_000);
    const closed = [...c.results.all, ...c.windows.tick()];
    const stored: PartialRow[] = [];
    const quarantine = createQuarantine({
      dir: join(mkdtempSync(join(tmpdir(), 'driftd-partials-')), 'q'),
      counter: metrics.quarantinedTotal,
      logger,
    });
    const writer = createPartialWriter({
      store: { insertPartials: async (rows) => void stored.push(...rows) },
      instanceId: 'a',
      clock: c.clock,
      metrics,
      logger,
      writes: createStoreWrites(metrics, quarantine),
      serial: createSerial(),
      httpPosition: () => 0,
    });
    await writer.write(closed);
    expect(writer.queued).toHaveLength(0);
    const final = stored.filter((r) => r.final);
    const provisional = stored.filter((r) => !r.final);
    // The first 5m window closed by the watermark; the open ones copied by the idle tick.
    expect(final.map((r) => [r.sizeLabel, r.start, r.events])).toEqual([['5m', t0, 20]]);
    expect(provisional.map((r) => r.sizeLabel).sort()).toEqual(['15m', '5m']);
    for (const r of stored) {
      expect(r.lane).toBe('preds/0');
      expect(r.instance).toBe('a');
      expect(r.baselineId).toBe(baseline.id);
      const state = JSON.parse(r.state);
      expect(state.count).toBe(r.events);
    }
    // The lane's position after the window's last event.
    expect(final[0]!.position).toBe('120');
    const text = await registry.metrics();
    expect(text).toContain('driftd_cluster_partials_written_total{kind="final"} 1');
    expect(text).toContain('driftd_cluster_partials_written_total{kind="provisional"} 2');
  });

  it('a failed write keeps the windows queued for the next one', async () => {
    const metrics = createMetrics(new Registry(), { version: 'test' });
    const c = engine(true, metrics);
    c.lanes!.open('preds/0');
    const events = makeEvents(model, '3', makeRows(5, 4), (i) => 1_700_000_000_000 + i).map(
      (event, i): SourcedEvent => ({
        event,
        source: { kind: 'kafka', topic: 'preds', partition: 0, offset: String(i) },
      }),
    );
    c.intake.record(events, { rows: nowhere });
    const closed = c.windows.flushAll();
    let fail = true;
    const stored: PartialRow[] = [];
    const { StoreError } = await import('../../../src/errors.js');
    const writer = createPartialWriter({
      store: {
        insertPartials: async (rows) => {
          if (fail) throw new StoreError('down', { retriable: true });
          stored.push(...rows);
        },
      },
      instanceId: 'a',
      clock: c.clock,
      metrics,
      logger,
      writes: createStoreWrites(metrics, { put() {} } as never),
      serial: createSerial(),
      httpPosition: () => 0,
    });
    await expect(writer.write(closed)).rejects.toThrow('down');
    expect(writer.queued).toHaveLength(closed.length);
    fail = false;
    await writer.write([]);
    expect(stored).toHaveLength(closed.length);
    expect(writer.queued).toHaveLength(0);
  });
});
