import type { ModelConfig } from '../config/types.js';
import { InvalidInputError } from '../errors.js';
import type {
  CategoricalSketch,
  CbpeModel,
  CbpeSketch,
  CbpeSnapshot,
  NumericSketch,
  SketchSnapshot,
  SketchView,
} from '../stats/index.js';
import { createCategoricalSketch, createCbpeSketch, createNumericSketch } from '../stats/index.js';
import type {
  BaselineProfile,
  CategoricalProfile,
  EventSource,
  FeatureProfile,
  FeatureValue,
  PredictionEvent,
  WindowBounds,
} from '../types.js';
import { windowName } from './identity.js';
import { type SegmentField, segmentFields, segmentName, segmentOf } from './segments.js';

/*
 * The state of one window: (model, version, window size, window start). Every part is a count
 * or a min/max, so two partial states of the same window (two daemon instances in one consumer
 * group, or a restored snapshot plus the events after it) merge by addition into exactly the
 * state one instance would have built from all the events. Memory is features × bins, fixed at
 * creation; it never grows with the number of events (the Kafka offset ranges grow with the
 * number of partitions, the categorical sketches' diagnostic unseen lists are capped).
 */

export type FeatureSketch = NumericSketch | CategoricalSketch;

/** Smallest and largest Kafka offset (decimal strings, as KafkaJS gives them) that contributed. */
export interface OffsetRange {
  first: string;
  last: string;
}

/** Where the event came from; Kafka coordinates feed the window's offset lineage. */
export interface RecordMeta {
  source?: EventSource;
}

export interface WindowStateSnapshot {
  /** Snapshot layout version, bumped on incompatible changes. */
  format: 1;
  bounds: WindowBounds;
  /** The baseline whose bins the sketches are built on; restore refuses another one. */
  baselineId: string;
  count: number;
  lateCount: number;
  /** Smallest / largest event time accepted, null while empty. */
  minTs: number | null;
  maxTs: number | null;
  /** Per configured feature present in the baseline, in model-config order. */
  features: Record<string, SketchSnapshot>;
  prediction: SketchSnapshot | null;
  /** The label-free performance estimator's sums, when the baseline has an estimator. */
  cbpe?: CbpeSnapshot;
  /** Keyed "topic/partition". */
  offsets: Record<string, OffsetRange>;
  /** The window's segments that had events, by "<field>=<value>"; absent when none. */
  segments?: Record<string, WindowStateSnapshot>;
}

/** One segment's state within a window, with the segment's baseline (src/window/segments.ts). */
export interface SegmentWindow {
  field: string;
  value: string;
  state: WindowState;
  baseline: BaselineProfile;
}

/** A snapshot whose numeric sketches are views (no copies): see NumericSketchView. */
export interface WindowStateView
  extends Omit<WindowStateSnapshot, 'features' | 'prediction' | 'segments'> {
  features: Record<string, SketchView>;
  prediction: SketchView | null;
}

export interface WindowState {
  readonly bounds: WindowBounds;
  readonly baselineId: string;
  /** Events accepted into this window. */
  readonly count: number;
  /**
   * Late events (their own window of this size had already closed) that arrived while this
   * window was the oldest open window of its (version, size); see manager.ts.
   */
  readonly lateCount: number;
  readonly minTs: number | null;
  readonly maxTs: number | null;
  /** One sketch per configured feature that the baseline profiles, in model-config order. */
  readonly features: ReadonlyMap<string, FeatureSketch>;
  /** Null when the baseline has no prediction profile. */
  readonly prediction: FeatureSketch | null;
  /** Null unless the baseline has a performance estimator (and the score is numeric). */
  readonly cbpe: CbpeSketch | null;
  readonly offsets: ReadonlyMap<string, Readonly<OffsetRange>>;
  /**
   * The states of the window's segments that had events, by "<field>=<value>": at most
   * Σ over segment fields (maxPerField + 1), whatever the events.
   */
  readonly segments: ReadonlyMap<string, SegmentWindow>;
  /** Adds one event; the caller has checked that `event.ts` lies in the window. */
  record(event: PredictionEvent, meta?: RecordMeta): void;
  addLate(n: number): void;
  /** Adds another partial state of the same window (same bounds and baseline) into this one. */
  merge(other: WindowState | WindowStateSnapshot): void;
  /** Plain JSON, safe to persist and to ship between instances. */
  snapshot(): WindowStateSnapshot;
  /**
   * The same without copying the numeric sketches' per-bin arrays, for reading at once (window
   * evaluation); valid until the next record or merge, never to be persisted.
   */
  view(): WindowStateView;
}

export interface WindowStateOptions {
  bounds: WindowBounds;
  model: ModelConfig;
  baseline: BaselineProfile;
}

interface Slot {
  name: string;
  numeric: boolean;
  sketch: FeatureSketch;
}

/**
 * Creates the empty state of one window, with a sketch per configured feature over the
 * baseline's bins (numeric: the profile's fine `edges`; categorical: its `categories`), or
 * resumes from `snapshot`.
 *
 * Configured features the baseline does not profile get no sketch (nothing to compare with);
 * the sketch kind follows the profile, since the bins come from it.
 *
 * @throws InvalidInputError when the snapshot belongs to other bounds, another baseline, or
 *   does not fit the baseline's bins
 */
export function createWindowState(
  options: WindowStateOptions,
  snapshot?: WindowStateSnapshot,
): WindowState {
  const state = new WindowStateImpl(options);
  if (snapshot !== undefined) state.merge(snapshot);
  return state;
}

/** The baseline's `seen` values as a set, built once per profile (profiles are immutable). */
const seenSets = new WeakMap<CategoricalProfile, ReadonlySet<string>>();

function seenSet(profile: CategoricalProfile): ReadonlySet<string> {
  let set = seenSets.get(profile);
  if (set === undefined) {
    set = new Set(profile.seen ?? []);
    seenSets.set(profile, set);
  }
  return set;
}

function sketchFor(profile: FeatureProfile): FeatureSketch {
  return profile.kind === 'numeric'
    ? createNumericSketch(profile.edges)
    : createCategoricalSketch(profile.categories, { seen: seenSet(profile) });
}

/** A stored estimator that does not check out costs the estimate, never the window. */
function estimatorSketch(model: CbpeModel): CbpeSketch | null {
  try {
    return createCbpeSketch(model);
  } catch (err) {
    if (err instanceof InvalidInputError) return null;
    throw err;
  }
}

function sameBounds(a: WindowBounds, b: WindowBounds): boolean {
  return (
    a.model === b.model &&
    a.version === b.version &&
    a.size === b.size &&
    a.sizeLabel === b.sizeLabel &&
    a.start === b.start &&
    a.end === b.end &&
    (a.segment ?? '') === (b.segment ?? '')
  );
}

/** Kafka offsets are non-negative int64 decimal strings: compare by length, then digits. */
function offsetLess(a: string, b: string): boolean {
  return a.length !== b.length ? a.length < b.length : a < b;
}

/** Extends `range` to cover `first`..`last`. */
function widen(range: OffsetRange, first: string, last: string): void {
  if (offsetLess(first, range.first)) range.first = first;
  if (offsetLess(range.last, last)) range.last = last;
}

class WindowStateImpl implements WindowState {
  readonly bounds: WindowBounds;
  readonly baselineId: string;
  count = 0;
  lateCount = 0;
  private lo = Number.POSITIVE_INFINITY;
  private hi = Number.NEGATIVE_INFINITY;
  readonly features: Map<string, FeatureSketch>;
  readonly prediction: FeatureSketch | null;
  cbpe: CbpeSketch | null;
  readonly offsets = new Map<string, OffsetRange>();
  private readonly slots: Slot[];
  /** Records an event's features into `slots` (see slotRecorder). */
  private readonly recordSlots: SlotRecorder;
  private readonly predictionNumeric: boolean;
  /** The partition the last Kafka event came from, and its entry of `offsets`. */
  private lastTopic = '';
  private lastPartition = -1;
  private lastRange: OffsetRange | undefined;
  private readonly model: ModelConfig;
  private readonly segmentFields: SegmentField[];
  readonly segments = new Map<string, SegmentWindow>();

  constructor({ bounds, model, baseline }: WindowStateOptions) {
    this.model = model;
    // A segment's own state has no segments (its baseline has none).
    this.segmentFields = bounds.segment ? [] : segmentFields(model, baseline);
    this.bounds = Object.freeze({ ...bounds });
    this.baselineId = baseline.id;
    this.slots = [];
    this.features = new Map();
    for (const f of model.features) {
      const profile = baseline.features[f.name];
      if (profile === undefined) continue;
      const sketch = sketchFor(profile);
      this.slots.push({ name: f.name, numeric: profile.kind === 'numeric', sketch });
      this.features.set(f.name, sketch);
    }
    this.recordSlots = slotRecorder(this.slots.map((s) => s.name));
    this.prediction = baseline.prediction === null ? null : sketchFor(baseline.prediction);
    this.predictionNumeric = baseline.prediction?.kind === 'numeric';
    this.cbpe =
      baseline.cbpe !== undefined && model.prediction.type === 'numeric'
        ? estimatorSketch(baseline.cbpe)
        : null;
  }

  get minTs(): number | null {
    return this.lo === Number.POSITIVE_INFINITY ? null : this.lo;
  }

  get maxTs(): number | null {
    return this.hi === Number.NEGATIVE_INFINITY ? null : this.hi;
  }

  record(event: PredictionEvent, meta?: RecordMeta): void {
    this.count++;
    const ts = event.ts;
    if (ts < this.lo) this.lo = ts;
    if (ts > this.hi) this.hi = ts;
    this.recordSlots(event.features, this.slots);
    if (this.prediction !== null) {
      recordValue(this.prediction, this.predictionNumeric, event.prediction);
    }
    // A missing or unusable score is already counted by the prediction sketch.
    this.cbpe?.tryRecord(event.prediction);
    // Indexed: no iterator per event on the hot path of models without segments.
    const fields = this.segmentFields;
    for (let i = 0; i < fields.length; i++) {
      const f = fields[i]!;
      this.segmentWindow(f, segmentOf(event.features[f.field], f.values))?.state.record(event);
    }
    const source = meta?.source;
    if (source !== undefined && source.kind === 'kafka') {
      // Consecutive events come from one partition: its range is found without building and
      // hashing the "topic/partition" key again for every event.
      const range =
        source.partition === this.lastPartition && source.topic === this.lastTopic
          ? this.lastRange
          : undefined;
      if (range !== undefined) widen(range, source.offset, source.offset);
      else {
        const key = `${source.topic}/${source.partition}`;
        this.addOffsets(key, source.offset, source.offset);
        this.lastTopic = source.topic;
        this.lastPartition = source.partition;
        this.lastRange = this.offsets.get(key);
      }
    }
  }

  /** The segment's state, created at its first event; undefined when it has no baseline. */
  private segmentWindow(f: SegmentField, value: string): SegmentWindow | undefined {
    const name = segmentName(f.field, value);
    let w = this.segments.get(name);
    if (w === undefined) {
      const baseline = f.baselines.get(value);
      if (baseline === undefined) return undefined;
      const bounds = { ...this.bounds, segment: name };
      const state = createWindowState({ bounds, model: this.model, baseline });
      w = { field: f.field, value, state, baseline };
      this.segments.set(name, w);
    }
    return w;
  }

  addLate(n: number): void {
    this.lateCount += n;
  }

  merge(other: WindowState | WindowStateSnapshot): void {
    const s = other instanceof WindowStateImpl ? other.snapshot() : (other as WindowStateSnapshot);
    if (s.format !== 1) {
      throw new InvalidInputError(`window state snapshot format ${String(s.format)} is not 1`);
    }
    if (!sameBounds(s.bounds, this.bounds)) {
      throw new InvalidInputError(
        `cannot merge window ${windowName(s.bounds)} (size ${s.bounds.size}) into ${windowName(this.bounds)} (size ${this.bounds.size})`,
      );
    }
    if (s.baselineId !== this.baselineId) {
      throw new InvalidInputError(
        `cannot merge window ${windowName(this.bounds)}: built on baseline ${s.baselineId}, this one on ${this.baselineId}`,
      );
    }
    // A partial state without the estimator's sums (an instance of an older driftd during a
    // rolling upgrade) costs the window its estimate, never its drift result.
    if (this.cbpe !== null) {
      if (s.cbpe === undefined) this.cbpe = null;
      else this.cbpe.merge(s.cbpe);
    }
    for (const slot of this.slots) {
      const snap = s.features[slot.name];
      if (snap === undefined) {
        throw new InvalidInputError(
          `cannot merge window ${windowName(this.bounds)}: feature ${slot.name} missing from the other state`,
        );
      }
      mergeSketch(slot.sketch, snap);
    }
    if (this.prediction !== null) {
      if (s.prediction === null) {
        throw new InvalidInputError(
          `cannot merge window ${windowName(this.bounds)}: prediction missing from the other state`,
        );
      }
      mergeSketch(this.prediction, s.prediction);
    }
    this.count += s.count;
    this.lateCount += s.lateCount;
    if (s.minTs !== null && s.minTs < this.lo) this.lo = s.minTs;
    if (s.maxTs !== null && s.maxTs > this.hi) this.hi = s.maxTs;
    for (const [key, range] of Object.entries(s.offsets))
      this.addOffsets(key, range.first, range.last);
    for (const [name, seg] of Object.entries(s.segments ?? {})) {
      const f = this.segmentFields.find((x) => name.startsWith(`${x.field}=`));
      // A field no longer configured: its segments are not evaluated any more.
      if (f === undefined) continue;
      const w = this.segmentWindow(f, name.slice(f.field.length + 1));
      if (w === undefined) {
        throw new InvalidInputError(
          `cannot merge window ${windowName(this.bounds)}: segment ${name} has no profile in baseline ${this.baselineId}`,
        );
      }
      w.state.merge(seg);
    }
  }

  snapshot(): WindowStateSnapshot {
    const snap: WindowStateSnapshot = this.describe((sketch) => sketch.snapshot());
    if (this.segments.size > 0) {
      const segments: Record<string, WindowStateSnapshot> = {};
      for (const name of [...this.segments.keys()].sort()) {
        segments[name] = this.segments.get(name)!.state.snapshot();
      }
      snap.segments = segments;
    }
    return snap;
  }

  view(): WindowStateView {
    return this.describe(viewOf);
  }

  /** The window's counters with each sketch given as `of` makes it (snapshot or view). */
  private describe<S>(of: (sketch: FeatureSketch) => S) {
    const features: Record<string, S> = {};
    for (const slot of this.slots) features[slot.name] = of(slot.sketch);
    const offsets: Record<string, OffsetRange> = {};
    for (const [key, range] of this.offsets)
      offsets[key] = { first: range.first, last: range.last };
    return {
      format: 1 as const,
      bounds: { ...this.bounds },
      baselineId: this.baselineId,
      count: this.count,
      lateCount: this.lateCount,
      minTs: this.minTs,
      maxTs: this.maxTs,
      features,
      prediction: this.prediction === null ? null : of(this.prediction),
      ...(this.cbpe === null ? {} : { cbpe: this.cbpe.snapshot() }),
      offsets,
    };
  }

  private addOffsets(key: string, first: string, last: string): void {
    const range = this.offsets.get(key);
    if (range === undefined) {
      this.offsets.set(key, { first, last });
      return;
    }
    widen(range, first, last);
  }
}

function viewOf(sketch: FeatureSketch): SketchView {
  return sketch.kind === 'numeric' ? sketch.view() : sketch.snapshot();
}

type SlotRecorder = (values: Record<string, FeatureValue>, slots: readonly Slot[]) => void;
const recorders = new Map<string, SlotRecorder>();

/**
 * `recordValue` for each slot of a list of feature names, each value read by its name as a
 * constant (`values["income"]`): one read site per feature, each seeing one object shape, where
 * a loop reading `values[slot.name]` made one site see every name (a megamorphic keyed load,
 * ~0.4 µs per 20-feature event). Built once per list of names (bounded by the configuration).
 * JSON.stringify quotes any name as a valid JavaScript string literal.
 */
function slotRecorder(names: readonly string[]): SlotRecorder {
  const key = JSON.stringify(names);
  let recorder = recorders.get(key);
  if (recorder === undefined) {
    const body = names
      .map((n, i) => `r(s[${i}].sketch, s[${i}].numeric, v[${JSON.stringify(n)}]);`)
      .join('\n');
    recorder = new Function('r', `return function recordSlots(v, s) {\n${body}\n};`)(
      recordValue,
    ) as SlotRecorder;
    recorders.set(key, recorder);
  }
  return recorder;
}

function recordValue(sketch: FeatureSketch, numeric: boolean, v: FeatureValue | undefined): void {
  if (numeric) {
    // Ingest validates numeric fields; anything else reaching here counts as missing.
    (sketch as NumericSketch).record(typeof v === 'number' ? v : null);
  } else {
    (sketch as CategoricalSketch).record(v);
  }
}

function mergeSketch(sketch: FeatureSketch, snap: SketchSnapshot): void {
  if (sketch.kind !== snap.kind) {
    throw new InvalidInputError(`cannot merge a ${snap.kind} sketch into a ${sketch.kind} one`);
  }
  if (sketch.kind === 'numeric') sketch.merge(snap as Extract<SketchSnapshot, { kind: 'numeric' }>);
  else sketch.merge(snap as Extract<SketchSnapshot, { kind: 'categorical' }>);
}
