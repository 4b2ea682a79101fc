import { describe, expect, it } from 'vitest';
import { InvalidInputError } from '../../../src/errors.js';
import {
  decodeCheckpoint,
  decodeReplayCheckpoint,
  encodeCheckpoint,
  encodeReplayCheckpoint,
  type KafkaCheckpoint,
  offsetsByPartition,
  type ReplayCheckpoint,
} from '../../../src/ingest/checkpoint.js';

const cp: KafkaCheckpoint = {
  format: 1,
  groupId: 'g',
  seq: 7,
  takenAt: 1_000,
  offsets: [
    { topic: 'p', partition: 0, offset: '10' },
    { topic: 'p', partition: 2, offset: '0' },
  ],
  windows: {},
};

describe('Kafka checkpoint encoding', () => {
  it('round-trips through the stored row', () => {
    const row = encodeCheckpoint(cp);
    expect(row).toMatchObject({ groupId: 'g', seq: 7, takenAt: 1_000 });
    expect(decodeCheckpoint(row)).toEqual(cp);
    expect(offsetsByPartition(cp)).toEqual(
      new Map([
        ['p/0', '10'],
        ['p/2', '0'],
      ]),
    );
  });

  it('refuses torn, foreign or malformed payloads, naming the problem', () => {
    const row = encodeCheckpoint(cp);
    expect(() => decodeCheckpoint({ ...row, payload: row.payload.slice(0, 20) })).toThrow(
      InvalidInputError,
    );
    expect(() => decodeCheckpoint({ ...row, groupId: 'other' })).toThrow(/belongs to group g/);
    const bad = { ...cp, offsets: [{ topic: 'p', partition: -1, offset: '1' }] };
    expect(() => decodeCheckpoint(encodeCheckpoint(bad))).toThrow(/bad offset entry/);
    const neg = { ...cp, offsets: [{ topic: 'p', partition: 0, offset: '-1' }] };
    expect(() => decodeCheckpoint(encodeCheckpoint(neg))).toThrow(/bad offset entry/);
    expect(() => decodeCheckpoint(encodeCheckpoint({ ...cp, format: 2 as 1 }))).toThrow(/format 2/);
  });
});

describe('replay checkpoint encoding', () => {
  const replay: ReplayCheckpoint = {
    format: 1,
    kind: 'replay',
    seq: 3,
    takenAt: 2_000,
    file: { path: '/data/events.jsonl', size: 1_000_000, mtimeMs: 1_700_000_000_000.5 },
    offset: 52_311,
    line: 5000,
    accepted: 4998,
    rejected: 2,
    done: false,
    windows: {},
  };

  it('round-trips through the stored row, under the replay group', () => {
    const row = encodeReplayCheckpoint(replay);
    expect(row.groupId).toBe('driftd:replay');
    expect(decodeReplayCheckpoint(row)).toEqual(replay);
  });

  it('refuses malformed payloads, naming the problem', () => {
    const bad = (over: Record<string, unknown>) => () =>
      decodeReplayCheckpoint({
        ...encodeReplayCheckpoint(replay),
        payload: JSON.stringify({ ...replay, ...over }),
      });
    expect(bad({ kind: 'http' })).toThrow(/not a replay checkpoint/);
    expect(bad({ offset: -1 })).toThrow(/bad offset/);
    expect(bad({ file: { path: 1 } })).toThrow(/bad file/);
    expect(bad({ done: 'no' })).toThrow(/done missing/);
    expect(bad({ windows: null })).toThrow(/windows missing/);
    expect(bad({ offset: 1 })).not.toThrow();
    expect(() =>
      decodeReplayCheckpoint({ ...encodeReplayCheckpoint(replay), payload: '{' }),
    ).toThrow(InvalidInputError);
  });
});
