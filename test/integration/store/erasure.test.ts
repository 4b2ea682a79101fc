/**
 * Erasure of one prediction (GDPR Art. 17) on both drivers, no doubles: the embedded
 * ClickHouse (chDB) in-process, and the ClickHouse server driver (@clickhouse/client) against
 * the STAND-IN ClickHouse HTTP interface (test/helpers/clickhouse-http.ts, the same embedded
 * engine behind node:http: no ClickHouse server can be installed here). Every copy of the
 * event and its labels go, with a lightweight DELETE; nothing else does.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createChdbExecutor } from '../../../src/store/chdb.js';
import { createStore } from '../../../src/store/index.js';
import { eraseByIdSql } from '../../../src/store/sql.js';
import type { Store, StoredEvent } from '../../../src/store/types.js';
import { STORE_DRIVERS } from '../../helpers/store-drivers.js';

const T0 = Date.UTC(2026, 10, 22, 10, 0, 0);

const DRIVERS = STORE_DRIVERS;

function event(id: string, i: number, over: Partial<StoredEvent> = {}): StoredEvent {
  return {
    model: 'credit-risk',
    version: '3',
    id,
    ts: T0 + i * 1000,
    features: { income: 50_000 + i, region: 'EU' },
    prediction: 0.5,
    late: false,
    source: { kind: 'replay', file: 'e.jsonl', line: i + 1 },
    ingestedAt: T0 + 60_000,
    ...over,
  };
}

describe.each(DRIVERS)('erasePrediction on the $name', (driver) => {
  let dir: string;
  let store: Store;
  let stop: () => Promise<void>;

  beforeEach(async () => {
    dir = mkdtempSync(join(tmpdir(), 'driftd-erase-'));
    const opened = await driver.open(dir);
    stop = opened.stop;
    store = createStore(
      { kind: 'embedded', path: dir, rawEventsTtlDays: 30 },
      { executor: opened.exec, now: () => T0 + 120_000 },
    );
    await store.migrate();
  });

  afterEach(async () => {
    await store.close();
    await stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('deletes every copy of the event and its labels, answers the counts, leaves the rest', async () => {
    await store.insertEvents([
      event('p-1', 1),
      // A second copy through another source (Kafka redelivery of the same id).
      event('p-1', 1, {
        source: { kind: 'kafka', topic: 't', partition: 0, offset: '7' },
        ingestedAt: T0 + 70_000,
      }),
      event('p-2', 2),
      // The same id under another model is another prediction.
      event('p-1', 3, { model: 'other' }),
    ]);
    await store.insertLabels([
      { model: 'credit-risk', id: 'p-1', ts: T0 + 90_000, label: 1 },
      { model: 'credit-risk', id: 'p-2', ts: T0 + 90_000, label: 0 },
      { model: 'other', id: 'p-1', ts: T0 + 90_000, label: 1 },
    ]);

    expect(await store.erasePrediction('credit-risk', 'p-1')).toEqual({ events: 2, labels: 1 });
    expect(await store.getPrediction('p-1', { model: 'credit-risk' })).toBeNull();
    // The other prediction of the model, and the same id of another model, are untouched.
    const p2 = await store.getPrediction('p-2', { model: 'credit-risk' });
    expect(p2?.label?.label).toBe(0);
    const other = await store.getPrediction('p-1', { model: 'other' });
    expect(other?.label?.label).toBe(1);
    // Gone from range reads as well (recompute, label joins).
    const events = await store.windowEvents({
      model: 'credit-risk',
      version: '3',
      from: T0,
      to: T0 + 3_600_000,
    });
    expect(events.map((e) => e.id)).toEqual(['p-2']);
    // A second erasure finds nothing.
    expect(await store.erasePrediction('credit-risk', 'p-1')).toEqual({ events: 0, labels: 0 });
  });

  it('binds model and id as parameters (no SQL injection)', async () => {
    await store.insertEvents([event('p-1', 1), event('p-2', 2)]);
    expect(await store.erasePrediction('credit-risk', "x' OR 1=1 OR id='")).toEqual({
      events: 0,
      labels: 0,
    });
    expect(await store.erasePrediction("credit-risk' OR '1'='1", 'p-1')).toEqual({
      events: 0,
      labels: 0,
    });
    expect((await store.getPrediction('p-1'))?.event.id).toBe('p-1');
    expect((await store.getPrediction('p-2'))?.event.id).toBe('p-2');
  });
});

describe('erasure on a cluster schema (deploy/clickhouse/cluster.sql)', () => {
  it('deletes from <table>_local ON CLUSTER: the statement parses in ClickHouse 26 (no cluster runs here)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'driftd-erase-cluster-'));
    const exec = createChdbExecutor({ path: dir });
    try {
      for (const table of ['events', 'labels'] as const) {
        const sql = eraseByIdSql('driftd', table, true);
        expect(sql).toContain(`DELETE FROM \`driftd\`.\`${table}_local\` ON CLUSTER '{cluster}'`);
        const ast = await exec.query<{ explain: string }>(`EXPLAIN AST ${sql}`, {
          model: 'm',
          id: 'i',
        });
        expect(ast.map((r) => r.explain).join('\n')).toContain('DeleteQuery');
      }
    } finally {
      await exec.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
