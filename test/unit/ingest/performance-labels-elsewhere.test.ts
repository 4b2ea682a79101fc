/**
 * The performance scheduler (src/ingest/performance-scheduler.ts) when the first labels are
 * stored by another process (cluster mode: the instance consuming the labels is not the one
 * that closes the window). A window skipped for want of labels is not due again unless labels
 * arrive for it, so a "no labels" answer must not outlive the run that asked.
 */
import { Registry } from 'prom-client';
import { expect, it } from 'vitest';
import { createMetrics } from '../../../src/export/metrics.js';
import { createPerformanceScheduler } from '../../../src/ingest/performance-scheduler.js';
import type { Quarantine } from '../../../src/ingest/quarantine.js';
import { createStoreWrites } from '../../../src/ingest/store-writes.js';
import type { PerformanceResult, WindowResult } from '../../../src/types.js';
import { testModel } from '../../helpers/model.js';

const model = testModel();

function closed(start: number): WindowResult {
  return {
    model: model.id,
    version: '3',
    size: 300_000,
    sizeLabel: '5m',
    start,
    end: start + 300_000,
    baselineId: 'b',
    baselineHash: 'h',
    eventCount: 4,
    lateCount: 0,
    closedAt: 1,
    features: [],
    prediction: null,
    driftShare: 0,
    datasetDrift: false,
    provisional: false,
  };
}

it('a window closed after another process stored the first labels gets its performance', async () => {
  let labelsStored = false;
  const inserted: PerformanceResult[] = [];
  const metrics = createMetrics(new Registry(), { version: 'test' });
  const scheduler = createPerformanceScheduler({
    store: {
      insertPerformance: async (rows) => void inserted.push(...rows),
      hasLabels: async () => labelsStored,
      labeledPredictions: async () =>
        labelsStored
          ? [
              { id: 'a', prediction: 0.9, label: 1 },
              { id: 'b', prediction: 0.2, label: 0 },
            ]
          : [],
      queryDrift: async () => [],
    },
    models: new Map([[model.id, model]]),
    // A clock that stands still: whatever the scheduler caches, it caches for good here.
    clock: { now: () => 1_000 },
    metrics,
    writes: createStoreWrites(metrics, {} as Quarantine),
  });
  // A window closes before any label exists anywhere: no performance.
  const early = closed(0);
  scheduler.windowWritten(early);
  scheduler.markDue(early);
  await scheduler.recompute();
  expect(inserted).toEqual([]);
  // Another instance stores labels (this one never calls labelsStored); then a window closes here.
  labelsStored = true;
  const later = closed(300_000);
  scheduler.windowWritten(later);
  scheduler.markDue(later);
  await scheduler.recompute();
  expect(inserted.map((p) => [p.start, p.labeled])).toEqual([[300_000, 2]]);
});

it('labels of a window this instance counts as open, finalised by another: its performance is computed from the stored result (cluster mode only)', async () => {
  const w = closed(600_000);
  const run = async (openMayBeFinalisedElsewhere: boolean, stored: WindowResult[]) => {
    const inserted: PerformanceResult[] = [];
    const metrics = createMetrics(new Registry(), { version: 'test' });
    const scheduler = createPerformanceScheduler({
      store: {
        insertPerformance: async (rows) => void inserted.push(...rows),
        hasLabels: async () => true,
        labeledPredictions: async () => [
          { id: 'a', prediction: 0.9, label: 1 },
          { id: 'b', prediction: 0.2, label: 0 },
        ],
        queryDrift: async () => stored,
      },
      models: new Map([[model.id, model]]),
      clock: { now: () => 1_000 },
      metrics,
      writes: createStoreWrites(metrics, {} as Quarantine),
      openMayBeFinalisedElsewhere,
    });
    // The labels' window has not been finalised as far as this instance knows.
    scheduler.labelled(model, [{ version: '3', ts: w.start + 1 }], () => true);
    await scheduler.recompute();
    return inserted.filter((p) => p.sizeLabel === '5m').map((p) => [p.start, p.labeled]);
  };
  // Finalised elsewhere (its result is stored), before these labels were: computed here.
  expect(await run(true, [w])).toEqual([[600_000, 2]]);
  // Not finalised anywhere yet: nothing now (its finaliser computes it with these labels).
  expect(await run(true, [])).toEqual([]);
  // One instance: an open window waits for its close.
  expect(await run(false, [w])).toEqual([]);
});

it('labels that came while the window was open, and it was finalised here after them: a close, as on one instance', async () => {
  const inserted: PerformanceResult[] = [];
  const metrics = createMetrics(new Registry(), { version: 'test' });
  const scheduler = createPerformanceScheduler({
    store: {
      insertPerformance: async (rows) => void inserted.push(...rows),
      hasLabels: async () => true,
      labeledPredictions: async () => [{ id: 'a', prediction: 0.9, label: 1 }],
      queryDrift: async () => [],
    },
    models: new Map([[model.id, model]]),
    clock: { now: () => 1_000 },
    metrics,
    writes: createStoreWrites(metrics, {} as Quarantine),
    openMayBeFinalisedElsewhere: true,
  });
  const w = { ...closed(900_000), closedAt: 2_000 };
  scheduler.labelled(model, [{ version: '3', ts: w.start + 1 }], () => true);
  // Finalised here before the next recompute ran.
  scheduler.windowWritten(w);
  scheduler.markDue(w);
  await scheduler.recompute();
  expect(inserted.map((p) => [p.start, p.revisionReason])).toEqual([[900_000, 'close']]);
});
