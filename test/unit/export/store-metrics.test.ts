import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Registry } from 'prom-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createMetrics, type Metrics } from '../../../src/export/metrics.js';
import { countStoreErrors } from '../../../src/export/store-metrics.js';
import { createStore } from '../../../src/store/index.js';
import type { Store } from '../../../src/store/types.js';

/** Every failed store call is counted by operation, on the real embedded store (chDB). */
describe('driftd_store_errors_total{operation}', () => {
  let dir: string;
  let real: Store;
  let store: Store;
  let metrics: Metrics;

  const errors = async () => {
    const out: Record<string, number> = {};
    for (const v of (await metrics.storeErrors.get()).values) {
      out[String(v.labels.operation)] = v.value;
    }
    return out;
  };

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'driftd-store-metrics-'));
    metrics = createMetrics(new Registry(), { version: 'test' });
    real = createStore({ kind: 'embedded', path: join(dir, 'store'), rawEventsTtlDays: 30 });
    store = countStoreErrors(real, metrics);
  });
  afterAll(async () => {
    await store?.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('counts a failed call under its snake_case name and passes the error through', async () => {
    // Not migrated yet: the tables do not exist, the store really fails.
    const direct = await real.getBaseline('b-1').catch((e: unknown) => e);
    expect(direct).toBeInstanceOf(Error);
    const err = await store.getBaseline('b-1').catch((e: unknown) => e);
    expect(err).toBeInstanceOf((direct as Error).constructor);
    await expect(store.listBaselines()).rejects.toThrow();
    await expect(store.listBaselines()).rejects.toThrow();
    expect(await errors()).toEqual({ get_baseline: 1, list_baselines: 2 });
  });

  it('counts nothing for calls that succeed, and returns their results unchanged', async () => {
    await store.migrate();
    expect(await store.listBaselines()).toEqual([]);
    expect(await store.getBaseline('b-1')).toBeNull();
    const buffer = store.createEventBuffer();
    expect(typeof buffer.add).toBe('function');
    expect(await errors()).toEqual({ get_baseline: 1, list_baselines: 2 });
  });

  it('keeps the name raw event inserts had before (insert_events)', async () => {
    const failing = countStoreErrors(
      {
        ...real,
        insertEncodedEvents: () => Promise.reject(new Error('refused (test double)')),
      } as Store,
      metrics,
    );
    await expect(failing.insertEncodedEvents([])).rejects.toThrow('refused (test double)');
    expect((await errors()).insert_events).toBe(1);
  });
});
