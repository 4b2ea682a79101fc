import type { DedupOptions } from '../cluster/types.js';
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
  insertWindowResults(rows: readonly WindowResult[], opts?: DedupOptions): Promise<void>;
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

/**
 * The token of an INSERT of `rows` out of a window's `all`: the window's own, or, when the
 * store refused the whole and its rows go one by one (quarantine.ts), one naming the segment,
 * so those inserts are not dropped as repeats of each other.
 */
function subsetToken(
  token: string,
  all: readonly WindowResult[],
  rows: readonly WindowResult[],
): string {
  if (rows.length === all.length) return token;
  return `${token}#${rows.map((r) => r.segment ?? '').join(',')}`;
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
  /**
   * Cluster mode's finaliser: each window (its result and its segments') goes in an INSERT
   * of its own carrying this token, so the store keeps one however many instances write it.
   */
  dedupToken?: ((c: ClosedWindow) => string | undefined) | undefined;
}): ResultWriter {
  const { store, modelOf, clock, metrics, writes, serial, raw, performance } = opts;
  const log = opts.logger;

  /** Evaluates the batch and inserts its results; answers what was written. */
  async function insert(batch: readonly ClosedWindow[], write: Write) {
    const results: WindowResult[] = [];
    const closedOf = new Map<WindowResult, ClosedWindow>();
    /** One INSERT per group: the whole batch, or (dedupToken) one per window. */
    const groups: Array<{ rows: WindowResult[]; token: string | undefined }> = [];
    for (const c of batch) {
      const model = modelOf(c.bounds.model)!;
      // A provisional result stays one, whatever the process writing it; a replay's results
      // are the replay's, those it restored from its own checkpoint too.
      const why = c.reason === 'idle' ? undefined : (opts.revisionReason ?? c.revisionReason);
      const window = why === undefined ? c : { ...c, revisionReason: why };
      const r = evaluateWindow(window, c.baseline, model);
      const rows = [r, ...evaluateSegments(window, model)];
      closedOf.set(r, c);
      if (opts.dedupToken === undefined) {
        if (groups.length === 0) groups.push({ rows: results, token: undefined });
        for (const x of rows) results.push(x);
      } else groups.push({ rows, token: opts.dedupToken(c) });
    }
    const written: WindowResult[] = [];
    for (const g of groups) {
      const done = await writes.insertResults(
        'window_results',
        'insert_window_results',
        'window_result',
        g.rows,
        (rows) =>
          g.token === undefined
            ? store.insertWindowResults(rows)
            : store.insertWindowResults(rows, { dedupToken: subsetToken(g.token, g.rows, rows) }),
        write,
      );
      for (const r of done) written.push(r);
    }
    return { written, closedOf };
  }

  /** After the insert, the batch out of the queue: metrics, log, performance, episodes. */
  async function after(
    { written, closedOf }: Awaited<ReturnType<typeof insert>>,
    write: Write,
  ): Promise<WindowResult[]> {
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
        r.provisional ? 'window result (provisional: stream quiet, window open)' : 'window closed',
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
  }

  return createWindowQueue({ clock, log, serial, what: 'window result', insert, after });
}

/**
 * The queue every writer of closed windows shares (results here; a cluster lane's partials,
 * src/cluster/partial-writer.ts): windows queued (a failed write leaves them queued, so
 * nothing drained from the managers is lost), written one write at a time (`serial`): the
 * whole queue is `insert`ed, leaves the queue once that succeeded, then `after` runs on what
 * was written.
 */
export function createWindowQueue<W>(opts: {
  clock: Clock;
  log: Logger;
  serial: Serial;
  /** What a failed `writeLogged` says it could not write. */
  what: string;
  insert(batch: readonly ClosedWindow[], write: Write): Promise<W>;
  after(inserted: W, write: Write): Promise<WindowResult[]>;
}): ResultWriter {
  const { clock, serial } = opts;
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
      const inserted = await opts.insert(batch, write);
      unwritten.splice(0, batch.length);
      return opts.after(inserted, write);
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
        opts.log.warn({ err }, `${opts.what} write failed; it is retried by the next write`);
      }
    },
  };
}
