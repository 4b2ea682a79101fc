/**
 * Cluster mode's Kafka lanes (src/ingest/kafka/lane-checkpoints.ts) against the real broker and
 * the real embedded ClickHouse store: two Kafka sources, each with a cluster pipeline of its
 * own (two instances in one process), share one store and one consumer group over a
 * 4-partition topic. The first consumes alone, the second joins (half the partitions move),
 * the first leaves gracefully (the rest move). Every partition's lane counts each of its events
 * exactly once, whoever held it: its final partials equal the produced events per window, and
 * a moved partition resumes from its lane checkpoint (seq continues, the new owner logs it).
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import type { Producer } from 'kafkajs';
import { Registry } from 'prom-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildProfileFromRows } from '../../../src/baseline/index.js';
import type { ClusterStore, LaneProgressRow, PartialRow } from '../../../src/cluster/types.js';
import { kafkaLane, laneCheckpointGroup } from '../../../src/cluster/types.js';
import { validateConfig } from '../../../src/config/index.js';
import type { DriftdConfig } from '../../../src/config/types.js';
import { createMetrics } from '../../../src/export/metrics.js';
import {
  decodeLaneCheckpoint,
  encodeLaneCheckpoint,
  type LaneCheckpoint,
} from '../../../src/ingest/checkpoint.js';
import { createKafkaSource, type KafkaSource } from '../../../src/ingest/kafka/index.js';
import { createPipeline, type Pipeline } from '../../../src/ingest/pipeline.js';
import { createLogger } from '../../../src/logger.js';
import { createStore } from '../../../src/store/index.js';
import type { Store, StoredCheckpoint } from '../../../src/store/types.js';
import {
  createTestTopic,
  deleteTopics,
  kafkaBrokers,
  requireKafkaOrSkip,
  testKafka,
  uniqueGroupId,
} from '../../helpers/kafka.js';

const { available } = await requireKafkaOrSkip();

const T0 = Date.parse('2026-11-22T10:00:00Z');
const MINUTE = 60_000;
const MODEL = 'credit-risk';
const PARTITIONS = 4;

function normals(seed: number) {
  let s = seed >>> 0;
  const u = () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return (s + 0.5) / 4294967296;
  };
  return () => Math.sqrt(-2 * Math.log(u())) * Math.cos(2 * Math.PI * u());
}

function event(id: string, ts: number, z: () => number) {
  return {
    model: MODEL,
    version: '3',
    id,
    ts: new Date(ts).toISOString(),
    features: { income: 50_000 + 10_000 * z(), age: 40 + 10 * z() },
    prediction: 1 / (1 + Math.exp(-z())),
  };
}

async function waitFor<T>(
  what: string,
  probe: () => Promise<T | undefined> | T | undefined,
  timeoutMs = 60_000,
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

/** Log lines (JSON) written by the instances. */
class Lines extends Writable {
  readonly lines: Array<Record<string, unknown>> = [];
  override _write(chunk: Buffer, _enc: string, done: () => void) {
    for (const l of chunk.toString().split('\n'))
      if (l.trim() !== '') this.lines.push(JSON.parse(l));
    done();
  }
}

/**
 * The real store, and what the instances wrote through it: every lane checkpoint saved, every
 * partial and progress row. Partials and progress rows go to the store's own methods when it
 * has them (the store helper's migrations 20–21); until then they are only recorded here.
 */
function recording(store: Store) {
  const saved: StoredCheckpoint[] = [];
  const partials: PartialRow[] = [];
  const progress: LaneProgressRow[] = [];
  const own = store as Store & Partial<ClusterStore>;
  const extra = {
    async saveCheckpoint(row: StoredCheckpoint) {
      await store.saveCheckpoint(row);
      saved.push(row);
    },
    async insertPartials(rows: readonly PartialRow[]) {
      await own.insertPartials?.(rows);
      partials.push(...rows);
    },
    async insertLaneProgress(rows: readonly LaneProgressRow[]) {
      await own.insertLaneProgress?.(rows);
      progress.push(...rows);
    },
  };
  const proxy = new Proxy(store, {
    get(target, prop, receiver) {
      if (prop in extra) return extra[prop as keyof typeof extra];
      const v = Reflect.get(target, prop, receiver);
      return typeof v === 'function' ? v.bind(target) : v;
    },
  }) as Store & ClusterStore;
  return { store: proxy, saved, partials, progress };
}

interface Instance {
  id: string;
  pipeline: Pipeline;
  source: KafkaSource;
  lanesOwned(): Promise<number>;
  /** The sum of a metric's values with these labels. */
  metric(name: string, labels?: Record<string, string>): Promise<number>;
}

describe.skipIf(!available)(
  'Kafka lanes in cluster mode (real Kafka broker, real embedded ClickHouse)',
  () => {
    const kafka = testKafka('driftd-test-cluster-lanes');
    let producer: Producer;
    const topics: string[] = [];
    let dir = '';
    let real: Store;

    beforeAll(async () => {
      producer = kafka.producer();
      await producer.connect();
      dir = await mkdtemp(join(tmpdir(), 'driftd-cluster-lanes-'));
      const config = configOf({});
      real = createStore(config.store);
      await real.migrate();
      const z0 = normals(1);
      const baseline = Array.from({ length: 2000 }, (_, i) => event(`b-${i}`, T0 - 3_600_000, z0));
      await real.saveBaseline(buildProfileFromRows(config.models[0]!, '3', baseline).profile);
    });

    afterAll(async () => {
      await producer?.disconnect();
      await real?.close();
      await deleteTopics(...topics);
      if (dir !== '') await rm(dir, { recursive: true, force: true });
    });

    function configOf(kafkaPart: Record<string, unknown>): DriftdConfig {
      return validateConfig(
        {
          dataDir: dir,
          server: { host: '127.0.0.1', port: 0 },
          logLevel: 'silent',
          ...(Object.keys(kafkaPart).length > 0
            ? { kafka: { brokers: kafkaBrokers(), ...kafkaPart } }
            : {}),
          models: [
            {
              id: MODEL,
              task: 'binary-classification',
              features: [
                { name: 'income', type: 'numeric' },
                { name: 'age', type: 'numeric' },
              ],
              windows: { sizes: ['1m'], allowedLateness: '0s', idleTimeout: '2s' },
              drift: { minWindowSize: 20 },
            },
          ],
        },
        { env: {} },
      );
    }

    /** Topics, a group, and instances of cluster mode sharing the one store. */
    async function setup(name: string, partitions: number) {
      const [predictions, labels, dlq] = await Promise.all([
        createTestTopic(`${name}-predictions`, partitions),
        createTestTopic(`${name}-labels`, 1),
        createTestTopic(`${name}-dlq`, 1),
      ]);
      topics.push(predictions, labels, dlq);
      const groupId = uniqueGroupId(name);
      const config = configOf({
        groupId,
        predictionsTopic: predictions,
        labelsTopic: labels,
        deadLetterTopic: dlq,
      });
      const rec = recording(real);
      const logs = new Lines();
      const logger = createLogger('info', logs);

      async function startInstance(id: string): Promise<Instance> {
        const registry = new Registry();
        const metrics = createMetrics(registry, { version: 'test' });
        const clock = { now: () => Date.now() };
        const log = logger.child({ instance: id });
        const pipeline = createPipeline({
          config,
          store: rec.store,
          metrics,
          logger: log,
          clock,
          cluster: { instanceId: id },
        });
        await pipeline.start();
        const source = createKafkaSource({
          config: config.kafka!,
          models: new Map(config.models.map((m) => [m.id, m])),
          pipeline,
          store: rec.store,
          metrics,
          logger: log,
          clock,
          piiKey: null,
          tuning: {
            checkpointIntervalMs: 300,
            sessionTimeoutMs: 6_000,
            heartbeatIntervalMs: 300,
            maxWaitTimeMs: 100,
            lagRefreshMs: 300,
            backoff: { initialMs: 50, maxMs: 400, slowMs: 400 },
            kafkaLogLevel: 'nothing',
          },
          cluster: { instanceId: id, lanes: pipeline.cluster!.lanes, store: rec.store },
        });
        await source.restore();
        source.start();
        const metric = async (name: string, labels: Record<string, string> = {}) => {
          const m = await registry.getSingleMetric(name)?.get();
          let sum = 0;
          for (const v of m?.values ?? []) {
            if (Object.entries(labels).every(([k, want]) => String(v.labels[k]) === want))
              sum += v.value;
          }
          return sum;
        };
        const lanesOwned = () => metric('driftd_cluster_lanes_owned', { kind: 'kafka' });
        return { id, pipeline, source, lanesOwned, metric };
      }

      const lane = (p: number) => kafkaLane(predictions, p);
      return { predictions, groupId, real, rec, logs, startInstance, lane };
    }

    it('moves partitions between two instances mid-stream: each lane counts every event once and resumes from its lane checkpoint', async () => {
      const { predictions, groupId, real, rec, logs, startInstance, lane } = await setup(
        'it-cluster-lanes',
        PARTITIONS,
      );
      // The stream: events over 10 one-minute windows, partition i % 4, in time order per
      // partition; then one far-future event per partition closes every window of every lane.
      const z = normals(7);
      const produced: Array<{ partition: number; ts: number }> = [];
      async function produce(from: number, to: number, n: number) {
        const batch = Array.from({ length: n }, (_, i) => {
          const ts = from + Math.floor(((to - from) * i) / n);
          const partition = produced.length % PARTITIONS;
          produced.push({ partition, ts });
          return { partition, value: JSON.stringify(event(`e-${produced.length}`, ts, z)) };
        });
        for (let i = 0; i < batch.length; i += 500)
          await producer.send({ topic: predictions, acks: -1, messages: batch.slice(i, i + 500) });
      }
      const expectedEnd = (p: number) => String(produced.filter((e) => e.partition === p).length);
      const latest = async (p: number): Promise<LaneCheckpoint | null> => {
        const row = await real.latestCheckpoint(laneCheckpointGroup(groupId, lane(p)));
        return row === null ? null : decodeLaneCheckpoint(row);
      };
      /** Every lane's latest checkpoint is at the end of what was produced to it. */
      const allCaughtUp = async () => {
        for (let p = 0; p < PARTITIONS; p++) {
          const cp = await latest(p);
          if (cp?.position !== expectedEnd(p)) return undefined;
        }
        return true;
      };

      const a = await startInstance('a');
      let b: Instance | undefined;
      try {
        await waitFor('a owns 4 lanes', async () =>
          (await a.lanesOwned()) === 4 ? true : undefined,
        );
        // The finaliser's Kafka lanes: every partition of the topic, owned or not.
        const all = Array.from({ length: PARTITIONS }, (_, p) => lane(p));
        expect(await waitFor('lanes listed', () => a.source.lanes())).toEqual(all);
        await produce(T0, T0 + 4 * MINUTE, 800);
        await waitFor('a caught up', allCaughtUp);

        b = await startInstance('b');
        const bb = b;
        await waitFor('a and b own 2 lanes each', async () =>
          (await a.lanesOwned()) === 2 && (await bb.lanesOwned()) === 2 ? true : undefined,
        );
        expect(await waitFor('lanes listed by b', () => bb.source.lanes())).toEqual(all);
        await produce(T0 + 4 * MINUTE, T0 + 7 * MINUTE, 600);
        await waitFor('a and b caught up', allCaughtUp);
        // More while the first instance leaves: the rest of its lanes move with their cuts.
        await produce(T0 + 7 * MINUTE, T0 + 8 * MINUTE, 200);
        await a.source.close();
        await waitFor('b owns 4 lanes', async () =>
          (await bb.lanesOwned()) === 4 ? true : undefined,
        );
        await produce(T0 + 8 * MINUTE, T0 + 10 * MINUTE, 400);
        for (let p = 0; p < PARTITIONS; p++) {
          produced.push({ partition: p, ts: T0 + 60 * MINUTE });
          await producer.send({
            topic: predictions,
            acks: -1,
            messages: [
              { partition: p, value: JSON.stringify(event(`s-${p}`, T0 + 60 * MINUTE, z)) },
            ],
          });
        }
        await waitFor('b caught up', allCaughtUp);
        // Quiet and caught up (no lag): each lane's progress turns idle without another batch.
        await waitFor('every lane idle', () => {
          for (let p = 0; p < PARTITIONS; p++) {
            const rows = rec.progress.filter((r) => r.lane === lane(p) && r.model === '');
            if (rows.at(-1)?.idle !== true) return undefined;
          }
          return true;
        });
        await b.source.close();
      } finally {
        await a.source.close();
        await b?.source.close();
      }

      // Each lane's final partial of each window holds exactly the events produced to its
      // partition in that window: none lost, none twice (rewrites by a new owner are identical).
      const expected = new Map<string, number>();
      for (const e of produced) {
        if (e.ts >= T0 + 60 * MINUTE) continue; // the sentinels' windows stay open
        const start = e.ts - (e.ts % MINUTE);
        const k = `${lane(e.partition)}|${start}`;
        expected.set(k, (expected.get(k) ?? 0) + 1);
      }
      const finals = new Map<string, number[]>();
      for (const r of rec.partials) {
        if (!r.final || r.sizeLabel !== '1m') continue;
        const k = `${r.lane}|${r.start}`;
        finals.set(k, [...(finals.get(k) ?? []), r.events]);
      }
      expect([...finals.keys()].sort()).toEqual([...expected.keys()].sort());
      for (const [k, n] of expected) expect(new Set(finals.get(k)), k).toEqual(new Set([n]));

      // Every lane moved from a to b, resuming from a's lane checkpoint: its seq goes on from a's
      // last, and b logged the restore of that cut.
      const restored = logs.lines.filter(
        (l) => l.msg === 'restored lane checkpoint: resuming the partition from its position',
      );
      for (let p = 0; p < PARTITIONS; p++) {
        const cps = rec.saved
          .filter((r) => r.groupId === laneCheckpointGroup(groupId, lane(p)))
          .map(decodeLaneCheckpoint);
        const seqs = cps.map((c) => c.seq);
        expect(seqs, lane(p)).toEqual(seqs.map((_, i) => i + 1));
        const owners = cps.map((c) => c.instance).join('');
        expect(owners, lane(p)).toMatch(/^a+b+$/);
        const lastOfA = cps.filter((c) => c.instance === 'a').at(-1)!;
        const fromA = restored.find((l) => l.instance === 'b' && l.lane === lane(p));
        expect(fromA, lane(p)).toMatchObject({
          seq: lastOfA.seq,
          position: lastOfA.position,
          from: 'a',
        });
        const final = cps.at(-1)!;
        expect(final.position).toBe(expectedEnd(p));
        // The lane registered its progress, and its last row is at the end of its partition.
        const rows = rec.progress.filter((r) => r.lane === lane(p) && r.model === '');
        expect(rows.at(-1)).toMatchObject({
          instance: 'b',
          seq: final.seq,
          position: final.position,
        });
      }
    }, 180_000);

    it('an unreadable lane checkpoint holds its partition back (logged, counted, lag shown); the other partitions go on', async () => {
      const { predictions, groupId, real, rec, logs, startInstance, lane } = await setup(
        'it-cluster-lanes-bad',
        2,
      );
      // Lane 1's group holds a well-formed checkpoint of another lane: resuming lane 1 from
      // it, or from anywhere else, would count its events wrongly.
      const bad: LaneCheckpoint = {
        format: 1,
        kind: 'lane',
        lane: lane(0),
        seq: 7,
        takenAt: Date.now(),
        position: '5',
        instance: 'x',
        windows: {},
      };
      await real.saveCheckpoint(encodeLaneCheckpoint(laneCheckpointGroup(groupId, lane(1)), bad));
      const a = await startInstance('a');
      try {
        const z = normals(3);
        const messages = Array.from({ length: 100 }, (_, i) => ({
          partition: i % 2,
          value: JSON.stringify(event(`bad-${i}`, T0 + i * 1000, z)),
        }));
        await producer.send({ topic: predictions, acks: -1, messages });
        await waitFor('lane 0 caught up', async () => {
          const row = await real.latestCheckpoint(laneCheckpointGroup(groupId, lane(0)));
          return row !== null && decodeLaneCheckpoint(row).position === '50' ? true : undefined;
        });
        const lag = await waitFor('lane 1 lag shown', async () => {
          const n = await a.metric('driftd_kafka_consumer_lag_messages', {
            topic: predictions,
            partition: '1',
          });
          return n === 50 ? n : undefined;
        });
        expect(lag).toBe(50);
        expect(await a.lanesOwned()).toBe(1);
        expect(await a.metric('driftd_kafka_errors_total', { operation: 'lane_restore' })).toBe(1);
        const error = logs.lines.find((l) => l.lane === lane(1) && l.level === 50);
        expect(String(error?.msg)).toMatch(/unreadable lane checkpoint/);
        expect(String((error?.err as { message?: string })?.message)).toContain(lane(0));
        // Nothing of lane 1 was counted, cut or claimed; its bad row is still the latest.
        expect(rec.progress.filter((r) => r.lane === lane(1))).toEqual([]);
        expect(
          rec.saved.filter((r) => r.groupId === laneCheckpointGroup(groupId, lane(1))),
        ).toEqual([]);
        const row = await real.latestCheckpoint(laneCheckpointGroup(groupId, lane(1)));
        expect(row?.seq).toBe(7);
      } finally {
        await a.source.close();
      }
    }, 120_000);
  },
);
