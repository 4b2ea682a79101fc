/**
 * The batch loop, kafkajs's eachBatch: batches are queued as kafkajs hands them over (their
 * predictions sent to the decode thread at once) and processed one at a time under the
 * source's lock, in arrival order; a checkpoint is taken between batches when due. A batch
 * whose processing throws is fetched again a bounded number of times, then processed one
 * message at a time, the failing ones dead-lettered: a partition never stalls on one message.
 */

import type { Batch, Consumer, EachBatchPayload } from 'kafkajs';
import type { KafkaConfig, ModelConfig } from '../../config/types.js';
import type { Metrics } from '../../export/metrics.js';
import type { Logger } from '../../logger.js';
import type { DecodeOptions } from '../decode.js';
import { createDecodeThread, type DecodeThread } from '../decode-thread.js';
import { RetryAbortedError } from '../retry.js';
import type { BatchHandlers } from './batch.js';
import type { Checkpoints } from './checkpoints.js';
import type { DeadLetter } from './dead-letters.js';
import { type BatchView, headerTexts } from './messages.js';
import { partitionKey as key, type PartitionProgress } from './partition-progress.js';

/**
 * Attempts at a batch whose processing throws (not a write: those are retried until they
 * succeed) before its messages are processed one at a time, the failing ones dead-lettered.
 */
export const MAX_BATCH_ATTEMPTS = 3;

/** Batches queued ahead of processing (see onBatch): about one fetch of three partitions. */
const MAX_QUEUED_BATCHES = 4;

export interface BatchLoopOptions {
  config: KafkaConfig;
  /** The model list the decode thread starts with (`modelList(models)`). */
  modelList: readonly ModelConfig[];
  decodeOpts: DecodeOptions;
  log: Logger;
  progress: PartitionProgress;
  handlers: BatchHandlers;
  checkpoints: Pick<Checkpoints, 'due' | 'take'>;
  deadLetter: DeadLetter;
  /** The source's lock: batches and checkpoints run one at a time. */
  exclusive: <T>(fn: () => Promise<T>) => Promise<T>;
  /** The connected consumer, if any (seeks). */
  consumer: () => Consumer | undefined;
  stopping: () => boolean;
  /** Messages processed per topic: the progress DriftdKafkaConsumerStuck watches. */
  metrics: Pick<Metrics, 'kafkaMessagesProcessed'>;
}

export interface BatchLoop {
  /** kafkajs's eachBatch. */
  eachBatch(payload: EachBatchPayload): Promise<void>;
  /** The heartbeat of the latest batch, if any (long writes heartbeat the group with it). */
  readonly heartbeat: (() => Promise<void>) | undefined;
  /** Starts the decode thread (else the event loop decodes). */
  startDecodeThread(): void;
  /**
   * A config reload's model list, for the decode thread: call under the source's lock, after
   * the config swap. Batches whose decoding was sent before are decoded on the event loop
   * (with the config in force) when their turn comes.
   */
  setModels(models: readonly ModelConfig[]): void;
  closeDecodeThread(): Promise<void> | undefined;
}

export function createBatchLoop(options: BatchLoopOptions): BatchLoop {
  const { config: cfg, decodeOpts, log, progress, deadLetter, exclusive } = options;
  const { onPredictions, onLabels } = options.handlers;
  let models = options.modelList;
  /** Bumped by setModels: a decode thread answer of an older model list is not used. */
  let generation = 0;
  const predictionsTopic = cfg.predictionsTopic;
  const labelsTopic = cfg.labelsTopic;
  /** Parses and validates prediction values off the event loop (see decode-batch.ts). */
  let decoder: DecodeThread | undefined;
  let lastHeartbeat: (() => Promise<void>) | undefined;

  /**
   * Batches handed over by kafkajs and not processed yet. kafkajs fetches again only once
   * eachBatch has returned for every batch of a fetch: returning as soon as a batch is queued
   * lets the next fetch (the broker's round trip, the decoding) overlap with processing.
   * Queued batches are processed in order under the lock, with every check made when their
   * turn comes (stale after a seek, partition revoked, closing); the offset guard skips what
   * a re-delivery repeats. At most MAX_QUEUED_BATCHES wait: then eachBatch waits too.
   */
  const queuedBatches = new Set<Promise<void>>();

  async function onBatch(payload: EachBatchPayload): Promise<void> {
    lastHeartbeat = payload.heartbeat;
    const { batch } = payload;
    let decoding: Promise<Uint8Array> | undefined;
    const sentWith = generation;
    if (decoder !== undefined && batch.topic === predictionsTopic && batch.messages.length > 0) {
      const messages = batch.messages;
      decoding = decoder.decode(
        messages.map((m) => m.value),
        (i) => headerTexts(i, messages, cfg.messageKey),
      );
      // A batch turned stale never reads its answer.
      decoding.catch(() => undefined);
    }
    const seeks = progress.seeks(batch.topic, batch.partition);
    // Decoded with a model list a reload has replaced since: decoded again on the event loop.
    const job = exclusive(() =>
      processBatch(payload, sentWith === generation ? decoding : undefined, seeks),
    );
    queuedBatches.add(job);
    void job.finally(() => queuedBatches.delete(job));
    while (queuedBatches.size > MAX_QUEUED_BATCHES) await Promise.race(queuedBatches);
  }

  function seek(topic: string, partition: number, offset: string): void {
    progress.sought(topic, partition);
    options.consumer()?.seek({ topic, partition, offset });
  }

  /** The one place a batch goes to its topic's handler (a batch, or one isolated message). */
  function dispatch(batch: BatchView, decoding?: Promise<Uint8Array>): Promise<void> {
    if (batch.topic === predictionsTopic) return onPredictions(batch, decoding);
    if (batch.topic === labelsTopic) return onLabels(batch);
    return Promise.resolve();
  }

  async function processBatch(
    payload: EachBatchPayload,
    decoding: Promise<Uint8Array> | undefined,
    seeks: number,
  ): Promise<void> {
    const { batch } = payload;
    if (options.stopping() || batch.messages.length === 0) return;
    // A partition no longer ours (or with a seek pending) would be counted by its new owner.
    if (!progress.owns(batch.topic, batch.partition) || payload.isStale()) return;
    // Fetched before a seek of ours: the seek fetches its messages again.
    if (progress.seeks(batch.topic, batch.partition) !== seeks) return;
    const k = key(batch.topic, batch.partition);
    // Cluster mode: the partition's lane is not restored yet (its restore seeks).
    if (progress.pending.has(k)) return;
    // Cluster mode: fetched from kafkajs's own position before the restore's seek took effect.
    const resumed = progress.fromResumePosition(
      batch.topic,
      batch.partition,
      fetchedOffsetOf(batch),
    );
    if (resumed === false) return;
    if (resumed === 'moved') {
      log.error(
        { topic: batch.topic, partition: batch.partition, fetchedOffset: fetchedOffsetOf(batch) },
        'the partition did not resume at its lane checkpoint offset (gone from Kafka?): counting from where Kafka delivers',
      );
    }
    try {
      await dispatch(batch, decoding);
      options.metrics.kafkaMessagesProcessed.inc({ topic: batch.topic }, batch.messages.length);
      failures.delete(k);
      if (options.checkpoints.due()) await options.checkpoints.take();
    } catch (err) {
      // Closing: the batch's unwritten work is simply not checkpointed; a restart replays it.
      if (err instanceof RetryAbortedError) return;
      // Anything else is a bug or a poison message (writes never end up here: they are retried
      // until they succeed). Fetch the partition again from the first offset not processed
      // (batches queued behind this one turn stale; the offset guard skips what the windows
      // already hold), a bounded number of times; then isolate the failing messages.
      const offset = progress.next(batch.topic, batch.partition) ?? batch.firstOffset();
      if (offset === null) return;
      const prev = failures.get(k);
      const attempt = prev?.offset === offset ? prev.attempts + 1 : 1;
      failures.set(k, { offset, attempts: attempt });
      if (attempt < MAX_BATCH_ATTEMPTS) {
        log.error(
          { err, topic: batch.topic, partition: batch.partition, offset, attempt },
          'batch failed; fetching the partition again',
        );
        seek(batch.topic, batch.partition, offset);
        return;
      }
      log.error(
        { err, topic: batch.topic, partition: batch.partition, offset, attempt },
        'batch failed again; processing its messages one at a time, dead-lettering those that fail',
      );
      try {
        await isolate(batch);
        failures.delete(k);
      } catch (e) {
        if (e instanceof RetryAbortedError) return;
        log.error({ err: e, topic: batch.topic, partition: batch.partition }, 'isolating failed');
        seek(batch.topic, batch.partition, offset);
      }
    }
  }

  /** Partition ("topic/partition") → the offset its batches keep failing at, and how often. */
  const failures = new Map<string, { offset: string; attempts: number }>();

  /**
   * A batch that failed `MAX_BATCH_ATTEMPTS` times, one message at a time: each message that
   * still fails is dead-lettered (`processing_failed`, with the error) and passed, so the
   * partition moves on and the messages around it are processed as usual.
   */
  async function isolate(batch: Batch): Promise<void> {
    const { topic, partition } = batch;
    const k = key(topic, partition);
    const predictions = topic === predictionsTopic;
    const done = progress.of(topic);
    for (const m of batch.messages) {
      if (options.stopping()) return;
      const offset = Number(m.offset);
      if (offset <= (done.get(k) ?? -1)) continue;
      const one: BatchView = {
        topic,
        partition,
        highWatermark: batch.highWatermark,
        messages: [m],
      };
      try {
        await dispatch(one);
      } catch (err) {
        if (err instanceof RetryAbortedError) throw err;
        const error = err instanceof Error ? `${err.name}: ${err.message}` : String(err);
        await deadLetter(
          one,
          [{ message: m, reason: 'processing_failed', error, model: 'unknown' }],
          predictions ? 'prediction' : 'label',
        );
        // A failure after the offset moved (the event is in the windows, a later step failed)
        // is dead-lettered too: its bytes are kept, the offset stays where it is.
        if (offset > (done.get(k) ?? -1)) done.set(k, offset);
        progress.changes++;
      }
      options.metrics.kafkaMessagesProcessed.inc({ topic });
    }
  }

  return {
    eachBatch: onBatch,
    get heartbeat() {
      return lastHeartbeat;
    },
    startDecodeThread() {
      try {
        decoder = createDecodeThread(models, decodeOpts, cfg.maxMessageBytes, log);
      } catch (err) {
        log.warn({ err }, 'cannot start the decode thread; decoding on the event loop');
      }
    },
    setModels(next) {
      models = next;
      generation++;
      decoder?.setModels(next);
    },
    closeDecodeThread: () => decoder?.close(),
  };
}

/** The offset kafkajs fetched the batch from (its Batch's `fetchedOffset`, not in its types). */
function fetchedOffsetOf(batch: object): string | undefined {
  const v = (batch as { fetchedOffset?: unknown }).fetchedOffset;
  return v === undefined || v === null ? undefined : String(v);
}
