/**
 * Kafka compression codecs for kafkajs, which ships gzip only: a producer using snappy, lz4 or
 * zstd (the Java client's `compression.type`, or a topic's own) would otherwise make every fetch
 * of the partition fail inside kafkajs. `registerKafkaCodecs()` installs them once, before a
 * consumer is made, each wrapped by `guardCodec` (undecodable.ts) so that a batch that
 * still cannot be decompressed is dead-lettered instead of stalling its partition.
 *
 * All of them are JavaScript or Node's own zlib, no native addon to build:
 * - gzip: node:zlib.
 * - snappy: `snappyjs` for the blocks. The Java producer writes snappy-java's "xerial" framing
 *   (a 16-byte header: magic \x82SNAPPY\0, version, compatible version; then blocks, each an
 *   int32 length and a raw snappy block); a value without the magic is one raw block.
 * - lz4: `lz4js`. Kafka's lz4 is the LZ4 *frame* format (magic 0x184D2204, independent blocks,
 *   no content size); lz4js reads and writes frames.
 * - zstd: node:zlib (`zstdCompress` / `zstdDecompress`, Node ≥ 22.15). On an older Node the
 *   codec is registered but fails, which dead-letters zstd batches with that reason.
 *
 * Decompression is bounded: a batch that would expand past `MAX_DECOMPRESSED_BYTES` fails (and
 * is dead-lettered) instead of taking the daemon's memory, which would kill it, and kill it
 * again after every restart. Every decoder checks its input's own lengths instead of trusting
 * them (a truncated block fails; it is not read short).
 *
 * Tested against batches compressed by Kafka's own Java producer on the real broker
 * (test/integration/kafka-codecs.test.ts).
 */

import { createRequire } from 'node:module';
import zlib from 'node:zlib';
import kafkajs from 'kafkajs';
import { guardCodec, type KafkaCodec } from './undecodable.js';

const { CompressionCodecs, CompressionTypes } = kafkajs;
const require = createRequire(import.meta.url);

/** The most one record batch may decompress to. */
export const MAX_DECOMPRESSED_BYTES = 256 * 1024 * 1024;

const toBuffer = (u: Uint8Array): Buffer => Buffer.from(u.buffer, u.byteOffset, u.byteLength);

type Callback = (err: Error | null, out: Buffer) => void;
type ZlibFn = (buf: Buffer, options: zlib.ZlibOptions, cb: Callback) => void;

function zlibCall(fn: ZlibFn, buf: Buffer, options: zlib.ZlibOptions = {}): Promise<Buffer> {
  return new Promise((resolve, reject) =>
    fn(buf, options, (err, out) => (err ? reject(err) : resolve(out))),
  );
}

function gzipCodec(): KafkaCodec {
  return {
    compress: (encoder) => zlibCall(zlib.gzip as ZlibFn, encoder.buffer),
    decompress: (buffer) =>
      zlibCall(zlib.unzip as ZlibFn, buffer, { maxOutputLength: MAX_DECOMPRESSED_BYTES }),
  };
}

interface Snappyjs {
  compress(src: Buffer): Buffer;
  uncompress(src: Buffer, maxLength?: number): Buffer;
}

const XERIAL_MAGIC = Buffer.from([0x82, 0x53, 0x4e, 0x41, 0x50, 0x50, 0x59, 0x00]);
const XERIAL_HEADER = 16;

/** A raw snappy block's uncompressed length (its leading varint), or -1. */
function snappyLength(block: Buffer): number {
  let result = 0;
  for (let i = 0, shift = 0; i < 5 && i < block.length; i++, shift += 7) {
    const c = block[i]!;
    result += (c & 0x7f) * 2 ** shift;
    if (c < 0x80) return result;
  }
  return -1;
}

/** snappy-java's xerial framing (what the Java producer writes), or one raw snappy block. */
export function snappyDecompress(buffer: Buffer, snappy: Snappyjs): Buffer {
  const tooLarge = (n: number) =>
    new RangeError(`snappy batch decompresses to ${n} bytes, more than ${MAX_DECOMPRESSED_BYTES}`);
  if (buffer.length < XERIAL_HEADER || !buffer.subarray(0, 8).equals(XERIAL_MAGIC)) {
    const n = snappyLength(buffer);
    if (n > MAX_DECOMPRESSED_BYTES) throw tooLarge(n);
    return snappy.uncompress(buffer, MAX_DECOMPRESSED_BYTES);
  }
  const blocks: Buffer[] = [];
  let total = 0;
  for (let at = XERIAL_HEADER; at < buffer.length; ) {
    if (at + 4 > buffer.length) throw new Error(`snappy: truncated block length at byte ${at}`);
    const size = buffer.readUInt32BE(at);
    at += 4;
    if (at + size > buffer.length) {
      throw new Error(`snappy: block of ${size} bytes at byte ${at} runs past the end`);
    }
    const block = buffer.subarray(at, at + size);
    at += size;
    const n = snappyLength(block);
    if (n < 0) throw new Error('snappy: invalid block length');
    total += n;
    if (total > MAX_DECOMPRESSED_BYTES) throw tooLarge(total);
    blocks.push(block);
  }
  const out = Buffer.allocUnsafe(total);
  let written = 0;
  for (const block of blocks) {
    const part = snappy.uncompress(block, MAX_DECOMPRESSED_BYTES);
    written += part.copy(out, written);
  }
  return out;
}

function snappyCodec(): KafkaCodec {
  const snappy = require('snappyjs') as Snappyjs;
  return {
    // A raw block, as kafkajs-snappy writes it; driftd itself sends nothing compressed.
    async compress(encoder) {
      return snappy.compress(encoder.buffer);
    },
    async decompress(buffer) {
      return snappyDecompress(buffer, snappy);
    },
  };
}

interface Lz4js {
  compress(src: Uint8Array): Uint8Array;
  decompressBound(src: Uint8Array): number;
  decompressFrame(src: Uint8Array, dst: Uint8Array): number;
}

function lz4Codec(): KafkaCodec {
  const lz4 = require('lz4js') as Lz4js;
  return {
    async compress(encoder) {
      return toBuffer(lz4.compress(encoder.buffer));
    },
    async decompress(buffer) {
      // The frame's declared content size, or its blocks' maximum sizes added up.
      const bound = lz4.decompressBound(buffer);
      if (!Number.isSafeInteger(bound) || bound < 0 || bound > MAX_DECOMPRESSED_BYTES) {
        throw new RangeError(
          `lz4 batch decompresses to up to ${bound} bytes, more than ${MAX_DECOMPRESSED_BYTES}`,
        );
      }
      const out = Buffer.alloc(bound);
      // lz4js drops what does not fit and still counts it: more than the bound is corrupt.
      const n = lz4.decompressFrame(buffer, out);
      if (n > bound) throw new Error(`lz4 frame larger than it declares (${n} > ${bound} bytes)`);
      return out.subarray(0, n);
    },
  };
}

function zstdCodec(): KafkaCodec {
  const z = zlib as unknown as { zstdCompress?: ZlibFn; zstdDecompress?: ZlibFn };
  const { zstdCompress, zstdDecompress } = z;
  if (typeof zstdCompress !== 'function' || typeof zstdDecompress !== 'function') {
    const missing = async (): Promise<Buffer> => {
      throw new Error(`zstd needs Node >= 22.15 (node:zlib zstd); this is Node ${process.version}`);
    };
    return { compress: missing, decompress: missing };
  }
  return {
    compress: (encoder) => zlibCall(zstdCompress, encoder.buffer),
    decompress: (buffer) =>
      zlibCall(zstdDecompress, buffer, { maxOutputLength: MAX_DECOMPRESSED_BYTES }),
  };
}

/** Codec names by Kafka's attribute value (the low 3 bits of a record batch's attributes). */
export const KAFKA_CODEC_NAMES: Readonly<Record<number, string>> = {
  1: 'gzip',
  2: 'snappy',
  3: 'lz4',
  4: 'zstd',
};

let registered = false;

/**
 * Registers gzip, snappy, lz4 and zstd with kafkajs (process-wide: kafkajs keeps one codec
 * table), each guarded, and guards the values no Kafka codec has (5–7) too. Idempotent.
 */
export function registerKafkaCodecs(): void {
  if (registered) return;
  registered = true;
  const codecs = CompressionCodecs as unknown as Record<number, () => KafkaCodec>;
  const table: Record<number, (() => KafkaCodec) | undefined> = {
    [CompressionTypes.GZIP]: gzipCodec,
    [CompressionTypes.Snappy]: snappyCodec,
    [CompressionTypes.LZ4]: lz4Codec,
    [CompressionTypes.ZSTD]: zstdCodec,
  };
  for (let type = 1; type <= 7; type++) {
    const name = KAFKA_CODEC_NAMES[type] ?? `unknown codec ${type}`;
    const make = table[type];
    // One instance per codec, made on first use (kafkajs asks for it per batch).
    let codec: KafkaCodec | undefined;
    codecs[type] = guardCodec(type, name, () => {
      if (make === undefined) throw new Error(`no Kafka compression codec has the id ${type}`);
      codec ??= make();
      return codec;
    });
  }
}
