/**
 * A daemon consuming its own topics on the real broker (test/helpers/kafka.ts), with the real
 * embedded ClickHouse store and one model (credit-risk, 1m windows, no lateness): what the
 * Kafka tests that are not about the consumer itself share (codecs, poison messages).
 */

import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildProfileFromRows } from '../../src/baseline/index.js';
import { type ConfigEnv, validateConfig } from '../../src/config/index.js';
import type { DriftdConfig } from '../../src/config/types.js';
import { createDaemon, type Daemon, type DaemonOverrides } from '../../src/daemon.js';
import { createStore } from '../../src/store/index.js';
import type { Store } from '../../src/store/types.js';
import { createTestTopic, deleteTopics, kafkaBrokers, uniqueGroupId } from './kafka.js';

export const T0 = Date.parse('2026-11-22T10:00:00Z');
export const MINUTE = 60_000;
export const MODEL = 'credit-risk';
const REGIONS = ['EU', 'US', 'APAC'];

/** Deterministic standard normals (Box–Muller over a 32-bit LCG). */
export function normals(seed: number): () => number {
  let s = seed >>> 0;
  const u = () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return (s + 0.5) / 4294967296;
  };
  return () => Math.sqrt(-2 * Math.log(u())) * Math.cos(2 * Math.PI * u());
}

export function event(id: string, ts: number, z: () => number) {
  return {
    model: MODEL,
    version: '3',
    id,
    ts: new Date(ts).toISOString(),
    features: {
      income: 50_000 + 10_000 * z(),
      age: 40 + 10 * z(),
      region: REGIONS[Math.floor(Math.abs(z() * 1000)) % 3],
    },
    prediction: 1 / (1 + Math.exp(-z())),
  };
}

export async function waitFor<T>(
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

/** Sum of a metric's values whose labels include `labels`. */
export async function metricValue(d: Daemon, name: string, labels: Record<string, string> = {}) {
  const metric = await d.metrics.registry.getSingleMetric(name)?.get();
  let sum = 0;
  for (const v of metric?.values ?? []) {
    if (Object.entries(labels).every(([k, want]) => String(v.labels[k]) === want)) sum += v.value;
  }
  return sum;
}

export interface KafkaDaemonSetup {
  config: DriftdConfig;
  predictions: string;
  labels: string;
  dlq: string;
  groupId: string;
  /** Deletes the topics and the data directory. */
  cleanup(): Promise<void>;
}

/**
 * Topics (predictions: 3 partitions), a data directory and a validated config; `kafka` adds to
 * (or replaces) its kafka section, `env` is the config's environment.
 */
export async function setupKafkaDaemon(
  name: string,
  options: { kafka?: Record<string, unknown>; env?: ConfigEnv } = {},
): Promise<KafkaDaemonSetup> {
  const [predictions, labels, dlq] = await Promise.all([
    createTestTopic(`it-${name}-predictions`, 3),
    createTestTopic(`it-${name}-labels`, 1),
    createTestTopic(`it-${name}-dlq`, 1),
  ]);
  const dir = await mkdtemp(join(tmpdir(), `driftd-kafka-${name}-`));
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
        ...options.kafka,
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
    { env: options.env ?? {} },
  );
  return {
    config,
    predictions,
    labels,
    dlq,
    groupId,
    async cleanup() {
      await deleteTopics(predictions, labels, dlq);
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/** The real store at the config's path, migrated, with the model's baseline saved. */
export async function openStore(config: DriftdConfig): Promise<Store> {
  const store = createStore(config.store);
  await store.migrate();
  const z = normals(1);
  const rows = Array.from({ length: 2000 }, (_, i) => event(`b-${i}`, T0 - 3_600_000, z));
  const { profile } = buildProfileFromRows(config.models[0]!, '3', rows);
  await store.saveBaseline(profile);
  return store;
}

/** A daemon (no HTTP port) on the setup's topics, tuned for quick tests; `extra` adds overrides. */
export async function startKafkaDaemon(
  config: DriftdConfig,
  store: Store,
  extra: DaemonOverrides = {},
): Promise<Daemon> {
  const daemon = createDaemon(config, {
    ...extra,
    store,
    listen: false,
    tickMs: 100,
    kafka: {
      checkpointIntervalMs: 300,
      sessionTimeoutMs: 6_000,
      heartbeatIntervalMs: 500,
      maxWaitTimeMs: 100,
      lagRefreshMs: 200,
      backoff: { initialMs: 50, maxMs: 400, slowMs: 400 },
      pauseAfterMs: 200,
      kafkaLogLevel: 'nothing',
      ...extra.kafka,
    },
  });
  await daemon.start();
  return daemon;
}

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

/**
 * Sends records with Kafka's own Java producer (`bash scripts/kafka.sh produce`, kafka-clients
 * from the broker's jars): `codec` is its `compression.type` (none, gzip, snappy, lz4, zstd).
 * Resolves once every record is acknowledged.
 */
export function javaProduce(
  records: Array<{ codec: string; topic: string; partition: number; value: string }>,
): Promise<string> {
  const input = records
    .map((r) => {
      if (/[\t\n]/.test(r.value)) throw new Error('javaProduce: a value with a tab or newline');
      return `${r.codec}\t${r.topic}\t${r.partition}\t${r.value}\n`;
    })
    .join('');
  return new Promise((resolve, reject) => {
    const child = spawn(
      'bash',
      [join(ROOT, 'scripts/kafka.sh'), 'produce', kafkaBrokers().join(',')],
      {
        stdio: ['pipe', 'pipe', 'pipe'],
      },
    );
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
    });
    child.stderr.on('data', (d: Buffer) => {
      err += d.toString();
    });
    child.on('error', reject);
    child.on('close', (code) => {
      if (code === 0) resolve(out);
      else reject(new Error(`scripts/kafka.sh produce exited with ${code}: ${err.slice(-2000)}`));
    });
    child.stdin.end(input);
  });
}
