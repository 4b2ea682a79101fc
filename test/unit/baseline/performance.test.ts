import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { importBaseline } from '../../../src/baseline/import.js';
import { baselineSpec } from '../../../src/baseline/profile.js';
import { computePerformance } from '../../../src/window/performance.js';
import { testModel } from '../../helpers/model.js';
import { lcgNormals } from '../../helpers/random.js';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'driftd-baseline-perf-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** Rows with a score that ranks the label well but not perfectly, some labels missing. */
function trainingRows(n: number) {
  const { z } = lcgNormals(7);
  const rows: Array<{
    income: number;
    age: number;
    region: string;
    prediction: number;
    label: number | null;
  }> = [];
  for (let i = 0; i < n; i++) {
    const label = i % 3 === 0 ? 1 : 0;
    const score = label * 1.2 + z();
    rows.push({
      income: 40_000 + 1000 * z(),
      age: 20 + (i % 50),
      region: i % 2 === 0 ? 'EU' : 'US',
      prediction: 1 / (1 + Math.exp(-score)),
      label: i % 17 === 0 ? null : label,
    });
  }
  return rows;
}

describe('baseline performance', () => {
  it("is the model's own performance on the training file, as windows compute it", async () => {
    const model = testModel();
    const rows = trainingRows(5000);
    const file = join(dir, 'labelled.csv');
    await writeFile(
      file,
      `income,age,region,prediction,label\n${rows
        .map((r) => `${r.income},${r.age},${r.region},${r.prediction},${r.label ?? ''}`)
        .join('\n')}\n`,
    );
    const { profile, report } = await importBaseline({ model, version: '1', file });
    const labelled = rows.filter((r) => r.label !== null);
    const exact = computePerformance(
      model,
      labelled.map((r) => ({ prediction: r.prediction, label: r.label! })),
    );
    expect(report.labelAbsent).toBe(false);
    expect(report.state.labeled).toBe(labelled.length);
    const perf = profile.performance!;
    expect(Object.keys(perf).sort()).toEqual(Object.keys(exact).sort());
    for (const name of ['accuracy', 'precision', 'recall', 'f1', 'log_loss', 'brier']) {
      expect(perf[name]).toBeCloseTo(exact[name]!, 12);
    }
    // ROC AUC from the score histogram: within its reported bound of the exact one.
    const bound = report.state.rocAucErrorBound!;
    expect(bound).toBeLessThan(1e-3);
    expect(Math.abs(perf.roc_auc! - exact.roc_auc!)).toBeLessThanOrEqual(bound + 1e-12);
    expect(exact.roc_auc).toBeGreaterThan(0.7);
  });

  it('is absent when the file has no label column, and the label is never profiled', async () => {
    const model = testModel();
    const file = join(dir, 'unlabelled.jsonl');
    const rows = trainingRows(200);
    await writeFile(
      file,
      rows
        .map((r) =>
          JSON.stringify({
            features: { income: r.income, age: r.age, region: r.region },
            prediction: r.prediction,
          }),
        )
        .join('\n'),
    );
    const { profile, report } = await importBaseline({ model, version: '1', file });
    expect(profile.performance).toBeUndefined();
    expect(report.state.labeled).toBe(0);
    expect(Object.keys(profile.features)).toEqual(['income', 'age', 'region']);
  });

  it('computes regression and multiclass metrics with the window metric names', async () => {
    const regression = testModel({ task: 'regression' });
    const file = join(dir, 'regression.jsonl');
    const pairs = [
      [10, 12],
      [20, 18],
      [30, 33],
      [0, 1],
    ] as const;
    await writeFile(
      file,
      pairs
        .map(([label, prediction], i) =>
          JSON.stringify({ income: i, age: i, region: 'EU', prediction, label }),
        )
        .join('\n'),
    );
    const { profile } = await importBaseline({ model: regression, version: '1', file });
    const exact = computePerformance(
      regression,
      pairs.map(([label, prediction]) => ({ label, prediction })),
    );
    expect(Object.keys(profile.performance!).sort()).toEqual(['mae', 'mape', 'rmse']);
    for (const k of ['mae', 'rmse', 'mape']) {
      expect(profile.performance![k]).toBeCloseTo(exact[k]!, 12);
    }

    const multiclass = testModel({
      task: 'multiclass',
      prediction: { field: 'prediction', type: 'categorical' },
    });
    const mfile = join(dir, 'multiclass.csv');
    await writeFile(
      mfile,
      'income,age,region,prediction,label\n1,2,EU,a,a\n1,2,EU,b,a\n1,2,EU,c,c\n',
    );
    const m = await importBaseline({ model: multiclass, version: '1', file: mfile });
    expect(m.profile.performance).toEqual({ accuracy: 2 / 3 });
  });

  it("is part of the content hash: the label's field, positive class and threshold key the baseline", () => {
    const a = baselineSpec(testModel(), '1');
    expect(
      baselineSpec(testModel({ label: { field: 'label', positive: 1, threshold: 0.6 } }), '1'),
    ).not.toBe(a);
    expect(
      baselineSpec(testModel({ label: { field: 'y', positive: 1, threshold: 0.5 } }), '1'),
    ).not.toBe(a);
    expect(baselineSpec(testModel({ task: 'regression' }), '1')).not.toBe(a);
  });
});
