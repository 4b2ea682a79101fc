/**
 * Store.fairnessRows pushes the selection rule (`toScore` / `isSelected`, src/window) and the
 * positive-label rule (`computePerformance`) down into ClickHouse SQL, so that a window's rows
 * are per (value, selected, label class) and not one per distinct score. This test holds the
 * SQL equal to the TypeScript rules on every kind of prediction and label an event can carry
 * (probabilities at and around the threshold, 0 and 1 and beyond, classes as strings, numbers
 * and booleans, null), for several thresholds and positive classes, through the real engine.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createChdbExecutor, createStore } from '../../../src/store/index.js';
import type { Store, StoredEvent } from '../../../src/store/types.js';
import type { FeatureValue } from '../../../src/types.js';
import { isSelected } from '../../../src/window/fairness.js';
import { testModel } from '../../helpers/model.js';

const T0 = Date.UTC(2026, 10, 22, 10, 0, 0);
const PREDICTIONS: FeatureValue[] = [
  0,
  1,
  0.5,
  0.3,
  0.30000000000000004,
  0.29999999999999993,
  0.49999999999999994,
  0.5000000000000001,
  1e-300,
  5e-324,
  0.9999999999999999,
  1.0000000000000002,
  -0,
  -0.1,
  2,
  2 ** 64,
  '1',
  'yes',
  'no',
  '',
  'true',
  true,
  false,
  null,
  'é"\\',
];
const LABELS: Array<number | string | null> = [1, 0, '1', 'yes', 'no', 2, 1.5, 'true', null];

let dir: string;
let store: Store;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'driftd-fairness-rows-'));
  store = createStore(
    { kind: 'embedded', path: dir, rawEventsTtlDays: 30 },
    { executor: createChdbExecutor({ path: dir }), database: 'driftd_fairness_rows' },
  );
  await store.migrate();
  const events: StoredEvent[] = [];
  const labels: Array<{ model: string; id: string; ts: number; label: number | string }> = [];
  let i = 0;
  for (const prediction of PREDICTIONS) {
    for (const label of LABELS) {
      const id = `p-${i}`;
      events.push({
        model: 'm',
        version: '1',
        id,
        ts: T0 + i,
        features: { g: i % 2 === 0 ? 'a' : 'b' },
        prediction,
        late: false,
        source: { kind: 'http' },
        ingestedAt: T0 + i,
      });
      if (label !== null) labels.push({ model: 'm', id, ts: T0 + i, label });
      i++;
    }
  }
  await store.insertEvents(events);
  await store.insertLabels(labels);
}, 120_000);

afterAll(async () => {
  await store?.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('Store.fairnessRows: the SQL selection and label rules equal the TypeScript ones', () => {
  it.each([
    [0.5, 1],
    [0.3, 1],
    [0, 1],
    [1, 1],
    [0.5, 'yes'],
    [0.5, 'true'],
  ] as const)('threshold %s, positive class %s', async (threshold, positive) => {
    const model = testModel({ label: { field: 'label', positive, threshold } });
    const expected = new Map<string, number>();
    let i = 0;
    for (const prediction of PREDICTIONS) {
      for (const label of LABELS) {
        const selected = isSelected(model, prediction) ?? null;
        const isPositive = label === null ? null : String(label) === String(positive);
        const key = JSON.stringify([i % 2 === 0 ? 'a' : 'b', selected, isPositive]);
        expected.set(key, (expected.get(key) ?? 0) + 1);
        i++;
      }
    }
    const rows = await store.fairnessRows({
      model: 'm',
      version: '1',
      from: T0,
      to: T0 + 100_000,
      field: 'g',
      threshold,
      positive: String(positive),
      limit: 1000,
    });
    const got = new Map(
      rows.map((r) => [JSON.stringify([r.value, r.selected, r.positive]), r.count] as const),
    );
    expect(Object.fromEntries(got)).toEqual(Object.fromEntries(expected));
  });
});
