/**
 * Where each partition stands: the last offset processed per partition (for the predictions
 * topic: what the windows hold), the current assignment, and how much changed since the last
 * checkpoint. kafkajs tracks its own positions (offsetManager); these are the source's, and the
 * checkpoint (checkpoints.ts), not Kafka's committed offset, is their source of truth.
 */

/** The key of a partition in the maps below: "topic/partition". */
export const partitionKey = (topic: string, partition: number) => `${topic}/${partition}`;

export class PartitionProgress {
  /** "topic/partition" → last processed offset (predictions: what the windows hold). */
  readonly processed = new Map<string, number>();
  readonly labelsProcessed = new Map<string, number>();
  /** Current assignment: topic → partitions. */
  assigned = new Map<string, number[]>();
  /** Batches processed (and messages passed) since the last checkpoint. */
  changes = 0;
}
