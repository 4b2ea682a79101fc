/**
 * One batch of one partition, past the partition's processed offset: its messages decoded
 * (predictions by the decode thread when it took the batch, else here), the invalid ones
 * dead-lettered first, then the valid ones recorded into the windows (predictions) or stored
 * (labels) and the processed offset advanced in the same synchronous step (see checkpoints.ts).
 */

import type { KafkaMessage } from 'kafkajs';
import type { ModelConfig } from '../../config/types.js';
import type { Logger } from '../../logger.js';
import type { LabelEvent } from '../../types.js';
import { type Decoded, type DecodeOptions, decodeLabel, INVALID_UTF8_MESSAGE } from '../decode.js';
import {
  DecodedBatch,
  type DecodedMessage,
  decodeMessage,
  modelLabel,
  type ParsedValue,
} from '../decode-batch.js';
import { RecordError, type SourcedEvent } from '../source.js';
import { type Dead, type DeadLetter, takeUndecodable } from './dead-letters.js';
import type { Lag } from './lag.js';
import {
  type BatchView,
  parse,
  predictionSourcesOf,
  VERSION_HEADER,
  versionFromInvalidHeader,
} from './messages.js';
import type { KafkaPipeline, KafkaSourceOptions, Tuning, Write } from './options.js';
import { partitionKey as key, type PartitionProgress } from './partition-progress.js';
import { undecodableBatchOf } from './undecodable.js';

/** Events of a batch made and recorded together (see onPredictions). */
const RECORD_SLICE = 256;

export interface BatchOptions {
  config: KafkaSourceOptions['config'];
  models: ReadonlyMap<string, ModelConfig>;
  /**
   * The decode thread's model list, as its answers index it (a reload replaces it; answers
   * made with an older one are not used, see batch-loop.ts).
   */
  modelList: () => readonly ModelConfig[];
  decodeOpts: DecodeOptions;
  pipeline: KafkaPipeline;
  progress: PartitionProgress;
  deadLetter: DeadLetter;
  lag: Pick<Lag, 'processed'>;
  write: Write;
  tuning: Pick<Tuning, 'bufferRows'>;
  log: Logger;
}

export interface BatchHandlers {
  /** A predictions batch, with the decode thread's answer when it took the batch. */
  onPredictions(batch: BatchView, decoding?: Promise<Uint8Array>): Promise<void>;
  onLabels(batch: BatchView): Promise<void>;
}

export function createBatchHandlers(options: BatchOptions): BatchHandlers {
  const { config: cfg, decodeOpts, pipeline, progress, deadLetter, write, tuning, log } = options;
  const { processed, labelsProcessed } = progress;
  let decodeThreadFailed = false;

  /**
   * The messages of a batch past `last`: decoded ones, and dead letters for the rest.
   * `newest` is the last offset looked at (equal to `last` when the batch held nothing new).
   */
  function classify<T>(
    batch: BatchView,
    last: number,
    decode: (parsed: Extract<ParsedValue, { ok: true }>) => Decoded<T>,
  ): { newest: number; valid: Array<{ value: T; message: KafkaMessage }>; dead: Dead[] } {
    let newest = last;
    const valid: Array<{ value: T; message: KafkaMessage }> = [];
    const dead: Dead[] = [];
    for (const m of batch.messages) {
      const offset = Number(m.offset);
      if (offset <= last) continue; // already processed
      newest = offset;
      if (takeUndecodable(m, dead)) continue;
      const parsed = parse(m, cfg.maxMessageBytes);
      if (!parsed.ok) {
        dead.push({ message: m, reason: parsed.reason, error: parsed.message, model: 'unknown' });
        continue;
      }
      const d = decode(parsed);
      if (!d.ok) {
        dead.push({
          message: m,
          reason: d.reason,
          error: d.message,
          model: modelLabel(parsed.value, options.models),
        });
        continue;
      }
      valid.push({ value: d.value, message: m });
    }
    return { newest, valid, dead };
  }

  /**
   * The decode thread's answer for a predictions batch when it took the batch (started when the
   * batch was queued, so it overlaps with the batches before it); null when the event loop
   * decodes every message itself (`decodeMessage`).
   */
  async function decodePredictions(
    batch: BatchView,
    decoding: Promise<Uint8Array> | undefined,
  ): Promise<DecodedBatch | null> {
    if (decoding === undefined) return null;
    try {
      return new DecodedBatch(
        await decoding,
        batch.messages.map((m) => m.value),
        options.modelList(),
      );
    } catch (err) {
      if (!decodeThreadFailed) {
        decodeThreadFailed = true;
        log.warn({ err }, 'decode thread answer unusable; decoding on the event loop');
      }
      return null;
    }
  }

  async function onPredictions(batch: BatchView, decoding?: Promise<Uint8Array>): Promise<void> {
    const { topic, partition } = batch;
    const k = key(topic, partition);
    const last = processed.get(k) ?? -1;
    const answer = await decodePredictions(batch, decoding);
    const messages = batch.messages;
    // First pass: the newest offset, the rejected messages, and the ones decoded here (no
    // answer, or a model with PII fields). The thread's events stay in its answer for now.
    let newest = last;
    const dead: Dead[] = [];
    const local: Array<DecodedMessage | undefined> = [];
    /** Decoded, but refused: the version came from a header that is not UTF-8. */
    const refused = new Set<number>();
    const refuse = (i: number, m: KafkaMessage, d: DecodedMessage | null): boolean => {
      if (!d?.ok || !versionFromInvalidHeader(m.headers, d.event)) return false;
      refused.add(i);
      const error = `header ${VERSION_HEADER}: ${INVALID_UTF8_MESSAGE}`;
      dead.push({ message: m, reason: 'invalid_utf8', error, model: d.event.model });
      return true;
    };
    for (let i = 0; i < messages.length; i++) {
      const m = messages[i]!;
      const offset = Number(m.offset);
      if (offset <= last) continue; // already processed
      newest = offset;
      if (takeUndecodable(m, dead)) continue;
      const kind = answer === null ? 'local' : answer.kind(i);
      if (kind === 'event') {
        if (m.headers?.[VERSION_HEADER] !== undefined) refuse(i, m, answer!.message(i));
        continue;
      }
      const d =
        (kind === 'dead' ? answer!.message(i) : null) ??
        decodeMessage(
          m.value,
          cfg.maxMessageBytes,
          decodeOpts,
          predictionSourcesOf(m, cfg.messageKey),
        );
      if (refuse(i, m, d)) continue;
      if (d.ok) local[i] = d;
      else dead.push({ message: m, reason: d.reason, error: d.message, model: d.model });
    }
    if (newest === last) return;
    if (!processed.has(k)) progress.origins.set(k, Number(messages[0]!.offset) - 1);
    if (dead.length > 0) await deadLetter(batch, dead, 'prediction');
    // One synchronous step: the windows and the processed offset move together. Events are
    // made and recorded a slice at a time, so each is garbage before the next scavenge instead
    // of a whole batch of them being promoted to the old generation.
    const slice: SourcedEvent[] = [];
    const record = () => {
      try {
        pipeline.record(slice);
      } catch (err) {
        // Atomic by position: the events before the failing one are counted, the offset moves
        // exactly past them (the messages between are dead-lettered already), and the retry
        // starts at the failing one: nothing is counted twice.
        const counted = err instanceof RecordError ? err.recorded : 0;
        const failing = slice[counted]?.source;
        if (failing?.kind === 'kafka' && Number(failing.offset) - 1 > last) {
          processed.set(k, Number(failing.offset) - 1);
          progress.changes++;
        }
        throw err instanceof RecordError ? err.cause : err;
      }
    };
    for (let i = 0; i < messages.length; i++) {
      const m = messages[i]!;
      if (Number(m.offset) <= last || undecodableBatchOf(m) !== undefined || refused.has(i)) {
        continue;
      }
      const d = local[i] ?? (answer?.kind(i) === 'event' ? answer.message(i) : undefined);
      if (d === undefined || d === null || !d.ok) continue;
      slice.push({ event: d.event, source: { kind: 'kafka', topic, partition, offset: m.offset } });
      if (slice.length === RECORD_SLICE) {
        record();
        slice.length = 0;
      }
    }
    record();
    processed.set(k, newest);
    progress.changes++;
    options.lag.processed(topic, partition, batch.highWatermark, newest);
    await pipeline.persist({ write, bufferRows: tuning.bufferRows });
  }

  async function onLabels(batch: BatchView): Promise<void> {
    const { topic, partition } = batch;
    const k = key(topic, partition);
    const last = labelsProcessed.get(k) ?? -1;
    const {
      newest,
      valid: decoded,
      dead,
    } = classify(batch, last, (p) => decodeLabel(p.value, decodeOpts));
    const valid: LabelEvent[] = decoded.map((d) => d.value);
    if (newest === last) return;
    if (dead.length > 0) await deadLetter(batch, dead, 'label');
    await pipeline.ingestLabelEvents(valid, { write });
    labelsProcessed.set(k, newest);
    progress.changes++;
    options.lag.processed(topic, partition, batch.highWatermark, newest);
  }

  return { onPredictions, onLabels };
}
