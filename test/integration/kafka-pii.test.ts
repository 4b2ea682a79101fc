/**
 * PII and data minimisation on the Kafka source (real Kafka broker, real embedded
 * ClickHouse): prediction messages of a model with PII fields (decoded on the event loop, not
 * by the decode thread) are stored with their PII fields and id hashed under the key and
 * without the fields the config does not name; a label sent with the clear id joins its
 * prediction; a model without PII drops unlisted fields too (its messages leave the decode
 * thread's fast path).
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Producer } from 'kafkajs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { validateConfig } from '../../src/config/index.js';
import { createDaemon, type Daemon } from '../../src/daemon.js';
import { piiKeyOf, piiTransform, storedId } from '../../src/privacy/pii.js';
import {
  createTestTopic,
  deleteTopics,
  kafkaBrokers,
  requireKafkaOrSkip,
  testKafka,
  uniqueGroupId,
} from '../helpers/kafka.js';

const { available } = await requireKafkaOrSkip();
const KEY = 'kafka-pii-test-key-0123456789abcdefgh';
const T0 = Date.parse('2026-11-22T10:00:00Z');

describe.skipIf(!available)('PII on the Kafka source (real broker, real embedded store)', () => {
  const kafka = testKafka('driftd-test-kafka-pii');
  let producer: Producer;
  let daemon: Daemon;
  const topics: string[] = [];
  let dir: string;

  beforeAll(async () => {
    producer = kafka.producer();
    await producer.connect();
    const [predictions, labels, dlq] = await Promise.all([
      createTestTopic('it-pii-predictions', 1),
      createTestTopic('it-pii-labels', 1),
      createTestTopic('it-pii-dlq', 1),
    ]);
    topics.push(predictions, labels, dlq);
    dir = await mkdtemp(join(tmpdir(), 'driftd-kafka-pii-'));
    const features = [
      { name: 'income', type: 'numeric' },
      { name: 'postcode', type: 'categorical' },
    ];
    const config = validateConfig(
      {
        dataDir: dir,
        server: { host: '127.0.0.1', port: 0 },
        logLevel: 'silent',
        kafka: {
          brokers: kafkaBrokers(),
          groupId: uniqueGroupId('it-pii'),
          predictionsTopic: predictions,
          labelsTopic: labels,
          deadLetterTopic: dlq,
        },
        models: [
          { id: 'pii', task: 'binary-classification', features, piiFields: ['postcode', 'id'] },
          { id: 'plain', task: 'binary-classification', features },
        ],
      },
      { env: { DRIFTD_PII_KEY: KEY } },
    );
    daemon = createDaemon(config, {
      listen: false,
      tickMs: 100,
      kafka: {
        checkpointIntervalMs: 300,
        sessionTimeoutMs: 6_000,
        heartbeatIntervalMs: 500,
        maxWaitTimeMs: 100,
        kafkaLogLevel: 'nothing',
      },
    });
    await daemon.start();
    const message = (model: string, i: number) => ({
      value: JSON.stringify({
        model,
        version: '1',
        id: `cust-${i}`,
        ts: new Date(T0 + i).toISOString(),
        features: { income: 1000 + i, postcode: `ZIP-${i}`, nickname: 'jj' },
        prediction: 0.5,
        customer_name: 'Jane Doe',
      }),
    });
    const messages = [];
    for (let i = 0; i < 20; i++) messages.push(message('pii', i), message('plain', i));
    await producer.send({ topic: predictions, acks: -1, messages });
    await producer.send({
      topic: labels,
      acks: -1,
      messages: [{ value: JSON.stringify({ model: 'pii', id: 'cust-3', label: 1 }) }],
    });
  }, 60_000);

  afterAll(async () => {
    await daemon?.close();
    await producer?.disconnect();
    await deleteTopics(...topics);
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('stores PII hashed and unlisted fields nowhere; the clear-id label joins', async () => {
    const key = piiKeyOf(daemon.config)!;
    const model = daemon.config.models[0]!;
    const id = storedId(model, 'cust-3', key);
    const deadline = Date.now() + 30_000;
    let found = await daemon.store.getPrediction(id, { model: 'pii' });
    while ((found?.label ?? null) === null && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 200));
      found = await daemon.store.getPrediction(id, { model: 'pii' });
    }
    expect(found?.event.features).toEqual({
      income: 1003,
      postcode: piiTransform('ZIP-3', key),
    });
    expect(found?.raw).toBeNull();
    expect(found?.label?.label).toBe(1);
    expect(JSON.stringify(found)).not.toMatch(/cust-3|ZIP-3|Jane|"jj"/);

    let plain = await daemon.store.getPrediction('cust-19', { model: 'plain' });
    while (plain === null && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 200));
      plain = await daemon.store.getPrediction('cust-19', { model: 'plain' });
    }
    expect(plain?.event.features).toEqual({ income: 1019, postcode: 'ZIP-19' });
    expect(plain?.raw).toBeNull();
  });
});
