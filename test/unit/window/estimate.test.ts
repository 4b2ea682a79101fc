import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Registry } from 'prom-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { importBaseline } from '../../../src/baseline/import.js';
import { baselineSpec, buildProfileFromRows } from '../../../src/baseline/profile.js';
import { createMetrics } from '../../../src/export/metrics.js';
import { createPerformanceScheduler } from '../../../src/ingest/performance-scheduler.js';
import type { Quarantine } from '../../../src/ingest/quarantine.js';
import { createStoreWrites } from '../../../src/ingest/store-writes.js';
import { createCbpeSketch } from '../../../src/stats/index.js';
import type {
  BaselineProfile,
  PerformanceResult,
  PredictionEvent,
  WindowBounds,
} from '../../../src/types.js';
import { createWindowState, evaluateWindow } from '../../../src/window/index.js';
import { computePerformance, estimateRecord } from '../../../src/window/performance.js';
import { testModel } from '../../helpers/model.js';
import { mulberry32 } from '../../helpers/random.js';

/*
 * The label-free performance estimate through the daemon's own path: `baseline import` fits
 * the estimator on the file's label column, every window state sums its predictions, partial
 * states merge, and the closed window's result and /metrics carry the estimate.
 */

const model = testModel({
  features: [{ name: 'income', type: 'numeric', test: null, threshold: null }],
});
const BOUNDS: WindowBounds = {
  model: 'credit-risk',
  version: '3',
  size: 300_000,
  sizeLabel: '5m',
  start: 600_000,
  end: 900_000,
};

/** Scores squashed into [0.3, 0.7] with P(label = 1) = u: a model that needs calibration. */
function rows(
  n: number,
  seed: number,
): Array<{ income: number; prediction: number; label: number }> {
  const random = mulberry32(seed);
  return Array.from({ length: n }, () => {
    const u = random();
    return {
      income: 1000 + 5000 * random(),
      prediction: 0.3 + 0.4 * u,
      label: random() < u ? 1 : 0,
    };
  });
}

let dir: string;
let baseline: BaselineProfile;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'driftd-estimate-'));
  const file = join(dir, 'train.csv');
  const lines = rows(5000, 1).map((r) => `${r.income},${r.prediction},${r.label}`);
  // A row without its label is still profiled, just not used by the estimator.
  await writeFile(file, `income,prediction,label\n${lines.join('\n')}\n1234,0.5,\n`);
  const imported = await importBaseline({ model, version: '3', file });
  baseline = imported.profile;
  expect(imported.report.cbpe).toEqual({ rows: 5000, calibration: 'isotonic', skipped: null });
  expect(imported.report.predictionAbsent).toBe(false);
  expect(baseline.rowCount).toBe(5001);
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

function windowOf(data: Array<{ prediction: number | null }>) {
  const state = createWindowState({ bounds: BOUNDS, model, baseline });
  data.forEach((row, i) => {
    const e: PredictionEvent = {
      model: 'credit-risk',
      version: '3',
      id: `w${i}`,
      ts: BOUNDS.start + i,
      features: { income: 2000 },
      prediction: row.prediction,
    };
    state.record(e);
  });
  return state;
}

describe('label-free performance estimate per window', () => {
  it('baseline import fits the estimator on the label column', () => {
    expect(baseline.cbpe?.calibration).toBe('isotonic');
    expect(baseline.cbpe?.threshold).toBe(0.5);
    expect(baseline.cbpe?.referenceRows).toBe(5000);
  });

  it('in-memory baselines (tests, the demo) fit the same estimator when asked', () => {
    const data = rows(5000, 1);
    const built = buildProfileFromRows(model, '3', data, { estimator: true }).profile;
    expect(built.cbpe).toEqual(baseline.cbpe);
    expect(buildProfileFromRows(model, '3', data).profile.cbpe).toBeUndefined();
  });

  it('a closed window carries its estimate; it tracks the truth and equals the sketch path', () => {
    const data = rows(4000, 2);
    const result = evaluateWindow({ state: windowOf(data), closedAt: 1 }, baseline, model);
    const est = result.estimate!;
    expect(est.count).toBe(4000);
    // True accuracy of "0.3 + 0.4u ≥ 0.5" with P(y = 1 | u) = u is 0.75.
    const acc = est.metrics.accuracy;
    expect(Math.abs((acc.value as number) - 0.75)).toBeLessThan(0.02);
    expect(acc.lower as number).toBeLessThan(0.75);
    expect(acc.upper as number).toBeGreaterThan(0.75);
    const direct = createCbpeSketch(baseline.cbpe!);
    for (const r of data) direct.record(r.prediction);
    expect(est).toEqual(direct.estimate());
  });

  it('skips missing and unusable scores, and merges partial states exactly (through JSON)', () => {
    const data: Array<{ prediction: number | null }> = rows(3000, 3);
    const whole = windowOf([...data, { prediction: null }, { prediction: Number.NaN }]);
    const a = windowOf(data.slice(0, 1000));
    const b = windowOf([...data.slice(1000), { prediction: null }]);
    a.merge(JSON.parse(JSON.stringify(b.snapshot())));
    const x = evaluateWindow({ state: whole, closedAt: 1 }, baseline, model).estimate!;
    const y = evaluateWindow({ state: a, closedAt: 1 }, baseline, model).estimate!;
    expect(x.count).toBe(3000);
    expect(y.count).toBe(3000);
    for (const name of Object.keys(x.metrics) as Array<keyof typeof x.metrics>) {
      expect(y.metrics[name].value).toBeCloseTo(x.metrics[name].value as number, 9);
    }
  });

  it('a baseline whose stored estimator does not check out costs the estimate, not the window', () => {
    const tampered = {
      ...baseline,
      cbpe: { ...baseline.cbpe!, calibrator: { x: [0.9, 0.1], y: [0, 1] } },
    };
    const state = createWindowState({ bounds: BOUNDS, model, baseline: tampered });
    state.record({
      model: 'credit-risk',
      version: '3',
      id: 'a',
      ts: BOUNDS.start,
      features: { income: 1 },
      prediction: 0.4,
    });
    const result = evaluateWindow({ state, closedAt: 1 }, tampered, model);
    expect(result.eventCount).toBe(1);
    expect(result.estimate).toBeUndefined();
  });

  it('a partial state without estimator sums (an older instance) costs the estimate, not the window', () => {
    const a = windowOf(rows(10, 4));
    const { cbpe: _, ...stripped } = a.snapshot();
    const merged = windowOf(rows(10, 5));
    merged.merge(stripped);
    const result = evaluateWindow({ state: merged, closedAt: 1 }, baseline, model);
    expect(result.eventCount).toBe(20);
    expect(result.estimate).toBeUndefined();
    // And the other way round: sums from the other side are ignored by a state without them.
    const plain = windowOf([]);
    plain.merge(stripped);
    plain.merge(a.snapshot());
    expect(evaluateWindow({ state: plain, closedAt: 1 }, baseline, model).estimate).toBeUndefined();
  });

  it('exports the estimate and its band on /metrics', async () => {
    const registry = new Registry();
    const metrics = createMetrics(registry, { version: 'test' });
    metrics.recordWindow(
      evaluateWindow({ state: windowOf(rows(1000, 5)), closedAt: 1 }, baseline, model),
    );
    const text = await registry.metrics();
    for (const band of ['estimate', 'lower', 'upper']) {
      expect(text).toMatch(
        new RegExp(
          `driftd_model_performance_estimate\\{model="credit-risk",version="3",window="5m",metric="roc_auc",band="${band}"\\} 0\\.\\d+`,
        ),
      );
    }
  });

  it('the label spec that shapes the estimator (field, positive class, threshold) is part of the baseline id', () => {
    expect(baselineSpec(model, '3')).toContain('"label":["label","1",0.5]');
    expect(
      baselineSpec(testModel({ label: { field: 'label', positive: 1, threshold: 0.7 } }), '3'),
    ).not.toBe(baselineSpec(model, '3'));
  });

  it('once labels arrive, the performance record carries the estimate and its gap (in-memory store double)', async () => {
    const data = rows(2000, 6);
    const result = evaluateWindow({ state: windowOf(data), closedAt: 1 }, baseline, model);
    const pairs = data.map((r, i) => ({ id: `w${i}`, prediction: r.prediction, label: r.label }));
    const inserted: PerformanceResult[] = [];
    const registry = new Registry();
    const metrics = createMetrics(registry, { version: 'test' });
    const scheduler = createPerformanceScheduler({
      store: {
        insertPerformance: async (rows) => void inserted.push(...rows),
        labeledPredictions: async () => pairs,
        queryDrift: async () => [],
      },
      models: new Map([[model.id, model]]),
      clock: { now: () => 10 },
      metrics,
      writes: createStoreWrites(metrics, {} as Quarantine),
    });
    scheduler.windowWritten(result);
    scheduler.markDue(result);
    await scheduler.recompute();
    const m = inserted[0]!.metrics;
    const realised = computePerformance(model, pairs);
    expect(m.accuracy).toBe(realised.accuracy);
    expect(m.estimated_accuracy).toBe(result.estimate!.metrics.accuracy.value);
    expect(m.estimate_gap_accuracy).toBeCloseTo(
      (realised.accuracy as number) - m.estimated_accuracy!,
      15,
    );
    const rates = ['accuracy', 'f1', 'precision', 'recall', 'roc_auc'];
    expect(Object.keys(m).sort()).toEqual(
      [
        ...Object.keys(realised),
        ...Object.keys(estimateRecord(result.estimate!)),
        ...rates.map((n) => `estimate_gap_${n}`),
      ].sort(),
    );
    // A calibrated estimator on clean data: the gap is within the band's half-width.
    const acc = result.estimate!.metrics.accuracy;
    expect(Math.abs(m.estimate_gap_accuracy!)).toBeLessThan(
      (acc.upper as number) - (acc.value as number),
    );
    expect(await registry.metrics()).toMatch(
      /driftd_model_performance\{[^}]*metric="estimate_gap_roc_auc"\} -?\d/,
    );
  });

  it('records the estimate before any label, and keeps it across a restart (in-memory store double)', async () => {
    const data = rows(1000, 7);
    const result = evaluateWindow({ state: windowOf(data), closedAt: 1 }, baseline, model);
    const pairs = data.map((r, i) => ({ id: `w${i}`, prediction: r.prediction, label: r.label }));
    const stored: PerformanceResult[] = [];
    let labelled = false;
    const store = {
      insertPerformance: async (rows: readonly PerformanceResult[]) => void stored.push(...rows),
      labeledPredictions: async () => (labelled ? pairs : []),
      queryPerformance: async () => stored.slice(-1),
      queryDrift: async () => [{ ...result, estimate: undefined }],
    };
    const scheduler = () => {
      const registry = new Registry();
      const metrics = createMetrics(registry, { version: 'test' });
      const s = createPerformanceScheduler({
        store,
        models: new Map([[model.id, model]]),
        clock: { now: () => 10 },
        metrics,
        writes: createStoreWrites(metrics, {} as Quarantine),
      });
      return { s, registry };
    };
    const first = scheduler();
    first.s.windowWritten(result);
    await first.s.recompute();
    expect(stored).toHaveLength(1);
    expect(stored[0]!.labeled).toBe(0);
    expect(stored[0]!.metrics).toEqual(estimateRecord(result.estimate!));
    // No label yet: the coverage gauge is not set to 0 by the estimate-only record.
    expect(await first.registry.metrics()).not.toMatch(/driftd_model_label_coverage_ratio\{/);

    // A restarted instance: the estimate is no longer in memory, the labels arrive.
    labelled = true;
    const second = scheduler();
    second.s.markDue(result);
    await second.s.recompute();
    expect(stored).toHaveLength(2);
    const m = stored[1]!.metrics;
    expect(stored[1]!.labeled).toBe(1000);
    expect(m.estimated_roc_auc).toBe(result.estimate!.metrics.roc_auc.value);
    expect(m.estimate_gap_roc_auc).toBeCloseTo((m.roc_auc as number) - m.estimated_roc_auc!, 15);
  });
});
