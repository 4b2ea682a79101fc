/**
 * Kafka security against the real broker's secure listeners (test/helpers/kafka-security.ts):
 * SASL_SSL with SCRAM-SHA-256 and PLAIN, and mTLS, each consuming into windows in the real
 * embedded ClickHouse and dead-lettering over the secure connection; a wrong password, a
 * broker certificate from an untrusted CA and mTLS without a client certificate are each
 * refused with their cause named in the log and /readyz, retried slowly, the daemon up. And
 * `driftd start` as a process: YAML + DRIFTD_KAFKA_SASL_PASSWORD, /readyz over HTTP, a password
 * written in the YAML refused at start.
 */

import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { promisify } from 'node:util';
import type { KafkaMessage } from 'kafkajs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Daemon } from '../../src/daemon.js';
import { DEAD_LETTER_HEADERS } from '../../src/ingest/kafka/index.js';
import { createLogger } from '../../src/logger.js';
import { startDaemonProcess, writeConfigFile } from '../helpers/daemon-process.js';
import { readTopic, testKafka } from '../helpers/kafka.js';
import {
  event,
  type KafkaDaemonSetup,
  MINUTE,
  MODEL,
  normals,
  openStore,
  setupKafkaDaemon,
  startKafkaDaemon,
  T0,
  waitFor,
} from '../helpers/kafka-daemon.js';
import { requireSecureKafkaOrSkip } from '../helpers/kafka-security.js';

const info = await requireSecureKafkaOrSkip();

/** A logger at `level` whose lines are kept (to look for causes, and for leaked secrets). */
function capturedLogger(level = 'info') {
  const lines: string[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      lines.push(...chunk.toString().split('\n').filter(Boolean));
      done();
    },
  });
  return { logger: createLogger(level, sink), lines };
}

const header = (m: KafkaMessage, name: string) => m.headers?.[name]?.toString();

describe.skipIf(info === undefined)('Kafka security (real broker: SASL_SSL and mTLS)', () => {
  const sec = info!;
  const kafka = testKafka('driftd-test-kafka-security');
  const setups: KafkaDaemonSetup[] = [];
  let password = '';
  let dir = '';

  beforeAll(async () => {
    password = (await readFile(sec.passwordFile, 'utf8')).trim();
    dir = await mkdtemp(join(tmpdir(), 'driftd-kafka-security-'));
  });

  afterAll(async () => {
    await Promise.all(setups.map((s) => s.cleanup()));
    await rm(dir, { recursive: true, force: true });
  });

  /** Runs `fn` with a daemon on the setup's config, closed after (one embedded store per process). */
  async function withDaemon<T>(
    s: KafkaDaemonSetup,
    extra: Parameters<typeof startKafkaDaemon>[2],
    fn: (d: Daemon) => Promise<T>,
  ): Promise<T> {
    const d = await startKafkaDaemon(s.config, await openStore(s.config), extra);
    try {
      return await fn(d);
    } finally {
      await d.close();
    }
  }

  async function setup(name: string, kafkaSection: Record<string, unknown>, env = {}) {
    const s = await setupKafkaDaemon(name, { kafka: kafkaSection, env });
    setups.push(s);
    return s;
  }

  /** Events into one window and one invalid message; both must come through the daemon. */
  async function consumesAndDeadLetters(s: KafkaDaemonSetup, d: Daemon) {
    const store = d.store;
    const producer = kafka.producer();
    await producer.connect();
    try {
      const z = normals(7);
      await producer.send({
        topic: s.predictions,
        acks: -1,
        messages: [
          ...Array.from({ length: 60 }, (_, i) => ({
            partition: i % 3,
            value: JSON.stringify(event(`e-${i}`, T0 + i * 500, z)),
          })),
          { partition: 0, value: '{not json' },
          // Past the window and its lateness: the 1m window closes.
          ...[0, 1, 2].map((partition) => ({
            partition,
            value: JSON.stringify(event(`late-${partition}`, T0 + 10 * MINUTE, z)),
          })),
        ],
      });
    } finally {
      await producer.disconnect();
    }
    const [window] = await waitFor('the closed window', async () => {
      const w = await store.queryDrift({ model: MODEL, window: '1m', from: T0, to: T0 + MINUTE });
      return w.length === 1 ? w : undefined;
    });
    expect(window!.eventCount).toBe(60);
    const [dead, ...more] = await readTopic(kafka, s.dlq, 1, { lingerMs: 300 });
    expect(more).toHaveLength(0);
    expect(dead!.value!.toString()).toBe('{not json');
    expect(header(dead!, DEAD_LETTER_HEADERS.partition)).toBe('0');
    expect(header(dead!, DEAD_LETTER_HEADERS.offset)).toBe('20');
  }

  it('SASL_SSL with SCRAM-SHA-256 (password file): consumes into windows and dead-letters; no secret in the logs (kafkajs at debug)', async () => {
    const s = await setup('scram', {
      brokers: sec.saslSslBrokers,
      ssl: { ca: sec.ca },
      sasl: { mechanism: 'scram-sha-256', username: sec.scramUser, passwordFile: sec.passwordFile },
    });
    const { logger, lines } = capturedLogger('debug');
    await withDaemon(s, { logger, kafka: { kafkaLogLevel: 'debug' } }, async (d) => {
      await consumesAndDeadLetters(s, d);
      expect(d.kafka!.readiness().ok).toBe(true);
    });
    expect(lines.some((l) => l.includes('SASL'))).toBe(true); // kafkajs did log its handshake
    expect(lines.filter((l) => l.includes(password))).toEqual([]);
  }, 90_000);

  it('SASL_SSL with PLAIN (password from DRIFTD_KAFKA_SASL_PASSWORD): consumes and dead-letters', async () => {
    const s = await setup(
      'plain',
      {
        brokers: sec.saslSslBrokers,
        ssl: { ca: sec.ca },
        sasl: { mechanism: 'plain', username: sec.plainUser },
      },
      { DRIFTD_KAFKA_SASL_PASSWORD: password },
    );
    await withDaemon(s, {}, (d) => consumesAndDeadLetters(s, d));
  }, 90_000);

  it('mTLS (client certificate): consumes and dead-letters', async () => {
    const s = await setup('mtls', {
      brokers: sec.mtlsBrokers,
      ssl: { ca: sec.ca, cert: sec.clientCert, key: sec.clientKey },
    });
    await withDaemon(s, {}, (d) => consumesAndDeadLetters(s, d));
  }, 90_000);

  /**
   * A daemon that cannot connect: its cause in /readyz and in the log, then no second attempt
   * for a while (the slow pace of refusals), the daemon still up.
   */
  async function refused(name: string, kafkaSection: Record<string, unknown>, cause: string) {
    const s = await setup(name, kafkaSection);
    const { logger, lines } = capturedLogger();
    await withDaemon(s, { logger }, async (d) => {
      const detail = await waitFor('a refusal in the readiness detail', () => {
        const r = d.kafka!.readiness();
        return r.detail === 'connecting' ? undefined : r;
      });
      expect(detail).toEqual({ ok: false, detail: `connecting: ${cause}` });
      const attempts = () => lines.filter((l) => l.includes(`cannot connect to Kafka: ${cause}`));
      expect(attempts()).toHaveLength(1);
      await new Promise((r) => setTimeout(r, 3_000));
      expect(attempts()).toHaveLength(1);
      expect(d.state).toBe('running');
      expect(d.kafka!.readiness().ok).toBe(false);
    });
    return lines;
  }

  it('a wrong SCRAM password: "authentication failed", retried slowly, the password never logged', async () => {
    const wrong = `wrong-${randomBytes(8).toString('hex')}`;
    const passwordFile = join(dir, 'wrong-password');
    await writeFile(passwordFile, `${wrong}\n`, { mode: 0o600 });
    const lines = await refused(
      'wrong-password',
      {
        brokers: sec.saslSslBrokers,
        ssl: { ca: sec.ca },
        sasl: { mechanism: 'scram-sha-512', username: sec.scramUser, passwordFile },
      },
      'authentication failed',
    );
    expect(lines.filter((l) => l.includes(wrong))).toEqual([]);
  }, 60_000);

  it('a broker certificate the configured CA did not sign: "broker certificate not trusted"', async () => {
    await refused(
      'untrusted',
      {
        brokers: sec.saslSslBrokers,
        ssl: { ca: sec.untrustedCa },
        sasl: { mechanism: 'plain', username: sec.plainUser, passwordFile: sec.passwordFile },
      },
      'broker certificate not trusted',
    );
  }, 60_000);

  it('mTLS without a client certificate: refused by the broker', async () => {
    await refused(
      'no-client-cert',
      { brokers: sec.mtlsBrokers, ssl: { ca: sec.ca } },
      'TLS handshake refused by the broker',
    );
  }, 60_000);

  it('driftd start (a process, YAML + env): ready over SASL_SSL; a wrong password gives /readyz 503 naming it, the process up; a password in the YAML is refused', async () => {
    const s = await setup('process', {});
    const yaml = (sasl: Record<string, unknown>) => ({
      dataDir: join(dir, 'process-data'),
      server: { host: '127.0.0.1', port: 0 },
      kafka: {
        brokers: sec.saslSslBrokers,
        groupId: s.groupId,
        predictionsTopic: s.predictions,
        labelsTopic: s.labels,
        deadLetterTopic: s.dlq,
        ssl: { ca: sec.ca },
        sasl: { mechanism: 'scram-sha-512', username: sec.scramUser, ...sasl },
      },
      models: [{ id: MODEL, task: 'regression', features: [{ name: 'income', type: 'numeric' }] }],
    });
    const configFile = await writeConfigFile(dir, yaml({}), 'process.yaml');
    const env = {
      DRIFTD_KAFKA_SESSION_TIMEOUT_MS: '6000',
      DRIFTD_KAFKA_HEARTBEAT_INTERVAL_MS: '500',
    };

    const good = await startDaemonProcess({
      configFile,
      env: { ...env, DRIFTD_KAFKA_SASL_PASSWORD: password },
    });
    try {
      await good.waitReady(30_000);
    } finally {
      await good.stop();
    }

    const wrong = `wrong-${randomBytes(8).toString('hex')}`;
    const bad = await startDaemonProcess({
      configFile,
      env: { ...env, DRIFTD_KAFKA_SASL_PASSWORD: wrong },
    });
    try {
      await bad.waitForLog(
        (e) => e.msg === 'cannot connect to Kafka: authentication failed; retrying',
        30_000,
      );
      const res = await fetch(`${bad.url}/readyz`);
      expect(res.status).toBe(503);
      const body = (await res.json()) as { checks: { kafka: unknown } };
      expect(body.checks.kafka).toEqual({ ok: false, detail: 'connecting: authentication failed' });
      expect((await fetch(`${bad.url}/healthz`)).status).toBe(200);
      expect(JSON.stringify(bad.logs)).not.toContain(wrong);
    } finally {
      await bad.stop();
    }

    const inYaml = await writeConfigFile(dir, yaml({ password: wrong }), 'in-yaml.yaml');
    const refused = await promisify(execFile)(
      process.execPath,
      ['--import', 'tsx', 'src/main.ts', 'start', '--config', inYaml],
      { timeout: 30_000 },
    ).then(
      () => undefined,
      (err: { code?: number; stderr?: string; stdout?: string }) => err,
    );
    expect(refused?.code).not.toBe(0);
    const output = `${refused?.stderr ?? ''}${refused?.stdout ?? ''}`;
    expect(output).toContain(
      'kafka.sasl.password: a password is not accepted in the config file; set the environment variable DRIFTD_KAFKA_SASL_PASSWORD',
    );
    expect(output).not.toContain(wrong);
  }, 120_000);
});
