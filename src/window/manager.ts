import type { ModelConfig } from '../config/types.js';
import { BaselineError, InvalidInputError, LifecycleError } from '../errors.js';
import type {
  BaselineProfile,
  EventSource,
  PredictionEvent,
  RevisionReason,
  WindowBounds,
} from '../types.js';
import {
  UTC,
  type WindowGrid,
  type WindowSpan,
  windowGrid,
  windowKey,
  windowName,
} from './identity.js';
import {
  historyLength,
  resolveReference,
  restoreReference,
  snapshotReference,
  type WindowReference,
  type WindowReferenceSnapshot,
} from './reference.js';
import {
  createWindowState,
  type RecordMeta,
  type WindowState,
  type WindowStateSnapshot,
} from './state.js';

/*
 * Event-time tumbling windows for one model.
 *
 * Windows: per (version, configured size) the tumbling windows of src/window/identity.ts
 * (aligned on the epoch, or on local midnight in the model's time zone for whole-day sizes),
 * end exclusive: an event at exactly `end` belongs to the next window.
 *
 * Lanes: every event comes through a lane, an ordered input of its own: one per Kafka
 * topic/partition, one for HTTP, one for replay (`laneOf(meta.source)`). Each lane of a version
 * keeps its own max event time. A source announces the lanes it will deliver with `addLanes`
 * (the Kafka source does on every partition assignment), so a lane that has not delivered yet
 * holds the watermark back instead of being overtaken.
 *
 * Watermark, per (model, version): max over time of (min over active lanes of the lane's max
 * event time) − allowedLateness — Flink's per-partition watermarks. A lane is idle, and left
 * out of the min, once it delivered nothing of that version for `idleTimeoutMs` of wall-clock
 * (the injected clock); when every lane is idle the newest lane counts. The watermark never
 * moves back. A window closes when the watermark reaches its end (watermark ≥ end).
 *
 * An event is late when its window ends at or before max(its lane's max event time −
 * allowedLateness, the watermark) or at or before the last closed window of that size. So an
 * event at most `allowedLateness` behind the newest event of its own lane is accepted, and
 * lateness does not depend on how lanes interleave:
 *   As long as no lane goes idle, watermark ≤ min over lanes (max_L) − lateness ≤ any lane's
 *   own max − lateness, and every closed window ended at or before some earlier watermark. So
 *   "late" reduces to "window end ≤ own lane's max − lateness", a function of the lane's own
 *   sequence; and a window is only closed once every lane's own bound is past it, so no
 *   on-time event of any lane can find it closed. The windows' contents, late totals and
 *   lateCounts (below) are the same for any interleaving of the same per-lane sequences. This
 *   is what lets a Kafka consumer replay partitions after a crash, in whatever order the
 *   fetches come back, and rebuild the very same windows.
 * Idleness (wall-clock) and idle/flush closes are the exceptions: they trade this
 * determinism for progress when an input stops.
 *
 * Quiet streams: when no event of a version arrived for `idleTimeoutMs` of wall-clock time,
 * `tick()` queues a provisional result of every open window of that version ('idle': a copy
 * of what the window holds), once per quiet spell — a quiet stream still shows its results —
 * and the windows stay open. A pause never turns later on-time events late: when the stream
 * resumes, they are counted, and the window's final result (closed by the watermark, a flush
 * or the version's retirement) replaces the provisional one in the store (same window, later
 * closedAt).
 *
 * Late events (their window of some size is closed) never change a closed result: the caller
 * stores them raw. They are counted per (version, size) in `lateTotals()`, and each is also
 * added to the `lateCount` of the window of that size holding its lane's newest event time
 * (open whenever no lane went idle, see above), else of the oldest open window of that
 * (version, size), else of the next one to open. So Σ lateCount over results (plus what is
 * still pending) equals the late total, and late arrivals show up on a timeline.
 *
 * A window only exists once an event falls in it: no results for empty windows.
 */

export interface Clock {
  /** Wall-clock epoch ms. */
  now(): number;
}

/**
 * Why a window's result was produced: the watermark passed its end, or a flush (shutdown, end
 * of a replay, a quiet version retired to make room) closed it — final results both — or its
 * stream went quiet ('idle'): a provisional result of a window that stays open.
 */
export type CloseReason = 'watermark' | 'idle' | 'flush';

export interface ClosedWindow {
  /** Why its result is written, when not the close itself (a replay, a restart). */
  revisionReason?: RevisionReason;
  bounds: WindowBounds;
  /** No longer written to by the manager (for 'idle', a copy of the still-open window). */
  state: WindowState;
  /** The baseline the window's sketches were built on (the one to evaluate against). */
  baseline: BaselineProfile;
  reason: CloseReason;
  /** clock.now() at close. */
  closedAt: number;
  /** The window reference (models[].reference previous / rolling), resolved at close. */
  reference?: WindowReference | undefined;
  /** Cluster mode: the input lane whose window this is (src/cluster/lane-windows.ts). */
  lane?: string;
}

/** One closed window an event missed. */
export interface LateWindow {
  sizeLabel: string;
  size: number;
  start: number;
  end: number;
}

export type RecordResult =
  /** Counted in its window of every configured size. */
  | { status: 'accepted' }
  /**
   * Its window of at least one size had closed (listed in `late`); it was still counted in
   * the windows of the other sizes, if any. The caller stores it raw as late.
   */
  | { status: 'late'; late: LateWindow[] }
  /** No baseline for the event's version: nothing recorded, the watermark did not move. */
  | { status: 'no-baseline' }
  /**
   * A version new to the manager while `versions.maxActive` versions already have open
   * windows: nothing recorded (the caller stores it raw, not evaluated).
   */
  | { status: 'version-limit' };

export interface WindowManagerOptions {
  model: ModelConfig;
  /** The current baseline of a version; read when a window opens (and on restore). */
  baselineFor: (version: string) => BaselineProfile | undefined;
  /**
   * A stored baseline by id, for restore: a checkpointed window keeps the baseline it was
   * opened on even when a newer import has since become its version's (as it would have in
   * an uninterrupted run). Absent: only the version's current baseline restores.
   */
  baselineById?: (id: string) => BaselineProfile | undefined;
  clock: Clock;
  /** A version's state was dropped to make room for another (its gauges can go too). */
  onRetire?: (version: string) => void;
  /** A version got window state (its first event, or its first since it was retired). */
  onAdmit?: (version: string) => void;
}

export interface SizeSnapshot {
  label: string;
  size: number;
  /** Every window of this size ending at or before this is closed; null = none yet. */
  closedThrough: number | null;
  lateTotal: number;
  /** Late events not yet attributed to a window (none was open). */
  pendingLate: number;
}

export interface LaneSnapshot {
  lane: string;
  /** Max event time the lane delivered; null before its first event. */
  maxTs: number | null;
}

export interface StreamSnapshot {
  version: string;
  /** Max event time seen over all lanes; null before the first event. */
  maxTs: number | null;
  /** Format 2: the watermark (null before it is known) and every lane of the version. */
  watermark?: number | null;
  lanes?: LaneSnapshot[];
  sizes: SizeSnapshot[];
  /** Closed windows kept for window references (src/window/reference.ts), every size. */
  history?: WindowStateSnapshot[];
}

/**
 * Everything needed to resume after a crash, as plain JSON. Format 2 adds lanes; a format 1
 * snapshot (one watermark per version) restores with its max event time as the watermark.
 */
export interface WindowManagerSnapshot {
  format: 1 | 2;
  model: string;
  /** clock.now() when taken. */
  takenAt: number;
  streams: StreamSnapshot[];
  open: WindowStateSnapshot[];
  /** Closed but not yet drained: restored into the closed queue. */
  closed: Array<{
    state: WindowStateSnapshot;
    reason: CloseReason;
    closedAt: number;
    reference?: WindowReferenceSnapshot;
  }>;
  /** Per size, the latest window end closed by a version whose state was retired (see record). */
  retiredThrough?: Array<{ label: string; size: number; closedThrough: number }>;
}

export interface LateTotal {
  version: string;
  sizeLabel: string;
  late: number;
}

export interface WindowManager {
  readonly model: string;
  /**
   * Counts one event into its window of every configured size and advances the version's
   * watermark; windows the watermark passed are queued for `drainClosed()`.
   */
  record(event: PredictionEvent, meta?: RecordMeta): RecordResult;
  /**
   * Queues provisional results of the open windows of versions quiet for `idleTimeoutMs` of
   * clock time (once per quiet spell; a non-positive timeout disables it), then drains the
   * queue. The windows stay open.
   */
  tick(): ClosedWindow[];
  /**
   * Windows closed since the last drain, in close order; windows closed by the same event
   * (or tick, or flush) are ordered by end, then size.
   */
  drainClosed(): ClosedWindow[];
  /** Closes every open window (shutdown, end of replay) and drains the queue. */
  flushAll(): ClosedWindow[];
  /**
   * Announces lanes (see `laneOf`) a source is about to deliver, for every version: a lane
   * new to a version holds its watermark until it delivers or goes idle; a known lane counts
   * as active again from now.
   */
  addLanes(lanes: readonly string[]): void;
  /** The lanes announced with addLanes (a manager taking over from this one announces them again). */
  lanes(): string[];
  /** Current watermark of a version (see above), null before it is known. */
  watermark(version: string): number | null;
  openWindows(): WindowBounds[];
  lateTotals(): LateTotal[];
  snapshot(): WindowManagerSnapshot;
  /**
   * Resumes from a snapshot, on a manager that has seen nothing yet. Idle timers restart at
   * clock.now(). Open windows of a size no longer configured are closed at once ('flush').
   * @throws LifecycleError if the manager already has state; BaselineError when a version's
   *   baseline is missing or is not the one the window was built on
   */
  restore(snapshot: WindowManagerSnapshot): void;
  /**
   * Read-only, cluster mode (src/cluster/lane-windows.ts): per version, its watermark and
   * whether it is quiet: nothing of it for `idleTimeoutMs` of clock time (the rule of `tick`)
   * and, if it has open windows, their provisional copies of this quiet spell queued.
   */
  versions(): VersionProgress[];
  /**
   * Cluster mode: the window of `sizeLabel` ending at `end` was finalised elsewhere. Open
   * windows of that version and size ending at or before `end` are closed: one holding
   * events is queued for `drainClosed()` ('flush', final: its partial reaches the store, and
   * the finaliser revises the window if the lane counted more than was merged — an event
   * that reached an idle lane after its last progress row), an empty one is dropped. The
   * size counts as closed through `end`, so later events for them are late. A version not
   * seen yet starts closed through `end`.
   */
  closeThrough(version: string, sizeLabel: string, end: number): void;
}

export interface VersionProgress {
  version: string;
  watermark: number | null;
  quiet: boolean;
}

interface SizeState {
  label: string;
  size: number;
  grid: WindowGrid;
  /** Open windows by start; usually one or two. */
  open: Map<number, WindowState>;
  /** Last window used, to skip the map lookup on the hot path. */
  current: WindowState | null;
  currentStart: number;
  currentEnd: number;
  closedThrough: number;
  lateTotal: number;
  pendingLate: number;
  /** The last final closed windows, oldest first, kept for window references. */
  history: WindowState[];
}

interface Lane {
  maxTs: number;
  lastArrival: number;
}

interface Stream {
  version: string;
  /** Max event time over all lanes. */
  maxTs: number;
  /** Monotonic: max over time of (min over active lanes of maxTs) − lateness. */
  wm: number;
  /** min over active lanes of maxTs when `wm` was last computed: a lane at or below it may raise it. */
  floor: number;
  lanes: Map<string, Lane>;
  lastArrival: number;
  /** Smallest end over open windows (all sizes), +∞ when none: cheap close check. */
  nextEnd: number;
  /** `lastArrival` when the provisional results of this quiet spell were queued. */
  provisionalFor: number;
  /** Baseline of each open window, by window key. */
  baselines: Map<string, BaselineProfile>;
  sizes: SizeState[];
}

const ACCEPTED: RecordResult = Object.freeze({ status: 'accepted' });

/** The lane of an event's source: "topic/partition" for Kafka, else the source kind. */
export function laneOf(source: EventSource | undefined): string {
  if (source === undefined) return 'default';
  return source.kind === 'kafka' ? `${source.topic}/${source.partition}` : source.kind;
}

const NO_BASELINE: RecordResult = Object.freeze({ status: 'no-baseline' });
const VERSION_LIMIT: RecordResult = Object.freeze({ status: 'version-limit' });

/**
 * Creates the event-time window manager of one model. Pure: no timers, no I/O; the daemon
 * calls `record` per event, `drainClosed` after each batch and `tick` periodically.
 */
export function createWindowManager(options: WindowManagerOptions): WindowManager {
  const { model, baselineFor, clock } = options;
  const sizes = model.windows.sizes;
  if (sizes.length === 0) throw new InvalidInputError(`model ${model.id}: no window sizes`);
  for (const s of sizes) {
    if (!Number.isSafeInteger(s.ms) || s.ms <= 0) {
      throw new InvalidInputError(`model ${model.id}: window size ${s.label} is ${s.ms} ms`);
    }
  }
  const grids = sizes.map((s) => windowGrid(s.ms, model.timeZone ?? UTC));
  const lateness = model.windows.allowedLatenessMs;
  const keep = historyLength(model);
  const idleTimeout = model.windows.idleTimeoutMs;
  const streams = new Map<string, Stream>();
  const maxVersions = model.versions.maxActive;
  /**
   * Per size, the latest window end any retired version had closed. A version (re)admitted
   * later starts with its sizes closed through here, so a window that was closed and written
   * can never open again and be written a second time with part of its events.
   */
  const retiredThrough = sizes.map(() => Number.NEGATIVE_INFINITY);
  /** closeThrough marks of versions without state yet (applied when the version starts). */
  const finalisedThrough = new Map<string, Map<string, number>>();
  /** Lanes announced with addLanes: every new version starts with them. */
  const registered = new Set<string>();
  let closedQueue: ClosedWindow[] = [];
  let lastStream: Stream | undefined;
  // One-entry cache of the lane key, so the hot path builds no string per event.
  let lastSource: EventSource | undefined;
  let lastLaneKey = 'default';

  function newStream(version: string, now: number): Stream {
    const s: Stream = {
      version,
      maxTs: Number.NEGATIVE_INFINITY,
      wm: Number.NEGATIVE_INFINITY,
      floor: Number.NEGATIVE_INFINITY,
      lanes: new Map(),
      lastArrival: now,
      nextEnd: Number.POSITIVE_INFINITY,
      provisionalFor: Number.NaN,
      baselines: new Map(),
      sizes: sizes.map((c, i) => ({
        label: c.label,
        size: c.ms,
        grid: grids[i]!,
        open: new Map(),
        current: null,
        currentStart: Number.NaN,
        currentEnd: Number.NaN,
        closedThrough: retiredThrough[i]!,
        lateTotal: 0,
        pendingLate: 0,
        history: [],
      })),
    };
    for (const lane of registered)
      s.lanes.set(lane, { maxTs: Number.NEGATIVE_INFINITY, lastArrival: now });
    if (finalisedThrough.size > 0) {
      const marks = finalisedThrough.get(version);
      for (const sz of s.sizes) {
        const end = marks?.get(sz.label);
        if (end !== undefined && end > sz.closedThrough) sz.closedThrough = end;
      }
      finalisedThrough.delete(version);
    }
    streams.set(version, s);
    return s;
  }

  /**
   * The state of a version new to the manager, or undefined when `versions.maxActive`
   * versions are tracked and each is busy (an open window and an event within the idle
   * timeout). At the cap, the version that has gone longest without an event, among those
   * with no open window or quiet for the idle timeout, is retired first: its open windows are
   * closed (final results, reason 'flush'), its state dropped (its late total with it) and its
   * closed-through marks folded into `retiredThrough`. Memory is then bounded by maxActive
   * versions whatever producers send.
   */
  function admit(version: string, now: number): Stream | undefined {
    if (streams.size >= maxVersions) {
      let oldest: Stream | undefined;
      for (const s of streams.values()) {
        const quiet = idleTimeout > 0 && now - s.lastArrival >= idleTimeout;
        if (s.nextEnd !== Number.POSITIVE_INFINITY && !quiet) continue;
        if (oldest === undefined || s.lastArrival < oldest.lastArrival) oldest = s;
      }
      if (oldest === undefined) return undefined;
      closeStream(oldest, Number.POSITIVE_INFINITY, 'flush');
      oldest.sizes.forEach((sz, i) => {
        if (sz.closedThrough > retiredThrough[i]!) retiredThrough[i] = sz.closedThrough;
      });
      streams.delete(oldest.version);
      if (lastStream === oldest) lastStream = undefined;
      options.onRetire?.(oldest.version);
    }
    options.onAdmit?.(version);
    return newStream(version, now);
  }

  function isIdle(lane: Lane, now: number): boolean {
    return idleTimeout > 0 && now - lane.lastArrival >= idleTimeout;
  }

  /** Recomputes the lane minimum and moves the watermark (never back), closing what it passed. */
  function advance(stream: Stream, now: number): void {
    let min = Number.POSITIVE_INFINITY;
    let newest = Number.NEGATIVE_INFINITY;
    for (const lane of stream.lanes.values()) {
      if (lane.maxTs > newest) newest = lane.maxTs;
      if (lane.maxTs < min && !isIdle(lane, now)) min = lane.maxTs;
    }
    // Every lane idle: nothing to wait for, the newest lane counts.
    if (min === Number.POSITIVE_INFINITY) min = newest;
    stream.floor = min;
    const wm = min - lateness;
    if (wm > stream.wm) {
      stream.wm = wm;
      if (wm >= stream.nextEnd) closeStream(stream, wm, 'watermark');
    }
  }

  function recomputeNextEnd(stream: Stream): void {
    let next = Number.POSITIVE_INFINITY;
    for (const sz of stream.sizes) {
      for (const w of sz.open.values()) if (w.bounds.end < next) next = w.bounds.end;
    }
    stream.nextEnd = next;
  }

  /** Closes the windows of `stream` ending at or before `limit` (all of them for +∞). */
  function closeStream(stream: Stream, limit: number, reason: CloseReason): void {
    const now = clock.now();
    const closed: ClosedWindow[] = [];
    const sizeOf = new Map<ClosedWindow, SizeState>();
    for (const sz of stream.sizes) {
      for (const [start, state] of sz.open) {
        const end = state.bounds.end;
        if (end > limit) continue;
        sz.open.delete(start);
        if (end > sz.closedThrough) sz.closedThrough = end;
        const key = windowKey(state.bounds);
        const baseline = stream.baselines.get(key)!;
        stream.baselines.delete(key);
        const c: ClosedWindow = { bounds: state.bounds, state, baseline, reason, closedAt: now };
        closed.push(c);
        sizeOf.set(c, sz);
      }
      if (sz.current !== null && !sz.open.has(sz.currentStart)) {
        sz.current = null;
        sz.currentStart = Number.NaN;
        sz.currentEnd = Number.NaN;
      }
    }
    if (closed.length === 0) return;
    closed.sort(byEndThenSize);
    for (const c of closed) {
      // In end order: a window's predecessors are in the history before it is resolved.
      const sz = sizeOf.get(c)!;
      c.reference = referenceOf(sz, c);
      remember(sz, c.state);
      closedQueue.push(c);
    }
    recomputeNextEnd(stream);
  }

  function referenceOf(
    sz: SizeState,
    c: Pick<ClosedWindow, 'bounds' | 'baseline'>,
  ): WindowReference | undefined {
    return resolveReference({ model, bounds: c.bounds, baseline: c.baseline, history: sz.history });
  }

  /** Keeps a final closed window for the references of the next ones (the newest `keep`). */
  function remember(sz: SizeState, state: WindowState): void {
    if (keep === 0) return;
    sz.history.push(state);
    if (sz.history.length > 1) sz.history.sort((a, b) => a.bounds.start - b.bounds.start);
    while (sz.history.length > keep) sz.history.shift();
  }

  function openWindow(
    stream: Stream,
    sz: SizeState,
    span: WindowSpan,
    baseline: BaselineProfile,
    snapshot?: WindowStateSnapshot,
  ): WindowState {
    const bounds: WindowBounds = {
      model: model.id,
      version: stream.version,
      size: sz.size,
      sizeLabel: sz.label,
      start: span.start,
      end: span.end,
    };
    const state = createWindowState({ bounds, model, baseline }, snapshot);
    if (sz.pendingLate > 0) {
      state.addLate(sz.pendingLate);
      sz.pendingLate = 0;
    }
    sz.open.set(span.start, state);
    stream.baselines.set(windowKey(bounds), baseline);
    if (bounds.end < stream.nextEnd) stream.nextEnd = bounds.end;
    return state;
  }

  function countLate(sz: SizeState, laneMax: number): void {
    sz.lateTotal++;
    const own = sz.open.get(sz.grid.spanAt(laneMax).start);
    if (own !== undefined) {
      own.addLate(1);
      return;
    }
    let oldest: WindowState | undefined;
    let oldestStart = Number.POSITIVE_INFINITY;
    for (const [start, state] of sz.open) {
      if (start < oldestStart) {
        oldestStart = start;
        oldest = state;
      }
    }
    if (oldest === undefined) sz.pendingLate++;
    else oldest.addLate(1);
  }

  function laneKey(meta: RecordMeta | undefined): string {
    const source = meta?.source;
    if (source === lastSource) return lastLaneKey;
    if (
      source !== undefined &&
      lastSource !== undefined &&
      source.kind === 'kafka' &&
      lastSource.kind === 'kafka' &&
      source.partition === lastSource.partition &&
      source.topic === lastSource.topic
    ) {
      lastSource = source;
      return lastLaneKey;
    }
    lastSource = source;
    lastLaneKey = laneOf(source);
    return lastLaneKey;
  }

  function record(event: PredictionEvent, meta?: RecordMeta): RecordResult {
    const baseline = baselineFor(event.version);
    if (baseline === undefined) return NO_BASELINE;
    const ts = event.ts;
    if (!Number.isFinite(ts)) {
      throw new InvalidInputError(`event ${event.id}: ts ${ts} is not a finite epoch-ms time`);
    }
    const now = clock.now();
    let stream = lastStream;
    if (stream === undefined || stream.version !== event.version) {
      stream = streams.get(event.version) ?? admit(event.version, now);
      if (stream === undefined) return VERSION_LIMIT;
      lastStream = stream;
    }
    stream.lastArrival = now;
    const key = laneKey(meta);
    let lane = stream.lanes.get(key);
    let wasIdle = false;
    if (lane === undefined) {
      lane = { maxTs: Number.NEGATIVE_INFINITY, lastArrival: now };
      stream.lanes.set(key, lane);
      wasIdle = true; // a new lane enters the minimum
    } else {
      wasIdle = isIdle(lane, now);
      lane.lastArrival = now;
    }
    if (ts > stream.maxTs) stream.maxTs = ts;
    if (ts > lane.maxTs) {
      const previous = lane.maxTs;
      lane.maxTs = ts;
      if (stream.lanes.size === 1) {
        stream.floor = ts;
        const wm = ts - lateness;
        if (wm > stream.wm) {
          stream.wm = wm;
          if (wm >= stream.nextEnd) closeStream(stream, wm, 'watermark');
        }
      } else if (wasIdle || previous <= stream.floor) {
        // Only the lane holding the minimum (or one re-entering it) can move it.
        advance(stream, now);
      }
    } else if (wasIdle) {
      advance(stream, now);
    }
    const laneMax = lane.maxTs;
    const laneWm = laneMax - lateness;
    const limit = Math.max(laneWm, stream.wm);
    let late: LateWindow[] | undefined;
    const list = stream.sizes;
    for (let i = 0; i < list.length; i++) {
      const sz = list[i]!;
      let state = sz.current;
      let start = sz.currentStart;
      let end = sz.currentEnd;
      // Most events fall in the window of the event before (NaN bounds compare false).
      if (!(ts >= start && ts < end)) {
        const span = sz.grid.spanAt(ts);
        start = span.start;
        end = span.end;
        state = null;
      }
      if (end <= limit || end <= sz.closedThrough) {
        countLate(sz, laneMax);
        if (late === undefined) late = [];
        late.push({ sizeLabel: sz.label, size: sz.size, start, end });
        continue;
      }
      if (state === null) {
        state = sz.open.get(start) ?? openWindow(stream, sz, { start, end }, baseline);
        sz.current = state;
        sz.currentStart = start;
        sz.currentEnd = end;
      }
      state.record(event, meta);
    }
    return late === undefined ? ACCEPTED : { status: 'late', late };
  }

  function addLanes(lanes: readonly string[]): void {
    const now = clock.now();
    for (const key of lanes) {
      registered.add(key);
      for (const stream of streams.values()) {
        const lane = stream.lanes.get(key);
        if (lane === undefined) {
          stream.lanes.set(key, { maxTs: Number.NEGATIVE_INFINITY, lastArrival: now });
          stream.floor = Number.NEGATIVE_INFINITY;
        } else {
          lane.lastArrival = now;
          if (lane.maxTs < stream.floor) stream.floor = lane.maxTs;
        }
      }
    }
  }

  function drainClosed(): ClosedWindow[] {
    const out = closedQueue;
    closedQueue = [];
    return out;
  }

  function tick(): ClosedWindow[] {
    if (idleTimeout > 0) {
      const now = clock.now();
      // Lanes that went idle leave the minimum: the watermark may move on without them.
      for (const stream of streams.values()) if (stream.lanes.size > 1) advance(stream, now);
      for (const stream of streams.values()) {
        if (
          stream.nextEnd !== Number.POSITIVE_INFINITY &&
          now - stream.lastArrival >= idleTimeout &&
          stream.provisionalFor !== stream.lastArrival
        ) {
          stream.provisionalFor = stream.lastArrival;
          queueProvisional(stream, now);
        }
      }
    }
    return drainClosed();
  }

  /** Queues a provisional result (a copy) of every open window of a quiet stream. */
  function queueProvisional(stream: Stream, now: number): void {
    const out: ClosedWindow[] = [];
    for (const sz of stream.sizes) {
      for (const state of sz.open.values()) {
        const baseline = stream.baselines.get(windowKey(state.bounds))!;
        const copy = createWindowState({ bounds: state.bounds, model, baseline }, state.snapshot());
        out.push({
          bounds: state.bounds,
          state: copy,
          baseline,
          reason: 'idle',
          closedAt: now,
          reference: referenceOf(sz, { bounds: state.bounds, baseline }),
        });
      }
    }
    out.sort(byEndThenSize);
    for (const c of out) closedQueue.push(c);
  }

  function flushAll(): ClosedWindow[] {
    for (const stream of streams.values()) {
      closeStream(stream, Number.POSITIVE_INFINITY, 'flush');
    }
    return drainClosed();
  }

  function snapshot(): WindowManagerSnapshot {
    const open: WindowStateSnapshot[] = [];
    const streamSnaps: StreamSnapshot[] = [];
    for (const stream of streams.values()) {
      streamSnaps.push({
        version: stream.version,
        maxTs: Number.isFinite(stream.maxTs) ? stream.maxTs : null,
        watermark: Number.isFinite(stream.wm) ? stream.wm : null,
        lanes: [...stream.lanes].map(([lane, l]) => ({
          lane,
          maxTs: Number.isFinite(l.maxTs) ? l.maxTs : null,
        })),
        sizes: stream.sizes.map((sz) => ({
          label: sz.label,
          size: sz.size,
          closedThrough: Number.isFinite(sz.closedThrough) ? sz.closedThrough : null,
          lateTotal: sz.lateTotal,
          pendingLate: sz.pendingLate,
        })),
        ...(keep > 0
          ? { history: stream.sizes.flatMap((sz) => sz.history.map((h) => h.snapshot())) }
          : {}),
      });
      for (const sz of stream.sizes) {
        const starts = [...sz.open.keys()].sort((a, b) => a - b);
        for (const start of starts) open.push(sz.open.get(start)!.snapshot());
      }
    }
    return {
      format: 2,
      model: model.id,
      takenAt: clock.now(),
      streams: streamSnaps,
      open,
      closed: closedQueue.map((c) => ({
        state: c.state.snapshot(),
        reason: c.reason,
        closedAt: c.closedAt,
        ...(c.reference === undefined ? {} : { reference: snapshotReference(c.reference) }),
      })),
      retiredThrough: sizes.flatMap((c, i) =>
        Number.isFinite(retiredThrough[i]!)
          ? [{ label: c.label, size: c.ms, closedThrough: retiredThrough[i]! }]
          : [],
      ),
    };
  }

  function restore(snap: WindowManagerSnapshot): void {
    if (streams.size > 0 || closedQueue.length > 0) {
      throw new LifecycleError(`window manager of ${model.id}: restore() needs a fresh manager`);
    }
    if (snap.format !== 1 && snap.format !== 2) {
      throw new InvalidInputError(
        `window manager snapshot format ${String(snap.format)} is not 1 or 2`,
      );
    }
    if (snap.model !== model.id) {
      throw new InvalidInputError(
        `window manager snapshot is of model ${snap.model}, not ${model.id}`,
      );
    }
    const now = clock.now();
    const baselineOf = (s: WindowStateSnapshot): BaselineProfile => {
      const b = options.baselineById?.(s.baselineId) ?? baselineFor(s.bounds.version);
      if (b === undefined || b.id !== s.baselineId) {
        throw new BaselineError(
          `cannot restore window ${model.id}/${windowName(s.bounds)}: it was built on baseline ${s.baselineId}, the current baseline of version ${s.bounds.version} is ${b?.id ?? 'missing'}`,
        );
      }
      return b;
    };
    // Validate everything before mutating, so a failed restore leaves the manager fresh.
    const pending = snap.closed.map((c) => {
      const baseline = baselineOf(c.state);
      const closed: ClosedWindow = {
        bounds: c.state.bounds,
        state: createWindowState({ bounds: c.state.bounds, model, baseline }, c.state),
        baseline,
        reason: c.reason,
        closedAt: c.closedAt,
      };
      // Closed before the restart, written after it: its revision says so.
      if (c.reason !== 'idle') closed.revisionReason = 'restart';
      if (c.reference !== undefined)
        closed.reference = restoreReference(c.reference, model, baseline);
      return closed;
    });
    const openBaselines = snap.open.map(baselineOf);
    sizes.forEach((c, i) => {
      const saved = snap.retiredThrough?.find((r) => r.label === c.label && r.size === c.ms);
      if (saved !== undefined) retiredThrough[i] = saved.closedThrough;
    });

    for (const ss of snap.streams) {
      const stream = newStream(ss.version, now);
      stream.maxTs = ss.maxTs ?? Number.NEGATIVE_INFINITY;
      if (ss.lanes === undefined) {
        // Format 1: one watermark per version, no lanes.
        stream.wm = stream.maxTs - lateness;
      } else {
        stream.wm = ss.watermark ?? Number.NEGATIVE_INFINITY;
        for (const l of ss.lanes) {
          stream.lanes.set(l.lane, {
            maxTs: l.maxTs ?? Number.NEGATIVE_INFINITY,
            lastArrival: now,
          });
        }
      }
      stream.floor = Number.NEGATIVE_INFINITY;
      for (const sz of stream.sizes) {
        const saved = ss.sizes.find((x) => x.label === sz.label && x.size === sz.size);
        if (saved === undefined) continue;
        sz.closedThrough = saved.closedThrough ?? Number.NEGATIVE_INFINITY;
        sz.lateTotal = saved.lateTotal;
        sz.pendingLate = saved.pendingLate;
      }
      // History on another baseline than the version's current one could never be summed.
      const current = baselineFor(ss.version);
      for (const h of ss.history ?? []) {
        const sz = stream.sizes.find(
          (x) => x.label === h.bounds.sizeLabel && x.size === h.bounds.size,
        );
        if (sz === undefined || current === undefined || current.id !== h.baselineId) continue;
        remember(sz, createWindowState({ bounds: h.bounds, model, baseline: current }, h));
      }
    }
    closedQueue.push(...pending);
    const orphans: ClosedWindow[] = [];
    snap.open.forEach((ws, i) => {
      const baseline = openBaselines[i]!;
      const stream = streams.get(ws.bounds.version) ?? newStream(ws.bounds.version, now);
      const sz = stream.sizes.find(
        (x) => x.label === ws.bounds.sizeLabel && x.size === ws.bounds.size,
      );
      if (sz === undefined) {
        // The size is no longer configured: close what was collected rather than lose it.
        const state = createWindowState({ bounds: ws.bounds, model, baseline }, ws);
        orphans.push({ bounds: state.bounds, state, baseline, reason: 'flush', closedAt: now });
        return;
      }
      openWindow(stream, sz, { start: ws.bounds.start, end: ws.bounds.end }, baseline, ws);
    });
    orphans.sort(byEndThenSize);
    closedQueue.push(...orphans);
  }

  return {
    model: model.id,
    record,
    tick,
    drainClosed,
    flushAll,
    addLanes,
    lanes: () => [...registered],
    watermark(version) {
      const s = streams.get(version);
      return s === undefined || s.wm === Number.NEGATIVE_INFINITY ? null : s.wm;
    },
    openWindows() {
      const out: WindowBounds[] = [];
      for (const stream of streams.values()) {
        for (const sz of stream.sizes) for (const w of sz.open.values()) out.push({ ...w.bounds });
      }
      return out.sort((a, b) => a.end - b.end || a.size - b.size);
    },
    lateTotals() {
      const out: LateTotal[] = [];
      for (const stream of streams.values()) {
        for (const sz of stream.sizes) {
          out.push({ version: stream.version, sizeLabel: sz.label, late: sz.lateTotal });
        }
      }
      return out;
    },
    snapshot,
    restore,
    versions() {
      const now = clock.now();
      const out: VersionProgress[] = [];
      for (const s of streams.values()) {
        out.push({
          version: s.version,
          watermark: s.wm === Number.NEGATIVE_INFINITY ? null : s.wm,
          // Its open windows' provisional copies of this quiet spell are queued (`tick`).
          quiet:
            idleTimeout > 0 &&
            now - s.lastArrival >= idleTimeout &&
            (s.nextEnd === Number.POSITIVE_INFINITY || s.provisionalFor === s.lastArrival),
        });
      }
      return out;
    },
    closeThrough(version, sizeLabel, end) {
      const stream = streams.get(version);
      if (stream === undefined) {
        let marks = finalisedThrough.get(version);
        if (marks === undefined) {
          marks = new Map();
          finalisedThrough.set(version, marks);
        }
        if (end > (marks.get(sizeLabel) ?? Number.NEGATIVE_INFINITY)) marks.set(sizeLabel, end);
        return;
      }
      const now = clock.now();
      const closed: ClosedWindow[] = [];
      for (const sz of stream.sizes) {
        if (sz.label !== sizeLabel) continue;
        for (const [start, state] of sz.open) {
          if (state.bounds.end > end) continue;
          sz.open.delete(start);
          const key = windowKey(state.bounds);
          const baseline = stream.baselines.get(key)!;
          stream.baselines.delete(key);
          // Its events may go beyond the lane's provisional partial the window was finalised
          // from (an event after the lane's last idle progress row): its final partial is
          // written, and the finaliser revises the window if it holds more than was merged.
          if (state.count > 0) {
            closed.push({ bounds: state.bounds, state, baseline, reason: 'flush', closedAt: now });
          }
        }
        if (sz.current !== null && !sz.open.has(sz.currentStart)) {
          sz.current = null;
          sz.currentStart = Number.NaN;
          sz.currentEnd = Number.NaN;
        }
        if (end > sz.closedThrough) sz.closedThrough = end;
      }
      closed.sort(byEndThenSize);
      for (const c of closed) closedQueue.push(c);
      recomputeNextEnd(stream);
    },
  };
}

function byEndThenSize(a: ClosedWindow, b: ClosedWindow): number {
  return a.bounds.end - b.bounds.end || a.bounds.size - b.bounds.size;
}
