/**
 * A Kafka message whose processing keeps failing, against the real broker and the real
 * embedded ClickHouse: it is tried a bounded number of times, then dead-lettered with the
 * error, and its partition moves on; every other message is counted exactly once.
 *
 * Test double, named in the test: the pipeline's `record` patched to throw for one event
 * id (what a decoder or window bug on one message does).
 */
import type { KafkaMessage } from 'kafkajs';
import { afterAll, describe, expect, it } from 'vitest';
import { DEAD_LETTER_HEADERS, MAX_BATCH_ATTEMPTS } from '../../src/ingest/kafka/index.js';
import type { SourcedEvent } from '../../src/ingest/source.js';
import { readTopic, requireKafkaOrSkip, testKafka } from '../helpers/kafka.js';
import {
  event,
  type KafkaDaemonSetup,
  MINUTE,
  MODEL,
  metricValue,
  normals,
  openStore,
  setupKafkaDaemon,
  startKafkaDaemon,
  T0,
  waitFor,
} from '../helpers/kafka-daemon.js';

const { available } = await requireKafkaOrSkip();

const header = (m: KafkaMessage, name: string) => m.headers?.[name]?.toString();

describe.skipIf(!available)('Kafka poison messages (real broker, real embedded ClickHouse)', () => {
  const kafka = testKafka('driftd-test-kafka-poison');
  const setups: KafkaDaemonSetup[] = [];

  afterAll(async () => {
    await Promise.all(setups.map((s) => s.cleanup()));
  });

  it('dead-letters a message whose processing keeps failing after bounded attempts; the partition moves on (test double: record throws for one id)', async () => {
    const s = await setupKafkaDaemon('poison');
    setups.push(s);
    const store = await openStore(s.config);
    const d = await startKafkaDaemon(s.config, store);
    const producer = kafka.producer();
    await producer.connect();
    try {
      const pipeline = d.pipeline;
      const record = pipeline.record.bind(pipeline);
      let failures = 0;
      pipeline.record = (events: readonly SourcedEvent[]) => {
        if (events.some((e) => e.event.id === 'poison')) {
          failures++;
          throw new TypeError('test double: cannot record this event');
        }
        record(events);
      };
      // Partition 0: 50 events, the poison one at offset 20; partitions 1 and 2: 50 each. One
      // send per partition, so the poison shares its fetch batch with the others.
      const z = normals(5);
      const events = [0, 1, 2].flatMap((partition) =>
        Array.from({ length: 50 }, (_, i) => ({
          partition,
          e: event(
            partition === 0 && i === 20 ? 'poison' : `p${partition}-${i}`,
            T0 + Math.floor((i * MINUTE) / 50),
            z,
          ),
        })),
      );
      const late = [0, 1, 2].map((partition) => ({
        partition,
        e: event(`sentinel-${partition}`, T0 + 60 * MINUTE, z),
      }));
      for (const batch of [events, late]) {
        await producer.send({
          topic: s.predictions,
          acks: -1,
          messages: batch.map(({ partition, e }) => ({ partition, value: JSON.stringify(e) })),
        });
      }
      const [window] = await waitFor('the closed window', async () => {
        const w = await store.queryDrift({
          model: MODEL,
          window: '1m',
          from: T0,
          to: T0 + 30 * MINUTE,
        });
        return w.length === 1 ? w : undefined;
      });
      // Every event but the poison one, each once.
      expect(window!.eventCount).toBe(149);
      const [dead, ...more] = await readTopic(kafka, s.dlq, 1, { lingerMs: 500 });
      expect(more).toHaveLength(0);
      expect(header(dead!, DEAD_LETTER_HEADERS.reason)).toBe('processing_failed');
      expect(header(dead!, DEAD_LETTER_HEADERS.partition)).toBe('0');
      expect(header(dead!, DEAD_LETTER_HEADERS.offset)).toBe('20');
      expect(header(dead!, DEAD_LETTER_HEADERS.error)).toMatch(/TypeError: test double/);
      expect(JSON.parse(dead!.value!.toString()).id).toBe('poison');
      // Bounded: the batch MAX_BATCH_ATTEMPTS times, then the message alone once.
      expect(failures).toBe(MAX_BATCH_ATTEMPTS + 1);
      expect(
        await metricValue(d, 'driftd_dead_letter_total', { reason: 'processing_failed' }),
      ).toBe(1);
      expect(await metricValue(d, 'driftd_events_total', { result: 'accepted' })).toBe(152);
      await d.kafka!.checkpoint();
      const raw = await store.windowEvents({
        model: MODEL,
        version: '3',
        from: T0,
        to: T0 + MINUTE,
      });
      expect(raw).toHaveLength(149);
    } finally {
      await producer.disconnect();
      await d.close();
    }
  }, 60_000);

  it('counts a batch once when recording fails part-way and the batch is retried: the offset moves exactly past what was counted (test double: the window manager throws once, at the 31st event)', async () => {
    const s = await setupKafkaDaemon('partial');
    setups.push(s);
    const store = await openStore(s.config);
    const d = await startKafkaDaemon(s.config, store);
    const producer = kafka.producer();
    await producer.connect();
    try {
      const manager = d.pipeline.managers.get(MODEL)!;
      const record = manager.record.bind(manager);
      let calls = 0;
      manager.record = (e, meta) => {
        if (++calls === 31) throw new TypeError('test double: a transient window failure');
        return record(e, meta);
      };
      const z = normals(7);
      const events = [0, 1, 2].flatMap((partition) =>
        Array.from({ length: 50 }, (_, i) => ({
          partition,
          e: event(`q${partition}-${i}`, T0 + Math.floor((i * MINUTE) / 50), z),
        })),
      );
      const late = [0, 1, 2].map((partition) => ({
        partition,
        e: event(`sentinel-${partition}`, T0 + 60 * MINUTE, z),
      }));
      for (const batch of [events, late]) {
        await producer.send({
          topic: s.predictions,
          acks: -1,
          messages: batch.map(({ partition, e }) => ({ partition, value: JSON.stringify(e) })),
        });
      }
      const [window] = await waitFor('the closed window', async () => {
        const w = await store.queryDrift({
          model: MODEL,
          window: '1m',
          from: T0,
          to: T0 + 30 * MINUTE,
        });
        return w.length === 1 ? w : undefined;
      });
      expect(calls).toBeGreaterThan(31);
      // Every event once: the 30 counted before the failure are not counted again.
      expect(window!.eventCount).toBe(150);
      expect(await metricValue(d, 'driftd_events_total', { result: 'accepted' })).toBe(153);
      expect(await metricValue(d, 'driftd_dead_letter_total')).toBe(0);
    } finally {
      await producer.disconnect();
      await d.close();
    }
  }, 60_000);
});
