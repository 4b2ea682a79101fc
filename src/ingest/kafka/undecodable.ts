/**
 * Record batches kafkajs cannot decompress, turned into something the source can dead-letter.
 *
 * kafkajs decompresses while it decodes a fetch response, before any eachBatch: a codec that
 * throws (none registered, a corrupt or unsupported frame) fails the WHOLE fetch, every
 * partition of the broker with it, and kafkajs reports no topic, partition or offset. A
 * registered-nowhere codec even crashes the consumer (KafkaJSNotImplemented); a restart fetches
 * the same bytes and crashes again, for good (issue 14: 147 reconnects, every partition stalled).
 *
 * `guardCodec` wraps a codec so that this cannot happen:
 * - A failure is retried a bounded number of times (`MAX_DECOMPRESS_ATTEMPTS`, counted per
 *   batch): the guard throws a retriable error, kafkajs fetches again after its backoff. A
 *   transient failure (memory) thus costs a refetch, not the batch. The whole fetch fails
 *   meanwhile, so n broken batches in a row cost about 2n + 1 fetches, on kafkajs's growing
 *   retry backoff (300 ms doubling to 30 s; after 10 it restarts the consumer, which driftd
 *   lets it do).
 * - Then the guard answers with placeholder records instead of the batch's own: one per record
 *   the batch header announces, at offsets within the batch's range and its last offset
 *   included, each with an empty value that belongs to a buffer only the guard knows. kafkajs
 *   delivers them as an ordinary batch of their partition; the source recognises them
 *   (`undecodableBatchOf`), dead-letters the batch once with what is known (topic, partition,
 *   offset range, codec, error, the compressed bytes) and moves on past it. The other
 *   partitions of the fetch were never affected.
 *
 * A decompression that "succeeds" with records that do not frame (their length prefixes do not
 * add up to the output: a corrupt or misread input) counts as a failure too, since kafkajs
 * would fail on them just after the guard.
 *
 * The batch header is read from the bytes just before the compressed records: kafkajs hands the
 * codec a view into the fetch response, and a v2 record batch's header has a fixed layout (61
 * bytes from baseOffset to the record count). The guard trusts it only when it is coherent with
 * the view (magic 2, the codec's own attribute bits, a batch length ending exactly where the
 * view ends, a record count within the offset range); otherwise it keeps throwing, as kafkajs
 * would have (tested against kafkajs 2.2.4, the version the lockfile pins).
 */

/** What kafkajs expects of a codec (`CompressionCodecs[type]()`). */
export interface KafkaCodec {
  compress(encoder: { buffer: Buffer }): Promise<Buffer>;
  decompress(buffer: Buffer): Promise<Buffer>;
}

/** A batch replaced by placeholders, as the source dead-letters it. */
export interface UndecodableBatch {
  /** Codec named by the batch's attributes. */
  codec: string;
  /** Why it could not be decompressed. */
  error: string;
  baseOffset: string;
  lastOffset: string;
  /** Records the batch header announces. */
  records: number;
  /** The batch's compressed records, as fetched. */
  compressed: Buffer;
}

/** Decompression attempts of one batch before it is given up (kafkajs refetches in between). */
export const MAX_DECOMPRESS_ATTEMPTS = 3;

/** More records than this are not replaced (memory): the batch then keeps failing. */
const MAX_PLACEHOLDERS = 1_000_000;

/** Bytes of a v2 record batch from baseOffset to the end of its header (the record count). */
const HEADER_BYTES = 61;
/** Bytes of the header counted by its length field (all but baseOffset and the length). */
const HEADER_IN_LENGTH = HEADER_BYTES - 12;

export class UndecodableBatchError extends Error {
  /** kafkajs retries a fetch that failed with a retriable error. */
  readonly retriable = true;
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'UndecodableBatchError';
  }
}

interface Header {
  baseOffset: bigint;
  lastOffsetDelta: number;
  records: number;
  /** Identifies the batch across refetches. */
  id: string;
}

/** The v2 batch header just before `records` (see the file comment), or undefined. */
export function batchHeaderBefore(records: Buffer, codecType: number): Header | undefined {
  const start = records.byteOffset - HEADER_BYTES;
  if (start < 0) return undefined;
  const h = Buffer.from(records.buffer, start, HEADER_BYTES);
  const length = h.readInt32BE(8);
  const magic = h.readInt8(16);
  const attributes = h.readInt16BE(21);
  const lastOffsetDelta = h.readInt32BE(23);
  const count = h.readInt32BE(57);
  if (
    magic !== 2 ||
    (attributes & 0x07) !== codecType ||
    length !== HEADER_IN_LENGTH + records.length ||
    count < 1 ||
    lastOffsetDelta < count - 1
  ) {
    return undefined;
  }
  const baseOffset = h.readBigInt64BE(0);
  const crc = h.readUInt32BE(17);
  return { baseOffset, lastOffsetDelta, records: count, id: `${baseOffset}/${crc}/${length}` };
}

/**
 * Why `records` is not `count` length-prefixed records filling it exactly (what kafkajs reads
 * next, outside any guard: garbage that a codec let through would fail the fetch there), or
 * undefined when it is.
 */
export function malformedRecords(records: Buffer, count: number): string | undefined {
  let at = 0;
  for (let i = 0; i < count; i++) {
    let raw = 0;
    let shift = 0;
    for (;;) {
      if (at >= records.length) return `record ${i} of ${count} missing (${records.length} bytes)`;
      if (shift > 28) return `record ${i}: length varint too long`;
      const b = records[at++]!;
      raw += (b & 0x7f) * 2 ** shift;
      shift += 7;
      if (b < 0x80) break;
    }
    const length = raw % 2 === 0 ? raw / 2 : -(raw + 1) / 2; // zigzag
    if (length < 0 || at + length > records.length) {
      return `record ${i}: ${length} bytes at byte ${at} of ${records.length}`;
    }
    at += length;
  }
  return at === records.length ? undefined : `${records.length - at} bytes after the last record`;
}

/** Placeholder buffers → the batch they stand for. Only the guard makes such buffers. */
const placeholders = new WeakMap<ArrayBufferLike, UndecodableBatch>();

/** The undecodable batch a message is a placeholder of, or undefined for a real message. */
export function undecodableBatchOf(message: {
  value: Buffer | null;
}): UndecodableBatch | undefined {
  const v = message.value;
  return v === null ? undefined : placeholders.get(v.buffer);
}

function varint(n: number, out: number[]): void {
  let z = (n << 1) ^ (n >> 31); // zigzag, as Kafka's record fields
  z >>>= 0;
  while (z > 0x7f) {
    out.push((z & 0x7f) | 0x80);
    z >>>= 7;
  }
  out.push(z);
}

/**
 * `count` v2 records (no key, empty value, no headers), at offset deltas 0, 1, … and the last at
 * `lastOffsetDelta`, so that the partition's position moves past the whole batch.
 */
function placeholderRecords(count: number, lastOffsetDelta: number): Buffer {
  const bytes: number[] = [];
  const body: number[] = [];
  for (let i = 0; i < count; i++) {
    body.length = 0;
    body.push(0); // attributes
    varint(0, body); // timestamp delta
    varint(i === count - 1 ? lastOffsetDelta : i, body);
    varint(-1, body); // key: null
    varint(0, body); // value: empty
    varint(0, body); // headers: none
    varint(body.length, bytes);
    for (const b of body) bytes.push(b);
  }
  // Buffer.from(array) has its own ArrayBuffer (no pool): the WeakMap key is this batch's alone.
  const out = Buffer.alloc(bytes.length);
  out.set(bytes);
  return out;
}

/** Failed attempts per batch (header id), given-up ones included; bounded, oldest forgotten first. */
const attempts = new Map<string, number>();
const MAX_TRACKED = 1000;

/**
 * `factory` (the codec kafkajs would use for attribute value `type`) wrapped as described in the
 * file comment. A factory that throws (no codec) counts as a failing decompression.
 */
export function guardCodec(
  type: number,
  name: string,
  factory: () => KafkaCodec,
): () => KafkaCodec {
  const guarded: KafkaCodec = {
    compress: (encoder) => factory().compress(encoder),
    async decompress(buffer) {
      try {
        const out = await factory().decompress(buffer);
        const header = batchHeaderBefore(buffer, type);
        if (header !== undefined) {
          const problem = malformedRecords(out, header.records);
          if (problem !== undefined) throw new Error(`decompressed records: ${problem}`);
          if (attempts.size > 0) attempts.delete(header.id);
        }
        return out;
      } catch (err) {
        const header = batchHeaderBefore(buffer, type);
        if (header === undefined || header.records > MAX_PLACEHOLDERS) throw err;
        // A batch given up stays given up: when several broken batches share a fetch, each
        // refetch then gets one of them further, instead of starting the earlier ones over.
        const n = Math.min((attempts.get(header.id) ?? 0) + 1, MAX_DECOMPRESS_ATTEMPTS);
        attempts.delete(header.id);
        attempts.set(header.id, n);
        if (attempts.size > MAX_TRACKED) attempts.delete(attempts.keys().next().value!);
        const message = err instanceof Error ? err.message : String(err);
        if (n < MAX_DECOMPRESS_ATTEMPTS) {
          throw new UndecodableBatchError(
            `${name} batch at offset ${header.baseOffset} cannot be decompressed (attempt ${n} of ${MAX_DECOMPRESS_ATTEMPTS}): ${message}`,
            { cause: err },
          );
        }
        const records = placeholderRecords(header.records, header.lastOffsetDelta);
        placeholders.set(records.buffer, {
          codec: name,
          error: `${name} batch cannot be decompressed: ${message}`,
          baseOffset: String(header.baseOffset),
          lastOffset: String(header.baseOffset + BigInt(header.lastOffsetDelta)),
          records: header.records,
          compressed: Buffer.from(buffer),
        });
        return records;
      }
    },
  };
  return () => guarded;
}
