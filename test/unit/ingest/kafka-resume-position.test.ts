/**
 * A restored cluster lane resumes at its checkpoint's offset: batches kafkajs fetched from its
 * own position before the restore's seek took effect are not counted (bench/cluster.bench.ts
 * lost 6 667 events of a partition when one was: it moved the processed offset past the
 * events before it, and the fetch from the seek then skipped them as already processed).
 */
import { describe, expect, it } from 'vitest';
import { PartitionProgress } from '../../../src/ingest/kafka/partition-progress.js';

describe('PartitionProgress.fromResumePosition', () => {
  it('drops batches fetched from elsewhere until one fetched from the resume offset arrives', () => {
    const p = new PartitionProgress('preds');
    p.resumeAt.set('preds/3', '0');
    // Fetched from kafkajs's own position (6 667) before the seek to 0 applied.
    expect(p.fromResumePosition('preds', 3, '6667')).toBe(false);
    expect(p.fromResumePosition('preds', 3, '13334')).toBe(false);
    // The fetch from the seek.
    expect(p.fromResumePosition('preds', 3, '0')).toBe(true);
    // Then every batch counts (the offset guard skips re-deliveries).
    expect(p.fromResumePosition('preds', 3, '6667')).toBe(true);
  });

  it('leaves other partitions and lanes without a resume offset alone', () => {
    const p = new PartitionProgress('preds');
    p.resumeAt.set('preds/3', '100');
    expect(p.fromResumePosition('preds', 4, '7')).toBe(true);
    expect(p.fromResumePosition('preds', 3, '7')).toBe(false);
  });

  it("takes Kafka's position once far more batches than a fetch pipeline holds came from elsewhere (the offset is gone)", () => {
    const p = new PartitionProgress('preds');
    p.resumeAt.set('preds/0', '5');
    let answer: boolean | 'moved' = false;
    let n = 0;
    while (answer === false && n < 1000) {
      answer = p.fromResumePosition('preds', 0, '900');
      n++;
    }
    expect(answer).toBe('moved');
    expect(n).toBeGreaterThan(8);
    expect(p.fromResumePosition('preds', 0, '901')).toBe(true);
  });
});
