import { InvalidInputError } from '../errors.js';
import type {
  CategoricalSketch,
  CategoricalSketchOptions,
  CategoricalSketchSnapshot,
  CategoricalValue,
  NumericSketch,
  NumericSketchSnapshot,
  NumericSketchView,
} from './types.js';
import { checkCount, toArray } from './validate.js';

/**
 * Values beyond ±1e100 stay out of `sum` / `sumSquares` (like ±Infinity): their squares, summed
 * over up to 2^53 events, could overflow to Infinity, which JSON cannot carry. No real feature
 * gets near it; such values are still counted in their bin or as below/above.
 */
const MOMENT_LIMIT = 1e100;

/*
 * Window state as mergeable sketches (DESIGN.md). Every count is an integer kept in a float64,
 * so merging is exact addition up to 2^53 events per cell: merging the sketches of two halves
 * of a stream gives exactly the counts of the whole, in any order, on any instance. `sum` and
 * `sumSquares` are ordinary float sums, associative only up to rounding (~1e-16 relative per
 * addition), which is why the drift tests work from the counts and the per-bin gap sums.
 *
 * Gap sums. Each value's distance below its bin's upper edge is recorded in whole steps of
 * 1/GAP_STEPS of the bin width (rounded to nearest; at least 1 for a value below the edge, so
 * a bin's gap sum is 0 exactly when all its values equal its edge), and the squares of those
 * integers. Integer sums are exact (up to 2^53: 2^29 values per bin and window), so merging
 * states is exact addition in any order and a crash-restored or multi-instance window gives
 * bit-identical statistics. The rounding moves a value by at most one step (width/4096),
 * which the binned Wasserstein bound accounts for. Out-of-range values are measured in steps
 * of 1/GAP_STEPS of the baseline range, capped at OUT_OF_RANGE_CAP steps (4096 ranges away;
 * ±Infinity and anything farther count as the cap).
 */

/** Steps per bin width (and per baseline range, out of range) of the recorded gaps. */
export const GAP_STEPS = 4096;

/** The out-of-range gap step of a baseline's edges: its range / GAP_STEPS. */
export function outOfRangeStep(lo: number, hi: number): number {
  const range = hi - lo;
  return range > 0 && Number.isFinite(range) ? range / GAP_STEPS : 1 / GAP_STEPS;
}
/** Largest out-of-range gap recorded, in steps (so squares stay exact integers). */
const OUT_OF_RANGE_CAP = GAP_STEPS * GAP_STEPS;

const DEFAULT_MAX_UNSEEN = 100;

/**
 * Numeric values a sketch holds before binning them (see NumericSketchImpl.flush): 2 KiB per
 * sketch that has seen a value.
 */
const PENDING_VALUES = 256;

/**
 * A numeric feature's window sketch over the baseline's fine bins (see `quantileEdges` for the
 * bin layout: bin 0 is `{edges[0]}`, bin i is `(edges[i-1], edges[i]]`).
 *
 * @param edges strictly increasing finite bin edges from the baseline
 * @param snapshot optional persisted state to resume from (a copy is taken)
 * @throws InvalidInputError on bad edges or a snapshot that does not fit them
 */
export function createNumericSketch(
  edges: readonly number[],
  snapshot?: NumericSketchSnapshot,
): NumericSketch {
  const sketch = new NumericSketchImpl(layoutFor(edges));
  if (snapshot !== undefined) sketch.merge(snapshot);
  return sketch;
}

/**
 * A categorical feature's window sketch: counts per baseline category, `other` for the rest,
 * and, for diagnostics, the first `maxUnseen` distinct unseen values with their counts.
 * Numbers and booleans are recorded as `String(value)`; null, undefined and NaN are missing.
 *
 * `neverSeen` counts the values outside the categories that are not in `options.seen` either
 * (the baseline's other distinct values): the values the baseline never had.
 *
 * Merging is exact for every count. Only the diagnostic `unseen` list is not: which unseen
 * values keep their own entry depends on arrival and merge order once the cap is reached
 * (the rest go to `unseenOverflow`), but `other === Σ unseen + unseenOverflow` always holds.
 *
 * @param categories the baseline's distinct categories (its top-N), in baseline order
 * @param options `maxUnseen` (default 100), `seen` (the baseline's values outside `categories`)
 * @param snapshot optional persisted state to resume from (a copy is taken)
 * @throws InvalidInputError on duplicate categories, a bad cap or a mismatched snapshot
 */
export function createCategoricalSketch(
  categories: readonly string[],
  options: CategoricalSketchOptions = {},
  snapshot?: CategoricalSketchSnapshot,
): CategoricalSketch {
  const maxUnseen = options.maxUnseen ?? DEFAULT_MAX_UNSEEN;
  if (!Number.isInteger(maxUnseen) || maxUnseen < 0) {
    throw new InvalidInputError(
      `createCategoricalSketch: maxUnseen must be a non-negative integer, got ${maxUnseen}`,
    );
  }
  const sketch = new CategoricalSketchImpl(categories, maxUnseen, options.seen ?? EMPTY_SET);
  if (snapshot !== undefined) sketch.merge(snapshot);
  return sketch;
}

const EMPTY_SET: ReadonlySet<string> = new Set();

/** The key a categorical value is counted under (also what baselines must use). */
export function categoryKey(value: string | number | boolean): string {
  return typeof value === 'string' ? value : String(value);
}

function validateEdges(edges: readonly number[]): Float64Array {
  if (!Array.isArray(edges) || edges.length === 0) {
    throw new InvalidInputError('createNumericSketch: edges must be a non-empty array');
  }
  const out = new Float64Array(edges.length);
  for (let i = 0; i < edges.length; i++) {
    const e = edges[i];
    if (typeof e !== 'number' || !Number.isFinite(e)) {
      throw new InvalidInputError(`createNumericSketch: edges[${i}] is ${String(e)}, not finite`);
    }
    if (i > 0 && !(e > (out[i - 1] as number))) {
      throw new InvalidInputError(
        `createNumericSketch: edges must be strictly increasing, but edges[${i}] = ${e} ≤ edges[${i - 1}] = ${out[i - 1]}`,
      );
    }
    out[i] = e;
  }
  return out;
}

/** An out-of-range distance in steps: whole, ≥ 1, ≤ OUT_OF_RANGE_CAP (Infinity included). */
function outOfRangeSteps(steps: number): number {
  if (!(steps < OUT_OF_RANGE_CAP)) return OUT_OF_RANGE_CAP;
  const q = Math.round(steps);
  return q === 0 ? 1 : q;
}

function checkFinite(where: string, name: string, v: unknown): number {
  if (typeof v !== 'number' || !Number.isFinite(v)) {
    throw new InvalidInputError(`${where}: ${name} must be a finite number, got ${String(v)}`);
  }
  return v;
}

/**
 * Bin lookup shared by every sketch over the same edges. A uniform grid over [min, max]
 * narrows the binary search to the few edges in the value's grid cell: about 4× faster than
 * a plain binary search over 1000 edges. Correctness needs only that `cellOf` is monotone
 * (it is: a subtraction, a product by a positive constant and a floor, all monotone under
 * rounding). Then every edge in an earlier cell is < v and every edge in a later cell is > v,
 * so the first edge ≥ v lies in `[first[c], first[c + 1]]`. Heavy tails only widen that
 * range back towards a full binary search.
 */
class BinLayout {
  readonly edges: Float64Array;
  readonly lo: number;
  readonly hi: number;
  readonly scale: number;
  readonly lastCell: number;
  /** first[c] = index of the first edge whose cell is ≥ c; `first.length` = cells + 1. */
  readonly first: Int32Array;
  /** Out-of-range gap step: the baseline range / GAP_STEPS (1 / GAP_STEPS for one edge). */
  readonly outStep: number;
  private frozen: readonly number[] | undefined;

  constructor(edges: Float64Array) {
    this.edges = edges;
    const k = edges.length;
    this.lo = edges[0] as number;
    this.hi = edges[k - 1] as number;
    this.outStep = outOfRangeStep(this.lo, this.hi);
    const cells = Math.max(1, 4 * k);
    const width = this.hi - this.lo;
    // A range wider than MAX_VALUE overflows `width`; halving both ends keeps the scale finite
    // (v − lo may still overflow to +Infinity for large v, which cellOf maps to the last cell).
    if (k === 1) this.scale = 0;
    else if (Number.isFinite(width)) this.scale = cells / width;
    else this.scale = cells / 2 / (this.hi / 2 - this.lo / 2);
    this.lastCell = cells - 1;
    const first = new Int32Array(cells + 1);
    let j = 0;
    for (let c = 0; c <= cells; c++) {
      while (j < k && this.cellOf(edges[j] as number) < c) j++;
      first[c] = j;
    }
    this.first = first;
  }

  cellOf(v: number): number {
    const c = Math.floor((v - this.lo) * this.scale);
    if (c < this.lastCell) return c;
    return this.lastCell;
  }

  get list(): readonly number[] {
    this.frozen ??= Object.freeze(Array.from(this.edges));
    return this.frozen;
  }
}

const layouts = new WeakMap<readonly number[], BinLayout>();

function layoutFor(edges: readonly number[]): BinLayout {
  const cached = layouts.get(edges);
  // Re-check: the array is only readonly by type, a caller could have mutated it.
  if (cached !== undefined && sameEdgeList(cached.edges, edges)) return cached;
  const layout = new BinLayout(validateEdges(edges));
  layouts.set(edges, layout);
  return layout;
}

function sameEdgeList(a: Float64Array, b: readonly number[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

class NumericSketchImpl implements NumericSketch {
  readonly kind = 'numeric' as const;
  readonly binCount: number;
  private readonly layout: BinLayout;
  private readonly lo: number;
  private readonly hi: number;
  private readonly counts: Float64Array;
  /** Per bin Σ (edges[i] − x); see NumericSketchSnapshot.gaps. */
  private readonly gaps: Float64Array;
  /** Per bin Σ (edges[i] − x)²; see NumericSketchSnapshot.gapSquares. */
  private readonly gapSquares: Float64Array;
  private belowGap = 0;
  private aboveGap = 0;
  /** False once a snapshot without gaps (taken by an older driftd) was merged in. */
  private gapsValid = true;
  private below = 0;
  private above = 0;
  private missing = 0;
  private nan = 0;
  private total = 0;
  private summed = 0;
  private sum = 0;
  private sumSquares = 0;
  private min = Number.POSITIVE_INFINITY;
  private max = Number.NEGATIVE_INFINITY;
  /** Whether every in-range value is within ±MOMENT_LIMIT, so the hot path needs no check. */
  private readonly momentsSafe: boolean;

  constructor(layout: BinLayout) {
    this.momentsSafe = layout.lo >= -MOMENT_LIMIT && layout.hi <= MOMENT_LIMIT;
    this.layout = layout;
    this.binCount = layout.edges.length;
    this.lo = layout.lo;
    this.hi = layout.hi;
    this.counts = new Float64Array(layout.edges.length);
    this.gaps = new Float64Array(layout.edges.length);
    this.gapSquares = new Float64Array(layout.edges.length);
  }

  get edges(): readonly number[] {
    return this.layout.list;
  }

  /**
   * Values recorded and not yet binned (see `flush`): binning one feature's values one after
   * the other keeps its edges and per-bin sums in the CPU cache, where an event's twenty
   * features binned in turn, between everything else the event costs, found them evicted
   * (binning took ~45 % of the event loop's time per replayed event). Every read of the state
   * (snapshot, view, merge, either side) flushes first, so what is read is what was recorded.
   */
  private pending: Float64Array | undefined;
  private pendingCount = 0;

  record(value: number | null | undefined): void {
    if (value === null || value === undefined) {
      this.total++;
      this.missing++;
      return;
    }
    let pending = this.pending;
    if (pending === undefined) {
      pending = new Float64Array(PENDING_VALUES);
      this.pending = pending;
    }
    pending[this.pendingCount++] = value;
    if (this.pendingCount === PENDING_VALUES) this.flush();
  }

  /**
   * Bins the pending values, in the order they were recorded (the sums see the same order, so
   * they are bit for bit those of binning each value as it came). The state is held in locals
   * for the batch and written back once.
   */
  private flush(): void {
    const n = this.pendingCount;
    if (n === 0) return;
    this.pendingCount = 0;
    const pending = this.pending!;
    const layout = this.layout;
    const e = layout.edges;
    const first = layout.first;
    const lastEdge = e.length - 1;
    const lo = this.lo;
    const hi = this.hi;
    const counts = this.counts;
    const gaps = this.gaps;
    const gapSquares = this.gapSquares;
    const momentsSafe = this.momentsSafe;
    let summed = this.summed;
    let sum = this.sum;
    let sumSquares = this.sumSquares;
    let min = this.min;
    let max = this.max;
    for (let i = 0; i < n; i++) {
      const value = pending[i]!;
      // In range first: the common case; NaN fails both compares and falls through.
      if (value >= lo && value <= hi) {
        if (momentsSafe || (value >= -MOMENT_LIMIT && value <= MOMENT_LIMIT)) {
          summed++;
          sum += value;
          sumSquares += value * value;
        }
        if (value < min) min = value;
        if (value > max) max = value;
        // The smallest i with edges[i] ≥ value, within the value's grid cell; right-closed
        // bins put value in bin i.
        const c = layout.cellOf(value);
        let a = first[c]!;
        let b = first[c + 1]!;
        if (b > lastEdge) b = lastEdge;
        while (a < b) {
          const mid = (a + b) >>> 1;
          if (e[mid]! < value) a = mid + 1;
          else b = mid;
        }
        // Whole steps below the edge; at least 1 whenever value < edge (then a ≥ 1: the point
        // bin {edges[0]} holds only edges[0]). A width that overflows (edges near ±MAX_VALUE)
        // or is subnormal gives scale 0: every gap below the edge then counts as 1 step.
        const exact = e[a]! - value;
        let gap = 0;
        if (exact > 0) {
          const scale = GAP_STEPS / (e[a]! - e[a - 1]!);
          gap = Math.round(exact * (scale === Number.POSITIVE_INFINITY ? 0 : scale));
          if (gap === 0) gap = 1;
        }
        counts[a]!++;
        gaps[a]! += gap;
        gapSquares[a]! += gap * gap;
        continue;
      }
      if (Number.isNaN(value)) {
        this.nan++;
        continue;
      }
      if (value < lo) {
        this.below++;
        this.belowGap += outOfRangeSteps((lo - value) / layout.outStep);
      } else {
        this.above++;
        this.aboveGap += outOfRangeSteps((value - hi) / layout.outStep);
      }
      if (value >= -MOMENT_LIMIT && value <= MOMENT_LIMIT) {
        summed++;
        sum += value;
        sumSquares += value * value;
      }
      // Finite only: ±Infinity stays out of min/max so snapshots remain valid JSON.
      if (Number.isFinite(value)) {
        if (value < min) min = value;
        if (value > max) max = value;
      }
    }
    this.total += n;
    this.summed = summed;
    this.sum = sum;
    this.sumSquares = sumSquares;
    this.min = min;
    this.max = max;
  }

  merge(other: NumericSketch | NumericSketchSnapshot): void {
    this.flush();
    if (other instanceof NumericSketchImpl) {
      other.flush();
      if (other.layout !== this.layout && !sameEdges(other.layout.edges, this.layout.edges)) {
        throw new InvalidInputError(
          'NumericSketch.merge: bin edges differ; only sketches of the same baseline can be merged',
        );
      }
      this.addState(
        other.counts,
        other.gapsValid ? other.gaps : null,
        other.gapsValid ? other.gapSquares : null,
        other.scalars(),
      );
      return;
    }
    if (isNumericSnapshotLike(other)) {
      const s = validateNumericSnapshot(other, this.binCount);
      this.addState(s.counts, s.gaps ?? null, s.gapSquares ?? null, {
        below: s.below,
        above: s.above,
        missing: s.missing,
        nan: s.nan,
        total: s.total,
        summed: s.summed,
        sum: s.sum,
        sumSquares: s.sumSquares,
        min: s.min ?? Number.POSITIVE_INFINITY,
        max: s.max ?? Number.NEGATIVE_INFINITY,
        belowGap: s.belowGap ?? 0,
        aboveGap: s.aboveGap ?? 0,
      });
      return;
    }
    throw new InvalidInputError('NumericSketch.merge: expected a numeric sketch or its snapshot');
  }

  snapshot(): NumericSketchSnapshot {
    this.flush();
    const min = this.min === Number.POSITIVE_INFINITY ? null : this.min;
    const max = this.max === Number.NEGATIVE_INFINITY ? null : this.max;
    // One object literal per shape: readers see one hidden class, not one per optional field.
    if (!this.gapsValid) {
      return {
        kind: 'numeric',
        counts: toArray(this.counts),
        below: this.below,
        above: this.above,
        missing: this.missing,
        nan: this.nan,
        total: this.total,
        summed: this.summed,
        sum: this.sum,
        sumSquares: this.sumSquares,
        min,
        max,
      };
    }
    return {
      kind: 'numeric',
      counts: toArray(this.counts),
      below: this.below,
      above: this.above,
      missing: this.missing,
      nan: this.nan,
      total: this.total,
      summed: this.summed,
      sum: this.sum,
      sumSquares: this.sumSquares,
      min,
      max,
      gaps: toArray(this.gaps),
      gapSquares: toArray(this.gapSquares),
      belowGap: this.belowGap,
      aboveGap: this.aboveGap,
    };
  }

  view(): NumericSketchView {
    this.flush();
    const min = this.min === Number.POSITIVE_INFINITY ? null : this.min;
    const max = this.max === Number.NEGATIVE_INFINITY ? null : this.max;
    const valid = this.gapsValid;
    return {
      kind: 'numeric',
      counts: this.counts,
      below: this.below,
      above: this.above,
      missing: this.missing,
      nan: this.nan,
      total: this.total,
      summed: this.summed,
      sum: this.sum,
      sumSquares: this.sumSquares,
      min,
      max,
      gaps: valid ? this.gaps : undefined,
      gapSquares: valid ? this.gapSquares : undefined,
      belowGap: valid ? this.belowGap : undefined,
      aboveGap: valid ? this.aboveGap : undefined,
    };
  }

  private scalars(): ScalarState {
    const { below, above, missing, nan, total, summed, sum, sumSquares, min, max } = this;
    const { belowGap, aboveGap } = this;
    return {
      below,
      above,
      missing,
      nan,
      total,
      summed,
      sum,
      sumSquares,
      min,
      max,
      belowGap,
      aboveGap,
    };
  }

  /** `gaps` null: the other state has none, so this one's within-bin means are lost too. */
  private addState(
    counts: ArrayLike<number>,
    gaps: ArrayLike<number> | null,
    gapSquares: ArrayLike<number> | null,
    s: ScalarState,
  ): void {
    const c = this.counts;
    for (let i = 0; i < c.length; i++) c[i]! += counts[i] as number;
    if (gaps === null || gapSquares === null) this.gapsValid = false;
    else {
      const g = this.gaps;
      const g2 = this.gapSquares;
      for (let i = 0; i < g.length; i++) {
        g[i]! += gaps[i] as number;
        g2[i]! += gapSquares[i] as number;
      }
      this.belowGap += s.belowGap;
      this.aboveGap += s.aboveGap;
    }
    this.below += s.below;
    this.above += s.above;
    this.missing += s.missing;
    this.nan += s.nan;
    this.total += s.total;
    this.summed += s.summed;
    this.sum += s.sum;
    this.sumSquares += s.sumSquares;
    if (s.min < this.min) this.min = s.min;
    if (s.max > this.max) this.max = s.max;
  }
}

interface ScalarState {
  below: number;
  above: number;
  missing: number;
  nan: number;
  total: number;
  summed: number;
  sum: number;
  sumSquares: number;
  min: number;
  max: number;
  belowGap: number;
  aboveGap: number;
}

function sameEdges(a: Float64Array, b: Float64Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

function isNumericSnapshotLike(v: unknown): v is NumericSketchSnapshot {
  return typeof v === 'object' && v !== null && (v as { kind?: unknown }).kind === 'numeric';
}

/** Checks a (possibly deserialised) snapshot fits `binCount` bins and is self-consistent. */
function validateNumericSnapshot(
  s: NumericSketchSnapshot,
  binCount: number,
): NumericSketchSnapshot {
  const where = 'NumericSketch snapshot';
  if (!Array.isArray(s.counts) || s.counts.length !== binCount) {
    throw new InvalidInputError(
      `${where}: counts has ${Array.isArray(s.counts) ? s.counts.length : 'no'} bins, the edges define ${binCount}; was it taken against another baseline?`,
    );
  }
  let binned = 0;
  for (let i = 0; i < s.counts.length; i++) binned += checkCount(where, 'counts', s.counts[i], i);
  const below = checkCount(where, 'below', s.below);
  const above = checkCount(where, 'above', s.above);
  const missing = checkCount(where, 'missing', s.missing);
  const nan = checkCount(where, 'nan', s.nan);
  const total = checkCount(where, 'total', s.total);
  if (binned + below + above + missing + nan !== total) {
    throw new InvalidInputError(
      `${where}: total ${total} ≠ Σcounts + below + above + missing + nan = ${binned + below + above + missing + nan}`,
    );
  }
  const summed = checkCount(where, 'summed', s.summed);
  if (summed > binned + below + above) {
    throw new InvalidInputError(
      `${where}: summed ${summed} exceeds the ${binned + below + above} numeric values counted`,
    );
  }
  checkFinite(where, 'sum', s.sum);
  checkFinite(where, 'sumSquares', s.sumSquares);
  if (s.gaps !== undefined) {
    if (!Array.isArray(s.gaps) || s.gaps.length !== binCount) {
      throw new InvalidInputError(`${where}: gaps must have one entry per bin (${binCount})`);
    }
    if (!Array.isArray(s.gapSquares) || s.gapSquares.length !== binCount) {
      throw new InvalidInputError(
        `${where}: gapSquares must have one entry per bin (${binCount}) when gaps are present`,
      );
    }
    for (let i = 0; i < binCount; i++) {
      const g = checkCount(where, 'gaps', s.gaps[i], i);
      checkCount(where, 'gapSquares', s.gapSquares[i], i);
      if (g > 0 && s.counts[i] === 0) {
        throw new InvalidInputError(`${where}: gaps[${i}] is ${g} for an empty bin`);
      }
    }
    checkCount(where, 'belowGap', s.belowGap);
    checkCount(where, 'aboveGap', s.aboveGap);
  }
  return s;
}

class CategoricalSketchImpl implements CategoricalSketch {
  readonly kind = 'categorical' as const;
  readonly categories: readonly string[];
  readonly maxUnseen: number;
  private readonly index = new Map<string, number>();
  private readonly counts: Float64Array;
  private other = 0;
  private missing = 0;
  private total = 0;
  private readonly unseen = new Map<string, number>();
  private unseenOverflow = 0;
  private readonly seen: ReadonlySet<string>;
  private neverSeen = 0;
  /** False once a snapshot without `neverSeen` (taken by an older driftd) was merged in. */
  private neverSeenValid = true;

  constructor(categories: readonly string[], maxUnseen: number, seen: ReadonlySet<string>) {
    this.seen = seen;
    if (!Array.isArray(categories)) {
      throw new InvalidInputError(
        'createCategoricalSketch: categories must be an array of strings',
      );
    }
    categories.forEach((c, i) => {
      if (typeof c !== 'string') {
        throw new InvalidInputError(
          `createCategoricalSketch: categories[${i}] is ${typeof c}, expected a string`,
        );
      }
      if (this.index.has(c)) {
        throw new InvalidInputError(
          `createCategoricalSketch: duplicate category ${JSON.stringify(c)}`,
        );
      }
      this.index.set(c, i);
    });
    this.categories = Object.freeze([...categories]);
    this.maxUnseen = maxUnseen;
    this.counts = new Float64Array(categories.length);
  }

  record(value: CategoricalValue): void {
    this.total++;
    if (
      value === null ||
      value === undefined ||
      (typeof value === 'number' && Number.isNaN(value))
    ) {
      this.missing++;
      return;
    }
    const key = typeof value === 'string' ? value : String(value);
    const i = this.index.get(key);
    if (i !== undefined) {
      this.counts[i]!++;
      return;
    }
    this.other++;
    if (!this.seen.has(key)) this.neverSeen++;
    this.addUnseen(key, 1);
  }

  merge(other: CategoricalSketch | CategoricalSketchSnapshot): void {
    if (other instanceof CategoricalSketchImpl && !sameStrings(other.categories, this.categories)) {
      throw new InvalidInputError(
        'CategoricalSketch.merge: categories differ; only sketches of the same baseline can be merged',
      );
    }
    const s =
      other instanceof CategoricalSketchImpl ? other.snapshot() : validateCategorical(other, this);
    for (let i = 0; i < this.counts.length; i++) this.counts[i]! += s.counts[i] as number;
    this.other += s.other;
    this.missing += s.missing;
    this.total += s.total;
    for (const [key, n] of Object.entries(s.unseen)) this.addUnseen(key, n);
    this.unseenOverflow += s.unseenOverflow;
    if (s.neverSeen === undefined) this.neverSeenValid = false;
    else this.neverSeen += s.neverSeen;
  }

  snapshot(): CategoricalSketchSnapshot {
    return {
      kind: 'categorical',
      categories: [...this.categories],
      counts: toArray(this.counts),
      other: this.other,
      missing: this.missing,
      total: this.total,
      // fromEntries defines own properties, so a value like "__proto__" stays a plain key.
      unseen: Object.fromEntries(this.unseen),
      unseenOverflow: this.unseenOverflow,
      // Kept in the literal (one hidden class); undefined is left out of JSON.
      neverSeen: this.neverSeenValid ? this.neverSeen : undefined,
    };
  }

  private addUnseen(key: string, n: number): void {
    const seen = this.unseen.get(key);
    if (seen !== undefined) this.unseen.set(key, seen + n);
    else if (this.unseen.size < this.maxUnseen) this.unseen.set(key, n);
    else this.unseenOverflow += n;
  }
}

function sameStrings(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((v, i) => v === b[i]);
}

function validateCategorical(s: unknown, sketch: CategoricalSketchImpl): CategoricalSketchSnapshot {
  const where = 'CategoricalSketch snapshot';
  if (typeof s !== 'object' || s === null || (s as { kind?: unknown }).kind !== 'categorical') {
    throw new InvalidInputError(`${where}: expected a categorical sketch or its snapshot`);
  }
  const snap = s as CategoricalSketchSnapshot;
  if (!Array.isArray(snap.categories) || !sameStrings(snap.categories, sketch.categories)) {
    throw new InvalidInputError(
      `${where}: categories differ from this sketch's; only sketches of the same baseline can be merged`,
    );
  }
  if (!Array.isArray(snap.counts) || snap.counts.length !== sketch.categories.length) {
    throw new InvalidInputError(`${where}: counts must have one entry per category`);
  }
  let sum = 0;
  snap.counts.forEach((c, i) => {
    sum += checkCount(where, 'counts', c, i);
  });
  const other = checkCount(where, 'other', snap.other);
  const missing = checkCount(where, 'missing', snap.missing);
  const total = checkCount(where, 'total', snap.total);
  const overflow = checkCount(where, 'unseenOverflow', snap.unseenOverflow);
  if (sum + other + missing !== total) {
    throw new InvalidInputError(
      `${where}: total ${total} ≠ Σcounts + other + missing = ${sum + other + missing}`,
    );
  }
  if (typeof snap.unseen !== 'object' || snap.unseen === null) {
    throw new InvalidInputError(`${where}: unseen must be an object of counts`);
  }
  let unseen = 0;
  for (const [key, n] of Object.entries(snap.unseen)) {
    unseen += checkCount(where, `unseen[${JSON.stringify(key)}]`, n);
  }
  if (unseen + overflow !== other) {
    throw new InvalidInputError(
      `${where}: other ${other} ≠ Σunseen + unseenOverflow = ${unseen + overflow}`,
    );
  }
  if (snap.neverSeen !== undefined && checkCount(where, 'neverSeen', snap.neverSeen) > other) {
    throw new InvalidInputError(`${where}: neverSeen ${snap.neverSeen} exceeds other ${other}`);
  }
  return snap;
}
