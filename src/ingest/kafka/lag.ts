/**
 * The consumer-lag gauge (`driftd_kafka_consumer_lag_messages`), per assigned partition: set
 * after each batch, and refreshed from the brokers for the partitions last assigned even while
 * the consumer is not a member (crash loop, rejoin), so that a stuck partition shows its
 * growing lag.
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
}

export interface Lag {
  /** Sets one partition's lag (a non-finite one is ignored, a negative one reads 0). */
  set(topic: string, partition: number, lag: number): void;
  /** Refreshes the lag every `lagRefreshMs`, until `stop`. */
  schedule(): void;
  stop(): void;
}

export function createLag(options: LagOptions): Lag {
  const { groupId, metrics, log, tuning, progress } = options;
  let lagTimer: NodeJS.Timeout | undefined;
  let refreshingLag = false;

  function setLag(topic: string, partition: number, lag: number): void {
    if (!Number.isFinite(lag)) return;
    metrics.kafkaConsumerLag.set({ topic, partition: String(partition) }, Math.max(0, lag));
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
    for (const [topic, partitions] of progress.assigned) {
      const done = progress.of(topic);
      const high = await a.fetchTopicOffsets(topic);
      let committed: Map<number, number> | undefined;
      for (const p of high) {
        if (!partitions.includes(p.partition)) continue;
        const last = done.get(key(topic, p.partition));
        if (last !== undefined) {
          setLag(topic, p.partition, Number(p.high) - last - 1);
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
    lagTimer = setInterval(() => {
      if (refreshingLag || options.stopping()) return;
      refreshingLag = true;
      refreshLag()
        .catch((err) => log.debug({ err }, 'consumer lag refresh failed'))
        .finally(() => {
          refreshingLag = false;
        });
    }, tuning.lagRefreshMs);
    lagTimer.unref();
  }

  return {
    set: setLag,
    schedule: scheduleLag,
    stop() {
      if (lagTimer) clearInterval(lagTimer);
    },
  };
}
