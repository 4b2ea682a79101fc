import { describe, expect, it } from 'vitest';
import type { ModelConfig } from '../../../src/config/types.js';
import { BaselineError, LifecycleError } from '../../../src/errors.js';
import type { BaselineProfile, PredictionEvent } from '../../../src/types.js';
import {
  type ClosedWindow,
  createWindowManager,
  type WindowManager,
  type WindowStateSnapshot,
  windowKey,
} from '../../../src/window/index.js';
import { testModel } from '../../helpers/model.js';
import {
  type ManualClock,
  makeBaseline,
  makeEvents,
  makeRows,
  manualClock,
  rng,
} from './fixtures.js';

const MIN = 60_000;
const FIVE = 5 * MIN;
const HOUR = 60 * MIN;

const model = testModel();
const twoSizes = testModel({
  windows: {
    sizes: [
      { label: '5m', ms: FIVE },
      { label: '1h', ms: HOUR },
    ],
    allowedLatenessMs: MIN,
    idleTimeoutMs: 2 * MIN,
  },
});
const baseline = makeBaseline(model, '3');

function setup(m: ModelConfig = model, clock: ManualClock = manualClock()) {
  const baselines = new Map<string, BaselineProfile>([['3', baseline]]);
  const manager = createWindowManager({
    model: m,
    baselineFor: (v) => baselines.get(v),
    clock,
  });
  return { manager, clock, baselines };
}

let seq = 0;
function ev(ts: number, version = '3', income = 50_000): PredictionEvent {
  seq++;
  return {
    model: 'credit-risk',
    version,
    id: `e${seq}`,
    ts,
    features: { income, age: 40, region: 'EU' },
    prediction: 0.3,
  };
}

function keyOf(c: ClosedWindow | WindowStateSnapshot): string {
  const b = 'bounds' in c ? c.bounds : (c as WindowStateSnapshot).bounds;
  return windowKey(b);
}

/**
 * Equal window states: every count and every per-bin gap sum exactly (integers: exact in any
 * order); the sketches' float sums (sum, sumSquares) only to rounding, since adding in another
 * order rounds differently.
 */
function expectSameCounts(got: WindowStateSnapshot[], expected: WindowStateSnapshot[]): void {
  const strip = (s: WindowStateSnapshot) => ({
    ...s,
    features: Object.fromEntries(
      Object.entries(s.features).map(([k, f]) => [
        k,
        f.kind === 'numeric' ? { ...f, sum: 0, sumSquares: 0 } : f,
      ]),
    ),
    prediction:
      s.prediction?.kind === 'numeric' ? { ...s.prediction, sum: 0, sumSquares: 0 } : s.prediction,
  });
  expect(got.map(strip)).toEqual(expected.map(strip));
  got.forEach((g, i) => {
    for (const [k, f] of Object.entries(g.features)) {
      const e = expected[i]!.features[k]!;
      if (f.kind === 'numeric' && e.kind === 'numeric') {
        expect(f.sum).toBeCloseTo(e.sum, 3);
        expect(f.sumSquares / e.sumSquares).toBeCloseTo(1, 12);
        expect(f.gaps).toBeDefined();
      }
    }
  });
}

function summary(closed: ClosedWindow[]) {
  return closed.map((c) => ({
    window: `${c.bounds.sizeLabel}@${c.bounds.start}`,
    count: c.state.count,
    late: c.state.lateCount,
    reason: c.reason,
  }));
}

describe('window manager: assignment and watermark', () => {
  it('aligns windows to the epoch and puts an event at exactly `end` in the next window', () => {
    const { manager } = setup();
    expect(manager.record(ev(0))).toEqual({ status: 'accepted' });
    expect(manager.record(ev(FIVE - 1))).toEqual({ status: 'accepted' });
    expect(manager.record(ev(FIVE))).toEqual({ status: 'accepted' });
    const open = manager.openWindows();
    expect(open.map((b) => [b.start, b.end])).toEqual([
      [0, FIVE],
      [FIVE, 2 * FIVE],
    ]);
    expect(open[0]).toMatchObject({
      model: 'credit-risk',
      version: '3',
      size: FIVE,
      sizeLabel: '5m',
    });
    const closed = manager.flushAll();
    expect(summary(closed)).toEqual([
      { window: `5m@0`, count: 2, late: 0, reason: 'flush' },
      { window: `5m@${FIVE}`, count: 1, late: 0, reason: 'flush' },
    ]);
    expect(closed[0]!.state.minTs).toBe(0);
    expect(closed[0]!.state.maxTs).toBe(FIVE - 1);
  });

  it('aligns negative (pre-1970) event times with floor, not truncation', () => {
    const { manager } = setup();
    manager.record(ev(-1));
    expect(manager.openWindows()[0]).toMatchObject({ start: -FIVE, end: 0 });
  });

  it('closes a window once max event time − allowed lateness reaches its end', () => {
    const { manager } = setup();
    manager.record(ev(10_000));
    manager.record(ev(FIVE + MIN - 1)); // watermark FIVE − 1: still open
    expect(manager.drainClosed()).toEqual([]);
    expect(manager.watermark('3')).toBe(FIVE - 1);
    manager.record(ev(FIVE + MIN)); // watermark = FIVE = end
    const closed = manager.drainClosed();
    expect(summary(closed)).toEqual([{ window: '5m@0', count: 1, late: 0, reason: 'watermark' }]);
    expect(manager.drainClosed()).toEqual([]);
  });

  it('accepts an event within allowed lateness into its still-open window', () => {
    const { manager } = setup();
    manager.record(ev(FIVE + 30_000)); // watermark FIVE − 30 s
    expect(manager.record(ev(FIVE - 1))).toEqual({ status: 'accepted' });
    expect(manager.record(ev(FIVE - 30_000))).toEqual({ status: 'accepted' });
    const closed = manager.flushAll();
    expect(closed[0]!.state.count).toBe(2);
  });

  it('accepts an event behind the watermark while its window is still open', () => {
    const { manager } = setup();
    manager.record(ev(FIVE - 1_000)); // watermark FIVE − 61 s
    expect(manager.record(ev(0))).toEqual({ status: 'accepted' });
  });

  it('counts an event whose window has closed as late, without touching the closed result', () => {
    const { manager } = setup();
    manager.record(ev(1_000));
    manager.record(ev(FIVE + MIN)); // closes [0, 5m)
    const [first] = manager.drainClosed();
    expect(first!.state.count).toBe(1);
    const result = manager.record(ev(FIVE - 1));
    expect(result).toEqual({
      status: 'late',
      late: [{ sizeLabel: '5m', size: FIVE, start: 0, end: FIVE }],
    });
    expect(first!.state.count).toBe(1);
    // A window that never opened but ends before the watermark is closed too.
    manager.record(ev(10 * FIVE));
    expect(manager.record(ev(3 * FIVE)).status).toBe('late');
    expect(manager.lateTotals()).toEqual([{ version: '3', sizeLabel: '5m', late: 2 }]);
    // Late events are attributed to the oldest open window of their size.
    const rest = manager.flushAll();
    expect(summary(rest)).toEqual([
      { window: `5m@${FIVE}`, count: 1, late: 1, reason: 'watermark' },
      { window: `5m@${10 * FIVE}`, count: 1, late: 1, reason: 'flush' },
    ]);
  });

  it('reports no-baseline for a version without a baseline and leaves its watermark alone', () => {
    const { manager, baselines } = setup();
    expect(manager.record(ev(1_000, '4'))).toEqual({ status: 'no-baseline' });
    expect(manager.watermark('4')).toBeNull();
    expect(manager.openWindows()).toEqual([]);
    baselines.set('4', baseline);
    expect(manager.record(ev(1_000, '4'))).toEqual({ status: 'accepted' });
  });

  it('tracks at most versions.maxActive versions: a new one retires the quietest without open windows, else is refused', () => {
    const capped = testModel({ versions: { allow: null, maxActive: 2, baselineFallback: 'none' } });
    const retired: string[] = [];
    const clock = manualClock();
    const manager = createWindowManager({
      model: capped,
      baselineFor: () => baseline,
      clock,
      onRetire: (v) => retired.push(v),
    });
    expect(manager.record(ev(1_000, 'a'))).toEqual({ status: 'accepted' });
    clock.advance(1);
    expect(manager.record(ev(1_000, 'b'))).toEqual({ status: 'accepted' });
    // Both have an open window: a third version is not tracked, not even for a moment.
    expect(manager.record(ev(1_000, 'c'))).toEqual({ status: 'version-limit' });
    expect(manager.openWindows().map((w) => w.version)).toEqual(['a', 'b']);
    // a's window closes (its watermark passes the end): a may now be retired for c.
    manager.record(ev(FIVE + MIN, 'a'));
    manager.record(ev(2 * FIVE + MIN, 'a'));
    expect(manager.drainClosed().map((c) => `${c.bounds.version}@${c.bounds.start}`)).toEqual([
      'a@0',
      `a@${FIVE}`,
    ]);
    expect(manager.record(ev(1_000, 'c'))).toEqual({ status: 'version-limit' }); // a still open at 2·FIVE
    clock.advance(2 * MIN);
    manager.record(ev(1_000, 'b')); // b stays busy
    manager.tick(); // a is idle: its last window closes
    expect(manager.record(ev(3 * FIVE, 'c'))).toEqual({ status: 'accepted' });
    expect(retired).toEqual(['a']);
    // Memory is bounded by the cap whatever producers send.
    for (let i = 0; i < 1_000; i++) manager.record(ev(3 * FIVE, `made-up-${i}`));
    expect(new Set(manager.openWindows().map((w) => w.version))).toEqual(new Set(['b', 'c']));
  });

  it('never reopens a window a retired version closed: its events there are late', () => {
    const capped = testModel({ versions: { allow: null, maxActive: 1, baselineFallback: 'none' } });
    const clock = manualClock();
    const manager = createWindowManager({ model: capped, baselineFor: () => baseline, clock });
    manager.record(ev(1_000, 'a'));
    clock.advance(2 * MIN);
    expect(manager.tick().map((c) => c.bounds.start)).toEqual([0]); // idle close of a@0
    manager.record(ev(2 * FIVE, 'b')); // retires a
    // a comes back (b went quiet and was retired in turn) with an event in its closed window.
    clock.advance(2 * MIN);
    manager.tick();
    expect(manager.record(ev(2_000, 'a'))).toMatchObject({ status: 'late' });
    // The retirement mark survives a restart.
    const restored = createWindowManager({ model: capped, baselineFor: () => baseline, clock });
    restored.restore(JSON.parse(JSON.stringify(manager.snapshot())));
    expect(restored.record(ev(3_000, 'z'))).toMatchObject({ status: 'late' });
  });

  it('keeps one watermark per version', () => {
    const { manager, baselines } = setup();
    baselines.set('4', baseline);
    manager.record(ev(1_000, '3'));
    manager.record(ev(10 * FIVE, '4'));
    expect(manager.drainClosed()).toEqual([]);
    expect(manager.record(ev(2_000, '3'))).toEqual({ status: 'accepted' });
    expect(manager.watermark('3')).toBe(2_000 - MIN);
    expect(manager.watermark('4')).toBe(10 * FIVE - MIN);
  });

  it('runs several window sizes at once, each closing on its own end', () => {
    const { manager } = setup(twoSizes);
    for (let t = 0; t < HOUR + 2 * FIVE; t += MIN) manager.record(ev(t));
    // max = 1h + 9m, watermark 1h + 8m: all twelve 5m windows of the first hour and the 1h
    // window closed; [1h, 1h5m) too.
    const closed = manager.drainClosed();
    const fives = closed.filter((c) => c.bounds.sizeLabel === '5m');
    const hours = closed.filter((c) => c.bounds.sizeLabel === '1h');
    expect(fives).toHaveLength(13);
    expect(fives.every((c) => c.state.count === 5)).toBe(true);
    expect(hours).toHaveLength(1);
    expect(hours[0]!.state.count).toBe(60);
    // Ordered by end, then size: the 5m window ending at 1h comes before the 1h window.
    const order = closed.map((c) => `${c.bounds.sizeLabel}@${c.bounds.end}`);
    expect(order.indexOf(`5m@${HOUR}`)).toBe(order.indexOf(`1h@${HOUR}`) - 1);
  });

  it('reports an event late for a closed 5m window but counts it in the open 1h window', () => {
    const { manager } = setup(twoSizes);
    manager.record(ev(0));
    manager.record(ev(FIVE + MIN)); // closes 5m@0; 1h@0 stays open
    manager.drainClosed();
    const r = manager.record(ev(1_000));
    expect(r).toEqual({
      status: 'late',
      late: [{ sizeLabel: '5m', size: FIVE, start: 0, end: FIVE }],
    });
    const closed = manager.flushAll();
    const hour = closed.find((c) => c.bounds.sizeLabel === '1h')!;
    expect(hour.state.count).toBe(3);
    expect(manager.lateTotals()).toEqual([
      { version: '3', sizeLabel: '5m', late: 1 },
      { version: '3', sizeLabel: '1h', late: 0 },
    ]);
  });

  it('gives the same windows for out-of-order arrival within allowed lateness', () => {
    const r = rng(7);
    const times = Array.from({ length: 2000 }, (_, i) => i * 900);
    const events = makeEvents(model, '3', makeRows(times.length, 11), (i) => times[i]!);
    // Arrival order = event time + a delay below the allowed lateness: every event arrives
    // less than 50 s behind the newest one seen.
    const shuffled = events
      .map((e) => ({ e, key: e.ts + r() * 50_000 }))
      .sort((x, y) => x.key - y.key)
      .map((x) => x.e);
    expect(shuffled).not.toEqual(events);
    const a = setup().manager;
    const b = setup().manager;
    for (const e of events) expect(a.record(e).status).toBe('accepted');
    for (const e of shuffled) expect(b.record(e).status).toBe('accepted');
    const sa = [...a.drainClosed(), ...a.flushAll()].map((c) => c.state.snapshot());
    const sb = [...b.drainClosed(), ...b.flushAll()].map((c) => c.state.snapshot());
    expectSameCounts(sb, sa);
    expect(sa.reduce((n, s) => n + s.count, 0)).toBe(2000);
  });
});

describe('window manager: idle close and flush', () => {
  it('gives a quiet version provisional results after idleTimeoutMs, keeps its windows open, and a pause makes nothing late', () => {
    const { manager, clock } = setup(twoSizes);
    manager.record(ev(1_000));
    manager.record(ev(FIVE + 1_000));
    clock.advance(2 * MIN - 1);
    expect(manager.tick()).toEqual([]);
    clock.advance(1);
    const provisional = manager.tick();
    expect(summary(provisional)).toEqual([
      { window: '5m@0', count: 1, late: 0, reason: 'idle' },
      { window: `5m@${FIVE}`, count: 1, late: 0, reason: 'idle' },
      { window: '1h@0', count: 2, late: 0, reason: 'idle' },
    ]);
    expect(provisional[0]!.closedAt).toBe(clock.now());
    // Once per quiet spell, and the windows stay open.
    expect(manager.tick()).toEqual([]);
    expect(manager.openWindows()).toHaveLength(3);
    // The stream resumes after the pause: on-time events are counted, not late; the results
    // handed out before are copies and do not change.
    expect(manager.record(ev(FIVE + 2_000))).toEqual({ status: 'accepted' });
    expect(manager.record(ev(2_000))).toEqual({ status: 'accepted' }); // 5m@0 ends after lane max − 1m
    expect(summary(provisional)[2]).toMatchObject({ count: 2 });
    // The watermark passes: the final results replace the provisional ones.
    manager.record(ev(2 * FIVE + MIN));
    expect(summary(manager.drainClosed())).toEqual([
      { window: '5m@0', count: 2, late: 0, reason: 'watermark' },
      { window: `5m@${FIVE}`, count: 2, late: 0, reason: 'watermark' },
    ]);
    // Quiet again: a new provisional result of what is still open.
    clock.advance(2 * MIN);
    expect(summary(manager.tick())).toEqual([
      { window: `5m@${2 * FIVE}`, count: 1, late: 0, reason: 'idle' },
      { window: '1h@0', count: 5, late: 0, reason: 'idle' },
    ]);
  });

  it('gives provisional results only to the version that went quiet', () => {
    const { manager, clock, baselines } = setup();
    baselines.set('4', baseline);
    manager.record(ev(1_000, '3'));
    manager.record(ev(1_000, '4'));
    clock.advance(MIN);
    manager.record(ev(2_000, '4'));
    clock.advance(MIN);
    const provisional = manager.tick();
    expect(provisional.map((c) => `${c.bounds.version}:${c.reason}`)).toEqual(['3:idle']);
    expect(manager.openWindows().map((b) => b.version)).toEqual(['3', '4']);
  });

  it('flushAll closes everything; later events for flushed windows are late', () => {
    const { manager } = setup(twoSizes);
    manager.record(ev(1_000));
    const closed = manager.flushAll();
    expect(closed.map((c) => c.reason)).toEqual(['flush', 'flush']);
    expect(manager.flushAll()).toEqual([]);
    expect(manager.record(ev(2_000)).status).toBe('late');
    // Late events with no open window wait for the next window of their size.
    manager.record(ev(HOUR + 1));
    const next = manager.flushAll();
    expect(next.map((c) => c.state.lateCount)).toEqual([1, 1]);
  });
});

describe('window manager: crash recovery and merging', () => {
  function stream(n: number, seed: number): Array<{ e: PredictionEvent; offset: number }> {
    const r = rng(seed);
    const rows = makeRows(n, seed + 1);
    // Mostly increasing times with jitter up to 2 min, so some events are late.
    const events = makeEvents(model, '3', rows, (i) => i * 1_500 + Math.floor(r() * 2 * MIN));
    return events.map((e, i) => ({ e, offset: i }));
  }

  function feed(
    m: WindowManager,
    items: Array<{ e: PredictionEvent; offset: number }>,
    partition = 0,
  ) {
    const statuses: string[] = [];
    for (const { e, offset } of items) {
      const source = {
        kind: 'kafka' as const,
        topic: 'predictions',
        partition,
        offset: String(offset),
      };
      statuses.push(m.record(e, { source }).status);
    }
    return statuses;
  }

  it('snapshot → JSON → restore → continue equals one uninterrupted run', () => {
    const items = stream(3000, 5);
    const whole = setup(twoSizes);
    const statusesWhole = feed(whole.manager, items);
    const expected = [...whole.manager.drainClosed(), ...whole.manager.flushAll()];
    expect(statusesWhole).toContain('late');

    const first = setup(twoSizes);
    const s1 = feed(first.manager, items.slice(0, 1000));
    const beforeCrash = first.manager.drainClosed();
    // Windows closed after the last drain travel in the snapshot's closed queue.
    s1.push(...feed(first.manager, items.slice(1000, 1700)));
    expect(first.manager.snapshot().closed.length).toBeGreaterThan(0);
    const snap = JSON.parse(JSON.stringify(first.manager.snapshot()));
    const second = setup(twoSizes);
    second.manager.restore(snap);
    const s2 = feed(second.manager, items.slice(1700));
    const restored = second.manager.drainClosed();
    // Closed before the crash, written after it: their results say so (revision reason).
    const fromSnapshot = restored.slice(0, snap.closed.length);
    expect(fromSnapshot.map((c) => c.revisionReason)).toEqual(
      fromSnapshot.map((c) => (c.reason === 'idle' ? undefined : 'restart')),
    );
    expect(restored.slice(snap.closed.length).every((c) => c.revisionReason === undefined)).toBe(
      true,
    );
    const got = [...beforeCrash, ...restored, ...second.manager.flushAll()];

    expect([...s1, ...s2]).toEqual(statusesWhole);
    expect(got.map((c) => c.state.snapshot())).toEqual(expected.map((c) => c.state.snapshot()));
    expect(got.map((c) => c.closedAt)).toEqual(expected.map((c) => c.closedAt));
    expect(got.map((c) => c.reason)).toEqual(expected.map((c) => c.reason));
    expect(second.manager.lateTotals()).toEqual(whole.manager.lateTotals());
    const offsets = got.flatMap((c) => [...c.state.offsets.values()]);
    expect(offsets.length).toBeGreaterThan(0);
  });

  it('keeps the smallest and largest Kafka offset per topic/partition, however events interleave', () => {
    const { manager } = setup();
    const at = (topic: string, partition: number, offset: string) =>
      manager.record(ev(1_000), {
        source: { kind: 'kafka', topic, partition, offset },
      });
    // Runs of one partition, switches between partitions and topics, offsets out of order,
    // and lengths that compare wrongly as text ("9" > "10").
    at('p', 0, '10');
    at('p', 0, '9');
    at('p', 0, '12');
    at('p', 1, '100');
    at('p', 0, '8');
    at('q', 0, '5');
    at('p', 1, '99');
    at('p', 1, '1000');
    at('q', 0, '7');
    at('p', 0, '11');
    const [closed] = manager.flushAll();
    expect(Object.fromEntries(closed!.state.offsets)).toEqual({
      'p/0': { first: '8', last: '12' },
      'p/1': { first: '99', last: '1000' },
      'q/0': { first: '5', last: '7' },
    });
  });

  it('restores a checkpoint taken before gap sums existed: counts continue exactly, gaps are dropped', () => {
    const items = stream(3000, 5);
    const whole = setup(twoSizes);
    feed(whole.manager, items);
    const expected = [...whole.manager.drainClosed(), ...whole.manager.flushAll()];

    const first = setup(twoSizes);
    feed(first.manager, items.slice(0, 1700));
    const drained = first.manager.drainClosed();
    // What an older driftd persisted: numeric sketches without gaps, categorical ones without
    // neverSeen.
    const old = JSON.parse(JSON.stringify(first.manager.snapshot()), (key, value) =>
      ['gaps', 'gapSquares', 'belowGap', 'aboveGap', 'neverSeen'].includes(key) ? undefined : value,
    );
    expect(JSON.stringify(old)).not.toContain('gapSquares');
    const second = setup(twoSizes);
    second.manager.restore(old);
    feed(second.manager, items.slice(1700));
    const got = [...drained, ...second.manager.drainClosed(), ...second.manager.flushAll()];
    const counts = (cs: ClosedWindow[]) =>
      cs.map((c) =>
        Object.entries(c.state.snapshot().features).map(([k, f]) => [
          k,
          f.counts,
          f.total,
          f.kind === 'categorical' ? f.other : f.below + f.above,
        ]),
      );
    expect(counts(got)).toEqual(counts(expected));
    // Windows that were open in the old checkpoint have no gap sums any more; the others do.
    const withGaps = got.filter((c) =>
      Object.values(c.state.snapshot().features).some((f) => f.kind === 'numeric' && f.gaps),
    );
    expect(withGaps.length).toBeGreaterThan(0);
    expect(withGaps.length).toBeLessThan(got.length);
  });

  it('restore refuses a non-fresh manager and a changed baseline', () => {
    const { manager } = setup();
    manager.record(ev(1_000));
    const snap = manager.snapshot();
    expect(() => manager.restore(snap)).toThrow(LifecycleError);
    const other = setup();
    other.baselines.set('3', makeBaseline(model, '3', 500, 99));
    expect(() => other.manager.restore(snap)).toThrow(BaselineError);
    expect(other.manager.openWindows()).toEqual([]);
  });

  it('restore keeps the baseline a window was opened on when a newer import replaced it', () => {
    // A baseline imported into the running daemon while a window is open: the window keeps its
    // baseline (as in an uninterrupted run), so a restart before it closes must restore it.
    const { manager, clock } = setup();
    manager.record(ev(1_000));
    const snap = JSON.parse(JSON.stringify(manager.snapshot()));
    const newer = makeBaseline(model, '3', 500, 99);
    const byId = new Map([baseline, newer].map((b) => [b.id, b] as const));
    const restored = createWindowManager({
      model,
      baselineFor: () => newer,
      baselineById: (id) => byId.get(id),
      clock,
    });
    restored.restore(snap);
    expect(restored.openWindows().length).toBeGreaterThan(0);
    // The open window closes on its own baseline; the next one opens on the newer.
    restored.record(ev(FIVE + 1_000));
    restored.record(ev(2 * FIVE + 1_000));
    const closed = restored.drainClosed();
    expect(closed.map((c) => [c.bounds.start, c.baseline.id])).toEqual([[0, baseline.id]]);
    restored.record(ev(3 * FIVE + 1_000));
    expect(restored.drainClosed().map((c) => [c.bounds.start, c.baseline.id])).toEqual([
      [FIVE, newer.id],
    ]);
  });

  it('restore closes open windows of a size no longer configured instead of dropping them', () => {
    const a = setup(twoSizes);
    a.manager.record(ev(1_000));
    const b = setup(model);
    b.manager.restore(a.manager.snapshot());
    const closed = b.manager.drainClosed();
    expect(summary(closed)).toEqual([{ window: '1h@0', count: 1, late: 0, reason: 'flush' }]);
    expect(b.manager.openWindows().map((w) => w.sizeLabel)).toEqual(['5m']);
  });

  it('merging two instances’ window states equals one instance seeing all events', () => {
    const items = stream(3000, 8).sort((x, y) => x.e.ts - y.e.ts); // in order: nothing late
    const all = setup(twoSizes);
    const a = setup(twoSizes);
    const b = setup(twoSizes);
    feed(all.manager, items);
    // Two consumers in one group: partition 0 to one, partition 1 to the other.
    feed(
      a.manager,
      items.filter((_, i) => i % 2 === 0),
      0,
    );
    feed(
      b.manager,
      items.filter((_, i) => i % 2 === 1),
      1,
    );
    const one = new Map(
      [...all.manager.drainClosed(), ...all.manager.flushAll()].map((c) => [keyOf(c), c]),
    );
    const left = new Map(
      [...a.manager.drainClosed(), ...a.manager.flushAll()].map((c) => [keyOf(c), c]),
    );
    const right = [...b.manager.drainClosed(), ...b.manager.flushAll()];
    for (const c of right) {
      const l = left.get(keyOf(c));
      if (l === undefined) left.set(keyOf(c), c);
      else l.state.merge(c.state);
    }
    expect([...left.keys()].sort()).toEqual([...one.keys()].sort());
    for (const [key, merged] of left) {
      const expected = one.get(key)!.state.snapshot();
      const got = merged.state.snapshot();
      // Offsets differ by construction (one partition vs two); every count is equal.
      expectSameCounts([{ ...got, offsets: {} }], [{ ...expected, offsets: {} }]);
      expect(Object.keys(got.offsets).length).toBeGreaterThan(0);
    }
  });
});

describe('window manager: lanes (per-partition watermarks)', () => {
  type Item = { e: PredictionEvent; partition: number; offset: number };

  /** Per-lane sequences: times rise with jitter up to 2 min, so each lane has its own late events. */
  function lanes(n: number, count: number, seed: number): Item[][] {
    return Array.from({ length: count }, (_, p) => {
      const r = rng(seed + p);
      const rows = makeRows(n, seed + 10 + p);
      const events = makeEvents(
        model,
        '3',
        rows,
        (i) => i * 1_500 + p * 7_000 + Math.floor(r() * 2 * MIN),
      );
      return events.map((e, offset) => ({
        e: { ...e, id: `${p}-${offset}` },
        partition: p,
        offset,
      }));
    });
  }

  const source = (it: Item) => ({
    kind: 'kafka' as const,
    topic: 'predictions',
    partition: it.partition,
    offset: String(it.offset),
  });

  /** Merges lanes in a random order that keeps each lane's own order (a Kafka fetch pattern). */
  function interleave(perLane: Item[][], seed: number, burst: number): Item[] {
    const r = rng(seed);
    const pos = perLane.map(() => 0);
    const out: Item[] = [];
    while (out.length < perLane.reduce((n, l) => n + l.length, 0)) {
      const p = Math.floor(r() * perLane.length);
      const take = 1 + Math.floor(r() * burst);
      for (let k = 0; k < take && pos[p]! < perLane[p]!.length; k++)
        out.push(perLane[p]![pos[p]!++]!);
    }
    return out;
  }

  const laneIds = (count: number) => Array.from({ length: count }, (_, p) => `predictions/${p}`);

  function run(order: Item[], count: number, m = twoSizes) {
    const { manager } = setup(m);
    manager.addLanes(laneIds(count));
    const status = new Map<string, string>();
    const closed: ClosedWindow[] = [];
    for (const it of order) {
      status.set(it.e.id, manager.record(it.e, { source: source(it) }).status);
      closed.push(...manager.drainClosed());
    }
    const beforeFlush = closed.length;
    closed.push(...manager.flushAll());
    return { manager, status, closed, beforeFlush };
  }

  const byKey = (closed: ClosedWindow[]) =>
    closed
      .map((c) => c.state.snapshot())
      .sort((a, b) => (windowKey(a.bounds) < windowKey(b.bounds) ? -1 : 1));

  it('gives identical windows, late statuses and late counts for any interleaving of the same lanes', () => {
    const perLane = lanes(1500, 3, 21);
    const roundRobin: Item[] = [];
    for (let i = 0; i < 1500; i++) for (const l of perLane) roundRobin.push(l[i]!);
    const bursty = interleave(perLane, 5, 400);
    const fine = interleave(perLane, 6, 3);
    const a = run(roundRobin, 3);
    const b = run(bursty, 3);
    const c = run(fine, 3);
    expect([...a.status.values()]).toContain('late');
    for (const other of [b, c]) {
      expect(Object.fromEntries(other.status)).toEqual(Object.fromEntries(a.status));
      // Counts, late counts, min/max and offset ranges equal; float sums to rounding.
      expectSameCounts(byKey(other.closed), byKey(a.closed));
      expect(other.manager.lateTotals()).toEqual(a.manager.lateTotals());
    }
    // Windows closed by the watermark before the final flush, not only by the flush.
    expect(a.beforeFlush).toBeGreaterThan(5);
    // The same events as one lane (no source): lateness then depends on the interleaving.
    const single = (order: Item[]) => {
      const { manager } = setup(twoSizes);
      return order.map((it) => manager.record(it.e).status);
    };
    expect(single(bursty).filter((s) => s === 'late').length).not.toBe(
      single(roundRobin).filter((s) => s === 'late').length,
    );
  });

  it('crash and replay in another interleaving rebuilds the same windows', () => {
    const perLane = lanes(1200, 3, 31);
    const whole = run(interleave(perLane, 1, 50), 3);
    // First life: a prefix of each lane; the snapshot is the checkpoint.
    const cut = [400, 700, 250];
    const first = setup(twoSizes);
    first.manager.addLanes(laneIds(3));
    const closed: ClosedWindow[] = [];
    const prefix = interleave(
      perLane.map((l, p) => l.slice(0, cut[p])),
      2,
      20,
    );
    for (const it of prefix) first.manager.record(it.e, { source: source(it) });
    closed.push(...first.manager.drainClosed());
    const snap = JSON.parse(JSON.stringify(first.manager.snapshot()));
    expect(snap.format).toBe(2);
    expect(snap.streams[0].lanes.map((l: { lane: string }) => l.lane).sort()).toEqual(laneIds(3));
    // Second life: restore, then the rest of each lane in a different order.
    const second = setup(twoSizes);
    second.manager.restore(snap);
    second.manager.addLanes(laneIds(3));
    const rest = interleave(
      perLane.map((l, p) => l.slice(cut[p])),
      3,
      300,
    );
    for (const it of rest) second.manager.record(it.e, { source: source(it) });
    closed.push(...second.manager.drainClosed(), ...second.manager.flushAll());
    expectSameCounts(byKey(closed), byKey(whole.closed));
    expect(second.manager.lateTotals()).toEqual(whole.manager.lateTotals());
  });

  it('a registered lane that has not delivered yet holds the watermark back', () => {
    const { manager } = setup();
    manager.addLanes(['t/0', 't/1']);
    const on = (partition: number) => ({
      source: { kind: 'kafka' as const, topic: 't', partition, offset: '0' },
    });
    manager.record(ev(1_000), on(0));
    manager.record(ev(3 * FIVE), on(0));
    expect(manager.drainClosed()).toEqual([]);
    expect(manager.watermark('3')).toBeNull();
    // Lane 1 is far behind lane 0, yet within lateness of its own newest event: on time.
    expect(manager.record(ev(2_000), on(1)).status).toBe('accepted');
    expect(manager.watermark('3')).toBe(2_000 - MIN);
    manager.record(ev(FIVE + MIN), on(1));
    expect(summary(manager.drainClosed())).toEqual([
      { window: '5m@0', count: 2, late: 0, reason: 'watermark' },
    ]);
    // Behind its own lane's lateness bound: late, counted in the window of its lane's newest event.
    manager.record(ev(2 * FIVE + MIN + 1), on(1));
    expect(manager.record(ev(FIVE + 1), on(1)).status).toBe('late');
    const rest = manager.flushAll();
    expect(summary(rest)).toEqual([
      { window: `5m@${FIVE}`, count: 1, late: 0, reason: 'watermark' },
      { window: `5m@${2 * FIVE}`, count: 1, late: 1, reason: 'flush' },
      { window: `5m@${3 * FIVE}`, count: 1, late: 0, reason: 'flush' },
    ]);
  });

  it('an idle lane leaves the minimum after idleTimeoutMs of wall-clock; the watermark never moves back', () => {
    const { manager, clock } = setup();
    manager.addLanes(['t/0', 't/1']);
    const on = (partition: number) => ({
      source: { kind: 'kafka' as const, topic: 't', partition, offset: '0' },
    });
    manager.record(ev(1_000), on(0));
    clock.advance(MIN);
    manager.record(ev(FIVE + 2 * MIN), on(0));
    expect(manager.tick()).toEqual([]);
    clock.advance(MIN); // lane 1: 2 min without an event; the version itself is active
    expect(summary(manager.tick())).toEqual([
      { window: '5m@0', count: 1, late: 0, reason: 'watermark' },
    ]);
    expect(manager.watermark('3')).toBe(FIVE + MIN);
    // Lane 1 wakes up behind the watermark: its event for the closed window is late.
    expect(manager.record(ev(2_000), on(1)).status).toBe('late');
    expect(manager.watermark('3')).toBe(FIVE + MIN);
  });

  it('restores a format 1 snapshot (no lanes) with its max event time as the watermark', () => {
    const { manager } = setup();
    manager.record(ev(1_000));
    manager.record(ev(FIVE + 1_000));
    const v1 = manager.snapshot();
    const legacy = {
      ...v1,
      format: 1 as const,
      streams: v1.streams.map(({ version, maxTs, sizes }) => ({ version, maxTs, sizes })),
    };
    const restored = setup().manager;
    restored.restore(legacy);
    expect(restored.watermark('3')).toBe(FIVE + 1_000 - MIN);
    expect(restored.record(ev(FIVE + MIN)).status).toBe('accepted');
    expect(summary(restored.drainClosed())).toEqual([
      { window: '5m@0', count: 1, late: 0, reason: 'watermark' },
    ]);
  });
});

describe('closeThrough (cluster mode: a window finalised elsewhere)', () => {
  it('an open window holding events is queued as final (flush), whatever its version; later events for it are late', () => {
    const { manager, baselines } = setup();
    baselines.set('4', makeBaseline(model, '4'));
    const t0 = 100 * FIVE;
    // Version 3 was seen before; version 4 is new to the lane (its progress was the lane-level
    // row): both windows got an event before the mark arrived.
    manager.record(ev(t0 + 1000));
    manager.record(ev(t0 + 2000, '4'));
    manager.record(ev(t0 + 3000, '4'));
    manager.closeThrough('3', '5m', t0 + FIVE);
    manager.closeThrough('4', '5m', t0 + FIVE);
    const closed = manager.drainClosed();
    expect(closed.map((c) => [c.bounds.version, c.reason, c.state.count])).toEqual([
      ['3', 'flush', 1],
      ['4', 'flush', 2],
    ]);
    expect(manager.openWindows()).toEqual([]);
    expect(manager.record(ev(t0 + 4000, '4')).status).toBe('late');
    // A version the mark reaches before its first event: nothing to write, its events late.
    baselines.set('5', makeBaseline(model, '5'));
    manager.closeThrough('5', '5m', t0 + FIVE);
    expect(manager.record(ev(t0 + 5000, '5')).status).toBe('late');
    expect(manager.drainClosed()).toEqual([]);
  });
});
