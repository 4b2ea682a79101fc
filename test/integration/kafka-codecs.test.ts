/**
 * Kafka compression codecs against the real broker, with batches compressed by Kafka's own Java
 * producer (kafka-clients through `bash scripts/kafka.sh produce`): gzip, snappy, lz4 and zstd
 * are consumed like uncompressed batches; a batch that cannot be decompressed is dead-lettered
 * after bounded attempts and its partition moves on; and while a partition is stuck (the
 * consumer crash-looping on a batch kafkajs cannot read at all), the lag gauge says how far
 * behind it is.
 *
 * Test doubles, named in their tests: a snappy codec that always fails, and kafkajs's own
 * "no snappy codec" put back behind driftd's back (the crash loop of issue 14).
 */
import kafkajs, { type KafkaMessage } from 'kafkajs';
import { afterAll, describe, expect, it } from 'vitest';
import type { Daemon } from '../../src/daemon.js';
import { DEAD_LETTER_HEADERS } from '../../src/ingest/kafka/index.js';
import { guardCodec, MAX_DECOMPRESS_ATTEMPTS } from '../../src/ingest/kafka/undecodable.js';
import type { Store } from '../../src/store/types.js';
import { readTopic, requireKafkaOrSkip, testKafka } from '../helpers/kafka.js';
import {
  event,
  javaProduce,
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
const { CompressionCodecs, CompressionTypes } = kafkajs;
const codecs = CompressionCodecs as unknown as Record<number, () => unknown>;

const header = (m: KafkaMessage, name: string) => m.headers?.[name]?.toString();

describe.skipIf(!available)('Kafka compression codecs (real broker, Java producer)', () => {
  const kafka = testKafka('driftd-test-kafka-codecs');
  const setups: KafkaDaemonSetup[] = [];

  afterAll(async () => {
    await Promise.all(setups.map((s) => s.cleanup()));
  });

  async function start(name: string): Promise<{ s: KafkaDaemonSetup; store: Store; d: Daemon }> {
    const s = await setupKafkaDaemon(name);
    setups.push(s);
    const store = await openStore(s.config);
    const d = await startKafkaDaemon(s.config, store);
    return { s, store, d };
  }

  /** `n` events of minute `minute` (in time order), as Java producer lines. */
  function lines(
    codec: string,
    topic: string,
    prefix: string,
    n: number,
    minute: number,
    partition?: number,
  ) {
    const z = normals(n + minute);
    return Array.from({ length: n }, (_, i) => ({
      codec,
      topic,
      partition: partition ?? i % 3,
      value: JSON.stringify(
        event(`${prefix}-${i}`, T0 + minute * MINUTE + Math.floor((i * MINUTE) / n), z),
      ),
    }));
  }

  /** One event per partition an hour later: every partition's watermark passes the test's windows. */
  const sentinels = (topic: string, prefix: string) =>
    [0, 1, 2].flatMap((p) => lines('none', topic, `${prefix}-sentinel-${p}`, 1, 60, p));

  const windowsOf = (store: Store) =>
    store.queryDrift({ model: MODEL, window: '1m', from: T0, to: T0 + 30 * MINUTE });

  it('consumes batches the Java producer compressed with gzip, snappy, lz4 and zstd like uncompressed ones', async () => {
    const { s, store, d } = await start('codecs');
    try {
      // One minute per codec, 900 events each (300 per partition, ~70 kB: more than one lz4
      // block of 64 kB), uncompressed first as the reference.
      const order = ['none', 'gzip', 'snappy', 'lz4', 'zstd'];
      const n = 900;
      const out = await javaProduce([
        ...order.flatMap((codec, minute) => lines(codec, s.predictions, codec, n, minute)),
        ...sentinels(s.predictions, 'c'),
      ]);
      expect(out).toContain(`zstd ${n}`);
      const windows = await waitFor('5 closed windows', async () => {
        const w = await windowsOf(store);
        return w.length === 5 ? w : undefined;
      });
      expect(windows.map((w) => w.eventCount)).toEqual([n, n, n, n, n]);
      expect(windows.every((w) => w.lateCount === 0)).toBe(true);
      await d.kafka!.checkpoint();
      const raw = await store.windowEvents({
        model: MODEL,
        version: '3',
        from: T0,
        to: T0 + 5 * MINUTE,
      });
      const ids = new Set(raw.map((r) => r.id));
      expect(ids.size).toBe(5 * n);
      for (const codec of order) expect(ids.has(`${codec}-${n - 1}`)).toBe(true);
      expect(await metricValue(d, 'driftd_events_total', { result: 'accepted' })).toBe(5 * n + 3);
      expect(await metricValue(d, 'driftd_dead_letter_total')).toBe(0);
    } finally {
      await d.close();
    }
  }, 90_000);

  it('dead-letters a batch that cannot be decompressed after bounded attempts, and its partition moves on (test double: a snappy codec that always fails)', async () => {
    const { s, store, d } = await start('undecodable');
    const registered = codecs[CompressionTypes.Snappy]!;
    let tries = 0;
    codecs[CompressionTypes.Snappy] = guardCodec(CompressionTypes.Snappy, 'snappy', () => ({
      compress: async () => Buffer.alloc(0),
      decompress: async () => {
        tries++;
        throw new Error('test double: this snappy codec always fails');
      },
    }));
    try {
      // Partition 0: 30 plain, 40 in snappy batches (offsets 30–69), 30 plain; partitions 1
      // and 2: 30 plain each. All in minute 0.
      await javaProduce([
        ...lines('none', s.predictions, 'before', 30, 0, 0),
        ...lines('snappy', s.predictions, 'snappy', 40, 0, 0),
        ...lines('none', s.predictions, 'after', 30, 0, 0).map((l) => ({
          ...l,
          value: l.value.replace(/"ts":"[^"]+"/, `"ts":"${new Date(T0 + 59_000).toISOString()}"`),
        })),
        ...lines('none', s.predictions, 'other', 60, 0).map((l, i) => ({
          ...l,
          partition: 1 + (i % 2),
        })),
        ...sentinels(s.predictions, 'u'),
      ]);
      const [window] = await waitFor('the closed window', async () => {
        const w = await windowsOf(store);
        return w.length === 1 ? w : undefined;
      });
      expect(window!.eventCount).toBe(120);
      const dead = await readTopic(kafka, s.dlq, 1, { lingerMs: 500 });
      expect(dead.every((m) => header(m, DEAD_LETTER_HEADERS.reason) === 'undecodable_batch')).toBe(
        true,
      );
      expect(dead.every((m) => header(m, DEAD_LETTER_HEADERS.partition) === '0')).toBe(true);
      expect(dead.every((m) => header(m, DEAD_LETTER_HEADERS.compression) === 'snappy')).toBe(true);
      expect(dead.every((m) => (m.value?.length ?? 0) > 0)).toBe(true); // the compressed records
      expect(header(dead[0]!, DEAD_LETTER_HEADERS.error)).toMatch(/always fails/);
      // However the producer split them, the dead letters cover offsets 30–69 exactly.
      const ranges = dead
        .map((m) => [
          Number(header(m, DEAD_LETTER_HEADERS.offset)),
          Number(header(m, DEAD_LETTER_HEADERS.lastOffset)),
        ])
        .sort((a, b) => a[0]! - b[0]!);
      expect(ranges[0]![0]).toBe(30);
      expect(ranges.at(-1)![1]).toBe(69);
      expect(dead.reduce((n, m) => n + Number(header(m, DEAD_LETTER_HEADERS.records)), 0)).toBe(40);
      // Bounded: each batch was tried MAX_DECOMPRESS_ATTEMPTS times, plus, when two broken
      // batches share a fetch, the refetches the other one's failures cause (at most
      // MAX_DECOMPRESS_ATTEMPTS − 1 more each): never without end.
      expect(tries).toBeGreaterThanOrEqual(dead.length * MAX_DECOMPRESS_ATTEMPTS);
      expect(tries).toBeLessThanOrEqual(dead.length * (2 * MAX_DECOMPRESS_ATTEMPTS - 1));
      expect(
        await metricValue(d, 'driftd_dead_letter_total', { reason: 'undecodable_batch' }),
      ).toBe(dead.length);
      expect(await metricValue(d, 'driftd_events_total', { result: 'invalid' })).toBe(40);
      expect(await metricValue(d, 'driftd_events_total', { result: 'accepted' })).toBe(123);
    } finally {
      codecs[CompressionTypes.Snappy] = registered;
      await d.close();
    }
  }, 90_000);

  it('reports the true lag while a partition is stuck, and recovers once the codec is back (test double: no snappy codec, the crash loop of issue 14)', async () => {
    const { s, d } = await start('stuck');
    const lag = () =>
      metricValue(d, 'driftd_kafka_consumer_lag_messages', {
        topic: s.predictions,
        partition: '0',
      });
    const accepted = () => metricValue(d, 'driftd_events_total', { result: 'accepted' });
    const registered = codecs[CompressionTypes.Snappy]!;
    try {
      await javaProduce(lines('none', s.predictions, 'first', 20, 0, 0));
      await waitFor('20 events', async () => ((await accepted()) === 20 ? true : undefined));
      await waitFor('zero lag', async () => ((await lag()) === 0 ? true : undefined));
      // kafkajs's own default: every fetch of partition 0 throws KafkaJSNotImplemented, the
      // consumer crashes, reconnects, fetches the same bytes, crashes again.
      const NotImplemented = kafkajs.KafkaJSNotImplemented as unknown as new (m: string) => Error;
      codecs[CompressionTypes.Snappy] = () => {
        throw new NotImplemented('Snappy compression not implemented');
      };
      await javaProduce([
        ...lines('snappy', s.predictions, 'stuck', 10, 1, 0),
        ...lines('none', s.predictions, 'behind', 15, 2, 0),
      ]);
      // 25 messages behind, and the gauge says so while nothing moves.
      await waitFor('lag 25', async () => ((await lag()) === 25 ? true : undefined), 10_000);
      expect(await accepted()).toBe(20);
      await new Promise((r) => setTimeout(r, 1_000));
      expect(await lag()).toBe(25);
      // The codec back: the partition moves on by itself.
      codecs[CompressionTypes.Snappy] = registered;
      await waitFor(
        '45 events',
        async () => ((await accepted()) === 45 ? true : undefined),
        30_000,
      );
      await waitFor('zero lag again', async () => ((await lag()) === 0 ? true : undefined));
    } finally {
      codecs[CompressionTypes.Snappy] = registered;
      await d.close();
    }
  }, 90_000);
});
