/**
 * The Kafka source: one consumer group on the predictions and labels topics, a dead-letter
 * topic for invalid messages, and crash-consistent checkpoints. This directory is the only
 * code importing kafkajs. Its parts, along kafkajs's own lines, composed here:
 * - connection.ts: the client, admin, producer and consumer; connect, crash and reconnect
 *   (kafkajs: consumer/index.js).
 * - consumer-group.ts: the assignment on every group join, and the seeks (consumerGroup.js).
 * - batch-loop.ts: eachBatch, the queue, bounded attempts and isolation (runner.js);
 *   batch.ts: one batch decoded, dead-lettered, recorded; messages.ts: headers and keys.
 * - partition-progress.ts: processed offsets and assignment (offsetManager);
 *   checkpoints.ts: the cut (window state + offsets) and the commit — the invariant (I) and
 *   the order of writes are described there — and the rollback to it when the daemon's HTTP
 *   input fails a write (the engine's `onRollback`, source.ts); lane-checkpoints.ts: cluster
 *   mode's instead, one cut per predictions partition, restored when the partition is assigned.
 * - dead-letters.ts; lag.ts (the lag gauge); writes.ts (retried writes, pausing fetches);
 *   codecs.ts and undecodable.ts (compression codecs, batches they cannot decompress);
 *   options.ts (tuning, options, the source's interface); index.ts (the exports).
 *
 * - Codecs: snappy, lz4 and zstd are registered with kafkajs before the consumer is made
 *   (codecs.ts); every codec is guarded so that no batch can stall its partition.
 * - Clean shutdown: stop taking batches, let the one in flight finish (then abort its retries
 *   after `closeTimeoutMs`), final checkpoint + commit, disconnect.
 */

import { kafkaLane } from '../../cluster/types.js';
import { DEFAULT_MAX_FUTURE_SKEW_MS as MAX_SKEW_MS } from '../../limits.js';
import type { DecodeOptions } from '../decode.js';
import { modelList } from '../decode-batch.js';
import { createBatchHandlers } from './batch.js';
import { createBatchLoop } from './batch-loop.js';
import { createCheckpoints } from './checkpoints.js';
import { registerKafkaCodecs } from './codecs.js';
import { createConnection } from './connection.js';
import { createGroupJoinHandler } from './consumer-group.js';
import { createDeadLetters } from './dead-letters.js';
import { createLag } from './lag.js';
import { createLaneCheckpoints, type LaneCheckpoints } from './lane-checkpoints.js';
import {
  type KafkaSource,
  KafkaSourceError,
  type KafkaSourceOptions,
  resolveTuning,
} from './options.js';
import { PartitionProgress } from './partition-progress.js';
import { kafkaSecurity } from './security.js';
import { createWrites } from './writes.js';

function createLock(): <T>(fn: () => Promise<T>) => Promise<T> {
  let tail: Promise<unknown> = Promise.resolve();
  return <T>(fn: () => Promise<T>): Promise<T> => {
    const run = tail.then(fn, fn);
    tail = run.catch(() => undefined);
    return run;
  };
}

export function createKafkaSource(options: KafkaSourceOptions): KafkaSource {
  registerKafkaCodecs();
  const { config: cfg, pipeline, store, metrics, clock } = options;
  const tuning = resolveTuning(options.tuning);
  const log = options.logger.child({ stage: 'kafka' });
  // Read now: an unreadable certificate or password file fails the daemon's start.
  const security = kafkaSecurity(cfg);
  const decodeOpts: DecodeOptions = {
    models: options.models,
    piiKey: options.piiKey,
    live: { now: () => clock.now(), maxFutureSkewMs: options.maxFutureSkewMs ?? MAX_SKEW_MS },
  };
  /** The decode thread's model list: the config's at start, then each reload's. */
  let models = modelList(options.models);
  const groupId = cfg.groupId;
  const predictionsTopic = cfg.predictionsTopic;

  let stopping = false;
  const abort = new AbortController();
  const exclusive = createLock();
  let closing: Promise<void> | undefined;

  const progress = new PartitionProgress(predictionsTopic);
  const stopped = () => stopping;
  // The parts reach each other late (getters): the connection is made last.
  const write = createWrites({
    tuning,
    clock,
    log,
    signal: abort.signal,
    consumer: () => connection.consumer,
    topics: () => [...progress.assigned.keys()],
    heartbeat: () => loop.heartbeat,
  });
  const deadLetter = createDeadLetters({
    config: cfg,
    metrics,
    log,
    producer: () => connection.producer,
    write,
  });
  const lag = createLag({
    groupId,
    metrics,
    log,
    tuning,
    progress,
    admin: () => connection.admin,
    stopping: stopped,
    ...(options.cluster ? { watch: predictionsTopic } : {}),
  });
  const shared = {
    groupId,
    predictionsTopic,
    pipeline,
    store,
    clock,
    log,
    metrics,
    tuning,
    progress,
    write,
    exclusive,
    consumer: () => connection.consumer,
    joined: () => connection.joined,
    stopping: stopped,
  };
  // Cluster mode: one cut per partition (lane-checkpoints.ts); else one for the group.
  /** When the group last confirmed this member (cluster mode: only an owner cuts its lanes). */
  let confirmedAt = clock.now();
  const lanes: LaneCheckpoints | undefined = options.cluster
    ? createLaneCheckpoints({
        ...shared,
        cluster: options.cluster,
        lag,
        admin: () => connection.admin,
        confirmedAt: () => confirmedAt,
      })
    : undefined;
  const checkpoints = lanes ?? createCheckpoints({ ...shared, http: options.http });
  const handlers = createBatchHandlers({
    config: cfg,
    models: options.models,
    modelList: () => models,
    decodeOpts,
    pipeline,
    progress,
    deadLetter,
    lag,
    write,
    tuning,
    log,
  });
  const loop = createBatchLoop({
    config: cfg,
    modelList: models,
    decodeOpts,
    log,
    progress,
    handlers,
    checkpoints,
    deadLetter,
    exclusive,
    consumer: () => connection.consumer,
    stopping: stopped,
    metrics: options.metrics,
  });
  const connection = createConnection({
    config: cfg,
    security,
    tuning,
    logger: options.logger,
    log,
    metrics,
    signal: abort.signal,
    stopping: stopped,
    eachBatch: loop.eachBatch,
    onGroupJoin: createGroupJoinHandler({
      groupId,
      predictionsTopic,
      pipeline,
      metrics,
      log,
      progress,
      lag,
      ...(lanes ? { lanes } : {}),
      consumer: () => connection.consumer,
      joined: () => {
        confirmedAt = clock.now();
        connection.groupJoined();
      },
    }),
    ...(lanes
      ? {
          onHeartbeat: () => {
            confirmedAt = clock.now();
          },
        }
      : {}),
  });

  return {
    get state() {
      return connection.state;
    },
    get joined() {
      return connection.joined;
    },

    restore: checkpoints.restore,

    start() {
      const state = connection.state;
      if (state !== 'created') throw new KafkaSourceError(`start() called in state ${state}`);
      connection.state = 'connecting';
      if (tuning.decodeThread) loop.startDecodeThread();
      // This source's checkpoint owns the HTTP input's cut too: it rolls back a failed write.
      if (options.http && !lanes) {
        pipeline.onRollback((err) => {
          void exclusive(() => checkpoints.rollback(err));
        });
      }
      checkpoints.schedule();
      lag.schedule();
      connection.start();
    },

    readiness() {
      const state = connection.state;
      if (connection.joined && state === 'running') {
        const partitions = [...progress.assigned.values()].reduce((n, p) => n + p.length, 0);
        return { ok: true, detail: `joined group ${groupId} (${partitions} partitions)` };
      }
      const refused = state === 'connecting' ? connection.refusal : undefined;
      return {
        ok: false,
        detail:
          state === 'running'
            ? `not a member of group ${groupId} (rebalancing)`
            : refused === undefined
              ? state
              : `${state}: ${refused}`,
      };
    },

    checkpoint() {
      return exclusive(checkpoints.take);
    },

    lanes() {
      if (!lanes) return undefined;
      return lag.watched()?.map((p) => kafkaLane(predictionsTopic, p));
    },

    reconfigure(apply) {
      let started = false;
      let gaveUp = false;
      // Under the lock: the batches queued before have been decoded and recorded with the old
      // config, those after wait; the decode thread gets the new model list between batches.
      const turn = exclusive(async () => {
        if (gaveUp) return;
        started = true;
        try {
          await apply();
        } finally {
          // Also after a failure: the swap may have happened before it.
          const next = modelList(options.models);
          if (next.length !== models.length || next.some((m, i) => m !== models[i])) {
            models = next;
            loop.setModels(next);
          }
        }
      });
      // A batch or checkpoint retrying a write through a store outage holds the lock: the
      // reload is refused (retriable) rather than left hanging.
      return new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => {
          if (started) return;
          gaveUp = true;
          reject(
            new KafkaSourceError(
              `config reload not applied: the Kafka consumer's batch or checkpoint in flight has been retrying a write for ${tuning.reloadWaitMs} ms (store or dead-letter topic unavailable); nothing was changed, retry`,
              { retriable: true },
            ),
          );
        }, tuning.reloadWaitMs);
        timer.unref();
        turn.then(
          () => {
            clearTimeout(timer);
            resolve();
          },
          (err: unknown) => {
            clearTimeout(timer);
            reject(err);
          },
        );
      });
    },

    close() {
      if (closing) return closing;
      closing = (async () => {
        if (connection.state === 'created' || connection.state === 'closed') {
          connection.state = 'closed';
          return;
        }
        connection.state = 'closing';
        stopping = true;
        checkpoints.stop();
        lag.stop();
        // The batch in flight (maybe retrying a failing store) gets closeTimeoutMs, and the
        // final checkpoint what is left of it; then retries are aborted.
        const deadline = setTimeout(
          () => abort.abort(new KafkaSourceError('close timed out')),
          tuning.closeTimeoutMs,
        );
        deadline.unref();
        try {
          await exclusive(async () => {
            if (checkpoints.dirty()) await checkpoints.take();
          });
        } catch (err) {
          log.error(
            { err },
            'no final checkpoint: the next start replays from the previous one (nothing is lost)',
          );
        } finally {
          clearTimeout(deadline);
        }
        abort.abort();
        await connection.connecting;
        await Promise.allSettled([connection.disconnect(), loop.closeDecodeThread()]);
        connection.joined = false;
        connection.state = 'closed';
        log.info({ groupId, seq: checkpoints.seq }, 'Kafka consumer stopped');
      })();
      return closing;
    },
  };
}
