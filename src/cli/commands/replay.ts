import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { createDaemon } from '../../daemon.js';
import { ConfigError } from '../../errors.js';
import type { PendingLine } from '../../ingest/decode.js';
import { createLineDecoder } from '../../ingest/line-decode.js';
import { countNewlines, splitNdjson } from '../../ingest/ndjson.js';
import type { CliFlags, CliIo } from '../index.js';
import { createProgress } from '../progress.js';
import { cliConfig, requireFlag } from '../shared.js';

const BATCH = 5000;

/**
 * Backfill: feeds JSONL files through the same pipeline as live traffic (validation, windows,
 * store), then closes every window. Uses the configured store directly, so stop a daemon that
 * owns the same embedded store first.
 */
export async function run(flags: CliFlags, io: CliIo): Promise<number> {
  const config = await cliConfig(flags);
  const file = requireFlag(flags, 'file', 'replay');
  let windows = 0;
  const daemon = createDaemon(config, {
    listen: false,
    flushOnClose: true,
    onWindow: () => {
      windows++;
    },
  });
  await daemon.start();
  let bad = 0;
  // Event lines are parsed and checked on a decode thread while the event loop records.
  const decoder = createLineDecoder(config.models, daemon.logger);
  try {
    const events = await feed(
      file,
      'events',
      (items) => daemon.pipeline.ingestEvents(items, 'replay'),
      io,
      decoder.decode,
    );
    bad += events.rejected;
    if (flags.labels) {
      const labels = await feed(
        flags.labels,
        'labels',
        (items) => daemon.pipeline.ingestLabels(items),
        io,
      );
      bad += labels.rejected;
    }
    await daemon.pipeline.flush();
    io.out.write(
      `replay done: ${events.accepted} events accepted, ${bad} rejected, ${windows} windows closed\n`,
    );
  } finally {
    await decoder.close();
    await daemon.close();
  }
  return bad > 0 ? 1 : 0;
}

/**
 * Batches in the pipeline at once: the next ones are read, decoded and recorded while earlier
 * ones insert, and the batches that queue meanwhile go into one INSERT (the input log
 * coalesces up to 100 000 rows), which costs the engine less per row. With the decode thread
 * the event loop waited on the inserts; 16 instead of 4 took a 1 M-event replay from ~50 k to
 * ~90 k events/s (docs/benchmarks.md), at ~0.5 GB more peak RSS than the replay of 3954aed
 * (the lines and encoded rows held, the engine's larger inserts, the decode thread).
 */
const IN_FLIGHT = 16;
/** A line longer than this is not an event: the file is refused there (it would all be held). */
const MAX_LINE_BYTES = 64 * 1024 * 1024;

type Report = {
  accepted: number;
  rejected: number;
  errors: Array<{ index: number; reason: string; message: string }>;
};

/**
 * Reads `file` in chunks, splits complete lines on the bytes (as the HTTP NDJSON path does: a
 * line is parsed when the pipeline decodes it) and hands batches of BATCH lines to `ingest`
 * without waiting for each: up to `inFlight` batches are in the pipeline while the next are
 * read, so parsing overlaps the inserts. Batches are handed over in file order, which is the
 * order the pipeline assigns them to windows.
 */
async function feed(
  file: string,
  what: string,
  ingest: (items: unknown[]) => Promise<Report>,
  io: CliIo,
  /** Decodes a batch ahead of the pipeline (never rejects); batches still go in file order. */
  decode?: (items: readonly PendingLine[]) => Promise<unknown[]>,
  inFlight = IN_FLIGHT,
): Promise<{ accepted: number; rejected: number }> {
  const size = await stat(file).then(
    (s) => s.size,
    (err: NodeJS.ErrnoException) => {
      throw new ConfigError(
        `${what} file ${file}: ${err.code === 'ENOENT' ? 'no such file' : err.message}`,
      );
    },
  );
  const progress = createProgress(`replaying ${what} from ${file}`);
  const stream = createReadStream(file, { highWaterMark: 1 << 20 });
  let accepted = 0;
  let rejected = 0;
  let reported = 0;
  const running: Array<Promise<void>> = [];
  // Resolves once the previous batch was handed to `ingest`: batches decode side by side but
  // enter the pipeline one after the other, in file order.
  let handedOver: Promise<unknown> = Promise.resolve();
  const submit = (items: PendingLine[]) => {
    const turn = Promise.all([decode ? decode(items) : items, handedOver]);
    const ingested = turn.then(([decoded]) => ingest(decoded));
    // Registered after the call above, so it settles only once this batch went in.
    handedOver = turn.then(() => undefined);
    const done = ingested.then((report) => {
      accepted += report.accepted;
      rejected += report.rejected;
      for (const e of report.errors) {
        if (reported++ >= 20) break;
        const line = items[e.index]?.lineNo;
        io.err.write(`${file}:${line}: ${e.reason}: ${e.message}\n`);
      }
      progress.update(stream.bytesRead, size, `${accepted} accepted, ${rejected} rejected`);
    });
    running.push(done);
    return done;
  };
  try {
    let batch: PendingLine[] = [];
    let carry: Buffer = Buffer.alloc(0);
    let nextLine = 1;
    const take = async (bytes: Buffer) => {
      for (const item of splitNdjson(bytes, nextLine)) {
        batch.push(item);
        if (batch.length >= BATCH) {
          void submit(batch).catch(() => undefined);
          batch = [];
          // Backpressure: wait for the oldest batch once `inFlight` are in the pipeline.
          if (running.length >= inFlight) await running.shift();
        }
      }
      nextLine += countNewlines(bytes);
    };
    for await (const chunk of stream as AsyncIterable<Buffer>) {
      const bytes = carry.length > 0 ? Buffer.concat([carry, chunk]) : chunk;
      const lastNewline = bytes.lastIndexOf(0x0a);
      if (lastNewline === -1) {
        carry = bytes;
      } else {
        carry = Buffer.from(bytes.subarray(lastNewline + 1));
        await take(bytes.subarray(0, lastNewline + 1));
      }
      if (carry.length > MAX_LINE_BYTES) {
        throw new ConfigError(
          `${what} file ${file}:${nextLine}: line longer than ${MAX_LINE_BYTES} bytes`,
        );
      }
    }
    if (carry.length > 0) await take(carry);
    if (batch.length > 0) void submit(batch).catch(() => undefined);
    while (running.length > 0) await running.shift();
  } finally {
    // A failure (an unreadable file, a store that gave up) still waits for what is in flight.
    await Promise.allSettled(running);
  }
  progress.finish(`${accepted} accepted, ${rejected} rejected`);
  return { accepted, rejected };
}
