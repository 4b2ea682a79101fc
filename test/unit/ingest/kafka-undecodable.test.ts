/**
 * The codec guard through kafkajs's own record-batch decoder (kafkajs 2.2.4, the pinned
 * version): it must find the batch header before the bytes kafkajs hands a codec, and its
 * placeholders must decode as records at the batch's offsets. The real-broker side is in
 * test/integration/kafka-codecs.test.ts.
 */
import { createRequire } from 'node:module';
import kafkajs from 'kafkajs';
import { afterEach, describe, expect, it } from 'vitest';
import {
  MAX_DECOMPRESSED_BYTES,
  registerKafkaCodecs,
  snappyDecompress,
} from '../../../src/ingest/kafka/codecs.js';
import {
  guardCodec,
  MAX_DECOMPRESS_ATTEMPTS,
  malformedRecords,
  UndecodableBatchError,
  undecodableBatchOf,
} from '../../../src/ingest/kafka/undecodable.js';

const require = createRequire(import.meta.url);
const Decoder = require('kafkajs/src/protocol/decoder') as new (b: Buffer) => unknown;
const decodeRecordBatch = require('kafkajs/src/protocol/recordBatch/v0/decoder') as (
  d: unknown,
) => Promise<{ records: Array<{ offset: string; value: Buffer | null; key: Buffer | null }> }>;

const { CompressionCodecs, CompressionTypes } = kafkajs;
const codecs = CompressionCodecs as unknown as Record<number, () => unknown>;

/** A v2 record batch: header fields as Kafka writes them, then `records` as its payload. */
function batch(opts: {
  baseOffset: bigint;
  codec: number;
  lastOffsetDelta: number;
  count: number;
  records: Buffer;
}): Buffer {
  const h = Buffer.alloc(61);
  h.writeBigInt64BE(opts.baseOffset, 0);
  h.writeInt32BE(49 + opts.records.length, 8);
  h.writeInt32BE(0, 12); // partition leader epoch
  h.writeInt8(2, 16); // magic
  h.writeUInt32BE(0x12345678, 17); // crc (kafkajs does not check it)
  h.writeInt16BE(opts.codec, 21);
  h.writeInt32BE(opts.lastOffsetDelta, 23);
  h.writeBigInt64BE(1_700_000_000_000n, 27);
  h.writeBigInt64BE(1_700_000_000_000n, 35);
  h.writeBigInt64BE(-1n, 43); // producer id
  h.writeInt16BE(-1, 51);
  h.writeInt32BE(-1, 53);
  h.writeInt32BE(opts.count, 57);
  // Something before the batch, as in a fetch response.
  return Buffer.concat([Buffer.from('fetch-response-prefix'), h, opts.records]).subarray(21);
}

const decode = (b: Buffer) => decodeRecordBatch(new Decoder(b));

const failing = (message: string) => () => ({
  compress: async () => Buffer.alloc(0),
  decompress: async (): Promise<Buffer> => {
    throw new Error(message);
  },
});

describe('kafka codec guard (kafkajs record-batch decoder)', () => {
  registerKafkaCodecs();
  const saved = { ...codecs };
  afterEach(() => {
    Object.assign(codecs, saved);
  });

  it('retries a batch that cannot be decompressed, then decodes it as placeholders at its offsets', async () => {
    codecs[CompressionTypes.Snappy] = guardCodec(2, 'snappy', failing('corrupt input'));
    const compressed = Buffer.from('not snappy at all');
    // A compacted batch: 3 records left of offsets 100–104.
    const bytes = batch({
      baseOffset: 100n,
      codec: 2,
      lastOffsetDelta: 4,
      count: 3,
      records: compressed,
    });
    for (let i = 1; i < MAX_DECOMPRESS_ATTEMPTS; i++) {
      const err = await decode(bytes).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(UndecodableBatchError);
      expect((err as UndecodableBatchError).retriable).toBe(true);
      expect((err as Error).message).toMatch(
        new RegExp(`snappy batch at offset 100 .*attempt ${i} of ${MAX_DECOMPRESS_ATTEMPTS}`),
      );
    }
    const { records } = await decode(bytes);
    expect(records.map((r) => r.offset)).toEqual(['100', '101', '104']);
    // Given up for good: fetched again, it is placeholders at once.
    expect((await decode(bytes)).records).toHaveLength(3);
    expect(records.every((r) => r.key === null && r.value?.length === 0)).toBe(true);
    const of = records.map((r) => undecodableBatchOf(r));
    expect(new Set(of).size).toBe(1);
    expect(of[0]).toEqual({
      codec: 'snappy',
      error: 'snappy batch cannot be decompressed: corrupt input',
      baseOffset: '100',
      lastOffset: '104',
      records: 3,
      compressed,
    });
  });

  it('gets one broken batch further per refetch when several share a fetch', async () => {
    codecs[CompressionTypes.ZSTD] = guardCodec(4, 'zstd', failing('bad frame'));
    const fetch = Buffer.concat(
      [0n, 1n, 2n, 3n].map((baseOffset) =>
        batch({ baseOffset, codec: 4, lastOffsetDelta: 0, count: 1, records: Buffer.from([9]) }),
      ),
    );
    const decodeAll = async () => {
      const d = new Decoder(fetch) as { canReadBytes(n: number): boolean };
      const offsets: string[] = [];
      while (d.canReadBytes(61))
        offsets.push(...(await decodeRecordBatch(d)).records.map((r) => r.offset));
      return offsets;
    };
    let fetches = 1;
    while ((await decodeAll().catch(() => null)) === null) fetches++;
    expect(await decodeAll()).toEqual(['0', '1', '2', '3']);
    // Each batch fails two fetches (its 3rd attempt is the next one's 1st): 2n + 1.
    expect(fetches).toBe(2 * 4 + 1);
  });

  it('writes offset deltas past one varint byte (300 records)', async () => {
    codecs[CompressionTypes.LZ4] = guardCodec(3, 'lz4', failing('bad frame'));
    const bytes = batch({
      baseOffset: 7n,
      codec: 3,
      lastOffsetDelta: 299,
      count: 300,
      records: Buffer.from([1, 2, 3]),
    });
    for (let i = 1; i < MAX_DECOMPRESS_ATTEMPTS; i++) await expect(decode(bytes)).rejects.toThrow();
    const { records } = await decode(bytes);
    expect(records).toHaveLength(300);
    expect(records.map((r) => Number(r.offset))).toEqual(
      Array.from({ length: 300 }, (_, i) => 7 + i),
    );
  });

  it('keeps throwing the codec error when the bytes before it are not a coherent batch header', async () => {
    const guarded = guardCodec(2, 'snappy', failing('corrupt input'))();
    const standalone = Buffer.from('a buffer of its own, no header before it');
    for (let i = 0; i < MAX_DECOMPRESS_ATTEMPTS + 1; i++) {
      await expect(guarded.decompress(standalone)).rejects.toThrow('corrupt input');
    }
    // A header naming another codec than the one asked.
    codecs[CompressionTypes.Snappy] = guardCodec(2, 'snappy', failing('corrupt input'));
    codecs[CompressionTypes.GZIP] = guardCodec(2, 'snappy', failing('corrupt input'));
    const gzipHeader = batch({
      baseOffset: 1n,
      codec: 1,
      lastOffsetDelta: 0,
      count: 1,
      records: Buffer.from('x'),
    });
    for (let i = 0; i < MAX_DECOMPRESS_ATTEMPTS + 1; i++) {
      await expect(decode(gzipHeader)).rejects.toThrow('corrupt input');
    }
  });

  it('counts a codec that answers with records that do not frame as failing', async () => {
    codecs[CompressionTypes.GZIP] = guardCodec(1, 'gzip', () => ({
      compress: async () => Buffer.alloc(0),
      decompress: async () => Buffer.from([4, 1]), // a record of 2 bytes, 1 there
    }));
    const bytes = batch({
      baseOffset: 0n,
      codec: 1,
      lastOffsetDelta: 0,
      count: 1,
      records: Buffer.from('zz'),
    });
    for (let i = 1; i < MAX_DECOMPRESS_ATTEMPTS; i++) {
      await expect(decode(bytes)).rejects.toThrow(/decompressed records: record 0/);
    }
    const { records } = await decode(bytes);
    expect(undecodableBatchOf(records[0]!)?.error).toMatch(/record 0: 2 bytes at byte 1 of 2/);
  });

  it('checks that decompressed records frame exactly', () => {
    // Lengths are zigzag varints: 2 → 4, 200 → 400 = 0x90 0x03.
    const two = Buffer.from([4, 0xaa, 0xbb, 4, 0xcc, 0xdd]);
    expect(malformedRecords(two, 2)).toBeUndefined();
    expect(malformedRecords(two, 3)).toMatch(/record 2 of 3 missing/);
    expect(malformedRecords(two, 1)).toMatch(/3 bytes after the last record/);
    expect(
      malformedRecords(Buffer.concat([Buffer.from([0x90, 0x03]), Buffer.alloc(200)]), 1),
    ).toBeUndefined();
    expect(malformedRecords(Buffer.from([1]), 1)).toMatch(/-1 bytes/);
    expect(malformedRecords(Buffer.from([0xff, 0xff, 0xff, 0xff, 0xff, 0x01]), 1)).toMatch(
      /too long/,
    );
  });

  it('reads snappy-java xerial frames block by block, and refuses truncated or oversized ones', async () => {
    const snappy = require('snappyjs') as {
      compress(b: Buffer): Buffer;
      uncompress(b: Buffer, max?: number): Buffer;
    };
    const parts = [Buffer.from('a'.repeat(40_000)), Buffer.from('b'.repeat(30_000))];
    const header = Buffer.from([
      0x82, 0x53, 0x4e, 0x41, 0x50, 0x50, 0x59, 0, 0, 0, 0, 1, 0, 0, 0, 1,
    ]);
    const framed = Buffer.concat([
      header,
      ...parts.flatMap((p) => {
        const block = snappy.compress(p);
        const size = Buffer.alloc(4);
        size.writeUInt32BE(block.length);
        return [size, block];
      }),
    ]);
    expect(snappyDecompress(framed, snappy).equals(Buffer.concat(parts))).toBe(true);
    expect(() => snappyDecompress(framed.subarray(0, framed.length - 5), snappy)).toThrow(
      /runs past the end/,
    );
    // A raw block claiming 1 GiB: refused before anything is allocated.
    const bomb = Buffer.from([0x80, 0x80, 0x80, 0x80, 0x04, 0]);
    expect(() => snappyDecompress(bomb, snappy)).toThrow(/more than/);
  });

  it('refuses a zstd batch that expands past MAX_DECOMPRESSED_BYTES', async () => {
    const zstd = (await import('node:zlib')) as unknown as {
      zstdCompressSync(b: Buffer): Buffer;
    };
    const bomb = zstd.zstdCompressSync(Buffer.alloc(MAX_DECOMPRESSED_BYTES + 1));
    expect(bomb.length).toBeLessThan(100_000);
    const codec = codecs[CompressionTypes.ZSTD]!() as { decompress(b: Buffer): Promise<Buffer> };
    await expect(codec.decompress(bomb)).rejects.toThrow(/larger than|too large|maxOutputLength/i);
  });

  it('leaves real records alone', async () => {
    expect(undecodableBatchOf({ value: Buffer.from('{}') })).toBeUndefined();
    expect(undecodableBatchOf({ value: null })).toBeUndefined();
  });

  it('registers snappy, lz4 and zstd that round-trip, and a guard on every codec slot', async () => {
    const text = Buffer.from(JSON.stringify({ a: 'x'.repeat(100_000), b: [1, 2, 3] }));
    for (const type of [1, 2, 3, 4]) {
      const codec = codecs[type]!() as {
        compress(e: { buffer: Buffer }): Promise<Buffer>;
        decompress(b: Buffer): Promise<Buffer>;
      };
      const packed = await codec.compress({ buffer: text });
      expect(packed.length).toBeLessThan(text.length / 10);
      expect(Buffer.from(await codec.decompress(packed)).equals(text)).toBe(true);
    }
    // 5–7 are no Kafka codec: guarded all the same (a batch claiming one is dead-lettered).
    for (const type of [5, 6, 7]) expect(typeof codecs[type]).toBe('function');
  });
});
