import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { createInterface } from 'node:readline';
import { createDaemon } from '../../daemon.js';
import { ConfigError } from '../../errors.js';
import { TextItem, UnparseableItem } from '../../ingest/decode.js';
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
  try {
    const events = await feed(
      file,
      'events',
      (items) => daemon.pipeline.ingestEvents(items, 'replay'),
      io,
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
    await daemon.close();
  }
  return bad > 0 ? 1 : 0;
}

async function feed(
  file: string,
  what: string,
  ingest: (items: unknown[]) => Promise<{
    accepted: number;
    rejected: number;
    errors: Array<{ index: number; reason: string; message: string }>;
  }>,
  io: CliIo,
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
  const stream = createReadStream(file);
  const lines = createInterface({ input: stream, crlfDelay: Number.POSITIVE_INFINITY });
  let items: unknown[] = [];
  let lineNos: number[] = [];
  let lineNo = 0;
  let accepted = 0;
  let rejected = 0;
  const flush = async () => {
    if (items.length === 0) return;
    const report = await ingest(items);
    accepted += report.accepted;
    rejected += report.rejected;
    for (const e of report.errors.slice(0, 20)) {
      io.err.write(`${file}:${lineNos[e.index]}: ${e.reason}: ${e.message}\n`);
    }
    items = [];
    lineNos = [];
    progress.update(stream.bytesRead, size, `${accepted} accepted, ${rejected} rejected`);
  };
  for await (const line of lines) {
    lineNo++;
    if (line.trim() === '') continue;
    try {
      // The line rides along: it is the event's raw record, and spares re-encoding it.
      items.push(new TextItem(JSON.parse(line), line));
    } catch (err) {
      items.push(new UnparseableItem(`not valid JSON: ${(err as Error).message}`));
    }
    lineNos.push(lineNo);
    if (items.length >= BATCH) await flush();
  }
  await flush();
  progress.finish(`${accepted} accepted, ${rejected} rejected`);
  return { accepted, rejected };
}
