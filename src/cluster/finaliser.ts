/**
 * Finalisation (cluster mode, docs/scale-out.md): any instance, every `finaliseIntervalMs`
 * (jittered ±20 % so instances do not move in step), turns the partials of every window that
 * no lane holds back any more into the window's one global result.
 *
 * One run: read every lane's progress and the pending windows (partials, no finalisation),
 * oldest end first; for each window no lane of the lane set holds (lane-set.ts): read its
 * partials, merge their states by addition in lane order (exactly the state one instance
 * would have counted), evaluate and write it through the engine's result path with the insert
 * deduplication token `final:<window key>` (two instances finalising the same window leave one
 * revision), then record the finalisation (same token: one row). Then read the finalisations
 * since the last look (by anyone): every lane of this instance closes those windows (an event
 * for them counts late here, as in one instance), label ingest treats them as closed, and the
 * gauges of windows finalised by other instances are refreshed from the store (restore.ts), so
 * every instance's /metrics shows the latest results.
 *
 * A ready window is first left to one instance (`preferredInstance`, by a hash of its key over
 * the instances with an HTTP lane in the set); the next instance in that order takes it if it
 * is still pending GRACE_RUNS intervals (at least GRACE_MIN_MS) after it saw it ready (its
 * instance gone), the one after that as long again, and so on (`turnOf`): every instance can,
 * one usually does.
 * Races left (an instance's view of "gone" is wrong) cost work, not results; the metrics count
 * a window on the instance whose finalisation row the store kept.
 *
 * Runs never overlap; a failed run is logged and retried by the next one. A window stays
 * pending (driftd_cluster_windows_pending) while it cannot be finalised: its baseline is not
 * loaded here yet (the baselines are refreshed), its model is not configured here, or its
 * partials do not decode (logged once per window).
 */
import type { ModelConfig } from '../config/types.js';
import { DriftdError, InvalidInputError } from '../errors.js';
import type { Metrics } from '../export/metrics.js';
import { restoreGauges } from '../export/restore.js';
import type { Logger } from '../logger.js';
import type { Store } from '../store/types.js';
import type { BaselineProfile, WindowBounds } from '../types.js';
import type { Clock, ClosedWindow, WindowStateSnapshot } from '../window/index.js';
import { createWindowState } from '../window/state.js';
import { createFinalisedWindows, type FinalisedWindows } from './finalised.js';
import { type LaneSet, laneSet } from './lane-set.js';
import type { ClusterEngine, LaneWindows } from './lane-windows.js';
import { type ClusterStatus, clusterStatus } from './status.js';
import {
  type ClusterStore,
  type FinalisationRow,
  HTTP_LANE_PREFIX,
  isHttpLane,
  type LaneProgressRow,
  type PartialRow,
  type RevisableWindow,
  type WindowKey,
  windowKeyString,
} from './types.js';

/** Pending windows read per run (oldest end first); the rest wait for the next run. */
export const PENDING_LIMIT = 500;
/** After its first run, a finaliser looks for pending windows among the partials this recent. */
const PENDING_LOOKBACK_MS = 7 * 86_400_000;
/** Finalisations read per page when looking for those made since the last look. */
const FINALISATIONS_PAGE = 1000;
/** Pages read per run (a backlog is caught up over several runs). */
const FINALISATIONS_PAGES = 10;
/**
 * Each look re-reads this far before the previous one: finalisedAt is the writer's wall clock,
 * and another instance's row may become visible after a look that its time falls before.
 */
const LOOK_BACK_MARGIN_MS = 60_000;
/** At start, finalisations this old are read (what label ingest must know is closed). */
const SEED_LOOKBACK_MS = 7 * 86_400_000;
/** Windows recorded and not yet seen in the store, remembered at most (the oldest dropped). */
const MAX_UNCONFIRMED = 10 * PENDING_LIMIT;
/** Windows whose failure was logged (once each); cleared beyond this. */
const MAX_LOGGED = 1000;

/**
 * Finalised windows are looked at for a revision while a final partial of theirs is this
 * recent (wall-clock ms): a lane's late final partial is seen by the next run of any
 * instance; the margin covers instances' clock skew and an outage of every finaliser. The
 * first run after a start looks back SEED_REVISION_LOOKBACK_MS.
 */
const REVISION_LOOKBACK_MS = 3_600_000;
const SEED_REVISION_LOOKBACK_MS = 86_400_000;

/**
 * Runs of its interval an instance leaves a ready window to the instance it is preferred to
 * (its preferred instance may be gone: then any other finalises it after this long).
 */
const GRACE_RUNS = 3;
/**
 * …and at least this long, ms: a live instance catching up a backlog (many windows ready at
 * once) takes longer than three short intervals, and others stepping in early repeat its work
 * (bench/cluster.bench.ts: 1.5× the finalisations at 2 instances, 2.4× at 3 with 3 intervals of
 * 1 s). A gone instance's windows wait this much longer (the Kafka session timeout, 30 s by
 * default, delays its partitions' windows anyway).
 */
const GRACE_MIN_MS = 10_000;

/** Where a window's turn starts among the instances: an FNV-1a hash of its key. */
function turnStart(w: WindowKey, n: number): number {
  let h = 0x811c9dc5;
  const k = windowKeyString(w);
  for (let i = 0; i < k.length; i++) {
    h ^= k.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h % n;
}

/**
 * The instance a ready window is left to first, among `instances` (those with an HTTP lane in
 * the lane set, sorted): spreads the work, and keeps two instances from evaluating and writing
 * the same window at once (the store would keep one; the work is wasted). Undefined: none.
 */
export function preferredInstance(w: WindowKey, instances: readonly string[]): string | undefined {
  return instances.length === 0 ? undefined : instances[turnStart(w, instances.length)];
}

/**
 * How many turns `instance` waits for a ready window: 0 for its preferred instance, then one
 * more per instance after it in `instances` (a ring), so when the preferred one is gone the
 * next steps in, alone, and so on. An instance not in the list (its lane not registered or
 * timed out) comes last; with no instances at all, none waits.
 */
export function turnOf(w: WindowKey, instances: readonly string[], instance: string): number {
  if (instances.length === 0) return 0;
  const at = instances.indexOf(instance);
  if (at < 0) return instances.length;
  const n = instances.length;
  return (at - turnStart(w, n) + n) % n;
}

const instanceOfLane = (lane: string) => lane.slice(HTTP_LANE_PREFIX.length);

/**
 * The dedup token of a window's final result and finalisation row; of its n-th revision
 * ('lane_late'): `final:<window>#<n>`, n from the store, so racing instances agree.
 */
export function finalToken(w: WindowKey, revision = 0): string {
  const base = `final:${windowKeyString(w)}`;
  return revision > 0 ? `${base}#${revision}` : base;
}

/** What the finaliser uses of the engine (`pipeline.cluster`, src/ingest/pipeline.ts). */
export type FinaliserEngine = Pick<ClusterEngine, 'instanceId' | 'writeFinal' | 'setWindowOpen'> & {
  readonly lanes: Pick<LaneWindows, 'ids' | 'closeThrough'>;
};

export type FinaliserStore = ClusterStore &
  Pick<Store, 'latestResults' | 'latestFairness' | 'queryDrift'> &
  Partial<Pick<Store, 'queryPerformance'>>;

export interface FinaliserOptions {
  store: FinaliserStore;
  engine: FinaliserEngine;
  /** The models in force (the live config's map). */
  models: ReadonlyMap<string, ModelConfig>;
  /** A loaded baseline by id (the pipeline's baseline cache). */
  baselineById(id: string): BaselineProfile | undefined;
  /** Loads baselines imported since (a window's baseline is not known here yet). */
  refreshBaselines(): Promise<void>;
  /**
   * Kafka is configured: every partition of the predictions topic as lanes, undefined while
   * not known (then nothing is finalised). Absent: no Kafka.
   */
  kafkaLanes?: () => readonly string[] | undefined;
  metrics: Metrics;
  logger: Logger;
  clock: Clock;
  intervalMs: number;
  laneTimeoutMs: number;
  /** Series of finalised windows remembered (finalised.ts); default from the models. */
  maxSeries?: number;
  /** Jitter source in [0, 1) (tests); default Math.random. */
  random?: () => number;
}

/** A window whose result was handed to the engine, and what its finalisation row says. */
interface Unrecorded {
  w: WindowKey;
  /** 0: the window's finalisation; n > 0: its n-th revision. */
  revision: number;
  lanes: string[];
  events: number;
  /** Wall-clock ms of its lanes' last final partial (of the last partial, when none is final). */
  lastPartialAt: number;
}

/** What one run did. */
export interface FinaliseReport {
  pending: number;
  finalised: WindowKey[];
  /** Finalised windows written again: a lane counted events into them after (lane_late). */
  revised: WindowKey[];
  /** Finalisations by other instances seen by this run. */
  foreign: number;
}

export interface Finaliser {
  /** Learns the recent finalisations, hooks label ingest, and runs every interval. */
  start(): Promise<void>;
  /** One run now (after the one in progress, if any); never rejects. */
  runOnce(): Promise<FinaliseReport>;
  /** The lanes and the pending windows as the store has them (GET /api/v1/cluster). */
  status(limit: number): Promise<ClusterStatus>;
  /** What this instance knows has been finalised. */
  readonly finalised: FinalisedWindows;
  /** Stops the timer, waits for a run in progress, then runs once more. Idempotent. */
  close(): Promise<void>;
}

/** Series a model may have: its active versions × its window sizes. */
function seriesBound(models: ReadonlyMap<string, ModelConfig>): number {
  let n = 0;
  for (const m of models.values()) n += m.versions.maxActive * m.windows.sizes.length;
  return 2 * n;
}

/** The smallest idle timeout of the models (lane-set.ts: when a never-delivered lane is idle). */
function smallestIdleTimeout(models: ReadonlyMap<string, ModelConfig>): number {
  let min = Number.POSITIVE_INFINITY;
  for (const m of models.values()) min = Math.min(min, m.windows.idleTimeoutMs);
  return Number.isFinite(min) ? min : 0;
}

/** Only the key of a window (a row read from the store has more). */
function keyOf(w: WindowKey): WindowKey {
  return {
    model: w.model,
    version: w.version,
    sizeLabel: w.sizeLabel,
    size: w.size,
    start: w.start,
    end: w.end,
  };
}

/** The window of the whole traffic a key names (no segment). */
function boundsOf(w: WindowKey): WindowBounds {
  return {
    model: w.model,
    version: w.version,
    size: w.size,
    sizeLabel: w.sizeLabel,
    start: w.start,
    end: w.end,
  };
}

export function createFinaliser(opts: FinaliserOptions): Finaliser {
  const { store, engine, metrics, clock } = opts;
  const log = opts.logger.child({ stage: 'finaliser', instance: engine.instanceId });
  // restore.ts logs each restore at info; here it runs on every foreign finalisation.
  const quiet =
    log.levelVal >= (log.levels.values.warn ?? 40) ? log : log.child({}, { level: 'warn' });
  const random = opts.random ?? Math.random;
  const finalised = createFinalisedWindows({
    maxSeries: opts.maxSeries ?? seriesBound(opts.models),
  });
  /** Finalisations are read from here on (wall-clock ms). */
  let since = clock.now() - SEED_LOOKBACK_MS;
  /** The lanes closeThrough was last applied to (a new lane gets every series again). */
  let lanesSeen = '';
  const logged = new Set<string>();
  /**
   * Windows handed to the engine's writer and not recorded yet (a write or the finalisation
   * row failed); at most the windows of one run (PENDING_LIMIT).
   */
  const unrecorded = new Map<string, Unrecorded>();
  /**
   * Windows this instance recorded, until look() reads the one finalisation row the store kept:
   * the metrics count the window here only if that row is this instance's (two instances may
   * both write a window; the store keeps the first).
   */
  const unconfirmed = new Set<string>();
  /** Revisions (key#revision) look() has seen; cleared beyond MAX_UNCONFIRMED. */
  const revisionsSeen = new Set<string>();
  /** When this instance first saw each ready window (at most PENDING_LIMIT). */
  let readySince = new Map<string, number>();
  /** A run has read the pending windows of every partial (later runs bound the scan). */
  let lookedBack = false;
  /** The same for revisable windows (key#revision). */
  let revisableSince = new Map<string, number>();
  /**
   * Revisable windows whose merge gave no more events than their finalisation (a partial on
   * another baseline, left out): key#revision → the partials' events then; not merged again
   * until those change. Cleared beyond MAX_LOGGED.
   */
  const unchanged = new Map<string, number>();
  /** Final partials written since this are looked at for revisions (see REVISION_LOOKBACK_MS). */
  let revisionLookback = SEED_REVISION_LOOKBACK_MS;
  let running: Promise<FinaliseReport> | undefined;
  let timer: NodeJS.Timeout | undefined;
  let state: 'created' | 'running' | 'closing' | 'closed' = 'created';

  /** How long each turn before this instance's waits for a ready window (`turnOf`). */
  const graceMs = () => Math.max(GRACE_RUNS * opts.intervalMs, GRACE_MIN_MS);

  /** Logs a window's problem once (it is retried every run). */
  function logOnce(w: WindowKey, why: string, fields: Record<string, unknown>, msg: string): void {
    const k = `${why}\u0000${windowKeyString(w)}`;
    if (logged.has(k)) return;
    if (logged.size >= MAX_LOGGED) logged.clear();
    logged.add(k);
    log.warn(
      { model: w.model, version: w.version, window: w.sizeLabel, start: w.start, ...fields },
      msg,
    );
  }

  /** The partials that merge into one state: those on the baseline most of the events used. */
  function sameBaseline(parts: readonly PartialRow[], w: WindowKey): PartialRow[] {
    const events = new Map<string, number>();
    for (const p of parts) events.set(p.baselineId, (events.get(p.baselineId) ?? 0) + p.events);
    if (events.size <= 1) return [...parts];
    const [id] = [...events].sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1))[0]!;
    const left = parts.filter((p) => p.baselineId !== id);
    // A baseline re-imported while the window was open in some lanes: their bins differ, the
    // states cannot be added; one instance would have used the baseline of the window's open.
    log.error(
      {
        model: w.model,
        version: w.version,
        window: w.sizeLabel,
        start: w.start,
        baselineId: id,
        excluded: left.map((p) => ({ lane: p.lane, baselineId: p.baselineId, events: p.events })),
      },
      "window partials were built on different baselines: finalised with the most events' one, the others left out",
    );
    return parts.filter((p) => p.baselineId === id);
  }

  /**
   * The window's merged state, or undefined when it cannot be finalised here yet (logged).
   * @throws InvalidInputError when a partial does not decode or fit its baseline
   */
  async function merged(
    w: WindowKey,
    parts: readonly PartialRow[],
  ): Promise<{ closed: ClosedWindow; lanes: string[] } | undefined> {
    const model = opts.models.get(w.model);
    if (model === undefined) {
      logOnce(w, 'model', {}, 'pending window of a model not configured here: left to the others');
      return undefined;
    }
    const use = sameBaseline(parts, w).sort((a, b) =>
      a.lane < b.lane ? -1 : a.lane > b.lane ? 1 : 0,
    );
    const baselineId = use[0]!.baselineId;
    let baseline = opts.baselineById(baselineId);
    if (baseline === undefined) {
      await opts.refreshBaselines();
      baseline = opts.baselineById(baselineId);
    }
    if (baseline === undefined) {
      logOnce(
        w,
        'baseline',
        { baselineId },
        "pending window's baseline is not loaded here: it waits",
      );
      return undefined;
    }
    const bounds = boundsOf(w);
    const state = createWindowState({ bounds, model, baseline });
    for (const p of use) {
      let snapshot: WindowStateSnapshot;
      try {
        snapshot = JSON.parse(p.state) as WindowStateSnapshot;
      } catch (err) {
        throw new InvalidInputError(`partial of lane ${p.lane} is not JSON`, { cause: err });
      }
      state.merge(snapshot);
    }
    const closed: ClosedWindow = {
      bounds,
      state,
      baseline,
      reason: 'watermark',
      closedAt: clock.now(),
    };
    return { closed, lanes: use.map((p) => p.lane) };
  }

  /** Finalises one ready window; false when it must wait (logged). */
  async function finalise(w: WindowKey): Promise<boolean> {
    const parts = await store.partialsOf(w);
    if (parts.length === 0) return false;
    let m: Awaited<ReturnType<typeof merged>>;
    try {
      m = await merged(w, parts);
    } catch (err) {
      if (!(err instanceof InvalidInputError)) throw err;
      logOnce(w, 'partial', { err }, "pending window's partials cannot be merged: it waits");
      return false;
    }
    if (m === undefined) return false;
    await write(w, 0, parts, m);
    return true;
  }

  /** Writes a merged window (revision 0: its finalisation) and records it. */
  async function write(
    w: WindowKey,
    revision: number,
    parts: readonly PartialRow[],
    m: { closed: ClosedWindow; lanes: string[] },
  ): Promise<void> {
    const finals = parts.filter((p) => p.final);
    const entry: Unrecorded = {
      w,
      revision,
      lanes: m.lanes,
      events: m.closed.state.count,
      lastPartialAt: Math.max(...(finals.length > 0 ? finals : parts).map((p) => p.writtenAt)),
    };
    // Until recorded: a failed write leaves the window queued in the engine's writer, which
    // writes it with the next call; it must not be merged and queued again meanwhile.
    unrecorded.set(windowKeyString(w), entry);
    const token = finalToken(w, revision);
    await engine.writeFinal([m.closed], () => token);
    await record(entry);
  }

  /**
   * Writes revision `r.revision + 1` of a finalised window a lane counted more events into
   * after its finalisation (src/window/manager.ts closeThrough: the lane's final partial):
   * its latest partials merged again, reason 'lane_late', token `final:<window>#<n>` (two
   * instances revising it leave one). False when it must wait or there is nothing to add.
   */
  async function revise(r: RevisableWindow): Promise<boolean> {
    const k = `${windowKeyString(r)}#${r.revision}`;
    if (unchanged.get(k) === r.partialEvents) return false;
    const parts = await store.partialsOf(r);
    if (parts.length === 0) return false;
    let m: Awaited<ReturnType<typeof merged>>;
    try {
      m = await merged(r, parts);
    } catch (err) {
      if (!(err instanceof InvalidInputError)) throw err;
      logOnce(r, 'partial', { err }, "revised window's partials cannot be merged: it waits");
      return false;
    }
    if (m === undefined) return false;
    if (m.closed.state.count <= r.events) {
      // The events beyond it are on partials left out of the merge (another baseline).
      if (unchanged.size >= MAX_LOGGED) unchanged.clear();
      unchanged.set(k, r.partialEvents);
      return false;
    }
    m.closed.revisionReason = 'lane_late';
    const w = keyOf(r);
    await write(w, r.revision + 1, parts, m);
    log.info(
      {
        model: w.model,
        version: w.version,
        window: w.sizeLabel,
        start: w.start,
        revision: r.revision + 1,
        events: m.closed.state.count,
        was: r.events,
      },
      'finalised window revised: a lane counted events into it after its finalisation',
    );
    return true;
  }

  /** Revises the finalised windows whose lanes counted more since (see `revise`). */
  async function reviseAll(instances: readonly string[], report: FinaliseReport): Promise<void> {
    const now = clock.now();
    const candidates = await store.revisableWindows(now - revisionLookback, PENDING_LIMIT);
    revisionLookback = REVISION_LOOKBACK_MS;
    const still = new Map<string, number>();
    for (const r of candidates) {
      const k = `${windowKeyString(r)}#${r.revision}`;
      const since = revisableSince.get(k) ?? now;
      still.set(k, since);
      if (unrecorded.has(windowKeyString(r))) continue;
      if (now - since < turnOf(r, instances, engine.instanceId) * graceMs()) continue;
      if (await revise(r)) report.revised.push(keyOf(r));
    }
    revisableSince = still;
  }

  /** The window's result is written: its finalisation row, metrics, the lanes closed. */
  async function record(e: Unrecorded): Promise<void> {
    const { w } = e;
    const now = clock.now();
    const delaySeconds = Math.max(0, (now - e.lastPartialAt) / 1000);
    const row: FinalisationRow = {
      ...w,
      lanes: e.lanes,
      events: e.events,
      instance: engine.instanceId,
      finalisedAt: now,
      delaySeconds,
    };
    if (e.revision > 0) row.revision = e.revision;
    await store.insertFinalisation(row);
    unrecorded.delete(windowKeyString(w));
    // A revision is not a window finalised (the metrics count the first finalisation).
    if (e.revision > 0) return;
    // Counted once the store shows this instance's row is the one kept (look()).
    if (unconfirmed.size >= MAX_UNCONFIRMED) unconfirmed.delete(unconfirmed.keys().next().value!);
    unconfirmed.add(windowKeyString(w));
    closeThrough(w);
    log.debug(
      {
        model: w.model,
        version: w.version,
        window: w.sizeLabel,
        start: w.start,
        lanes: e.lanes,
        delaySeconds,
      },
      'window finalised',
    );
  }

  /**
   * Windows of a run that failed after they were handed to the engine: its writer writes them
   * now (they are still queued there), then they are recorded. Throws while the store fails.
   */
  async function recordUnrecorded(report: FinaliseReport): Promise<void> {
    if (unrecorded.size === 0) return;
    await engine.writeFinal([], () => '');
    for (const e of [...unrecorded.values()].sort((a, b) => a.w.end - b.w.end)) {
      await record(e);
      (e.revision > 0 ? report.revised : report.finalised).push(e.w);
    }
  }

  /** A finalised window: every lane here closes its series through it. */
  function closeThrough(w: Pick<WindowKey, 'model' | 'version' | 'sizeLabel' | 'end'>): boolean {
    if (!finalised.add(w)) return false;
    engine.lanes.closeThrough(w.model, w.version, w.sizeLabel, w.end);
    return true;
  }

  /** Reads the finalisations since the last look; answers the models finalised by others. */
  async function look(): Promise<{ foreign: number; models: Set<string> }> {
    const started = clock.now();
    const models = new Set<string>();
    let foreign = 0;
    let from = since;
    for (let page = 0; page < FINALISATIONS_PAGES; page++) {
      const rows = await store.finalisations(from, FINALISATIONS_PAGE, { revisions: true });
      for (const r of rows) {
        if ((r.revision ?? 0) > 0) {
          // A revision by another instance ('lane_late'): its latest result moves the gauges
          // (once: a look re-reads the margin before the previous one).
          const rk = `${windowKeyString(r)}#${r.revision}`;
          if (!revisionsSeen.has(rk)) {
            if (revisionsSeen.size >= MAX_UNCONFIRMED) revisionsSeen.clear();
            revisionsSeen.add(rk);
            if (r.instance !== engine.instanceId) models.add(r.model);
          }
          closeThrough(r);
          continue;
        }
        const k = windowKeyString(r);
        if (unconfirmed.delete(k) && r.instance === engine.instanceId) {
          metrics.clusterWindowsFinalised.inc({ model: r.model, window: r.sizeLabel });
          metrics.clusterFinalisationDelay.observe(r.delaySeconds);
        }
        // Own windows were closed when written; a newer one of another instance moves the gauges.
        if (closeThrough(r) && r.instance !== engine.instanceId) {
          foreign++;
          models.add(r.model);
        }
      }
      if (rows.length < FINALISATIONS_PAGE) {
        since = Math.max(since, started - LOOK_BACK_MARGIN_MS);
        return { foreign, models };
      }
      // A full page: go on from its last time (rows of that instant are read again: harmless).
      from = rows[rows.length - 1]!.finalisedAt;
      since = Math.max(since, Math.min(from, started - LOOK_BACK_MARGIN_MS));
    }
    return { foreign, models };
  }

  /** A lane opened since the last run (a partition assigned) closes every finalised series. */
  function closeNewLanes(): void {
    const ids = engine.lanes.ids().sort().join('\n');
    if (ids === lanesSeen) return;
    lanesSeen = ids;
    for (const s of finalised.series())
      engine.lanes.closeThrough(s.model, s.version, s.sizeLabel, s.end);
  }

  function setOf(progress: readonly LaneProgressRow[]): LaneSet {
    return laneSet({
      progress,
      kafka: opts.kafkaLanes !== undefined,
      kafkaLanes: opts.kafkaLanes?.(),
      now: clock.now(),
      laneTimeoutMs: opts.laneTimeoutMs,
      idleAfterMs: smallestIdleTimeout(opts.models),
    });
  }

  async function run(): Promise<FinaliseReport> {
    const report: FinaliseReport = { pending: 0, finalised: [], revised: [], foreign: 0 };
    try {
      closeNewLanes();
      await recordUnrecorded(report);
      const [progress, pending] = await Promise.all([
        store.laneProgress(),
        // The first run looks at every partial; later ones at those of the last week (the
        // scan grows with the table otherwise, once per instance per interval). A window
        // pending longer is looked at again by the next start.
        store.pendingWindows(PENDING_LIMIT, lookedBack ? clock.now() - PENDING_LOOKBACK_MS : 0),
      ]);
      lookedBack = true;
      const set = setOf(progress);
      report.pending = pending.length;
      // Oldest end first: a series is finalised in order (finalised.ts relies on it).
      const ready = pending
        .filter((w) => set.ready(w))
        .sort((a, b) => a.end - b.end || a.start - b.start);
      const instances = (set.lanes ?? []).filter(isHttpLane).map(instanceOfLane);
      const now = clock.now();
      /** Series with a window left to its preferred instance: their later windows wait too. */
      const deferred = new Set<string>();
      const stillReady = new Map<string, number>();
      let finalisedNow = 0;
      for (const w of ready) {
        const k = windowKeyString(w);
        const since = readySince.get(k) ?? now;
        stillReady.set(k, since);
        const series = `${w.model}\u0000${w.sizeLabel}\u0000${w.version}`;
        if (deferred.has(series) || unrecorded.has(k)) continue;
        const turn = turnOf(w, instances, engine.instanceId);
        if (now - since < turn * graceMs()) {
          deferred.add(series);
          continue;
        }
        if (await finalise(w)) {
          report.finalised.push(w);
          finalisedNow++;
        }
      }
      readySince = stillReady;
      report.pending -= finalisedNow;
      metrics.clusterWindowsPending.set(report.pending);
      await reviseAll(instances, report);
      const seen = await look();
      report.foreign = seen.foreign;
      if (seen.models.size > 0) {
        await restoreGauges({
          store,
          models: [...opts.models.values()].filter((m) => seen.models.has(m.id)),
          metrics,
          logger: quiet,
        });
      }
    } catch (err) {
      const retriable = !(err instanceof DriftdError) || err.retriable;
      log.error({ err, retriable }, 'finalisation run failed; retried by the next run');
    }
    return report;
  }

  function runOnce(): Promise<FinaliseReport> {
    const next = (running ?? Promise.resolve()).then(
      () => run(),
      () => run(),
    );
    const mine = next.finally(() => {
      if (running === mine) running = undefined;
    });
    running = mine;
    return mine;
  }

  function schedule(): void {
    if (state !== 'running') return;
    const delay = opts.intervalMs * (0.8 + 0.4 * random());
    timer = setTimeout(() => {
      void runOnce().finally(schedule);
    }, delay);
    timer.unref();
  }

  let closing: Promise<void> | undefined;
  return {
    finalised,
    async start() {
      if (state !== 'created') return;
      state = 'running';
      engine.setWindowOpen((model, b) => finalised.isOpen(model, b));
      try {
        await look();
      } catch (err) {
        log.warn({ err }, 'could not read the recent finalisations; the next run reads them');
      }
      closeNewLanes();
      schedule();
    },
    runOnce,
    async status(limit) {
      const [progress, pending] = await Promise.all([
        store.laneProgress(),
        store.pendingWindows(limit),
      ]);
      return clusterStatus({
        instance: engine.instanceId,
        lanesHere: engine.lanes.ids(),
        set: setOf(progress),
        progress,
        pending,
      });
    },
    close() {
      if (closing) return closing;
      closing = (async () => {
        const was = state;
        state = 'closing';
        if (timer) clearTimeout(timer);
        if (was === 'running') await runOnce();
        state = 'closed';
      })();
      return closing;
    },
  };
}
