/**
 * The crash-consistency proof, end to end: the daemon runs as a real child process consuming
 * the real Kafka broker into the real embedded ClickHouse, and is killed with SIGKILL three
 * times while a known stream is produced — right after a checkpoint's offset commit, in the
 * middle of consuming a chunk (windows recorded, rows and results partly written, no
 * checkpoint covering them yet), and just after a restart's first window results were written.
 * Each restart replays what its predecessor did after its last checkpoint (the test checks
 * that replays happened). After the last restart it finishes, and its window
 * results (per window and size: event and late counts, every feature statistic, p-values,
 * verdicts, drift share) must EQUAL those of an uninterrupted daemon over the same topic; raw
 * events must be exactly one per id, and no dead letter may be missing.
 *
 * The stream: 30 000 events over one hour of event time on 3 partitions (in event-time order
 * per partition, except every 400th event, 2 minutes behind: late for the 1m windows), a
 * shifted income in minutes 30–45 (drift), a malformed message every 2000 per partition (dead
 * letters), and one event per partition far in the future at the end, so every window closes
 * by watermark.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Producer } from 'kafkajs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildProfileFromRows } from '../../src/baseline/index.js';
import { validateConfig } from '../../src/config/index.js';
import type { DriftdConfig } from '../../src/config/types.js';
import { DEAD_LETTER_HEADERS } from '../../src/ingest/kafka/index.js';
import { createChdbExecutor, createStore } from '../../src/store/index.js';
import type { WindowResult } from '../../src/types.js';
import {
  type DaemonProcess,
  startDaemonProcess,
  writeConfigFile,
} from '../helpers/daemon-process.js';
import {
  createTestTopic,
  deleteTopics,
  kafkaBrokers,
  readTopic,
  requireKafkaOrSkip,
  testKafka,
  uniqueGroupId,
} from '../helpers/kafka.js';
import { lcgNormals } from '../helpers/random.js';

const { available } = await requireKafkaOrSkip();

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
// Recent event times (the raw-event TTL is counted from event time).
const T0 = Math.floor(Date.now() / HOUR) * HOUR - 6 * HOUR;
const PER_PARTITION = 10_000;
const PARTITIONS = 3;
const CHUNKS = 3;
const MODEL = 'credit-risk';
const REGIONS = ['EU', 'US', 'APAC'];

interface Item {
  partition: number;
  value: string;
  valid: boolean;
}

function eventValue(
  id: string,
  ts: number,
  r: ReturnType<typeof lcgNormals>,
  shift: number,
): string {
  return JSON.stringify({
    model: MODEL,
    version: '7',
    id,
    ts: new Date(ts).toISOString(),
    features: {
      income: 50_000 + 10_000 * (r.z() + shift),
      age: Math.round(40 + 12 * r.z()),
      region: REGIONS[Math.floor(r.u() * 3)],
    },
    prediction: 1 / (1 + Math.exp(-r.z())),
  });
}

/** Per partition, its messages in produce order. */
function makeStream(): Item[][] {
  return Array.from({ length: PARTITIONS }, (_, p) => {
    const r = lcgNormals(1000 + p);
    const out: Item[] = [];
    for (let j = 0; j < PER_PARTITION; j++) {
      let ts = T0 + Math.floor((j * HOUR) / PER_PARTITION) + p * 97;
      if (j % 400 === 399) ts -= 2 * MINUTE;
      const minute = Math.floor((ts - T0) / MINUTE);
      const shift = minute >= 30 && minute < 45 ? 1 : 0;
      out.push({ partition: p, valid: true, value: eventValue(`e-${p}-${j}`, ts, r, shift) });
      if (j % 2000 === 1000)
        out.push({ partition: p, valid: false, value: `{"model":"${MODEL}",` });
    }
    return out;
  });
}

const sentinels = (): Item[] =>
  Array.from({ length: PARTITIONS }, (_, p) => ({
    partition: p,
    valid: true,
    value: eventValue(`sentinel-${p}`, T0 + 3 * HOUR, lcgNormals(7), 0),
  }));

describe.skipIf(!available)(
  'Kafka crash consistency: SIGKILL × 3 vs an uninterrupted run (real broker, child processes)',
  () => {
    const kafka = testKafka('driftd-test-kafka-crash');
    const admin = kafka.admin();
    let producer: Producer;
    let predictions = '';
    let labels = '';
    let dlqCrash = '';
    let dlqRef = '';
    let root = '';
    const running: DaemonProcess[] = [];
    const stream = makeStream();
    const invalid = stream.flat().filter((i) => !i.valid).length;
    const validCount = stream.flat().filter((i) => i.valid).length + PARTITIONS;

    beforeAll(async () => {
      [predictions, labels, dlqCrash, dlqRef] = await Promise.all([
        createTestTopic('e2e-crash-predictions', PARTITIONS),
        createTestTopic('e2e-crash-labels', PARTITIONS),
        createTestTopic('e2e-crash-dlq', 1),
        createTestTopic('e2e-crash-dlq-ref', 1),
      ]);
      root = await mkdtemp(join(tmpdir(), 'driftd-e2e-crash-'));
      producer = kafka.producer();
      await producer.connect();
      await admin.connect();
    });

    afterAll(async () => {
      for (const d of running) await d.kill().catch(() => undefined);
      await producer?.disconnect();
      await admin.disconnect();
      await deleteTopics(predictions, labels, dlqCrash, dlqRef);
      if (root) await rm(root, { recursive: true, force: true });
    });

    function configFor(name: string, dlq: string): Record<string, unknown> {
      return {
        dataDir: join(root, name),
        server: { host: '127.0.0.1', port: 0 },
        logLevel: 'info',
        kafka: {
          brokers: kafkaBrokers(),
          clientId: `driftd-e2e-${name}`,
          groupId: uniqueGroupId(`e2e-crash-${name}`),
          predictionsTopic: predictions,
          labelsTopic: labels,
          deadLetterTopic: dlq,
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
            windows: { sizes: ['1m', '5m'], allowedLateness: '30s', idleTimeout: '30m' },
            drift: { minWindowSize: 100 },
          },
        ],
      };
    }

    /** Migrates the run's store and saves the baseline, then closes it (the daemon opens it next). */
    async function prepareStore(config: DriftdConfig): Promise<void> {
      const store = createStore(config.store);
      try {
        await store.migrate();
        const r = lcgNormals(1);
        const rows = Array.from({ length: 5000 }, (_, i) =>
          JSON.parse(eventValue(`b-${i}`, T0 - HOUR, r, 0)),
        );
        await store.saveBaseline(buildProfileFromRows(config.models[0]!, '7', rows).profile);
      } finally {
        await store.close();
      }
    }

    const env = {
      DRIFTD_KAFKA_CHECKPOINT_INTERVAL_MS: '700',
      DRIFTD_KAFKA_SESSION_TIMEOUT_MS: '6000',
      DRIFTD_KAFKA_HEARTBEAT_INTERVAL_MS: '1000',
      DRIFTD_KAFKA_MAX_WAIT_MS: '100',
      // Small row buffers: raw rows reach the store between checkpoints, so replays re-insert some.
      DRIFTD_KAFKA_BUFFER_ROWS: '500',
    };

    async function start(configFile: string, name: string): Promise<DaemonProcess> {
      const d = await startDaemonProcess({ configFile, env, logFile: join(root, `${name}.log`) });
      running.push(d);
      await d.waitReady(60_000);
      return d;
    }

    async function produce(items: Item[]): Promise<void> {
      for (let i = 0; i < items.length; i += 2000) {
        const slice = items.slice(i, i + 2000);
        await producer.send({
          topic: predictions,
          acks: -1,
          messages: slice.map((m) => ({ partition: m.partition, value: m.value })),
        });
      }
    }

    /** Chunk k of every partition, interleaved partition by partition in slices. */
    function chunk(k: number): Item[] {
      const out: Item[] = [];
      for (const part of stream) {
        const size = Math.ceil(part.length / CHUNKS);
        out.push(...part.slice(k * size, (k + 1) * size));
      }
      return out;
    }

    async function committedSum(groupId: string): Promise<number> {
      const [t] = await admin.fetchOffsets({ groupId, topics: [predictions] });
      return (t?.partitions ?? []).reduce((s, p) => s + Math.max(0, Number(p.offset)), 0);
    }

    async function waitUntil(
      what: string,
      probe: () => Promise<boolean> | boolean,
      timeoutMs = 120_000,
    ) {
      const deadline = Date.now() + timeoutMs;
      while (!(await probe())) {
        if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms: ${what}`);
        await new Promise((r) => setTimeout(r, 20));
      }
    }

    /** Events a running daemon counted into windows (accepted + late), from its /metrics. */
    async function accepted(d: DaemonProcess): Promise<number> {
      const text = await (await fetch(`${d.url}/metrics`)).text();
      let n = 0;
      for (const line of text.split('\n')) {
        if (
          line.startsWith('driftd_events_total{') &&
          (line.includes('result="accepted"') || line.includes('result="late"'))
        ) {
          n += Number(line.slice(line.lastIndexOf(' ') + 1));
        }
      }
      return n;
    }

    const windowsClosed = (d: DaemonProcess, from = 0) =>
      d.logs.slice(from).filter((e) => e.msg === 'window closed').length;

    async function finished(d: DaemonProcess): Promise<boolean> {
      const q = (w: string) =>
        d.get<{ windows: unknown[] }>(
          `/api/v1/models/${MODEL}/drift?window=${w}&from=${new Date(T0 - HOUR).toISOString()}&to=${new Date(T0 + 2 * HOUR).toISOString()}`,
        );
      const [one, five] = await Promise.all([q('1m'), q('5m')]);
      return one.windows.length === 60 && five.windows.length === 12;
    }

    async function readResults(config: DriftdConfig) {
      const executor = createChdbExecutor({
        path: (config.store as { path: string }).path,
      });
      const store = createStore(config.store, { executor });
      try {
        const windows: WindowResult[] = [];
        for (const w of ['1m', '5m']) {
          windows.push(
            ...(await store.queryDrift({
              model: MODEL,
              window: w,
              from: T0 - HOUR,
              to: T0 + 2 * HOUR,
            })),
          );
        }
        const [raw] = await executor.query<{
          n: string;
          ids: string;
          late: string;
          digest: string;
        }>(
          `SELECT count() AS n, uniqExact(id) AS ids, countIf(late = 1) AS late_rows,
                toString(sum(cityHash64(id, late, kafka_partition, kafka_offset))) AS digest
         FROM driftd.events FINAL WHERE model = '${MODEL}'`,
        );
        const [copies] = await executor.query<{ n: string }>(
          `SELECT count() AS n FROM driftd.events WHERE model = '${MODEL}'`,
        );
        const dup = await executor.query<{ id: string }>(
          `SELECT id FROM driftd.events FINAL GROUP BY id HAVING count() > 1 LIMIT 5`,
        );
        return { windows, raw: raw!, copies: Number(copies!.n), duplicates: dup.map((d) => d.id) };
      } finally {
        await store.close();
      }
    }

    async function deadLetterOffsets(topic: string, expected: number): Promise<Set<string>> {
      const seen = await readTopic(kafka, topic, expected, { lingerMs: 300 });
      return new Set(
        seen.map(
          (m) =>
            `${m.headers?.[DEAD_LETTER_HEADERS.partition]?.toString()}:${m.headers?.[DEAD_LETTER_HEADERS.offset]?.toString()}`,
        ),
      );
    }

    it('SIGKILL after a commit, mid-stream and after a restart: same windows as an uninterrupted run, one raw event per id', async () => {
      const crashInput = configFor('crash', dlqCrash);
      const refInput = configFor('reference', dlqRef);
      const crash = validateConfig(crashInput, { env: {} });
      /** Events each life of the crash run counted into windows, read just before it died. */
      const counted: number[] = [];
      const reference = validateConfig(refInput, { env: {} });
      await prepareStore(crash);
      await prepareStore(reference);
      const crashFile = await writeConfigFile(root, crashInput, 'crash.yaml');
      const refFile = await writeConfigFile(root, refInput, 'reference.yaml');
      const groupId = crash.kafka!.groupId;

      // Life 1: the first chunk; SIGKILL right after the first offset commit (after a checkpoint).
      let d = await start(crashFile, 'crash');
      await produce(chunk(0));
      await waitUntil('a first offset commit', async () => (await committedSum(groupId)) > 0);
      counted.push(await accepted(d).catch(() => 0));
      await d.kill();
      const committed1 = await committedSum(groupId);
      expect(committed1).toBeGreaterThan(0);

      // Life 2: restored; the second chunk; SIGKILL in the middle of consuming it (4000 of its
      // ~10 000 events counted): windows recorded, some rows and results written, not yet
      // covered by a checkpoint.
      d = await start(crashFile, 'crash');
      expect(
        d.logs.some((e) => e.msg === 'restored Kafka checkpoint: resuming from its offsets'),
      ).toBe(true);
      const life2 = d;
      const producing2 = produce(chunk(1));
      await waitUntil(
        '4000 events counted in life 2',
        async () => (await accepted(life2)) >= 4000,
        60_000,
      );
      counted.push(await accepted(d).catch(() => 0));
      await d.kill();
      await producing2;

      // Life 3: the third chunk and the sentinels; SIGKILL just after its first window close.
      d = await start(crashFile, 'crash');
      const mark3 = d.logs.length;
      const producing = produce([...chunk(2), ...sentinels()]);
      await waitUntil('a window closed in life 3', () => windowsClosed(d, mark3) >= 1, 60_000);
      await new Promise((r) => setTimeout(r, 30));
      counted.push(await accepted(d).catch(() => 0));
      await d.kill();
      await producing;

      // Life 4: runs to the end, then a graceful stop.
      d = await start(crashFile, 'crash');
      await waitUntil('all 72 windows in the crash run', () => finished(d), 120_000);
      counted.push(await accepted(d));
      expect((await d.stop()).code).toBe(0);
      const restores = (await import('node:fs/promises')).readFile(join(root, 'crash.log'), 'utf8');
      expect(((await restores).match(/restored Kafka checkpoint/g) ?? []).length).toBe(3);

      // The reference: one uninterrupted daemon over the same topic (own group, store, DLQ).
      const ref = await start(refFile, 'reference');
      await waitUntil('all 72 windows in the reference run', () => finished(ref), 120_000);
      expect((await ref.stop()).code).toBe(0);

      const a = await readResults(crash);
      const b = await readResults(reference);
      // When and why a result was written differ by design: a window the crash left closed but
      // unwritten is written after the restart (revision reason restart, not close).
      const strip = (ws: WindowResult[]) =>
        ws.map(({ closedAt: _closedAt, revisionReason: _reason, ...rest }) => rest);

      // Sanity: the stream exercises what it should.
      expect(b.windows).toHaveLength(72);
      expect(b.windows.reduce((n, w) => n + w.lateCount, 0)).toBeGreaterThan(0);
      expect(b.windows.some((w) => w.datasetDrift || w.features.some((f) => f.drifted))).toBe(true);
      expect(b.windows.some((w) => w.features.every((f) => !f.drifted))).toBe(true);

      // THE assertion: per window and size, every count, statistic and verdict is equal.
      expect(strip(a.windows)).toEqual(strip(b.windows));
      const inWindows = (ws: WindowResult[]) =>
        ws.filter((w) => w.sizeLabel === '1m').reduce((n, w) => n + w.eventCount, 0);
      expect(inWindows(a.windows)).toBe(inWindows(b.windows));

      // The kills cost work: events after a life's last checkpoint were counted again by the
      // next life (and must not show twice in any result or raw row).
      const replayed = counted.reduce((n, c) => n + c, 0) - validCount;
      expect(replayed).toBeGreaterThan(0);

      // Raw events: exactly one per id, the same rows (id, late flag, Kafka coordinates) as the reference.
      expect(Number(a.raw.n)).toBe(validCount);
      expect(Number(a.raw.ids)).toBe(validCount);
      expect(a.duplicates).toEqual([]);
      expect(a.raw).toEqual(b.raw);

      // No dead letter lost (the crash run may repeat some: at-least-once).
      expect((await deadLetterOffsets(dlqCrash, invalid)).size).toBe(invalid);
      expect((await deadLetterOffsets(dlqRef, invalid)).size).toBe(invalid);
      console.info(
        `[kafka-crash] events counted per life: ${counted.join(', ')} (${replayed} replayed after kills); committed at kill 1: ${committed1}; raw rows before merges: ${a.copies} for ${validCount} events`,
      );
    }, 400_000);
  },
);
