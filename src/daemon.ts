import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { Registry } from 'prom-client';
import { configuredTokens } from './api/auth.js';
import type { Readiness } from './api/ports.js';
import { buildServer } from './api/server.js';
import { createFinaliser, type Finaliser } from './cluster/finaliser.js';
import type { ClusterStore } from './cluster/types.js';
import { createLiveConfig } from './config/live.js';
import type { DriftdConfig } from './config/types.js';
import { reachableUrl, removeDaemonFile, writeDaemonFile } from './daemon-file.js';
import { ConfigError, LifecycleError } from './errors.js';
import { createMetrics, type Metrics } from './export/metrics.js';
import { countStoreErrors } from './export/store-metrics.js';
import {
  createHttpCheckpointer,
  DEFAULT_HTTP_CHECKPOINT_INTERVAL_MS,
  type HttpCheckpointer,
  httpInput,
} from './ingest/checkpointer.js';
import {
  createKafkaSource,
  type KafkaClusterOptions,
  type KafkaSource,
  type KafkaTuning,
  kafkaTuningFromEnv,
} from './ingest/kafka/index.js';
import { type ClusterEngine, createPipeline, type Pipeline } from './ingest/pipeline.js';
import { createLogger, type Logger } from './logger.js';
import { piiKeyOf } from './privacy/pii.js';
import { ConfigReloadRefusedError, createReloader, type ReloadReport } from './reload.js';
import { createStore } from './store/index.js';
import type { Store } from './store/types.js';
import { isTransientStoreError, migrateWhenReachable } from './store/wait.js';
import type { PerformanceResult, RevisionReason, WindowResult } from './types.js';
import { VERSION } from './version.js';
import type { VersionComparison } from './window/comparison-types.js';
import type { Clock } from './window/index.js';
import { judgePerformance } from './window/performance-verdict.js';
import { judgeRollback, rollbackThresholds } from './window/rollback.js';

export interface DaemonOverrides {
  logger?: Logger;
  registry?: Registry;
  clock?: Clock;
  store?: Store;
  /** Tick period for idle closes and label-driven recomputes, ms (default 1000). */
  tickMs?: number;
  /** Close every open window on `close()` (replay, demo) instead of checkpointing them. */
  flushOnClose?: boolean;
  /** Do not bind the HTTP port (CLI replay, tests using `inject`). */
  listen?: boolean;
  onWindow?: (r: WindowResult) => void;
  onPerformance?: (r: PerformanceResult) => void;
  /** Why this process writes results (`driftd replay`: 'replay'); default the close or labels. */
  revisionReason?: RevisionReason;
  /** Called after each version comparison is stored (the rollback signal's input). */
  onComparison?: (c: VersionComparison) => void;
  /** Kafka consumer tuning (checkpoint interval, session timeout, …); default from the env. */
  kafka?: KafkaTuning;
  /**
   * Keep the daemon up (HTTP serving, not ready) while the store does not answer, retrying
   * with backoff, instead of failing start() (`driftd start` sets it; one-shot commands don't).
   */
  waitForStore?: boolean;
  /** HTTP checkpoint period, ms; default DRIFTD_HTTP_CHECKPOINT_INTERVAL_MS or 5000. */
  httpCheckpointMs?: number;
  /** Reads the config file again, for `reload()` (`driftd start` passes its loader). */
  loadConfig?: () => Promise<DriftdConfig>;
}

export type DaemonState = 'created' | 'starting' | 'running' | 'closing' | 'closed';

export interface Daemon {
  readonly state: DaemonState;
  /** The config in force (a reload swaps it). */
  readonly config: DriftdConfig;
  readonly metrics: Metrics;
  readonly logger: Logger;
  /** Available after start(). */
  readonly store: Store;
  readonly pipeline: Pipeline;
  readonly app: FastifyInstance;
  /** The Kafka source when `config.kafka` is set (after start()). */
  readonly kafka: KafkaSource | undefined;
  /** http://host:port once listening (https:// with server.tls). */
  readonly url: string | undefined;
  /**
   * Resolves once everything runs; with `waitForStore` that may be long after the HTTP server
   * listens. `close()` during start() makes it reject with a LifecycleError.
   */
  start(): Promise<void>;
  /** Idempotent; concurrent calls share one shutdown. */
  close(): Promise<void>;
  /**
   * Reads the config file again and puts it in force (SIGHUP, POST /api/v1/admin/reload):
   * see src/reload.ts. Only while running.
   */
  reload(): Promise<ReloadReport>;
}

/** The Kafka source's cluster options (lane-checkpoints.ts). */
function kafkaCluster(engine: ClusterEngine, store: Store): KafkaClusterOptions {
  const { insertLaneProgress } = store as Partial<ClusterStore>;
  if (insertLaneProgress === undefined)
    throw new ConfigError(
      'cluster mode needs a store that keeps lane progress (store.driver: clickhouse)',
    );
  return {
    instanceId: engine.instanceId,
    lanes: engine.lanes,
    store: { insertLaneProgress: insertLaneProgress.bind(store) },
  };
}

function httpCheckpointMsFromEnv(): number {
  const v = Number(process.env.DRIFTD_HTTP_CHECKPOINT_INTERVAL_MS);
  return Number.isInteger(v) && v > 0 ? v : DEFAULT_HTTP_CHECKPOINT_INTERVAL_MS;
}

/**
 * Wires HTTP → store → pipeline → (Kafka source). The HTTP server listens first so liveness and
 * readiness answer while the store is awaited (`waitForStore`). Shutdown runs in flow order: stop
 * taking requests, stop the ticker, stop fetching from Kafka and write its final checkpoint
 * and offsets (or checkpoint/flush the open windows without Kafka), close the store, and the
 * logger is flushed last by the caller.
 */
export function createDaemon(config: DriftdConfig, overrides: DaemonOverrides = {}): Daemon {
  const logger = overrides.logger ?? createLogger(config.logLevel);
  const log = logger.child({ stage: 'daemon' });
  const registry = overrides.registry ?? new Registry();
  const clock = overrides.clock ?? { now: () => Date.now() };
  const live = createLiveConfig(config);
  // The config in force (swapped whole by a reload, src/config/live.ts).
  const models = live.models;
  // One judge for /metrics and the API; baselines come from the running pipeline.
  const judge = (p: PerformanceResult) => {
    const model = models.get(p.model);
    if (model === undefined) return [];
    return judgePerformance(p, model, pipeline?.baselinePerformance(p.model, p.version));
  };
  const metrics = createMetrics(registry, {
    version: VERSION,
    judgePerformance: judge,
    maxVersions: (model) => models.get(model)?.versions.maxActive ?? Number.POSITIVE_INFINITY,
    judgeRollback: (c) => {
      const model = models.get(c.model);
      if (model === undefined) return { worse: null, reasons: [] };
      return judgeRollback(c, rollbackThresholds(model.alerts));
    },
  });

  let state: DaemonState = 'created';
  let store: Store | undefined;
  let pipeline: Pipeline | undefined;
  let app: FastifyInstance | undefined;
  let url: string | undefined;
  let timer: NodeJS.Timeout | undefined;
  let ticking: Promise<void> | undefined;
  /** The latest reload (SIGHUP, admin route): shutdown waits for it. */
  let reloading: Promise<void> | undefined;
  // With Kafka on, the Kafka source owns window checkpoints (in the store, with its offsets);
  // without it the HTTP checkpointer does (in the store, with the HTTP input position).
  let kafka: KafkaSource | undefined;
  let checkpointer: HttpCheckpointer | undefined;
  /** Cluster mode: turns the lanes' partials into each window's one result (src/cluster/). */
  let finaliser: Finaliser | undefined;
  // Cluster mode: the HTTP input is a lane of its own, checkpointed on its own (Kafka or not).
  const cluster = config.cluster?.enabled === true ? config.cluster : undefined;
  const httpCheckpoints =
    (config.kafka === null || cluster !== undefined) && !overrides.flushOnClose;
  let closing: Promise<void> | undefined;
  let starting: Promise<void> | undefined;
  const startAbort = new AbortController();
  /** True while start() waits for the store to answer its migrations. */
  let waitingForStore = false;
  /** The store's health at the last readiness probe (undefined before the first). */
  let storeHealthy: boolean | undefined;

  const need = <T>(v: T | undefined, what: string): T => {
    if (v === undefined) throw new LifecycleError(`${what} is available after start()`);
    return v;
  };

  /**
   * /readyz. Details are generic on purpose ("unreachable", not the store's host or exception
   * text): the full error goes to the log, once per change of the store's health.
   */
  async function readiness(): Promise<Readiness> {
    const checks: Readiness['checks'] = {};
    checks.pipeline = {
      ok: state === 'running',
      detail: waitingForStore ? 'waiting for the store' : state,
    };
    // Not ready while the windows are rebuilt after a failed raw write (requests get 503).
    if (pipeline && !pipeline.input.healthy)
      checks.pipeline = { ok: false, detail: 'rebuilding windows after a failed store write' };
    if (kafka) checks.kafka = kafka.readiness();
    try {
      await need(store, 'store').ping();
      checks.store = { ok: true };
      if (storeHealthy === false) log.info('store answers again');
      storeHealthy = true;
    } catch (err) {
      checks.store = {
        ok: false,
        detail: isTransientStoreError(err) ? 'unreachable' : 'failing',
      };
      if (storeHealthy !== false) log.warn({ err }, 'readiness: the store does not answer');
      storeHealthy = false;
    }
    return { ready: Object.values(checks).every((c) => c.ok), checks };
  }

  async function tick(): Promise<void> {
    if (!pipeline || state !== 'running') return;
    try {
      await pipeline.tick();
    } catch (err) {
      log.error({ err }, 'periodic work failed; will retry on the next tick');
    }
  }

  const reloader = createReloader({
    load: async () => {
      if (!overrides.loadConfig) {
        throw new ConfigReloadRefusedError('config reload refused', [
          'this daemon was not started from a config file',
        ]);
      }
      return overrides.loadConfig();
    },
    live,
    apply: (next) => {
      const p = need(pipeline, 'pipeline');
      // With Kafka, between its batches (the decode thread follows the new models).
      return kafka ? kafka.reconfigure(() => p.reconfigure(next)) : p.reconfigure(next);
    },
    metrics,
    logger,
  });

  const daemon: Daemon = {
    get state() {
      return state;
    },
    get config() {
      return live.current;
    },
    metrics,
    logger,
    get store() {
      return need(store, 'store');
    },
    get pipeline() {
      return need(pipeline, 'pipeline');
    },
    get app() {
      return need(app, 'app');
    },
    get kafka() {
      return kafka;
    },
    get url() {
      return url;
    },
    /**
     * Brings the daemon up in flow order, HTTP first: /healthz and /readyz (not ready, and why)
     * answer while the store is awaited; /api/v1 answers 503 until everything runs.
     */
    async start() {
      if (state !== 'created') throw new LifecycleError(`start() called in state ${state}`);
      state = 'starting';
      let started = () => {};
      // close() during start() waits for this (start() releases what it opened when aborted).
      starting = new Promise<void>((resolve) => {
        started = resolve;
      });
      try {
        store = countStoreErrors(overrides.store ?? createStore(config.store, { logger }), metrics);
        app = await buildServer({
          config,
          models,
          store,
          // The pipeline exists once the store answers; /api/v1 is refused before (accepting).
          ingest: {
            ingestEvents: (items, source, opts) =>
              need(pipeline, 'pipeline').ingestEvents(items, source, opts),
            ingestLabels: (items, opts) => need(pipeline, 'pipeline').ingestLabels(items, opts),
          },
          baselines: { refresh: () => need(pipeline, 'pipeline').refreshBaselines() },
          metrics,
          logger,
          readiness,
          accepting: () => state === 'running',
          reload: () => daemon.reload(),
          version: VERSION,
          judgePerformance: judge,
        });
        if (overrides.listen !== false) {
          url = await app.listen({ host: config.server.host, port: config.server.port });
          log.info(
            { url, models: config.models.map((m) => m.id), store: config.store.kind },
            'driftd listening',
          );
        } else {
          await app.ready();
        }
        const tokens = configuredTokens(config.server);
        if (tokens.length === 0) {
          log.warn(
            'no API tokens configured: every /api/v1 route (reads, ingestion, recompute) is open to anyone who can reach the port',
          );
        } else {
          log.info(
            { tokens: tokens.map((t) => ({ name: t.name, scopes: t.scopes })) },
            'API tokens configured',
          );
        }
        waitingForStore = true;
        const report = overrides.waitForStore
          ? await migrateWhenReachable(store, config.store, {
              logger: log,
              signal: startAbort.signal,
            })
          : await store.migrate();
        waitingForStore = false;
        if (report.applied.length > 0)
          log.info({ applied: report.applied, version: report.version }, 'store migrated');
        pipeline = createPipeline({
          config,
          live,
          store,
          metrics,
          logger,
          clock,
          ...(overrides.onWindow ? { onWindow: overrides.onWindow } : {}),
          ...(overrides.onPerformance ? { onPerformance: overrides.onPerformance } : {}),
          ...(overrides.revisionReason ? { revisionReason: overrides.revisionReason } : {}),
          ...(overrides.onComparison ? { onComparison: overrides.onComparison } : {}),
          ...(cluster ? { cluster: { instanceId: cluster.instanceId } } : {}),
        });
        await pipeline.start();
        if (cluster) metrics.clusterLanesOwned.set({ kind: 'http' }, 1);
        if (httpCheckpoints) {
          checkpointer = createHttpCheckpointer({
            pipeline,
            store,
            logger,
            clock,
            intervalMs: overrides.httpCheckpointMs ?? httpCheckpointMsFromEnv(),
            legacyDir: join(config.dataDir, 'checkpoints'),
            ...(cluster ? { progressRefreshMs: cluster.laneTimeoutMs / 4 } : {}),
          });
          // Before anything is ingested: the windows and input position of the last cut, and
          // the events stored after it.
          await checkpointer.restore();
        }
        if (config.kafka !== null) {
          kafka = createKafkaSource({
            config: config.kafka,
            models,
            pipeline,
            store,
            metrics,
            logger,
            clock,
            piiKey: piiKeyOf(config),
            maxFutureSkewMs: config.ingest.maxFutureSkewMs,
            tuning: overrides.kafka ?? kafkaTuningFromEnv(),
            // Its checkpoint carries the HTTP input position too (a replay run has none; in
            // cluster mode the HTTP lane has its own checkpointer).
            ...(overrides.flushOnClose || cluster
              ? {}
              : { http: httpInput({ pipeline, store, logger, clock }) }),
            // Cluster mode: a cut per partition, restored where the partition is assigned.
            ...(pipeline.cluster ? { cluster: kafkaCluster(pipeline.cluster, store) } : {}),
          });
          // Before anything is ingested: restore() needs fresh window managers.
          await kafka.restore();
          const source = kafka;
          metrics.setKafkaReadiness(() => source.readiness().ok);
        }
        if (startAbort.signal.aborted) throw new LifecycleError('closed while starting');
        state = 'running';
        if (url !== undefined) {
          // For the CLI: a daemon serves this data directory, here (baseline import/list).
          await writeDaemonFile(config.dataDir, { pid: process.pid, url: reachableUrl(url) }).catch(
            (err) => log.warn({ err }, 'could not write <dataDir>/daemon.json'),
          );
        }
        // Readiness stays false until the consumer has joined its group.
        kafka?.start();
        checkpointer?.start();
        const engine = pipeline.cluster;
        if (cluster !== undefined && engine !== undefined) {
          const p = pipeline;
          const source = kafka;
          finaliser = createFinaliser({
            store,
            engine,
            models,
            baselineById: (id) => p.baselineById(id),
            refreshBaselines: () => p.refreshBaselines(),
            ...(config.kafka !== null ? { kafkaLanes: () => source?.lanes() } : {}),
            metrics,
            logger,
            clock,
            intervalMs: cluster.finaliseIntervalMs,
            laneTimeoutMs: cluster.laneTimeoutMs,
          });
          // After the sources: its lanes are theirs; it never fails the start.
          await finaliser.start();
        }
        const period = overrides.tickMs ?? 1000;
        timer = setInterval(() => {
          // Never overlapping: a slow tick makes the next one skip, not pile up.
          if (ticking) return;
          ticking = tick().finally(() => {
            ticking = undefined;
          });
        }, period);
        timer.unref();
      } catch (err) {
        waitingForStore = false;
        state = 'closing';
        await kafka?.close().catch(() => {});
        await app?.close().catch(() => {});
        await store?.close().catch(() => {});
        state = 'closed';
        throw err;
      } finally {
        started();
      }
    },
    close() {
      if (closing) return closing;
      closing = (async () => {
        if (state === 'created' || state === 'closed') {
          state = 'closed';
          return;
        }
        if (state === 'starting') {
          // Stop waiting for the store; start() then fails and releases what it opened.
          startAbort.abort();
          await starting;
          log.info('driftd stopped');
          return;
        }
        state = 'closing';
        if (timer) clearInterval(timer);
        await app?.close(); // stop taking requests; in-flight ones finish
        await removeDaemonFile(config.dataDir).catch(() => {});
        await ticking;
        await reloading;
        // One last finalisation run, then no more (before the sources stop).
        await finaliser?.close();
        // Stop fetching, final checkpoint (windows + offsets), commit, disconnect.
        await kafka?.close();
        // Final HTTP checkpoint (its failure is logged: the previous one and the stored events
        // after it restore the same windows).
        await checkpointer?.close();
        if (pipeline && overrides.flushOnClose) {
          try {
            await pipeline.flush();
          } catch (err) {
            log.error({ err }, 'could not flush open windows at shutdown');
          }
        }
        await store?.close();
        state = 'closed';
        log.info('driftd stopped');
      })();
      return closing;
    },
    reload() {
      if (state !== 'running') {
        return Promise.reject(new LifecycleError(`cannot reload the config in state ${state}`));
      }
      const run = reloader.reload();
      reloading = run.then(
        () => {},
        () => {},
      );
      return run;
    },
  };
  return daemon;
}
