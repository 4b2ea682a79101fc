/**
 * Checkpoints of the Kafka source: window state and offsets written as one cut, then committed.
 *
 * Delivery: at-least-once from Kafka, exactly-once in effect for the window results and raw
 * events. The invariant:
 *
 *   (I) The latest checkpoint row of the group, C = (windows W, offsets O), is a consistent
 *       cut: W is exactly the window state built from the events of each predictions partition
 *       p at offsets < O[p] and from no other Kafka event; every window closed before the cut
 *       has its result in the store; the raw rows of every event before O are in the store.
 *
 * How (I) is kept:
 * - Batches run one at a time (eachBatch, autoCommit off, one partition per call) under the
 *   source's lock, in arrival order; eachBatch queues a batch and returns, so kafkajs fetches
 *   the next while earlier ones are processed (a few queued at most). Per batch: stale ones
 *   (a seek happened) and those of revoked partitions are dropped; messages at or below the
 *   partition's processed offset are skipped (Kafka re-delivers after a rebalance; a failed
 *   batch seeks its partition back to the first unprocessed offset, `MAX_BATCH_ATTEMPTS`
 *   times, then its messages are processed one at a time and those that still fail are
 *   dead-lettered as `processing_failed`); invalid messages, and the placeholders of a batch
 *   kafkajs could not decompress (undecodable.ts, one dead letter per batch), are
 *   dead-lettered first (awaited); then the valid events are recorded into the
 *   windows and the processed offset advances in the same synchronous step. Raw rows are
 *   buffered, closed windows queued; every store write is retried until it succeeds
 *   (retry.ts), heartbeating the group meanwhile and pausing fetches when it takes long.
 *   (batch-loop.ts, batch.ts, writes.ts)
 * - Checkpoint, every `checkpointIntervalMs` between batches (under the lock): write out every
 *   queued row and window result (`pipeline.settle`), then, synchronously — JS is
 *   single-threaded, so this is one cut — snapshot every window manager and the processed
 *   offsets; write that as ONE store row; then commit the same offsets (+ the labels') to
 *   Kafka. A crash before the row is written leaves the previous checkpoint; a crash between
 *   the row and the commit leaves Kafka one commit behind, which is harmless because:
 * - On (re)start the latest checkpoint is restored into the window managers, and on every
 *   partition assignment each partition is sought to the processed offset + 1 known from the
 *   checkpoint (or from this process's own progress after a rebalance). The checkpoint, not
 *   Kafka's committed offset, is the source of truth. Partitions it does not know start from
 *   the committed offset, or the earliest one. (consumer-group.ts)
 * - Replaying events after O rebuilds the same windows, whatever order the partitions' fetches
 *   interleave in, because lateness and watermarks are per partition (src/window/manager.ts,
 *   lanes; each partition is announced as a lane on assignment). Windows that closed after the
 *   cut close again with identical results and are rewritten (the store replaces them; only
 *   closedAt differs). Raw rows re-inserted with the same Kafka coordinates collapse: the events
 *   table is a ReplacingMergeTree keyed by (model, version, ts, id, source, topic, partition,
 *   offset); read it with FINAL or one row per id.
 * - Labels are idempotent in the store (latest per (model, id)). A label batch is stored, and
 *   the closed windows it touches are marked for a performance recompute; its offsets are
 *   committed with the next checkpoint, after `settle` made the recomputes durable.
 * - Dead letters are at-least-once (dead-letters.ts).
 * - Rollback (`rollback`, when the daemon also takes HTTP events and a raw HTTP write failed for
 *   good): under the lock, the windows are emptied and the latest checkpoint restored as on a
 *   restart, the stored HTTP events after its position replayed, and every predictions
 *   partition sought to its offset (a partition the cut does not know, to where this process
 *   took it up: `origins`); batches fetched before those seeks are dropped. No cut is taken
 *   while the HTTP input is failed. So the failed request counts zero times and every Kafka
 *   event after the cut is counted again, once (its raw row collapses as above).
 * - A batch whose recording fails part-way (EngineSource.record is atomic by position, a
 *   RecordError says how many events it counted): the processed offset moves exactly past
 *   them before the batch is fetched again, so its retry counts nothing twice (batch.ts).
 *
 * Scope: exact for one daemon instance per consumer group. Several instances in one group each
 * would write the group's single checkpoint row, and a partition that moves between instances
 * would arrive without its window state: cluster mode (`cluster.enabled`) checkpoints each
 * partition on its own instead (lane-checkpoints.ts).
 */

import type { Consumer } from 'kafkajs';
import type { Metrics } from '../../export/metrics.js';
import type { Logger } from '../../logger.js';
import type { Clock } from '../../window/index.js';
import {
  type CheckpointStore,
  decodeCheckpoint,
  encodeCheckpoint,
  type KafkaCheckpoint,
  type PartitionOffset,
  restoreWindows,
} from '../checkpoint.js';
import type { HttpInputHooks } from '../checkpointer.js';
import { backoffDelay, RetryAbortedError, sleep } from '../retry.js';
import type { KafkaPipeline, Tuning, Write } from './options.js';
import { partitionKey as key, PartitionProgress } from './partition-progress.js';

export interface CheckpointsOptions {
  groupId: string;
  predictionsTopic: string;
  pipeline: KafkaPipeline;
  store: CheckpointStore;
  clock: Clock;
  log: Logger;
  metrics: Pick<Metrics, 'kafkaErrors'>;
  tuning: Pick<Tuning, 'checkpointIntervalMs'>;
  http: HttpInputHooks | undefined;
  progress: PartitionProgress;
  write: Write;
  /** The source's lock: batches and checkpoints run one at a time. */
  exclusive: <T>(fn: () => Promise<T>) => Promise<T>;
  /** The connected consumer, if any, and whether it is a member of the group. */
  consumer: () => Consumer | undefined;
  joined: () => boolean;
  stopping: () => boolean;
}

export interface Checkpoints {
  /** The sequence number of the latest checkpoint. */
  readonly seq: number;
  /** A checkpoint is due (`checkpointIntervalMs` since the last one). */
  due(): boolean;
  /** Something changed since the last checkpoint (processed batches, open windows). */
  dirty(): boolean;
  /** Takes a checkpoint. Call under the lock. */
  take(): Promise<void>;
  /** Loads the group's latest checkpoint (see KafkaSource.restore). */
  restore(): Promise<KafkaCheckpoint | null>;
  /**
   * Rolls every source back to the latest checkpoint (EngineSource.rollback): its windows, the
   * HTTP events stored after its position, and every predictions partition sought to its
   * offset, so what was counted after the cut is delivered and counted again, once. Retried
   * until the store answers. Call under the lock.
   */
  rollback(cause: unknown): Promise<void>;
  /** Checkpoints every `checkpointIntervalMs` between batches, until `stop`. */
  schedule(): void;
  stop(): void;
}

export function createCheckpoints(options: CheckpointsOptions): Checkpoints {
  const { groupId, predictionsTopic, pipeline, store, clock, log, tuning, progress, write } =
    options;
  const { processed, labelsProcessed } = progress;
  let seq = 0;
  let lastCheckpointAt = clock.now();
  let openAtCheckpoint = 0;
  let checkpointTimer: NodeJS.Timeout | undefined;

  function due(): boolean {
    return clock.now() - lastCheckpointAt >= tuning.checkpointIntervalMs;
  }

  function dirty(): boolean {
    return progress.changes > 0 || pipeline.openWindows() !== openAtCheckpoint;
  }

  /** Call under the lock. */
  async function takeCheckpoint(): Promise<void> {
    // The windows hold events of a failed HTTP write until the rollback (queued on the lock).
    if (options.http && !options.http.healthy()) return;
    if (!(await settleQuiet(pipeline, write, log))) return;
    // The cut: synchronous from the snapshots to the encoded row.
    const windows: KafkaCheckpoint['windows'] = {};
    for (const [model, manager] of pipeline.managers) windows[model] = manager.snapshot();
    const offsets = PartitionProgress.positions(processed);
    const labelOffsets = PartitionProgress.positions(labelsProcessed);
    const cp: KafkaCheckpoint = {
      format: 1,
      groupId,
      seq: seq + 1,
      takenAt: clock.now(),
      offsets,
      ...(options.http ? { httpPosition: options.http.position() } : {}),
      windows,
    };
    const row = encodeCheckpoint(cp);
    const changesAtCut = progress.changes;
    await write('save_checkpoint', () => store.saveCheckpoint(row));
    seq = cp.seq;
    lastCheckpointAt = cp.takenAt;
    progress.changes -= changesAtCut;
    openAtCheckpoint = pipeline.openWindows();
    log.debug({ seq, offsets, bytes: row.payload.length }, 'checkpoint written');
    await commit([...offsets, ...labelOffsets]);
  }

  const commit = (list: PartitionOffset[]) => commitOwned(options, list);

  function scheduleCheckpoints(): void {
    checkpointTimer = scheduleTimer(options, { due, dirty, take: takeCheckpoint });
  }

  async function restore(): Promise<KafkaCheckpoint | null> {
    const row = await store.latestCheckpoint(groupId);
    if (row === null) {
      log.info({ groupId }, 'no checkpoint for this consumer group: starting from Kafka offsets');
      await options.http?.resume(0);
      return null;
    }
    const cp = decodeCheckpoint(row);
    const report = restoreWindows(pipeline.managers, cp, log);
    // The HTTP events stored after the cut, in arrival order (their own lane).
    await options.http?.resume(cp.httpPosition ?? 0);
    for (const o of cp.offsets) {
      if (o.topic !== predictionsTopic) {
        log.warn(
          { topic: o.topic },
          'checkpoint offsets of a topic no longer configured as kafka.predictionsTopic; ignored',
        );
        continue;
      }
      processed.set(key(o.topic, o.partition), Number(o.offset) - 1);
    }
    seq = cp.seq;
    lastCheckpointAt = clock.now();
    openAtCheckpoint = pipeline.openWindows();
    log.info(
      {
        groupId,
        seq: cp.seq,
        takenAt: new Date(cp.takenAt).toISOString(),
        offsets: cp.offsets,
        restored: report.restored,
        failed: report.failed.map((f) => f.model),
        openWindows: openAtCheckpoint,
      },
      'restored Kafka checkpoint: resuming from its offsets',
    );
    return cp;
  }

  async function rollbackOnce(): Promise<void> {
    pipeline.rollback();
    processed.clear();
    const cp = await restore();
    // Partitions the cut does not know: back to where this process took them up.
    for (const [k, origin] of progress.origins) if (!processed.has(k)) processed.set(k, origin);
    const lanes: string[] = [];
    for (const partition of progress.assigned.get(predictionsTopic) ?? []) {
      lanes.push(key(predictionsTopic, partition));
      const offset = progress.next(predictionsTopic, partition);
      if (offset === undefined) continue; // nothing of it counted yet
      progress.sought(predictionsTopic, partition);
      options.consumer()?.seek({ topic: predictionsTopic, partition, offset });
    }
    for (const manager of pipeline.managers.values()) manager.addLanes(lanes);
    progress.changes++;
    log.warn(
      { seq: cp?.seq ?? 0, offsets: cp?.offsets ?? [] },
      'rolled back to the checkpoint after a failed HTTP raw write: its events are counted zero times; Kafka partitions fetched again from the cut',
    );
  }

  async function rollback(_cause: unknown): Promise<void> {
    for (let attempt = 1; !options.stopping(); attempt++) {
      try {
        await rollbackOnce();
        return;
      } catch (err) {
        if (err instanceof RetryAbortedError) return;
        const wait = backoffDelay(attempt, { initialMs: 500, maxMs: 10_000 });
        log.error({ err, attempt, waitMs: Math.round(wait) }, 'rollback failed; retrying');
        await sleep(wait);
      }
    }
  }

  return {
    rollback,
    get seq() {
      return seq;
    },
    due,
    dirty,
    take: takeCheckpoint,
    restore,
    schedule: scheduleCheckpoints,
    stop() {
      if (checkpointTimer) clearInterval(checkpointTimer);
    },
  };
}

/**
 * Writes out everything queued (`pipeline.settle`) until the pipeline is quiet: then snapshots
 * taken in the same synchronous turn are a consistent cut. false: never quiet, no cut now.
 */
export async function settleQuiet(
  pipeline: KafkaPipeline,
  write: Write,
  log: Logger,
): Promise<boolean> {
  for (let i = 0; ; i++) {
    await pipeline.settle({ write });
    if (pipeline.quiescent()) return true;
    if (i >= 50) {
      log.warn('pipeline never quiet (concurrent HTTP ingestion?); checkpoint postponed');
      return false;
    }
  }
}

/** Commits the offsets of the partitions this member owns (others' would move their position). */
export async function commitOwned(
  options: Pick<CheckpointsOptions, 'consumer' | 'joined' | 'progress' | 'metrics' | 'log'>,
  list: PartitionOffset[],
): Promise<void> {
  const c = options.consumer();
  if (!c || !options.joined()) return;
  const mine = list.filter((o) => options.progress.owns(o.topic, o.partition));
  if (mine.length === 0) return;
  try {
    await c.commitOffsets(mine);
  } catch (err) {
    options.metrics.kafkaErrors.inc({ operation: 'commit_offsets' });
    options.log.warn(
      { err, offsets: mine },
      'offset commit failed; the checkpoint stays the source of truth and the next one commits again',
    );
  }
}

/** Takes a checkpoint (`take`, under the lock) whenever one is due and something changed. */
export function scheduleTimer(
  options: Pick<CheckpointsOptions, 'exclusive' | 'stopping' | 'log' | 'tuning'>,
  cp: Pick<Checkpoints, 'due' | 'dirty' | 'take'>,
): NodeJS.Timeout {
  let checkpointing = false;
  const timer = setInterval(
    () => {
      if (checkpointing || options.stopping()) return;
      if (!cp.due() || !cp.dirty()) return;
      checkpointing = true;
      options
        .exclusive(async () => {
          if (options.stopping() || !cp.due()) return;
          await cp.take();
        })
        .catch((err) => {
          if (!(err instanceof RetryAbortedError)) options.log.error({ err }, 'checkpoint failed');
        })
        .finally(() => {
          checkpointing = false;
        });
    },
    Math.max(50, Math.min(1000, options.tuning.checkpointIntervalMs)),
  );
  timer.unref();
  return timer;
}
