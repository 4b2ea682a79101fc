import type { IngestPort, IngestReport, ItemError } from '../api/ports.js';
import type { DriftdConfig, ModelConfig } from '../config/types.js';
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
  createWindowManager,
  evaluateWindow,
  nullWarmups,
  type RecordResult,
  type WindowManager,
} from '../window/index.js';
import { computePerformance, type LabeledPrediction } from '../window/performance.js';
import { type DecodeOptions, decodeLabel, decodePrediction, itemValue } from './decode.js';
import { createGroupCommit } from './group-commit.js';
import { backoffDelay, isRetriable, sleep } from './retry.js';

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

export interface Pipeline extends IngestPort {
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
  const models = new Map<string, ModelConfig>(config.models.map((m) => [m.id, m]));
  /** Replay: any storable time. HTTP, a live source: not too far ahead of the clock. */
  const decodeOpts: DecodeOptions = { models, piiSalt: opts.piiSalt };
  const liveDecodeOpts: DecodeOptions = {
    ...decodeOpts,
    live: { now: () => clock.now(), maxFutureSkewMs: config.ingest.maxFutureSkewMs },
  };

  // model → version → baseline; `latest` serves versions that have no baseline of their own.
  const baselines = new Map<
    string,
    { byVersion: Map<string, BaselineProfile>; latest: BaselineProfile | undefined }
  >();
  const baselinesById = new Map<string, BaselineProfile>();
  let lastRefresh = 0;

  const managers = new Map<string, WindowManager>();
  for (const model of config.models) {
    managers.set(
      model.id,
      createWindowManager({
        model,
        clock,
        baselineFor: (version) => {
          const b = baselines.get(model.id);
          const own = b?.byVersion.get(version);
          if (own !== undefined || model.versions.baselineFallback === 'none') return own;
          return b?.latest;
        },
        onRetire: (version) => metrics.forgetVersion(model.id, version),
      }),
    );
  }

  // Closed windows' event counts, for label coverage when labels arrive after the close.
  const closedCounts = new Map<string, { bounds: WindowBounds; eventCount: number }>();
  const dirtyWindows = new Map<string, WindowBounds>();
  const windowKey = (b: Pick<WindowBounds, 'model' | 'version' | 'sizeLabel' | 'start'>) =>
    `${b.model}\u0000${b.version}\u0000${b.sizeLabel}\u0000${b.start}`;

  async function refreshBaselines(): Promise<void> {
    lastRefresh = clock.now();
    const list = await store.listBaselines();
    for (const summary of list) {
      if (!models.has(summary.model) || baselinesById.has(summary.id)) continue;
      const profile = await store.getBaseline(summary.id);
      if (!profile) continue;
      baselinesById.set(profile.id, profile);
      // Simulate the calibrated verdicts' null distributions now, a feature at a time between
      // turns of the event loop, rather than in the first window close.
      for (const task of nullWarmups(profile, models.get(profile.model)!)) {
        task();
        await new Promise<void>((done) => setImmediate(done));
      }
    }
    baselines.clear();
    const sorted = [...baselinesById.values()].sort((a, b) => a.createdAt - b.createdAt);
    for (const p of sorted) {
      let entry = baselines.get(p.model);
      if (!entry) {
        entry = { byVersion: new Map(), latest: undefined };
        baselines.set(p.model, entry);
      }
      entry.byVersion.set(p.version, p); // newest import of a version wins
      entry.latest = p;
    }
  }

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

  async function timedWrite<T>(
    table: string,
    operation: string,
    write: NonNullable<WriteOptions['write']>,
    fn: () => Promise<T>,
  ): Promise<T> {
    return write(operation, async () => {
      const t = metrics.storeWriteSeconds.startTimer({ table });
      try {
        return await fn();
      } catch (err) {
        metrics.storeErrors.inc({ operation });
        throw err;
      } finally {
        t();
      }
    });
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
      await timedWrite('window_results', 'insert_window_results', write, () =>
        store.insertWindowResults(results),
      );
      unwritten.splice(0, batch.length);
      for (const r of results) {
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
      return results;
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
        await timedWrite('performance', 'insert_performance', write, () =>
          store.insertPerformance(out),
        );
        // Gauges show the newest window per series, whatever order the recompute ran in.
        for (const p of out.sort((a, b) => a.start - b.start)) {
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

  /**
   * Raw inserts of HTTP/replay batches, coalesced across concurrent requests. A transient store
   * failure is retried here, within the requests: answering with an error would make clients
   * resend batches the windows have already counted (sketches cannot tell a resent event).
   */
  const rawWriter = createGroupCommit<EncodedEvents>(
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
    { size: (b) => b.rows },
  );

  async function ingestEvents(
    items: readonly unknown[],
    source: 'http' | 'replay',
  ): Promise<IngestReport> {
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
      const status = managers.get(event.model)!.record(event, meta).status;
      if (status === 'no-baseline') noBaseline = true;
      bump(event.model, resultOf(status));
      const row = event as StoredEvent;
      row.late = status === 'late';
      row.source = sourceRef;
      row.ingestedAt = ingestedAt;
      encoded.add(row);
      if (!row.late && event.ts > (newest.get(event.model) ?? -1))
        newest.set(event.model, event.ts);
    }
    // Raw events are durable before the caller is answered; the windows' sketches are derived
    // state and already hold this batch. Concurrent requests share inserts (group commit).
    const accepted = encoded.rows;
    if (accepted > 0) await rawWriter.submit([encoded.take()]);
    for (const [model, c] of counts) {
      for (const [r, n] of Object.entries(c)) if (n > 0) countEvent(model, r as EventResult, n);
    }
    for (const [model, ts] of newest) metrics.lastEventTimestamp.set({ model }, ts / 1000);
    if (noBaseline && clock.now() - lastRefresh > 5_000) {
      void refreshBaselines().catch((err) => log.warn({ err }, 'baseline refresh failed'));
    }
    await drain();
    return { accepted, rejected, errors };
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
        manager = managers.get(model)!;
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
    if (noBaseline && clock.now() - lastRefresh > 5_000) {
      void refreshBaselines().catch((err) => log.warn({ err }, 'baseline refresh failed'));
    }
    const before = unwritten.length;
    for (const m of managers.values()) for (const c of m.drainClosed()) unwritten.push(c);
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
    if (closing) updateOpenGauge();
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
    for (const m of managers.values()) for (const c of m.drainClosed()) unwritten.push(c);
    if (unwritten.length > 0) await writeClosed([], write);
    // Rows after results: the windows waiting for their rows become due for a recompute.
    await flushAllRows(write);
    await serial(() => recomputePerformance(write));
    // Writes queued meanwhile by other callers (a tick) finish before the caller looks.
    await writeChain;
  }

  async function drain(): Promise<WindowResult[]> {
    const closed: ClosedWindow[] = [];
    for (const m of managers.values()) closed.push(...m.drainClosed());
    updateOpenGauge();
    return writeClosed(closed);
  }

  function updateOpenGauge(): void {
    for (const m of managers.values())
      metrics.openWindows.set({ model: m.model }, m.openWindows().length);
  }

  async function ingestLabels(items: readonly unknown[]): Promise<IngestReport> {
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
            const start = Math.floor(t.ts / size.ms) * size.ms;
            const b: WindowBounds = {
              model: modelId,
              version: t.version,
              size: size.ms,
              sizeLabel: size.label,
              start,
              end: start + size.ms,
            };
            const key = windowKey(b);
            // Still-open windows get their performance when they close.
            if (closedCounts.has(key) || !isOpen(modelId, b)) dirtyWindows.set(key, b);
          }
        }
      }
    }
  }

  function isOpen(model: string, b: WindowBounds): boolean {
    return managers
      .get(model)!
      .openWindows()
      .some((o) => o.version === b.version && o.sizeLabel === b.sizeLabel && o.start === b.start);
  }

  return {
    managers,
    ingestEvents,
    ingestLabels,
    ingestLabelEvents,
    recordSourced,
    persist,
    settle,
    quiescent() {
      if (unwritten.length > 0 || bufferedRowCount() > 0 || writing > 0) return false;
      if (awaitingRows.length > 0) return false;
      if (dirtyWindows.size > 0 || recomputing !== null) return false;
      return true;
    },
    refreshBaselines,
    async start() {
      await refreshBaselines();
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
      if (clock.now() - lastRefresh > BASELINE_REFRESH_MS) await refreshBaselines();
      const closed: ClosedWindow[] = [];
      for (const m of managers.values()) closed.push(...m.tick());
      updateOpenGauge();
      await writeClosed(closed);
      await recomputePerformance();
    },
    async flush() {
      const closed: ClosedWindow[] = [];
      for (const m of managers.values()) closed.push(...m.flushAll());
      updateOpenGauge();
      const results = await writeClosed(closed);
      await recomputePerformance();
      return results;
    },
    openWindows() {
      let n = 0;
      for (const m of managers.values()) n += m.openWindows().length;
      return n;
    },
  };
}
