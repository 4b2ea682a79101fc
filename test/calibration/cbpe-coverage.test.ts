import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import {
  CBPE_METRICS,
  type CbpeMetric,
  confusionCounts,
  createCbpeSketch,
  fitCbpe,
  rocAuc,
} from '../../src/stats/index.js';
import { mulberry32 } from '../helpers/random.js';

/*
 * Is CBPE's uncertainty honest? On clean windows (rows from the reference's population that
 * neither the model nor the calibrator saw: the 2015 held-out rows of the committed real-data
 * fixture, see scripts/fixtures/gen_cbpe.py) the realised metric, computed from the labels,
 * must fall inside the estimate's own band (estimate ± 3 standard errors) in at least 90 % of
 * windows, for every metric, every model and window sizes from 100 to 5 000 rows. Windows are
 * drawn with replacement from a pool of 20 000 such rows by a seeded generator, so the figures
 * reproduce. Measured (share inside, worst metric): ≥ 0.985 at every size for both models;
 * ROC AUC 1.000 with driftd's band, 0.845-0.87 at 2 000 rows with NannyML's.
 */

interface Fixture {
  threshold: number;
  models: Array<{
    name: string;
    needsCalibration: boolean;
    reference: { scores: number[]; labels: string };
    /** Absent for models the coverage test does not use. */
    pool?: { scores: number[]; labels: string };
  }>;
}

const fixture = JSON.parse(
  readFileSync(new URL('../fixtures/cbpe-nannyml.json', import.meta.url), 'utf8'),
) as Fixture;
const bits = (s: string) => Array.from(s, (c) => (c === '1' ? 1 : 0));

const SIZES = [100, 500, 2000, 5000];
const WINDOWS = 200;

function realised(
  labels: number[],
  scores: number[],
  threshold: number,
): Record<CbpeMetric, number | null> {
  const predicted = scores.map((s) => (s >= threshold ? 1 : 0));
  const c = confusionCounts(labels, predicted);
  const n = labels.length;
  const positives = c.tp + c.fn;
  return {
    roc_auc: positives > 0 && positives < n ? rocAuc(labels, scores) : null,
    f1: c.tp + c.fp + c.fn === 0 ? null : (2 * c.tp) / (2 * c.tp + c.fp + c.fn),
    precision: c.tp + c.fp === 0 ? null : c.tp / (c.tp + c.fp),
    recall: positives === 0 ? null : c.tp / positives,
    accuracy: (c.tp + c.tn) / n,
    true_positive: c.tp,
    false_positive: c.fp,
    true_negative: c.tn,
    false_negative: c.fn,
  };
}

describe('CBPE bands cover the realised metric on clean real-data windows', () => {
  for (const m of fixture.models) {
    if (m.pool === undefined) continue;
    const model = fitCbpe(m.reference.scores, bits(m.reference.labels), {
      threshold: fixture.threshold,
    });
    const poolScores = m.pool.scores;
    const poolLabels = bits(m.pool.labels);

    for (const size of SIZES) {
      it(`${m.name}, windows of ${size}: realised inside the band in >= 90 % of windows`, () => {
        const random = mulberry32(size * 7919 + m.name.length);
        const inside: Record<string, number> = {};
        let nannymlAucInside = 0;
        const counted: Record<string, number> = {};
        for (let w = 0; w < WINDOWS; w++) {
          const sketch = createCbpeSketch(model);
          const labels: number[] = [];
          const scores: number[] = [];
          for (let i = 0; i < size; i++) {
            const row = Math.floor(random() * poolScores.length);
            scores.push(poolScores[row] as number);
            labels.push(poolLabels[row] as number);
            sketch.record(poolScores[row] as number);
          }
          const est = sketch.estimate();
          const truth = realised(labels, scores, fixture.threshold);
          for (const name of CBPE_METRICS) {
            const r = truth[name];
            const e = est.metrics[name];
            if (r === null || e.lower === null || e.upper === null) continue;
            counted[name] = (counted[name] ?? 0) + 1;
            if (r >= e.lower && r <= e.upper) inside[name] = (inside[name] ?? 0) + 1;
            if (name === 'roc_auc') {
              const half = 3 * (e.samplingError as number);
              if (Math.abs(r - (e.value as number)) <= half) nannymlAucInside++;
            }
          }
        }
        for (const name of CBPE_METRICS) {
          const share = (inside[name] ?? 0) / (counted[name] ?? 1);
          expect(counted[name], name).toBeGreaterThanOrEqual(WINDOWS * 0.9);
          expect(share, `${name}: ${share}`).toBeGreaterThanOrEqual(0.9);
        }
        // Why the band is not NannyML's for ROC AUC: its ∓ 3 sampling errors missed the
        // realised value in 13-15 % of these 2 000-row windows.
        if (size === 2000) {
          expect(nannymlAucInside / (counted.roc_auc ?? 1)).toBeLessThan(0.9);
        }
      });
    }
  }
});
