/**
 * The connection to Kafka: one kafkajs client with an admin (topic checks, lag), a producer
 * (dead letters) and the group's consumer, connected until it works or the source closes, and
 * connected again from scratch after a crash kafkajs does not restart from. kafkajs's own logs
 * go to the daemon's logger.
 */

import type {
  Admin,
  Consumer,
  ConsumerGroupJoinEvent,
  EachBatchPayload,
  LogEntry,
  Producer,
} from 'kafkajs';
import kafkajs from 'kafkajs';
import type { KafkaConfig } from '../../config/types.js';
import type { Metrics } from '../../export/metrics.js';
import type { Logger } from '../../logger.js';
import { backoffDelay, RetryAbortedError, retryUntilDone, sleep } from '../retry.js';
import { KafkaSourceError, type KafkaSourceState, type Tuning } from './options.js';
import { type KafkaRefusal, type KafkaSecurity, kafkaRefusal } from './security.js';

const { Kafka, logLevel: KafkaLogLevel } = kafkajs;

const KAFKAJS_LEVELS = {
  nothing: KafkaLogLevel.NOTHING,
  error: KafkaLogLevel.ERROR,
  warn: KafkaLogLevel.WARN,
  info: KafkaLogLevel.INFO,
  debug: KafkaLogLevel.DEBUG,
} as const;

export interface ConnectionOptions {
  config: KafkaConfig;
  /** TLS and SASL options of every client (security.ts). */
  security: KafkaSecurity;
  tuning: Tuning;
  /** The daemon's logger (kafkajs logs as its child `stage: kafkajs`). */
  logger: Logger;
  log: Logger;
  metrics: Pick<Metrics, 'kafkaErrors'>;
  /** Aborts the connect loop and its backoff (close). */
  signal: AbortSignal;
  stopping: () => boolean;
  eachBatch: (payload: EachBatchPayload) => Promise<void>;
  onGroupJoin: (event: ConsumerGroupJoinEvent) => void;
  /** The group coordinator answered a heartbeat: still a member. */
  onHeartbeat?: () => void;
}

export interface Connection {
  state: KafkaSourceState;
  /** Member of the group with an assignment. */
  joined: boolean;
  /** Why the last connect attempt was refused, while connecting (readiness). */
  readonly refusal: KafkaRefusal | undefined;
  readonly consumer: Consumer | undefined;
  readonly producer: Producer | undefined;
  readonly admin: Admin | undefined;
  /** The connect loop running (or done), if started. */
  readonly connecting: Promise<void> | undefined;
  /** Starts the connect loop. */
  start(): void;
  /** The group was joined: a member again, and the crash backoff starts over. */
  groupJoined(): void;
  /** Disconnects every client (close, once the connect loop is over); never rejects. */
  disconnect(): Promise<unknown>;
}

export function createConnection(options: ConnectionOptions): Connection {
  const { config: cfg, tuning, log } = options;
  const groupId = cfg.groupId;
  const predictionsTopic = cfg.predictionsTopic;
  const labelsTopic = cfg.labelsTopic;
  const onBatch = options.eachBatch;
  const onGroupJoin = options.onGroupJoin;

  let state: KafkaSourceState = 'created';
  let joined = false;
  let consumer: Consumer | undefined;
  let producer: Producer | undefined;
  let admin: Admin | undefined;
  let connecting: Promise<void> | undefined;
  let refusal: KafkaRefusal | undefined;

  function kafkaLogger() {
    const kafkaLog = options.logger.child({ stage: 'kafkajs' });
    return () =>
      ({ namespace, level, log: entry }: LogEntry) => {
        const { message, timestamp: _ts, ...extra } = entry;
        const obj = { namespace, ...extra };
        if (level === KafkaLogLevel.ERROR) kafkaLog.error(obj, message);
        else if (level === KafkaLogLevel.WARN) kafkaLog.warn(obj, message);
        else if (level === KafkaLogLevel.INFO) kafkaLog.info(obj, message);
        else kafkaLog.debug(obj, message);
      };
  }

  /** A connect loop (`connect`) is running. */
  let connectRunning = false;
  /** A consumer that crashed for good while the connect loop that made it was still running. */
  let crashedWhileConnecting: Consumer | undefined;
  /** Reconnects after crashes since the group was last joined (their backoff grows). */
  let crashReconnects = 0;

  /**
   * Connects admin, producer and consumer (connectOnce) until it works or the source closes;
   * never rejects. At start, and again after a crash kafkajs does not recover from.
   */
  function connect(): Promise<void> {
    connectRunning = true;
    return retryUntilDone(connectOnce, {
      operation: 'kafka_connect',
      signal: options.signal,
      initialMs: 1_000,
      maxMs: 30_000,
      // Refused credentials or certificates are tried again at the slowest pace: a fixed
      // secret or trust store takes an operator, and fast retries can lock the account.
      retriable: (err) => kafkaRefusal(err) === undefined,
      onRetry: ({ err, attempt, delayMs }) => {
        options.metrics.kafkaErrors.inc({ operation: 'connect' });
        refusal = kafkaRefusal(err);
        log.warn(
          { err, attempt, delayMs, brokers: cfg.brokers, ...(refusal ? { refusal } : {}) },
          refusal === undefined
            ? 'cannot start the Kafka consumer; retrying'
            : `cannot connect to Kafka: ${refusal}; retrying`,
        );
      },
    }).then(
      () => {
        connectRunning = false;
        refusal = undefined;
        if (state === 'connecting') state = 'running';
        log.info(
          {
            groupId,
            topics: [predictionsTopic, labelsTopic],
            deadLetterTopic: cfg.deadLetterTopic,
          },
          'consuming from Kafka',
        );
        // kafkajs reports a failed first join as a crash and still resolves run().
        const dead = crashedWhileConnecting;
        crashedWhileConnecting = undefined;
        if (dead !== undefined) reconnect(dead);
      },
      (err) => {
        connectRunning = false;
        if (!(err instanceof RetryAbortedError)) log.error({ err }, 'Kafka consumer not started');
      },
    );
  }

  /**
   * The consumer `dead` crashed and kafkajs will not restart it: its clients are let go and
   * the source connects again after a backoff (not ready meanwhile). The windows and processed
   * offsets stay: the group join seeks every partition back to the first offset not
   * processed, as after any restart.
   */
  function reconnect(dead: Consumer): void {
    if (options.stopping() || consumer !== dead) return;
    if (connectRunning) {
      crashedWhileConnecting = dead;
      return;
    }
    // The admin client stays: it keeps the lag gauge true meanwhile, and the next connect
    // reuses it.
    const clients = [dead, producer];
    consumer = undefined;
    producer = undefined;
    state = 'connecting';
    const delayMs = backoffDelay(++crashReconnects, { initialMs: 1_000, maxMs: 30_000 });
    log.warn(
      { groupId, delayMs, attempt: crashReconnects },
      'Kafka consumer stopped after a crash kafkajs does not restart from; connecting again',
    );
    connectRunning = true;
    connecting = (async () => {
      await Promise.allSettled(clients.map((x) => x?.disconnect()));
      try {
        await sleep(delayMs, options.signal);
      } catch {
        connectRunning = false;
        return; // closing
      }
      await connect();
    })();
  }

  async function connectOnce(): Promise<void> {
    const kafka = new Kafka({
      clientId: cfg.clientId,
      brokers: cfg.brokers,
      logLevel: KAFKAJS_LEVELS[tuning.kafkaLogLevel],
      logCreator: kafkaLogger(),
      connectionTimeout: 3_000,
      requestTimeout: 30_000,
      retry: { retries: 5 },
      ...options.security,
    });
    const a = admin ?? kafka.admin();
    const p = kafka.producer({ allowAutoTopicCreation: false, retry: { retries: 3 } });
    const c = kafka.consumer({
      groupId,
      sessionTimeout: tuning.sessionTimeoutMs,
      heartbeatInterval: tuning.heartbeatIntervalMs,
      maxWaitTimeInMs: tuning.maxWaitTimeMs,
      maxBytesPerPartition: tuning.maxBytesPerPartition,
      maxBytes: tuning.maxBytes,
      allowAutoTopicCreation: false,
      retry: {
        retries: 10,
        // A crashed consumer (e.g. the brokers were gone for a while) starts again by itself.
        restartOnFailure: async (err) => {
          log.error({ err }, 'Kafka consumer crashed; restarting');
          return !options.stopping();
        },
      },
    });
    try {
      await a.connect();
      const existing = new Set(await a.listTopics());
      const topics = [
        ['kafka.predictionsTopic', predictionsTopic],
        ['kafka.labelsTopic', labelsTopic],
        ['kafka.deadLetterTopic', cfg.deadLetterTopic],
      ] as const;
      const missing = topics.filter(([, t]) => !existing.has(t));
      if (missing.length > 0) {
        throw new KafkaSourceError(
          `Kafka topics missing on ${cfg.brokers.join(',')}: ${missing.map(([k, t]) => `${k} "${t}"`).join(', ')}; create them (driftd does not create topics)`,
          { retriable: true },
        );
      }
      await p.connect();
      c.on(c.events.GROUP_JOIN, onGroupJoin);
      if (options.onHeartbeat) c.on(c.events.HEARTBEAT, options.onHeartbeat);
      c.on(c.events.REBALANCING, () => {
        joined = false;
      });
      c.on(c.events.CRASH, (e) => {
        joined = false;
        options.metrics.kafkaErrors.inc({ operation: 'consumer_crash' });
        log.warn({ err: e.payload.error, restart: e.payload.restart }, 'Kafka consumer crash');
        // kafkajs restarts a consumer only after an error it deems retriable. Others leave it
        // dead for good: "Failed to find group coordinator" when the broker went away during a
        // coordinator lookup (seen in the outage test, one run in five under load) stopped
        // consumption until the daemon was restarted. Connect again from scratch instead.
        if (!e.payload.restart) reconnect(c);
      });
      c.on(c.events.STOP, () => {
        joined = false;
      });
      consumer = c;
      producer = p;
      admin = a;
      await c.connect();
      await c.subscribe({ topics: [predictionsTopic, labelsTopic], fromBeginning: true });
      // Resolves once the group is joined and fetching has started.
      await c.run({
        autoCommit: false,
        eachBatchAutoResolve: true,
        partitionsConsumedConcurrently: 1,
        eachBatch: onBatch,
      });
    } catch (err) {
      consumer = undefined;
      producer = undefined;
      admin = undefined;
      joined = false;
      await Promise.allSettled([c.disconnect(), p.disconnect(), a.disconnect()]);
      throw err;
    }
  }

  return {
    get state() {
      return state;
    },
    set state(s: KafkaSourceState) {
      state = s;
    },
    get joined() {
      return joined;
    },
    set joined(j: boolean) {
      joined = j;
    },
    get refusal() {
      return refusal;
    },
    get consumer() {
      return consumer;
    },
    get producer() {
      return producer;
    },
    get admin() {
      return admin;
    },
    get connecting() {
      return connecting;
    },
    start() {
      connecting = connect();
    },
    groupJoined() {
      crashReconnects = 0;
      joined = true;
    },
    disconnect() {
      return Promise.allSettled([
        consumer?.disconnect(),
        producer?.disconnect(),
        admin?.disconnect(),
      ]);
    },
  };
}
