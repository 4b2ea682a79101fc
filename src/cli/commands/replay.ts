import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { resolve } from 'node:path';
import { createDaemon } from '../../daemon.js';
import { ConfigError } from '../../errors.js';
import type { PendingLine } from '../../ingest/decode.js';
import { createLineDecoder } from '../../ingest/line-decode.js';
import { countNewlines, splitNdjson } from '../../ingest/ndjson.js';
import {
  createReplayCheckpointer,
  DEFAULT_REPLAY_CHECKPOINT_INTERVAL_MS,
  type ReplayPosition,
} from '../../ingest/replay-checkpointer.js';
import type { FlagsOf } from '../commands.js';
import type { CliIo } from '../index.js';
import { createProgress } from '../progress.js';
import { cliConfig } from '../shared.js';

const BATCH = 5000;

/**
 * Backfill: feeds JSONL files through the same pipeline as live traffic (validation, windows,
 * store), then closes every window. Uses the configured store directly, so stop a daemon that
 * owns the same embedded store first. The events file is checkpointed (windows + byte offset,
 * replay-checkpointer.ts): a killed replay rerun on the same file resumes at its last cut.
 * Labels are not (the store keeps the latest label per id: a rerun stores them again).
 */
export async function run(flags: FlagsOf<'replay'>, io: CliIo): Promise<number> {
  const config = await cliConfig(flags);
  const file = flags.file;
  let windows = 0;
  const daemon = createDaemon(config, {
    listen: false,
    flushOnClose: true,
    // Every result it writes is a replay's (a rewrite of a window written before, or not).
    revisionReason: 'replay',
    onWindow: () => {
      windows++;
    },
  });
  await daemon.start();
  let bad = 0;
  // Event lines are parsed and checked on a decode thread while the event loop records.
  const decoder = createLineDecoder(config.models, daemon.logger);
  try {
    const info = await fileInfo(file, 'events');
    // The replay's own cut (windows + file position); a daemon with Kafka has its own.
    const checkpoints =
      config.kafka === null
        ? createReplayCheckpointer({
            pipeline: daemon.pipeline,
            store: daemon.store,
            logger: daemon.logger,
            file: { path: resolve(file), size: info.size, mtimeMs: info.mtimeMs },
            intervalMs: replayCheckpointMsFromEnv(),
          })
        : undefined;
    const from = (await checkpoints?.restore()) ?? { offset: 0, line: 1, accepted: 0, rejected: 0 };
    // Raw events go to the store in INSERTs of HOLD_ROWS rows; `feed` flushes before it waits.
    const input = daemon.pipeline.input;
    input.holdFor(HOLD_ROWS);
    if (from.offset > 0) {
      io.err.write(`${file}: resuming an interrupted replay at line ${from.line}\n`);
    }
    const events = await feed(
      file,
      info.size,
      'events',
      (items) => daemon.pipeline.ingestEvents(items, 'replay'),
      io,
      {
        from,
        decode: decoder.decode,
        onBatch: checkpoints ? (at, counts) => checkpoints.cut(at, counts) : undefined,
        // The input position after each batch; before waiting for one, its rows are written
        // if they are still held (when a write is in flight, it holds them: writes go in order).
        mark: () => input.recorded,
        beforeWait: (last) => {
          if (input.durable < last && !input.writing) input.flush();
        },
      },
    );
    bad += events.rejected;
    if (flags.labels) {
      const labels = await feed(
        flags.labels,
        (await fileInfo(flags.labels, 'labels')).size,
        'labels',
        (items) => daemon.pipeline.ingestLabels(items),
        io,
      );
      bad += labels.rejected;
    }
    await daemon.pipeline.flush();
    await checkpoints?.finish(events);
    io.out.write(
      `replay done: ${events.accepted} events accepted, ${bad} rejected, ${windows} windows closed\n`,
    );
  } finally {
    await decoder.close();
    await daemon.close();
  }
  return bad > 0 ? 1 : 0;
}

/** Test hook: DRIFTD_REPLAY_CHECKPOINT_INTERVAL_MS, as DRIFTD_HTTP_CHECKPOINT_INTERVAL_MS. */
function replayCheckpointMsFromEnv(): number {
  const v = Number(process.env.DRIFTD_REPLAY_CHECKPOINT_INTERVAL_MS);
  return Number.isInteger(v) && v > 0 ? v : DEFAULT_REPLAY_CHECKPOINT_INTERVAL_MS;
}

async function fileInfo(file: string, what: string) {
  return stat(file).catch((err: NodeJS.ErrnoException) => {
    throw new ConfigError(
      `${what} file ${file}: ${err.code === 'ENOENT' ? 'no such file' : err.message}`,
    );
  });
}

/**
 * Batches in the pipeline at once: the next ones are read, decoded and recorded while earlier
 * ones insert. The input log holds their rows for INSERTs of HOLD_ROWS (below), so this is
 * two INSERTs' worth and some: one being written, the next filling meanwhile (at 32 = 160 000
 * rows the feeding waited for held rows, and had to let INSERTs of 20 000-60 000 go). The
 * price is memory: the encoded rows of the batches held (docs/benchmarks.md has the peak RSS).
 */
const IN_FLIGHT = 48;
/**
 * Rows per raw-event INSERT during a replay: the input log holds the rows until this many are
 * queued (or feeding waits for an answer). The embedded engine's CPU per row falls with the
 * INSERT's size (~9-10 µs per row at 20 000-40 000 rows, ~5 at 100 000, docs/benchmarks.md);
 * without holding, the INSERTs held whatever queued while the previous one ran, often 30 000-
 * 60 000 rows. 100 000 is also the most the input log puts in one INSERT.
 */
const HOLD_ROWS = 100_000;
/**
 * Batches read and decoded ahead of the one the event loop records: enough to keep the decode
 * thread busy, few enough that their lines and decoded answers die young. Reading up to
 * IN_FLIGHT batches ahead, while the event loop was the slower side, kept ~30 batches of them
 * alive for a second each: promoted to the old generation, they took a major GC every ~0.5 s.
 */
const DECODE_AHEAD = 4;
/** A line longer than this is not an event: the file is refused there (it would all be held). */
const MAX_LINE_BYTES = 64 * 1024 * 1024;

type Report = {
  accepted: number;
  rejected: number;
  errors: Array<{ index: number; reason: string; message: string }>;
};

/** Where feeding starts, and who is told of each batch handed over (the checkpointer). */
interface FeedOptions {
  /** The byte and line to read from, and the counts of the items before. @default the start */
  from?: ReplayPosition;
  /**
   * Called right after each batch is handed to the pipeline (which records it at once): the
   * file position after it, and the counts of every item up to it once they are answered.
   */
  onBatch?: (
    at: { offset: number; line: number },
    counts: Promise<{ accepted: number; rejected: number }>,
  ) => void;
  inFlight?: number;
  /** Called right after each batch is handed over; its value goes to `beforeWait`. */
  mark?: () => number;
  /**
   * Called before feeding waits for a batch's answer (backpressure, the end), with its `mark`:
   * where writes are held for larger INSERTs, the batch's rows are let go.
   */
  beforeWait?: (mark: number) => void;
  /** Decodes a batch ahead of the pipeline (never rejects); batches still go in file order. */
  decode?: (items: readonly PendingLine[]) => Promise<unknown[]>;
}

/**
 * Reads `file` in chunks, splits complete lines on the bytes (as the HTTP NDJSON path does: a
 * line is parsed when the pipeline decodes it) and hands batches of BATCH lines to `ingest`
 * without waiting for each: up to `inFlight` batches are in the pipeline while the next are
 * read, so parsing overlaps the inserts. Batches are handed over in file order, which is the
 * order the pipeline assigns them to windows.
 */
async function feed(
  file: string,
  size: number,
  what: string,
  ingest: (items: unknown[]) => Promise<Report>,
  io: CliIo,
  opts: FeedOptions = {},
): Promise<{ accepted: number; rejected: number }> {
  const inFlight = opts.inFlight ?? IN_FLIGHT;
  const from = opts.from ?? { offset: 0, line: 1, accepted: 0, rejected: 0 };
  const progress = createProgress(`replaying ${what} from ${file}`);
  const stream = createReadStream(file, { highWaterMark: 1 << 20, start: from.offset });
  let accepted = from.accepted;
  let rejected = from.rejected;
  let reported = 0;
  const running: Array<Promise<void>> = [];
  /** Per batch in `running`: its `mark`, once it was handed to `ingest`. */
  const handed: Array<Promise<number>> = [];
  /** Waits for the oldest batch in the pipeline to be answered. */
  const oldest = async () => {
    const mark = handed.shift();
    const done = running.shift();
    // Once it is in the pipeline, whatever holds its rows (beforeWait) lets them go.
    opts.beforeWait?.(await mark!);
    await done;
  };
  // The counts of every batch handed over so far, folded in file order.
  let totals: Promise<{ accepted: number; rejected: number }> = Promise.resolve(from);
  totals.catch(() => undefined);
  // Resolves once the previous batch was handed to `ingest`: batches decode side by side but
  // enter the pipeline one after the other, in file order.
  let handedOver: Promise<unknown> = Promise.resolve();
  /** Per batch read and not yet handed over: settles once it is (see DECODE_AHEAD). */
  const decodedAhead: Array<Promise<unknown>> = [];
  /** `end`: the file offset just after the batch's last line (where a resume reads on). */
  const submit = (items: PendingLine[], end: number) => {
    // What this batch's answer needs of its lines: their numbers. No callback below holds
    // the lines themselves (or the chunks they point into) while the batch inserts.
    const lineNos = Int32Array.from(items, (l) => l.lineNo);
    const turn = Promise.all([opts.decode ? opts.decode(items) : items, handedOver]);
    return settle(turn, lineNos, end);
  };
  const settle = (
    turn: Promise<[unknown[], unknown]>,
    lineNos: Int32Array,
    end: number,
  ): Promise<void> => {
    let mark = 0;
    const report = turn.then(([decoded]) => {
      const r = ingest(decoded);
      mark = opts.mark?.() ?? 0;
      // In the same synchronous step as the hand-over (the pipeline records the batch at once),
      // so the checkpointer's cut at `end` holds exactly the batches up to this one.
      if (opts.onBatch) {
        totals = Promise.all([totals, r]).then(([t, x]) => ({
          accepted: t.accepted + x.accepted,
          rejected: t.rejected + x.rejected,
        }));
        totals.catch(() => undefined);
        // Resuming at the end of its last line: the rest of that line is blank.
        opts.onBatch({ offset: end, line: lineNos.at(-1)! }, totals);
      }
      return r;
    });
    // Registered after the call above, so it settles only once this batch went in.
    handedOver = turn.then(() => undefined);
    decodedAhead.push(handedOver);
    handed.push(handedOver.then(() => mark));
    const done = report.then((r) => {
      accepted += r.accepted;
      rejected += r.rejected;
      for (const e of r.errors) {
        if (reported++ >= 20) break;
        const line = lineNos[e.index];
        io.err.write(`${file}:${line}: ${e.reason}: ${e.message}\n`);
      }
      progress.update(
        from.offset + stream.bytesRead,
        size,
        `${accepted} accepted, ${rejected} rejected`,
      );
    });
    running.push(done);
    return done;
  };
  try {
    let batch: PendingLine[] = [];
    let carry: Buffer = Buffer.alloc(0);
    let nextLine = from.line;
    /** The file offset of the first byte of the bytes being split. */
    let base = from.offset;
    const take = async (bytes: Buffer) => {
      for (const item of splitNdjson(bytes, nextLine)) {
        batch.push(item);
        if (batch.length >= BATCH) {
          void submit(batch, base + item.end).catch(() => undefined);
          batch = [];
          // Backpressure: wait for the oldest batch once `inFlight` are in the pipeline, and
          // read no further ahead of the event loop than DECODE_AHEAD batches.
          if (decodedAhead.length > DECODE_AHEAD) await decodedAhead.shift();
          if (running.length >= inFlight) await oldest();
        }
      }
      nextLine += countNewlines(bytes);
    };
    for await (const read of stream as AsyncIterable<Buffer>) {
      let chunk = read;
      if (carry.length > 0) {
        // Only the line that straddles two chunks is copied, not the whole chunk: a copy of
        // every chunk was a second file's worth of buffers for the garbage collector.
        const newline = chunk.indexOf(0x0a);
        if (newline === -1) {
          carry = Buffer.concat([carry, chunk]);
          chunk = chunk.subarray(chunk.length);
        } else {
          const head = Buffer.concat([carry, chunk.subarray(0, newline + 1)]);
          carry = Buffer.alloc(0);
          chunk = chunk.subarray(newline + 1);
          await take(head);
          base += head.length;
        }
      }
      const lastNewline = chunk.lastIndexOf(0x0a);
      if (lastNewline === -1) {
        if (chunk.length > 0) carry = Buffer.concat([carry, chunk]);
      } else {
        carry = Buffer.from(chunk.subarray(lastNewline + 1));
        await take(chunk.subarray(0, lastNewline + 1));
        base += lastNewline + 1;
      }
      if (carry.length > MAX_LINE_BYTES) {
        throw new ConfigError(
          `${what} file ${file}:${nextLine}: line longer than ${MAX_LINE_BYTES} bytes`,
        );
      }
    }
    if (carry.length > 0) await take(carry);
    if (batch.length > 0) void submit(batch, base + batch.at(-1)!.end).catch(() => undefined);
    while (running.length > 0) await oldest();
  } finally {
    // A failure (an unreadable file, a store that gave up) still waits for what is in flight,
    // its held rows let go.
    while (running.length > 0) await oldest().catch(() => undefined);
  }
  progress.finish(`${accepted} accepted, ${rejected} rejected`);
  return { accepted, rejected };
}
