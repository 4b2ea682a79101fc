import type { ModelConfig } from '../config/types.js';
import type { Metrics } from '../export/metrics.js';
import type { Logger } from '../logger.js';
import type { RevisionReason, WindowResult } from '../types.js';
import {
  type Clock,
  type ClosedWindow,
  evaluateSegments,
  evaluateWindow,
} from '../window/index.js';
import { referenceName } from '../window/reference.js';
import type { ComparisonWriter } from './comparison-writer.js';
import type { PerformanceScheduler } from './performance-scheduler.js';
import type { RawWriter } from './raw-writer.js';
import { direct, type Serial, type StoreWrites, type Write } from './store-writes.js';

/** What the result writer writes to the store. */
export interface ResultStore {
  insertWindowResults(rows: readonly WindowResult[]): Promise<void>;
}

/**
 * Closed windows on their way to the store: queued (a failed write leaves them queued for the
 * next attempt, so nothing drained from the managers is ever lost), evaluated and inserted in
 * one INSERT per write, one write at a time (`serial`). A result the store refuses for good is
 * quarantined (store-writes.ts). After a write: metrics, the log line, the window's
 * performance once its raw rows are stored.
 */
export interface ResultWriter {
  /** Queues closed windows; `since` (the Kafka path) stamps when the queue became non-empty. */
  queue(closed: Iterable<ClosedWindow>, since?: number): void;
  /** The queued windows (a checkpoint restores them as closed, so a restart writes them). */
  readonly queued: readonly ClosedWindow[];
  /** Windows are queued and the oldest has waited `delayMs` since `queue(…, since)`. */
  due(delayMs: number): boolean;
  /** Queues `closed` and writes every queued window; resolves with the results written. */
  write(closed: readonly ClosedWindow[], write?: Write): Promise<WindowResult[]>;
  /**
   * `write` for a request that stored its rows: a failed result write does not fail the
   * request (its events are stored and counted; an error would make the client send them
   * again). The windows stay queued and the next write or tick retries them.
   */
  writeLogged(closed: readonly ClosedWindow[]): Promise<void>;
}

export function createResultWriter(opts: {
  store: ResultStore;
  /** The config a window is evaluated with: its model's current one (see pipeline.reconfigure). */
  modelOf: (model: string) => ModelConfig | undefined;
  clock: Clock;
  metrics: Metrics;
  logger: Logger;
  writes: StoreWrites;
  serial: Serial;
  raw: RawWriter;
  performance: PerformanceScheduler;
  /** Version comparisons of the final windows written (models[].comparison). */
  comparisons?: ComparisonWriter | undefined;
  onWindow?: ((result: WindowResult) => void) | undefined;
  /** Retrain episodes (src/ingest/retrain-writer.ts), fed each written batch in order. */
  retrain?: { observe(results: readonly WindowResult[]): Promise<void> } | undefined;
  /** Why this process writes its results, when not the close itself (a replay). */
  revisionReason?: RevisionReason | undefined;
}): ResultWriter {
  const { store, modelOf, clock, metrics, writes, serial, raw, performance } = opts;
  const log = opts.logger;
  const unwritten: ClosedWindow[] = [];
  /** When the oldest entry of `unwritten` was queued by the Kafka path. */
  let unwrittenSince = 0;

  function writeClosed(
    closed: readonly ClosedWindow[],
    write: Write = direct,
  ): Promise<WindowResult[]> {
    for (const c of closed) unwritten.push(c);
    if (unwritten.length === 0) return Promise.resolve([]);
    return serial.run(async () => {
      if (unwritten.length === 0) return [];
      const batch = unwritten.slice();
      const results: WindowResult[] = [];
      const closedOf = new Map<WindowResult, ClosedWindow>();
      for (const c of batch) {
        const model = modelOf(c.bounds.model)!;
        // A provisional result stays one, whatever the process writing it; a replay's results
        // are the replay's, those it restored from its own checkpoint too.
        const why = c.reason === 'idle' ? undefined : (opts.revisionReason ?? c.revisionReason);
        const window = why === undefined ? c : { ...c, revisionReason: why };
        const r = evaluateWindow(window, c.baseline, model);
        results.push(r);
        closedOf.set(r, c);
        for (const s of evaluateSegments(window, model)) results.push(s);
      }
      const written = await writes.insertResults(
        'window_results',
        'insert_window_results',
        'window_result',
        results,
        (rows) => store.insertWindowResults(rows),
        write,
      );
      unwritten.splice(0, batch.length);
      for (const r of written) {
        // A segment's result is shown (metrics, API); its performance follows it, nothing else.
        if (r.segment) {
          metrics.recordSegment(r);
          // Its event count: the segment's label coverage.
          performance.windowWritten(r);
          continue;
        }
        metrics.recordWindow(r);
        performance.windowWritten(r);
        raw.afterStored(r);
        log.info(
          {
            model: r.model,
            version: r.version,
            window: r.sizeLabel,
            start: new Date(r.start).toISOString(),
            events: r.eventCount,
            driftShare: r.driftShare,
            reference: r.reference === undefined ? 'baseline' : referenceName(r.reference),
            provisional: r.provisional,
          },
          r.provisional
            ? 'window result (provisional: stream quiet, window open)'
            : 'window closed',
        );
        opts.onWindow?.(r);
      }
      // Retrain episodes and version comparisons follow the whole traffic's results only.
      const whole = written.filter((r) => !r.segment);
      await opts.retrain?.observe(whole);
      await opts.comparisons?.windowsWritten(
        whole.map((result) => ({ result, closed: closedOf.get(result)! })),
        write,
      );
      performance.trim();
      await performance.recompute(write);
      return written.slice();
    });
  }

  return {
    queue(closed, since) {
      const before = unwritten.length;
      for (const c of closed) unwritten.push(c);
      if (since !== undefined && before === 0 && unwritten.length > 0) unwrittenSince = since;
    },
    queued: unwritten,
    due(delayMs) {
      return unwritten.length > 0 && clock.now() - unwrittenSince >= delayMs;
    },
    write: writeClosed,
    async writeLogged(closed) {
      if (closed.length === 0 && unwritten.length === 0) return;
      try {
        await writeClosed(closed);
      } catch (err) {
        log.warn({ err }, 'window result write failed; it is retried by the next write');
      }
    },
  };
}
