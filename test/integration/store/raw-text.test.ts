/**
 * Events stored with their received text (`raw`, the audit record) must read back exactly like
 * events re-encoded from their decoded fields: same values through every read (features come
 * from the text), same dedup identity; and PII never reaches the store in clear. Real embedded
 * ClickHouse (chDB).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decodePrediction, TextItem } from '../../../src/ingest/decode.js';
import { createPiiKey } from '../../../src/privacy/pii.js';
import { createChdbExecutor } from '../../../src/store/chdb.js';
import { createSqlStore } from '../../../src/store/store.js';
import type { SqlExecutor, Store, StoredEvent } from '../../../src/store/types.js';
import { testModel } from '../../helpers/model.js';

const model = testModel({ storeUnlistedFields: true });
const piiModel = testModel({ id: 'pii-model', piiFields: ['email'], storeUnlistedFields: true });
const opts = {
  models: new Map([
    [model.id, model],
    [piiModel.id, piiModel],
  ]),
  piiKey: createPiiKey('raw-text-test-key-0123456789abcdef'),
};

function decoded(text: string, i: number): StoredEvent {
  const d = decodePrediction(new TextItem(JSON.parse(text), text), opts);
  if (!d.ok) throw new Error(d.message);
  return {
    ...d.value,
    late: i % 2 === 1,
    source: { kind: 'http' },
    ingestedAt: Date.UTC(2026, 10, 22, 12),
  };
}

describe('events stored with their received text (real chDB)', () => {
  let dir: string;
  let exec: SqlExecutor;
  let store: Store;
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'driftd-raw-text-'));
    exec = createChdbExecutor({ path: dir });
    store = createSqlStore(exec, { database: 'driftd', rawEventsTtlDays: 30 });
    await store.migrate();
  });
  afterAll(async () => {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const texts = [
    '{"model":"credit-risk","version":"3","id":"v-1","ts":"2026-11-22T10:00:00.123Z","features":{"income":52000.50,"region":"EU","age":null,"note":"tab\\there \\"quoted\\" é {not: an object}"},"prediction":0.83}',
    '  {"id":"v-2","model":"credit-risk","version":"3","ts":"2026-11-22T11:00:00+01:00","prediction":1e-3,"features" : { "income" : -1.5e300 , "region":"US" } ,"extra":{"nested":[1,{"features":{}}]}}  ',
    // A long text of 4-byte characters: in a category up to its limit (256 UTF-16 units), and
    // beyond it in a field driftd does not monitor (kept in the raw text only).
    `{"model":"credit-risk","version":"3","id":"v-3","ts":1795341600000,"features":{"income":1,"region":"${'🎉'.repeat(128)}","note":"${'🎉'.repeat(3000)}"},"prediction":0.25}`,
  ];

  it('keeps the text as received, and reads back like the re-encoded event', async () => {
    const kept = texts.map(decoded);
    expect(kept.map((e) => e.raw)).toEqual(texts);
    const reencoded = kept.map(({ raw: _raw, ...e }) => ({ ...e, id: `${e.id}-js` }));
    await store.insertEvents(kept);
    await store.insertEvents(reencoded);
    for (const e of kept) {
      const a = await store.getPrediction(e.id);
      const b = await store.getPrediction(`${e.id}-js`);
      expect(a).not.toBeNull();
      expect({ ...a!.event, id: 'x' }).toEqual({ ...b!.event, id: 'x' });
      expect([a!.late, a!.source, a!.ingestedAt]).toEqual([b!.late, b!.source, b!.ingestedAt]);
      expect(a!.event.ts).toBe(e.ts);
      expect(a!.event.features).toEqual(e.features);
      expect(a!.event.prediction).toBe(e.prediction);
      expect([a!.raw, b!.raw]).toEqual([e.raw, null]);
    }
    // The audit record is the received text, byte for byte; re-encoded rows have none.
    const rows = await exec.query<{ id: string; raw: string; features: string }>(
      'SELECT id, raw, features FROM driftd.events ORDER BY id',
    );
    expect(rows.map((r) => r.raw)).toEqual([texts[0], '', texts[1], '', texts[2], '']);
    expect(rows.filter((r) => r.raw !== '').every((r) => r.features === '')).toBe(true);
    // The exact recompute reads the features out of the text in ClickHouse, like the column.
    const [first] = kept;
    const ks = await store.exactKs({
      model: 'credit-risk',
      version: '3',
      from: first!.ts,
      to: first!.ts + 1,
      feature: 'income',
      reference: [52000.5],
    });
    expect(ks.m).toBe(2);
    expect(ks.statistic).toBeCloseTo(0, 12);
  });

  it('bytes at hand (a Kafka value, an ASCII body) are stored as they are, equal to the text', async () => {
    const text =
      '{"model":"credit-risk","version":"3","id":"b-1","ts":"2026-11-22T10:00:00Z","features":{"income":7,"region":"Zürich 🎉"},"prediction":0.5}';
    const bytes = Buffer.from(text, 'utf8');
    const d = decodePrediction(new TextItem(JSON.parse(text), text, bytes), opts);
    if (!d.ok) throw new Error(d.message);
    expect(d.value.rawBytes).toBe(bytes);
    await store.insertEvents([
      { ...d.value, late: false, source: { kind: 'http' }, ingestedAt: Date.UTC(2026, 10, 22, 12) },
    ]);
    const [row] = await exec.query<{ raw: string }>(
      "SELECT raw FROM driftd.events WHERE id = 'b-1'",
    );
    expect(row!.raw).toBe(text);
    expect((await store.getPrediction('b-1'))?.event.features).toEqual({
      income: 7,
      region: 'Zürich 🎉',
    });
  });

  it('a re-delivered event collapses with its first copy (same dedup identity)', async () => {
    const [first] = texts.map(decoded);
    await store.insertEvents([first!]);
    const rows = await store.windowEvents({
      model: 'credit-risk',
      version: '3',
      from: first!.ts,
      to: first!.ts + 1,
    });
    expect(rows.filter((r) => r.id === 'v-1')).toHaveLength(1);
  });

  it('a model with PII fields stores no text: the clear value never reaches the store', async () => {
    const text =
      '{"model":"pii-model","version":"3","id":"pii-1","ts":"2026-11-22T10:00:00Z","features":{"income":1,"email":"jane@example.org"},"prediction":0.5}';
    const e = decoded(text, 0);
    expect(e.raw).toBeUndefined();
    await store.insertEvents([e]);
    const stored = await store.getPrediction('pii-1');
    expect(stored?.raw).toBeNull();
    expect(stored?.event.features.email).toBe(e.features.email);
    expect(stored?.event.features.email).not.toBe('jane@example.org');
    const [hits] = await exec.query<{ n: string }>(
      "SELECT count() AS n FROM driftd.events WHERE position(raw, 'jane@') > 0 OR position(features, 'jane@') > 0",
    );
    expect(Number(hits!.n)).toBe(0);
  });
});
