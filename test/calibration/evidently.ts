/**
 * Side-by-side with Evidently 0.7 (DataDriftPreset defaults) on the calibration windows: the
 * fixture test/fixtures/evidently-calibration.json holds Evidently's values and verdicts per
 * window (scripts/fixtures/gen_evidently.py); driftd evaluates the same windows here (its
 * automatic test choice, which on these > 1000-row references is Evidently's: normed
 * Wasserstein for numeric columns, Jensen-Shannon for categorical ones). Every verdict
 * difference is listed with its cause:
 * - `not significant at n`: Evidently's fixed 0.1 was crossed, but at this window size such a
 *   value is within what clean windows give (driftd's BH-adjusted p-value > α);
 * - `below the effect floor`: significant, but driftd's effect estimate is under the floor
 *   while Evidently's exact value reaches 0.1 (binned vs exact estimator);
 * - `estimator`: driftd's effect reaches the floor where Evidently's value does not (a binned
 *   estimate above the exact value). There were such differences before issue 15's
 *   estimators were merged (driftd's Jensen-Shannon was in base 2, × ≈ 1.2 of Evidently's
 *   natural-log value; the binned Wasserstein read high between repeated values); with the
 *   natural-log Jensen-Shannon and the gap-sum Wasserstein there are none on these windows;
 * - anything else is `unexplained` (the test requires none).
 */
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { probit } from 'simple-statistics';
import { regularizedGammaP } from '../../src/stats/special.js';
import type { NumericProfile } from '../../src/types.js';
import { createWindowState, evaluateWindow } from '../../src/window/index.js';
import { baselineFor, loadDatasets, modelFor, windowRows } from './harness.js';

export const FIXTURE = resolve(import.meta.dirname, '../fixtures/evidently-calibration.json');

interface FixtureWindow {
  n: number;
  index: number;
  shifted: string | null;
  value: Record<string, number>;
  drifted: Record<string, boolean>;
  datasetDrift: boolean;
}

interface Fixture {
  versions: Record<string, string>;
  datasets: Record<
    string,
    {
      numeric: string[];
      categorical: string[];
      deltas: Record<string, number>;
      windows: FixtureWindow[];
    }
  >;
}

export type Cause = 'not significant at n' | 'below the effect floor' | 'estimator' | 'unexplained';

export interface Difference {
  dataset: string;
  n: number;
  index: number;
  shifted: string | null;
  feature: string;
  test: string;
  evidently: { value: number; drifted: boolean };
  driftd: { statistic: number; adjustedPValue: number | null; effect: number; drifted: boolean };
  cause: Cause;
}

export interface Rates {
  /** Clean windows: drifted feature verdicts / verdicts. */
  falseAlarms: { driftd: number; evidently: number; total: number };
  /** Clean windows in dataset drift. */
  datasetDrift: { driftd: number; evidently: number; total: number };
  /** Shifted windows: the shifted feature flagged. */
  detections: { driftd: number; evidently: number; total: number };
}

export interface Comparison {
  versions: Record<string, string>;
  /** rates[dataset][n] */
  rates: Record<string, Record<number, Rates>>;
  differences: Difference[];
  /** Largest |delta_driftd − delta_evidently| / delta over the shifted features. */
  deltaMismatch: number;
  /** Features per model (the m of Benjamini–Hochberg), per dataset. */
  featureCount: Record<string, number>;
}

/** Standard normal CDF, Φ(x) = ½(1 + sign(x)·P(½, x²/2)). */
function normalCdf(x: number): number {
  const p = regularizedGammaP(0.5, (x * x) / 2);
  return x >= 0 ? 0.5 * (1 + p) : 0.5 * (1 - p);
}

/**
 * The most any test with controlled false alarms can detect: the power of the oracle test for
 * a known shift of `delta` standard deviations in a window of n, i.e. the two-sided z-test of
 * the mean of a normal with known σ (the most powerful test of a location shift, Neyman–Pearson),
 * when the shifted feature is the only non-null one of m and Benjamini–Hochberg at level α
 * then flags it only if its p ≤ α/m. Real features are not normal, so this is a yardstick, not a
 * bound for every feature; it says what "no fewer detections" can mean at a size where the
 * shift is not much larger than the noise (n = 50: z = 0.5·√50 = 3.5).
 */
export function oraclePower(n: number, m: number, delta = 0.5, alpha = 0.05): number {
  const z = probit(1 - alpha / m / 2);
  const signal = delta * Math.sqrt(n);
  return normalCdf(signal - z) + normalCdf(-signal - z);
}

export async function compareWithEvidently(): Promise<Comparison> {
  const fixture = JSON.parse(readFileSync(FIXTURE, 'utf8')) as Fixture;
  const datasets = await loadDatasets();
  const out: Comparison = {
    versions: fixture.versions,
    rates: {},
    differences: [],
    deltaMismatch: 0,
    featureCount: {},
  };
  for (const ds of datasets) {
    const fx = fixture.datasets[ds.name];
    if (!fx) throw new Error(`fixture has no dataset ${ds.name}`);
    const baseline = baselineFor(ds);
    const model = modelFor(ds, null);
    out.featureCount[ds.name] = model.features.length;
    for (const [feature, delta] of Object.entries(fx.deltas)) {
      const ours = 0.5 * (baseline.features[feature] as NumericProfile).summary.std;
      out.deltaMismatch = Math.max(out.deltaMismatch, Math.abs(ours - delta) / delta);
    }
    const rates: Record<number, Rates> = {};
    for (const w of fx.windows) {
      const state = createWindowState({
        bounds: {
          model: model.id,
          version: '1',
          size: 60_000,
          sizeLabel: '1m',
          start: 0,
          end: 60_000,
        },
        model,
        baseline,
      });
      windowRows(ds, baseline, w.n, w.index, w.shifted).forEach((features, i) => {
        state.record({
          model: model.id,
          version: '1',
          id: String(i),
          ts: 1,
          features,
          prediction: null,
        });
      });
      const result = evaluateWindow({ state, closedAt: 60_000 }, baseline, model);
      rates[w.n] ??= {
        falseAlarms: { driftd: 0, evidently: 0, total: 0 },
        datasetDrift: { driftd: 0, evidently: 0, total: 0 },
        detections: { driftd: 0, evidently: 0, total: 0 },
      };
      const r = rates[w.n] as Rates;
      for (const f of result.features) {
        const ev = { value: w.value[f.feature]!, drifted: w.drifted[f.feature]! };
        if (w.shifted === null) {
          r.falseAlarms.total++;
          if (f.drifted) r.falseAlarms.driftd++;
          if (ev.drifted) r.falseAlarms.evidently++;
        } else if (f.feature === w.shifted) {
          r.detections.total++;
          if (f.drifted) r.detections.driftd++;
          if (ev.drifted) r.detections.evidently++;
        }
        if (f.drifted === ev.drifted) continue;
        let cause: Cause = 'unexplained';
        const significant = f.adjustedPValue !== null && f.adjustedPValue <= f.threshold;
        const floor = f.effectFloor ?? 0;
        if (ev.drifted) {
          if (!significant) cause = 'not significant at n';
          else if (f.effect < floor) cause = 'below the effect floor';
        } else if (significant && f.effect >= floor && ev.value < floor) {
          cause = 'estimator';
        }
        out.differences.push({
          dataset: ds.name,
          n: w.n,
          index: w.index,
          shifted: w.shifted,
          feature: f.feature,
          test: f.test,
          evidently: ev,
          driftd: {
            statistic: f.statistic,
            adjustedPValue: f.adjustedPValue,
            effect: f.effect,
            drifted: f.drifted,
          },
          cause,
        });
      }
      if (w.shifted === null) {
        r.datasetDrift.total++;
        if (result.datasetDrift) r.datasetDrift.driftd++;
        if (w.datasetDrift) r.datasetDrift.evidently++;
      }
    }
    out.rates[ds.name] = rates;
  }
  return out;
}

/** Markdown: rates side by side, and the differences counted by cause. */
export function formatComparison(c: Comparison): string {
  const pct = (x: number, total: number) =>
    total === 0 ? '–' : `${((100 * x) / total).toFixed(1)} %`;
  const lines: string[] = [];
  for (const [dataset, byN] of Object.entries(c.rates)) {
    const sizes = Object.keys(byN).map(Number);
    lines.push(`**${dataset}** (driftd / Evidently ${c.versions.evidently})`, '');
    lines.push(`| measure | ${sizes.map((n) => `n = ${n.toLocaleString('en')}`).join(' | ')} |`);
    lines.push(`|---|${sizes.map(() => '---:').join('|')}|`);
    const row = (
      label: string,
      pick: (r: Rates) => { driftd: number; evidently: number; total: number },
    ) =>
      lines.push(
        `| ${label} | ${sizes
          .map((n) => {
            const x = pick(byN[n]!);
            return `${pct(x.driftd, x.total)} / ${pct(x.evidently, x.total)}`;
          })
          .join(' | ')} |`,
      );
    row('false alarms per feature (clean windows)', (r) => r.falseAlarms);
    row('clean windows in dataset drift', (r) => r.datasetDrift);
    row('0.5 σ shifts detected', (r) => r.detections);
    lines.push('');
  }
  const byCause = new Map<string, number>();
  for (const d of c.differences) {
    const key = `${d.cause} | ${d.evidently.drifted ? 'Evidently only' : 'driftd only'} | ${d.test} | ${d.shifted === null ? 'clean' : d.shifted === d.feature ? 'shifted feature' : 'other feature of a shifted window'}`;
    byCause.set(key, (byCause.get(key) ?? 0) + 1);
  }
  lines.push('| cause | flagged by | test | window | verdicts |', '|---|---|---|---|---:|');
  for (const [key, count] of [...byCause.entries()].sort((a, b) => b[1] - a[1])) {
    lines.push(`| ${key} | ${count} |`);
  }
  return lines.join('\n');
}
