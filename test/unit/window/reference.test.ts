import { describe, expect, it } from 'vitest';
import type { ModelConfig, ReferenceConfig } from '../../../src/config/types.js';
import type { BaselineProfile, WindowResult } from '../../../src/types.js';
import {
  createWindowManager,
  evaluateWindow,
  nullWarmups,
  type WindowManager,
} from '../../../src/window/index.js';
import { testModel } from '../../helpers/model.js';
import { makeBaseline, makeEvents, makeRows, manualClock, type RowShift } from './fixtures.js';

const HOUR = 3_600_000;
const PER_WINDOW = 2000;

function modelWith(reference: ReferenceConfig | undefined): ModelConfig {
  return testModel({
    windows: { sizes: [{ label: '1h', ms: HOUR }], allowedLatenessMs: 0, idleTimeoutMs: 0 },
    ...(reference === undefined ? {} : { reference }),
  });
}

const base = modelWith(undefined);
const baseline = makeBaseline(base, '3', 4000);

function managerOf(model: ModelConfig, b: BaselineProfile = baseline): WindowManager {
  return createWindowManager({ model, baselineFor: () => b, clock: manualClock() });
}

/** Feeds window `w` (one hour) of `n` events with `shift`; returns the results closed by it. */
function feed(
  m: WindowManager,
  model: ModelConfig,
  w: number,
  shift: RowShift,
  n = PER_WINDOW,
  b: BaselineProfile = baseline,
): WindowResult[] {
  const events = makeEvents(
    model,
    '3',
    makeRows(n, 1000 + w, shift),
    (i) => w * HOUR + (i * HOUR) / n,
  );
  for (const e of events) {
    e.id = `w${w}-${e.id}`;
    m.record(e);
  }
  return m.drainClosed().map((c) => evaluateWindow(c, b, model));
}

/** Results of `windows` windows whose income mean moves by `step`σ a window, then `last`. */
function run(reference: ReferenceConfig | undefined, shifts: number[]): WindowResult[] {
  const model = modelWith(reference);
  const m = managerOf(model);
  const out: WindowResult[] = [];
  shifts.forEach((income, w) => {
    out.push(...feed(m, model, w, { income }));
  });
  out.push(...m.flushAll().map((c) => evaluateWindow(c, baseline, model)));
  return out;
}

const income = (r: WindowResult) => r.features.find((f) => f.feature === 'income')!;

describe('window references (src/window/reference.ts)', () => {
  // A seasonal stream: the income mean moves by 0.025 σ every window, 0.425 σ in 18 windows.
  const seasonal = Array.from({ length: 18 }, (_, w) => 0.025 * w);

  it('a slowly moving stream drifts against the baseline but not against previous or rolling windows', () => {
    const vsBaseline = run(undefined, seasonal);
    expect(vsBaseline.map((r) => r.reference?.kind)).toEqual(seasonal.map(() => 'baseline'));
    // Late in the season the baseline is far away.
    expect(vsBaseline.slice(-4).every((r) => income(r).drifted)).toBe(true);

    for (const reference of [
      { kind: 'previous', windows: 1 },
      { kind: 'rolling', windows: 2 },
    ] as const) {
      const results = run(reference, seasonal);
      expect(results).toHaveLength(18);
      // The first window has no reference: "insufficient reference", not drift.
      const first = results[0]!;
      expect(first.reference).toMatchObject({ kind: reference.kind, found: 0, eventCount: 0 });
      expect(first.reference!.note).toMatch(/no closed window/);
      expect(
        first.features.every((f) => f.insufficient && f.insufficientReason === 'reference'),
      ).toBe(true);
      expect(first.datasetDrift).toBe(false);
      for (const r of results.slice(1)) {
        expect(income(r).insufficient).toBe(false);
        expect(income(r).drifted).toBe(false);
        expect(r.datasetDrift).toBe(false);
      }
      // Lineage: which windows were summed.
      const tenth = results[10]!;
      const found = Math.min(reference.windows, 10);
      expect(tenth.reference).toMatchObject({
        kind: reference.kind,
        windows: reference.windows,
        found,
        start: (10 - found) * HOUR,
        end: 10 * HOUR,
        eventCount: found * PER_WINDOW,
        note: null,
      });
    }
  });

  it('an abrupt change is detected against the previous window, and only in the window it happens', () => {
    const shifts = [0, 0, 0, 0, 1, 1, 1];
    const results = run({ kind: 'previous', windows: 1 }, shifts);
    expect(results.map((r) => income(r).drifted)).toEqual([
      false,
      false,
      false,
      false,
      true,
      false,
      false,
    ]);
    expect(income(results[4]!).adjustedPValue).toBeLessThan(1e-6);
  });

  it('rolling: a missing window is left out and named; too few reference events is insufficient, not drift', () => {
    const model = modelWith({ kind: 'rolling', windows: 3 });
    const m = managerOf(model);
    feed(m, model, 0, {});
    feed(m, model, 1, {}, 50); // a small window
    // Window 2 has no events at all; window 3 closes window 1.
    const r3 = [
      ...feed(m, model, 3, {}),
      ...m.flushAll().map((c) => evaluateWindow(c, baseline, model)),
    ];
    const last = r3.find((r) => r.start === 3 * HOUR)!;
    expect(last.reference).toMatchObject({
      found: 2,
      start: 0,
      end: 2 * HOUR,
      eventCount: PER_WINDOW + 50,
    });
    expect(last.reference!.note).toMatch(/2 of 3 windows found/);
    expect(income(last).insufficient).toBe(false);

    const small = modelWith({ kind: 'previous', windows: 1 });
    const m2 = managerOf(small);
    feed(m2, small, 0, {}, 50);
    const r1 = [
      ...feed(m2, small, 1, { income: 2 }),
      ...m2.flushAll().map((c) => evaluateWindow(c, baseline, small)),
    ].find((r) => r.start === HOUR);
    expect(income(r1!)).toMatchObject({
      insufficient: true,
      insufficientReason: 'reference',
      drifted: false,
    });
  });

  it('windows on another baseline are not summed, and the reference says why', () => {
    const model = modelWith({ kind: 'previous', windows: 1 });
    let current = baseline;
    const m = createWindowManager({ model, baselineFor: () => current, clock: manualClock() });
    feed(m, model, 0, {});
    const other = makeBaseline(base, '3', 4000, 7);
    current = other;
    feed(m, model, 1, {}, PER_WINDOW, baseline);
    const [r] = m.flushAll().map((c) => evaluateWindow(c, other, model));
    expect(r!.reference!.found).toBe(0);
    expect(r!.reference!.note).toMatch(/built on baseline .* start over with a new baseline/);
    expect(income(r!).insufficientReason).toBe('reference');
  });

  it('a restart resumes with the kept windows: the same references and verdicts as an uninterrupted run', () => {
    const model = modelWith({ kind: 'rolling', windows: 2 });
    const shifts = [0, 0.03, 0.06, 1.2, 1.23];
    const straight = run({ kind: 'rolling', windows: 2 }, shifts);

    const a = managerOf(model);
    const out: WindowResult[] = [];
    for (let w = 0; w < 3; w++) out.push(...feed(a, model, w, { income: shifts[w]! }));
    // JSON round trip, as the checkpoint stores it.
    const snap = JSON.parse(JSON.stringify(a.snapshot()));
    expect(snap.streams[0].history).toHaveLength(2);
    const b = managerOf(model);
    b.restore(snap);
    for (let w = 3; w < shifts.length; w++) out.push(...feed(b, model, w, { income: shifts[w]! }));
    out.push(...b.flushAll().map((c) => evaluateWindow(c, baseline, model)));
    const strip = (r: WindowResult) => ({ ...r, closedAt: 0 });
    expect(out.map(strip)).toEqual(straight.map(strip));
    // Window 4's reference is windows 2 and 3: half of it before the jump.
    expect(out.map((r) => income(r).drifted)).toEqual([false, false, false, true, true]);
  });

  it('warms no baseline nulls for a model with a window reference (it never uses them)', () => {
    expect(nullWarmups(baseline, base).length).toBeGreaterThan(0);
    expect(nullWarmups(baseline, modelWith({ kind: 'previous', windows: 1 }))).toEqual([]);
  });

  it('keeps at most N closed windows per version and size', () => {
    const model = modelWith({ kind: 'rolling', windows: 2 });
    const m = managerOf(model);
    for (let w = 0; w < 6; w++) feed(m, model, w, {}, 10);
    expect(m.snapshot().streams[0]!.history).toHaveLength(2);
    expect(managerOf(base).snapshot().streams).toHaveLength(0);
    const b = managerOf(base);
    feed(b, base, 0, {}, 10);
    feed(b, base, 1, {}, 10);
    expect(b.snapshot().streams[0]!.history).toBeUndefined();
  });
});
