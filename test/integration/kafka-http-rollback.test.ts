/**
 * A daemon taking HTTP events beside Kafka (real broker, real embedded ClickHouse): an HTTP
 * request whose raw insert fails is counted zero times there too. The Kafka checkpoint owns
 * the cut of both inputs, so the rollback restores it and fetches the Kafka partitions again
 * from it: the Kafka events counted after the cut are counted again, once.
 *
 * Test double, named in the test: a store wrapper fails one raw insert (a full disk).
 */
import { afterAll, describe, expect, it } from 'vitest';
import { StoreError } from '../../src/errors.js';
import type { Store } from '../../src/store/types.js';
import { requireKafkaOrSkip, testKafka } from '../helpers/kafka.js';
import {
  event,
  type KafkaDaemonSetup,
  MINUTE,
  MODEL,
  normals,
  openStore,
  setupKafkaDaemon,
  startKafkaDaemon,
  T0,
  waitFor,
} from '../helpers/kafka-daemon.js';

const { available } = await requireKafkaOrSkip();

describe.skipIf(!available)(
  'HTTP beside Kafka: a failed request is counted zero times (real broker, real embedded ClickHouse)',
  () => {
    const kafka = testKafka('driftd-test-kafka-http-rollback');
    const setups: KafkaDaemonSetup[] = [];

    afterAll(async () => {
      await Promise.all(setups.map((s) => s.cleanup()));
    });

    it('rolls back to the Kafka checkpoint and fetches again (test double: a store wrapper fails one raw insert)', async () => {
      const s = await setupKafkaDaemon('http-rollback');
      setups.push(s);
      const real = await openStore(s.config);
      let failNext = false;
      const store: Store = Object.create(real) as Store;
      store.insertEncodedEvents = async (batches) => {
        if (failNext) {
          failNext = false;
          throw new StoreError('simulated: no space left on device', { clickhouseCode: 243 });
        }
        return real.insertEncodedEvents(batches);
      };
      const d = await startKafkaDaemon(s.config, store);
      const producer = kafka.producer();
      await producer.connect();
      const z = normals(11);
      const open = () =>
        d.pipeline.managers
          .get(MODEL)!
          .snapshot()
          .open.filter((w) => w.bounds.start === T0)
          .reduce((n, w) => n + w.count, 0);
      const produce = (ids: string[]) =>
        producer.send({
          topic: s.predictions,
          acks: -1,
          messages: ids.map((id, i) => ({
            partition: i % 3,
            value: JSON.stringify(event(id, T0 + 1_000 + i, z)),
          })),
        });
      const post = (ids: string[]) =>
        d.app.inject({
          method: 'POST',
          url: '/api/v1/events',
          payload: ids.map((id, i) => event(id, T0 + 20_000 + i, z)),
        });
      try {
        await waitFor('the group join', () => (d.kafka!.joined ? true : undefined));
        await produce(Array.from({ length: 30 }, (_, i) => `k-${i}`));
        await waitFor('30 Kafka events', () => (open() === 30 ? true : undefined));
        await d.kafka!.checkpoint();
        // After the cut: 9 more from Kafka, and an HTTP request that is stored.
        await produce(Array.from({ length: 9 }, (_, i) => `k2-${i}`));
        await waitFor('39 Kafka events', () => (open() === 39 ? true : undefined));
        expect((await post(['h-0', 'h-1'])).statusCode).toBe(202);
        expect(open()).toBe(41);

        // A request whose raw insert fails for good.
        failNext = true;
        const failed = await post(Array.from({ length: 20 }, (_, i) => `f-${i}`));
        expect(failed.statusCode).toBe(503);
        await waitFor('the rollback', () => (d.pipeline.input.healthy ? true : undefined));
        // The failed request left nothing; the Kafka events after the cut come back once.
        await waitFor('41 events again', () => (open() === 41 ? true : undefined));
        await new Promise((r) => setTimeout(r, 1_000));
        expect(open()).toBe(41);

        // The client sends it again: counted once.
        expect((await post(Array.from({ length: 20 }, (_, i) => `f-${i}`))).statusCode).toBe(202);
        expect(open()).toBe(61);
        // More Kafka traffic flows as before.
        await produce(Array.from({ length: 6 }, (_, i) => `k3-${i}`));
        await waitFor('67 events', () => (open() === 67 ? true : undefined));
        await d.kafka!.checkpoint();
        const raw = await real.windowEvents({
          model: MODEL,
          version: '3',
          from: T0,
          to: T0 + MINUTE,
        });
        expect(new Set(raw.map((e) => e.id)).size).toBe(67);
      } finally {
        await producer.disconnect();
        await d.close();
      }
    }, 90_000);
  },
);
