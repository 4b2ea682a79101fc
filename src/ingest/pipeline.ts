import { join } from 'node:path';
import type { IngestPort, IngestReport, ItemError } from '../api/ports.js';
import type { DriftdConfig, ModelConfig } from '../config/types.js';
import { StoreError } from '../errors.js';
import type { EventResult, Metrics } from '../export/metrics.js';
import type { Logger } from '../logger.js';
import type { EncodedEvents, EventBuffer, StoredEvent } from '../store/types.js';
import type {
  BaselineProfile,
  EventSource,
  LabelEvent,
  PerformanceResult,
  PredictionEvent,
  WindowBounds,
  WindowResult,
} from '../types.js';
import {
  type Clock,
  type ClosedWindow,
  evaluateWindow,
  type RecordResult,
  type WindowManager,
  type WindowManagerSnapshot,
  windowAt,
  windowKey,
} from '../window/index.js';
import { computePerformance, type LabeledPrediction } from '../window/performance.js';
import { createBaselineCache } from './baselines.js';
import { type DecodeOptions, decodeLabel, decodePrediction, itemValue } from './decode.js';
import { createIdempotency, type Idempotency } from './idempotency.js';
import { createInputLog, type InputLog } from './input-log.js';
import {
  createQuarantine,
  insertOrQuarantine,
  type Quarantine,
  type QuarantineKind,
} from './quarantine.js';
import { backoffDelay, isRetriable, sleep } from './retry.js';
import { createWindowRegistry } from './window-registry.js';

/** What the pipeline needs from the store (the full Store satisfies it). */
export interface PipelineStore {
  createEventBuffer(sizeHint?: number): EventBuffer;
  insertEncodedEvents(batches: readonly EncodedEvents[]): Promise<void>;
  insertLabels(rows: readonly LabelEvent[]): Promise<void>;
  insertWindowResults(rows: readonly WindowResult[]): Promise<void>;
  insertPerformance(rows: readonly PerformanceResult[]): Promise<void>;
  listBaselines(opts?: {
    model?: string;
  }): Promise<Array<{ id: string; model: string; version: string; createdAt: number }>>;
  getBaseline(id: string): Promise<BaselineProfile | null>;
  labeledPredictions(q: {
    model: string;
    version: string;
    from: number;
    to: number;
  }): Promise<Array<LabeledPrediction & { id: string }>>;
  /** Whether the model has any stored label (optional: without it, every recompute joins). */
  hasLabels?(model: string): Promise<boolean>;
  /** Model version and event time of stored predictions, for labels that arrive late. */
  predictionTimes(
    model: string,
    ids: readonly string[],
  ): Promise<Array<{ id: string; version: string; ts: number }>>;
  queryDrift(q: {
    model: string;
    window: string;
    from: number;
    to: number;
  }): Promise<WindowResult[]>;
}

export interface PipelineOptions {
  config: DriftdConfig;
  store: PipelineStore;
  metrics: Metrics;
  logger: Logger;
  clock: Clock;
  piiSalt: string;
  /** Called after a closed window's result is durable (the demo prints a live summary). */
  onWindow?: (result: WindowResult) => void;
  onPerformance?: (result: PerformanceResult) => void;
  /** Where results the store refuses for good go; default `<dataDir>/quarantine`. */
  quarantine?: Quarantine;
}

/**
 * How a call performs its store writes. The default calls the store once and lets a failure
 * propagate; the Kafka source passes a retry-until-done wrapper (heartbeating meanwhile).
 */
export interface WriteOptions {
  write?: <T>(operation: string, fn: () => Promise<T>) => Promise<T>;
}

/** A decoded prediction event and where it came from (Kafka: its coordinates). */
export interface SourcedEvent {
  event: PredictionEvent;
  source: EventSource;
}

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
}

export interface Pipeline extends IngestPort {
  ingestEvents(
    items: readonly unknown[],
    source: 'http' | 'replay',
    opts?: IngestOptions,
  ): Promise<IngestReport>;
  ingestLabels(items: readonly unknown[], opts?: IngestOptions): Promise<IngestReport>;
  /**
   * The HTTP/replay input log: positions handed out (`recorded`) and stored (`durable`);
   * `whenDurable` waits for a cut's position to be stored.
   */
  readonly input: Pick<InputLog<EncodedEvents>, 'recorded' | 'durable' | 'healthy' | 'whenDurable'>;
  /** Remembered `Idempotency-Key`s (the checkpointer loads the stored ones at startup). */
  readonly idempotency: Idempotency;
  /** Synchronous snapshot of every model's windows at the current input position. */
  cut(): InputCut;
  /**
   * Records stored HTTP events (ascending positions, all durable) into the windows, as their
   * requests did, without storing them again: the replay after a restart or a failed write.
   */
  replayStored(events: readonly StoredEvent[]): void;
  /**
   * Fresh, empty window managers (and closed windows not yet released dropped): the start of
   * a rebuild. Requests are refused until `resumeInput`.
   */
  resetWindows(): void;
  /** Back in service after a rebuild: every position up to `position` is stored. */
  resumeInput(position: number): void;
  /**
   * Who rebuilds the windows when a raw write failed (the checkpointer). Without one the
   * windows keep the events of the failed requests (no rollback) and input resumes at once.
   */
  onInputFailure(recover: (err: unknown) => void): void;

  /**
   * Kafka path, synchronous: records decoded events into the windows, counts them, and
   * buffers their raw rows. Windows they close are queued for `persist`. Nothing is lost when a
   * later write fails: rows and closed windows stay queued until a write succeeds.
   */
  recordSourced(events: readonly SourcedEvent[]): void;
  /**
   * Starts writing what `recordSourced` queued — closed windows' results once the oldest has
   * waited `resultDelayMs` (default 1 s, so windows closing together share one INSERT), raw
   * rows once `bufferRows` are buffered — without waiting for it, so the caller decodes the
   * next batches meanwhile. At most one such write is outstanding; the caller waits only when
   * twice `bufferRows` are buffered. `settle` waits for all of them.
   */
  persist(opts?: WriteOptions & { bufferRows?: number; resultDelayMs?: number }): Promise<void>;
  /**
   * Writes everything queued (rows, closed windows, pending performance recomputes). After it
   * resolves with `quiescent()` true, every window closed so far is durable: snapshots taken
   * now are a consistent cut.
   */
  settle(opts?: WriteOptions): Promise<void>;
  /** Nothing queued and no write in flight. */
  quiescent(): boolean;
  /** Stores decoded labels and marks the closed windows they belong to for recompute. */
  ingestLabelEvents(labels: readonly LabelEvent[], opts?: WriteOptions): Promise<void>;
  /** Loads baselines; call before ingesting. */
  start(): Promise<void>;
  /** Periodic work: idle window close, baseline refresh, performance recompute for new labels. */
  tick(): Promise<void>;
  /** Closes every open window and writes the results (shutdown, end of a replay). */
  flush(): Promise<WindowResult[]>;
  /** Reloads baselines from the store (after an import). */
  refreshBaselines(): Promise<void>;
  openWindows(): number;
  readonly managers: ReadonlyMap<string, WindowManager>;
}

const MAX_ITEM_ERRORS = 1000;
/** Tries of one HTTP/replay batch's raw insert (≈ 15 s of capped backoff) before the request fails. */
const HTTP_INSERT_ATTEMPTS = 6;
const DEFAULT_BUFFER_ROWS = 20_000;
/** Background writes (and so raw inserts) `persist` keeps going at once. */
const MAX_BACKGROUND_WRITES = 2;
const DEFAULT_RESULT_DELAY_MS = 1_000;
const direct = <T>(_operation: string, fn: () => Promise<T>): Promise<T> => fn();
const HTTP_SOURCE = Object.freeze({ kind: 'http' as const });
const REPLAY_SOURCE = Object.freeze({ kind: 'replay' as const });
const BASELINE_REFRESH_MS = 30_000;

/** The `driftd_events_total` result of a recorded event. */
function resultOf(status: RecordResult['status']): EventResult {
  if (status === 'no-baseline') return 'no_baseline';
  if (status === 'version-limit') return 'version_limit';
  return status;
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
  const models = new Map<string, ModelConfig>(config.models.map((m) => [m.id, m]));
  /** Replay: any storable time. HTTP, a live source: not too far ahead of the clock. */
  const decodeOpts: DecodeOptions = { models, piiSalt: opts.piiSalt };
  const liveDecodeOpts: DecodeOptions = {
    ...decodeOpts,
    live: { now: () => clock.now(), maxFutureSkewMs: config.ingest.maxFutureSkewMs },
  };

  const baselines = createBaselineCache({ store, models, clock, logger: log });
  const windows = createWindowRegistry({ config, clock, metrics, baselines });
  const managers = windows.managers;

  // Closed windows' event counts, for label coverage when labels arrive after the close.
  const closedCounts = new Map<string, { bounds: WindowBounds; eventCount: number }>();
  const dirtyWindows = new Map<string, WindowBounds>();

  // Closed windows drained from the managers whose results are not durable yet, and raw rows
  // of the Kafka path not yet inserted. A failed write leaves them here for the next attempt,
  // so nothing drained is ever lost. Writes run one at a time (`serial`).
  const unwritten: ClosedWindow[] = [];
  /** When the oldest entry of `unwritten` was queued by `recordSourced`. */
  let unwrittenSince = 0;
  // Raw rows are encoded as they are recorded: bytes wait for the insert, not event objects
  // (cheaper to keep, and the encoding is off the insert's critical path). `rawBatches` were
  // taken from the buffer for a write that failed, and go first next time.
  const rawBuffer = store.createEventBuffer(DEFAULT_BUFFER_ROWS * 1024);
  let rawBatches: EncodedEvents[] = [];
  const bufferedRowCount = () => {
    let n = rawBuffer.rows;
    for (const b of rawBatches) n += b.rows;
    return n;
  };
  /** Closed windows whose performance waits for the buffered raw rows to be stored. */
  let awaitingRows: WindowBounds[] = [];
  let writeChain: Promise<unknown> = Promise.resolve();
  let writing = 0;
  function serial<T>(fn: () => Promise<T>): Promise<T> {
    writing++;
    const run = writeChain.then(fn, fn).finally(() => {
      writing--;
    });
    writeChain = run.catch(() => undefined);
    return run;
  }

  /** One store call, timed, its failures counted. */
  async function timed<T>(table: string, operation: string, fn: () => Promise<T>): Promise<T> {
    const t = metrics.storeWriteSeconds.startTimer({ table });
    try {
      return await fn();
    } catch (err) {
      metrics.storeErrors.inc({ operation });
      throw err;
    } finally {
      t();
    }
  }

  function timedWrite<T>(
    table: string,
    operation: string,
    write: NonNullable<WriteOptions['write']>,
    fn: () => Promise<T>,
  ): Promise<T> {
    return write(operation, () => timed(table, operation, fn));
  }

  /**
   * Inserts results (window or performance), derived rows that nothing else can rebuild once
   * their window is gone: a retriable failure goes to `write` (the Kafka path retries it; the
   * other paths keep the rows queued for the next write), as before. Rows the store refuses
   * for good (not retriable) are quarantined one by one (quarantine.ts) instead of staying
   * queued, so one refused result never holds back the others, of its model or any other.
   * @returns the rows written
   */
  function insertResults<T>(
    table: string,
    operation: string,
    kind: QuarantineKind,
    rows: readonly T[],
    insert: (batch: readonly T[]) => Promise<void>,
    write: NonNullable<WriteOptions['write']>,
  ): Promise<readonly T[]> {
    return write(operation, () =>
      insertOrQuarantine(
        rows,
        (batch) => timed(table, operation, () => insert(batch)),
        quarantine,
        kind,
      ),
    );
  }

  /**
   * Raw-row inserts run beside the serial chain (persist keeps up to MAX_BACKGROUND_WRITES of
   * them going; settle and label ingestion add theirs): their order does not matter (a row's
   * identity is in its columns), and a second insert uses the CPU the first leaves idle.
   * Windows waiting for their rows (`awaitingRows`) become due for a performance recompute
   * only once no raw insert is in flight, so none of their rows is still on its way.
   */
  const rawInFlight = new Set<Promise<void>>();
  let rowsLanded: WindowBounds[] = [];

  /** Starts inserting the buffered raw rows; resolves when that insert is durable. */
  function flushRows(write: NonNullable<WriteOptions['write']>): Promise<void> {
    if (rawBuffer.rows > 0) rawBatches.push(rawBuffer.take());
    if (rawBatches.length === 0) return Promise.resolve();
    // Take first: rows recorded while the insert runs go to the buffer, not into this write.
    const batches = rawBatches;
    const waiting = awaitingRows;
    rawBatches = [];
    awaitingRows = [];
    writing++;
    const run = (async () => {
      try {
        await timedWrite('events', 'insert_events', write, () =>
          store.insertEncodedEvents(batches),
        );
      } catch (err) {
        rawBatches = batches.concat(rawBatches);
        // Windows waiting on inserts in flight may have had rows in this one: they wait for
        // the next insert that lands instead.
        awaitingRows = waiting.concat(rowsLanded, awaitingRows);
        rowsLanded = [];
        throw err;
      }
      for (const b of waiting) rowsLanded.push(b);
    })();
    const done: Promise<void> = run
      .then(
        () => undefined,
        () => undefined,
      )
      .then(() => {
        rawInFlight.delete(done);
        writing--;
        if (rawInFlight.size === 0) {
          for (const b of rowsLanded) dirtyWindows.set(windowKey(b), b);
          rowsLanded = [];
        }
      });
    rawInFlight.add(done);
    return run;
  }

  /** Inserts every buffered raw row and waits for every raw insert in flight. */
  async function flushAllRows(write: NonNullable<WriteOptions['write']>): Promise<void> {
    const mine = flushRows(write);
    await Promise.all([...rawInFlight]);
    await mine;
    // A concurrent insert that failed put its rows back: they go now, or this call fails.
    if (rawBatches.length > 0) {
      await flushRows(write);
      await Promise.all([...rawInFlight]);
    }
  }

  function writeClosed(
    closed: readonly ClosedWindow[],
    write: NonNullable<WriteOptions['write']> = direct,
  ): Promise<WindowResult[]> {
    for (const c of closed) unwritten.push(c);
    if (unwritten.length === 0) return Promise.resolve([]);
    return serial(async () => {
      if (unwritten.length === 0) return [];
      const batch = unwritten.slice();
      const results: WindowResult[] = [];
      for (const c of batch) {
        const model = models.get(c.bounds.model)!;
        results.push(evaluateWindow(c, c.baseline, model));
      }
      const written = await insertResults(
        'window_results',
        'insert_window_results',
        'window_result',
        results,
        (rows) => store.insertWindowResults(rows),
        write,
      );
      unwritten.splice(0, batch.length);
      for (const r of written) {
        metrics.recordWindow(r);
        closedCounts.set(windowKey(r), { bounds: r, eventCount: r.eventCount });
        // Its performance reads its raw rows: recompute once the buffered ones and those on
        // their way (an insert running beside this write) are stored.
        if (bufferedRowCount() > 0) awaitingRows.push(r);
        else if (rawInFlight.size > 0) rowsLanded.push(r);
        else dirtyWindows.set(windowKey(r), r);
        log.info(
          {
            model: r.model,
            version: r.version,
            window: r.sizeLabel,
            start: new Date(r.start).toISOString(),
            events: r.eventCount,
            driftShare: r.driftShare,
            provisional: r.provisional,
          },
          r.provisional
            ? 'window result (provisional: stream quiet, window open)'
            : 'window closed',
        );
        opts.onWindow?.(r);
      }
      trimClosedCounts();
      await recomputePerformance(write);
      return written.slice();
    });
  }

  function trimClosedCounts(): void {
    // Bounded memory: keep the most recent closed windows per process; older ones fall back to the store.
    const cap = 10_000;
    if (closedCounts.size <= cap) return;
    const excess = closedCounts.size - cap;
    let i = 0;
    for (const k of closedCounts.keys()) {
      if (i++ >= excess) break;
      closedCounts.delete(k);
    }
  }

  async function eventCountOf(b: WindowBounds): Promise<number | undefined> {
    const known = closedCounts.get(windowKey(b));
    if (known) return known.eventCount;
    const [r] = await store.queryDrift({
      model: b.model,
      window: b.sizeLabel,
      from: b.start,
      to: b.start + 1,
    });
    return r?.version === b.version ? r.eventCount : undefined;
  }

  // Models known to have labels (stays true); a "no" is asked again after a while, since
  // another instance (or the HTTP API) may store the first labels.
  const labelsSeen = new Set<string>();
  const noLabelsUntil = new Map<string, number>();
  async function labelsExist(model: string): Promise<boolean> {
    if (labelsSeen.has(model)) return true;
    if ((noLabelsUntil.get(model) ?? 0) > clock.now()) return false;
    if (store.hasLabels === undefined || (await store.hasLabels(model))) {
      labelsSeen.add(model);
      return true;
    }
    noLabelsUntil.set(model, clock.now() + 10_000);
    return false;
  }

  let recomputing: Promise<void> | null = null;
  async function recomputePerformance(
    write: NonNullable<WriteOptions['write']> = direct,
  ): Promise<void> {
    // Never overlapping: a call during a run waits for it, then runs again for what it left.
    while (recomputing) await recomputing;
    if (dirtyWindows.size === 0) return;
    const batch = [...dirtyWindows.values()];
    dirtyWindows.clear();
    recomputing = (async () => {
      const out: PerformanceResult[] = [];
      for (const b of batch) {
        const model = models.get(b.model);
        if (!model) continue;
        // A model without any label has no performance: skip the join.
        if (!(await write('has_labels', () => labelsExist(b.model)))) continue;
        const eventCount = await write('query_drift', () => eventCountOf(b));
        if (eventCount === undefined) continue;
        const pairs = await write('labeled_predictions', () =>
          store.labeledPredictions({
            model: b.model,
            version: b.version,
            from: b.start,
            to: b.end,
          }),
        );
        if (pairs.length === 0) continue;
        out.push({
          model: b.model,
          version: b.version,
          size: b.size,
          sizeLabel: b.sizeLabel,
          start: b.start,
          end: b.end,
          labeled: pairs.length,
          coverage: eventCount > 0 ? Math.min(1, pairs.length / eventCount) : 0,
          metrics: computePerformance(model, pairs),
          computedAt: clock.now(),
        });
      }
      if (out.length > 0) {
        const written = await insertResults(
          'performance',
          'insert_performance',
          'performance',
          out,
          (rows) => store.insertPerformance(rows),
          write,
        );
        // Gauges show the newest window per series, whatever order the recompute ran in.
        for (const p of [...written].sort((a, b) => a.start - b.start)) {
          metrics.recordPerformance(p);
          opts.onPerformance?.(p);
        }
      }
    })();
    try {
      await recomputing;
    } catch (err) {
      // Derived data: keep the windows marked so the next run recomputes them.
      for (const b of batch) if (!dirtyWindows.has(windowKey(b))) dirtyWindows.set(windowKey(b), b);
      throw err;
    } finally {
      recomputing = null;
    }
  }

  function countEvent(model: string, result: EventResult, n = 1): void {
    metrics.eventsTotal.inc({ model: models.has(model) ? model : 'unknown', result }, n);
  }

  /*
   * HTTP and replay: exactly once into the windows.
   *
   * A request's events are decoded, given the next input positions and recorded into the
   * windows in one synchronous step, so their statuses (late or not: the raw row carries it)
   * are decided in arrival order against every event accepted before them. Their raw rows then
   * go through the input log (input-log.ts): INSERTs in position order, concurrent requests'
   * rows coalesced, retried on transient errors, and the request is answered only once its
   * rows are stored. What the windows hold becomes visible only through what is written, and
   * that is gated on durability:
   * - a window that closes (by watermark, idle tick or flush) waits in `gated` with the input
   *   position at its close, and is evaluated and written only once every position up to it
   *   is stored: no result ever holds an event that is not durable;
   * - a checkpoint is a synchronous cut (windows + position, `cut`) saved only once its
   *   position is stored (checkpointer.ts);
   * - when a write fails for good, its requests and those queued behind it fail (they were
   *   decided on a state holding the failed events), the log stops taking requests, and the
   *   checkpointer rebuilds the windows from the last checkpoint plus the stored events after
   *   it, in position order — exactly what a restart after a crash does. So a failed request
   *   is counted zero times, and nothing depends on how concurrent inserts complete: the
   *   windows are always the stored events replayed in position order.
   * The sketches are updated before the insert lands (a rebuild undoes that when it fails)
   * rather than after it, because statuses must be decided in arrival order anyway and a
   * deferred update would need the window manager to split decision from addition; the
   * gating above makes the two indistinguishable from outside.
   */
  const rawLog = createInputLog<EncodedEvents>(
    async (batches) => {
      const t = metrics.storeWriteSeconds.startTimer({ table: 'events' });
      try {
        for (let attempt = 1; ; attempt++) {
          try {
            await store.insertEncodedEvents(batches);
            return;
          } catch (err) {
            metrics.storeErrors.inc({ operation: 'insert_events' });
            if (!isRetriable(err) || attempt >= HTTP_INSERT_ATTEMPTS) throw err;
            const wait = backoffDelay(attempt, { initialMs: 200, maxMs: 5_000 });
            log.warn(
              { err, attempt, waitMs: Math.round(wait) },
              'raw event insert failed; retrying',
            );
            await sleep(wait);
          }
        }
      } finally {
        t();
      }
    },
    { rows: (b) => b.rows },
  );
  let recover: ((err: unknown) => void) | undefined;
  rawLog.onFailure((err) => {
    // The closed windows not yet released may hold events of the failed writes.
    gated = [];
    if (recover) {
      log.error({ err }, 'raw event write failed: requests refused until the windows are rebuilt');
      recover(err);
    } else {
      log.error({ err }, 'raw event write failed; its requests fail (no rebuild configured)');
      rawLog.reset(rawLog.recorded);
    }
  });

  /** Closed windows waiting until every input position up to `at` is stored (see above). */
  let gated: Array<{ closed: ClosedWindow; at: number }> = [];
  /** Gates `closed` at the current input position; returns what may be written now. */
  function gate(closed: readonly ClosedWindow[]): ClosedWindow[] {
    if (gated.length === 0 && rawLog.recorded <= rawLog.durable) return closed.slice();
    const at = rawLog.recorded;
    for (const c of closed) gated.push({ closed: c, at });
    return released();
  }
  /** The gated windows whose positions are all stored, in close order. */
  function released(): ClosedWindow[] {
    const out: ClosedWindow[] = [];
    const durable = rawLog.durable;
    while (gated.length > 0 && gated[0]!.at <= durable) out.push(gated.shift()!.closed);
    return out;
  }
  /** Waits until every input position handed out so far is stored (nothing if it fails). */
  async function inputStored(): Promise<void> {
    if (rawLog.healthy) await rawLog.whenDurable(rawLog.recorded).catch(() => undefined);
  }

  const idempotency = createIdempotency({ now: () => clock.now() });

  function unavailable(): StoreError {
    return new StoreError('the windows are being rebuilt after a failed store write; retry', {
      retriable: true,
    });
  }

  async function ingestEvents(
    items: readonly unknown[],
    source: 'http' | 'replay',
    opts: IngestOptions = {},
  ): Promise<IngestReport> {
    const key = opts.idempotencyKey;
    if (key === undefined) return ingestBatch(items, source, '');
    return idempotency.run(
      key,
      () => ingestBatch(items, source, key),
      () => decodeReport(items),
    );
  }

  /** The answer to a batch, from its items alone (a retried request: nothing is counted). */
  function decodeReport(items: readonly unknown[]): IngestReport {
    const errors: ItemError[] = [];
    let rejected = 0;
    for (let i = 0; i < items.length; i++) {
      const d = decodePrediction(items[i], decodeOpts);
      if (d.ok) continue;
      rejected++;
      if (errors.length < MAX_ITEM_ERRORS)
        errors.push({ index: i, reason: d.reason, message: d.message });
    }
    return { accepted: items.length - rejected, rejected, errors };
  }

  async function ingestBatch(
    items: readonly unknown[],
    source: 'http' | 'replay',
    requestKey: string,
  ): Promise<IngestReport> {
    if (!rawLog.healthy) throw unavailable();
    const errors: ItemError[] = [];
    let rejected = 0;
    // Encoded as recorded; this request's batch is inserted with those of concurrent requests.
    const encoded = store.createEventBuffer(items.length * 1024);
    const ingestedAt = clock.now();
    const counts = new Map<string, Record<EventResult, number>>();
    const bump = (model: string, r: EventResult) => {
      let c = counts.get(model);
      if (!c) {
        c = { accepted: 0, late: 0, invalid: 0, no_baseline: 0, version_limit: 0, duplicate: 0 };
        counts.set(model, c);
      }
      c[r]++;
    };
    let noBaseline = false;
    const sourceRef: StoredEvent['source'] = source === 'http' ? HTTP_SOURCE : REPLAY_SOURCE;
    const meta = { source: sourceRef };
    const newest = new Map<string, number>();
    const itemOpts = source === 'http' ? liveDecodeOpts : decodeOpts;
    // From here to the submit: synchronous, so positions follow arrival order.
    let last = 0;
    try {
      for (let i = 0; i < items.length; i++) {
        const d = decodePrediction(items[i], itemOpts);
        if (!d.ok) {
          rejected++;
          const raw = itemValue(items[i]) as { model?: unknown } | null;
          bump(typeof raw?.model === 'string' ? raw.model : 'unknown', 'invalid');
          if (errors.length < MAX_ITEM_ERRORS)
            errors.push({ index: i, reason: d.reason, message: d.message });
          continue;
        }
        const event = d.value;
        const status = windows.get(event.model)!.record(event, meta).status;
        if (status === 'no-baseline') noBaseline = true;
        bump(event.model, resultOf(status));
        const row = event as StoredEvent;
        row.late = status === 'late';
        row.source = sourceRef;
        row.ingestedAt = ingestedAt;
        last = rawLog.next();
        // Only HTTP rows keep their position: a replay is rerun from its file, not resumed.
        if (source === 'http') {
          row.position = last;
          if (requestKey !== '') row.requestKey = requestKey;
        }
        encoded.add(row);
        if (!row.late && event.ts > (newest.get(event.model) ?? -1))
          newest.set(event.model, event.ts);
      }
    } catch (err) {
      // An event the windows counted and the store refuses: the windows are rebuilt without it.
      if (last > 0) rawLog.abort(err);
      throw err;
    }
    const closed = gate(windows.drain());
    // Raw events are durable before the caller is answered, and before any window holding
    // them is written (see above).
    const accepted = encoded.rows;
    const stored = accepted > 0 ? rawLog.submit(encoded.take(), last) : Promise.resolve();
    windows.updateOpenGauge();
    const written = writeResults(closed);
    await stored;
    await written;
    for (const [model, c] of counts) {
      for (const [r, n] of Object.entries(c)) if (n > 0) countEvent(model, r as EventResult, n);
    }
    for (const [model, ts] of newest) metrics.lastEventTimestamp.set({ model }, ts / 1000);
    if (noBaseline) baselines.refreshSoon();
    await writeResults(released());
    return { accepted, rejected, errors };
  }

  /**
   * Writes closed windows for a request that stored its rows: a failed result write does not
   * fail the request (its events are stored and counted; an error would make the client send
   * them again). The windows stay queued and the next write or tick retries them.
   */
  async function writeResults(closed: readonly ClosedWindow[]): Promise<void> {
    if (closed.length === 0 && unwritten.length === 0) return;
    try {
      await writeClosed(closed);
    } catch (err) {
      log.warn({ err }, 'window result write failed; it is retried by the next write');
    }
  }

  function replayStored(events: readonly StoredEvent[]): void {
    for (const e of events) {
      const manager = windows.get(e.model);
      if (manager === undefined) continue; // a model no longer configured
      manager.record(e, { source: e.source });
    }
    for (const c of windows.drain()) unwritten.push(c);
  }

  function recordSourced(events: readonly SourcedEvent[]): void {
    if (events.length === 0) return;
    const ingestedAt = clock.now();
    let model = '';
    let manager: WindowManager | undefined;
    let counts = { accepted: 0, late: 0, no_baseline: 0, version_limit: 0 };
    const perModel = new Map<string, typeof counts>();
    let newest = Number.NEGATIVE_INFINITY;
    let noBaseline = false;
    const flushCounts = () => {
      if (model !== '' && newest > Number.NEGATIVE_INFINITY) {
        metrics.lastEventTimestamp.set({ model }, newest / 1000);
      }
    };
    for (let i = 0; i < events.length; i++) {
      const { event, source } = events[i]!;
      if (event.model !== model) {
        flushCounts();
        model = event.model;
        manager = windows.get(model)!;
        counts = perModel.get(model) ?? { accepted: 0, late: 0, no_baseline: 0, version_limit: 0 };
        perModel.set(model, counts);
        newest = Number.NEGATIVE_INFINITY;
      }
      const status = manager!.record(event, { source }).status;
      const row = event as StoredEvent;
      row.source = source;
      row.ingestedAt = ingestedAt;
      if (status === 'accepted') {
        counts.accepted++;
        row.late = false;
        if (event.ts > newest) newest = event.ts;
      } else if (status === 'late') {
        counts.late++;
        row.late = true;
      } else if (status === 'version-limit') {
        counts.version_limit++;
        row.late = false;
      } else {
        counts.no_baseline++;
        noBaseline = true;
        row.late = false;
      }
      rawBuffer.add(row);
    }
    flushCounts();
    for (const [m, c] of perModel) {
      if (c.accepted > 0) countEvent(m, 'accepted', c.accepted);
      if (c.late > 0) countEvent(m, 'late', c.late);
      if (c.no_baseline > 0) countEvent(m, 'no_baseline', c.no_baseline);
      if (c.version_limit > 0) countEvent(m, 'version_limit', c.version_limit);
    }
    if (noBaseline) baselines.refreshSoon();
    const before = unwritten.length;
    for (const c of gate(windows.drain())) unwritten.push(c);
    if (before === 0 && unwritten.length > 0) unwrittenSince = clock.now();
  }

  // Writes `persist` started and did not wait for: the caller goes on decoding and recording
  // the next batches while the store works, and what they queue meanwhile goes out together in
  // the next write. Up to MAX_BACKGROUND_WRITES are outstanding (their raw inserts run side by
  // side); the caller waits only when twice `bufferRows` are buffered (backpressure).
  const backgrounds = new Set<Promise<void>>();
  async function persist(
    options: WriteOptions & { bufferRows?: number; resultDelayMs?: number } = {},
  ): Promise<void> {
    const write = options.write ?? direct;
    const cap = options.bufferRows ?? DEFAULT_BUFFER_ROWS;
    // Closed windows wait up to resultDelayMs to share one INSERT with the windows closing
    // after them (every INSERT has a fixed cost in the engine); raw rows wait for `cap`.
    const resultsDue =
      unwritten.length > 0 &&
      clock.now() - unwrittenSince >= (options.resultDelayMs ?? DEFAULT_RESULT_DELAY_MS);
    const buffered = bufferedRowCount();
    if (!resultsDue && buffered < cap) return;
    if (backgrounds.size >= MAX_BACKGROUND_WRITES) {
      if (buffered < 2 * cap) return;
      await Promise.race(backgrounds);
      // Another caller may have started the next write meanwhile.
      if (backgrounds.size >= MAX_BACKGROUND_WRITES) return;
    }
    const closing = unwritten.length > 0 && (resultsDue || bufferedRowCount() >= cap);
    if (closing) windows.updateOpenGauge();
    // The raw insert starts first and runs beside the results: a results insert waits for its
    // turn in the serial chain, and the rows must not wait with it (the buffer fills meanwhile).
    const run: Promise<void> = Promise.all([
      bufferedRowCount() >= cap ? flushRows(write) : undefined,
      closing ? writeClosed([], write) : undefined,
    ]).then(
      () => undefined,
      (err) => {
        // Rows and windows stay queued: the next persist or settle writes them.
        log.warn({ err }, 'background write failed; it is retried by the next write');
      },
    );
    const mine = run.finally(() => {
      backgrounds.delete(mine);
    });
    backgrounds.add(mine);
  }

  async function settle(options: WriteOptions = {}): Promise<void> {
    const write = options.write ?? direct;
    for (const c of gate(windows.drain())) unwritten.push(c);
    // HTTP rows still on their way hold back the windows they closed.
    await inputStored();
    for (const c of released()) unwritten.push(c);
    if (unwritten.length > 0) await writeClosed([], write);
    // Rows after results: the windows waiting for their rows become due for a recompute.
    await flushAllRows(write);
    await serial(() => recomputePerformance(write));
    // Writes queued meanwhile by other callers (a tick) finish before the caller looks.
    await writeChain;
  }

  /** Labels are idempotent in the store (latest per id); a keyed retry is still answered once. */
  async function ingestLabels(
    items: readonly unknown[],
    opts: IngestOptions = {},
  ): Promise<IngestReport> {
    const key = opts.idempotencyKey;
    if (key === undefined) return ingestLabelBatch(items);
    return idempotency.run(
      `labels\u0000${key}`,
      () => ingestLabelBatch(items),
      () => labelReport(items),
    );
  }

  function labelReport(items: readonly unknown[]): IngestReport {
    const errors: ItemError[] = [];
    let rejected = 0;
    for (let i = 0; i < items.length; i++) {
      const d = decodeLabel(items[i], decodeOpts);
      if (d.ok) continue;
      rejected++;
      if (errors.length < MAX_ITEM_ERRORS)
        errors.push({ index: i, reason: d.reason, message: d.message });
    }
    return { accepted: items.length - rejected, rejected, errors };
  }

  async function ingestLabelBatch(items: readonly unknown[]): Promise<IngestReport> {
    const errors: ItemError[] = [];
    const labels: LabelEvent[] = [];
    for (let i = 0; i < items.length; i++) {
      // Labels without a time are stamped with the pipeline's clock (no skew rule for labels).
      const d = decodeLabel(items[i], liveDecodeOpts);
      if (!d.ok) {
        const raw = itemValue(items[i]) as { model?: unknown } | null;
        const model =
          typeof raw?.model === 'string' && models.has(raw.model) ? raw.model : 'unknown';
        metrics.labelsTotal.inc({ model, result: 'invalid' });
        if (errors.length < MAX_ITEM_ERRORS)
          errors.push({ index: i, reason: d.reason, message: d.message });
        continue;
      }
      labels.push(d.value);
    }
    await ingestLabelEvents(labels);
    return { accepted: labels.length, rejected: items.length - labels.length, errors };
  }

  async function ingestLabelEvents(
    labels: readonly LabelEvent[],
    options: WriteOptions = {},
  ): Promise<void> {
    const write = options.write ?? direct;
    if (labels.length > 0) {
      await timedWrite('labels', 'insert_labels', write, () => store.insertLabels(labels));
      for (const l of labels) labelsSeen.add(l.model);
      const byModel = new Map<string, string[]>();
      for (const l of labels) {
        metrics.labelsTotal.inc({ model: l.model, result: 'accepted' });
        const ids = byModel.get(l.model) ?? [];
        ids.push(l.id);
        byModel.set(l.model, ids);
      }
      // Buffered raw rows first, so a label can find its prediction.
      await flushAllRows(write);
      // Mark the closed windows these predictions fell in; the next tick recomputes them.
      for (const [modelId, ids] of byModel) {
        const model = models.get(modelId)!;
        const times = await write('prediction_times', () => store.predictionTimes(modelId, ids));
        for (const t of times) {
          for (const size of model.windows.sizes) {
            const b = windowAt(modelId, t.version, size, t.ts);
            const key = windowKey(b);
            // Still-open windows get their performance when they close.
            if (closedCounts.has(key) || !windows.isOpen(modelId, b)) dirtyWindows.set(key, b);
          }
        }
      }
    }
  }

  return {
    managers,
    ingestEvents,
    ingestLabels,
    ingestLabelEvents,
    recordSourced,
    persist,
    settle,
    input: rawLog,
    idempotency,
    cut() {
      const snapshot = windows.snapshot();
      // Closed but not written yet: restored as closed, so a restart writes them.
      for (const c of [...unwritten, ...gated.map((g) => g.closed)]) {
        snapshot[c.bounds.model]?.closed.push({
          state: c.state.snapshot(),
          reason: c.reason,
          closedAt: c.closedAt,
        });
      }
      return { position: rawLog.recorded, windows: snapshot };
    },
    replayStored,
    resetWindows() {
      gated = [];
      windows.reset();
      windows.updateOpenGauge();
    },
    resumeInput(position) {
      rawLog.reset(position);
    },
    onInputFailure(fn) {
      recover = fn;
    },
    quiescent() {
      if (gated.length > 0 || !rawLog.idle()) return false;
      if (unwritten.length > 0 || bufferedRowCount() > 0 || writing > 0) return false;
      if (awaitingRows.length > 0) return false;
      if (dirtyWindows.size > 0 || recomputing !== null) return false;
      return true;
    },
    refreshBaselines: () => baselines.refresh(),
    async start() {
      await baselines.refresh();
      for (const m of config.models) {
        if (!baselines.has(m.id)) {
          log.warn(
            { model: m.id },
            'model has no baseline yet: its events are stored but not evaluated until one is imported',
          );
        }
      }
    },
    async tick() {
      await baselines.refreshIfOlder(BASELINE_REFRESH_MS);
      const closed = windows.tick();
      windows.updateOpenGauge();
      await writeClosed(gate(closed).concat(released()));
      await recomputePerformance();
    },
    async flush() {
      const closed = windows.flushAll();
      windows.updateOpenGauge();
      const now = gate(closed);
      await inputStored();
      const results = await writeClosed(now.concat(released()));
      await recomputePerformance();
      return results;
    },
    openWindows: () => windows.openWindows(),
  };
}
