/**
 * Results are evidence (migrations 12, 13): every revision of a window's results and
 * performance stays readable (Store.windowHistory) while the readers see the latest, on both
 * drivers: the embedded engine, and the ClickHouse server driver against the STAND-IN HTTP
 * interface (test/helpers/clickhouse-http.ts; no ClickHouse server can run here).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createStore } from '../../../src/store/index.js';
import type { Store } from '../../../src/store/types.js';
import type { FeatureDrift, PerformanceResult, WindowResult } from '../../../src/types.js';
import { STORE_DRIVERS } from '../../helpers/store-drivers.js';

const T0 = Date.UTC(2026, 10, 22, 10, 0, 0);
const MIN = 60_000;

const DRIVERS = STORE_DRIVERS;

function drift(feature: string, drifted: boolean): FeatureDrift {
  return {
    feature,
    type: 'numeric',
    test: 'ks',
    statistic: drifted ? 0.3 : 0.01,
    pValue: drifted ? 1e-6 : 0.8,
    adjustedPValue: drifted ? 1e-5 : 0.8,
    threshold: 0.05,
    drifted,
    psi: drifted ? 0.4 : 0.01,
    ksStatistic: drifted ? 0.3 : 0.01,
    ksBound: 0.001,
    ksPValue: drifted ? 1e-6 : 0.8,
    verdictRule: 'calibrated',
    effect: 0.3,
    effectFloor: 0.1,
    count: 480,
    missingRatio: 0,
    outOfRangeRatio: 0,
    unseenRatio: 0,
    otherRatio: 0,
    statisticBound: 0.001,
    boundStraddlesThreshold: false,
    insufficient: false,
  };
}

const LINEAGE = { driftdVersion: '9.9.9', configHash: 'sha256:c0ffee' } as const;

function result(over: Partial<WindowResult> = {}): WindowResult {
  return {
    model: 'credit-risk',
    version: '3',
    size: 5 * MIN,
    sizeLabel: '5m',
    start: T0,
    end: T0 + 5 * MIN,
    baselineId: 'b-1',
    baselineHash: 'sha256:abc',
    eventCount: 500,
    lateCount: 0,
    closedAt: T0 + 5 * MIN + 1000,
    provisional: false,
    features: [drift('age', false), drift('income', false)],
    prediction: drift('__prediction__', false),
    driftShare: 0,
    datasetDrift: false,
    ...LINEAGE,
    revisionReason: 'close',
    ...over,
  };
}

function performance(over: Partial<PerformanceResult> = {}): PerformanceResult {
  return {
    model: 'credit-risk',
    version: '3',
    size: 5 * MIN,
    sizeLabel: '5m',
    start: T0,
    end: T0 + 5 * MIN,
    labeled: 0,
    coverage: 0,
    metrics: { estimated_accuracy: 0.9 },
    computedAt: T0 + 6 * MIN,
    ...LINEAGE,
    revisionReason: 'close',
    ...over,
  };
}

const WINDOW = { model: 'credit-risk', window: '5m', start: T0 } as const;

describe.each(DRIVERS)('result revisions on the $name', (driver) => {
  let dir: string;
  let store: Store;
  let stop: () => Promise<void>;

  beforeEach(async () => {
    dir = mkdtempSync(join(tmpdir(), 'driftd-revisions-'));
    const opened = await driver.open(dir);
    stop = opened.stop;
    store = createStore(
      { kind: 'embedded', path: dir, rawEventsTtlDays: 30 },
      { executor: opened.exec },
    );
    await store.migrate();
  });

  afterEach(async () => {
    await store.close();
    await stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('late labels rewrite a performance row: the readers see the new one, the history both', async () => {
    await store.insertPerformance([performance()]);
    const labelled = performance({
      labeled: 120,
      coverage: 0.24,
      metrics: { accuracy: 0.81, estimated_accuracy: 0.9 },
      computedAt: T0 + 90 * MIN,
      revisionReason: 'late_labels',
    });
    await store.insertPerformance([labelled]);

    const latest = await store.queryPerformance({ model: 'credit-risk', from: T0, to: T0 + MIN });
    expect(latest).toEqual([labelled]);

    const history = await store.windowHistory(WINDOW);
    expect(history.performance.map((p) => [p.revisionReason, p.labeled, p.writtenAt])).toEqual([
      ['close', 0, T0 + 6 * MIN],
      ['late_labels', 120, T0 + 90 * MIN],
    ]);
    expect(history.performance[1]).toMatchObject({ ...LINEAGE, metrics: labelled.metrics });
  });

  it('a provisional result and its final one are both kept, in order, with their lineage', async () => {
    const provisional = result({
      provisional: true,
      eventCount: 200,
      closedAt: T0 + 4 * MIN,
      revisionReason: 'provisional',
    });
    const final = result({ eventCount: 500, configHash: 'sha256:beef' });
    await store.insertWindowResults([provisional]);
    await store.insertWindowResults([final]);

    // (The reference is read back as the baseline's; the fixtures leave it out.)
    const reference = expect.anything();
    expect(await store.queryDrift({ model: 'credit-risk', from: T0, to: T0 + MIN })).toEqual([
      { ...final, reference },
    ]);
    const history = await store.windowHistory(WINDOW);
    expect(history.results).toEqual([
      { ...provisional, reference, writtenAt: T0 + 4 * MIN },
      { ...final, reference, writtenAt: final.closedAt },
    ]);
  });

  it('a replay rewrite is a third revision; a feature dropped by it stays in the older ones', async () => {
    await store.insertWindowResults([result()]);
    const replayed = result({
      features: [drift('income', true)],
      driftShare: 1,
      datasetDrift: true,
      closedAt: T0 + 60 * MIN,
      revisionReason: 'replay',
    });
    await store.insertWindowResults([replayed]);

    const [latest] = await store.queryDrift({ model: 'credit-risk', from: T0, to: T0 + MIN });
    expect(latest?.features.map((f) => f.feature)).toEqual(['income']);
    const history = await store.windowHistory({ ...WINDOW, version: '3' });
    expect(history.results.map((r) => [r.revisionReason, r.features.length])).toEqual([
      ['close', 2],
      ['replay', 1],
    ]);
    expect(await store.windowHistory({ ...WINDOW, version: '4' })).toEqual({
      results: [],
      performance: [],
    });
  });

  it('a write retried with the same result (a lost answer) is not a second revision', async () => {
    await store.insertWindowResults([result()]);
    await store.insertWindowResults([result()]);
    await store.insertPerformance([performance()]);
    await store.insertPerformance([performance()]);
    const history = await store.windowHistory(WINDOW);
    expect(history.results).toHaveLength(1);
    expect(history.performance).toHaveLength(1);
  });
});
