/**
 * Verbatim event rows (the received JSON text passed straight to ClickHouse) must read back
 * exactly like rows re-encoded from the decoded fields: same columns, same dedup identity.
 * Real embedded ClickHouse (chDB).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decodePrediction, TextItem } from '../../../src/ingest/decode.js';
import { createStore } from '../../../src/store/index.js';
import type { Store, StoredEvent } from '../../../src/store/types.js';
import { testModel } from '../../helpers/model.js';

const model = testModel();
const opts = { models: new Map([[model.id, model]]), piiSalt: '' };

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

describe('verbatim event rows (real chDB)', () => {
  let dir: string;
  let store: Store;
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'driftd-verbatim-'));
    store = createStore({ kind: 'embedded', path: dir, rawEventsTtlDays: 30 });
    await store.migrate();
  });
  afterAll(async () => {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const texts = [
    '{"model":"credit-risk","version":"3","id":"v-1","ts":"2026-11-22T10:00:00.123Z","features":{"income":52000.5,"region":"EU","age":null,"note":"tab\\there \\"quoted\\" é"},"prediction":0.83}',
    '  {"id":"v-2","model":"credit-risk","version":"3","ts":"2026-11-22T11:00:00+01:00","prediction":1e-3,"features":{"income":-1.5e300,"region":"US"},"extra":{"nested":[1,2]}}  ',
  ];

  it('the decoder marks eligible texts, and rows stored verbatim read back like re-encoded ones', async () => {
    const verbatim = texts.map(decoded);
    expect(verbatim.every((e) => e.raw !== undefined)).toBe(true);
    const reencoded = verbatim.map(({ raw: _raw, ...e }) => ({ ...e, id: `${e.id}-js` }));
    await store.insertEvents(verbatim);
    await store.insertEvents(reencoded);
    for (const e of verbatim) {
      const a = await store.getPrediction(e.id);
      const b = await store.getPrediction(`${e.id}-js`);
      expect(a).not.toBeNull();
      expect({ ...a!.event, id: 'x' }).toEqual({ ...b!.event, id: 'x' });
      expect([a!.late, a!.source, a!.ingestedAt]).toEqual([b!.late, b!.source, b!.ingestedAt]);
      expect(a!.event.ts).toBe(e.ts);
      expect(a!.event.features).toEqual(e.features);
      expect(a!.event.prediction).toBe(e.prediction);
    }
  });

  it('a re-delivered verbatim event collapses with its first copy (same dedup identity)', async () => {
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

  it('texts that are not equivalent are not marked verbatim', () => {
    const cases = [
      '{"model":"credit-risk","version":3,"id":"n-1","ts":"2026-11-22T10:00:00Z","features":{},"prediction":0.5}',
      '{"model":"credit-risk","version":"3","id":"n-2","ts":1795341600000,"features":{},"prediction":0.5}',
      '{"model":"credit-risk","version":"3","id":"n-3","ts":"2026-11-22T10:00:00Z","features":{},"prediction":null}',
      '{"model":"credit-risk","version":"3","id":"n-4","ts":"2026-11-22T10:00:00Z","features":{},"prediction":0.5,"late":1}',
    ];
    for (const text of cases) expect(decoded(text, 0).raw).toBeUndefined();
  });

  it('a verbatim batch the engine rejects is re-encoded, not lost', async () => {
    // Duplicate keys parse in JavaScript (last wins) but ClickHouse refuses them.
    const text =
      '{"model":"credit-risk","version":"3","id":"dup-1","id":"dup-1","ts":"2026-11-22T10:00:00Z","features":{"income":1},"prediction":0.5}';
    const e = decoded(text, 0);
    expect(e.raw).toBe(text);
    await store.insertEvents([e]);
    expect((await store.getPrediction('dup-1'))?.event.features).toEqual({ income: 1 });
  });
});
