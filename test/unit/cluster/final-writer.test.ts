/**
 * The finaliser's writer (src/ingest/result-writer.ts with `dedupToken`, behind
 * `pipeline.cluster.writeFinal`): each window, its result and its segments', in an INSERT of
 * its own carrying the window's token; when the store refuses the whole for good and the rows
 * go one by one (quarantine.ts), each carries a token of its own, so none is dropped as a
 * repeat of another.
 */
import { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import type { DedupOptions } from '../../../src/cluster/types.js';
import { StoreError } from '../../../src/errors.js';
import { createMetrics } from '../../../src/export/metrics.js';
import type { PerformanceScheduler } from '../../../src/ingest/performance-scheduler.js';
import type { RawWriter } from '../../../src/ingest/raw-writer.js';
import { createResultWriter } from '../../../src/ingest/result-writer.js';
import { createSerial, createStoreWrites } from '../../../src/ingest/store-writes.js';
import { createLogger } from '../../../src/logger.js';
import type { WindowResult } from '../../../src/types.js';
import { type ClosedWindow, createWindowManager } from '../../../src/window/index.js';
import { testModel } from '../../helpers/model.js';
import { makeBaseline, makeEvents, makeRows, manualClock } from '../window/fixtures.js';

const model = testModel({ segments: { fields: ['region'], maxPerField: 2 } });
const baseline = makeBaseline(model, '3', 4000);

/** Two closed 5m windows of 60 events each. */
function closedWindows(): ClosedWindow[] {
  const clock = manualClock();
  const m = createWindowManager({
    model,
    clock,
    baselineFor: (v) => (v === '3' ? baseline : undefined),
  });
  for (const e of makeEvents(model, '3', makeRows(120, 3), (i) => (i < 60 ? i : 300_000 + i)))
    m.record(e);
  return m.flushAll();
}

function writer(insert: (rows: readonly WindowResult[], opts?: DedupOptions) => Promise<void>) {
  const metrics = createMetrics(new Registry(), { version: 'test' });
  const quarantined: unknown[] = [];
  const performance = {
    windowWritten() {},
    trim() {},
    recompute: async () => {},
  } as unknown as PerformanceScheduler;
  const w = createResultWriter({
    store: { insertWindowResults: insert },
    modelOf: () => model,
    clock: manualClock(),
    metrics,
    logger: createLogger('silent'),
    writes: createStoreWrites(metrics, {
      put: (_k: unknown, items: unknown[]) => quarantined.push(...items),
    } as never),
    serial: createSerial(),
    raw: { afterStored() {} } as unknown as RawWriter,
    performance,
    dedupToken: (c) => `final:${c.bounds.start}`,
  });
  return { w, quarantined };
}

describe('final writer (dedup tokens)', () => {
  it('one INSERT per window, with its token, holding its result and its segments', async () => {
    const calls: Array<{ rows: readonly WindowResult[]; token: string | undefined }> = [];
    const { w } = writer(async (rows, opts) => {
      calls.push({ rows, token: opts?.dedupToken });
    });
    const written = await w.write(closedWindows());
    expect(calls.map((c) => c.token)).toEqual(['final:0', 'final:300000']);
    for (const c of calls) {
      expect(new Set(c.rows.map((r) => r.start)).size).toBe(1);
      expect(c.rows.filter((r) => !r.segment)).toHaveLength(1);
      expect(c.rows.some((r) => r.segment)).toBe(true);
    }
    expect(written.filter((r) => !r.segment).map((r) => r.eventCount)).toEqual([60, 60]);
  });

  it('rows sent one by one after a refusal get tokens of their own', async () => {
    const tokens: Array<string | undefined> = [];
    const { w, quarantined } = writer(async (rows, opts) => {
      if (rows.length > 1) throw new StoreError('refused', { retriable: false });
      tokens.push(opts?.dedupToken);
    });
    const [first] = closedWindows();
    const written = await w.write([first!]);
    expect(quarantined).toEqual([]);
    expect(written.length).toBe(tokens.length);
    expect(new Set(tokens).size).toBe(tokens.length);
    expect(tokens[0]).toBe('final:0#');
    expect(tokens.slice(1).every((t) => t?.startsWith('final:0#'))).toBe(true);
  });
});
