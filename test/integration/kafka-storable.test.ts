/**
 * Accepted means storable over Kafka (real broker, real embedded ClickHouse), with the decode
 * thread and without it: each unstorable prediction is dead-lettered with its reason, the
 * partition keeps going, and a far-future event moves no watermark (the valid events around
 * it are counted on time).
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Producer } from 'kafkajs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildProfileFromRows } from '../../src/baseline/index.js';
import { validateConfig } from '../../src/config/index.js';
import { createDaemon } from '../../src/daemon.js';
import { DEAD_LETTER_HEADERS } from '../../src/ingest/kafka/index.js';
import { createStore } from '../../src/store/index.js';
import {
  createTestTopic,
  deleteTopics,
  kafkaBrokers,
  readTopic,
  requireKafkaOrSkip,
  testKafka,
  uniqueGroupId,
} from '../helpers/kafka.js';

const { available } = await requireKafkaOrSkip();

/** In the past of the daemon's clock (live sources reject times more than an hour ahead). */
const T0 = Date.parse('2026-11-22T10:00:00Z');

describe.skipIf(!available)('Kafka: accepted means storable (real broker, real chDB)', () => {
  const kafka = testKafka('driftd-test-kafka-storable');
  let producer: Producer;
  const topics: string[] = [];
  const dirs: string[] = [];

  beforeAll(async () => {
    producer = kafka.producer();
    await producer.connect();
  });
  afterAll(async () => {
    await producer?.disconnect();
    await deleteTopics(...topics);
    await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })));
  });

  const event = (id: string, ts: unknown, region = 'EU') =>
    JSON.stringify({
      model: 'm',
      version: '1',
      id,
      ts,
      features: { x: 1, region },
      prediction: 0.5,
    });
  const iso = (ms: number) => new Date(ms).toISOString();

  it.each([
    ['with the decode thread', true],
    ['on the event loop', false],
  ])('dead-letters each unstorable prediction with its reason, %s', async (_, decodeThread) => {
    const name = decodeThread ? 'thread' : 'loop';
    const [predictions, labels, dlq] = await Promise.all([
      createTestTopic(`it-storable-${name}-predictions`, 1),
      createTestTopic(`it-storable-${name}-labels`, 1),
      createTestTopic(`it-storable-${name}-dlq`, 1),
    ]);
    topics.push(predictions, labels, dlq);
    const dir = await mkdtemp(join(tmpdir(), 'driftd-kafka-storable-'));
    dirs.push(dir);
    const config = validateConfig(
      {
        dataDir: dir,
        server: { host: '127.0.0.1', port: 0 },
        logLevel: 'silent',
        kafka: {
          brokers: kafkaBrokers(),
          groupId: uniqueGroupId(`it-storable-${name}`),
          predictionsTopic: predictions,
          labelsTopic: labels,
          deadLetterTopic: dlq,
        },
        models: [
          {
            id: 'm',
            task: 'regression',
            features: [
              { name: 'x', type: 'numeric' },
              { name: 'region', type: 'categorical' },
            ],
            windows: { sizes: ['1m'], allowedLateness: '0s', idleTimeout: '10m' },
            drift: { minWindowSize: 1 },
          },
        ],
      },
      { env: {} },
    );
    const store = createStore(config.store);
    await store.migrate();
    const rows = Array.from({ length: 100 }, () => ({
      features: { x: 1, region: 'EU' },
      prediction: 0.5,
    }));
    await store.saveBaseline(buildProfileFromRows(config.models[0]!, '1', rows).profile);
    const daemon = createDaemon(config, {
      store,
      listen: false,
      tickMs: 100,
      kafka: {
        decodeThread,
        checkpointIntervalMs: 300,
        maxWaitTimeMs: 100,
        kafkaLogLevel: 'nothing',
      },
    });
    await daemon.start();
    try {
      const bad: Array<[string, string]> = [
        [event('b-1', '1899-12-31T23:59:59Z'), 'ts_out_of_range'],
        [event('b-2', '2299-12-31T23:00:00Z'), 'ts_in_future'],
        [event('b-3', Math.floor(T0 / 1000)), 'ts_epoch_seconds'],
        [event('b-4', iso(T0)).replace('"x":', '"x":2,"x":'), 'duplicate_key'],
        [event('b-5', iso(T0)).replace('"b-5"', '"b-\\ud800"'), 'lone_surrogate'],
        [event('b-6', iso(T0), 'r'.repeat(300)), 'too_long'],
      ];
      await producer.send({
        topic: predictions,
        acks: -1,
        messages: [
          event('good-1', iso(T0)),
          ...bad.map(([value]) => value),
          event('good-2', iso(T0 + 1_000)),
          // Closes the first window (allowed lateness 0).
          event('closer', iso(T0 + 120_000)),
        ].map((value, i) => ({ key: `k-${i}`, value })),
      });
      const dead = await readTopic(kafka, dlq, bad.length);
      const reasons = dead
        .sort((a, b) => Number(a.offset) - Number(b.offset))
        .map((m) => m.headers?.[DEAD_LETTER_HEADERS.reason]?.toString());
      expect(reasons).toEqual(bad.map(([, reason]) => reason));
      // The valid events before and after the bad ones were counted, on time.
      const deadline = Date.now() + 30_000;
      let window: Awaited<ReturnType<typeof store.queryDrift>>[number] | undefined;
      while (window === undefined && Date.now() < deadline) {
        [window] = await store.queryDrift({ model: 'm', window: '1m', from: T0, to: T0 + 1 });
        if (window === undefined) await new Promise((r) => setTimeout(r, 100));
      }
      expect(window?.eventCount).toBe(2);
      expect(window?.lateCount).toBe(0);
    } finally {
      await daemon.close();
    }
  });
});
