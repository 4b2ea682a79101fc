import { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import {
  createFinaliser,
  type FinaliserStore,
  preferredInstance,
  turnOf,
} from '../../../src/cluster/finaliser.js';
import type {
  FinalisationRow,
  LaneProgressRow,
  PartialRow,
  RevisableWindow,
  WindowKey,
} from '../../../src/cluster/types.js';
import { windowKeyString } from '../../../src/cluster/types.js';
import { StoreError } from '../../../src/errors.js';
import { createMetrics } from '../../../src/export/metrics.js';
import { createLogger } from '../../../src/logger.js';
import type { BaselineProfile, WindowBounds, WindowResult } from '../../../src/types.js';
import { type ClosedWindow, evaluateWindow } from '../../../src/window/index.js';
import { createWindowState } from '../../../src/window/state.js';
import { testModel } from '../../helpers/model.js';
import { expectNear } from '../../helpers/near.js';
import { makeBaseline, makeEvents, makeRows, manualClock } from '../window/fixtures.js';

const model = testModel();
const baseline = makeBaseline(model, '3');
const SIZE = 300_000;
const T0 = 1_800_000_000_000 - (1_800_000_000_000 % SIZE);
const NOW = T0 + 10 * SIZE;
const LANES = ['t/0', 't/1', 't/2'];

function key(start: number): WindowKey {
  return { model: model.id, version: '3', sizeLabel: '5m', size: SIZE, start, end: start + SIZE };
}

/** Events of one window split over the lanes by index; the lanes' states and the whole one. */
function lanesOf(w: WindowKey, n: number, seed: number) {
  const bounds: WindowBounds = { ...w };
  const events = makeEvents(model, '3', makeRows(n, seed, { income: 0.4 }), (i) => w.start + i * 7);
  const whole = createWindowState({ bounds, model, baseline });
  const parts = LANES.map(() => createWindowState({ bounds, model, baseline }));
  events.forEach((e, i) => {
    whole.record(e);
    parts[i % 3]!.record(e);
  });
  return { whole, parts };
}

function partial(
  w: WindowKey,
  lane: string,
  state: ReturnType<typeof createWindowState>,
  at = NOW - 5000,
): PartialRow {
  return {
    ...w,
    lane,
    final: true,
    position: '1',
    baselineId: baseline.id,
    events: state.count,
    state: JSON.stringify(state.snapshot()),
    instance: 'b',
    writtenAt: at,
  };
}

function progress(
  lane: string,
  watermark: number | null,
  over: Partial<LaneProgressRow> = {},
): LaneProgressRow {
  return {
    lane,
    model: model.id,
    version: '3',
    watermark,
    idle: false,
    retired: false,
    position: '1',
    seq: 1,
    instance: 'b',
    writtenAt: NOW - 1000,
    ...over,
  };
}

/** An in-memory ClusterStore (test double: the real tables are tested in test/integration/cluster/). */
function memoryStore(opts: { latestResults?: WindowResult[] } = {}) {
  const partials: PartialRow[] = [];
  const prog: LaneProgressRow[] = [];
  const fins: FinalisationRow[] = [];
  const calls = { latestResults: 0 };
  /** Per lane its final partial, else its newest provisional one (as the store reads them). */
  const latestOf = (k: string): PartialRow[] => {
    const latest = new Map<string, PartialRow>();
    for (const p of partials.filter((x) => windowKeyString(x) === k)) {
      const had = latest.get(p.lane);
      if (
        had === undefined ||
        (p.final && !had.final) ||
        (p.final === had.final && p.writtenAt >= had.writtenAt)
      )
        latest.set(p.lane, p);
    }
    return [...latest.values()];
  };
  const store: FinaliserStore = {
    async insertPartials(rows) {
      partials.push(...rows);
    },
    async insertLaneProgress(rows) {
      prog.push(...rows);
    },
    async laneProgress() {
      return prog.slice();
    },
    async pendingWindows(limit) {
      const done = new Set(fins.map((f) => windowKeyString(f)));
      const seen = new Map<string, WindowKey>();
      for (const p of partials) {
        const k = windowKeyString(p);
        if (!done.has(k))
          seen.set(k, {
            model: p.model,
            version: p.version,
            sizeLabel: p.sizeLabel,
            size: p.size,
            start: p.start,
            end: p.end,
          });
      }
      return [...seen.values()].sort((a, b) => a.end - b.end).slice(0, limit);
    },
    async partialsOf(w) {
      return latestOf(windowKeyString(w));
    },
    async insertFinalisation(row) {
      // One row per token: per window and revision.
      const same = (f: FinalisationRow) =>
        windowKeyString(f) === windowKeyString(row) && (f.revision ?? 0) === (row.revision ?? 0);
      if (!fins.some(same)) fins.push(row);
    },
    async revisableWindows(since, limit) {
      const out: RevisableWindow[] = [];
      for (const k of new Set(
        partials.filter((p) => p.final && p.writtenAt >= since).map(windowKeyString),
      )) {
        const of = fins.filter((f) => windowKeyString(f) === k);
        if (of.length === 0) continue;
        const last = of.reduce((a, b) => ((b.revision ?? 0) > (a.revision ?? 0) ? b : a));
        const latest = latestOf(k);
        const partialEvents = latest.reduce((n, p) => n + p.events, 0);
        if (partialEvents <= last.events) continue;
        const { model: m, version, sizeLabel, size, start, end } = last;
        out.push({
          model: m,
          version,
          sizeLabel,
          size,
          start,
          end,
          revision: last.revision ?? 0,
          events: last.events,
          partialEvents,
        });
      }
      return out.sort((a, b) => a.end - b.end).slice(0, limit);
    },
    async finalisations(since, limit, o) {
      return fins
        .filter((f) => f.finalisedAt >= since && (o?.revisions || (f.revision ?? 0) === 0))
        .slice(0, limit);
    },
    async latestResults() {
      calls.latestResults++;
      return { windows: opts.latestResults ?? [], verdicts: [], performance: [], versions: ['3'] };
    },
    async latestFairness() {
      return { windows: [], verdicts: [] };
    },
    async queryDrift() {
      return [];
    },
  };
  return { store, partials, prog, fins, calls };
}

function setup(
  opts: {
    kafkaLanes?: () => string[] | undefined;
    baselines?: BaselineProfile[];
    latestResults?: WindowResult[];
    /** The engine's first writes fail (the store down). */
    failWrites?: number;
  } = {},
) {
  const mem = memoryStore(opts);
  const clock = manualClock(NOW);
  const registry = new Registry();
  const metrics = createMetrics(registry, { version: 't' });
  const written: Array<{ closed: ClosedWindow; token: string }> = [];
  const queued: Array<{ closed: ClosedWindow; token: string }> = [];
  let handed = 0;
  let failWrites = opts.failWrites ?? 0;
  const closedThrough: string[] = [];
  let isOpen: ((model: string, b: WindowBounds) => boolean) | undefined;
  let refreshed = 0;
  const known = opts.baselines ?? [baseline];
  const finaliser = createFinaliser({
    store: mem.store,
    engine: {
      instanceId: 'a',
      lanes: {
        ids: () => ['t/0'],
        closeThrough: (m, v, s, end) => closedThrough.push(`${m}/${v}/${s}/${end}`),
      },
      // As the engine's result writer: a failed write leaves the windows queued, the next
      // call writes them with its own.
      async writeFinal(closed, token) {
        for (const c of closed) queued.push({ closed: c, token: token(c) });
        handed += closed.length;
        if (failWrites > 0) {
          failWrites--;
          throw new StoreError('simulated: store unreachable', { retriable: true });
        }
        const batch = queued.splice(0);
        written.push(...batch);
        return batch.map(({ closed: c }) => evaluateWindow(c, c.baseline, model));
      },
      setWindowOpen(fn) {
        isOpen = fn;
      },
    },
    models: new Map([[model.id, model]]),
    baselineById: (id) => known.find((b) => b.id === id),
    refreshBaselines: async () => {
      refreshed++;
    },
    ...(opts.kafkaLanes ? { kafkaLanes: opts.kafkaLanes } : {}),
    metrics,
    logger: createLogger('silent'),
    clock,
    intervalMs: 60_000,
    laneTimeoutMs: 600_000,
  });
  return {
    ...mem,
    clock,
    registry,
    finaliser,
    written,
    closedThrough,
    isOpen: (b: WindowBounds) => isOpen!(b.model, b),
    refreshed: () => refreshed,
    handed: () => handed,
  };
}

const allPassed = (end: number) => LANES.map((l) => progress(l, end));

describe('finaliser (in-memory store double)', () => {
  it("merges the lanes' partials into the state one instance counts, written once with the window's token", async () => {
    const w = key(T0);
    const { whole, parts } = lanesOf(w, 600, 1);
    const t = setup({ kafkaLanes: () => LANES });
    t.partials.push(...LANES.map((l, i) => partial(w, l, parts[i]!, NOW - 5000 + i)));
    t.prog.push(...allPassed(w.end));
    await t.finaliser.start();
    const report = await t.finaliser.runOnce();
    expect(report.finalised).toEqual([w]);
    expect(t.written).toHaveLength(1);
    const { closed, token } = t.written[0]!;
    expect(token).toBe(`final:${windowKeyString(w)}`);
    expect(closed.reason).toBe('watermark');
    // Counts exact, float sums to their last bits (added in another order).
    expectNear(closed.state.snapshot(), whole.snapshot());
    expect(closed.state.count).toBe(whole.count);
    const single = evaluateWindow({ ...closed, state: whole }, baseline, model);
    const merged = evaluateWindow(closed, baseline, model);
    expectNear(merged, single);
    expect(merged.features.map((f) => f.drifted)).toEqual(single.features.map((f) => f.drifted));
    expect(t.fins).toHaveLength(1);
    expect(t.fins[0]).toMatchObject({ lanes: LANES, events: 600, instance: 'a', finalisedAt: NOW });
    // From the last final partial (written at NOW − 5000 + 2).
    expect(t.fins[0]!.delaySeconds).toBeCloseTo(4.998, 9);
    expect(t.closedThrough).toEqual([`credit-risk/3/5m/${w.end}`]);
    expect(t.isOpen({ ...w })).toBe(false);
    expect(t.isOpen({ ...key(w.end) })).toBe(true);
    const text = await t.registry.metrics();
    expect(text).toMatch(
      /driftd_cluster_windows_finalised_total\{model="credit-risk",window="5m"\} 1/,
    );
    expect(text).toMatch(/driftd_cluster_windows_pending 0/);
    // Written and recorded: nothing left to do.
    expect((await t.finaliser.runOnce()).finalised).toEqual([]);
    expect(t.written).toHaveLength(1);
  });

  it("a lane's final partial with events beyond the provisional one the window was finalised from: revision 1 ('lane_late', token #1), once", async () => {
    const w = key(T0);
    const { whole, parts } = lanesOf(w, 300, 7);
    const t = setup({ kafkaLanes: () => LANES });
    // Lane t/2 idle: its provisional copy (one event short) is what is merged first.
    const short = createWindowState({ bounds: { ...w }, model, baseline }, parts[2]!.snapshot());
    const extra = makeEvents(model, '3', makeRows(1, 99), () => w.start + 5)[0]!;
    parts[2]!.record(extra);
    whole.record(extra);
    t.partials.push(partial(w, 't/0', parts[0]!), partial(w, 't/1', parts[1]!), {
      ...partial(w, 't/2', short),
      final: false,
    });
    t.prog.push(
      progress('t/0', w.end),
      progress('t/1', w.end),
      progress('t/2', w.start, { idle: true }),
    );
    expect((await t.finaliser.runOnce()).finalised).toEqual([w]);
    expect(t.fins[0]!.events).toBe(300);
    // The lane counted one more event; closeThrough made it its final partial.
    t.partials.push(partial(w, 't/2', parts[2]!, NOW + 1000));
    t.clock.advance(2000);
    const report = await t.finaliser.runOnce();
    expect(report.revised).toEqual([w]);
    expect(report.finalised).toEqual([]);
    expect(t.written).toHaveLength(2);
    const { closed, token } = t.written[1]!;
    expect(token).toBe(`final:${windowKeyString(w)}#1`);
    expect(closed.revisionReason).toBe('lane_late');
    expect(closed.state.count).toBe(301);
    expectNear(closed.state.snapshot(), whole.snapshot());
    expect(evaluateWindow(closed, baseline, model).revisionReason).toBe('lane_late');
    expect(t.fins.map((f) => [f.revision ?? 0, f.events])).toEqual([
      [0, 300],
      [1, 301],
    ]);
    // Counted once as a finalised window.
    expect(await t.registry.metrics()).toMatch(
      /driftd_cluster_windows_finalised_total\{model="credit-risk",window="5m"\} 1\n/,
    );
    expect((await t.finaliser.runOnce()).revised).toEqual([]);
    expect(t.written).toHaveLength(2);
  });

  it('a revisable window whose extra events are on a partial left out of the merge (another baseline) is not revised, nor merged again', async () => {
    const w = key(T0);
    const { parts } = lanesOf(w, 90, 8);
    const t = setup({ kafkaLanes: () => LANES });
    t.partials.push(...LANES.map((l, i) => partial(w, l, parts[i]!)));
    t.prog.push(...allPassed(w.end));
    expect((await t.finaliser.runOnce()).finalised).toEqual([w]);
    // A partial of a lane on another baseline, written late.
    t.partials.push({ ...partial(w, 't/3', parts[0]!, NOW + 1), baselineId: 'other' });
    let reads = 0;
    const partialsOf = t.store.partialsOf;
    t.store.partialsOf = (x) => {
      reads++;
      return partialsOf(x);
    };
    expect((await t.finaliser.runOnce()).revised).toEqual([]);
    expect((await t.finaliser.runOnce()).revised).toEqual([]);
    expect(reads).toBe(1);
    expect(t.written).toHaveLength(1);
  });

  it('a lane that has not passed the window holds it; an idle one does not', async () => {
    const w = key(T0);
    const { parts } = lanesOf(w, 90, 2);
    const t = setup({ kafkaLanes: () => LANES });
    t.partials.push(...LANES.map((l, i) => partial(w, l, parts[i]!)));
    t.prog.push(progress('t/0', w.end), progress('t/1', w.end), progress('t/2', w.end - 1));
    expect((await t.finaliser.runOnce()).finalised).toEqual([]);
    expect(await t.registry.metrics()).toMatch(/driftd_cluster_windows_pending 1/);
    t.prog.push(progress('t/2', w.end - 1, { idle: true, seq: 2 }));
    expect((await t.finaliser.runOnce()).finalised).toEqual([w]);
  });

  it('a partition with no progress row at all holds every window; unknown partitions hold all', async () => {
    const w = key(T0);
    const { parts } = lanesOf(w, 90, 3);
    let known: string[] | undefined;
    const t = setup({ kafkaLanes: () => known });
    t.partials.push(partial(w, 't/0', parts[0]!));
    t.prog.push(progress('t/0', w.end));
    expect((await t.finaliser.runOnce()).finalised).toEqual([]);
    known = ['t/0', 't/9'];
    expect((await t.finaliser.runOnce()).finalised).toEqual([]);
    known = ['t/0'];
    expect((await t.finaliser.runOnce()).finalised).toEqual([w]);
  });

  it('finalises ready windows oldest end first', async () => {
    const t = setup();
    const ws = [key(T0 + 2 * SIZE), key(T0), key(T0 + SIZE)];
    for (const w of ws) t.partials.push(partial(w, 'http:a', lanesOf(w, 30, 4).parts[0]!));
    t.prog.push(progress('http:a', T0 + 3 * SIZE));
    const report = await t.finaliser.runOnce();
    expect(report.finalised.map((w) => w.start)).toEqual([T0, T0 + SIZE, T0 + 2 * SIZE]);
  });

  it('a window whose baseline is not loaded waits (baselines refreshed) and stays pending', async () => {
    const w = key(T0);
    const t = setup({ baselines: [] });
    t.partials.push(partial(w, 'http:a', lanesOf(w, 30, 5).parts[0]!));
    t.prog.push(progress('http:a', w.end));
    const report = await t.finaliser.runOnce();
    expect(report.finalised).toEqual([]);
    expect(report.pending).toBe(1);
    expect(t.refreshed()).toBe(1);
    expect(t.written).toHaveLength(0);
    expect(t.fins).toHaveLength(0);
  });

  it('a window finalised by another instance closes the lanes here, closes it for labels, and refreshes the gauges', async () => {
    const w = key(T0);
    const stored = evaluateWindow(
      {
        bounds: { ...w },
        state: lanesOf(w, 300, 6).whole,
        baseline,
        reason: 'watermark',
        closedAt: NOW,
      },
      baseline,
      model,
    );
    const t = setup({ latestResults: [stored] });
    await t.finaliser.start();
    expect(t.isOpen({ ...w })).toBe(true);
    t.fins.push({
      ...w,
      lanes: ['http:b'],
      events: 300,
      instance: 'b',
      finalisedAt: NOW,
      delaySeconds: 1,
    });
    const report = await t.finaliser.runOnce();
    expect(report.foreign).toBe(1);
    expect(t.closedThrough).toEqual([`credit-risk/3/5m/${w.end}`]);
    expect(t.isOpen({ ...w })).toBe(false);
    expect(t.calls.latestResults).toBe(1);
    expect(await t.registry.metrics()).toMatch(
      /driftd_model_drift_share\{model="credit-risk",version="3",window="5m"\}/,
    );
    // Seen again within the look-back margin: nothing new, no second refresh.
    await t.finaliser.runOnce();
    expect(t.calls.latestResults).toBe(1);
    expect(t.closedThrough).toHaveLength(1);
    // Its revision by b ('lane_late'): the gauges are read again, once.
    t.fins.push({ ...t.fins[0]!, revision: 1, events: 301, finalisedAt: NOW + 1 });
    expect((await t.finaliser.runOnce()).foreign).toBe(0);
    expect(t.calls.latestResults).toBe(2);
    await t.finaliser.runOnce();
    expect(t.calls.latestResults).toBe(2);
  });

  it("a window whose write failed is written from the engine's queue, not merged and queued again", async () => {
    const w = key(T0);
    const t = setup({ failWrites: 3 });
    t.partials.push(partial(w, 'http:a', lanesOf(w, 30, 10).parts[0]!));
    t.prog.push(progress('http:a', w.end));
    for (let i = 0; i < 3; i++) expect((await t.finaliser.runOnce()).finalised).toEqual([]);
    expect(t.fins).toHaveLength(0);
    const report = await t.finaliser.runOnce();
    expect(report.finalised).toEqual([w]);
    // Handed to the engine once; written once; recorded once.
    expect(t.handed()).toBe(1);
    expect(t.written).toHaveLength(1);
    expect(t.written[0]!.token).toBe(`final:${windowKeyString(w)}`);
    expect(t.fins).toHaveLength(1);
    expect((await t.finaliser.runOnce()).finalised).toEqual([]);
  });

  it('close() runs once more and stops', async () => {
    const w = key(T0);
    const t = setup();
    await t.finaliser.start();
    t.partials.push(partial(w, 'http:a', lanesOf(w, 30, 7).parts[0]!));
    t.prog.push(progress('http:a', w.end));
    await t.finaliser.close();
    expect(t.fins).toHaveLength(1);
    await t.finaliser.close();
    expect(t.written).toHaveLength(1);
  });
});

describe('finaliser: the preferred instance first, any other after a grace period', () => {
  it('leaves a window preferred to another live instance for 3 intervals, then finalises it', async () => {
    // A window whose preferred instance (of a and b) is b.
    let start = T0;
    while (preferredInstance(key(start), ['a', 'b']) !== 'b') start += SIZE;
    const w = key(start);
    const later = key(start + SIZE);
    const t = setup();
    t.partials.push(partial(w, 'http:a', lanesOf(w, 30, 8).parts[0]!));
    t.partials.push(partial(later, 'http:a', lanesOf(later, 30, 9).parts[0]!));
    t.prog.push(progress('http:a', later.end), progress('http:b', later.end));
    // Left to b; the later window of the same series waits with it (a series in order).
    expect((await t.finaliser.runOnce()).finalised).toEqual([]);
    t.clock.advance(2 * 60_000);
    expect((await t.finaliser.runOnce()).finalised).toEqual([]);
    // b did not do it within 3 intervals (60 s each here): a does, oldest first.
    t.clock.advance(60_000);
    t.prog.push(
      progress('http:a', later.end, { seq: 2, writtenAt: t.clock.now() }),
      progress('http:b', later.end, { seq: 2, writtenAt: t.clock.now() }),
    );
    const report = await t.finaliser.runOnce();
    expect(report.finalised.map((x) => x.start)).toEqual(
      [w.start, later.start].slice(0, report.finalised.length),
    );
    expect(report.finalised[0]).toEqual(w);
  });

  it('the instances after the preferred one take their turns one at a time (a ring)', () => {
    const ids = ['a', 'b', 'c'];
    for (let i = 0; i < 30; i++) {
      const w = key(T0 + i * SIZE);
      const turns = ids.map((id) => turnOf(w, ids, id));
      expect([...turns].sort()).toEqual([0, 1, 2]);
      expect(ids[turns.indexOf(0)]).toBe(preferredInstance(w, ids));
    }
    // Not registered: last; nobody registered: nobody waits.
    expect(turnOf(key(T0), ids, 'z')).toBe(3);
    expect(turnOf(key(T0), [], 'a')).toBe(0);
  });

  it('counts a window only on the instance whose finalisation row the store kept', async () => {
    const w = key(T0);
    const t = setup();
    t.partials.push(partial(w, 'http:a', lanesOf(w, 30, 11).parts[0]!));
    t.prog.push(progress('http:a', w.end));
    // Another instance records the window while this one merges it (its row lands first).
    const read = t.store.partialsOf.bind(t.store);
    t.store.partialsOf = async (x) => {
      const parts = await read(x);
      t.fins.push({
        ...x,
        lanes: ['http:a'],
        events: 30,
        instance: 'b',
        finalisedAt: NOW,
        delaySeconds: 1,
      });
      return parts;
    };
    expect((await t.finaliser.runOnce()).finalised).toEqual([w]);
    expect(t.fins.map((f) => f.instance)).toEqual(['b']);
    const text = await t.registry.metrics();
    expect(text).not.toMatch(/driftd_cluster_windows_finalised_total\{/);
    expect(text).toMatch(/driftd_cluster_finalisation_delay_seconds_count 0/);
  });

  it('the preference spreads windows over the instances and is the same on every instance', () => {
    const counts = new Map<string, number>();
    for (let i = 0; i < 300; i++) {
      const p = preferredInstance(key(T0 + i * SIZE), ['a', 'b', 'c'])!;
      counts.set(p, (counts.get(p) ?? 0) + 1);
    }
    expect([...counts.keys()].sort()).toEqual(['a', 'b', 'c']);
    for (const n of counts.values()) expect(n).toBeGreaterThan(60);
    expect(preferredInstance(key(T0), [])).toBeUndefined();
  });
});
