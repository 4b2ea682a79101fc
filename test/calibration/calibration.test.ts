/**
 * Calibration of drift verdicts on real data (harness.ts): clean windows resampled from the
 * baseline at n ∈ {50 … 100 000} give a per-feature false-alarm rate ≤ α and a dataset-drift
 * rate ≤ 1 % for every test; shifts of half a standard deviation are detected at n ≥ 500 in
 * ≥ 90 % of windows. The README's tables come from the same harness
 * (scripts/calibration-table.ts). The last case runs the fixed-threshold rule of earlier
 * versions on the same windows and shows it fails the false-alarm bar.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { type Calibration, FAMILIES, runCalibration, SIZES } from './harness.js';

const ALPHA = 0.05; // drift.fdr default
let result: Calibration;

beforeAll(async () => {
  result = await runCalibration();
}, 300_000);

const rate = (x: { drifted: number; total: number }) => x.drifted / x.total;

describe('calibrated verdicts on vega-datasets (weather, flights-20k)', () => {
  it('keeps the per-feature false-alarm rate of every test at or below α at every n', () => {
    const over: string[] = [];
    for (const [dataset, families] of Object.entries(result)) {
      for (const family of FAMILIES) {
        for (const n of SIZES) {
          for (const [test, x] of Object.entries(families[family][n]!.falseAlarms)) {
            expect(x.total).toBeGreaterThan(0);
            if (rate(x) > ALPHA) over.push(`${dataset} ${family}/${test} n=${n}: ${rate(x)}`);
          }
        }
      }
    }
    expect(over).toEqual([]);
  });

  it('puts at most 1 % of clean windows in dataset drift', () => {
    const over: string[] = [];
    for (const [dataset, families] of Object.entries(result)) {
      for (const family of FAMILIES) {
        for (const n of SIZES) {
          const x = families[family][n]!.datasetDrift;
          if (rate(x) > 0.01) over.push(`${dataset} ${family} n=${n}: ${rate(x)}`);
        }
      }
    }
    expect(over).toEqual([]);
  });

  it('detects half-σ shifts at n ≥ 500 in at least 90 % of windows, for every numeric test', () => {
    const under: string[] = [];
    for (const [dataset, families] of Object.entries(result)) {
      for (const family of FAMILIES) {
        for (const n of SIZES.filter((s) => s >= 500)) {
          const tests = Object.entries(families[family][n]!.detections);
          expect(tests.length).toBeGreaterThan(0);
          for (const [test, x] of tests) {
            if (rate(x) < 0.9) under.push(`${dataset} ${family}/${test} n=${n}: ${rate(x)}`);
          }
        }
      }
    }
    expect(under).toEqual([]);
  });

  it('fails the false-alarm bar with the fixed thresholds of earlier versions (what the fix changes)', async () => {
    const fixed = await runCalibration({
      verdict: 'threshold',
      sizes: [100],
      cleanWindows: () => 100,
      shiftedWindows: () => 0,
    });
    const weather = fixed.weather!;
    // Fixed 0.1 on the normed Wasserstein / JS distance flags most clean features at n = 100.
    expect(rate(weather.wasserstein[100]!.falseAlarms.wasserstein!)).toBeGreaterThan(0.3);
    expect(rate(weather.wasserstein[100]!.datasetDrift)).toBeGreaterThan(0.3);
    expect(rate(weather.js[100]!.falseAlarms['jensen-shannon']!)).toBeGreaterThan(ALPHA);
  }, 120_000);
});
