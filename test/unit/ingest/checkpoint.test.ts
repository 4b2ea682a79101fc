import { describe, expect, it } from 'vitest';
import { InvalidInputError } from '../../../src/errors.js';
import {
  decodeCheckpoint,
  encodeCheckpoint,
  type KafkaCheckpoint,
  offsetsByPartition,
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
