/**
 * Version comparison on the Kafka path (real broker, real embedded store): the comparison is
 * written through the Kafka source's retrying `write`, and in shadow mode the raw rows the
 * shadow query joins are flushed first (the Kafka path buffers them), so every id both
 * versions scored is matched.
 */
import { afterAll, describe, expect, it } from 'vitest';
import type { Daemon } from '../../src/daemon.js';
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

describe.skipIf(!available)('version comparison over Kafka (real broker)', () => {
  const kafka = testKafka('driftd-test-kafka-comparison');
  let setup: KafkaDaemonSetup | undefined;
  let daemon: Daemon | undefined;
  let store: Store | undefined;

  afterAll(async () => {
    await daemon?.close();
    await store?.close();
    await setup?.cleanup();
  });

  it('compares the versions of each window once both closed, shadow agreement over every shared id', async () => {
    setup = await setupKafkaDaemon('comparison');
    const base = setup.config;
    const model = base.models[0]!;
    const config = {
      ...base,
      models: [
        {
          ...model,
          versions: { ...model.versions, baselineFallback: 'latest' as const },
          comparison: { champion: '3', challengers: null, shadow: true },
        },
      ],
    };
    store = await openStore(config);
    daemon = await startKafkaDaemon(config, store);

    // Two windows; every id scored by both versions (the challenger shifted by +0.2). Then
    // events of a third window on every partition (keys spread them): each partition's lane
    // moves past the second window, so the watermark closes it.
    const z = normals(5);
    const messages = [0, 1, 2].flatMap((w) =>
      Array.from({ length: w === 2 ? 60 : 300 }, (_, i) => {
        const champion = event(`w${w}-${i}`, T0 + w * MINUTE + i * 100, z);
        const challenger = {
          ...champion,
          version: '4',
          prediction: Math.min(1, champion.prediction + 0.2),
        };
        return [champion, challenger];
      }).flat(),
    );
    const producer = kafka.producer();
    await producer.connect();
    await producer.send({
      topic: setup.predictions,
      messages: messages.map((m) => ({ key: m.id, value: JSON.stringify(m) })),
    });
    await producer.disconnect();

    const found = await waitFor(
      'two comparisons',
      async () => {
        const c = await store!.queryComparisons({ model: MODEL, from: T0, to: T0 + 2 * MINUTE });
        return c.length === 2 ? c : undefined;
      },
      60_000,
    );
    for (const c of found) {
      expect(c).toMatchObject({
        champion: '3',
        challenger: '4',
        championEvents: 300,
        challengerEvents: 300,
        challengerShare: 0.5,
      });
      expect(c.shadow?.matched).toBe(300);
      expect(c.shadow?.scoreDifference?.p50).toBeCloseTo(0.2, 6);
      expect(c.prediction?.drifted).toBe(true);
      expect(c.features.every((f) => !f.drifted)).toBe(true);
    }
  }, 120_000);
});
