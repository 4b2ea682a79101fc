/**
 * Replay's event lines decoded on a decode thread (the Kafka path's, decode-thread.ts), so the
 * event loop no longer parses and checks every line: parsing and the item checks were about a
 * third of its time per replayed event, and the event loop was the bottleneck.
 *
 *   event loop: lines of a batch ──► decode thread: decodePacked (scan or parse, validate)
 *   event loop: PredecodedItem per accepted line ◄──┘  (read when the pipeline decodes it)
 *
 * Only the lines the thread accepted are taken from its answer, as PredecodedItem (their
 * events are what `decodePrediction` makes of the line: same rules, same values; the raw
 * record is the line's own bytes). Every other line — rejected, of a model with PII fields, or
 * the whole batch when the thread fails — goes to the pipeline as the line it was, and is
 * decoded there as before, so every rejection keeps its line-specific reason and message.
 */
import type { ModelConfig } from '../config/types.js';
import type { Logger } from '../logger.js';
import { type PendingLine, PredecodedItem } from './decode.js';
import { DecodedBatch } from './decode-batch.js';
import { createDecodeThread, type DecodeThread } from './decode-thread.js';

/**
 * Longest line the thread takes (the scanner and parser read a whole line at once); longer
 * ones are decoded on the event loop like rejected lines.
 */
const THREAD_MAX_LINE_BYTES = 1 << 20;

export interface LineDecoder {
  /** The batch's items in order: PredecodedItem where the thread accepted the line. Never rejects. */
  decode(lines: readonly PendingLine[]): Promise<unknown[]>;
  close(): Promise<void>;
}

export function createLineDecoder(models: readonly ModelConfig[], logger: Logger): LineDecoder {
  const list = [...models];
  // Replay is not a live source (any storable time is accepted). No PII key is needed:
  // the thread leaves events of models with PII fields to the event loop.
  let thread: DecodeThread | undefined = createDecodeThread(
    list,
    {},
    THREAD_MAX_LINE_BYTES,
    logger,
  );
  const giveUp = (err: unknown) => {
    if (thread === undefined) return;
    logger.warn({ err }, 'replay decode thread unusable; lines are decoded on the event loop');
    const t = thread;
    thread = undefined;
    void t.close().catch(() => undefined);
  };
  return {
    async decode(lines) {
      if (thread === undefined || lines.length === 0) return [...lines];
      const values = lines.map((l) => l.source.bytes.subarray(l.start, l.end));
      try {
        const answer = new DecodedBatch(await thread.decode(values), values, list);
        return lines.map((line, i) =>
          answer.kind(i) === 'event' ? new PredecodedItem(answer, i, line) : line,
        );
      } catch (err) {
        giveUp(err);
        return [...lines];
      }
    },
    async close() {
      const t = thread;
      thread = undefined;
      await t?.close();
    },
  };
}
