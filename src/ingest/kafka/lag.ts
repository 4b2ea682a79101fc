/**
 * The consumer-lag gauge (`driftd_kafka_consumer_lag_messages`), per assigned partition: set
 * after each batch, and refreshed from the brokers for the partitions last assigned even while
 * the consumer is not a member (crash loop, rejoin), so that a stuck partition shows its
 * growing lag. In cluster mode the refresh also lists every partition of the predictions topic
 * (`watch`), owned or not: the finaliser's Kafka lanes.
 */

import type { Admin } from 'kafkajs';
import type { Metrics } from '../../export/metrics.js';
import type { Logger } from '../../logger.js';
import type { Tuning } from './options.js';
import { partitionKey as key, type PartitionProgress } from './partition-progress.js';

export interface LagOptions {
  groupId: string;
  metrics: Metrics;
  log: Logger;
  tuning: Pick<Tuning, 'lagRefreshMs'>;
  progress: PartitionProgress;
  /** The admin client, if connected (it outlives consumer reconnects). */
  admin: () => Admin | undefined;
  stopping: () => boolean;
  /** A topic whose partitions are listed at each refresh, assigned or not (cluster mode). */
  watch?: string;
}

export interface Lag {
  /** Sets one partition's lag once offset `last` is processed: high watermark − (last + 1). */
  processed(topic: string, partition: number, highWatermark: string, last: number): void;
  /** Drops a partition's lag (revoked: its lag is another member's to report). */
  remove(topic: string, partition: number): void;
  /** The partition's lag as last set, if known. */
  of(topic: string, partition: number): number | undefined;
  /** The partitions of the `watch` topic at the last refresh, sorted; undefined until known. */
  watched(): number[] | undefined;
  /** Refreshes the lag every `lagRefreshMs`, until `stop`. */
  schedule(): void;
  /** Refreshes now, in the background (after a group join: the lag of new partitions). */
  refresh(): void;
  stop(): void;
}

export function createLag(options: LagOptions): Lag {
  const { groupId, metrics, log, tuning, progress } = options;
  let lagTimer: NodeJS.Timeout | undefined;
  let refreshingLag = false;
  /** "topic/partition" → the lag last set (cluster mode reads it: a lane with lag is not idle). */
  const last = new Map<string, number>();
  let watched: number[] | undefined;

  /** Sets one partition's lag (a non-finite one is ignored, a negative one reads 0). */
  function setLag(topic: string, partition: number, lag: number): void {
    if (!Number.isFinite(lag)) return;
    last.set(key(topic, partition), Math.max(0, lag));
    metrics.kafkaConsumerLag.set({ topic, partition: String(partition) }, Math.max(0, lag));
  }

  function setProcessed(topic: string, partition: number, highWatermark: string, last: number) {
    setLag(topic, partition, Number(highWatermark) - last - 1);
  }

  /**
   * Lag of the partitions last assigned: high watermark − the next offset to process (this
   * process's own progress, else the group's committed offset, else the log start). Refreshed
   * whether or not the consumer is a member right now: while it is stuck (crash-looping,
   * rejoining) the lag grows and the gauge must say so; the admin client outlives consumer
   * reconnects for this (see `reconnect` in connection.ts).
   */
  async function refreshLag(): Promise<void> {
    const a = options.admin();
    if (!a) return;
    const offsets = new Map<string, Awaited<ReturnType<Admin['fetchTopicOffsets']>>>();
    const fetch = async (topic: string) => {
      const o = offsets.get(topic) ?? (await a.fetchTopicOffsets(topic));
      offsets.set(topic, o);
      return o;
    };
    if (options.watch !== undefined) {
      const all = await fetch(options.watch);
      watched = all.map((p) => p.partition).sort((x, y) => x - y);
    }
    for (const [topic, partitions] of progress.assigned) {
      const done = progress.of(topic);
      const high = await fetch(topic);
      let committed: Map<number, number> | undefined;
      for (const p of high) {
        if (!partitions.includes(p.partition)) continue;
        const last = done.get(key(topic, p.partition));
        if (last !== undefined) {
          setProcessed(topic, p.partition, p.high, last);
          continue;
        }
        if (committed === undefined) {
          const [fetched] = await a.fetchOffsets({ groupId, topics: [topic] });
          committed = new Map(
            (fetched?.partitions ?? []).map((x) => [x.partition, Number(x.offset)]),
          );
        }
        const c = committed.get(p.partition);
        const from = c !== undefined && c >= 0 ? c : Number(p.low);
        setLag(topic, p.partition, Number(p.high) - from);
      }
    }
  }

  function scheduleLag(): void {
    lagTimer = setInterval(refresh, tuning.lagRefreshMs);
    lagTimer.unref();
  }

  function refresh(): void {
    if (refreshingLag || options.stopping()) return;
    refreshingLag = true;
    refreshLag()
      .catch((err) => {
        metrics.kafkaErrors.inc({ operation: 'lag_refresh' });
        log.debug({ err }, 'consumer lag refresh failed');
      })
      .finally(() => {
        refreshingLag = false;
      });
  }

  return {
    processed: setProcessed,
    remove(topic, partition) {
      last.delete(key(topic, partition));
      metrics.kafkaConsumerLag.remove({ topic, partition: String(partition) });
    },
    of: (topic, partition) => last.get(key(topic, partition)),
    watched: () => watched,
    schedule: scheduleLag,
    refresh,
    stop() {
      if (lagTimer) clearInterval(lagTimer);
    },
  };
}
