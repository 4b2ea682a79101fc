import type { LaneRegistry } from '../cluster/lane-windows.js';
import { isHttpLane } from '../cluster/types.js';
import type { EventResult, Metrics } from '../export/metrics.js';
import type { Logger } from '../logger.js';
import type { StoredEvent } from '../store/types.js';
import type { EventSource } from '../types.js';
import type { Clock, ClosedWindow, WindowManager } from '../window/index.js';
import type { BaselineCache } from './baselines.js';
import type { RawWriter } from './raw-writer.js';
import type { ResultWriter } from './result-writer.js';
import {
  createTally,
  type ModelTally,
  RecordError,
  type RecordOptions,
  type RowSink,
  type SourcedEvent,
  type Tally,
} from './source.js';
import { direct, type WriteOptions } from './store-writes.js';
import type { WindowRegistry } from './window-registry.js';

/** Two sources of one lane (every non-Kafka source is the instance's HTTP lane). */
function sameLane(a: EventSource, b: EventSource): boolean {
  if (a === b) return true;
  if (a.kind !== 'kafka' || b.kind !== 'kafka') return a.kind !== 'kafka' && b.kind !== 'kafka';
  return a.partition === b.partition && a.topic === b.topic;
}

/** Raw rows the Kafka path buffers before an insert (`persist`'s `bufferRows`). */
export const DEFAULT_BUFFER_ROWS = 20_000;
/** Background writes (and so raw inserts) `persist` keeps going at once. */
const MAX_BACKGROUND_WRITES = 2;
const DEFAULT_RESULT_DELAY_MS = 1_000;

/**
 * The way in of every source (`record` and `persist` of EngineSource, source.ts): decoded,
 * positioned events recorded into the windows synchronously, and the background writes with
 * backpressure that store a streaming source's raw rows and the windows they close.
 */
export interface StreamIntake {
  record(events: readonly SourcedEvent[], options?: RecordOptions): void;
  declare(tally: Tally): void;
  persist(opts?: WriteOptions & { bufferRows?: number; resultDelayMs?: number }): Promise<void>;
}

export function createStreamIntake(opts: {
  clock: Clock;
  metrics: Metrics;
  logger: Logger;
  windows: WindowRegistry;
  baselines: BaselineCache;
  raw: RawWriter;
  results: ResultWriter;
  /** The durability gate of the HTTP input (closed windows may hold HTTP events too). */
  gate: (closed: readonly ClosedWindow[]) => ClosedWindow[];
  countEvent: (model: string, result: EventResult, n?: number) => void;
  /** Cluster mode: the lanes' windows (`windows` is then the same registry). */
  lanes?: LaneRegistry | undefined;
}): StreamIntake {
  const { clock, metrics, windows, baselines, raw, results, gate, countEvent, lanes } = opts;
  const get = (model: string) => windows.get(model);
  const log = opts.logger;

  function declare(tally: Tally): void {
    for (const [m, c] of tally.models) {
      if (c.accepted > 0) countEvent(m, 'accepted', c.accepted);
      if (c.late > 0) countEvent(m, 'late', c.late);
      if (c.no_baseline > 0) countEvent(m, 'no_baseline', c.no_baseline);
      if (c.version_limit > 0) countEvent(m, 'version_limit', c.version_limit);
      if (c.newest > Number.NEGATIVE_INFINITY) {
        metrics.lastEventTimestamp.set({ model: m }, c.newest / 1000);
      }
    }
    if (tally.noBaseline) baselines.refreshSoon();
  }

  function tallyOf(tally: Tally, model: string): ModelTally {
    let c = tally.models.get(model);
    if (c === undefined) {
      c = { accepted: 0, late: 0, no_baseline: 0, version_limit: 0, newest: -Infinity };
      tally.models.set(model, c);
    }
    return c;
  }

  /**
   * Counts events[from, to) into the managers `get` gives (one lane's, or the only ones),
   * stamps their rows and hands them to `rows`. `at.i` is left at the first event not counted
   * (the one that threw), so the caller's RecordError names the counted prefix.
   */
  function recordRun(
    events: readonly SourcedEvent[],
    from: number,
    to: number,
    get: (model: string) => WindowManager | undefined,
    rows: RowSink,
    tally: Tally,
    ingestedAt: number,
    at: { i: number },
  ): void {
    let model = '';
    let manager: WindowManager | undefined;
    let counts: ModelTally | undefined;
    let i = from;
    try {
      for (; i < to; i++) {
        const { event, source } = events[i]!;
        if (event.model !== model) {
          model = event.model;
          manager = get(model)!;
          counts = tallyOf(tally, model);
        }
        const status = manager!.record(event, { source }).status;
        const row = event as StoredEvent;
        row.source = source;
        row.ingestedAt = ingestedAt;
        if (status === 'accepted') {
          counts!.accepted++;
          row.late = false;
          if (event.ts > counts!.newest) counts!.newest = event.ts;
        } else if (status === 'late') {
          counts!.late++;
          row.late = true;
        } else if (status === 'version-limit') {
          counts!.version_limit++;
          row.late = false;
        } else {
          counts!.no_baseline++;
          tally.noBaseline = true;
          row.late = false;
        }
        rows.add(row);
      }
    } finally {
      at.i = i;
    }
  }

  /**
   * Cluster mode: each run of events from one lane goes to that lane's managers; an HTTP
   * lane's rows carry the lane (events.lane).
   */
  function recordLanes(
    lanes: LaneRegistry,
    events: readonly SourcedEvent[],
    rows: RowSink,
    tally: Tally,
    ingestedAt: number,
    at: { i: number },
  ): void {
    let from = 0;
    while (from < events.length) {
      at.i = from;
      const { lane, registry } = lanes.registryOf(events[from]!.source);
      const first = events[from]!.source;
      let to = from + 1;
      while (to < events.length && sameLane(first, events[to]!.source)) to++;
      if (isHttpLane(lane))
        for (let k = from; k < to; k++) (events[k]!.event as StoredEvent).lane = lane;
      recordRun(events, from, to, registry.get, rows, tally, ingestedAt, at);
      from = to;
    }
  }

  /** Records `events` (see EngineSource.record): the one place an event enters the windows. */
  function record(events: readonly SourcedEvent[], options: RecordOptions = {}): void {
    if (events.length === 0) return;
    const rows = options.rows ?? raw;
    const tally = options.tally ?? createTally();
    const ingestedAt = clock.now();
    const at = { i: 0 };
    try {
      if (lanes === undefined)
        recordRun(events, 0, events.length, get, rows, tally, ingestedAt, at);
      else recordLanes(lanes, events, rows, tally, ingestedAt, at);
    } catch (err) {
      // Events before at.i are counted and their rows handed over: the source resumes there.
      throw new RecordError(at.i, err);
    } finally {
      if (options.tally === undefined) declare(tally);
      results.queue(gate(windows.drain()), clock.now());
    }
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
    const resultsDue = results.due(options.resultDelayMs ?? DEFAULT_RESULT_DELAY_MS);
    const buffered = raw.rows();
    if (!resultsDue && buffered < cap) return;
    if (backgrounds.size >= MAX_BACKGROUND_WRITES) {
      if (buffered < 2 * cap) return;
      await Promise.race(backgrounds);
      // Another caller may have started the next write meanwhile.
      if (backgrounds.size >= MAX_BACKGROUND_WRITES) return;
    }
    const closing = results.queued.length > 0 && (resultsDue || raw.rows() >= cap);
    if (closing) windows.updateOpenGauge();
    // The raw insert starts first and runs beside the results: a results insert waits for its
    // turn in the serial chain, and the rows must not wait with it (the buffer fills meanwhile).
    const run: Promise<void> = Promise.all([
      raw.rows() >= cap ? raw.flush(write) : undefined,
      closing ? results.write([], write) : undefined,
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

  return { record, declare, persist };
}
