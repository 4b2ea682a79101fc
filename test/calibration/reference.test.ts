/**
 * Calibration with a window reference (models[].reference rolling): clean windows compared
 * with the sum of the 3 clean windows before them, all resampled from the same real data
 * (vega-datasets weather and flights-20k, harness.ts). The reference is a sample too, so a
 * verdict that treated it as a population (the baseline's one-sample null at n instead of
 * n_eff = n·N_ref/(n + N_ref), or a null drawn from the baseline instead of the reference)
 * would flag far more than α; here every test keeps its per-feature false-alarm rate ≤ α,
 * and a half-σ shift against the reference is still detected at n ≥ 500.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import type { ModelConfig } from '../../src/config/types.js';
import type { BaselineProfile } from '../../src/types.js';
import { createWindowState, evaluateWindow, type WindowState } from '../../src/window/index.js';
import {
  baselineFor,
  type Dataset,
  FAMILIES,
  type Family,
  loadDatasets,
  modelFor,
  windowRows,
} from './harness.js';

const ALPHA = 0.05;
const REFERENCE_WINDOWS = 3;
const SIZES = [100, 500, 2000] as const;
const CLEAN = 80;
const SHIFTED = 20;

type Tally = Record<string, { drifted: number; total: number }>;
/** [dataset][family][n] */
const falseAlarms: Record<string, Record<string, Record<number, Tally>>> = {};
const detections: Record<string, Record<string, Record<number, Tally>>> = {};

function stateOf(
  ds: Dataset,
  baseline: BaselineProfile,
  model: ModelConfig,
  start: number,
  rows: ReturnType<typeof windowRows>,
): WindowState {
  const state = createWindowState({
    bounds: {
      model: model.id,
      version: '1',
      size: 60_000,
      sizeLabel: '1m',
      start,
      end: start + 60_000,
    },
    model,
    baseline,
  });
  rows.forEach((features, i) => {
    state.record({
      model: model.id,
      version: '1',
      id: `${ds.name}-${i}`,
      ts: start,
      features,
      prediction: null,
    });
  });
  return state;
}

beforeAll(async () => {
  for (const ds of await loadDatasets()) {
    const baseline = baselineFor(ds);
    const models = Object.fromEntries(
      FAMILIES.map((f) => [
        f,
        { ...modelFor(ds, f), reference: { kind: 'rolling', windows: REFERENCE_WINDOWS } },
      ]),
    ) as Record<Family, ModelConfig>;
    falseAlarms[ds.name] = {};
    detections[ds.name] = {};
    for (const family of FAMILIES) {
      falseAlarms[ds.name]![family] = {};
      detections[ds.name]![family] = {};
    }
    const recordModel = models.ks;
    for (const n of SIZES) {
      for (let w = 0; w < CLEAN + SHIFTED; w++) {
        const shifted = w < CLEAN ? null : ds.numeric[w % ds.numeric.length]!;
        // The reference: the sum of 3 clean windows of n (indices apart from the windows').
        const reference = stateOf(ds, baseline, recordModel, 0, [
          ...Array.from({ length: REFERENCE_WINDOWS }, (_, j) =>
            windowRows(ds, baseline, n, 100_000 + w * REFERENCE_WINDOWS + j, null),
          ).flat(),
        ]);
        const window = stateOf(
          ds,
          baseline,
          recordModel,
          180_000,
          windowRows(ds, baseline, n, w, shifted),
        );
        const snapshot = window.snapshot();
        for (const family of FAMILIES) {
          const result = evaluateWindow(
            {
              state: snapshot,
              closedAt: 240_000,
              reference: {
                kind: 'rolling',
                windows: REFERENCE_WINDOWS,
                state: reference,
                spans: [],
                note: null,
              },
            },
            baseline,
            models[family],
          );
          const tally = (shifted === null ? falseAlarms : detections)[ds.name]![family]!;
          tally[n] ??= {};
          for (const f of result.features) {
            if (shifted !== null && f.feature !== shifted) continue;
            expect(f.insufficient).toBe(false);
            tally[n]![f.test] ??= { drifted: 0, total: 0 };
            const t = tally[n]![f.test]!;
            t.total++;
            if (f.drifted) t.drifted++;
          }
        }
      }
    }
  }
}, 600_000);

const rate = (x: { drifted: number; total: number }) => x.drifted / x.total;

describe('calibrated verdicts against a rolling reference of 3 windows (vega-datasets)', () => {
  it('keeps the per-feature false-alarm rate of every test at or below α', () => {
    const over: string[] = [];
    for (const [dataset, families] of Object.entries(falseAlarms)) {
      for (const [family, bySize] of Object.entries(families)) {
        for (const [n, tests] of Object.entries(bySize)) {
          for (const [test, x] of Object.entries(tests)) {
            if (rate(x) > ALPHA) over.push(`${dataset} ${family}/${test} n=${n}: ${rate(x)}`);
          }
        }
      }
    }
    expect(over).toEqual([]);
  });

  it('detects half-σ shifts against the reference at n ≥ 500 in at least 90 % of windows', () => {
    const under: string[] = [];
    for (const [dataset, families] of Object.entries(detections)) {
      for (const [family, bySize] of Object.entries(families)) {
        for (const n of SIZES.filter((s) => s >= 500)) {
          for (const [test, x] of Object.entries(bySize[n]!)) {
            if (rate(x) < 0.9) under.push(`${dataset} ${family}/${test} n=${n}: ${rate(x)}`);
          }
        }
      }
    }
    expect(under).toEqual([]);
  });
});
