/**
 * End to end through Kafka: produce → consume (consumer group, 3 partitions) → decode/validate
 * → windows → closed-window evaluation → results and raw events in the embedded ClickHouse.
 *
 * One topic is filled once with N events of 20 features (15 numeric, 5 categorical) and a
 * score, over one hour of event time (1m and 5m windows), plus one far-future event per
 * partition so every window closes. Each run starts a fresh daemon (own consumer group, own
 * store) on that backlog and times it from joining the group until every event is counted and
 * a checkpoint (all raw rows, window results and offsets durable) is written: events/s is
 * N / that time, the rate one instance drains a backlog — an upper bound on the live rate it
 * keeps up with. Target (DESIGN.md): ≥ 50 000 events/s. Median of 5 runs: on a shared host
 * single runs vary by ±20 %.
 *
 * Needs the test broker (`bash scripts/kafka.sh start`, or DRIFTD_TEST_KAFKA_BROKERS); without
 * one it prints a note and reports nothing.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import kafkajs from 'kafkajs';
import { buildProfileFromRows } from '../src/baseline/index.js';
import { validateConfig } from '../src/config/index.js';
import type { DriftdConfig } from '../src/config/types.js';
import { createDaemon } from '../src/daemon.js';
import { kafkaTuningFromEnv } from '../src/ingest/kafka/index.js';
import { createLogger } from '../src/logger.js';
import { createStore } from '../src/store/index.js';
import { mulberry32 as rand } from '../test/helpers/random.js';
import { cpuPerEvent, cpuSample, threadCpuPerEvent, threadSample } from './cpu.js';
import type { BenchRecord } from './types.js';

const { Kafka, logLevel } = kafkajs;

const EVENTS = Number(process.env.DRIFTD_BENCH_KAFKA_EVENTS ?? 300_000);
const RUNS = 5;
const PARTITIONS = 3;
export const NUMERIC = 15;
export const CATEGORICAL = 5;
const LEVELS = ['a', 'b', 'c', 'd', 'e', 'f', 'g', 'h'];
const HOUR = 3_600_000;
const TARGET = 50_000;

export function brokers(): string[] {
  return (process.env.DRIFTD_TEST_KAFKA_BROKERS?.trim() || '127.0.0.1:19092')
    .split(',')
    .map((b) => b.trim())
    .filter(Boolean);
}

/** One bench event's features and score (also bench/cluster.bench.ts's generator). */
export function row(r: () => number): {
  features: Record<string, number | string>;
  prediction: number;
} {
  const features: Record<string, number | string> = {};
  for (let i = 0; i < NUMERIC; i++) {
    features[`num_${i}`] = i * 10 + Math.sqrt(-2 * Math.log(1 - r())) * Math.cos(2 * Math.PI * r());
  }
  for (let i = 0; i < CATEGORICAL; i++)
    features[`cat_${i}`] = LEVELS[Math.floor(r() * LEVELS.length)]!;
  return { features, prediction: r() };
}

function benchConfig(dir: string, topic: string, group: string): DriftdConfig {
  return validateConfig(
    {
      dataDir: dir,
      logLevel: 'warn',
      kafka: {
        brokers: brokers(),
        groupId: group,
        predictionsTopic: topic,
        labelsTopic: `${topic}-labels`,
        deadLetterTopic: `${topic}-dlq`,
      },
      models: [
        {
          id: 'bench',
          ...benchModel(),
        },
      ],
    },
    { env: {} },
  );
}

/** The bench model's features and windows (raw config; also bench/cluster.bench.ts's). */
export function benchModel() {
  return {
    task: 'binary-classification',
    features: [
      ...Array.from({ length: NUMERIC }, (_, i) => ({ name: `num_${i}`, type: 'numeric' })),
      ...Array.from({ length: CATEGORICAL }, (_, i) => ({ name: `cat_${i}`, type: 'categorical' })),
    ],
    windows: { sizes: ['1m', '5m'], allowedLateness: '10s', idleTimeout: '30m' },
  };
}

export async function reachable(): Promise<boolean> {
  const admin = new Kafka({
    clientId: 'driftd-bench-probe',
    brokers: brokers(),
    logLevel: logLevel.NOTHING,
    connectionTimeout: 2_000,
    retry: { retries: 0 },
  }).admin();
  try {
    await admin.connect();
    await admin.listTopics();
    return true;
  } catch {
    return false;
  } finally {
    await admin.disconnect().catch(() => undefined);
  }
}

export async function runKafkaBenchmarks(): Promise<BenchRecord[]> {
  if (!(await reachable())) {
    process.stderr.write(
      `bench: kafka: no broker at ${brokers().join(',')}; skipped (start one with: bash scripts/kafka.sh start)\n`,
    );
    return [];
  }
  const kafka = new Kafka({
    clientId: 'driftd-bench',
    brokers: brokers(),
    logLevel: logLevel.NOTHING,
  });
  const admin = kafka.admin();
  await admin.connect();
  const suffix = `${Date.now().toString(36)}-${Math.floor(Math.random() * 1e6).toString(36)}`;
  const topic = `bench-kafka-${suffix}`;
  const topics = [topic, `${topic}-labels`, `${topic}-dlq`];
  await admin.createTopics({
    topics: topics.map((t) => ({
      topic: t,
      numPartitions: t === topic ? PARTITIONS : 1,
      replicationFactor: 1,
      // Every run reads the whole backlog: the development broker's default retention (64 MB
      // per partition) would delete the start of a large one while the first run reads it.
      configEntries: [
        { name: 'retention.bytes', value: '-1' },
        { name: 'retention.ms', value: String(24 * HOUR) },
      ],
    })),
    waitForLeaders: true,
  });
  const root = await mkdtemp(join(tmpdir(), 'driftd-bench-kafka-'));
  try {
    // Fill the topic once: in event-time order per partition.
    const t0 = Math.floor(Date.now() / HOUR) * HOUR - 3 * HOUR;
    const r = rand(42);
    const producer = kafka.producer();
    await producer.connect();
    const produceStart = performance.now();
    let bytes = 0;
    const batch = 5000;
    for (let i = 0; i < EVENTS; i += batch) {
      const messages = [];
      for (let k = i; k < Math.min(EVENTS, i + batch); k++) {
        const { features, prediction } = row(r);
        const value = JSON.stringify({
          model: 'bench',
          version: '1',
          id: `e-${k}`,
          ts: new Date(t0 + Math.floor((k * HOUR) / EVENTS)).toISOString(),
          features,
          prediction,
        });
        bytes += value.length;
        messages.push({ partition: k % PARTITIONS, value });
      }
      await producer.send({ topic, acks: -1, messages });
    }
    await producer.send({
      topic,
      acks: -1,
      messages: Array.from({ length: PARTITIONS }, (_, p) => ({
        partition: p,
        value: JSON.stringify({
          model: 'bench',
          version: '1',
          id: `sentinel-${p}`,
          ts: new Date(t0 + 2 * HOUR).toISOString(),
          features: row(r).features,
          prediction: 0.5,
        }),
      })),
    });
    await producer.disconnect();
    const produceSeconds = (performance.now() - produceStart) / 1000;

    const baselineRows = Array.from({ length: 5000 }, () => row(r));
    const rates: number[] = [];
    const phases: Array<Record<string, number>> = [];
    for (let run = 0; run < RUNS; run++) {
      const dir = join(root, `run-${run}`);
      const config = benchConfig(dir, topic, `bench-kafka-${suffix}-${run}`);
      const store = createStore(config.store);
      await store.migrate();
      await store.saveBaseline(
        buildProfileFromRows(config.models[0]!, '1', baselineRows, { createdAt: 0 }).profile,
      );
      const daemon = createDaemon(config, {
        store,
        listen: false,
        logger: createLogger('warn', process.stderr),
        kafka: { ...kafkaTuningFromEnv(), checkpointIntervalMs: 5_000, kafkaLogLevel: 'nothing' },
      });
      await daemon.start();
      const accepted = async () =>
        (
          (await daemon.metrics.registry.getSingleMetric('driftd_events_total')?.get())?.values ??
          []
        )
          .filter((v) => v.labels.result === 'accepted')
          .reduce((s, v) => s + v.value, 0);
      while (!daemon.kafka?.joined) await new Promise((res) => setTimeout(res, 5));
      const start = performance.now();
      const cpu0 = cpuSample();
      const threads0 = threadSample();
      // A run that stops progressing fails instead of waiting forever.
      let seen = -1;
      let progressAt = performance.now();
      for (let n = await accepted(); n < EVENTS + PARTITIONS; n = await accepted()) {
        if (n !== seen) {
          seen = n;
          progressAt = performance.now();
        } else if (performance.now() - progressAt > 60_000) {
          throw new Error(
            `kafka bench run ${run + 1} stalled: ${n} of ${EVENTS + PARTITIONS} events counted, none for 60 s`,
          );
        }
        await new Promise((res) => setTimeout(res, 5));
      }
      const consumed = performance.now();
      await daemon.kafka.checkpoint(); // every row, result and offset durable
      const end = performance.now();
      const cpu = cpuPerEvent(cpu0, cpuSample(), EVENTS);
      const threads = threadCpuPerEvent(threads0, threadSample(), EVENTS);
      const seconds = (end - start) / 1000;
      rates.push(EVENTS / seconds);
      const windows = await store.queryDrift({
        model: 'bench',
        window: '1m',
        from: t0,
        to: t0 + HOUR,
      });
      // Where the store time went (seconds per table, summed over the run's writes).
      const storeSeconds: Record<string, number> = {};
      const hist = await daemon.metrics.registry
        .getSingleMetric('driftd_store_write_duration_seconds')
        ?.get();
      for (const v of hist?.values ?? []) {
        if ((v as { metricName?: string }).metricName?.endsWith('_sum')) {
          storeSeconds[String(v.labels.table)] = Number(v.value.toFixed(3));
        }
      }
      phases.push({
        seconds: Number(seconds.toFixed(3)),
        consumeSeconds: Number(((consumed - start) / 1000).toFixed(3)),
        finalCheckpointSeconds: Number(((end - consumed) / 1000).toFixed(3)),
        windows1m: windows.length,
        ...cpu,
        ...threads,
        ...Object.fromEntries(Object.entries(storeSeconds).map(([k, v]) => [`store_${k}_s`, v])),
      });
      process.stderr.write(
        `bench: kafka run ${run + 1}/${RUNS}: ${Math.round(EVENTS / seconds)} events/s (${seconds.toFixed(2)} s, ${windows.length} 1m windows; CPU per event: main thread ${cpu.mainUsPerEvent} µs, process ${cpu.processUsPerEvent} µs)\n`,
      );
      await daemon.close();
    }
    const sorted = [...rates].sort((a, b) => a - b);
    return [
      {
        name: 'kafka.end_to_end',
        unit: 'events/s',
        median: Math.round(sorted[Math.floor(sorted.length / 2)]!),
        runs: RUNS,
        min: Math.round(sorted[0]!),
        max: Math.round(sorted.at(-1)!),
        target: TARGET,
        events: EVENTS,
        features: NUMERIC + CATEGORICAL,
        partitions: PARTITIONS,
        avgMessageBytes: Math.round(bytes / EVENTS),
        produceEventsPerSecond: Math.round(EVENTS / produceSeconds),
        phases,
      },
    ];
  } finally {
    await admin.deleteTopics({ topics, timeout: 10_000 }).catch(() => undefined);
    await admin.disconnect();
    await rm(root, { recursive: true, force: true });
  }
}
