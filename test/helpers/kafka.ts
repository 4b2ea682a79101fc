/**
 * Helpers for tests that talk to the real Apache Kafka broker started by `scripts/kafka.sh`
 * (KRaft, single node, 127.0.0.1:19092 by default). See scripts/kafka/README.md.
 *
 * Usage in a test file:
 *
 *   const { available } = await requireKafkaOrSkip();
 *   describe.skipIf(!available)('... (real Kafka broker)', () => { ... });
 *
 * When `CI=true` or `DRIFTD_REQUIRE_SERVICES=1`, an unreachable broker makes
 * `requireKafkaOrSkip()` throw (the test file fails) instead of skipping.
 *
 * Each test owns its topics and consumer groups: create them with `createTestTopic()` and
 * `uniqueGroupId()` (random suffixes), and delete topics in `afterAll` with `deleteTopics()`.
 */
import { randomBytes } from 'node:crypto';
import type { Admin, Kafka as KafkaClient, KafkaConfig, KafkaMessage } from 'kafkajs';
import kafkajs from 'kafkajs';

const { Kafka, logLevel } = kafkajs;

export const DEFAULT_TEST_KAFKA_BROKERS = '127.0.0.1:19092';

export const KAFKA_START_HINT =
  'Start the test broker with: bash scripts/kafka.sh fetch && bash scripts/kafka.sh start ' +
  '(or point DRIFTD_TEST_KAFKA_BROKERS at a running Kafka).';

/** Broker list for tests: `DRIFTD_TEST_KAFKA_BROKERS` (comma-separated) or 127.0.0.1:19092. */
export function kafkaBrokers(): string[] {
  const raw = process.env.DRIFTD_TEST_KAFKA_BROKERS?.trim() || DEFAULT_TEST_KAFKA_BROKERS;
  return raw
    .split(',')
    .map((b) => b.trim())
    .filter((b) => b.length > 0);
}

/** True when a missing service must fail the run rather than skip (CI, or explicitly asked). */
export function servicesRequired(): boolean {
  return process.env.CI === 'true' || process.env.DRIFTD_REQUIRE_SERVICES === '1';
}

/** KafkaJS log level for tests: NOTHING by default, `DRIFTD_TEST_KAFKA_LOG=warn` to debug. */
function testLogLevel(): number {
  const wanted = process.env.DRIFTD_TEST_KAFKA_LOG?.toLowerCase();
  if (wanted === 'warn') return logLevel.WARN;
  if (wanted === 'info') return logLevel.INFO;
  if (wanted === 'debug') return logLevel.DEBUG;
  if (wanted === 'error') return logLevel.ERROR;
  return logLevel.NOTHING;
}

/** A KafkaJS client for the test broker, quiet by default. */
export function testKafka(
  clientId = 'driftd-test',
  overrides: Partial<KafkaConfig> = {},
): KafkaClient {
  return new Kafka({
    clientId,
    brokers: kafkaBrokers(),
    logLevel: testLogLevel(),
    connectionTimeout: 3_000,
    requestTimeout: 15_000,
    ...overrides,
  });
}

/** Quick reachability probe: connect an admin client and ask for metadata. Never throws. */
export async function kafkaAvailable(timeoutMs = 3_000): Promise<boolean> {
  const admin = testKafka('driftd-test-probe', {
    connectionTimeout: Math.min(timeoutMs, 2_000),
    requestTimeout: timeoutMs,
    retry: { retries: 0 },
  }).admin();
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<false>((resolve) => {
    timer = setTimeout(() => resolve(false), timeoutMs + 500);
  });
  const probe = (async () => {
    await admin.connect();
    await admin.listTopics();
    return true as const;
  })().catch(() => false as const);
  try {
    return await Promise.race([probe, timeout]);
  } finally {
    clearTimeout(timer);
    await admin.disconnect().catch(() => undefined);
  }
}

export class KafkaUnavailableError extends Error {
  constructor(brokers: string[]) {
    super(
      `Kafka broker not reachable at ${brokers.join(',')} and services are required ` +
        `(CI=${process.env.CI ?? ''}, DRIFTD_REQUIRE_SERVICES=${process.env.DRIFTD_REQUIRE_SERVICES ?? ''}). ` +
        KAFKA_START_HINT,
    );
    this.name = 'KafkaUnavailableError';
  }
}

let availability: Promise<boolean> | undefined;

/**
 * Decide whether a Kafka-backed suite runs: `{ available: true }` when the broker answers;
 * `{ available: false }` (skip) when it does not; throws `KafkaUnavailableError` instead when
 * `servicesRequired()`. The probe result is cached per test worker.
 */
export async function requireKafkaOrSkip(): Promise<{ available: boolean }> {
  availability ??= kafkaAvailable();
  const available = await availability;
  if (!available && servicesRequired()) throw new KafkaUnavailableError(kafkaBrokers());
  if (!available) {
    console.warn(
      `[test] Kafka not reachable at ${kafkaBrokers().join(',')}; skipping. ${KAFKA_START_HINT}`,
    );
  }
  return { available };
}

function sanitize(prefix: string): string {
  const cleaned = prefix.replace(/[^a-zA-Z0-9._-]/g, '-').slice(0, 120);
  return cleaned.length > 0 ? cleaned : 'test';
}

function suffix(): string {
  return `${Date.now().toString(36)}-${randomBytes(4).toString('hex')}`;
}

/** A consumer group id no other test (or earlier run) uses. */
export function uniqueGroupId(prefix: string): string {
  return `${sanitize(prefix)}-${suffix()}`;
}

async function withAdmin<T>(fn: (admin: Admin) => Promise<T>): Promise<T> {
  const admin = testKafka('driftd-test-admin').admin();
  await admin.connect();
  try {
    return await fn(admin);
  } finally {
    await admin.disconnect().catch(() => undefined);
  }
}

/**
 * Create a topic with a unique name (prefix + random suffix), `partitions` partitions and
 * replication factor 1, wait for its leaders, and return the name.
 */
export async function createTestTopic(prefix: string, partitions = 3): Promise<string> {
  const topic = `${sanitize(prefix)}-${suffix()}`;
  await withAdmin(async (admin) => {
    try {
      const created = await admin.createTopics({
        topics: [{ topic, numPartitions: partitions, replicationFactor: 1 }],
        waitForLeaders: true,
      });
      if (!created) throw new Error(`topic ${topic} already existed`);
    } catch (err) {
      // On a freshly started broker, KafkaJS's wait for leaders can read metadata before the
      // new topic is known and gives up with UNKNOWN_TOPIC_OR_PARTITION (it only retries
      // LEADER_NOT_AVAILABLE). The topic was created: wait for its leaders ourselves.
      if ((err as { type?: string }).type !== 'UNKNOWN_TOPIC_OR_PARTITION') throw err;
    }
    const deadline = Date.now() + 30_000;
    for (;;) {
      try {
        const meta = await admin.fetchTopicMetadata({ topics: [topic] });
        const parts = meta.topics[0]?.partitions ?? [];
        if (parts.length === partitions && parts.every((p) => p.leader >= 0)) return;
      } catch (err) {
        if ((err as { type?: string }).type !== 'UNKNOWN_TOPIC_OR_PARTITION') throw err;
      }
      if (Date.now() > deadline) throw new Error(`topic ${topic} has no leaders after 30 s`);
      await new Promise((r) => setTimeout(r, 200));
    }
  });
  return topic;
}

/** Delete topics; names that no longer exist are ignored. */
export async function deleteTopics(...topics: string[]): Promise<void> {
  const names = topics.filter((t) => t.length > 0);
  if (names.length === 0) return;
  await withAdmin(async (admin) => {
    const existing = new Set(await admin.listTopics());
    const present = names.filter((t) => existing.has(t));
    if (present.length > 0) await admin.deleteTopics({ topics: present, timeout: 10_000 });
  });
}

/**
 * Every message of `topic` from the beginning, read by a fresh consumer group until at least
 * `expected` arrived (fails after `timeoutMs`), then for `lingerMs` more so that extra copies
 * (at-least-once duplicates) show up too.
 */
export async function readTopic(
  kafka: KafkaClient,
  topic: string,
  expected: number,
  opts: { timeoutMs?: number; lingerMs?: number } = {},
): Promise<KafkaMessage[]> {
  const consumer = kafka.consumer({ groupId: uniqueGroupId('test-reader'), maxWaitTimeInMs: 100 });
  const out: KafkaMessage[] = [];
  await consumer.connect();
  try {
    await consumer.subscribe({ topics: [topic], fromBeginning: true });
    await consumer.run({
      eachMessage: async ({ message }) => {
        out.push(message);
      },
    });
    const deadline = Date.now() + (opts.timeoutMs ?? 30_000);
    while (out.length < expected) {
      if (Date.now() > deadline) {
        throw new Error(
          `${topic}: ${out.length} of ${expected} messages after ${opts.timeoutMs ?? 30_000} ms`,
        );
      }
      await new Promise((r) => setTimeout(r, 50));
    }
    if (opts.lingerMs) await new Promise((r) => setTimeout(r, opts.lingerMs));
  } finally {
    await consumer.disconnect();
  }
  return out;
}
