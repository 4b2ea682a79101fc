import { describe, expect, it } from 'vitest';
import { encodeEventRowBinary, RowBinaryWriter } from '../../../src/store/sql.js';
import type { StoredEvent } from '../../../src/store/types.js';

const T0 = Date.parse('2026-11-22T10:00:00Z');
const REPLAY = Object.freeze({ kind: 'replay' as const });

function event(over: Partial<StoredEvent>): StoredEvent {
  return {
    model: 'credit-risk',
    version: '3',
    id: 'p-1',
    ts: T0,
    features: {},
    prediction: 0.25,
    rawBytes: Buffer.from('{"model":"credit-risk"}'),
    late: false,
    source: REPLAY,
    ingestedAt: T0 + 5,
    ...over,
  };
}

describe('encodeEventRowBinary: lineage bytes reused between rows', () => {
  it('a row encodes to the same bytes after any other row as alone', () => {
    // Every lineage column changing from row to row, and back to an earlier row's values.
    const rows = [
      event({ id: 'a' }),
      event({ id: 'b' }),
      event({ id: 'c', late: true }),
      event({ id: 'd', ingestedAt: T0 + 6 }),
      event({ id: 'e', source: { kind: 'replay', file: 'x.jsonl', line: 7 } }),
      event({ id: 'f', source: { kind: 'replay', file: 'x.jsonl', line: 8 } }),
      event({ id: 'g', source: { kind: 'http' }, position: 41, requestKey: 'k' }),
      event({ id: 'h', source: { kind: 'http' }, position: 42 }),
      event({ id: 'i', source: { kind: 'kafka', topic: 't', partition: 1, offset: '10' } }),
      event({ id: 'j', source: { kind: 'kafka', topic: 't', partition: 1, offset: '11' } }),
      event({ id: 'k' }),
    ];
    const together = new RowBinaryWriter(64);
    const alone: Buffer[] = [];
    for (const row of rows) {
      encodeEventRowBinary(row, together);
      const w = new RowBinaryWriter(64);
      encodeEventRowBinary(row, w);
      alone.push(Buffer.from(w.finish()));
    }
    expect(together.rows).toBe(rows.length);
    expect(Buffer.from(together.finish()).equals(Buffer.concat(alone))).toBe(true);
  });
});
