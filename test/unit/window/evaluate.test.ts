import { describe, expect, it } from 'vitest';
import { buildProfileFromRows } from '../../../src/baseline/index.js';
import type { FeatureConfig, ModelConfig } from '../../../src/config/types.js';
import { InvalidInputError } from '../../../src/errors.js';
import {
  benjaminiHochberg,
  binnedKsTest,
  jensenShannonDistance,
  ksTest,
  wassersteinDistance,
} from '../../../src/stats/index.js';
import type {
  BaselineProfile,
  CategoricalProfile,
  FeatureValue,
  NumericProfile,
  PredictionEvent,
  WindowBounds,
} from '../../../src/types.js';
import {
  binnedWasserstein,
  createWindowState,
  evaluateWindow,
  nullWarmups,
  type WindowState,
} from '../../../src/window/index.js';
import { testModel } from '../../helpers/model.js';
import { normal, rng } from './fixtures.js';

const NUMERIC = ['n0', 'n1', 'n2', 'n3', 'n4', 'n5'];
const CATEGORICAL = ['c0', 'c1'];
const LEVELS = ['a', 'b', 'c', 'd'];
const BASE_P = [0.4, 0.3, 0.2, 0.1];

function model(overrides: Partial<ModelConfig> = {}, features: Partial<FeatureConfig>[] = []) {
  const list: FeatureConfig[] = [
    ...NUMERIC.map((name) => ({ name, type: 'numeric' as const, test: null, threshold: null })),
    ...CATEGORICAL.map((name) => ({
      name,
      type: 'categorical' as const,
      test: null,
      threshold: null,
    })),
  ].map((f) => ({ ...f, ...features.find((o) => o.name === f.name) }));
  return testModel({ features: list, ...overrides });
}

interface Shift {
  /** Mean shift per numeric feature, in std units. */
  mean?: Record<string, number>;
  /** Category probabilities per categorical feature. */
  probs?: Record<string, number[]>;
  prediction?: number;
  missing?: Record<string, number>;
  /** Replace a share of a categorical feature's values by a never-seen one. */
  unseen?: Record<string, number>;
}

type Row = { features: Record<string, FeatureValue>; prediction: number };

function rows(n: number, seed: number, shift: Shift = {}): Row[] {
  const r = rng(seed);
  const z = normal(r);
  const out: Row[] = [];
  for (let i = 0; i < n; i++) {
    const features: Record<string, FeatureValue> = {};
    NUMERIC.forEach((name, j) => {
      const missing = shift.missing?.[name] ?? 0;
      const v = 10 * (j + 1) + (j + 1) * (z() + (shift.mean?.[name] ?? 0));
      features[name] = r() < missing ? null : v;
    });
    for (const name of CATEGORICAL) {
      const p = shift.probs?.[name] ?? BASE_P;
      let u = r();
      let level = LEVELS[LEVELS.length - 1]!;
      for (let k = 0; k < p.length; k++) {
        if (u < p[k]!) {
          level = LEVELS[k]!;
          break;
        }
        u -= p[k]!;
      }
      features[name] = r() < (shift.unseen?.[name] ?? 0) ? 'never-seen' : level;
    }
    out.push({ features, prediction: 0.3 + 0.05 * (z() + (shift.prediction ?? 0)) });
  }
  return out;
}

const BOUNDS: WindowBounds = {
  model: 'credit-risk',
  version: '3',
  size: 300_000,
  sizeLabel: '5m',
  start: 600_000,
  end: 900_000,
};

function windowOf(m: ModelConfig, baseline: BaselineProfile, data: Row[]): WindowState {
  const state = createWindowState({ bounds: BOUNDS, model: m, baseline });
  data.forEach((row, i) => {
    const e: PredictionEvent = {
      model: 'credit-risk',
      version: '3',
      id: `w${i}`,
      ts: BOUNDS.start + i,
      features: row.features,
      prediction: row.prediction,
    };
    state.record(e);
  });
  return state;
}

function baselineOf(m: ModelConfig, data: Row[]): BaselineProfile {
  return buildProfileFromRows(m, '3', data, { createdAt: 0 }).profile;
}

describe('evaluateWindow with p-value tests (baseline ≤ 1000 rows: KS, chi-square)', () => {
  const m = model();
  const refRows = rows(800, 1);
  const baseline = baselineOf(m, refRows);

  it('finds no drift when the window has the baseline distribution', () => {
    const result = evaluateWindow(
      { state: windowOf(m, baseline, rows(1000, 2)), closedAt: 42 },
      baseline,
      m,
    );
    expect(result.features.map((f) => f.test)).toEqual([
      'ks',
      'ks',
      'ks',
      'ks',
      'ks',
      'ks',
      'chi-square',
      'chi-square',
    ]);
    expect(result.features.filter((f) => f.drifted)).toEqual([]);
    expect(result.driftShare).toBe(0);
    expect(result.datasetDrift).toBe(false);
    for (const f of result.features) {
      expect(f.insufficient).toBe(false);
      expect(f.count).toBe(1000);
      expect(f.psi).toBeLessThan(0.1);
    }
  });

  it('flags the shifted features, ranks them first, and applies Benjamini–Hochberg', () => {
    const shifted = rows(1000, 3, {
      mean: { n1: 0.5, n4: 1 },
      probs: { c1: [0.25, 0.25, 0.25, 0.25] },
    });
    const result = evaluateWindow(
      { state: windowOf(m, baseline, shifted), closedAt: 42 },
      baseline,
      m,
    );
    const drifted = result.features.filter((f) => f.drifted).map((f) => f.feature);
    expect(drifted.sort()).toEqual(['c1', 'n1', 'n4']);
    expect(result.driftShare).toBeCloseTo(3 / 8, 15);
    expect(result.datasetDrift).toBe(false); // shareThreshold 0.5
    const ranked = [...result.features].sort((a, b) => a.adjustedPValue! - b.adjustedPValue!);
    expect(
      ranked
        .slice(0, 3)
        .map((f) => f.feature)
        .sort(),
    ).toEqual(['c1', 'n1', 'n4']);
    expect(ranked[0]!.feature).toBe('n4'); // the largest shift
    const byPsi = [...result.features].sort((a, b) => b.psi - a.psi);
    expect(byPsi[0]!.feature).toBe('n4');

    // Exactly BH over the raw p-values at drift.fdr.
    const bh = benjaminiHochberg(
      result.features.map((f) => f.pValue!),
      m.drift.fdr,
    );
    expect(result.features.map((f) => f.adjustedPValue)).toEqual(bh.adjusted);
    expect(result.features.map((f) => f.drifted)).toEqual(bh.rejected);
    expect(result.features.every((f) => f.threshold === m.drift.fdr)).toBe(true);

    const lower = model({ drift: { ...m.drift, shareThreshold: 0.3 } });
    expect(
      evaluateWindow({ state: windowOf(lower, baseline, shifted), closedAt: 1 }, baseline, lower)
        .datasetDrift,
    ).toBe(true);
  });

  it('uses a feature’s configured threshold in place of the FDR', () => {
    const strict = model({}, [{ name: 'n4', threshold: 1e-300 }]);
    const shifted = rows(1000, 3, { mean: { n1: 0.5, n4: 1 } });
    const result = evaluateWindow(
      { state: windowOf(strict, baseline, shifted), closedAt: 1 },
      baseline,
      strict,
    );
    const n4 = result.features.find((f) => f.feature === 'n4')!;
    expect(n4.threshold).toBe(1e-300);
    expect(n4.adjustedPValue).toBeGreaterThan(1e-300);
    expect(n4.drifted).toBe(false);
    expect(result.features.find((f) => f.feature === 'n1')!.drifted).toBe(true);
  });

  it('keeps the binned KS statistic within its bound of the exact KS statistic', () => {
    const data = rows(1000, 4, { mean: { n2: 0.2 } });
    const result = evaluateWindow({ state: windowOf(m, baseline, data), closedAt: 1 }, baseline, m);
    for (const name of NUMERIC) {
      const f = result.features.find((x) => x.feature === name)!;
      const exact = ksTest(
        refRows.map((r) => r.features[name] as number),
        data.map((r) => r.features[name] as number),
      ).statistic;
      expect(f.ksStatistic!).toBeLessThanOrEqual(exact + 1e-12);
      expect(exact - f.ksStatistic!).toBeLessThanOrEqual(f.ksBound! + 1e-12);
      expect(f.statistic).toBe(f.ksStatistic);
    }
  });

  it('gives no verdict on an insufficient window, but still reports its statistics', () => {
    const data = rows(50, 5, { mean: { n0: 3 } });
    const result = evaluateWindow({ state: windowOf(m, baseline, data), closedAt: 1 }, baseline, m);
    expect(result.features.every((f) => f.insufficient && !f.drifted)).toBe(true);
    expect(result.features.every((f) => f.adjustedPValue === null)).toBe(true);
    expect(result.driftShare).toBe(0);
    expect(result.datasetDrift).toBe(false);
    expect(result.features[0]!.psi).toBeGreaterThan(1);
    // No verdict, so no p-value of the test; the KS p-value is reported for every numeric one.
    expect(result.features.every((f) => f.pValue === null)).toBe(true);
    expect(result.features[0]!.ksPValue).toBeLessThan(1e-6);
  });

  it('leaves out of the verdict a feature whose non-missing values are too few', () => {
    const data = rows(1000, 6, { missing: { n0: 0.95 }, mean: { n0: 3 } });
    const result = evaluateWindow({ state: windowOf(m, baseline, data), closedAt: 1 }, baseline, m);
    const n0 = result.features[0]!;
    expect(n0.insufficient).toBe(true);
    expect(n0.drifted).toBe(false);
    expect(n0.missingRatio).toBeCloseTo(0.95, 1);
    expect(n0.count).toBe(Math.round(1000 * (1 - n0.missingRatio)));
    // BH family = the 7 features with a verdict.
    const family = result.features.filter((f) => !f.insufficient);
    expect(family).toHaveLength(7);
    expect(family.map((f) => f.adjustedPValue)).toEqual(
      benjaminiHochberg(
        family.map((f) => f.pValue!),
        m.drift.fdr,
      ).adjusted,
    );
  });

  it('reports data quality: missing, out-of-range and unseen shares', () => {
    const data = rows(1000, 7, { missing: { n3: 0.2 }, mean: { n5: 5 }, unseen: { c0: 0.1 } });
    const state = windowOf(m, baseline, data);
    const result = evaluateWindow({ state, closedAt: 1 }, baseline, m);
    const snap = state.snapshot();
    const n3 = result.features.find((f) => f.feature === 'n3')!;
    const n3s = snap.features.n3!;
    expect(n3.missingRatio).toBe(n3s.missing / n3s.total);
    expect(n3.missingRatio).toBeGreaterThan(0.15);
    const n5 = result.features.find((f) => f.feature === 'n5')!;
    const n5s = snap.features.n5!;
    if (n5s.kind !== 'numeric') throw new Error('n5 is numeric');
    expect(n5.outOfRangeRatio).toBe((n5s.below + n5s.above) / (n5s.total - n5s.missing - n5s.nan));
    expect(n5.outOfRangeRatio).toBeGreaterThan(0.5);
    const c0 = result.features.find((f) => f.feature === 'c0')!;
    expect(c0.unseenRatio).toBeGreaterThan(0.07);
    expect(c0.unseenRatio).toBeLessThan(0.13);
    expect(c0.drifted).toBe(true); // "other" had no reference mass at all
    const c0Profile = baseline.features.c0 as CategoricalProfile;
    expect(c0.histogram?.labels).toEqual([...c0Profile.categories, '__other__']);
  });

  it('evaluates the prediction like a feature, outside the drift share', () => {
    const data = rows(1000, 8, { prediction: 1 });
    const result = evaluateWindow({ state: windowOf(m, baseline, data), closedAt: 1 }, baseline, m);
    expect(result.prediction).not.toBeNull();
    expect(result.prediction!.feature).toBe('prediction');
    expect(result.prediction!.drifted).toBe(true);
    expect(result.prediction!.adjustedPValue).toBe(result.prediction!.pValue);
    expect(result.driftShare).toBe(0);
  });

  it('copies bounds, counts and baseline lineage into the result', () => {
    const state = windowOf(m, baseline, rows(200, 9));
    state.addLate(3);
    const result = evaluateWindow({ state, closedAt: 1234 }, baseline, m);
    expect(result).toMatchObject({
      ...BOUNDS,
      baselineId: baseline.id,
      baselineHash: baseline.hash,
      eventCount: 200,
      lateCount: 3,
      closedAt: 1234,
    });
    // A (merged, persisted) snapshot evaluates to the same result as the live state.
    expect(
      evaluateWindow(
        { state: JSON.parse(JSON.stringify(state.snapshot())), closedAt: 1234 },
        baseline,
        m,
      ),
    ).toEqual(result);
  });

  it('refuses a window built on another baseline', () => {
    const other = baselineOf(m, rows(300, 10));
    const state = windowOf(m, baseline, rows(10, 11));
    expect(() => evaluateWindow({ state, closedAt: 1 }, other, m)).toThrow(InvalidInputError);
  });
});

describe('evaluateWindow with distance tests (baseline > 1000 rows: Wasserstein, Jensen-Shannon)', () => {
  const m = model();
  const refRows = rows(3000, 21);
  const baseline = baselineOf(m, refRows);

  it('finds no drift on the same distribution and flags the shifted features', () => {
    const same = evaluateWindow(
      { state: windowOf(m, baseline, rows(2000, 22)), closedAt: 1 },
      baseline,
      m,
    );
    expect(same.features.map((f) => f.test)).toEqual([
      ...NUMERIC.map(() => 'wasserstein'),
      'jensen-shannon',
      'jensen-shannon',
    ]);
    expect(same.features.filter((f) => f.drifted)).toEqual([]);
    // Calibrated: every test has a p-value (simulated for the distances), all in one BH family,
    // compared with α = drift.fdr; the documented distance thresholds became effect floors.
    expect(same.features.every((f) => f.pValue !== null && f.adjustedPValue !== null)).toBe(true);
    expect(same.features.every((f) => f.verdictRule === 'calibrated')).toBe(true);
    expect(same.features.every((f) => f.threshold === m.drift.fdr)).toBe(true);
    expect(same.features.every((f) => f.effectFloor === 0.1)).toBe(true);
    expect(same.features.every((f) => f.effect === f.statistic)).toBe(true);

    const shifted = rows(2000, 23, {
      mean: { n0: 0.5, n2: 0.3 },
      probs: { c0: [0.1, 0.2, 0.3, 0.4] },
    });
    const result = evaluateWindow(
      { state: windowOf(m, baseline, shifted), closedAt: 1 },
      baseline,
      m,
    );
    expect(
      result.features
        .filter((f) => f.drifted)
        .map((f) => f.feature)
        .sort(),
    ).toEqual(['c0', 'n0', 'n2']);
    const n0 = result.features[0]!;
    expect(n0.adjustedPValue).toBeLessThan(1e-3);
    // Normed Wasserstein of a 0.5 std mean shift is ≈ 0.5.
    expect(n0.statistic).toBeGreaterThan(0.4);
    expect(n0.statistic).toBeLessThan(0.6);
    // KS and PSI are reported whatever the chosen test.
    expect(n0.ksStatistic).toBeGreaterThan(0.1);
    expect(n0.psi).toBeGreaterThan(0.1);
  });

  it('applies per-feature alpha and effect floor, per-model floors, and the fixed rule on request', () => {
    const data = rows(2000, 41, { mean: { n0: 0.5, n1: 0.5, n2: 0.5 } });
    const calibrated = model({}, [
      { name: 'n1', effectFloor: 0.9 }, // a 0.5 σ shift is below this floor
      { name: 'n2', alpha: 1e-300 }, // no p-value is this small
    ]);
    const r = evaluateWindow(
      { state: windowOf(calibrated, baseline, data), closedAt: 1 },
      baseline,
      calibrated,
    );
    const [n0, n1, n2] = r.features;
    expect(n0).toMatchObject({ drifted: true, effectFloor: 0.1, threshold: calibrated.drift.fdr });
    expect(n1).toMatchObject({ drifted: false, effectFloor: 0.9 });
    expect(n1!.adjustedPValue).toBeLessThan(calibrated.drift.fdr);
    expect(n2).toMatchObject({ drifted: false, threshold: 1e-300 });
    expect(n2!.effect).toBeGreaterThan(0.1);

    const floors = model({ drift: { ...calibrated.drift, effectFloor: { wasserstein: 0.9 } } });
    const f = evaluateWindow(
      { state: windowOf(floors, baseline, data), closedAt: 1 },
      baseline,
      floors,
    );
    expect(f.features.slice(0, 3).map((x) => [x.drifted, x.effectFloor])).toEqual([
      [false, 0.9],
      [false, 0.9],
      [false, 0.9],
    ]);

    // The fixed rule: the same clean small window is flagged by 0.1 on the normed distance.
    const fixed = model({ drift: { ...calibrated.drift, verdict: 'threshold' } });
    const clean = rows(100, 42);
    const a = evaluateWindow(
      { state: windowOf(fixed, baseline, clean), closedAt: 1 },
      baseline,
      fixed,
    );
    const b = evaluateWindow(
      { state: windowOf(calibrated, baseline, clean), closedAt: 1 },
      baseline,
      calibrated,
    );
    expect(a.features.every((x) => x.verdictRule === 'threshold' && x.effectFloor === null)).toBe(
      true,
    );
    expect(a.features.filter((x) => x.drifted).length).toBeGreaterThan(
      b.features.filter((x) => x.drifted).length,
    );
  });

  it('warms the simulated nulls a baseline needs, one task per simulated feature, without changing verdicts', () => {
    const fresh = baselineOf(m, rows(3000, 21));
    const tasks = nullWarmups(fresh, m);
    // Every feature here has a simulated test (Wasserstein or Jensen-Shannon).
    expect(tasks.length).toBe(m.features.length);
    const state = windowOf(m, fresh, rows(5000, 31));
    const cold = evaluateWindow({ state, closedAt: 1 }, baselineOf(m, rows(3000, 21)), m);
    for (const t of tasks) t();
    const warm = evaluateWindow({ state, closedAt: 1 }, fresh, m);
    expect(warm.features.map((f) => f.pValue)).toEqual(cold.features.map((f) => f.pValue));
  });

  it('computes Wasserstein from fine bins within the documented bound of the exact value', () => {
    const data = rows(2000, 24, { mean: { n3: 0.3, n5: 4 } });
    const state = windowOf(m, baseline, data);
    const result = evaluateWindow({ state, closedAt: 1 }, baseline, m);
    const snap = state.snapshot();
    for (const name of NUMERIC) {
      const profile = baseline.features[name] as NumericProfile;
      const s = snap.features[name]!;
      if (s.kind !== 'numeric') throw new Error('numeric');
      const ref = refRows.map((r) => r.features[name] as number);
      const cur = data.map((r) => r.features[name] as number);
      const exact = wassersteinDistance(ref, cur);
      const binned = binnedWasserstein(profile.edges, profile, s);
      expect(Math.abs(binned.distance - exact)).toBeLessThanOrEqual(binned.bound + 1e-9);
      const widest = Math.max(...profile.edges.slice(1).map((e, i) => e - profile.edges[i]!));
      const outOfRange =
        (s.min !== null ? Math.max(0, profile.edges[0]! - s.min) : 0) +
        (s.max !== null ? Math.max(0, s.max - profile.edges.at(-1)!) : 0);
      expect(binned.bound).toBeLessThanOrEqual(Math.max(widest, outOfRange));
      const normed = wassersteinDistance(ref, cur, { normalize: true });
      const f = result.features.find((x) => x.feature === name)!;
      // KS is reported whatever the test, as binnedKsTest computes it (the statistic does not
      // depend on the interior counts; the bound is at most the largest-bin rule's).
      const ks = binnedKsTest([0, ...profile.counts, 0], [s.below, ...s.counts, s.above]);
      expect(f.ksStatistic).toBe(ks.statistic);
      expect(f.ksBound).toBeLessThanOrEqual(ks.bound);
      expect(f.statisticBound).toBeCloseTo(binned.bound / (exact / normed), 12);
      expect(Math.abs(f.statistic - normed)).toBeLessThanOrEqual(f.statisticBound! + 1e-9);
    }
  });

  it('honours a configured test and PSI threshold', () => {
    const psiModel = model({}, [
      { name: 'n0', test: 'psi' },
      { name: 'n1', test: 'ks' },
      { name: 'c0', test: 'chi-square' },
      { name: 'n2', test: 'psi', threshold: 5 },
    ]);
    const data = rows(2000, 25, { mean: { n0: 1, n2: 1 } });
    const result = evaluateWindow(
      { state: windowOf(psiModel, baseline, data), closedAt: 1 },
      baseline,
      psiModel,
    );
    const [n0, n1, n2] = result.features;
    // Calibrated PSI: the PSI threshold is its effect floor, the level is α.
    expect(n0).toMatchObject({
      test: 'psi',
      verdictRule: 'calibrated',
      threshold: psiModel.drift.fdr,
      effectFloor: psiModel.drift.psiThreshold,
      drifted: true,
    });
    expect(n0!.statistic).toBe(n0!.psi);
    expect(n1).toMatchObject({ test: 'ks', drifted: false });
    expect(n1!.pValue).not.toBeNull();
    // A configured threshold keeps the fixed rule.
    expect(n2).toMatchObject({
      test: 'psi',
      verdictRule: 'threshold',
      threshold: 5,
      effectFloor: null,
      drifted: false,
    });
    const c0 = result.features.find((f) => f.feature === 'c0')!;
    expect(c0.test).toBe('chi-square');
    // BH family: every feature's test, whatever it is (was: only KS and chi-square).
    const family = result.features.filter((f) => f.pValue !== null);
    expect(family.map((f) => f.feature)).toEqual(result.features.map((f) => f.feature));
    expect(family.map((f) => f.adjustedPValue)).toEqual(
      benjaminiHochberg(
        family.map((f) => f.pValue!),
        psiModel.drift.fdr,
      ).adjusted,
    );
  });

  it('reports PSI histograms over the coarse bins', () => {
    const result = evaluateWindow(
      { state: windowOf(m, baseline, rows(2000, 26)), closedAt: 1 },
      baseline,
      m,
    );
    const h = result.features[0]!.histogram!;
    expect(h.edges).toHaveLength(h.reference.length + 1);
    expect(h.reference.reduce((a, b) => a + b, 0)).toBeCloseTo(1, 12);
    expect(h.current.reduce((a, b) => a + b, 0)).toBeCloseTo(1, 12);
    expect(h.reference.every((p) => Math.abs(p - 0.1) < 0.02)).toBe(true);
  });
});

describe('binnedWasserstein', () => {
  it('is exact for distributions uniform within bins when no gap sums are known (the fallback)', () => {
    const edges = [0, 1, 2, 3, 4];
    // Reference uniform on (0, 4], window uniform on (1, 4] (bin 0 is the point {0}).
    const w = binnedWasserstein(
      edges,
      { counts: [0, 1, 1, 1, 1] },
      { counts: [0, 0, 1, 1, 1], below: 0, above: 0, min: 1, max: 4 },
    );
    // W1(U(0,4), U(1,4)) = ∫ |x/4 − max(0, (x−1)/3)| dx over [0, 4] = 1/2.
    expect(w.distance).toBeCloseTo(0.5, 12);
    // Each side's mass: 3w/4 per unit mass (no within-bin information at all).
    expect(w.bound).toBeCloseTo(1.5, 12);
  });

  it('places each bin at its exact mean and spread: atoms between atoms are exact', () => {
    const edges = [0, 1, 2, 3, 4];
    // Reference: atoms at 1, 2, 3, 4 (every value on its bin's upper edge: gap 0).
    // Window: the same shifted by 0.1 (1.1 in (1, 2], …, 4.1 above the range).
    const w = binnedWasserstein(
      edges,
      { counts: [0, 1, 1, 1, 1], gaps: [0, 0, 0, 0, 0], gapSquares: [0, 0, 0, 0, 0] },
      {
        // Gaps in steps of width/4096: 0.9 below the edge is 3686.4 → 3686 steps; above the
        // range in steps of range/4096 = 1/1024: 0.1 → 102.4 → 102.
        counts: [0, 0, 1, 1, 1],
        gaps: [0, 0, 3686, 3686, 3686],
        gapSquares: [0, 0, 3686 ** 2, 3686 ** 2, 3686 ** 2],
        below: 0,
        above: 1,
        belowGap: 0,
        aboveGap: 102,
        min: 1.1,
        max: 4.1,
      },
    );
    // Exact but for the steps (under 1/4096 of a bin per value), which the bound covers.
    expect(Math.abs(w.distance - 0.1)).toBeLessThanOrEqual(w.bound);
    expect(w.distance).toBeCloseTo(0.1, 3);
    expect(w.bound).toBeLessThan(0.002);
    // Without the window's gap sums (an older snapshot), mass is uniform in each bin.
    const old = binnedWasserstein(
      edges,
      { counts: [0, 1, 1, 1, 1], gaps: [0, 0, 0, 0, 0], gapSquares: [0, 0, 0, 0, 0] },
      { counts: [0, 0, 1, 1, 1], below: 0, above: 1, min: 1.1, max: 4.1 },
    );
    expect(Math.abs(old.distance - 0.1)).toBeLessThanOrEqual(old.bound);
    expect(old.distance).toBeGreaterThan(0.3);
  });

  it('accounts for values beyond the baseline range (mean from the gap sums, else min / max)', () => {
    const w = binnedWasserstein(
      [0, 1],
      { counts: [1, 1] },
      { counts: [0, 0], below: 0, above: 2, min: 3, max: 5 },
    );
    // Reference: 1/2 at 0, 1/2 uniform on (0, 1]; window uniform on (1, 5] without gap sums:
    // W1 = E[cur] − E[ref] = 3 − 0.25.
    expect(w.distance).toBeCloseTo(2.75, 12);
    const g = binnedWasserstein(
      [0, 1],
      { counts: [1, 1], gaps: [0, 2048], gapSquares: [0, 2048 ** 2] },
      {
        counts: [0, 0],
        gaps: [0, 0],
        gapSquares: [0, 0],
        below: 0,
        above: 2,
        belowGap: 0,
        aboveGap: (2 + 4) * 4096, // values 3 and 5, in steps of range/4096
        min: 3,
        max: 5,
      },
    );
    // Reference: 1/2 at 0, 1/2 at 0.5; window 3 and 5 (modelled uniform on [1, 7] around 4,
    // hence not exact, but within the bound): exact W1 = 4 − 0.25.
    expect(Math.abs(g.distance - 3.75)).toBeLessThanOrEqual(g.bound + 1e-12);
  });

  it('needs data on both sides', () => {
    expect(() =>
      binnedWasserstein(
        [0, 1],
        { counts: [1, 1] },
        { counts: [0, 0], below: 0, above: 0, min: null, max: null },
      ),
    ).toThrow(InvalidInputError);
  });
});

describe('evaluateWindow: estimator choices, bounds and data quality (issue 15 items 2–3)', () => {
  /** A model of one feature plus a categorical one, with a configurable test and threshold. */
  function oneFeature(over: Partial<FeatureConfig> = {}, topCategories = 100) {
    const base = testModel();
    return testModel({
      features: [
        { name: 'x', type: 'numeric', test: null, threshold: null, ...over },
        { name: 'cat', type: 'categorical', test: null, threshold: null },
      ],
      drift: { ...base.drift, topCategories },
    });
  }
  function rowsOf(xs: number[], cats: string[] = xs.map(() => 'a')): Row[] {
    return xs.map((x, i) => ({ features: { x, cat: cats[i]! }, prediction: 0 }));
  }

  it('chooses the test from the baseline’s distinct values, not its fine edges', () => {
    // Five equally frequent values: nine fine edges (interpolated edges between the atoms),
    // which the old rule counted as nine distinct values (Wasserstein); Evidently's rule
    // (≤ 5 distinct values, reference > 1000 rows) gives Jensen-Shannon.
    const m = oneFeature();
    const xs = Array.from({ length: 2000 }, (_, i) => i % 5);
    const baseline = baselineOf(m, rowsOf(xs));
    const profile = baseline.features.x as NumericProfile;
    expect(profile.distinct).toBe(5);
    expect(profile.edges.length).toBeGreaterThan(5);
    const result = evaluateWindow(
      { state: windowOf(m, baseline, rowsOf(xs.slice(0, 500))), closedAt: 1 },
      baseline,
      m,
    );
    expect(result.features[0]!.test).toBe('jensen-shannon');
    // A profile from before driftd-baseline/2 (no distinct count) keeps the edge rule.
    const { distinct: _d, ...old } = profile;
    const oldBaseline = { ...baseline, features: { ...baseline.features, x: old } };
    const oldResult = evaluateWindow(
      { state: windowOf(m, oldBaseline, rowsOf(xs.slice(0, 500))), closedAt: 1 },
      oldBaseline,
      m,
    );
    expect(oldResult.features[0]!.test).toBe('wasserstein');
  });

  it('computes Jensen-Shannon in natural logarithms, the base of its 0.1 threshold (Evidently)', () => {
    const m = oneFeature();
    const xs = Array.from({ length: 2000 }, (_, i) => i % 5);
    const baseline = baselineOf(m, rowsOf(xs));
    const cur = Array.from({ length: 600 }, (_, i) => (i % 3 === 0 ? 4 : i % 5));
    const state = windowOf(m, baseline, rowsOf(cur));
    const f = evaluateWindow({ state, closedAt: 1 }, baseline, m).features[0]!;
    const profile = baseline.features.x as NumericProfile;
    const s = state.snapshot().features.x as Extract<
      ReturnType<WindowState['snapshot']>['features'][string],
      { kind: 'numeric' }
    >;
    const ref = [0, ...profile.counts, 0];
    const win = [s.below, ...s.counts, s.above];
    expect(f.statistic).toBe(jensenShannonDistance(ref, win));
    expect(f.statistic * Math.sqrt(1 / Math.LN2)).toBeCloseTo(
      jensenShannonDistance(ref, win, { base: 2 }),
      12,
    );
    expect(f.statisticBound).toBeNull(); // defined on the bins: exact
  });

  it('unseenRatio counts values never seen in the baseline; otherRatio those outside the top-N', () => {
    const m = oneFeature({}, 2);
    // Baseline: a (50 %), b (30 %), c and d (10 % each): top-2 = a, b; c and d were seen.
    const cats = Array.from({ length: 1000 }, (_, i) =>
      i % 10 < 5 ? 'a' : i % 10 < 8 ? 'b' : i % 10 === 8 ? 'c' : 'd',
    );
    const baseline = baselineOf(
      m,
      rowsOf(
        cats.map(() => 1),
        cats,
      ),
    );
    const profile = baseline.features.cat as CategoricalProfile;
    expect(profile.categories).toEqual(['a', 'b']);
    expect(profile.seen).toEqual(['c', 'd']);
    expect(profile.seenComplete).toBe(true);
    // Window: 60 % a, 30 % c (seen, outside the top-2), 10 % new.
    const wcats = Array.from({ length: 200 }, (_, i) =>
      i % 10 < 6 ? 'a' : i % 10 < 9 ? 'c' : 'new',
    );
    const state = windowOf(
      m,
      baseline,
      rowsOf(
        wcats.map(() => 1),
        wcats,
      ),
    );
    const f = evaluateWindow({ state, closedAt: 1 }, baseline, m).features[1]!;
    expect(f.unseenRatio).toBeCloseTo(0.1, 15);
    expect(f.otherRatio).toBeCloseTo(0.4, 15);
    // A profile without the seen list (before driftd-baseline/2): the top-N share, as before.
    const { seen: _s, seenComplete: _c, ...old } = profile;
    const oldBaseline = { ...baseline, features: { ...baseline.features, cat: old } };
    const g = evaluateWindow({ state, closedAt: 1 }, oldBaseline, m).features[1]!;
    expect(g.unseenRatio).toBeCloseTo(0.4, 15);
  });

  it('restores a window snapshot taken before gap sums: same counts, wider Wasserstein bound', () => {
    const m = oneFeature({ test: 'wasserstein' });
    const r = rng(7);
    const z = normal(r);
    const xs = Array.from({ length: 3000 }, () => Math.round(50 + 10 * z()));
    const baseline = baselineOf(m, rowsOf(xs));
    const cur = Array.from({ length: 1000 }, () => Math.round(50 + 10 * z()) + 0.3);
    const state = windowOf(m, baseline, rowsOf(cur));
    const fresh = evaluateWindow({ state, closedAt: 1 }, baseline, m).features[0]!;
    // The snapshot an older driftd persisted: no gap sums, no neverSeen.
    const snap = state.snapshot();
    const strip = <T extends object>(s: T): T => {
      const {
        gaps: _a,
        gapSquares: _b,
        belowGap: _c,
        aboveGap: _d,
        neverSeen: _e,
        ...rest
      } = s as T & Record<string, unknown>;
      return rest as T;
    };
    const old = {
      ...snap,
      features: Object.fromEntries(Object.entries(snap.features).map(([k, s]) => [k, strip(s)])),
      prediction: snap.prediction === null ? null : strip(snap.prediction),
    };
    const restored = createWindowState({ bounds: BOUNDS, model: m, baseline }, old);
    expect(restored.snapshot().features.x!.total).toBe(1000);
    const f = evaluateWindow({ state: restored, closedAt: 1 }, baseline, m).features[0]!;
    const exact = wassersteinDistance(xs, cur, { normalize: true });
    expect(Math.abs(fresh.statistic - exact)).toBeLessThanOrEqual(fresh.statisticBound! + 1e-12);
    expect(Math.abs(f.statistic - exact)).toBeLessThanOrEqual(f.statisticBound! + 1e-12);
    expect(f.statisticBound!).toBeGreaterThan(fresh.statisticBound!);
    expect(Math.abs(fresh.statistic - exact)).toBeLessThan(0.002);
  });

  it('says when a verdict’s bound straddles its threshold', () => {
    const r = rng(8);
    const z = normal(r);
    const xs = Array.from({ length: 3000 }, () => 50 + 10 * z());
    // The same law: the CDFs cross in many bins, so the bound is > 0. (With a clear shift
    // they never cross inside a bin and the estimate is exact: bound 0.)
    const cur = Array.from({ length: 1000 }, () => 50 + 10 * z());
    const probe = oneFeature({ test: 'wasserstein' });
    const baseline = baselineOf(probe, rowsOf(xs));
    const state = windowOf(probe, baseline, rowsOf(cur));
    const f = evaluateWindow({ state, closedAt: 1 }, baseline, probe).features[0]!;
    expect(f.statisticBound).toBeGreaterThan(0);
    expect(f.boundStraddlesThreshold).toBe(false); // 0.1 is far from a clean window's value
    // A threshold inside [statistic − bound, statistic + bound]: the exact value could be on
    // either side, and the result says so.
    const at = (threshold: number) => {
      const mm = oneFeature({ test: 'wasserstein', threshold });
      return evaluateWindow({ state, closedAt: 1 }, baseline, mm).features[0]!;
    };
    expect(at(f.statistic + f.statisticBound! / 2).boundStraddlesThreshold).toBe(true);
    expect(at(f.statistic - f.statisticBound! / 2).boundStraddlesThreshold).toBe(true);
    expect(at(f.statistic + 2 * f.statisticBound!).boundStraddlesThreshold).toBe(false);
  });
});
