/**
 * A daemon consuming hostile input from its own topics on the real broker (test/helpers/kafka.ts)
 * into the real embedded store, and what the Kafka hostile suites do with it: send generated
 * items as messages (each tagged with its case and id in headers), wait for them, and check
 * the dead-letter topic case by case.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { IHeaders, Kafka, KafkaMessage, Message, Producer } from 'kafkajs';
import { validateConfig } from '../../src/config/index.js';
import { createDaemon, type Daemon } from '../../src/daemon.js';
import { DEAD_LETTER_HEADERS } from '../../src/ingest/kafka.js';
import { createStore } from '../../src/store/index.js';
import type { Store } from '../../src/store/types.js';
import {
  createTestTopic,
  deleteTopics,
  kafkaBrokers,
  readTopic,
  uniqueGroupId,
} from '../helpers/kafka.js';
import { expected, type Generated, isAccepted, type Outcome } from './cases.js';
import {
  describeOutcome,
  type Mismatches,
  metricValue,
  modelsConfig,
  reasonMatches,
  saveBaselines,
} from './setup.js';

export const PARTITIONS = 3;
/** kafka.maxMessageBytes of the daemon: larger values are dead-lettered as oversized. */
export const MAX_MESSAGE_BYTES = 64 * 1024;
/** A producer request stays well under the broker's message.max.bytes (1 MiB). */
const SEND_BYTES = 512 * 1024;
export const CASE_HEADER = 'hostile-case';
export const ID_HEADER = 'hostile-id';

export interface Sent {
  g: Generated;
  outcome: Outcome;
  topic: 'predictions' | 'labels';
}

export interface Rig {
  predictions: string;
  labels: string;
  dlq: string;
  store: Store;
  daemon: Daemon;
  /** Messages sent so far (tracked ones: checked one by one against their dead letters). */
  sent: Sent[];
  total: number;
  /** Sends `items` in order; the first `tracked` are checked one by one later. */
  produce(
    topic: 'predictions' | 'labels',
    items: Generated[],
    partitionOf: (k: number) => number,
    tracked?: number,
    /** kafkajs CompressionTypes (the daemon registered every codec with kafkajs). */
    compression?: number,
  ): Promise<void>;
  /** Events + labels the daemon counted (any result, dead letters included). */
  processed(): Promise<number>;
  close(): Promise<void>;
}

export async function waitUntil(what: string, probe: () => Promise<boolean>, timeoutMs = 60_000) {
  const deadline = Date.now() + timeoutMs;
  while (!(await probe())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms: ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** A message of a generated item: its case's key and headers, and the case and id headers. */
function message(g: Generated, partition: number): Message {
  const headers: IHeaders = { ...(g.c.kafkaHeaders ?? {}) } as IHeaders;
  headers[CASE_HEADER] = g.c.name;
  headers[ID_HEADER] = g.item.id;
  return { partition, key: g.c.kafkaKey ?? null, value: g.c.tombstone ? null : g.bytes, headers };
}

/** Sends in order, in requests under SEND_BYTES (a large value alone in its request). */
async function send(
  producer: Producer,
  topic: string,
  messages: Message[],
  compression?: number,
): Promise<void> {
  let chunk: Message[] = [];
  let bytes = 0;
  const flush = async () => {
    if (chunk.length === 0) return;
    await producer.send({
      topic,
      acks: -1,
      messages: chunk,
      ...(compression ? { compression } : {}),
    });
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

/** Topics, store (migrated, baselines saved) and a started daemon consuming them. */
export async function startRig(
  name: string,
  producer: Producer,
  tuning: { decodeThread: boolean },
): Promise<Rig> {
  const [predictions, labels, dlq] = await Promise.all([
    createTestTopic(`hostile-${name}-predictions`, PARTITIONS),
    createTestTopic(`hostile-${name}-labels`, 1),
    createTestTopic(`hostile-${name}-dlq`, 1),
  ]);
  const dir = await mkdtemp(join(tmpdir(), `driftd-hostile-${name}-`));
  const config = validateConfig(
    {
      dataDir: dir,
      server: { host: '127.0.0.1', port: 0 },
      logLevel: 'silent',
      kafka: {
        brokers: kafkaBrokers(),
        groupId: uniqueGroupId(`hostile-${name}`),
        predictionsTopic: predictions,
        labelsTopic: labels,
        deadLetterTopic: dlq,
        maxMessageBytes: MAX_MESSAGE_BYTES,
      },
      models: modelsConfig(),
    },
    { env: {} },
  );
  const store = createStore(config.store);
  await store.migrate();
  await saveBaselines(config, store);
  const daemon = createDaemon(config, {
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
      decodeThread: tuning.decodeThread,
    },
  });
  await daemon.start();
  const rig: Rig = {
    predictions,
    labels,
    dlq,
    store,
    daemon,
    sent: [],
    total: 0,
    async produce(topic, items, partitionOf, tracked = items.length, compression) {
      await send(
        producer,
        topic === 'predictions' ? predictions : labels,
        items.map((g, k) => message(g, partitionOf(k))),
        compression,
      );
      for (const g of items.slice(0, tracked)) {
        rig.sent.push({ g, outcome: expected(g, 'kafka'), topic });
      }
      rig.total += items.length;
    },
    async processed() {
      return (
        (await metricValue(daemon, 'driftd_events_total')) +
        (await metricValue(daemon, 'driftd_labels_total'))
      );
    },
    async close() {
      await daemon.close();
      await deleteTopics(predictions, labels, dlq);
      await rm(dir, { recursive: true, force: true });
    },
  };
  return rig;
}

const header = (m: KafkaMessage, h: string) => {
  const v = m.headers?.[h];
  return (Array.isArray(v) ? v[0] : v)?.toString();
};

/**
 * Reads the dead-letter topic and checks every tracked message into `mm` by its case: an
 * invalid one has its dead letter (reason, error, source topic and offset, its own headers and
 * value kept), a valid one none. Returns the dead letters of messages that were valid.
 */
export async function checkDeadLetters(
  kafka: Kafka,
  rig: Rig,
  mm: Mismatches,
  untracked: (id: string) => boolean,
): Promise<string[]> {
  const invalid = rig.sent.filter((s) => !isAccepted(s.outcome));
  // Everything was consumed, so every dead letter is written: read up to the topic's end
  // (not up to the count expected, which a wrong outcome would never reach).
  const admin = kafka.admin();
  await admin.connect();
  let written = 0;
  try {
    for (const p of await admin.fetchTopicOffsets(rig.dlq))
      written += Number(p.high) - Number(p.low);
  } finally {
    await admin.disconnect();
  }
  const letters = await readTopic(kafka, rig.dlq, written, { timeoutMs: 60_000 });
  const byId = new Map<string, KafkaMessage>();
  for (const m of letters) byId.set(header(m, ID_HEADER) ?? '', m);
  for (const s of rig.sent) {
    const name = s.g.c.name;
    const id = s.g.item.id;
    mm.count(name);
    const m = byId.get(id);
    const reason = m ? header(m, DEAD_LETTER_HEADERS.reason) : undefined;
    if (!reasonMatches(s.outcome, reason)) {
      mm.add(
        name,
        `${s.topic} ${id}: expected ${describeOutcome(s.outcome)}, got ${m ? `dead letter (${reason}: ${header(m, DEAD_LETTER_HEADERS.error)?.slice(0, 120)})` : 'no dead letter'}`,
      );
      continue;
    }
    if (!m) continue;
    if (!header(m, DEAD_LETTER_HEADERS.error)) mm.add(name, `${id}: no driftd-error`);
    if (header(m, CASE_HEADER) !== name) mm.add(name, `${id}: its own headers were not kept`);
    const topic = s.topic === 'predictions' ? rig.predictions : rig.labels;
    if (header(m, DEAD_LETTER_HEADERS.topic) !== topic) mm.add(name, `${id}: driftd-source-topic`);
    if (!(Number(header(m, DEAD_LETTER_HEADERS.offset)) >= 0)) {
      mm.add(name, `${id}: driftd-source-offset`);
    }
    // The value travels unchanged (a tombstone stays without one).
    const want = s.g.c.tombstone ? null : s.g.bytes;
    const same =
      want === null
        ? m.value === null
        : want.length === 0
          ? (m.value?.length ?? 0) === 0
          : m.value?.equals(want) === true;
    if (!same) mm.add(name, `${id}: dead letter value differs from the message's`);
  }
  const expectedIds = new Set(invalid.map((s) => s.g.item.id));
  return letters
    .filter((m) => {
      const id = header(m, ID_HEADER) ?? '';
      return !expectedIds.has(id) && !untracked(id);
    })
    .map((m) => `${header(m, CASE_HEADER)}: ${header(m, DEAD_LETTER_HEADERS.reason)}`);
}
