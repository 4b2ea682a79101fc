/**
 * Hostile input over Kafka: the real broker (scripts/kafka.sh), a daemon consuming its own
 * topics into the real embedded store. Every case of cases.ts that a message can carry, plus
 * what only a message can (tombstones, empty values, binary keys, repeated and forged headers,
 * model/version in headers, values over kafka.maxMessageBytes), > 100 000 messages mixed on 3
 * partitions while another model's events flow on the same topic. Asserted per case by name:
 * each invalid message is dead-lettered with its reason header (and its own headers kept),
 * every valid one is counted into its window exactly, nothing stalls (CALM's results reach the
 * store during the flood, lag returns to 0), /metrics series and heap stay under the README's
 * bound.
 */
import kafkajs, { type Producer } from 'kafkajs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { requireKafkaOrSkip, testKafka } from '../helpers/kafka.js';
import {
  active,
  batch,
  CALM,
  FLOOD,
  type Generated,
  KAFKA_ONLY_CASES,
  LABEL_CASES,
  PREDICTION_CASES,
  prediction,
} from './cases.js';
import { checkDeadLetters, PARTITIONS, type Rig, startRig, waitUntil } from './kafka-rig.js';
import {
  MINUTE,
  Mismatches,
  malformedLines,
  metricValue,
  SERIES_PER_MODEL,
  seriesCount,
  storedCounts,
  T0,
  tallyWindows,
} from './setup.js';

const { available } = await requireKafkaOrSkip();
const { CompressionTypes } = kafkajs;
/**
 * Codecs the rounds rotate through. Not LZ4: the broker refuses batches compressed by lz4js
 * (kafkajs's producer side; driftd only decompresses LZ4, tested with Java-compressed batches
 * in test/integration/kafka-codecs.test.ts).
 */
const CODECS = [
  CompressionTypes.None,
  CompressionTypes.GZIP,
  CompressionTypes.Snappy,
  CompressionTypes.ZSTD,
];

const PREDICTIONS = active([...PREDICTION_CASES, ...KAFKA_ONLY_CASES]);
const LABELS = active(LABEL_CASES);
const ROUNDS = 50;
const ROUND_SIZE = 2000;
const CALM_SIZE = 200;
const LABEL_BATCHES = 5;
const LABEL_SIZE = 1000;
const STEP = 20_000;

describe.skipIf(!available)('hostile input over Kafka (real broker, real embedded store)', () => {
  const kafka = testKafka('driftd-test-hostile');
  let producer: Producer;
  let rig: Rig;

  beforeAll(async () => {
    producer = kafka.producer();
    await producer.connect();
    rig = await startRig('flood', producer, { decodeThread: true });
  }, 120_000);

  afterAll(async () => {
    await rig?.close();
    await producer?.disconnect();
  });

  it(`${ROUNDS * (ROUND_SIZE + CALM_SIZE) + LABEL_BATCHES * LABEL_SIZE} mixed messages (uncompressed, gzip, snappy, zstd): every invalid one dead-lettered with its reason, valid ones counted exactly, the other model keeps its results, series and heap stay bounded`, async () => {
    const started = Date.now();
    const { store, daemon } = rig;
    const produce = rig.produce;
    const processed = rig.processed;

    // Warm-up: one of every case on every partition, so the per-model and per-reason series
    // exist before counting.
    const warm = batch({
      cases: PREDICTIONS,
      on: 'kafka',
      size: PREDICTIONS.length * 2,
      seed: 1,
      prefix: 'warm',
      from: T0 - 3_600_000,
      span: 1000,
      validShare: 0,
      heavyEach: 1,
    });
    await produce('predictions', warm, (k) => k % PARTITIONS);
    await waitUntil('the warm-up consumed', async () => (await processed()) >= rig.total);
    const seriesBefore = seriesCount(await daemon.metrics.registry.metrics());
    const heapBefore = process.memoryUsage().heapUsed;

    const calmSent = new Map<number, number>();
    let calmChecked = 0;
    for (let b = 0; b < ROUNDS; b++) {
      const from = T0 + b * STEP;
      const flood = batch({
        cases: PREDICTIONS,
        on: 'kafka',
        size: ROUND_SIZE,
        seed: 1000 + b,
        prefix: `k${b}`,
        from,
        span: STEP,
        heavyEach: 1,
        validShare: 0.5,
      });
      const calm: Generated[] = Array.from({ length: CALM_SIZE }, (_, k) => {
        const item = { id: `kc${b}-${k}`, ts: from + Math.floor((k * STEP) / CALM_SIZE) };
        const text = JSON.stringify(prediction(item, { model: CALM }));
        return { c: PREDICTIONS[0]!, item, bytes: Buffer.from(text) };
      });
      // CALM events go to every partition (each partition is a lane with its own watermark).
      // Every codec carries its share of the garbage (the daemon registered them with kafkajs).
      const codec = CODECS[b % CODECS.length]!;
      await produce('predictions', [...flood, ...calm], (k) => k % PARTITIONS, flood.length, codec);
      for (const g of calm) {
        const start = Math.floor(g.item.ts / MINUTE) * MINUTE;
        calmSent.set(start, (calmSent.get(start) ?? 0) + 1);
      }
      // While the flood goes on, CALM's windows close and their results reach the store.
      if (b % 10 === 9) {
        const newest = from + Math.floor(((CALM_SIZE - 1) * STEP) / CALM_SIZE);
        const due = [...calmSent.keys()].filter((s) => s + MINUTE <= newest - MINUTE - STEP);
        let stored = new Map<number, number>();
        await waitUntil(
          `CALM windows before ${new Date(newest - MINUTE - STEP).toISOString()} stored during the flood (round ${b})`,
          async () => {
            stored = await storedCounts(store, CALM, T0, T0 + 24 * 3_600_000);
            return due.every((s) => stored.has(s));
          },
          30_000,
        );
        for (const s of due) {
          expect(
            stored.get(s),
            `CALM window ${new Date(s).toISOString()} during the flood (round ${b})`,
          ).toBe(calmSent.get(s));
        }
        calmChecked += due.length;
      }
    }
    expect(calmChecked, 'CALM windows checked during the flood').toBeGreaterThan(10);

    for (let b = 0; b < LABEL_BATCHES; b++) {
      const items = batch({
        cases: LABELS,
        on: 'kafka',
        size: LABEL_SIZE,
        seed: 5000 + b,
        prefix: `kl${b}`,
        from: T0 + b * STEP,
        span: STEP,
        validShare: 0.3,
      });
      await produce('labels', items, () => 0);
    }
    const producedAt = Date.now();
    const produced = rig.total - warm.length;
    expect(produced, 'messages produced').toBeGreaterThanOrEqual(100_000);

    // Everything consumed: every message counted once as an event, a label or a dead letter.
    await waitUntil('every message consumed', async () => (await processed()) >= rig.total, 90_000);
    await waitUntil(
      'consumer lag 0',
      async () =>
        (await metricValue(daemon, 'driftd_kafka_consumer_lag_messages', {
          topic: rig.predictions,
        })) === 0,
      30_000,
    );

    const consumedAt = Date.now();
    // Dead letters: one per invalid message (at least once), with its reason and its headers.
    const mm = new Mismatches();
    const extra = await checkDeadLetters(kafka, rig, mm, (id) => id.startsWith('warm-'));
    expect.soft(extra.slice(0, 10), 'dead letters of valid messages').toEqual([]);
    for (const [name, problems] of mm.entries())
      expect.soft(problems, `case "${name}"`).toEqual([]);
    for (const c of PREDICTIONS.filter((c) => c.kafka !== null)) {
      expect.soft(mm.timesSeen(c.name), `case "${c.name}" in the flood`).toBeGreaterThan(0);
    }

    // Exact counts: every FLOOD window holds exactly its accepted plain events; CALM its own.
    const tally = tallyWindows(
      rig.sent.filter((s) => s.topic === 'predictions' && s.g.item.ts >= T0),
    );
    await daemon.pipeline.flush();
    const stored = await storedCounts(store, FLOOD, T0, T0 + 24 * 3_600_000);
    expect(Object.fromEntries(stored), 'FLOOD window event counts').toEqual(
      Object.fromEntries(tally),
    );
    const calmStored = await storedCounts(store, CALM, T0, T0 + 24 * 3_600_000);
    expect(Object.fromEntries(calmStored), 'CALM window event counts').toEqual(
      Object.fromEntries(calmSent),
    );
    expect(
      await metricValue(daemon, 'driftd_events_total', { model: FLOOD, result: 'late' }),
      "FLOOD late events: exactly the late case's",
    ).toBe(rig.sent.filter((x) => x.g.c.late).length);
    expect(
      await metricValue(daemon, 'driftd_events_total', { model: CALM, result: 'late' }),
      'CALM late events',
    ).toBe(0);

    // Bounds: series (README formula) and heap.
    const text = await daemon.metrics.registry.metrics();
    expect(malformedLines(text).slice(0, 5), '/metrics lines that do not parse').toEqual([]);
    expect(seriesCount(text) - seriesBefore, '/metrics series after the flood').toBeLessThanOrEqual(
      2 * SERIES_PER_MODEL,
    );
    expect(process.memoryUsage().heapUsed - heapBefore, 'heap growth').toBeLessThan(
      256 * 1024 * 1024,
    );
    console.log(
      `hostile Kafka: ${produced} messages (+${warm.length} warm-up) in ${Date.now() - started} ms (produced and consumed with checks: ${producedAt - started} ms, consumed: ${consumedAt - started} ms); heap +${Math.round((process.memoryUsage().heapUsed - heapBefore) / 2 ** 20)} MiB, series +${seriesCount(text) - seriesBefore} (bound ${2 * SERIES_PER_MODEL})`,
    );
  }, 240_000);
});
