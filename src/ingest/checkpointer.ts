/**
 * The HTTP input's checkpointer: owns "window state + input position" as one consistent cut,
 * as the Kafka source does with its offsets (kafka/checkpoints.ts), for a daemon without Kafka.
 *
 * Invariant: the latest `driftd:http` checkpoint row C = (windows W, position P) is a
 * consistent cut: W is exactly the window state built from the HTTP events at input positions
 * ≤ P (events.ingest_seq, handed out in arrival order: request-ingest.ts), every one of them is
 * stored, and every window closed before the cut either has its result in the store or is in
 * W's closed lists (restored and written on start).
 *
 * How:
 * - Cut, every `intervalMs` (and at shutdown): `pipeline.cut()` snapshots every window manager
 *   and takes the current position synchronously (one JS turn: one cut); the row is written
 *   once every position up to P is stored. Requests keep flowing meanwhile. A crash before the
 *   row lands leaves the previous checkpoint.
 * - Restore, at startup before requests are taken: the latest checkpoint into fresh window
 *   managers, then the stored HTTP events above P, read back in position order (pages of
 *   `PAGE` rows) and recorded into the windows exactly as their requests did. Windows that had
 *   closed after the cut close again with identical results and are rewritten (the store
 *   replaces them; only closedAt differs). So after SIGKILL at any moment the windows are
 *   those of an uninterrupted run that received the stored events in the same order. The
 *   Idempotency-Keys of events received within the key TTL are loaded, so a request whose
 *   events were stored but not answered before the crash is not counted again when retried.
 * - Rebuild, when a raw write failed for good (durable-input.ts): the same restore on fresh managers,
 *   retried with backoff until the store answers; requests are refused (503) meanwhile.
 *
 * With Kafka configured the Kafka source owns the one checkpoint row, and it carries the HTTP
 * position too (`httpInput`, below): its cut is taken when nothing is in flight, and its
 * restore replays the stored HTTP events after that position the same way. A failed raw
 * write is rolled back by that checkpoint too (kafka/checkpoints.ts, `rollback`): its windows
 * and the stored HTTP events after its position, and every predictions partition sought back
 * to its offsets, so the Kafka events counted after the cut are counted again, once.
 *
 * Cluster mode (`pipeline.cluster`, docs/scale-out.md): the same, for this instance's HTTP lane
 * (`http:<instanceId>`, src/cluster/types.ts) alone, also when Kafka is configured: its cut is
 * a LaneCheckpoint of the lane's windows in group `driftd:http:<instanceId>`, its replay reads
 * only the lane's stored events, and each checkpoint row is followed by the lane's progress
 * rows (src/cluster/progress.ts; written once at restore too, before requests are taken: the
 * lane registers). A cut is also taken when the lane's progress changed (a version went
 * quiet), so the finaliser learns it without new events.
 *
 * Scope outside cluster mode: one daemon instance per store (positions are per instance, and
 * so is the one `driftd:http` row). Events stored while their version had no baseline are
 * replayed with the baselines known at the restart.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { progressRows } from '../cluster/progress.js';
import { type ClusterStore, httpLane, laneCheckpointGroup } from '../cluster/types.js';
import type { Logger } from '../logger.js';
import type { StoredEvent } from '../store/types.js';
import type { Clock } from '../window/index.js';
import {
  type CheckpointStore,
  decodeHttpCheckpoint,
  decodeLaneCheckpoint,
  encodeHttpCheckpoint,
  encodeLaneCheckpoint,
  HTTP_CHECKPOINT_GROUP,
  type HttpCheckpoint,
  restoreWindows,
} from './checkpoint.js';
import { DEFAULT_KEY_TTL_MS, DEFAULT_MAX_KEYS } from './idempotency.js';
import type { EngineCheckpointing } from './pipeline.js';
import { backoffDelay, sleep } from './retry.js';

/** Rows per read when replaying stored events after a checkpoint. */
const PAGE = 10_000;
export const DEFAULT_HTTP_CHECKPOINT_INTERVAL_MS = 5_000;
const DEFAULT_PROGRESS_REFRESH_MS = 60_000;

export interface HttpCheckpointStore
  extends CheckpointStore,
    Partial<Pick<ClusterStore, 'insertLaneProgress'>> {
  httpEventsAfter(after: number, limit: number, lane?: string): Promise<StoredEvent[]>;
  recentRequestKeys(since: number, limit: number): Promise<string[]>;
}

export interface HttpCheckpointerOptions {
  pipeline: EngineCheckpointing;
  store: HttpCheckpointStore;
  logger: Logger;
  clock: Clock;
  /** Period of the cuts, ms. @default 5000 */
  intervalMs?: number;
  /**
   * Cluster mode: a cut (and so the lane's progress rows) at least this often, changed or not,
   * so the finalisers keep counting a live lane whose windows are open and quiet (a lane
   * without a row newer than `cluster.laneTimeoutMs` stops holding windows back). The daemon
   * passes a quarter of laneTimeoutMs. @default 60000
   */
  progressRefreshMs?: number;
  /**
   * Where driftd before migration 7 kept its HTTP window checkpoints (`<model>.json` files):
   * read when the store has no HTTP checkpoint yet, so an upgrade keeps the open windows.
   */
  legacyDir?: string;
}

/**
 * The HTTP input as the Kafka checkpoint carries it: the position of a cut, and the replay of
 * the stored HTTP events after a restored position (then the input resumes there).
 */
export interface HttpInputHooks {
  /** The input position the windows hold, at a quiescent moment (every position is stored). */
  position(): number;
  /** False from a failed raw write until the rollback resumed the input: no cut meanwhile. */
  healthy(): boolean;
  /** Replays the stored HTTP events above `after` into the windows and resumes the input. */
  resume(after: number): Promise<{ position: number; replayed: number }>;
}

export function httpInput(opts: Omit<HttpCheckpointerOptions, 'intervalMs'>): HttpInputHooks {
  const { pipeline } = opts;
  return {
    position: () => pipeline.input.recorded,
    healthy: () => pipeline.input.healthy,
    async resume(after) {
      const r = await replayAfter(opts, after);
      pipeline.resumeInput(r.position);
      opts.logger
        .child({ stage: 'checkpoint' })
        .info({ after, ...r }, 'replayed the HTTP events stored after the checkpoint');
      return r;
    },
  };
}

/**
 * Records the stored HTTP events above `after` into the windows, in position order, and
 * remembers the Idempotency-Keys received within the key TTL.
 */
async function replayAfter(
  opts: Omit<HttpCheckpointerOptions, 'intervalMs'>,
  after: number,
): Promise<{ position: number; replayed: number }> {
  const { pipeline, store, clock } = opts;
  const cluster = pipeline.cluster;
  let position = after;
  let replayed = 0;
  const keys = new Set<string>();
  for (;;) {
    const events =
      cluster === undefined
        ? await store.httpEventsAfter(position, PAGE)
        : await store.httpEventsAfter(position, PAGE, httpLane(cluster.instanceId));
    if (events.length === 0) break;
    pipeline.replayStored(events);
    for (const e of events) if (e.requestKey) keys.add(e.requestKey);
    replayed += events.length;
    position = events.at(-1)!.position ?? position;
    if (events.length < PAGE) break;
  }
  pipeline.idempotency.remember(
    await store.recentRequestKeys(clock.now() - DEFAULT_KEY_TTL_MS, DEFAULT_MAX_KEYS),
  );
  pipeline.idempotency.remember(keys);
  return { position, replayed };
}

/** What of a lane's progress is worth a new row. */
function progressKey(p: ReadonlyArray<{ watermark: number | null; idle: boolean }>): string {
  return JSON.stringify(p);
}

export interface HttpCheckpointer {
  /** Restores the windows and the input position; call before taking requests. */
  restore(): Promise<{ position: number; replayed: number; seq: number }>;
  /** Starts the periodic cuts and the rebuild after failed writes. */
  start(): void;
  /** Takes a cut now and writes it once its position is stored. */
  checkpoint(): Promise<void>;
  /** Stops the cuts; takes a final one (call once requests have stopped). */
  close(): Promise<void>;
}

export function createHttpCheckpointer(opts: HttpCheckpointerOptions): HttpCheckpointer {
  const { pipeline, store, clock } = opts;
  const log = opts.logger.child({ stage: 'checkpoint' });
  const intervalMs = opts.intervalMs ?? DEFAULT_HTTP_CHECKPOINT_INTERVAL_MS;
  let seq = 0;
  let lastPosition = -1;
  let lastOpen = -1;
  let timer: NodeJS.Timeout | undefined;
  let closed = false;
  /** Cluster mode: this instance's HTTP lane. */
  const lane =
    pipeline.cluster === undefined
      ? undefined
      : {
          id: httpLane(pipeline.cluster.instanceId),
          group: laneCheckpointGroup('', httpLane(pipeline.cluster.instanceId)),
          instance: pipeline.cluster.instanceId,
          lanes: pipeline.cluster.lanes,
        };
  /** The lane's progress last written (a change is worth a cut), and when. */
  let lastProgress = '';
  let lastProgressAt = Number.NEGATIVE_INFINITY;
  const refreshMs = opts.progressRefreshMs ?? DEFAULT_PROGRESS_REFRESH_MS;
  const progressChanged = (): boolean =>
    lane !== undefined &&
    (clock.now() - lastProgressAt >= refreshMs ||
      progressKey(lane.lanes.progress(lane.id)) !== lastProgress);
  // Cuts, restores and rebuilds run one at a time.
  let chain: Promise<unknown> = Promise.resolve();
  function exclusive<T>(fn: () => Promise<T>): Promise<T> {
    const run = chain.then(fn, fn);
    chain = run.catch(() => undefined);
    return run;
  }

  async function restoreInner(): Promise<{ position: number; replayed: number; seq: number }> {
    if (lane !== undefined) return restoreLane(lane);
    const row = await store.latestCheckpoint(HTTP_CHECKPOINT_GROUP);
    let cp: HttpCheckpoint | undefined;
    if (row !== null) {
      cp = decodeHttpCheckpoint(row);
      restoreWindows(pipeline.managers, cp, log);
      seq = Math.max(seq, cp.seq);
    } else if (opts.legacyDir !== undefined) {
      await restoreLegacy(opts.legacyDir);
    }
    const r = await replayAfter(opts, cp?.position ?? 0);
    return { ...r, seq: cp?.seq ?? 0 };
  }

  /** Cluster mode: the lane's latest checkpoint (or empty windows), then its stored events. */
  async function restoreLane(
    l: NonNullable<typeof lane>,
  ): Promise<{ position: number; replayed: number; seq: number }> {
    const row = await store.latestCheckpoint(l.group);
    let position = 0;
    let from = 0;
    if (row !== null) {
      const cp = decodeLaneCheckpoint(row);
      l.lanes.restore(l.id, cp.windows);
      seq = Math.max(seq, cp.seq);
      from = cp.seq;
      position = Number(cp.position);
    } else l.lanes.open(l.id);
    const r = await replayAfter(opts, position);
    return { ...r, seq: from };
  }

  /** Cluster mode: the lane's progress rows, after its checkpoint row (or at registration). */
  async function writeProgress(
    l: NonNullable<typeof lane>,
    progress: ReturnType<typeof l.lanes.progress>,
    position: number,
  ): Promise<void> {
    if (store.insertLaneProgress === undefined) return;
    await store.insertLaneProgress(
      progressRows(l.id, progress, {
        position: String(position),
        seq,
        instance: l.instance,
        now: clock.now(),
      }),
    );
    lastProgress = progressKey(progress);
    lastProgressAt = clock.now();
  }

  /**
   * The file checkpoints of driftd before migration 7: windows only, whose events are all
   * stored without a position (none is replayed on top of them).
   */
  async function restoreLegacy(dir: string): Promise<void> {
    const windows: HttpCheckpoint['windows'] = {};
    for (const model of pipeline.managers.keys()) {
      try {
        windows[model] = JSON.parse(await readFile(join(dir, `${model}.json`), 'utf8'));
      } catch {
        // none, or unreadable: that model starts empty
      }
    }
    if (Object.keys(windows).length === 0) return;
    const report = restoreWindows(pipeline.managers, { windows, seq: 0 }, log);
    log.info({ dir, restored: report.restored }, 'restored the windows of a file checkpoint');
  }

  async function cut(): Promise<void> {
    if (!pipeline.input.healthy) return;
    const c = pipeline.cut();
    const open = pipeline.openWindows();
    // Written only once every event it holds is stored (rejects if a write failed: no cut).
    await pipeline.input.whenDurable(c.position);
    let row: ReturnType<typeof encodeHttpCheckpoint>;
    if (lane === undefined) {
      const cp: HttpCheckpoint = {
        format: 1,
        kind: 'http',
        seq: seq + 1,
        takenAt: clock.now(),
        position: c.position,
        windows: c.windows,
      };
      row = encodeHttpCheckpoint(cp);
    } else {
      row = encodeLaneCheckpoint(lane.group, {
        format: 1,
        kind: 'lane',
        lane: lane.id,
        seq: seq + 1,
        takenAt: clock.now(),
        position: String(c.position),
        instance: lane.instance,
        windows: c.windows,
      });
    }
    await store.saveCheckpoint(row);
    seq = row.seq;
    if (lane !== undefined) await writeProgress(lane, c.progress ?? [], c.position);
    lastPosition = c.position;
    lastOpen = open;
    log.debug({ seq, position: c.position, bytes: row.payload.length }, 'checkpoint written');
  }

  async function rebuild(err: unknown): Promise<void> {
    for (let attempt = 1; !closed; attempt++) {
      try {
        pipeline.rollback();
        const r = await restoreInner();
        // Positions handed out to failed requests are never used again.
        pipeline.resumeInput(Math.max(r.position, pipeline.input.recorded));
        await pipeline.settle();
        log.warn(
          { cause: (err as Error)?.message, position: r.position, replayed: r.replayed },
          'windows rebuilt from the checkpoint and the stored events after it; taking requests again',
        );
        return;
      } catch (e) {
        const wait = backoffDelay(attempt, { initialMs: 500, maxMs: 10_000 });
        log.error({ err: e, attempt, waitMs: Math.round(wait) }, 'window rebuild failed; retrying');
        await sleep(wait);
      }
    }
  }

  return {
    restore() {
      return exclusive(async () => {
        const r = await restoreInner();
        pipeline.resumeInput(r.position);
        // Windows closed by the replay are written now.
        await pipeline.settle();
        // Cluster mode: the lane registers before requests are taken.
        if (lane !== undefined) await writeProgress(lane, lane.lanes.progress(lane.id), r.position);
        lastPosition = r.position;
        lastOpen = pipeline.openWindows();
        log.info(
          { seq: r.seq, position: r.position, replayed: r.replayed, openWindows: lastOpen },
          r.seq === 0 && r.replayed === 0
            ? 'no HTTP checkpoint: starting with empty windows'
            : 'restored HTTP checkpoint and replayed the events stored after it',
        );
        return r;
      });
    },
    start() {
      pipeline.onRollback((err) => {
        void exclusive(() => rebuild(err));
      });
      timer = setInterval(
        () => {
          if (closed) return;
          if (
            pipeline.input.recorded === lastPosition &&
            pipeline.openWindows() === lastOpen &&
            !progressChanged()
          ) {
            return;
          }
          void exclusive(cut).catch((err) => log.warn({ err }, 'checkpoint failed'));
        },
        Math.max(50, intervalMs),
      );
      timer.unref();
    },
    checkpoint() {
      return exclusive(cut);
    },
    async close() {
      if (closed) return;
      closed = true;
      if (timer) clearInterval(timer);
      try {
        await exclusive(cut);
      } catch (err) {
        log.error(
          { err },
          'no final checkpoint: the next start replays from the previous one (nothing is lost)',
        );
      }
    },
  };
}
