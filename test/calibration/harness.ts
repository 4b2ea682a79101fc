/**
 * Calibration of drift verdicts on real data that a package ships (vega-datasets: NOAA daily
 * weather of Seattle and New York 2012–2015, and 20 000 US flights of 2001). Used by
 * calibration.test.ts (CI) and by scripts/calibration-table.ts (the README tables).
 *
 * For each dataset the whole file is the baseline. Windows:
 * - clean: n rows drawn with replacement from the baseline's rows (a window from the very
 *   distribution the baseline describes), recorded event by event through the real window
 *   state (sketches on the baseline's bins) and evaluated by evaluateWindow;
 * - shifted: the same, with one numeric feature (in turn) moved by +0.5 of its baseline
 *   standard deviation.
 * Every window is evaluated under one model config per test family, so every test is
 * measured on the same windows:
 *   ks          numeric KS,              categorical chi-square
 *   wasserstein numeric Wasserstein,     categorical Jensen-Shannon (the automatic choice here)
 *   psi         numeric PSI,             categorical PSI
 *   js          numeric Jensen-Shannon,  categorical Jensen-Shannon
 * Defaults otherwise (α = drift.fdr = 0.05, default effect floors, minWindowSize lowered to
 * 50 so that n = 50 gets a verdict).
 */
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { buildProfileFromRows } from '../../src/baseline/index.js';
import type { FeatureConfig, ModelConfig, VerdictRule } from '../../src/config/types.js';
import type { BaselineProfile, DriftTest, FeatureValue, NumericProfile } from '../../src/types.js';
import { createWindowState, evaluateWindow } from '../../src/window/index.js';
import { testModel } from '../helpers/model.js';
import { mulberry32 } from '../helpers/random.js';

export const SIZES = [50, 100, 200, 500, 1000, 10_000, 100_000] as const;
export const FAMILIES = ['ks', 'wasserstein', 'psi', 'js'] as const;
export type Family = (typeof FAMILIES)[number];
const FAMILY_TESTS: Record<Family, { numeric: DriftTest; categorical: DriftTest }> = {
  ks: { numeric: 'ks', categorical: 'chi-square' },
  wasserstein: { numeric: 'wasserstein', categorical: 'jensen-shannon' },
  psi: { numeric: 'psi', categorical: 'psi' },
  js: { numeric: 'jensen-shannon', categorical: 'jensen-shannon' },
};

export interface Dataset {
  name: string;
  numeric: string[];
  categorical: string[];
  rows: Array<Record<string, FeatureValue>>;
}

async function vegaFile(name: string): Promise<string> {
  const main = fileURLToPath(import.meta.resolve('vega-datasets'));
  return readFile(new URL(`../data/${name}`, `file://${main}`), 'utf8');
}

export async function loadDatasets(): Promise<Dataset[]> {
  const weatherText = (await vegaFile('weather.csv')).trim().split('\n');
  const cols = weatherText[0]!.split(',');
  const weather = weatherText.slice(1).map((line) => {
    const f = line.split(',');
    const at = (c: string) => f[cols.indexOf(c)]!;
    return {
      temp_max: Number(at('temp_max')),
      temp_min: Number(at('temp_min')),
      wind: Number(at('wind')),
      precipitation: Number(at('precipitation')),
      weather: at('weather'),
      location: at('location'),
    };
  });
  const flights = (
    JSON.parse(await vegaFile('flights-20k.json')) as Array<{
      delay: number;
      distance: number;
      origin: string;
      destination: string;
    }>
  ).map((r) => ({
    delay: r.delay,
    distance: r.distance,
    origin: r.origin,
    destination: r.destination,
  }));
  return [
    {
      name: 'weather',
      numeric: ['temp_max', 'temp_min', 'wind', 'precipitation'],
      categorical: ['weather', 'location'],
      rows: weather,
    },
    {
      name: 'flights-20k',
      numeric: ['delay', 'distance'],
      categorical: ['origin', 'destination'],
      rows: flights,
    },
  ];
}

export function modelFor(
  ds: Dataset,
  family: Family | null,
  verdict: VerdictRule = 'calibrated',
): ModelConfig {
  const tests = family === null ? null : FAMILY_TESTS[family];
  const feature = (name: string, type: 'numeric' | 'categorical'): FeatureConfig => ({
    name,
    type,
    test: tests === null ? null : tests[type],
    threshold: null,
  });
  const base = testModel();
  return testModel({
    id: `calibration-${ds.name}`,
    features: [
      ...ds.numeric.map((n) => feature(n, 'numeric')),
      ...ds.categorical.map((n) => feature(n, 'categorical')),
    ],
    drift: { ...base.drift, minWindowSize: 50, verdict },
  });
}

export interface Cell {
  /** Feature verdicts with drift / feature verdicts, on clean windows (per test). */
  falseAlarms: Record<string, { drifted: number; total: number }>;
  /** Clean windows in dataset drift / clean windows. */
  datasetDrift: { drifted: number; total: number };
  /** Shifted features detected / shifted windows (per test). */
  detections: Record<string, { drifted: number; total: number }>;
}

export interface CalibrationOptions {
  /** Clean windows per size (default: 200 up to n = 1000, 100 above). */
  cleanWindows?: (n: number) => number;
  /** Shifted windows per size (default 40). */
  shiftedWindows?: (n: number) => number;
  sizes?: readonly number[];
  /** Verdict rule of every model (default calibrated; `threshold` = the fixed rule before). */
  verdict?: VerdictRule;
  /** Called with every evaluated window (for the Evidently side-by-side). */
  onWindow?: (e: WindowRecord) => void;
}

export interface WindowRecord {
  dataset: string;
  family: Family;
  n: number;
  index: number;
  shifted: string | null;
  drifted: Record<string, boolean>;
  datasetDrift: boolean;
}

/** result[dataset][family][n] */
export type Calibration = Record<string, Record<Family, Record<number, Cell>>>;

export async function runCalibration(options: CalibrationOptions = {}): Promise<Calibration> {
  const datasets = await loadDatasets();
  const out: Calibration = {};
  for (const ds of datasets) out[ds.name] = calibrateDataset(ds, options);
  return out;
}

export function baselineFor(ds: Dataset): BaselineProfile {
  return buildProfileFromRows(
    modelFor(ds, null),
    '1',
    ds.rows.map((features) => ({ features, prediction: null })),
    { createdAt: 0, source: `vega-datasets ${ds.name}` },
  ).profile;
}

/** The rows of window `index` of size n (shifted feature or none), deterministic. */
export function windowRows(
  ds: Dataset,
  baseline: BaselineProfile,
  n: number,
  index: number,
  shifted: string | null,
): Array<Record<string, FeatureValue>> {
  const random = mulberry32((n * 7919 + index * 104_729 + (shifted === null ? 0 : 1)) >>> 0);
  const delta =
    shifted === null ? 0 : 0.5 * (baseline.features[shifted] as NumericProfile).summary.std;
  const rows = new Array<Record<string, FeatureValue>>(n);
  for (let i = 0; i < n; i++) {
    const row = ds.rows[Math.floor(random() * ds.rows.length)]!;
    rows[i] = shifted === null ? row : { ...row, [shifted]: (row[shifted] as number) + delta };
  }
  return rows;
}

function calibrateDataset(
  ds: Dataset,
  options: CalibrationOptions,
): Record<Family, Record<number, Cell>> {
  const baseline = baselineFor(ds);
  const models = Object.fromEntries(
    FAMILIES.map((f) => [f, modelFor(ds, f, options.verdict)]),
  ) as Record<Family, ModelConfig>;
  const cleanWindows = options.cleanWindows ?? ((n: number) => (n <= 1000 ? 200 : 100));
  const shiftedWindows = options.shiftedWindows ?? (() => 40);
  const out = Object.fromEntries(FAMILIES.map((f) => [f, {}])) as Record<
    Family,
    Record<number, Cell>
  >;
  const recordModel = models.ks;
  for (const n of options.sizes ?? SIZES) {
    const cells = Object.fromEntries(
      FAMILIES.map((f) => [
        f,
        { falseAlarms: {}, datasetDrift: { drifted: 0, total: 0 }, detections: {} } as Cell,
      ]),
    ) as Record<Family, Cell>;
    const bump = (
      table: Record<string, { drifted: number; total: number }>,
      key: string,
      hit: boolean,
    ) => {
      table[key] ??= { drifted: 0, total: 0 };
      table[key].total++;
      if (hit) table[key].drifted++;
    };
    const plan: Array<{ index: number; shifted: string | null }> = [];
    for (let i = 0; i < cleanWindows(n); i++) plan.push({ index: i, shifted: null });
    for (let i = 0; i < shiftedWindows(n); i++) {
      plan.push({ index: i, shifted: ds.numeric[i % ds.numeric.length]! });
    }
    for (const { index, shifted } of plan) {
      const state = createWindowState({
        bounds: {
          model: recordModel.id,
          version: '1',
          size: 60_000,
          sizeLabel: '1m',
          start: 0,
          end: 60_000,
        },
        model: recordModel,
        baseline,
      });
      const rows = windowRows(ds, baseline, n, index, shifted);
      for (let i = 0; i < rows.length; i++) {
        state.record({
          model: recordModel.id,
          version: '1',
          id: String(i),
          ts: 1,
          features: rows[i]!,
          prediction: null,
        });
      }
      const snapshot = state.snapshot();
      for (const family of FAMILIES) {
        const result = evaluateWindow(
          { state: snapshot, closedAt: 60_000 },
          baseline,
          models[family],
        );
        const cell = cells[family];
        const drifted: Record<string, boolean> = {};
        for (const f of result.features) drifted[f.feature] = f.drifted;
        options.onWindow?.({
          dataset: ds.name,
          family,
          n,
          index,
          shifted,
          drifted,
          datasetDrift: result.datasetDrift,
        });
        if (shifted === null) {
          for (const f of result.features) bump(cell.falseAlarms, f.test, f.drifted);
          cell.datasetDrift.total++;
          if (result.datasetDrift) cell.datasetDrift.drifted++;
        } else {
          const f = result.features.find((x) => x.feature === shifted)!;
          bump(cell.detections, f.test, f.drifted);
        }
      }
    }
    for (const family of FAMILIES) out[family][n] = cells[family];
  }
  return out;
}

/** Markdown tables of a calibration run (README). */
export function formatTables(c: Calibration, sizes: readonly number[] = SIZES): string {
  const pct = (x: { drifted: number; total: number } | undefined) =>
    x === undefined || x.total === 0 ? '–' : `${((100 * x.drifted) / x.total).toFixed(1)} %`;
  const lines: string[] = [];
  for (const [dataset, families] of Object.entries(c)) {
    lines.push(`**${dataset}**`, '');
    lines.push(
      `| test | measure | ${sizes.map((n) => `n = ${n.toLocaleString('en')}`).join(' | ')} |`,
    );
    lines.push(`|---|---|${sizes.map(() => '---:').join('|')}|`);
    for (const family of FAMILIES) {
      for (const test of new Set(Object.values(FAMILY_TESTS[family]))) {
        const label = `${test} (${family} config)`;
        lines.push(
          `| ${label} | false alarms per feature | ${sizes.map((n) => pct(families[family][n]?.falseAlarms[test])).join(' | ')} |`,
        );
        if (sizes.some((n) => families[family][n]?.detections[test])) {
          lines.push(
            `| ${label} | 0.5 σ shifts detected | ${sizes.map((n) => pct(families[family][n]?.detections[test])).join(' | ')} |`,
          );
        }
      }
    }
    for (const family of FAMILIES) {
      const t = FAMILY_TESTS[family];
      lines.push(
        `| ${t.numeric} + ${t.categorical} | windows in dataset drift | ${sizes.map((n) => pct(families[family][n]?.datasetDrift)).join(' | ')} |`,
      );
    }
    lines.push('');
  }
  return lines.join('\n');
}
