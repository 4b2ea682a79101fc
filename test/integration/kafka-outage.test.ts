/**
 * A broker outage: the test starts its OWN real Kafka broker (scripts/kafka.sh on free ports,
 * a private data dir — the shared test broker is never touched), lets the daemon consume, stops
 * the broker, keeps it down for a while, starts it again on the same data, and produces more.
 * The daemon must go not-ready during the outage, come back by itself, and end with every
 * event counted exactly once. Runs when the shared broker runs (so Java and the jars exist).
 */
import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import kafkajs from 'kafkajs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildProfileFromRows } from '../../src/baseline/index.js';
import { validateConfig } from '../../src/config/index.js';
import { createDaemon, type Daemon } from '../../src/daemon.js';
import { createStore } from '../../src/store/index.js';
import { requireKafkaOrSkip } from '../helpers/kafka.js';

const { available } = await requireKafkaOrSkip();
const run = promisify(execFile);

const MINUTE = 60_000;
const T0 = Math.floor(Date.now() / 3_600_000) * 3_600_000 - 2 * 3_600_000;

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const port = (srv.address() as { port: number }).port;
      srv.close(() => resolve(port));
    });
  });
}

function event(id: string, ts: number, x: number) {
  return {
    model: 'm',
    version: '1',
    id,
    ts: new Date(ts).toISOString(),
    features: { x },
    prediction: x / 10,
  };
}

async function waitFor(what: string, probe: () => Promise<boolean> | boolean, timeoutMs = 90_000) {
  const deadline = Date.now() + timeoutMs;
  while (!(await probe())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms: ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

describe.skipIf(!available)(
  'Kafka broker outage (a private real broker, stopped and restarted)',
  () => {
    let dir = '';
    let env: NodeJS.ProcessEnv = {};
    let brokers: string[] = [];
    let daemon: Daemon | undefined;

    const broker = (cmd: 'start' | 'stop') =>
      run('bash', ['scripts/kafka.sh', cmd], { env, timeout: 120_000 });

    beforeAll(async () => {
      dir = await mkdtemp(join(tmpdir(), 'driftd-kafka-outage-'));
      const port = await freePort();
      const controller = await freePort();
      env = {
        ...process.env,
        KAFKA_PORT: String(port),
        KAFKA_CONTROLLER_PORT: String(controller),
        KAFKA_DATA_DIR: join(dir, 'kafka'),
        KAFKA_HEAP: '-Xms128m -Xmx384m',
        // Plaintext only: the secure listeners' fixed ports are the shared test broker's.
        KAFKA_SECURE: '0',
      };
      brokers = [`127.0.0.1:${port}`];
      await broker('start');
    }, 150_000);

    afterAll(async () => {
      await daemon?.close().catch(() => undefined);
      await broker('stop').catch(() => undefined);
      if (dir) await rm(dir, { recursive: true, force: true });
    }, 120_000);

    it('goes not ready while the broker is down, resumes by itself, and counts every event once', async () => {
      const kafka = new kafkajs.Kafka({
        clientId: 'driftd-test-outage',
        brokers,
        logLevel: kafkajs.logLevel.NOTHING,
      });
      const admin = kafka.admin();
      await admin.connect();
      await admin.createTopics({
        waitForLeaders: true,
        topics: [
          { topic: 'predictions', numPartitions: 3, replicationFactor: 1 },
          { topic: 'labels', numPartitions: 1, replicationFactor: 1 },
          { topic: 'dlq', numPartitions: 1, replicationFactor: 1 },
        ],
      });
      await admin.disconnect();
      const produce = async (items: Array<{ partition: number; value: unknown }>) => {
        const producer = kafka.producer();
        await producer.connect();
        await producer.send({
          topic: 'predictions',
          acks: -1,
          messages: items.map((m) => ({ partition: m.partition, value: JSON.stringify(m.value) })),
        });
        await producer.disconnect();
      };
      const batch = (prefix: string, from: number, n: number) =>
        Array.from({ length: n }, (_, i) => ({
          partition: i % 3,
          value: event(`${prefix}-${i}`, from + Math.floor((i * MINUTE) / n), (i % 17) - 8),
        }));

      const config = validateConfig(
        {
          dataDir: join(dir, 'driftd'),
          logLevel: 'silent',
          kafka: {
            brokers,
            groupId: 'outage',
            predictionsTopic: 'predictions',
            labelsTopic: 'labels',
            deadLetterTopic: 'dlq',
          },
          models: [
            {
              id: 'm',
              task: 'regression',
              features: [{ name: 'x', type: 'numeric' }],
              windows: { sizes: ['1m'], allowedLateness: '0s', idleTimeout: '30m' },
              drift: { minWindowSize: 10 },
            },
          ],
        },
        { env: {} },
      );
      const store = createStore(config.store);
      await store.migrate();
      const rows = Array.from({ length: 2000 }, (_, i) => event(`b-${i}`, T0, (i % 17) - 8));
      await store.saveBaseline(buildProfileFromRows(config.models[0]!, '1', rows).profile);
      daemon = createDaemon(config, {
        store,
        listen: false,
        tickMs: 100,
        kafka: {
          checkpointIntervalMs: 300,
          sessionTimeoutMs: 6_000,
          heartbeatIntervalMs: 500,
          maxWaitTimeMs: 100,
          kafkaLogLevel: 'nothing',
        },
      });
      await daemon.start();
      const d = daemon;
      const ready = async () =>
        (await d.app.inject({ method: 'GET', url: '/readyz' })).statusCode === 200;
      const accepted = async () =>
        ((await d.metrics.registry.getSingleMetric('driftd_events_total')?.get())?.values ?? [])
          .filter((v) => v.labels.result === 'accepted')
          .reduce((s, v) => s + v.value, 0);

      await waitFor('ready', ready);
      await produce(batch('a', T0, 900));
      await waitFor('first 900 counted', async () => (await accepted()) === 900);
      await d.kafka!.checkpoint();

      // Outage.
      await broker('stop');
      await waitFor('not ready during the outage', async () => !(await ready()), 60_000);
      await new Promise((r) => setTimeout(r, 3_000));
      expect(await ready()).toBe(false);
      expect(d.state).toBe('running');

      // Back: the consumer rejoins by itself; new events are counted, old ones not again.
      await broker('start');
      await waitFor('ready again', ready, 120_000);
      await produce([
        ...batch('b', T0 + MINUTE, 900),
        ...[0, 1, 2].map((partition) => ({
          partition,
          value: event(`s-${partition}`, T0 + 10 * MINUTE, 0),
        })),
      ]);
      await waitFor('all counted', async () => (await accepted()) === 1803);
      await waitFor('both windows closed', async () => {
        const w = await store.queryDrift({
          model: 'm',
          window: '1m',
          from: T0,
          to: T0 + 2 * MINUTE,
        });
        return w.length === 2;
      });
      const windows = await store.queryDrift({
        model: 'm',
        window: '1m',
        from: T0,
        to: T0 + 2 * MINUTE,
      });
      expect(windows.map((w) => w.eventCount)).toEqual([900, 900]);
      expect(await accepted()).toBe(1803);
      await d.close();
      daemon = undefined;
    }, 400_000);
  },
);
