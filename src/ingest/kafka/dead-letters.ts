/**
 * The dead-letter topic: invalid messages, batches kafkajs could not decompress and messages
 * whose processing kept failing are produced there with their reason and source coordinates
 * (original headers kept), and counted.
 *
 * Dead letters are at-least-once: a crash after the produce and before the next checkpoint
 * produces them again.
 */

import type { IHeaders, KafkaMessage, Message, Producer } from 'kafkajs';
import type { KafkaConfig } from '../../config/types.js';
import type { Metrics } from '../../export/metrics.js';
import type { Logger } from '../../logger.js';
import type { RejectReason } from '../decode.js';
import type { BatchView } from './messages.js';
import { KafkaSourceError, type Write } from './options.js';
import { type UndecodableBatch, undecodableBatchOf } from './undecodable.js';

/** Dead-letter headers set on every dead-lettered message (original headers are kept). */
export const DEAD_LETTER_HEADERS = {
  reason: 'driftd-reason',
  error: 'driftd-error',
  topic: 'driftd-source-topic',
  partition: 'driftd-source-partition',
  offset: 'driftd-source-offset',
  /** An undecodable batch (reason `undecodable_batch`): its last offset (`offset`: its first). */
  lastOffset: 'driftd-source-last-offset',
  /** An undecodable batch: its codec and how many records its header announces. */
  compression: 'driftd-compression',
  records: 'driftd-records',
} as const;

/**
 * Dead-letter reasons of the Kafka source itself, beside the decoders' `RejectReason`s:
 * - `undecodable_batch`: a record batch kafkajs could not decompress (undecodable.ts);
 *   one dead letter per batch, its value the compressed records.
 * - `processing_failed`: a message whose processing kept failing (`MAX_BATCH_ATTEMPTS`).
 */
export type KafkaRejectReason = 'undecodable_batch' | 'processing_failed';

const MAX_ERROR_HEADER = 1000;

export interface Dead {
  message: KafkaMessage;
  reason: RejectReason | KafkaRejectReason;
  error: string;
  /** Configured model of the message, else "unknown" (metric label). */
  model: string;
  /** The undecodable batch this dead letter stands for (its placeholders, counted). */
  batch?: { of: UndecodableBatch; placeholders: number };
}

/**
 * When `m` is a placeholder of an undecodable batch (undecodable.ts): one dead letter per
 * batch in `dead`, counting its placeholders, and true.
 */
export function takeUndecodable(m: KafkaMessage, dead: Dead[]): boolean {
  const of = undecodableBatchOf(m);
  if (of === undefined) return false;
  const prev = dead[dead.length - 1];
  if (prev?.batch?.of === of) {
    prev.batch.placeholders++;
    return true;
  }
  const headers: IHeaders = {
    [DEAD_LETTER_HEADERS.lastOffset]: of.lastOffset,
    [DEAD_LETTER_HEADERS.compression]: of.codec,
    [DEAD_LETTER_HEADERS.records]: String(of.records),
  };
  dead.push({
    message: {
      key: null,
      value: of.compressed,
      headers,
      offset: of.baseOffset,
      timestamp: m.timestamp,
      attributes: 0,
    },
    reason: 'undecodable_batch',
    error: of.error,
    model: 'unknown',
    batch: { of, placeholders: 1 },
  });
  return true;
}

/** Size errors the broker will repeat forever for the same message. */
function isTooLarge(err: unknown): boolean {
  for (let e = err as { type?: unknown; cause?: unknown } | undefined, i = 0; e && i < 5; i++) {
    if (e.type === 'MESSAGE_TOO_LARGE' || e.type === 'RECORD_LIST_TOO_LARGE') return true;
    e = e.cause as typeof e;
  }
  return false;
}

export interface DeadLettersOptions {
  config: KafkaConfig;
  metrics: Metrics;
  log: Logger;
  /** The connected producer, if any. */
  producer: () => Producer | undefined;
  write: Write;
}

export type DeadLetter = (
  batch: BatchView,
  dead: Dead[],
  kind: 'prediction' | 'label',
) => Promise<void>;

/**
 * Bytes of dead letters per produce request: well under the broker's default
 * message.max.bytes (1 MiB), so a batch's dead letters go in a few requests, not one by one.
 */
export const DEAD_LETTER_REQUEST_BYTES = 512 * 1024;

/** About what a message weighs in a produce request (value, key, headers, framing). */
function messageBytes(m: Message): number {
  const len = (v: unknown) => (typeof v === 'string' || Buffer.isBuffer(v) ? v.length : 0);
  let n = 32 + len(m.value) + len(m.key);
  for (const [k, v] of Object.entries(m.headers ?? {})) {
    n += 8 + k.length + (Array.isArray(v) ? v.reduce((s: number, x) => s + len(x), 0) : len(v));
  }
  return n;
}

/**
 * Dead letters cut into produce requests of at most `maxBytes` each (as estimated; a message
 * larger than that alone in its request), in order.
 */
export function deadLetterRequests(messages: readonly Message[], maxBytes: number): Message[][] {
  const out: Message[][] = [];
  let part: Message[] = [];
  let bytes = 0;
  for (const m of messages) {
    const size = messageBytes(m);
    if (part.length > 0 && bytes + size > maxBytes) {
      out.push(part);
      part = [];
      bytes = 0;
    }
    part.push(m);
    bytes += size;
  }
  if (part.length > 0) out.push(part);
  return out;
}

/** Produces a batch's dead letters (retried until done) and counts them. */
export function createDeadLetters(options: DeadLettersOptions): DeadLetter {
  const { config: cfg, metrics, log, write } = options;

  function toDeadLetter(batch: BatchView, d: Dead): Message {
    const headers: IHeaders = { ...(d.message.headers ?? {}) };
    headers[DEAD_LETTER_HEADERS.reason] = d.reason;
    headers[DEAD_LETTER_HEADERS.error] =
      d.error.length > MAX_ERROR_HEADER ? `${d.error.slice(0, MAX_ERROR_HEADER)}…` : d.error;
    headers[DEAD_LETTER_HEADERS.topic] = batch.topic;
    headers[DEAD_LETTER_HEADERS.partition] = String(batch.partition);
    headers[DEAD_LETTER_HEADERS.offset] = d.message.offset;
    return { key: d.message.key, value: d.message.value, headers };
  }

  async function sendDeadLetters(messages: Message[]): Promise<void> {
    const p = options.producer();
    if (!p)
      throw new KafkaSourceError('dead-letter producer is not connected', { retriable: true });
    // In requests the broker takes whole: a batch's dead letters over its message.max.bytes
    // made the request fail and every dead letter of the batch go one by one (each awaited,
    // acks=all), a few hundred per second while the partition waited.
    try {
      for (const part of deadLetterRequests(messages, DEAD_LETTER_REQUEST_BYTES)) {
        await sendDeadLetterRequest(p, part);
      }
    } catch (err) {
      metrics.kafkaErrors.inc({ operation: 'produce_dead_letters' });
      throw err;
    }
  }

  async function sendDeadLetterRequest(p: Producer, messages: Message[]): Promise<void> {
    const send = (list: Message[]) =>
      p.send({ topic: cfg.deadLetterTopic, acks: -1, messages: list });
    try {
      await send(messages);
    } catch (err) {
      if (!isTooLarge(err)) throw err;
      // One message too large for the dead-letter topic: send one by one, and the ones that
      // still do not fit without their value (the source coordinates point at the original).
      for (const m of messages) {
        try {
          await send([m]);
        } catch (e) {
          if (!isTooLarge(e)) throw e;
          const size = m.value === null || m.value === undefined ? 0 : m.value.length;
          await send([
            {
              key: m.key ?? null,
              value: null,
              headers: { ...m.headers, 'driftd-value-dropped': String(size) },
            },
          ]);
        }
      }
    }
  }

  async function deadLetter(batch: BatchView, dead: Dead[], kind: 'prediction' | 'label') {
    const messages = dead.map((d) => toDeadLetter(batch, d));
    await write('dead_letter', () => sendDeadLetters(messages));
    const reasons: Partial<Record<Dead['reason'], number>> = {};
    for (const d of dead) {
      metrics.deadLetterTotal.inc({ reason: d.reason });
      // An undecodable batch is one dead letter and as many invalid items as it held.
      const items = d.batch?.placeholders ?? 1;
      if (kind === 'prediction') {
        metrics.eventsTotal.inc({ model: d.model, result: 'invalid' }, items);
      } else {
        metrics.labelsTotal.inc({ model: d.model, result: 'invalid' }, items);
      }
      reasons[d.reason] = (reasons[d.reason] ?? 0) + 1;
    }
    log.warn(
      {
        topic: batch.topic,
        partition: batch.partition,
        deadLetterTopic: cfg.deadLetterTopic,
        reasons,
        first: { offset: dead[0]!.message.offset, error: dead[0]!.error },
      },
      'invalid messages dead-lettered',
    );
  }

  return deadLetter;
}
