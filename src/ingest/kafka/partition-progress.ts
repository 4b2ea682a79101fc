/**
 * Where each partition stands: the last offset processed per partition (for the predictions
 * topic: what the windows hold), the current assignment, and how much changed since the last
 * checkpoint. kafkajs tracks its own positions (offsetManager); these are the source's, and the
 * checkpoint (checkpoints.ts), not Kafka's committed offset, is their source of truth.
 */

import type { PartitionOffset } from '../checkpoint.js';

/** The key of a partition in the maps below: "topic/partition". */
export const partitionKey = (topic: string, partition: number) => `${topic}/${partition}`;

/** Batches from another fetch position dropped before a resumed lane takes what Kafka gives. */
const MAX_RESUME_DROPS = 32;

export class PartitionProgress {
  constructor(private readonly predictionsTopic: string) {}

  /** "topic/partition" → last processed offset (predictions: what the windows hold). */
  readonly processed = new Map<string, number>();
  readonly labelsProcessed = new Map<string, number>();
  /** Current assignment: topic → partitions. */
  assigned = new Map<string, number[]>();
  /** Batches processed (and messages passed) since the last checkpoint. */
  changes = 0;
  /**
   * "topic/partition" → the processed offset it had before this process's first batch of it,
   * for a partition no checkpoint knew: where a rollback to a cut without it resumes.
   */
  readonly origins = new Map<string, number>();
  /**
   * Cluster mode: "topic/partition" of predictions partitions assigned whose lane is not restored
   * yet (lane-checkpoints.ts). Their batches are dropped; the restore seeks, which fetches
   * them again.
   */
  readonly pending = new Set<string>();
  /**
   * Cluster mode: "topic/partition" → the offset a restored lane was sought to, until a batch
   * fetched from it arrives. kafkajs keeps fetching from its own position until the seek is
   * applied, and a batch fetched so (say from offset 6 667, while the lane resumes at 0) may be
   * handed over after the restore, when the seek count no longer marks it stale: counted, it
   * would move the processed offset past the events before it, and the fetch from the seek
   * would then skip them as already processed (found by bench/cluster.bench.ts: 6 667 events of
   * a partition lost). Such batches are dropped (`fromResumePosition`).
   */
  readonly resumeAt = new Map<string, string>();
  /** "topic/partition" → seeks made by the source: batches fetched before one are dropped. */
  private readonly seekCounts = new Map<string, number>();

  /**
   * Whether a batch of the partition, fetched from `fetchedOffset` (kafkajs's Batch), may be
   * counted: always, unless its lane awaits the fetch from its resume offset (`resumeAt`); the
   * first batch fetched from there ends the wait.
   */
  fromResumePosition(
    topic: string,
    partition: number,
    fetchedOffset: string | undefined,
  ): boolean | 'moved' {
    const k = partitionKey(topic, partition);
    const at = this.resumeAt.get(k);
    if (at === undefined) return true;
    if (fetchedOffset !== at) {
      // Only the batches already fetched or queued when the seek was made come from elsewhere
      // (a few); this many means Kafka itself moved the position (the resume offset is gone:
      // retention), as it does for a single instance: counted from there ('moved': say so).
      const dropped = (this.resumeDrops.get(k) ?? 0) + 1;
      this.resumeDrops.set(k, dropped);
      if (dropped <= MAX_RESUME_DROPS) return false;
    }
    this.resumeAt.delete(k);
    this.resumeDrops.delete(k);
    return fetchedOffset === at ? true : 'moved';
  }
  private readonly resumeDrops = new Map<string, number>();

  /** How often the source sought the partition (a batch remembers it when handed over). */
  seeks(topic: string, partition: number): number {
    return this.seekCounts.get(partitionKey(topic, partition)) ?? 0;
  }

  /**
   * Records a seek of the partition by the source: batches handed over before it are stale
   * (kafkajs's own `isStale` stops saying so once the seek is applied, while they may still
   * be queued), and the seek fetches their messages again.
   */
  sought(topic: string, partition: number): void {
    const k = partitionKey(topic, partition);
    this.seekCounts.set(k, (this.seekCounts.get(k) ?? 0) + 1);
  }

  /** The progress map of `topic`: the predictions' (`processed`) or the labels'. */
  of(topic: string): Map<string, number> {
    return topic === this.predictionsTopic ? this.processed : this.labelsProcessed;
  }

  /** The first offset of the partition not processed yet, if this process has progress for it. */
  next(topic: string, partition: number): string | undefined {
    const last = this.of(topic).get(partitionKey(topic, partition));
    return last === undefined ? undefined : String(last + 1);
  }

  /** The partition is assigned to this member. */
  owns(topic: string, partition: number): boolean {
    return this.assigned.get(topic)?.includes(partition) ?? false;
  }

  /** The next offset to process of every partition in `done` (what a checkpoint records). */
  static positions(done: ReadonlyMap<string, number>): PartitionOffset[] {
    const out: PartitionOffset[] = [];
    for (const [k, offset] of done) {
      const slash = k.lastIndexOf('/');
      out.push({
        topic: k.slice(0, slash),
        partition: Number(k.slice(slash + 1)),
        offset: String(offset + 1),
      });
    }
    return out;
  }
}
