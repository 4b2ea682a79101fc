/**
 * Kafka compression codecs for kafkajs, which ships gzip only: a producer using snappy, lz4 or
 * zstd (the Java client's `compression.type`, or a topic's own) would otherwise make every fetch
 * of the partition fail inside kafkajs. `registerKafkaCodecs()` installs them once, before a
 * consumer is made, each wrapped by `guardCodec` (kafka-undecodable.ts) so that a batch that
 * still cannot be decompressed is dead-lettered instead of stalling its partition.
 *
 * All of them are JavaScript or Node's own zlib, no native addon to build:
 * - gzip: kafkajs's own (zlib).
 * - snappy: `kafkajs-snappy` (snappyjs). The Java producer writes snappy-java's "xerial"
 *   framing (a magic header, then length-prefixed snappy blocks); that package reads both it and
 *   a raw snappy block.
 * - lz4: `lz4js`. Kafka's lz4 is the LZ4 *frame* format (magic 0x184D2204, independent blocks,
 *   no content size); lz4js reads and writes frames.
 * - zstd: node:zlib (`zstdCompress` / `zstdDecompress`, Node ≥ 22.15). On an older Node the
 *   codec is registered but fails, which dead-letters zstd batches with that reason.
 *
 * Tested against batches compressed by Kafka's own Java producer on the real broker
 * (test/integration/kafka-codecs.test.ts).
 */

import { createRequire } from 'node:module';
import { promisify } from 'node:util';
import zlib from 'node:zlib';
import kafkajs from 'kafkajs';
import { guardCodec, type KafkaCodec } from './kafka-undecodable.js';

const { CompressionCodecs, CompressionTypes } = kafkajs;
const require = createRequire(import.meta.url);

/** The input kafkajs hands to `compress`: its encoder, whose `buffer` holds the records. */
interface Encoder {
  buffer: Buffer;
}

const toBuffer = (u: Uint8Array): Buffer => Buffer.from(u.buffer, u.byteOffset, u.byteLength);

function snappyCodec(): KafkaCodec {
  const factory = require('kafkajs-snappy') as () => KafkaCodec;
  return factory();
}

interface Lz4js {
  compress(src: Uint8Array): Uint8Array;
  decompress(src: Uint8Array): Uint8Array;
}

function lz4Codec(): KafkaCodec {
  const lz4 = require('lz4js') as Lz4js;
  return {
    async compress(encoder: Encoder) {
      return toBuffer(lz4.compress(encoder.buffer));
    },
    async decompress(buffer: Buffer) {
      return toBuffer(lz4.decompress(buffer));
    },
  };
}

type ZlibAsync = (buf: Buffer) => Promise<Buffer>;

function zstdCodec(): KafkaCodec {
  const z = zlib as unknown as {
    zstdCompress?: (buf: Buffer, cb: (err: Error | null, out: Buffer) => void) => void;
    zstdDecompress?: (buf: Buffer, cb: (err: Error | null, out: Buffer) => void) => void;
  };
  if (typeof z.zstdCompress !== 'function' || typeof z.zstdDecompress !== 'function') {
    const missing = async (): Promise<Buffer> => {
      throw new Error(`zstd needs Node >= 22.15 (node:zlib zstd); this is Node ${process.version}`);
    };
    return { compress: missing, decompress: missing };
  }
  const compress = promisify(z.zstdCompress) as ZlibAsync;
  const decompress = promisify(z.zstdDecompress) as ZlibAsync;
  return {
    compress: (encoder: Encoder) => compress(encoder.buffer),
    decompress: (buffer: Buffer) => decompress(buffer),
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
 * Registers snappy, lz4 and zstd with kafkajs (process-wide: kafkajs keeps one codec table),
 * and guards every codec slot, gzip and the values no Kafka codec has (5–7) included. Idempotent.
 */
export function registerKafkaCodecs(): void {
  if (registered) return;
  registered = true;
  const codecs = CompressionCodecs as unknown as Record<number, () => KafkaCodec>;
  const gzip = codecs[CompressionTypes.GZIP]!;
  const table: Record<number, (() => KafkaCodec) | undefined> = {
    [CompressionTypes.GZIP]: gzip,
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
