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
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { IHeaders, KafkaMessage, Message, Producer } from 'kafkajs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { validateConfig } from '../../src/config/index.js';
import type { DriftdConfig } from '../../src/config/types.js';
import { createDaemon, type Daemon } from '../../src/daemon.js';
import { DEAD_LETTER_HEADERS } from '../../src/ingest/kafka.js';
import { createStore } from '../../src/store/index.js';
import type { Store } from '../../src/store/types.js';
import {
  createTestTopic,
  deleteTopics,
  kafkaBrokers,
  readTopic,
  requireKafkaOrSkip,
  testKafka,
  uniqueGroupId,
} from '../helpers/kafka.js';
import {
  active,
  batch,
  CALM,
  expected,
  FLOOD,
  type Generated,
  isAccepted,
  KAFKA_ONLY_CASES,
  LABEL_CASES,
  type Outcome,
  PREDICTION_CASES,
  prediction,
} from './cases.js';
import {
  describeOutcome,
  MINUTE,
  Mismatches,
  metricValue,
  modelsConfig,
  reasonMatches,
  SERIES_PER_MODEL,
  saveBaselines,
  seriesCount,
  storedCounts,
  T0,
  tallyWindows,
} from './setup.js';

const { available } = await requireKafkaOrSkip();

const PREDICTIONS = active([...PREDICTION_CASES, ...KAFKA_ONLY_CASES]);
const LABELS = active(LABEL_CASES);
const ROUNDS = 50;
const ROUND_SIZE = 2000;
const CALM_SIZE = 200;
const LABEL_BATCHES = 5;
const LABEL_SIZE = 1000;
const STEP = 20_000;
const PARTITIONS = 3;
/** kafka.maxMessageBytes of the daemon: larger values are dead-lettered as oversized. */
const MAX_MESSAGE_BYTES = 64 * 1024;
/** A producer request stays well under the broker's message.max.bytes (1 MiB). */
const SEND_BYTES = 512 * 1024;

const CASE_HEADER = 'hostile-case';
const ID_HEADER = 'hostile-id';

interface Sent {
  g: Generated;
  outcome: Outcome;
  topic: 'predictions' | 'labels';
}

describe.skipIf(!available)('hostile input over Kafka (real broker, real embedded store)', () => {
  const kafka = testKafka('driftd-test-hostile');
  let producer: Producer;
  let predictions: string;
  let labels: string;
  let dlq: string;
  let dir: string;
  let config: DriftdConfig;
  let store: Store;
  let daemon: Daemon;

  beforeAll(async () => {
    [predictions, labels, dlq] = await Promise.all([
      createTestTopic('hostile-predictions', PARTITIONS),
      createTestTopic('hostile-labels', 1),
      createTestTopic('hostile-dlq', 1),
    ]);
    producer = kafka.producer();
    await producer.connect();
    dir = await mkdtemp(join(tmpdir(), 'driftd-hostile-kafka-'));
    config = validateConfig(
      {
        dataDir: dir,
        server: { host: '127.0.0.1', port: 0 },
        logLevel: 'silent',
        kafka: {
          brokers: kafkaBrokers(),
          groupId: uniqueGroupId('hostile'),
          predictionsTopic: predictions,
          labelsTopic: labels,
          deadLetterTopic: dlq,
          maxMessageBytes: MAX_MESSAGE_BYTES,
        },
        models: modelsConfig(),
      },
      { env: {} },
    );
    store = createStore(config.store);
    await store.migrate();
    await saveBaselines(config, store);
    daemon = createDaemon(config, {
      store,
      listen: false,
      tickMs: 100,
      kafka: {
        checkpointIntervalMs: 1000,
        sessionTimeoutMs: 10_000,
        heartbeatIntervalMs: 1000,
        maxWaitTimeMs: 100,
        lagRefreshMs: 300,
        backoff: { initialMs: 50, maxMs: 400, slowMs: 400 },
        pauseAfterMs: 2000,
        kafkaLogLevel: 'nothing',
      },
    });
    await daemon.start();
  }, 120_000);

  afterAll(async () => {
    await daemon?.close();
    await producer?.disconnect();
    await deleteTopics(predictions, labels, dlq);
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  /** A message of a generated item: its case's key and headers, and the case and id headers. */
  function message(g: Generated, partition: number): Message {
    const headers: IHeaders = { ...(g.c.kafkaHeaders ?? {}) } as IHeaders;
    headers[CASE_HEADER] = g.c.name;
    headers[ID_HEADER] = g.item.id;
    return {
      partition,
      key: g.c.kafkaKey ?? null,
      value: g.c.tombstone ? null : g.bytes,
      headers,
    };
  }

  /** Sends in order, in requests under SEND_BYTES (a large value alone in its request). */
  async function send(topic: string, messages: Message[]): Promise<void> {
    let chunk: Message[] = [];
    let bytes = 0;
    const flush = async () => {
      if (chunk.length === 0) return;
      await producer.send({ topic, acks: -1, messages: chunk });
      chunk = [];
      bytes = 0;
    };
    for (const m of messages) {
      const size = (m.value as Buffer | null)?.length ?? 0;
      if (bytes + size > SEND_BYTES) await flush();
      chunk.push(m);
      bytes += size + 100;
    }
    await flush();
  }

  async function processed(): Promise<number> {
    return (
      (await metricValue(daemon, 'driftd_events_total')) +
      (await metricValue(daemon, 'driftd_labels_total'))
    );
  }

  async function waitUntil(what: string, probe: () => Promise<boolean>, timeoutMs = 60_000) {
    const deadline = Date.now() + timeoutMs;
    while (!(await probe())) {
      if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms: ${what}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  it(`${ROUNDS * (ROUND_SIZE + CALM_SIZE) + LABEL_BATCHES * LABEL_SIZE} mixed messages: every invalid one dead-lettered with its reason, valid ones counted exactly, the other model keeps its results, series and heap stay bounded`, async () => {
    const started = Date.now();
    const sent: Sent[] = [];
    let total = 0;
    /** Sends `items`; `tracked` ones are checked one by one (CALM is checked by window). */
    const produce = async (
      topic: 'predictions' | 'labels',
      items: Generated[],
      partitionOf: (k: number) => number,
      tracked = items.length,
    ) => {
      await send(
        topic === 'predictions' ? predictions : labels,
        items.map((g, k) => message(g, partitionOf(k))),
      );
      for (const g of items.slice(0, tracked)) {
        sent.push({ g, outcome: expected(g, 'kafka'), topic });
      }
      total += items.length;
    };

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
    await waitUntil('the warm-up consumed', async () => (await processed()) >= total);
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
      await produce('predictions', [...flood, ...calm], (k) => k % PARTITIONS, flood.length);
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
    const produced = total - warm.length;
    expect(produced, 'messages produced').toBeGreaterThanOrEqual(100_000);

    // Everything consumed: every message counted once as an event, a label or a dead letter.
    await waitUntil('every message consumed', async () => (await processed()) >= total, 90_000);
    await waitUntil(
      'consumer lag 0',
      async () =>
        (await metricValue(daemon, 'driftd_kafka_consumer_lag_messages', {
          topic: predictions,
        })) === 0,
      30_000,
    );

    // Dead letters: one per invalid message (at least once), with its reason and its headers.
    const mm = new Mismatches();
    const invalid = sent.filter((s) => !isAccepted(s.outcome));
    const letters = await readTopic(kafka, dlq, invalid.length, { timeoutMs: 60_000 });
    const header = (m: KafkaMessage, h: string) => {
      const v = m.headers?.[h];
      return (Array.isArray(v) ? v[0] : v)?.toString();
    };
    const byId = new Map<string, KafkaMessage>();
    for (const m of letters) byId.set(header(m, ID_HEADER) ?? '', m);
    for (const s of sent) {
      mm.count(s.g.c.name);
      const m = byId.get(s.g.item.id);
      const reason = m ? header(m, DEAD_LETTER_HEADERS.reason) : undefined;
      if (!reasonMatches(s.outcome, reason)) {
        mm.add(
          s.g.c.name,
          `${s.topic} ${s.g.item.id}: expected ${describeOutcome(s.outcome)}, got ${m ? `dead letter (${reason}: ${header(m, DEAD_LETTER_HEADERS.error)?.slice(0, 120)})` : 'no dead letter'}`,
        );
        continue;
      }
      if (!m) continue;
      if (!header(m, DEAD_LETTER_HEADERS.error))
        mm.add(s.g.c.name, `${s.g.item.id}: no driftd-error`);
      if (header(m, CASE_HEADER) !== s.g.c.name)
        mm.add(s.g.c.name, `${s.g.item.id}: its own headers were not kept`);
      const wantTopic = s.topic === 'predictions' ? predictions : labels;
      if (header(m, DEAD_LETTER_HEADERS.topic) !== wantTopic)
        mm.add(s.g.c.name, `${s.g.item.id}: driftd-source-topic`);
      if (!(Number(header(m, DEAD_LETTER_HEADERS.offset)) >= 0))
        mm.add(s.g.c.name, `${s.g.item.id}: driftd-source-offset`);
      // The value travels unchanged (a tombstone stays without one).
      const want = s.g.c.tombstone ? null : s.g.bytes;
      const same =
        want === null
          ? m.value === null
          : want.length === 0
            ? (m.value?.length ?? 0) === 0
            : m.value?.equals(want) === true;
      if (!same) {
        mm.add(s.g.c.name, `${s.g.item.id}: dead letter value differs from the message's`);
      }
    }
    // No valid message was dead-lettered.
    const expectedIds = new Set(invalid.map((s) => s.g.item.id));
    const extra = letters.filter(
      (m) =>
        !expectedIds.has(header(m, ID_HEADER) ?? '') &&
        !(header(m, ID_HEADER) ?? '').startsWith('warm-'),
    );
    expect(
      extra
        .map((m) => `${header(m, CASE_HEADER)}: ${header(m, DEAD_LETTER_HEADERS.reason)}`)
        .slice(0, 10),
      'dead letters of valid messages',
    ).toEqual([]);
    for (const [name, problems] of mm.entries())
      expect.soft(problems, `case "${name}"`).toEqual([]);
    for (const c of PREDICTIONS.filter((c) => c.kafka !== null)) {
      expect.soft(mm.timesSeen(c.name), `case "${c.name}" in the flood`).toBeGreaterThan(0);
    }

    // Exact counts: every FLOOD window holds exactly its accepted plain events; CALM its own.
    const tally = tallyWindows(sent.filter((s) => s.topic === 'predictions' && s.g.item.ts >= T0));
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
      await metricValue(daemon, 'driftd_events_total', { model: CALM, result: 'late' }),
      'CALM late events',
    ).toBe(0);

    // Bounds: series (README formula) and heap.
    const text = await daemon.metrics.registry.metrics();
    expect(seriesCount(text) - seriesBefore, '/metrics series after the flood').toBeLessThanOrEqual(
      2 * SERIES_PER_MODEL,
    );
    expect(process.memoryUsage().heapUsed - heapBefore, 'heap growth').toBeLessThan(
      256 * 1024 * 1024,
    );
    console.log(
      `hostile Kafka: ${produced} messages (+${warm.length} warm-up) in ${Date.now() - started} ms`,
    );
  }, 240_000);
});
