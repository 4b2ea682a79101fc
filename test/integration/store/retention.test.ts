/**
 * Raw-data retention counts from ingestion: a backfill of old events is kept as long as live
 * data (regression: an event-time TTL dropped a replay of 2012 data the moment it was
 * written). Real embedded ClickHouse; OPTIMIZE … FINAL makes the engine apply the TTL now.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createChdbExecutor } from '../../../src/store/chdb.js';
import { createStore } from '../../../src/store/index.js';
import type { SqlExecutor, Store, StoredEvent } from '../../../src/store/types.js';

const DAY = 86_400_000;

describe('raw-data retention (real chDB)', () => {
  let dir: string;
  let exec: SqlExecutor;
  let store: Store;
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'driftd-retention-'));
    exec = createChdbExecutor({ path: dir });
    store = createStore({ kind: 'embedded', path: dir, rawEventsTtlDays: 30 }, { executor: exec });
    await store.migrate();
  });
  afterAll(async () => {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const event = (id: string, ts: number, ingestedAt: number): StoredEvent => ({
    model: 'm',
    version: '1',
    id,
    ts,
    features: { x: 1 },
    prediction: 0.5,
    late: false,
    source: { kind: 'replay' },
    ingestedAt,
  });

  it('keeps a just-ingested event from 2012 and drops one received 40 days ago', async () => {
    const now = Date.now();
    await store.insertEvents([event('old-ts-new-ingest', Date.parse('2012-06-01T12:00:00Z'), now)]);
    await store.insertEvents([event('ingested-long-ago', now - 50 * DAY, now - 40 * DAY)]);
    await store.insertLabels([
      { model: 'm', id: 'old-ts-new-ingest', ts: Date.parse('2012-06-04T12:00:00Z'), label: 1 },
    ]);
    await exec.command('OPTIMIZE TABLE driftd.events FINAL');
    await exec.command('OPTIMIZE TABLE driftd.labels FINAL');
    const kept = await store.getPrediction('old-ts-new-ingest');
    expect(kept?.event.ts).toBe(Date.parse('2012-06-01T12:00:00Z'));
    expect(kept?.label?.label).toBe(1);
    expect(await store.getPrediction('ingested-long-ago')).toBeNull();
  });
});
