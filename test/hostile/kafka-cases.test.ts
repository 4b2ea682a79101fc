/**
 * Each hostile case of cases.ts alone in a Kafka message between two plain events, on the real
 * broker, decoded by the event loop's general path (the decode thread off: the path every
 * message of a model with PII fields takes) — the Kafka flood (kafka.test.ts) runs with the
 * decode thread and its scanner. Per case: dead-lettered with its reason, or accepted and
 * counted into its window; the partition moves on.
 */
import type { Producer } from 'kafkajs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { requireKafkaOrSkip, testKafka } from '../helpers/kafka.js';
import {
  active,
  FLOOD,
  type Generated,
  type ItemCase,
  KAFKA_ONLY_CASES,
  LABEL_CASES,
  PREDICTION_CASES,
} from './cases.js';
import { checkDeadLetters, PARTITIONS, type Rig, startRig, waitUntil } from './kafka-rig.js';
import { Mismatches, storedCounts, T0, tallyWindows } from './setup.js';

const { available } = await requireKafkaOrSkip();

const PREDICTIONS = active([...PREDICTION_CASES, ...KAFKA_ONLY_CASES]).filter(
  (c) => c.kafka !== null,
);
const LABELS = active(LABEL_CASES).filter((c) => c.kafka !== null);

describe.skipIf(!available)(
  'each hostile case alone over Kafka, decode thread off (real broker, real embedded store)',
  () => {
    const kafka = testKafka('driftd-test-hostile-cases');
    let producer: Producer;
    let rig: Rig;

    beforeAll(async () => {
      producer = kafka.producer();
      await producer.connect();
      rig = await startRig('cases', producer, { decodeThread: false });
    }, 120_000);

    afterAll(async () => {
      await rig?.close();
      await producer?.disconnect();
    });

    /** [plain, case, plain], ids `${prefix}-${k}-{0,1,2}`, event times 1 ms apart from `ts`. */
    function triples(cases: readonly ItemCase[], plain: ItemCase, prefix: string, ts: number) {
      return cases.flatMap((c, k) =>
        [plain, c, plain].map((cc, j): Generated => {
          const item = { id: `${prefix}-${k}-${j}`, ts: ts + 3 * k + j };
          const made = cc.make(item);
          return { c: cc, item, bytes: typeof made === 'string' ? Buffer.from(made) : made };
        }),
      );
    }

    it('each prediction and label case between two plain events: its dead letter and reason, or counted in its window', async () => {
      // All on one partition, in order: a message that stalled it would hold back every later one.
      const items = triples(PREDICTIONS, PREDICTIONS[0]!, 'p', T0);
      await rig.produce('predictions', items, () => 0);
      await rig.produce('labels', triples(LABELS, LABELS[0]!, 'l', T0), () => 0);
      // A plain event on every partition a few minutes on: the test's windows close.
      const closer = Array.from({ length: PARTITIONS }, (_, k): Generated => {
        const item = { id: `closer-${k}`, ts: T0 + 10 * 60_000 };
        return {
          c: PREDICTIONS[0]!,
          item,
          bytes: Buffer.from(PREDICTIONS[0]!.make(item) as string),
        };
      });
      await rig.produce('predictions', closer, (k) => k, 0);
      await waitUntil(
        'every message consumed',
        async () => (await rig.processed()) >= rig.total,
        60_000,
      );

      const mm = new Mismatches();
      const extra = await checkDeadLetters(kafka, rig, mm, () => false);
      expect.soft(extra.slice(0, 10), 'dead letters of valid messages').toEqual([]);
      for (const [name, problems] of mm.entries())
        expect.soft(problems, `case "${name}"`).toEqual([]);

      const windows = await storedCounts(rig.store, FLOOD, T0, T0 + 5 * 60_000);
      const tally = tallyWindows(rig.sent.filter((s) => s.topic === 'predictions'));
      expect(Object.fromEntries(windows), 'FLOOD window event counts').toEqual(
        Object.fromEntries(tally),
      );
    }, 120_000);
  },
);
