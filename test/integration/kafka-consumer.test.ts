/**
 * The Kafka source against the real Apache Kafka broker (scripts/kafka.sh) and the real
 * embedded ClickHouse: consumer group over 3 partitions, dead-letter topic, labels topic,
 * readiness, checkpoints across a restart, and a store outage (simulated by a failing
 * wrapper around the real store: the one test double here, named in its test).
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import kafkajs, { type IHeaders, type KafkaMessage, type Producer } from 'kafkajs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildProfileFromRows } from '../../src/baseline/index.js';
import { validateConfig } from '../../src/config/index.js';
import type { DriftdConfig } from '../../src/config/types.js';
import { createDaemon, type Daemon } from '../../src/daemon.js';
import { StoreError } from '../../src/errors.js';
import { DEAD_LETTER_HEADERS } from '../../src/ingest/kafka/index.js';
import { createLogger } from '../../src/logger.js';
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

const { available } = await requireKafkaOrSkip();

const T0 = Date.parse('2026-11-22T10:00:00Z');
const MINUTE = 60_000;
const REGIONS = ['EU', 'US', 'APAC'];
const MODEL = 'credit-risk';

/** Deterministic standard normals (Box–Muller over a 32-bit LCG). */
function normals(seed: number) {
  let s = seed >>> 0;
  const u = () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return (s + 0.5) / 4294967296;
  };
  return () => Math.sqrt(-2 * Math.log(u())) * Math.cos(2 * Math.PI * u());
}

type Event = ReturnType<typeof event>;
function event(id: string, ts: number, z: () => number, shift = 0) {
  return {
    model: MODEL,
    version: '3',
    id,
    ts: new Date(ts).toISOString(),
    features: {
      income: 50_000 + 10_000 * (z() + shift),
      age: 40 + 10 * z(),
      region: REGIONS[Math.floor(Math.abs(z() * 1000)) % 3],
    },
    prediction: 1 / (1 + Math.exp(-z())),
  };
}

/** `n` events over `[from, from + span)`, partition i % 3, in event-time order per partition. */
function stream(prefix: string, n: number, from: number, span: number, seed: number) {
  const z = normals(seed);
  return Array.from({ length: n }, (_, i) => ({
    partition: i % 3,
    event: event(`${prefix}-${i}`, from + Math.floor((i * span) / n), z),
  }));
}

async function waitFor<T>(
  what: string,
  probe: () => Promise<T | undefined> | T | undefined,
  timeoutMs = 30_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe();
    if (v !== undefined) return v;
    if (Date.now() > deadline)
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

async function metricValue(d: Daemon, name: string, labels: Record<string, string> = {}) {
  const metric = await d.metrics.registry.getSingleMetric(name)?.get();
  let sum = 0;
  for (const v of metric?.values ?? []) {
    if (Object.entries(labels).every(([k, want]) => String(v.labels[k]) === want)) sum += v.value;
  }
  return sum;
}

describe.skipIf(!available)('Kafka source (real Kafka broker, real embedded ClickHouse)', () => {
  const kafka = testKafka('driftd-test-kafka-consumer');
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

  interface Setup {
    config: DriftdConfig;
    predictions: string;
    labels: string;
    dlq: string;
    groupId: string;
    dir: string;
  }

  async function setup(name: string, kafkaSettings: Record<string, unknown> = {}): Promise<Setup> {
    const [predictions, labels, dlq] = await Promise.all([
      createTestTopic(`it-${name}-predictions`, 3),
      createTestTopic(`it-${name}-labels`, 3),
      createTestTopic(`it-${name}-dlq`, 1),
    ]);
    topics.push(predictions, labels, dlq);
    const dir = await mkdtemp(join(tmpdir(), `driftd-kafka-${name}-`));
    dirs.push(dir);
    const groupId = uniqueGroupId(`it-${name}`);
    const config = validateConfig(
      {
        dataDir: dir,
        server: { host: '127.0.0.1', port: 0 },
        logLevel: 'silent',
        kafka: {
          brokers: kafkaBrokers(),
          groupId,
          predictionsTopic: predictions,
          labelsTopic: labels,
          deadLetterTopic: dlq,
          maxMessageBytes: 2048,
          ...kafkaSettings,
        },
        models: [
          {
            id: MODEL,
            task: 'binary-classification',
            features: [
              { name: 'income', type: 'numeric' },
              { name: 'age', type: 'numeric' },
              { name: 'region', type: 'categorical' },
            ],
            windows: { sizes: ['1m'], allowedLateness: '0s', idleTimeout: '10m' },
            drift: { minWindowSize: 50 },
          },
        ],
      },
      { env: {} },
    );
    return { config, predictions, labels, dlq, groupId, dir };
  }

  /** The real store at the config's path, migrated, with the model's baseline saved. */
  async function openStore(config: DriftdConfig): Promise<Store> {
    const store = createStore(config.store);
    await store.migrate();
    const z = normals(1);
    const rows = Array.from({ length: 5000 }, (_, i) => event(`b-${i}`, T0 - 3_600_000, z));
    const { profile } = buildProfileFromRows(config.models[0]!, '3', rows);
    await store.saveBaseline(profile);
    return store;
  }

  async function startDaemon(
    config: DriftdConfig,
    store: Store,
    tuning: { decodeThread?: boolean } = {},
  ): Promise<Daemon> {
    const daemon = createDaemon(config, {
      store,
      listen: false,
      tickMs: 100,
      kafka: {
        checkpointIntervalMs: 300,
        sessionTimeoutMs: 6_000,
        heartbeatIntervalMs: 500,
        maxWaitTimeMs: 100,
        lagRefreshMs: 300,
        backoff: { initialMs: 50, maxMs: 400, slowMs: 400 },
        pauseAfterMs: 200,
        kafkaLogLevel: 'nothing',
        ...tuning,
      },
    });
    await daemon.start();
    return daemon;
  }

  async function produce(
    topic: string,
    items: Array<{ partition: number; value: unknown; key?: string; headers?: IHeaders }>,
  ): Promise<void> {
    for (let i = 0; i < items.length; i += 1000) {
      await producer.send({
        topic,
        acks: -1,
        messages: items.slice(i, i + 1000).map((m) => ({
          partition: m.partition,
          key: m.key ?? null,
          value: typeof m.value === 'string' ? m.value : JSON.stringify(m.value),
          ...(m.headers ? { headers: m.headers } : {}),
        })),
      });
    }
  }

  const produceEvents = (topic: string, events: Array<{ partition: number; event: Event }>) =>
    produce(
      topic,
      events.map((e) => ({ partition: e.partition, value: e.event })),
    );

  /** One event per partition far in the future: every lane's watermark passes the test's windows. */
  const sentinels = (prefix: string, at = T0 + 60 * MINUTE) =>
    [0, 1, 2].map((partition) => ({
      partition,
      event: event(`${prefix}-sentinel-${partition}`, at, normals(99)),
    }));

  async function windowsOf(store: Store, from = T0, to = T0 + 30 * MINUTE) {
    return store.queryDrift({ model: MODEL, window: '1m', from, to });
  }

  it('joins the group (readiness flips), consumes 3 partitions, closes windows and stores results and raw events', async () => {
    const s = await setup('valid');
    const store = await openStore(s.config);
    const daemon = await startDaemon(s.config, store);
    try {
      const ready = await daemon.app.inject({ method: 'GET', url: '/readyz' });
      expect(ready.statusCode).toBe(503);
      expect(ready.json().checks.kafka.ok).toBe(false);
      expect(await metricValue(daemon, 'driftd_kafka_consumer_ready')).toBe(0);
      await waitFor('group join', async () => {
        const r = await daemon.app.inject({ method: 'GET', url: '/readyz' });
        return r.statusCode === 200 ? r.json() : undefined;
      });
      // DriftdKafkaConsumerNotReady reads this gauge: the consumer's state at scrape time.
      expect(await metricValue(daemon, 'driftd_kafka_consumer_ready')).toBe(1);
      expect(await metricValue(daemon, 'driftd_kafka_rebalances_total')).toBeGreaterThanOrEqual(1);

      const events = stream('v', 3000, T0, 5 * MINUTE, 2);
      await produceEvents(s.predictions, [...events, ...sentinels('v')]);
      const windows = await waitFor('5 closed windows', async () => {
        const w = await windowsOf(store);
        return w.length === 5 ? w : undefined;
      });
      expect(windows.map((w) => w.start)).toEqual([0, 1, 2, 3, 4].map((i) => T0 + i * MINUTE));
      expect(windows.map((w) => w.eventCount)).toEqual([600, 600, 600, 600, 600]);
      expect(windows.every((w) => w.lateCount === 0)).toBe(true);
      expect(windows[0]!.features.map((f) => f.feature).sort()).toEqual([
        'age',
        'income',
        'region',
      ]);
      // Raw events: one per id, with their Kafka coordinates.
      await daemon.kafka!.checkpoint();
      const raw = await store.windowEvents({
        model: MODEL,
        version: '3',
        from: T0,
        to: T0 + 5 * MINUTE,
      });
      expect(raw).toHaveLength(3000);
      expect(new Set(raw.map((r) => r.id)).size).toBe(3000);
      const first = raw.find((r) => r.id === 'v-4')!;
      expect(first.source).toMatchObject({ kind: 'kafka', topic: s.predictions, partition: 1 });
      expect(await metricValue(daemon, 'driftd_events_total', { result: 'accepted' })).toBe(3003);
      // DriftdKafkaConsumerStuck watches this progress counter.
      expect(
        await metricValue(daemon, 'driftd_kafka_messages_processed_total', {
          topic: s.predictions,
        }),
      ).toBeGreaterThanOrEqual(3003);
      expect(await store.hasLabels(MODEL)).toBe(false);
      // Lag per partition drops to 0 once everything is processed.
      await waitFor('zero lag', async () => {
        const lag = await metricValue(daemon, 'driftd_kafka_consumer_lag_messages', {
          topic: s.predictions,
        });
        return lag === 0 ? true : undefined;
      });
    } finally {
      await daemon.close();
    }
  }, 90_000);

  it('dead-letters every kind of invalid message with reason headers, counts them, and keeps consuming', async () => {
    const s = await setup('dlq');
    // A dead-letter topic that takes less than the source: the largest message cannot be copied.
    const admin = kafka.admin();
    await admin.connect();
    await admin.alterConfigs({
      validateOnly: false,
      resources: [
        {
          type: kafkajs.ConfigResourceTypes.TOPIC,
          name: s.dlq,
          configEntries: [{ name: 'max.message.bytes', value: '10000' }],
        },
      ],
    });
    await admin.disconnect();
    const store = await openStore(s.config);
    const daemon = await startDaemon(s.config, store);
    try {
      const z = normals(3);
      const ok = (id: string, minute: number) => event(id, T0 + minute * MINUTE, z);
      const bad: Array<{ reason: string; value: string; key: string }> = [
        { reason: 'invalid_json', key: 'k-json', value: '{"model": "credit-risk", ' },
        {
          reason: 'unknown_model',
          key: 'k-model',
          value: JSON.stringify({ ...ok('u1', 0), model: 'nope' }),
        },
        {
          reason: 'wrong_type',
          key: 'k-type',
          value: JSON.stringify({ ...ok('w1', 0), features: { income: 'lots', age: 3 } }),
        },
        // JSON has no NaN, but 1e999 parses to Infinity.
        {
          reason: 'non_finite',
          key: 'k-inf',
          value: JSON.stringify(ok('n1', 0)).replace(/"income":[^,]+/, '"income":1e999'),
        },
        {
          reason: 'missing_field',
          key: 'k-id',
          value: JSON.stringify({ ...ok('x', 0), id: undefined }),
        },
        {
          reason: 'oversized',
          key: 'k-big',
          value: JSON.stringify({
            ...ok('big', 0),
            features: { ...ok('big', 0).features, pad: 'x'.repeat(4000) },
          }),
        },
        {
          reason: 'oversized',
          key: 'k-huge',
          value: JSON.stringify({
            ...ok('huge', 0),
            features: { ...ok('huge', 0).features, pad: 'x'.repeat(20_000) },
          }),
        },
      ];
      // Valid events before and after the bad ones on the same partition, and a bad label.
      await produce(s.predictions, [
        { partition: 0, value: ok('good-1', 0) },
        ...bad.map((b) => ({
          partition: 0,
          key: b.key,
          value: b.value,
          headers: { 'trace-id': `t-${b.key}` },
        })),
        { partition: 0, value: ok('good-2', 0) },
        // Model and version from headers when the value lacks them.
        {
          partition: 0,
          value: { ...ok('good-3', 0), model: undefined, version: undefined },
          headers: { 'driftd-model': MODEL, 'driftd-version': '3' },
        },
      ]);
      await produce(s.labels, [
        { partition: 1, key: 'k-label', value: { model: MODEL, id: 'good-1' } },
      ]);
      await produceEvents(s.predictions, sentinels('d'));

      const dead = await readTopic(kafka, s.dlq, bad.length + 1);
      expect(dead).toHaveLength(bad.length + 1);
      const header = (m: KafkaMessage, h: string) => m.headers?.[h]?.toString();
      for (const b of bad) {
        const m = dead.find((d) => d.key?.toString() === b.key)!;
        expect(header(m, DEAD_LETTER_HEADERS.reason)).toBe(b.reason);
        expect(header(m, DEAD_LETTER_HEADERS.error)?.length).toBeGreaterThan(0);
        expect(header(m, DEAD_LETTER_HEADERS.topic)).toBe(s.predictions);
        expect(header(m, DEAD_LETTER_HEADERS.partition)).toBe('0');
        expect(Number(header(m, DEAD_LETTER_HEADERS.offset))).toBeGreaterThanOrEqual(1);
        // Original key, value and headers travel unchanged, except a value larger than the
        // dead-letter topic accepts: dropped, with its size in a header (coordinates point at it).
        if (b.key === 'k-huge') {
          expect(m.value).toBeNull();
          expect(header(m, 'driftd-value-dropped')).toBe(String(Buffer.byteLength(b.value)));
        } else {
          expect(m.value?.toString()).toBe(b.value);
        }
        expect(header(m, 'trace-id')).toBe(`t-${b.key}`);
      }
      const offsets = bad.map((b) =>
        header(dead.find((d) => d.key?.toString() === b.key)!, DEAD_LETTER_HEADERS.offset),
      );
      expect(offsets).toEqual(['1', '2', '3', '4', '5', '6', '7']);
      const label = dead.find((d) => d.key?.toString() === 'k-label')!;
      expect(header(label, DEAD_LETTER_HEADERS.reason)).toBe('missing_field');
      expect(header(label, DEAD_LETTER_HEADERS.topic)).toBe(s.labels);

      for (const b of bad) {
        expect(
          await metricValue(daemon, 'driftd_dead_letter_total', { reason: b.reason }),
          b.reason,
        ).toBe(b.reason === 'missing_field' || b.reason === 'oversized' ? 2 : 1);
      }
      expect(await metricValue(daemon, 'driftd_events_total', { result: 'invalid' })).toBe(7);
      // wrong_type, non_finite and missing_field name a configured model; the rest cannot.
      expect(
        await metricValue(daemon, 'driftd_events_total', { result: 'invalid', model: MODEL }),
      ).toBe(3);
      expect(await metricValue(daemon, 'driftd_labels_total', { result: 'invalid' })).toBe(1);
      // The valid events around the bad ones were counted: the consumer kept going.
      const [w] = await waitFor('the window', async () => {
        const r = await windowsOf(store);
        return r.length === 1 ? r : undefined;
      });
      expect(w!.eventCount).toBe(3);
      await daemon.kafka!.checkpoint(); // buffered raw rows reach the store
      const fromHeaders = await store.getPrediction('good-3');
      expect(fromHeaders?.event).toMatchObject({ model: MODEL, version: '3', id: 'good-3' });
    } finally {
      await daemon.close();
    }
  }, 90_000);

  it.each([
    ['on the decode thread', true],
    ['on the event loop', false],
  ])(
    'takes model and version from the message key when configured, after the value and the headers (%s)',
    async (_, decodeThread) => {
      const s = await setup(`key-${decodeThread ? 'thread' : 'loop'}`, {
        messageKey: 'model:version',
      });
      const store = await openStore(s.config);
      const daemon = await startDaemon(s.config, store, { decodeThread });
      try {
        const z = normals(7);
        const at = (id: string, over: Record<string, unknown> = {}) => ({
          ...event(id, T0 + 1_000, z),
          ...over,
        });
        const bare = { model: undefined, version: undefined };
        await produce(s.predictions, [
          { partition: 0, key: `${MODEL}:3`, value: at('k-1', bare) },
          // The value's own fields win over the key.
          { partition: 0, key: 'fraud:9', value: at('k-2') },
          // The headers win over the key.
          {
            partition: 0,
            key: 'fraud:1',
            value: at('k-3', bare),
            headers: { 'driftd-model': MODEL, 'driftd-version': '3' },
          },
          // Version from the value, model from the key (no version part).
          { partition: 0, key: MODEL, value: at('k-4', { model: undefined }) },
          // A key naming no configured model, and no key at all: dead letters.
          { partition: 0, key: 'fraud:3', value: at('k-5', bare) },
          { partition: 0, value: at('k-6', bare) },
        ]);
        await produceEvents(s.predictions, sentinels('k'));

        const dead = await readTopic(kafka, s.dlq, 2);
        const reasons = dead.map((m) => [
          m.key?.toString() ?? null,
          m.headers?.[DEAD_LETTER_HEADERS.reason]?.toString(),
        ]);
        expect(reasons).toEqual([
          ['fraud:3', 'unknown_model'],
          [null, 'missing_field'],
        ]);
        const [w] = await waitFor('the window', async () => {
          const r = await windowsOf(store);
          return r.length === 1 ? r : undefined;
        });
        expect(w!.eventCount).toBe(4);
        await daemon.kafka!.checkpoint(); // buffered raw rows reach the store
        for (const id of ['k-1', 'k-2', 'k-3', 'k-4']) {
          const p = await store.getPrediction(id);
          expect(p?.event, id).toMatchObject({ model: MODEL, version: '3', id });
        }
      } finally {
        await daemon.close();
      }
    },
  );

  it('labels topic → performance of the windows their predictions fell in', async () => {
    const s = await setup('labels');
    const store = await openStore(s.config);
    const daemon = await startDaemon(s.config, store);
    try {
      const events = stream('l', 600, T0, 2 * MINUTE, 4);
      await produceEvents(s.predictions, [...events, ...sentinels('l')]);
      await waitFor('2 windows', async () =>
        (await windowsOf(store)).length === 2 ? true : undefined,
      );
      // Labels after the windows closed: the recompute finds them through the stored predictions.
      const labels = events.map((e, i) => ({
        partition: i % 3,
        key: e.event.id,
        value: {
          model: MODEL,
          id: e.event.id,
          label: e.event.prediction >= 0.5 ? 1 : i % 7 === 0 ? 1 : 0,
        },
      }));
      await produce(s.labels, labels);
      const perf = await waitFor('performance of both windows', async () => {
        const p = await store.queryPerformance({ model: MODEL, from: T0, to: T0 + 2 * MINUTE });
        return p.length === 2 && p.every((x) => x.labeled === 300) ? p : undefined;
      });
      expect(perf.map((p) => p.coverage)).toEqual([1, 1]);
      expect(await store.hasLabels(MODEL)).toBe(true);
      expect(perf[0]!.metrics.accuracy).toBeGreaterThan(0.8);
      expect(perf[0]!.metrics.accuracy).toBeLessThan(1);
      expect(await metricValue(daemon, 'driftd_labels_total', { result: 'accepted' })).toBe(600);
    } finally {
      await daemon.close();
    }
  }, 90_000);

  it('a restart resumes from the checkpoint, not from Kafka’s committed offsets: nothing counted twice, nothing missed', async () => {
    const s = await setup('restart');
    let store = await openStore(s.config);
    let daemon = await startDaemon(s.config, store);
    const first = stream('r1', 1500, T0, 3 * MINUTE, 5);
    const second = stream('r2', 1500, T0 + 3 * MINUTE, 3 * MINUTE, 6);
    try {
      await produceEvents(s.predictions, first);
      await waitFor('first half consumed', async () =>
        (await metricValue(daemon, 'driftd_events_total', { result: 'accepted' })) === 1500
          ? true
          : undefined,
      );
    } finally {
      await daemon.close(); // final checkpoint + commit
    }
    const admin = kafka.admin();
    await admin.connect();
    const [committed] = await admin.fetchOffsets({ groupId: s.groupId, topics: [s.predictions] });
    expect(committed!.partitions.map((p) => Number(p.offset)).sort()).toEqual([500, 500, 500]);
    // As if the process had died between writing the checkpoint and committing it: Kafka's
    // committed offsets lag (here: back to the start). The checkpoint must win.
    await admin.resetOffsets({ groupId: s.groupId, topic: s.predictions, earliest: true });
    const [reset] = await admin.fetchOffsets({ groupId: s.groupId, topics: [s.predictions] });
    expect(reset!.partitions.every((p) => Number(p.offset) <= 0)).toBe(true);
    await admin.disconnect();

    store = createStore(s.config.store);
    daemon = await startDaemon(s.config, store);
    try {
      await produceEvents(s.predictions, [...second, ...sentinels('r')]);
      const windows = await waitFor('6 windows', async () => {
        const w = await windowsOf(store);
        return w.length === 6 ? w : undefined;
      });
      expect(windows.map((w) => w.eventCount)).toEqual([500, 500, 500, 500, 500, 500]);
      // The second life replayed nothing of the first.
      expect(await metricValue(daemon, 'driftd_events_total', { result: 'accepted' })).toBe(1503);
    } finally {
      await daemon.close();
    }
  }, 120_000);

  it('a consumer kafkajs will not restart (a non-retriable crash) is connected again, with backoff', async () => {
    // The broker refuses the join (INVALID_SESSION_TIMEOUT: above its 30 min maximum): kafkajs
    // reports a crash with restart=false and leaves the consumer dead. The same happens in an
    // outage when the broker goes away during a coordinator lookup.
    const s = await setup('dead');
    const store = await openStore(s.config);
    const lines: Array<Record<string, unknown>> = [];
    const sink = new Writable({
      write(chunk, _enc, done) {
        for (const l of String(chunk).split('\n')) if (l) lines.push(JSON.parse(l));
        done();
      },
    });
    const daemon = createDaemon(s.config, {
      store,
      listen: false,
      logger: createLogger('warn', sink),
      kafka: { sessionTimeoutMs: 3_600_000, heartbeatIntervalMs: 500, kafkaLogLevel: 'nothing' },
    });
    await daemon.start();
    try {
      const reconnects = () => lines.filter((l) => /connecting again/.test(String(l.msg)));
      await waitFor('two reconnects', async () => (reconnects().length >= 2 ? true : undefined));
      // (A retriable crash kafkajs restarts itself, e.g. a coordinator still loading, may
      // come in between.)
      const crashes = lines.filter((l) => l.msg === 'Kafka consumer crash' && l.restart === false);
      expect(crashes.length).toBeGreaterThanOrEqual(2);
      expect(
        await metricValue(daemon, 'driftd_kafka_errors_total', { operation: 'consumer_crash' }),
      ).toBeGreaterThanOrEqual(2);
      // Backoff between attempts, growing; never ready.
      const [first, second] = reconnects();
      expect(first!.delayMs as number).toBeGreaterThanOrEqual(800);
      expect(second!.delayMs as number).toBeGreaterThan(first!.delayMs as number);
      expect(daemon.kafka!.joined).toBe(false);
    } finally {
      const t = Date.now();
      await daemon.close();
      expect(Date.now() - t).toBeLessThan(10_000);
    }
  }, 60_000);

  it('rides out a store outage: nothing lost, nothing doubled, offsets held back (store outage simulated by a failing wrapper)', async () => {
    const s = await setup('outage');
    const real = await openStore(s.config);
    let failures = 0;
    let outage = true;
    const fail = (op: string) => {
      failures++;
      throw new StoreError(`simulated outage (${op})`, { retriable: true, clickhouseCode: 210 });
    };
    // The real store, except that writes fail with a retriable StoreError while `outage` holds.
    const store: Store = {
      ...real,
      kind: real.kind,
      insertEncodedEvents: (batches) =>
        outage ? fail('insertEncodedEvents') : real.insertEncodedEvents(batches),
      insertWindowResults: (rows) =>
        outage ? fail('insertWindowResults') : real.insertWindowResults(rows),
      saveCheckpoint: (c) => (outage ? fail('saveCheckpoint') : real.saveCheckpoint(c)),
    };
    const daemon = await startDaemon(s.config, store);
    try {
      await waitFor('group join', () => (daemon.store && daemonReady(daemon) ? true : undefined));
      const events = stream('o', 3000, T0, 3 * MINUTE, 7);
      await produceEvents(s.predictions, [...events, ...sentinels('o')]);
      await waitFor('several failed writes', () => (failures >= 5 ? true : undefined));
      // Nothing committed while the writes fail.
      const admin = kafka.admin();
      await admin.connect();
      const [during] = await admin.fetchOffsets({ groupId: s.groupId, topics: [s.predictions] });
      expect(during!.partitions.every((p) => Number(p.offset) <= 0)).toBe(true);
      expect(await metricValue(daemon, 'driftd_store_errors_total')).toBeGreaterThan(0);
      outage = false;
      const windows = await waitFor('3 windows after the outage', async () => {
        const w = await windowsOf(real);
        return w.length === 3 ? w : undefined;
      });
      expect(windows.map((w) => w.eventCount)).toEqual([1000, 1000, 1000]);
      // Raw rows are buffered and stored by the next checkpoint at the latest.
      await daemon.kafka!.checkpoint();
      const raw = await real.windowEvents({
        model: MODEL,
        version: '3',
        from: T0,
        to: T0 + 3 * MINUTE,
      });
      expect(raw).toHaveLength(3000);
      expect(new Set(raw.map((r) => r.id)).size).toBe(3000);
      // Offsets committed once the store is back.
      await waitFor('offsets committed', async () => {
        const [after] = await admin.fetchOffsets({ groupId: s.groupId, topics: [s.predictions] });
        return after!.partitions.every((p) => Number(p.offset) === 1001) ? true : undefined;
      });
      await admin.disconnect();
      expect(await metricValue(daemon, 'driftd_events_total', { result: 'accepted' })).toBe(3003);
    } finally {
      outage = false;
      await daemon.close();
    }
  }, 120_000);
});

describe('Kafka source without a reachable broker', () => {
  it('starts (HTTP up), stays not ready while it retries, and closes promptly', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'driftd-kafka-down-'));
    try {
      const config = validateConfig(
        {
          dataDir: dir,
          logLevel: 'silent',
          // Nothing listens on port 1.
          kafka: { brokers: ['127.0.0.1:1'], groupId: 'down' },
          models: [
            {
              id: MODEL,
              task: 'binary-classification',
              features: [{ name: 'income', type: 'numeric' }],
            },
          ],
        },
        { env: {} },
      );
      const daemon = createDaemon(config, { listen: false, kafka: { kafkaLogLevel: 'nothing' } });
      await daemon.start();
      await new Promise((r) => setTimeout(r, 1_500));
      const ready = await daemon.app.inject({ method: 'GET', url: '/readyz' });
      expect(ready.statusCode).toBe(503);
      expect(ready.json().checks.kafka).toEqual({ ok: false, detail: 'connecting' });
      expect(ready.json().checks.store.ok).toBe(true);
      // Every failed connect attempt is counted.
      await waitFor('a failed connect counted', async () =>
        (await metricValue(daemon, 'driftd_kafka_errors_total', { operation: 'connect' })) >= 1
          ? true
          : undefined,
      );
      const t = Date.now();
      await daemon.close();
      expect(Date.now() - t).toBeLessThan(10_000);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }, 30_000);
});

function daemonReady(d: Daemon): boolean {
  return d.state === 'running' && d.kafka?.joined === true;
}
