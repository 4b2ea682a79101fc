import { describe, expect, it } from 'vitest';
import type { ComparisonConfig, ModelConfig } from '../../../src/config/types.js';
import type { BaselineProfile } from '../../../src/types.js';
import {
  type ComparedWindow,
  createComparisonTracker,
  MAX_PENDING_SPANS,
  pairEstimates,
  pairRealised,
} from '../../../src/window/comparison.js';
import { type ClosedWindow, createWindowManager } from '../../../src/window/index.js';
import { testModel } from '../../helpers/model.js';
import { makeBaseline, makeEvents, makeRows, manualClock, type RowShift } from './fixtures.js';

const HOUR = 3_600_000;

function modelWith(comparison: ComparisonConfig | undefined): ModelConfig {
  return testModel({
    windows: { sizes: [{ label: '1h', ms: HOUR }], allowedLatenessMs: 0, idleTimeoutMs: 0 },
    ...(comparison === undefined ? {} : { comparison }),
  });
}

const model = modelWith({ champion: 'A', challengers: null, shadow: false });
const baseline = makeBaseline(model, 'A', 4000);

/** The closed window `w` (one hour) of `version` with `n` events shifted by `shift`. */
function windowOf(
  version: string,
  w: number,
  n: number,
  shift: RowShift = {},
  b: BaselineProfile = baseline,
  seed = 1000,
): ComparedWindow {
  const m = createWindowManager({ model, baselineFor: () => b, clock: manualClock() });
  const events = makeEvents(
    model,
    version,
    makeRows(n, seed + w, shift),
    (i) => w * HOUR + (i * HOUR) / n,
  );
  for (const e of events) m.record(e);
  const [c] = m.flushAll() as ClosedWindow[];
  return { bounds: c!.bounds, state: c!.state, baseline: b, closedAt: 0 };
}

describe('version comparison (src/window/comparison.ts)', () => {
  it('the same traffic on both versions: no drift; the challenger share is its events over both', () => {
    const t = createComparisonTracker();
    expect(t.add(windowOf('A', 0, 9000), model).comparisons).toEqual([]);
    const { comparisons, shares } = t.add(windowOf('B', 0, 1000, {}, baseline, 7), model);
    expect(comparisons).toHaveLength(1);
    const [c] = comparisons;
    expect(c).toMatchObject({
      model: model.id,
      champion: 'A',
      challenger: 'B',
      window: '1h',
      windowStart: 0,
      windowEnd: HOUR,
      championEvents: 9000,
      challengerEvents: 1000,
      challengerShare: 0.1,
      realised: {},
      shadow: null,
    });
    expect(c!.features.map((f) => f.feature).sort()).toEqual(['age', 'income', 'region']);
    expect(c!.features.some((f) => f.drifted)).toBe(false);
    expect(c!.prediction?.drifted).toBe(false);
    expect(shares.map((s) => [s.version, s.share])).toEqual([
      ['A', 0.9],
      ['B', 0.1],
    ]);
  });

  it("a challenger whose predictions and income moved drifts from the champion's window", () => {
    const t = createComparisonTracker();
    t.add(windowOf('A', 0, 9000), model);
    const [c] = t.add(
      windowOf('B', 0, 1000, { income: 0.5, prediction: 0.1 }, baseline, 7),
      model,
    ).comparisons;
    expect(c!.prediction?.drifted).toBe(true);
    expect(c!.features.find((f) => f.feature === 'income')?.drifted).toBe(true);
    expect(c!.features.find((f) => f.feature === 'region')?.drifted).toBe(false);
  });

  it('is the same comparison whichever version closes first', () => {
    const a = windowOf('A', 3, 3000);
    const b = windowOf('B', 3, 1000, { prediction: 0.05 }, baseline, 7);
    const first = createComparisonTracker();
    first.add(a, model);
    const [x] = first.add(b, model).comparisons;
    const second = createComparisonTracker();
    expect(second.add(b, model).comparisons).toEqual([]);
    const [y] = second.add(a, model).comparisons;
    expect(y).toEqual(x);
  });

  it('compares every challenger with the champion, and only the configured ones when listed', () => {
    const all = createComparisonTracker();
    all.add(windowOf('B', 0, 500, {}, baseline, 7), model);
    all.add(windowOf('C', 0, 500, {}, baseline, 8), model);
    const pairs = all.add(windowOf('A', 0, 1000), model).comparisons.map((c) => c.challenger);
    expect(pairs.sort()).toEqual(['B', 'C']);

    const listed = modelWith({ champion: 'A', challengers: ['C'], shadow: false });
    const some = createComparisonTracker();
    // B is in no pair: it keeps no window (only its count for the traffic share).
    some.add(windowOf('B', 0, 500, {}, baseline, 7), listed);
    expect(some.held()).toBe(0);
    some.add(windowOf('C', 0, 500, {}, baseline, 8), listed);
    const { comparisons, shares } = some.add(windowOf('A', 0, 1000), listed);
    expect(comparisons.map((c) => c.challenger)).toEqual(['C']);
    expect(shares.find((s) => s.version === 'B')?.share).toBe(0.25);
  });

  it('bounded memory: windows held only until their partner arrives, spans evicted beyond the cap', () => {
    const t = createComparisonTracker();
    // A challenger without champion windows: at most MAX_PENDING_SPANS of them are held.
    for (let w = 0; w < 10; w++) t.add(windowOf('B', w, 150, {}, baseline, 7), model);
    expect(t.held()).toBe(MAX_PENDING_SPANS);
    // The champion of an evicted span finds nothing; of a kept span, its challenger.
    expect(t.add(windowOf('A', 0, 150), model).comparisons).toEqual([]);
    expect(t.add(windowOf('A', 9, 150), model).comparisons).toHaveLength(1);
    // The compared challenger's window is dropped; the champion's stays for later challengers.
    expect(t.held()).toBe(MAX_PENDING_SPANS);
    expect(t.add(windowOf('C', 9, 150, {}, baseline, 8), model).comparisons).toHaveLength(1);
    expect(t.held()).toBe(MAX_PENDING_SPANS);
  });

  it('versions on different baselines: traffic and performance, no drift verdict', () => {
    const other = makeBaseline(model, 'B', 4000, 2);
    const t = createComparisonTracker();
    t.add(windowOf('A', 0, 1000), model);
    const [c] = t.add(windowOf('B', 0, 1000, {}, other, 7), model).comparisons;
    expect(c).toMatchObject({ features: [], prediction: null, challengerShare: 0.5 });
  });

  it('a model without comparison only tracks traffic shares', () => {
    const t = createComparisonTracker();
    const plain = modelWith(undefined);
    t.add(windowOf('A', 0, 300), plain);
    const { comparisons, shares } = t.add(windowOf('B', 0, 100, {}, baseline, 7), plain);
    expect(comparisons).toEqual([]);
    expect(shares.map((s) => s.share)).toEqual([0.75, 0.25]);
    expect(t.held()).toBe(0);
  });

  it('pairs estimates with the standard error of their difference, and realised metrics without the estimate keys', () => {
    const e = (value: number, standardError: number) => ({
      value,
      samplingError: standardError,
      standardError,
      lower: null,
      upper: null,
    });
    const est = (auc: number, se: number) =>
      ({ count: 100, metrics: { roc_auc: e(auc, se) }, rocAucErrorBound: null }) as never;
    const paired = pairEstimates(est(0.8, 0.03), est(0.7, 0.04));
    expect(paired.roc_auc!.difference).toBeCloseTo(-0.1, 12);
    expect(paired.roc_auc!.standardError).toBeCloseTo(0.05, 12);
    expect(pairEstimates(undefined, undefined)).toEqual({});

    const realised = pairRealised(
      { accuracy: 0.9, estimated_accuracy: 0.88, estimate_gap_accuracy: 0.02 },
      { accuracy: 0.8 },
    );
    expect(Object.keys(realised)).toEqual(['accuracy']);
    expect(realised.accuracy!.difference).toBeCloseTo(-0.1, 12);
    expect(pairRealised({ accuracy: 0.9 }, undefined).accuracy).toEqual({
      champion: 0.9,
      challenger: null,
      difference: null,
      standardError: null,
    });
  });
});
