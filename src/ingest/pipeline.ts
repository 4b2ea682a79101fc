import { join } from 'node:path';
import type { IngestPort, IngestReport } from '../api/ports.js';
import {
  type ClusterEngine,
  createLaneWindows,
  type LaneProgress,
  type LaneRegistry,
} from '../cluster/lane-windows.js';
import { createPartialWriter } from '../cluster/partial-writer.js';
import type { ClusterStore } from '../cluster/types.js';
import { createLiveConfig, type LiveConfig } from '../config/live.js';
import type { DriftdConfig, ModelConfig } from '../config/types.js';
import { ConfigError, StoreError } from '../errors.js';
import type { EventResult, Metrics } from '../export/metrics.js';
import { restoreGauges } from '../export/restore.js';
import { restoreComparisons } from '../export/restore-comparisons.js';
import type { Logger } from '../logger.js';
import { piiKeyOf } from '../privacy/pii.js';
import type { EncodedEvents, Store, StoredEvent } from '../store/types.js';
import type {
  BaselineProfile,
  PerformanceResult,
  RevisionReason,
  WindowBounds,
  WindowResult,
} from '../types.js';
import type { VersionComparison } from '../window/comparison-types.js';
import type { Clock, ClosedWindow, WindowManager, WindowManagerSnapshot } from '../window/index.js';
import { type BaselineStore, createBaselineCache } from './baselines.js';
import { type ComparisonStore, createComparisonWriter } from './comparison-writer.js';
import type { DecodeOptions } from './decode.js';
import { createDurableInput, type DurableInputStore } from './durable-input.js';
import { createIdempotency, type Idempotency } from './idempotency.js';
import type { InputLog } from './input-log.js';
import { createLabelIngest, type LabelStore } from './label-ingest.js';
import { createPerformanceScheduler, type PerformanceStore } from './performance-scheduler.js';
import { createQuarantine, type Quarantine } from './quarantine.js';
import { createRawWriter, type RawStore } from './raw-writer.js';
import { createRequestIngest, type RequestStore } from './request-ingest.js';
import { createResultWriter, type ResultStore } from './result-writer.js';
import { createRetrainWriter, type RetrainStore } from './retrain-writer.js';
import type { EngineSource } from './source.js';
import { createSerial, createStoreWrites, direct, type WriteOptions } from './store-writes.js';
import { createStreamIntake, DEFAULT_BUFFER_ROWS } from './stream-intake.js';
import { createWindowRegistry, type WindowRegistry } from './window-registry.js';

/** What the pipeline needs from the store (the full Store satisfies it): what its parts need. */
export interface PipelineStore
  extends BaselineStore,
    DurableInputStore,
    LabelStore,
    PerformanceStore,
    RawStore,
    RequestStore,
    ResultStore,
    RetrainStore,
    Partial<
      Pick<
        Store,
        'insertComparisons' | 'queryComparisons' | 'shadowAgreement' | 'latestComparisons'
      >
    >,
    Pick<Store, 'latestResults' | 'latestFairness'>,
    Partial<Pick<ClusterStore, 'insertPartials'>> {}

export interface PipelineOptions {
  config: DriftdConfig;
  /** The config in force, swapped by a reload (default: `config`, never reloaded). */
  live?: LiveConfig;
  store: PipelineStore;
  metrics: Metrics;
  logger: Logger;
  clock: Clock;
  /** Called after a closed window's result is durable (the demo prints a live summary). */
  onWindow?: (result: WindowResult) => void;
  onPerformance?: (result: PerformanceResult) => void;
  /** Why this process writes results (a replay: 'replay'); default: the close or labels. */
  revisionReason?: RevisionReason;
  /** Called after each version comparison is stored (models[].comparison). */
  onComparison?: (comparison: VersionComparison) => void;
  /** Where results the store refuses for good go; default `<dataDir>/quarantine`. */
  quarantine?: Quarantine;
  /**
   * Cluster mode (config.cluster enabled): window state per input lane, closed windows written
   * as partials, `Pipeline.cluster` for the finaliser (src/cluster/lane-windows.ts).
   */
  cluster?: { instanceId: string } | undefined;
}

export type { ClusterEngine, LaneWindows } from '../cluster/lane-windows.js';
export type { EngineSource, SourcedEvent } from './source.js';
export type { WriteOptions } from './store-writes.js';

/** Options of one HTTP/replay batch. */
export interface IngestOptions {
  /** The request's `Idempotency-Key` (HTTP): a retry with the same key is counted once. */
  idempotencyKey?: string;
}

/**
 * The cut of the HTTP input the checkpointer stores: the windows of every model (closed ones
 * not yet written included) holding exactly the HTTP/replay events at positions ≤ `position`.
 */
export interface InputCut {
  position: number;
  windows: Record<string, WindowManagerSnapshot>;
  /** Cluster mode: the HTTP lane's progress at the cut (src/cluster/progress.ts). */
  progress?: LaneProgress[];
}

/*
 * The engine's interfaces, by who calls them. Every source delivers decoded events with an
 * opaque position through the same way in (`EngineSource`, source.ts): Kafka decodes in its
 * batches (kafka/batch.ts), HTTP and replay in request-ingest.ts, which also gives each event
 * its position in the ordered input log. The checkpointer owning the cut drives commit
 * (`settle`, then a synchronous cut) and rollback: the Kafka checkpoints when Kafka is
 * configured (its cut carries the HTTP position), else the HTTP checkpointer
 * (`EngineCheckpointing`, checkpointer.ts).
 *
 * Cluster mode (`PipelineOptions.cluster`, src/cluster/): the same seam, with window state per
 * input lane (lane-windows.ts: `record` sends each run of a lane's events to that lane's
 * managers), the lanes' closed windows written as partials (partial-writer.ts) instead of
 * results, and `Pipeline.cluster` for the finaliser (`writeFinal`) and the sources (`lanes`).
 * The HTTP checkpointer then owns only the HTTP lane; rollback resets only that lane.
 */

/** The engine as the HTTP checkpointer sees it: the input log's position and the cut. */
export interface EngineCheckpointing {
  readonly managers: ReadonlyMap<string, WindowManager>;
  /** Cluster mode only: the lanes (the HTTP checkpointer cuts and restores its own lane). */
  readonly cluster?: ClusterEngine | undefined;
  /**
   * The HTTP/replay input log: positions handed out (`recorded`) and stored (`durable`);
   * `whenDurable` waits for a cut's position to be stored; a replay holds writes for larger
   * INSERTs (`holdFor`, `flush`).
   */
  readonly input: Pick<
    InputLog<EncodedEvents>,
    'recorded' | 'durable' | 'healthy' | 'whenDurable' | 'writing' | 'holdFor' | 'flush'
  >;
  /** Remembered `Idempotency-Key`s (the checkpointer loads the stored ones at startup). */
  readonly idempotency: Idempotency;
  /** Synchronous snapshot of every model's windows at the current input position. */
  cut(): InputCut;
  /**
   * Records stored HTTP events (ascending positions, all durable) into the windows, as their
   * requests did, without storing them again: the replay after a restart or a failed write.
   */
  replayStored(events: readonly StoredEvent[]): void;
  /** See `EngineSource.rollback`: the start of a rebuild. */
  rollback(): void;
  /** Back in service after a rebuild: every position up to `position` is stored. */
  resumeInput(position: number): void;
  /** See `EngineSource.onRollback`. */
  onRollback(rollback: (err: unknown) => void): void;
  /** See `EngineSource.settle`. */
  settle(opts?: WriteOptions): Promise<void>;
  openWindows(): number;
}

/** The whole engine, as the daemon composes it. */
export interface Pipeline extends IngestPort, EngineSource, EngineCheckpointing {
  ingestEvents(
    items: readonly unknown[],
    source: 'http' | 'replay',
    opts?: IngestOptions,
  ): Promise<IngestReport>;
  ingestLabels(items: readonly unknown[], opts?: IngestOptions): Promise<IngestReport>;
  /** Loads baselines and restores the latest results' gauges; call before ingesting. */
  start(): Promise<void>;
  /** Periodic work: idle window close, baseline refresh, performance recompute for new labels. */
  tick(): Promise<void>;
  /** Closes every open window and writes the results (shutdown, end of a replay). */
  flush(): Promise<WindowResult[]>;
  /** Reloads baselines from the store (after an import). */
  refreshBaselines(): Promise<void>;
  /**
   * Puts a reloaded config in force (its restart-only settings already those running, see
   * src/config/live.ts): the new models' baselines are loaded, then in one synchronous step
   * the config is swapped and the windows follow it (window-registry.ts `reconcile`); the
   * windows that closed on the way are written like any other.
   */
  reconfigure(next: DriftdConfig): Promise<void>;
  /** Cluster mode only (PipelineOptions.cluster): the lanes and the finaliser's writer. */
  readonly cluster?: ClusterEngine | undefined;
  /** The performance of the baseline a model version is evaluated against, if it has one. */
  baselinePerformance(model: string, version: string): Record<string, number> | undefined;
  /** A loaded baseline by id (the finaliser evaluates a window on its partials' baseline). */
  baselineById(id: string): BaselineProfile | undefined;
}

const BASELINE_REFRESH_MS = 30_000;

/** The store as a comparison store, when it is one (test stores may not be). */
function comparisonStoreOf(store: PipelineStore): ComparisonStore | undefined {
  const { insertComparisons, queryComparisons, shadowAgreement, queryPerformance } = store;
  return insertComparisons && queryComparisons && shadowAgreement && queryPerformance
    ? (store as ComparisonStore)
    : undefined;
}

export function createPipeline(opts: PipelineOptions): Pipeline {
  const { config, store, metrics, clock } = opts;
  const log = opts.logger.child({ stage: 'pipeline' });
  const quarantine =
    opts.quarantine ??
    createQuarantine({
      dir: join(config.dataDir, 'quarantine'),
      counter: metrics.quarantinedTotal,
      logger: opts.logger,
    });
  const live = opts.live ?? createLiveConfig(config);
  const models = live.models;
  /**
   * Models a reload removed, by id: their last windows are evaluated with their last config.
   * Bounded by the model ids ever configured.
   */
  const removed = new Map<string, ModelConfig>();
  /** Replay: any storable time. HTTP, a live source: not too far ahead of the clock. */
  const decodeOpts: DecodeOptions = { models, piiKey: piiKeyOf(config) };
  const liveDecodeOpts: DecodeOptions = {
    ...decodeOpts,
    live: { now: () => clock.now(), maxFutureSkewMs: config.ingest.maxFutureSkewMs },
  };

  const baselines = createBaselineCache({ store, models, clock, logger: log, metrics });
  // Cluster mode: a registry per input lane (every lane's windows at once for the code below).
  const lanes: LaneRegistry | undefined =
    opts.cluster === undefined
      ? undefined
      : createLaneWindows({
          instanceId: opts.cluster.instanceId,
          live,
          clock,
          metrics,
          baselines,
          logger: log,
        });
  const windows: WindowRegistry =
    lanes ??
    createWindowRegistry({
      live,
      clock,
      metrics,
      baselines,
      onRetire: (model, version) => retrain.retire(model, version),
    });
  const managers = windows.managers;

  const writes = createStoreWrites(metrics, quarantine);
  // Window and performance writes run one at a time; raw inserts run beside them.
  const serial = createSerial();
  const performance = createPerformanceScheduler({
    store,
    models,
    clock,
    metrics,
    writes,
    onPerformance: opts.onPerformance,
    revisionReason: opts.revisionReason,
    afterWrite: (rows, write) => comparisons?.performanceWritten(rows, write) ?? Promise.resolve(),
    baselineById: (id) => baselines.byId(id),
  });
  const raw = createRawWriter({
    store,
    writes,
    bufferRows: DEFAULT_BUFFER_ROWS,
    onStored: (b) => performance.markDue(b),
  });
  const retrain = createRetrainWriter({
    store,
    modelOf: (id) => models.get(id) ?? removed.get(id),
    models: () => live.current.models,
    baselinePerformance: (model, version) => {
      const m = models.get(model);
      return m === undefined ? undefined : baselines.baselineFor(m, version)?.performance;
    },
    metrics,
    logger: log,
    clock,
  });
  const comparisons = comparisonStoreOf(store)
    ? createComparisonWriter({
        store: comparisonStoreOf(store)!,
        modelOf: (id) => models.get(id) ?? removed.get(id),
        clock,
        metrics,
        logger: log,
        writes,
        flushRaw: (write) => raw.flushAll(write),
        // The rollback signal judges each stored comparison (src/window/rollback.ts).
        onComparison: (c) => {
          metrics.recordComparison(c);
          opts.onComparison?.(c);
        },
      })
    : undefined;
  const resultWriter = (dedupToken?: (c: ClosedWindow) => string | undefined) =>
    createResultWriter({
      store,
      modelOf: (id) => models.get(id) ?? removed.get(id),
      clock,
      metrics,
      logger: log,
      writes,
      serial,
      raw,
      performance,
      // Cluster mode: comparisons and retrain episodes keep per-process state across windows
      // that different instances finalise, so they are not run there (docs/scale-out.md).
      comparisons: lanes === undefined ? comparisons : undefined,
      onWindow: opts.onWindow,
      retrain: lanes === undefined ? retrain : undefined,
      revisionReason: opts.revisionReason,
      dedupToken,
    });
  const input = createDurableInput({ store, metrics, logger: log });
  const rawLog = input.log;
  const { released, stored: inputStored } = input;
  // Cluster mode: the lanes' closed windows are partials (the finaliser writes the results,
  // through `finals`); only the HTTP lane's wait for the HTTP input's rows.
  const results = lanes === undefined ? resultWriter() : partialWriter(lanes);
  const gate = lanes === undefined ? input.gate : gateHttpLane(lanes.httpLane);
  /** The finaliser's windows and their insert tokens (cluster mode). */
  const tokens = new WeakMap<ClosedWindow, string>();
  const finals = lanes === undefined ? undefined : resultWriter((c) => tokens.get(c));
  let windowOpen = (model: string, b: WindowBounds) => windows.isOpen(model, b);

  function partialWriter(l: LaneRegistry) {
    const { insertPartials } = store;
    if (insertPartials === undefined)
      throw new ConfigError(
        'cluster mode needs a store that keeps window partials (store.driver: clickhouse)',
      );
    const writer = createPartialWriter({
      store: { insertPartials: insertPartials.bind(store) },
      instanceId: opts.cluster!.instanceId,
      clock,
      metrics,
      logger: log,
      writes,
      serial,
      httpPosition: () => rawLog.recorded,
    });
    // A lane's progress never claims a window whose partial is still on its way.
    l.pendingFrom(() => [...writer.queued, ...input.gatedWindows()]);
    return writer;
  }

  /** The input's durability gate for the HTTP lane's windows; other lanes' pass. */
  function gateHttpLane(http: string): (closed: readonly ClosedWindow[]) => ClosedWindow[] {
    return (closed) => {
      const own: ClosedWindow[] = [];
      const other: ClosedWindow[] = [];
      for (const c of closed) (c.lane === http ? own : other).push(c);
      return other.concat(input.gate(own));
    };
  }

  function countEvent(model: string, result: EventResult, n = 1): void {
    metrics.eventsTotal.inc({ model: models.has(model) ? model : 'unknown', result }, n);
  }

  const idempotency = createIdempotency({ now: () => clock.now() });

  const stream = createStreamIntake({
    clock,
    metrics,
    logger: log,
    windows,
    baselines,
    raw,
    results,
    gate,
    countEvent,
    lanes,
  });

  const requests = createRequestIngest({
    store,
    engine: stream,
    windows,
    results,
    input,
    idempotency,
    decodeOpts,
    liveDecodeOpts,
    countEvent,
  });

  async function settle(options: WriteOptions = {}): Promise<void> {
    const write = options.write ?? direct;
    results.queue(gate(windows.drain()));
    // HTTP rows still on their way hold back the windows they closed.
    await inputStored();
    results.queue(released());
    if (results.queued.length > 0) await results.write([], write);
    // Rows after results: the windows waiting for their rows become due for a recompute.
    await raw.flushAll(write);
    await serial.run(() => performance.recompute(write));
    // Writes queued meanwhile by other callers (a tick) finish before the caller looks.
    await serial.settled();
  }

  const labels = createLabelIngest({
    store,
    models,
    metrics,
    writes,
    raw,
    performance,
    windows: { isOpen: (model, b) => windowOpen(model, b) },
    idempotency,
    decodeOpts,
    liveDecodeOpts,
  });

  const cluster: ClusterEngine | undefined =
    lanes === undefined
      ? undefined
      : {
          instanceId: opts.cluster!.instanceId,
          lanes,
          writeFinal(closed, dedupToken) {
            for (const c of closed) tokens.set(c, dedupToken(c));
            return finals!.write(closed);
          },
          setWindowOpen(isOpen) {
            windowOpen = isOpen;
          },
        };

  return {
    cluster,
    managers,
    ingestEvents: requests.ingestEvents,
    ingestLabels: labels.ingestLabels,
    ingestLabelEvents: labels.ingestLabelEvents,
    record: stream.record,
    declare: stream.declare,
    persist: stream.persist,
    settle,
    input: rawLog,
    idempotency,
    cut() {
      const snapshot = windows.snapshot();
      // Closed but not written yet: restored as closed, so a restart writes them.
      for (const c of [...results.queued, ...input.gatedWindows()]) {
        if (lanes !== undefined && c.lane !== lanes.httpLane) continue;
        snapshot[c.bounds.model]?.closed.push({
          state: c.state.snapshot(),
          reason: c.reason,
          closedAt: c.closedAt,
        });
      }
      if (lanes === undefined) return { position: rawLog.recorded, windows: snapshot };
      return {
        position: rawLog.recorded,
        windows: snapshot,
        progress: lanes.progress(lanes.httpLane),
      };
    },
    replayStored: requests.replayStored,
    rollback() {
      input.clearGate();
      windows.reset();
      windows.updateOpenGauge();
    },
    resumeInput(position) {
      rawLog.reset(position);
    },
    onRollback(fn) {
      input.onFailure(fn);
    },
    quiescent() {
      if (lanes === undefined) {
        if (input.gatedWindows().length > 0 || !rawLog.idle()) return false;
        if (results.queued.length > 0) return false;
      } else {
        // Cluster mode: asked by the Kafka lanes' cut (its lanes' windows and rows written).
        // The HTTP lane's own checkpointer cuts it apart, so HTTP requests in flight (and the
        // HTTP lane's windows they hold back) never postpone a Kafka lane's checkpoint.
        const http = lanes.httpLane;
        if (results.queued.some((c) => c.lane !== http)) return false;
      }
      if (serial.busy() || !raw.idle()) return false;
      return performance.idle();
    },
    refreshBaselines: () => baselines.refresh(),
    async reconfigure(next) {
      const rebuilding = () =>
        new StoreError('the windows are being rebuilt after a failed store write; retry', {
          retriable: true,
        });
      // A rebuild restores its checkpoint into the managers of the config it started with.
      if (!rawLog.healthy) throw rebuilding();
      // Before the swap, so an added model's events are evaluated from the first one.
      await baselines.refresh(new Map(next.models.map((m) => [m.id, m])));
      if (!rawLog.healthy) throw rebuilding();
      const previous = new Map(models);
      live.swap(next);
      for (const [id, m] of previous) if (!models.has(id)) removed.set(id, m);
      for (const id of models.keys()) removed.delete(id);
      for (const m of next.models) {
        if (!previous.has(m.id) && !baselines.has(m.id)) {
          log.warn(
            { model: m.id },
            'model added by a config reload has no baseline yet: its events are stored but not evaluated until one is imported',
          );
        }
      }
      const closed = windows.reconcile(previous);
      windows.updateOpenGauge();
      results.queue(gate(closed));
      await results.writeLogged(released());
    },
    baselinePerformance(model, version) {
      const m = models.get(model);
      return m === undefined ? undefined : baselines.baselineFor(m, version)?.performance;
    },
    baselineById: (id) => baselines.byId(id),
    async start() {
      await baselines.refresh();
      for (const m of live.current.models) {
        if (!baselines.has(m.id)) {
          log.warn(
            { model: m.id },
            'model has no baseline yet: its events are stored but not evaluated until one is imported',
          );
        }
      }
      try {
        await restoreGauges({ store, models: config.models, metrics, logger: log });
      } catch (err) {
        // Monitoring goes on; the gauges come back as windows close, the drift runs restart.
        log.error(
          { err },
          'could not restore the latest results on /metrics: consecutive-window counts start from 0',
        );
      }
      await retrain.restore();
      const { latestComparisons } = store;
      if (latestComparisons !== undefined) {
        try {
          await restoreComparisons({
            store: { latestComparisons: latestComparisons.bind(store) },
            models: config.models,
            metrics,
            logger: log,
          });
        } catch (err) {
          log.error({ err }, 'could not restore the comparison gauges: rollback runs start from 0');
        }
      }
    },
    async tick() {
      await baselines.refreshIfOlder(BASELINE_REFRESH_MS);
      const closed = windows.tick();
      windows.updateOpenGauge();
      await results.write(gate(closed).concat(released()));
      await performance.recompute();
    },
    async flush() {
      const closed = windows.flushAll();
      windows.updateOpenGauge();
      const now = gate(closed);
      await inputStored();
      const written = await results.write(now.concat(released()));
      await performance.recompute();
      return written;
    },
    openWindows: () => windows.openWindows(),
  };
}
