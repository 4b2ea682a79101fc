import { estimatesPerformance } from '../baseline/cbpe.js';
import { modelConfigHash } from '../config/hash.js';
import type { ModelConfig } from '../config/types.js';
import type { Metrics } from '../export/metrics.js';
import type { FairnessResult } from '../stats/fairness.js';
import type { CbpeEstimate } from '../stats/index.js';
import type { FairnessRowsQuery, FairnessWindowResult } from '../store/types.js';
import type {
  BaselineProfile,
  PerformanceResult,
  RevisionReason,
  WindowBounds,
  WindowResult,
} from '../types.js';
import { VERSION } from '../version.js';
import {
  countStoredOutcomes,
  evaluateWindowFairness,
  type StoredOutcomes,
  storedOutcomeQuery,
  type WindowFairnessSnapshot,
} from '../window/fairness.js';
import { type Clock, windowAt, windowKey } from '../window/index.js';
import {
  computePerformance,
  estimateGap,
  estimateRecord,
  type LabeledPrediction,
} from '../window/performance.js';
import {
  evaluateSegmentPerformance,
  type SegmentedPrediction,
} from '../window/segment-performance.js';
import { type SegmentField, segmentFields } from '../window/segments.js';
import { direct, type StoreWrites, type Write } from './store-writes.js';

/** What the performance scheduler reads from and writes to the store. */
export interface PerformanceStore {
  insertPerformance(rows: readonly PerformanceResult[]): Promise<void>;
  labeledPredictions(q: {
    model: string;
    version: string;
    from: number;
    to: number;
    /** Segment fields whose values come with each prediction (`segmentValues`, in order). */
    segmentFields?: readonly string[];
  }): Promise<Array<LabeledPrediction & { id: string; segmentValues?: readonly unknown[] }>>;
  /**
   * Stored predictions and labels per protected-attribute value (optional: without it, no
   * fairness is computed).
   */
  fairnessRows?(q: FairnessRowsQuery): Promise<StoredOutcomes[]>;
  /** Appends fairness computations (optional: without it, fairness is only exported). */
  insertFairness?(rows: readonly FairnessWindowResult[]): Promise<void>;
  /** Stored performance records (optional: without it an estimate does not survive a restart). */
  queryPerformance?(q: {
    model: string;
    window: string;
    version: string;
    from: number;
    to: number;
  }): Promise<PerformanceResult[]>;
  /** Whether the model has any stored label (optional: without it, every recompute joins). */
  hasLabels?(model: string): Promise<boolean>;
  queryDrift(q: {
    model: string;
    window: string;
    version?: string;
    from: number;
    to: number;
    segment?: string;
  }): Promise<WindowResult[]>;
}

/**
 * Performance of closed windows: which windows are due for a recompute (a window result was
 * written and its raw rows are stored, or labels arrived for its predictions), and the
 * recompute itself (the label join in the store, the metrics, the insert). Fairness per
 * protected group (models[].fairness) is recomputed with it, from the stored predictions and
 * labels: every computation is appended to the store (`fairness_results`, which outlives the
 * raw events) and then set on the fairness gauges. With models[].segments, each recompute with
 * labels also writes the performance of every segment of the window (`segment` set), from the
 * same labelled predictions split as the window split its events (src/window/segment-performance.ts).
 */
export interface PerformanceScheduler {
  /**
   * A window result is durable: remembers its event count (label coverage) and baseline. A
   * segment's result (written after its window's) remembers the segment's event count.
   */
  windowWritten(r: WindowResult): void;
  /** Forgets the oldest event counts beyond the cap (bounded memory). */
  trim(): void;
  /** The window is due for a recompute. */
  markDue(b: WindowBounds): void;
  /** Labels of `model` are stored. */
  labelsStored(model: string): void;
  /**
   * Labels arrived for predictions stored at these times: their closed windows are due
   * (still-open windows get their performance when they close).
   */
  labelled(
    model: ModelConfig,
    times: ReadonlyArray<{ version: string; ts: number }>,
    isOpen: (b: WindowBounds) => boolean,
  ): void;
  /** Recomputes every due window; never overlapping (a call during a run waits, then runs). */
  recompute(write?: Write): Promise<void>;
  /** Nothing due, no recompute running. */
  idle(): boolean;
}

/** What the scheduler keeps of a closed window. */
interface ClosedWindow {
  eventCount: number;
  baselineId: string;
  /** The label-free estimate (not stored: a window that fell out of memory has no gap). */
  estimate: CbpeEstimate | undefined;
  /** When its result was written (wall-clock ms). */
  closedAt: number;
  /**
   * Event counts of its segments, by name, when known in memory (a segment without events has
   * none); undefined: read them from the store.
   */
  segments?: Map<string, number>;
}

/** A window result as remembered; `written`: just written here, its segments' results follow. */
function closedWindow(r: WindowResult, written: boolean): ClosedWindow {
  const w: ClosedWindow = {
    eventCount: r.eventCount,
    baselineId: r.baselineId,
    estimate: r.estimate,
    closedAt: r.closedAt,
  };
  if (written) w.segments = new Map();
  return w;
}

function coverage(labeled: number, events: number): number {
  return events > 0 ? Math.min(1, labeled / events) : 0;
}

export function createPerformanceScheduler(opts: {
  store: PerformanceStore;
  models: ReadonlyMap<string, ModelConfig>;
  clock: Clock;
  metrics: Metrics;
  writes: StoreWrites;
  onPerformance?: ((result: PerformanceResult) => void) | undefined;
  /** Why this process writes performance, when not a close or labels (a replay). */
  revisionReason?: RevisionReason | undefined;
  /**
   * After each write of performance records, the whole traffic's (version comparisons take
   * their realised metrics).
   */
  afterWrite?: ((rows: readonly PerformanceResult[], write: Write) => Promise<void>) | undefined;
  /** A loaded baseline by id (segments: the window's baseline defines them; without it, none). */
  baselineById?: ((id: string) => BaselineProfile | undefined) | undefined;
  /**
   * Cluster mode: a window `labelled` is told is open may already be finalised by another
   * instance, whose performance computation may have run before these labels were stored. Its
   * labels make it due all the same; the recompute reads its result from the store (none yet:
   * skipped, and its finaliser computes it after these labels). @default false
   */
  openMayBeFinalisedElsewhere?: boolean | undefined;
}): PerformanceScheduler {
  const { store, models, clock, metrics, writes } = opts;
  // Closed windows' event counts, for label coverage when labels arrive after the close.
  // With each, the window's label-free estimate (not stored: a window that fell out of this
  // map gets its realised metrics but no estimate gap).
  const closedCounts = new Map<string, ClosedWindow>();
  const dirtyWindows = new Map<string, WindowBounds>();
  /** Windows marked because labels arrived for them (their rewrite's revision reason). */
  const labelledWindows = new Set<string>();

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

  /** The closed window's event count and baseline: in memory since its close, else stored. */
  async function closedWindowOf(b: WindowBounds): Promise<ClosedWindow | undefined> {
    const known = closedCounts.get(windowKey(b));
    if (known) return known;
    // Of the window's version (several versions share a window's span).
    const [r] = await store.queryDrift({
      model: b.model,
      window: b.sizeLabel,
      version: b.version,
      from: b.start,
      to: b.start + 1,
    });
    return r?.version === b.version ? closedWindow(r, false) : undefined;
  }

  /** The event count of each segment of a closed window (label coverage per segment). */
  async function segmentCountsOf(b: WindowBounds, w: ClosedWindow): Promise<Map<string, number>> {
    if (w.segments !== undefined) return w.segments;
    const rows = await store.queryDrift({
      model: b.model,
      window: b.sizeLabel,
      version: b.version,
      from: b.start,
      to: b.start + 1,
      segment: '*',
    });
    return new Map(rows.map((r) => [r.segment ?? '', r.eventCount]));
  }

  /** The window's segment fields (those its baseline has segments of), for the label join. */
  function segmentFieldsOf(model: ModelConfig, w: ClosedWindow): SegmentField[] {
    if (model.segments === undefined || opts.baselineById === undefined) return [];
    const baseline = opts.baselineById(w.baselineId);
    return baseline === undefined ? [] : segmentFields(model, baseline);
  }

  // Models known to have labels (stays true); a "no" is asked again after a while, since
  // another instance (or the HTTP API) may store the first labels.
  const labelsSeen = new Set<string>();
  const noLabelsUntil = new Map<string, number>();
  /** Labelled windows open here but perhaps finalised elsewhere (openMayBeFinalisedElsewhere). */
  const unconfirmed = new Map<string, number>();
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

  async function fairnessOf(
    model: ModelConfig,
    b: WindowBounds,
  ): Promise<Record<string, FairnessResult>> {
    const counts: WindowFairnessSnapshot = {};
    for (const a of model.fairness?.attributes ?? []) {
      const rows = await store.fairnessRows!({
        model: b.model,
        version: b.version,
        from: b.start,
        to: b.end,
        ...storedOutcomeQuery(model, a),
      });
      counts[a.field] = countStoredOutcomes(model, a.field, rows);
    }
    return evaluateWindowFairness(model, counts);
  }

  /**
   * The window's label-free estimate as performance keys: in memory since its close, else
   * (after a restart) carried over from its stored record, which a new record replaces.
   */
  async function estimateOf(
    model: ModelConfig,
    b: WindowBounds,
    write: Write,
  ): Promise<Record<string, number>> {
    const known = closedCounts.get(windowKey(b))?.estimate;
    if (known) return estimateRecord(known);
    if (!estimatesPerformance(model) || store.queryPerformance === undefined) return {};
    const query = store.queryPerformance.bind(store);
    const prior = await write('query_performance', () =>
      query({
        model: b.model,
        window: b.sizeLabel,
        version: b.version,
        from: b.start,
        to: b.start + 1,
      }),
    );
    const out: Record<string, number> = {};
    for (const [k, v] of Object.entries(prior[0]?.metrics ?? {})) {
      if (k.startsWith('estimated_')) out[k] = v;
    }
    return out;
  }

  let recomputing: Promise<void> | null = null;
  async function recompute(write: Write = direct): Promise<void> {
    // Never overlapping: a call during a run waits for it, then runs again for what it left.
    while (recomputing) await recomputing;
    if (dirtyWindows.size === 0) return;
    const batch = [...dirtyWindows.values()];
    const labelled = new Set(labelledWindows);
    const maybeOpen = new Map(unconfirmed);
    dirtyWindows.clear();
    labelledWindows.clear();
    unconfirmed.clear();
    // A window skipped for want of labels is not due again unless labels arrive for it: so a
    // "no" holds for one run only. Another instance (cluster mode) may have stored the first
    // labels since, for windows this one closes now (found by test/e2e/cluster-kafka.test.ts).
    noLabelsUntil.clear();
    recomputing = (async () => {
      const out: PerformanceResult[] = [];
      const fairness: Array<[WindowBounds, Record<string, FairnessResult>, ModelConfig]> = [];
      for (const b of batch) {
        const model = models.get(b.model);
        if (!model) continue;
        // Open here, perhaps finalised elsewhere: only if its result is stored; closed after
        // its labels came, it is a close (as on one instance), not late labels.
        const labelledAt = maybeOpen.get(windowKey(b));
        if (labelledAt !== undefined) {
          const c = await write('query_drift', () => closedWindowOf(b));
          if (c === undefined) continue;
          if (c.closedAt >= labelledAt) labelled.delete(windowKey(b));
        }
        // Selection rates need no label: fairness is computed for every closed window.
        if (model.fairness && store.fairnessRows) {
          fairness.push([b, await write('fairness_rows', () => fairnessOf(model, b)), model]);
        }
        const estimated = await estimateOf(model, b, write);
        const hasEstimate = Object.keys(estimated).length > 0;
        // A model without any label has no performance: skip the join.
        const labels = await write('has_labels', () => labelsExist(b.model));
        if (!labels && !hasEstimate) continue;
        const closed = await write('query_drift', () => closedWindowOf(b));
        if (closed === undefined) continue;
        const eventCount = closed.eventCount;
        const fields = segmentFieldsOf(model, closed);
        // One join for the whole traffic and its segments: each prediction with its segment values.
        const pairs: SegmentedPrediction[] = labels
          ? await write('labeled_predictions', () =>
              store.labeledPredictions({
                model: b.model,
                version: b.version,
                from: b.start,
                to: b.end,
                ...(fields.length > 0 ? { segmentFields: fields.map((f) => f.field) } : {}),
              }),
            )
          : [];
        if (pairs.length === 0 && !hasEstimate) continue;
        // Before any label: the estimate alone (labeled 0); after: realised, estimate and gap.
        const realised = pairs.length === 0 ? {} : computePerformance(model, pairs);
        const whole: PerformanceResult = {
          model: b.model,
          version: b.version,
          size: b.size,
          sizeLabel: b.sizeLabel,
          start: b.start,
          end: b.end,
          labeled: pairs.length,
          coverage: coverage(pairs.length, eventCount),
          metrics: { ...realised, ...estimated, ...estimateGap(estimated, realised) },
          computedAt: clock.now(),
          driftdVersion: VERSION,
          configHash: modelConfigHash(model),
          revisionReason:
            opts.revisionReason ??
            (labelled.has(windowKey(b)) && pairs.length > 0 ? 'late_labels' : 'close'),
        };
        out.push(whole);
        if (pairs.length === 0 || fields.length === 0) continue;
        // Segments have realised metrics only (no label-free estimator of their own).
        const counts = await write('query_drift', () => segmentCountsOf(b, closed));
        for (const s of evaluateSegmentPerformance(model, fields, pairs)) {
          out.push({
            ...whole,
            segment: s.segment,
            labeled: s.labeled,
            coverage: coverage(s.labeled, counts.get(s.segment) ?? 0),
            metrics: s.metrics,
          });
        }
      }
      if (fairness.length > 0) {
        const rows: FairnessWindowResult[] = fairness.map(([b, attributes, model]) => ({
          model: b.model,
          version: b.version,
          size: b.size,
          sizeLabel: b.sizeLabel,
          start: b.start,
          end: b.end,
          attributes,
          writtenAt: clock.now(),
          driftdVersion: VERSION,
          // The config the verdicts were judged with (a reload may swap it meanwhile).
          configHash: modelConfigHash(model),
        }));
        // Stored first: the gauges (and the alert's consecutive count) show what a restart
        // finds in the store.
        const written = store.insertFairness
          ? await writes.insertResults(
              'fairness_results',
              'insert_fairness',
              'fairness_result',
              rows,
              (batch) => store.insertFairness!(batch),
              write,
            )
          : rows;
        for (const r of [...written].sort((x, y) => x.start - y.start)) {
          metrics.recordFairness(r, r.attributes);
        }
      }
      if (out.length > 0) {
        const written = await writes.insertResults(
          'performance',
          'insert_performance',
          'performance',
          out,
          (rows) => store.insertPerformance(rows),
          write,
        );
        // Gauges show the newest window per series, whatever order the recompute ran in. A
        // segment's record is shown and nothing else hangs on it (verdicts, comparisons).
        const whole: PerformanceResult[] = [];
        for (const p of [...written].sort((a, b) => a.start - b.start)) {
          if (p.segment) {
            metrics.recordSegmentPerformance(p);
            continue;
          }
          whole.push(p);
          metrics.recordPerformance(p);
          opts.onPerformance?.(p);
        }
        await opts.afterWrite?.(whole, write);
      }
    })();
    try {
      await recomputing;
    } catch (err) {
      // Derived data: keep the windows marked so the next run recomputes them.
      for (const b of batch) if (!dirtyWindows.has(windowKey(b))) dirtyWindows.set(windowKey(b), b);
      for (const k of labelled) labelledWindows.add(k);
      throw err;
    } finally {
      recomputing = null;
    }
  }

  return {
    windowWritten(r) {
      if (r.segment) {
        // Its window's result was written just before it (result-writer.ts).
        const w = closedCounts.get(windowKey(r));
        if (w === undefined) return;
        w.segments ??= new Map();
        w.segments.set(r.segment, r.eventCount);
        return;
      }
      // The estimate is recorded as soon as the window is written, labels or not.
      if (r.estimate) dirtyWindows.set(windowKey(r), r);
      closedCounts.set(windowKey(r), closedWindow(r, true));
    },
    trim: trimClosedCounts,
    markDue(b) {
      dirtyWindows.set(windowKey(b), b);
    },
    labelsStored(model) {
      labelsSeen.add(model);
    },
    labelled(model, times, isOpen) {
      for (const t of times) {
        for (const size of model.windows.sizes) {
          const b = windowAt(model.id, t.version, size, t.ts, model.timeZone);
          const key = windowKey(b);
          // Still-open windows get their performance when they close (one instance).
          const closed = closedCounts.has(key) || !isOpen(b);
          if (closed || opts.openMayBeFinalisedElsewhere) {
            dirtyWindows.set(key, b);
            labelledWindows.add(key);
            // The first labels' time: was the window closed before them or after?
            if (!closed && !unconfirmed.has(key)) unconfirmed.set(key, clock.now());
          }
        }
      }
    },
    recompute,
    idle: () => dirtyWindows.size === 0 && recomputing === null,
  };
}
