import type { ModelConfig } from '../config/types.js';
import { BaselineError, InvalidInputError, LifecycleError } from '../errors.js';
import type { BaselineProfile, PredictionEvent, WindowBounds } from '../types.js';
import {
  createWindowState,
  type RecordMeta,
  type WindowState,
  type WindowStateSnapshot,
  windowKey,
} from './state.js';

/*
 * Event-time tumbling windows for one model.
 *
 * Windows: per (version, configured size) the windows [k·size, (k+1)·size), aligned to the
 * Unix epoch, end exclusive: an event at exactly `end` belongs to the next window.
 *
 * Watermark, per (model, version): max event time seen − allowedLateness. A window closes when
 * the watermark reaches its end (watermark ≥ end). So an event at most `allowedLateness`
 * behind the newest event is always accepted, and one further behind is accepted only while
 * its window happens to be still open.
 *
 * Idle close: when no event of a version arrived for `idleTimeoutMs` of wall-clock time
 * (the injected clock), `tick()` closes every open window of that version, whatever its end —
 * a quiet stream must still produce its last results. Each size then remembers the end of the
 * last window it closed (`closedThrough`); a later event whose window ends at or before it is
 * late, exactly as if the watermark had passed it. The watermark itself (max event time) is
 * not moved, so a stream that resumes with newer events carries on normally.
 *
 * Late events (their window of some size is closed) never change a closed result: the caller
 * stores them raw. They are counted per (version, size) in `lateTotals()`, and each is also
 * added to the `lateCount` of the oldest open window of that (version, size) — the window
 * whose result comes out next — or, when none is open, to the next one to open. So
 * Σ lateCount over results (plus what is still pending) equals the late total, and late
 * arrivals show up on a timeline.
 *
 * A window only exists once an event falls in it: no results for empty windows.
 */

export interface Clock {
  /** Wall-clock epoch ms. */
  now(): number;
}

export type CloseReason = 'watermark' | 'idle' | 'flush';

export interface ClosedWindow {
  bounds: WindowBounds;
  /** No longer written to by the manager. */
  state: WindowState;
  /** The baseline the window's sketches were built on (the one to evaluate against). */
  baseline: BaselineProfile;
  reason: CloseReason;
  /** clock.now() at close. */
  closedAt: number;
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
  | { status: 'no-baseline' };

export interface WindowManagerOptions {
  model: ModelConfig;
  /** The current baseline of a version; read when a window opens (and on restore). */
  baselineFor: (version: string) => BaselineProfile | undefined;
  clock: Clock;
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

export interface StreamSnapshot {
  version: string;
  /** Max event time seen; null before the first event. */
  maxTs: number | null;
  sizes: SizeSnapshot[];
}

/** Everything needed to resume after a crash, as plain JSON. */
export interface WindowManagerSnapshot {
  format: 1;
  model: string;
  /** clock.now() when taken. */
  takenAt: number;
  streams: StreamSnapshot[];
  open: WindowStateSnapshot[];
  /** Closed but not yet drained: restored into the closed queue. */
  closed: Array<{ state: WindowStateSnapshot; reason: CloseReason; closedAt: number }>;
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
   * Closes the windows of versions idle for `idleTimeoutMs` of clock time (a non-positive
   * timeout disables idle closing), then drains the queue.
   */
  tick(): ClosedWindow[];
  /**
   * Windows closed since the last drain, in close order; windows closed by the same event
   * (or tick, or flush) are ordered by end, then size.
   */
  drainClosed(): ClosedWindow[];
  /** Closes every open window (shutdown, end of replay) and drains the queue. */
  flushAll(): ClosedWindow[];
  /** Current watermark of a version (max event time − allowed lateness), null if unknown. */
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
}

interface SizeState {
  label: string;
  size: number;
  /** Open windows by start; usually one or two. */
  open: Map<number, WindowState>;
  /** Last window used, to skip the map lookup on the hot path. */
  current: WindowState | null;
  currentStart: number;
  closedThrough: number;
  lateTotal: number;
  pendingLate: number;
}

interface Stream {
  version: string;
  maxTs: number;
  lastArrival: number;
  /** Smallest end over open windows (all sizes), +∞ when none: cheap close check. */
  nextEnd: number;
  /** Baseline of each open window, by window key. */
  baselines: Map<string, BaselineProfile>;
  sizes: SizeState[];
}

const ACCEPTED: RecordResult = Object.freeze({ status: 'accepted' });
const NO_BASELINE: RecordResult = Object.freeze({ status: 'no-baseline' });

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
  const lateness = model.windows.allowedLatenessMs;
  const idleTimeout = model.windows.idleTimeoutMs;
  const streams = new Map<string, Stream>();
  let closedQueue: ClosedWindow[] = [];
  let lastStream: Stream | undefined;

  function newStream(version: string, now: number): Stream {
    const s: Stream = {
      version,
      maxTs: Number.NEGATIVE_INFINITY,
      lastArrival: now,
      nextEnd: Number.POSITIVE_INFINITY,
      baselines: new Map(),
      sizes: sizes.map((c) => ({
        label: c.label,
        size: c.ms,
        open: new Map(),
        current: null,
        currentStart: Number.NaN,
        closedThrough: Number.NEGATIVE_INFINITY,
        lateTotal: 0,
        pendingLate: 0,
      })),
    };
    streams.set(version, s);
    return s;
  }

  function recomputeNextEnd(stream: Stream): void {
    let next = Number.POSITIVE_INFINITY;
    for (const sz of stream.sizes) {
      for (const start of sz.open.keys()) if (start + sz.size < next) next = start + sz.size;
    }
    stream.nextEnd = next;
  }

  /** Closes the windows of `stream` ending at or before `limit` (all of them for +∞). */
  function closeStream(stream: Stream, limit: number, reason: CloseReason): void {
    const now = clock.now();
    const closed: ClosedWindow[] = [];
    for (const sz of stream.sizes) {
      for (const [start, state] of sz.open) {
        const end = start + sz.size;
        if (end > limit) continue;
        sz.open.delete(start);
        if (end > sz.closedThrough) sz.closedThrough = end;
        const key = windowKey(state.bounds);
        const baseline = stream.baselines.get(key)!;
        stream.baselines.delete(key);
        closed.push({ bounds: state.bounds, state, baseline, reason, closedAt: now });
      }
      if (sz.current !== null && !sz.open.has(sz.currentStart)) {
        sz.current = null;
        sz.currentStart = Number.NaN;
      }
    }
    if (closed.length === 0) return;
    closed.sort(byEndThenSize);
    for (const c of closed) closedQueue.push(c);
    recomputeNextEnd(stream);
  }

  function openWindow(
    stream: Stream,
    sz: SizeState,
    start: number,
    baseline: BaselineProfile,
    snapshot?: WindowStateSnapshot,
  ): WindowState {
    const bounds: WindowBounds = {
      model: model.id,
      version: stream.version,
      size: sz.size,
      sizeLabel: sz.label,
      start,
      end: start + sz.size,
    };
    const state = createWindowState({ bounds, model, baseline }, snapshot);
    if (sz.pendingLate > 0) {
      state.addLate(sz.pendingLate);
      sz.pendingLate = 0;
    }
    sz.open.set(start, state);
    stream.baselines.set(windowKey(bounds), baseline);
    if (bounds.end < stream.nextEnd) stream.nextEnd = bounds.end;
    return state;
  }

  function countLate(sz: SizeState): void {
    sz.lateTotal++;
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
      stream = streams.get(event.version) ?? newStream(event.version, now);
      lastStream = stream;
    }
    stream.lastArrival = now;
    if (ts > stream.maxTs) {
      stream.maxTs = ts;
      const wm = ts - lateness;
      if (wm >= stream.nextEnd) closeStream(stream, wm, 'watermark');
    }
    const wm = stream.maxTs - lateness;
    let late: LateWindow[] | undefined;
    const list = stream.sizes;
    for (let i = 0; i < list.length; i++) {
      const sz = list[i]!;
      const size = sz.size;
      const start = ts - (((ts % size) + size) % size);
      const end = start + size;
      if (end <= wm || end <= sz.closedThrough) {
        countLate(sz);
        if (late === undefined) late = [];
        late.push({ sizeLabel: sz.label, size, start, end });
        continue;
      }
      let state = sz.current;
      if (state === null || sz.currentStart !== start) {
        state = sz.open.get(start) ?? openWindow(stream, sz, start, baseline);
        sz.current = state;
        sz.currentStart = start;
      }
      state.record(event, meta);
    }
    return late === undefined ? ACCEPTED : { status: 'late', late };
  }

  function drainClosed(): ClosedWindow[] {
    const out = closedQueue;
    closedQueue = [];
    return out;
  }

  function tick(): ClosedWindow[] {
    if (idleTimeout > 0) {
      const now = clock.now();
      for (const stream of streams.values()) {
        if (
          stream.nextEnd !== Number.POSITIVE_INFINITY &&
          now - stream.lastArrival >= idleTimeout
        ) {
          closeStream(stream, Number.POSITIVE_INFINITY, 'idle');
        }
      }
    }
    return drainClosed();
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
        sizes: stream.sizes.map((sz) => ({
          label: sz.label,
          size: sz.size,
          closedThrough: Number.isFinite(sz.closedThrough) ? sz.closedThrough : null,
          lateTotal: sz.lateTotal,
          pendingLate: sz.pendingLate,
        })),
      });
      for (const sz of stream.sizes) {
        const starts = [...sz.open.keys()].sort((a, b) => a - b);
        for (const start of starts) open.push(sz.open.get(start)!.snapshot());
      }
    }
    return {
      format: 1,
      model: model.id,
      takenAt: clock.now(),
      streams: streamSnaps,
      open,
      closed: closedQueue.map((c) => ({
        state: c.state.snapshot(),
        reason: c.reason,
        closedAt: c.closedAt,
      })),
    };
  }

  function restore(snap: WindowManagerSnapshot): void {
    if (streams.size > 0 || closedQueue.length > 0) {
      throw new LifecycleError(`window manager of ${model.id}: restore() needs a fresh manager`);
    }
    if (snap.format !== 1) {
      throw new InvalidInputError(`window manager snapshot format ${String(snap.format)} is not 1`);
    }
    if (snap.model !== model.id) {
      throw new InvalidInputError(
        `window manager snapshot is of model ${snap.model}, not ${model.id}`,
      );
    }
    const now = clock.now();
    const baselineOf = (s: WindowStateSnapshot): BaselineProfile => {
      const b = baselineFor(s.bounds.version);
      if (b === undefined || b.id !== s.baselineId) {
        throw new BaselineError(
          `cannot restore window ${model.id}/${windowKey(s.bounds)}: it was built on baseline ${s.baselineId}, the current baseline of version ${s.bounds.version} is ${b?.id ?? 'missing'}`,
        );
      }
      return b;
    };
    // Validate everything before mutating, so a failed restore leaves the manager fresh.
    const pending = snap.closed.map((c) => {
      const baseline = baselineOf(c.state);
      return {
        bounds: c.state.bounds,
        state: createWindowState({ bounds: c.state.bounds, model, baseline }, c.state),
        baseline,
        reason: c.reason,
        closedAt: c.closedAt,
      };
    });
    const openBaselines = snap.open.map(baselineOf);

    for (const ss of snap.streams) {
      const stream = newStream(ss.version, now);
      stream.maxTs = ss.maxTs ?? Number.NEGATIVE_INFINITY;
      for (const sz of stream.sizes) {
        const saved = ss.sizes.find((x) => x.label === sz.label && x.size === sz.size);
        if (saved === undefined) continue;
        sz.closedThrough = saved.closedThrough ?? Number.NEGATIVE_INFINITY;
        sz.lateTotal = saved.lateTotal;
        sz.pendingLate = saved.pendingLate;
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
      openWindow(stream, sz, ws.bounds.start, baseline, ws);
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
    watermark(version) {
      const s = streams.get(version);
      return s === undefined || s.maxTs === Number.NEGATIVE_INFINITY ? null : s.maxTs - lateness;
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
  };
}

function byEndThenSize(a: ClosedWindow, b: ClosedWindow): number {
  return a.bounds.end - b.bounds.end || a.bounds.size - b.bounds.size;
}
