/**
 * Store.eventSources, the lineage of the period report: where a model's stored events of a time
 * range came from — per Kafka topic and partition the first and last offset (offsets beyond
 * 2^53 kept exact), per replayed file, HTTP — in a stable order, within the range only, capped.
 * Real embedded ClickHouse (chDB).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createChdbExecutor } from '../../../src/store/chdb.js';
import { createSqlStore } from '../../../src/store/store.js';
import type { Store, StoredEvent } from '../../../src/store/types.js';
import type { EventSource } from '../../../src/types.js';

const T0 = Date.UTC(2026, 10, 22, 10);
const HOUR = 3_600_000;

function event(i: number, source: EventSource, model = 'credit-risk'): StoredEvent {
  return {
    model,
    version: '3',
    id: `e-${i}`,
    ts: T0 + i * 1000,
    features: { income: i },
    prediction: 0.5,
    late: false,
    source,
    ingestedAt: T0 + HOUR,
  };
}

describe('Store.eventSources (real chDB)', () => {
  let dir: string;
  let store: Store;
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'driftd-event-sources-'));
    store = createSqlStore(createChdbExecutor({ path: dir }), {
      database: 'driftd',
      rawEventsTtlDays: 30,
    });
    await store.migrate();
    const kafka = (partition: number, offset: string): EventSource => ({
      kind: 'kafka',
      topic: 'predictions',
      partition,
      offset,
    });
    await store.insertEvents([
      event(0, kafka(1, '17')),
      event(1, kafka(1, '9007199254740993')),
      event(2, kafka(0, '5')),
      event(3, kafka(0, '6')),
      event(4, { kind: 'replay', file: '/var/data/backfill-2026-11.jsonl', line: 3 }),
      event(5, { kind: 'http' }),
      event(6, { kind: 'http' }),
      // Outside the range, and another model: not listed.
      { ...event(7, kafka(2, '1')), ts: T0 + 2 * HOUR },
      event(8, kafka(3, '1'), 'other-model'),
    ]);
  });
  afterAll(async () => {
    await store?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('lists each Kafka partition with its first and last offset, each replayed file, HTTP', async () => {
    const rows = await store.eventSources({
      model: 'credit-risk',
      from: T0,
      to: T0 + HOUR,
      limit: 100,
    });
    expect(rows).toEqual([
      {
        source: 'http',
        topic: '',
        partition: -1,
        firstOffset: '',
        lastOffset: '',
        file: '',
        events: 2,
        firstTs: T0 + 5000,
        lastTs: T0 + 6000,
      },
      {
        source: 'kafka',
        topic: 'predictions',
        partition: 0,
        firstOffset: '5',
        lastOffset: '6',
        file: '',
        events: 2,
        firstTs: T0 + 2000,
        lastTs: T0 + 3000,
      },
      {
        source: 'kafka',
        topic: 'predictions',
        partition: 1,
        firstOffset: '17',
        lastOffset: '9007199254740993',
        file: '',
        events: 2,
        firstTs: T0,
        lastTs: T0 + 1000,
      },
      {
        source: 'replay',
        topic: '',
        partition: -1,
        firstOffset: '',
        lastOffset: '',
        file: '/var/data/backfill-2026-11.jsonl',
        events: 1,
        firstTs: T0 + 4000,
        lastTs: T0 + 4000,
      },
    ]);
    const capped = await store.eventSources({
      model: 'credit-risk',
      from: T0,
      to: T0 + HOUR,
      limit: 2,
    });
    expect(capped.map((r) => r.source)).toEqual(['http', 'kafka']);
    expect(await store.eventSources({ model: 'nope', from: T0, to: T0 + HOUR, limit: 10 })).toEqual(
      [],
    );
  });
});
