/**
 * Group membership: on every join (kafkajs's GROUP_JOIN, after each rebalance) the new
 * assignment replaces the old one, revoked partitions drop their lag, the predictions
 * partitions are announced to the window managers as lanes, and every partition this process
 * has progress for is sought to the first offset it has not processed (see checkpoints.ts).
 * Cluster mode: the predictions partitions added and revoked go to the lane checkpoints
 * (lane-checkpoints.ts), which restore and drop their lanes.
 */

import type { Consumer, ConsumerGroupJoinEvent } from 'kafkajs';
import type { Metrics } from '../../export/metrics.js';
import type { Logger } from '../../logger.js';
import type { PartitionOffset } from '../checkpoint.js';
import type { Lag } from './lag.js';
import type { LaneCheckpoints } from './lane-checkpoints.js';
import type { KafkaPipeline } from './options.js';
import { partitionKey as key, type PartitionProgress } from './partition-progress.js';

export interface ConsumerGroupOptions {
  groupId: string;
  predictionsTopic: string;
  pipeline: Pick<KafkaPipeline, 'managers'>;
  metrics: Metrics;
  log: Logger;
  progress: PartitionProgress;
  lag: Pick<Lag, 'remove' | 'refresh'>;
  /** Cluster mode: per-partition lanes. */
  lanes?: Pick<LaneCheckpoints, 'reassign'>;
  /** The connected consumer, if any. */
  consumer: () => Consumer | undefined;
  /** The consumer is a member of the group again (connection.ts). */
  joined: () => void;
}

/** The GROUP_JOIN handler. */
export function createGroupJoinHandler(
  options: ConsumerGroupOptions,
): (event: ConsumerGroupJoinEvent) => void {
  const { groupId, predictionsTopic, pipeline, metrics, log, progress } = options;

  let memberId: string | undefined;

  function onGroupJoin(event: ConsumerGroupJoinEvent): void {
    const assignment = event.payload.memberAssignment;
    const before = progress.assigned.get(predictionsTopic) ?? [];
    // The same member id: no other member owned what this one kept. A new one (the session
    // expired meanwhile): others may have, so nothing held counts as kept.
    const rejoined = memberId !== undefined && memberId !== event.payload.memberId;
    memberId = event.payload.memberId;
    const next = new Map<string, number[]>();
    for (const [topic, partitions] of Object.entries(assignment)) {
      next.set(
        topic,
        [...partitions].sort((a, b) => a - b),
      );
    }
    // Revoked partitions: their lag is another member's to report.
    for (const [topic, partitions] of progress.assigned) {
      for (const p of partitions) {
        if (!next.get(topic)?.includes(p)) {
          options.lag.remove(topic, p);
        }
      }
    }
    progress.assigned = next;
    options.joined();
    metrics.kafkaRebalances.inc();
    const now = next.get(predictionsTopic) ?? [];
    if (options.lanes) {
      // A lane whose restore failed (an unreadable checkpoint) is tried again at each join.
      const added = rejoined
        ? now
        : now.filter((p) => !before.includes(p) || progress.pending.has(key(predictionsTopic, p)));
      const revoked = rejoined ? before : before.filter((p) => !now.includes(p));
      options.lanes.reassign(added, revoked);
      options.lag.refresh();
    } else {
      const lanes = now.map((p) => key(predictionsTopic, p));
      for (const manager of pipeline.managers.values()) manager.addLanes(lanes);
    }
    const seeks: PartitionOffset[] = [];
    for (const [topic, partitions] of next) {
      for (const partition of partitions) {
        // A lane being restored is sought by its restore.
        if (progress.pending.has(key(topic, partition))) continue;
        const offset = progress.next(topic, partition);
        if (offset === undefined) continue;
        progress.sought(topic, partition);
        options.consumer()?.seek({ topic, partition, offset });
        seeks.push({ topic, partition, offset });
      }
    }
    log.info(
      {
        groupId,
        memberId: event.payload.memberId,
        assignment: Object.fromEntries(next),
        seeks,
      },
      'joined consumer group',
    );
  }

  return onGroupJoin;
}
