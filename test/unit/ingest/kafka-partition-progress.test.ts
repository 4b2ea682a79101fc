/**
 * The Kafka source's partition progress (src/ingest/kafka/partition-progress.ts): which map a
 * topic's progress is in, the first offset not processed, ownership, and the offsets a
 * checkpoint records (the next one to process, topic names with slashes included).
 */
import { describe, expect, it } from 'vitest';
import { PartitionProgress, partitionKey } from '../../../src/ingest/kafka/partition-progress.js';

describe('PartitionProgress', () => {
  it('keeps predictions and labels apart, and answers the first offset not processed', () => {
    const p = new PartitionProgress('preds');
    p.of('preds').set(partitionKey('preds', 0), 41);
    p.of('labels').set(partitionKey('labels', 0), 7);
    expect(p.processed.get('preds/0')).toBe(41);
    expect(p.labelsProcessed.get('labels/0')).toBe(7);
    expect(p.next('preds', 0)).toBe('42');
    expect(p.next('labels', 0)).toBe('8');
    expect(p.next('preds', 1)).toBeUndefined();
  });

  it('owns only the partitions assigned', () => {
    const p = new PartitionProgress('preds');
    expect(p.owns('preds', 0)).toBe(false);
    p.assigned = new Map([['preds', [0, 2]]]);
    expect(p.owns('preds', 2)).toBe(true);
    expect(p.owns('preds', 1)).toBe(false);
    expect(p.owns('labels', 0)).toBe(false);
  });

  it('records the next offset to process of each partition for a checkpoint', () => {
    const done = new Map([
      [partitionKey('a/b', 3), 9],
      [partitionKey('preds', 0), -1],
    ]);
    expect(PartitionProgress.positions(done)).toEqual([
      { topic: 'a/b', partition: 3, offset: '10' },
      { topic: 'preds', partition: 0, offset: '0' },
    ]);
  });

  it('counts the seeks of each partition (batches fetched before one are dropped)', () => {
    const p = new PartitionProgress('preds');
    expect(p.seeks('preds', 0)).toBe(0);
    p.sought('preds', 0);
    p.sought('preds', 0);
    expect(p.seeks('preds', 0)).toBe(2);
    expect(p.seeks('preds', 1)).toBe(0);
  });
});
