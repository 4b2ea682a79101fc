/**
 * The baseline profile builder: pure, no I/O. It sees the training rows twice.
 *
 * Pass 1 (`observe`) keeps, per column, state of fixed size whatever the row count:
 * - numeric: exact count / min / max, sums of (x − x₀) and (x − x₀)² shifted by the first
 *   value x₀ (the shifted-data variance: no cancellation when the mean dwarfs the spread, and
 *   no division per value as in Welford's update), and a uniform reservoir
 *   sample of R = max(sampleSize, 100 000) values (Li's Algorithm L, seeded per column name,
 *   so the same rows always give the same sample);
 * - categorical: Misra–Gries heavy hitters with 10 × topCategories counters, and a distinct
 *   count exact up to max(DISTINCT_CAP, 10 × topCategories) values.
 *
 * Between the passes (`endObserve`) the fine bin edges come from the reservoir
 * (`quantileEdges(reservoir, bins)`). When the reservoir missed the exact minimum or maximum,
 * that value is added as an extra edge (so a profile can have up to bins + 3 edges), rather
 * than moving an edge that may be an atom: every training value falls inside the baseline
 * range, and window values outside it really are out of the training range.
 *
 * Pass 2 (`count`) counts every value EXACTLY into those bins (with the same numeric sketch
 * the daemon uses for windows, so the bin semantics are shared) and counts the heavy-hitter
 * candidates exactly. A categorical column whose counters never overflowed already has exact
 * counts of every value after pass 1 and is skipped.
 *
 * What is approximate, and what is not:
 * - The edges are quantiles of a sample, so the bins are not exactly equal-mass: a bin's true
 *   mass deviates from 1/K by about sqrt(1/(K·R)) (R = 100 000, K = 1000: ±10% of 1/K). The
 *   counts are exact, so every downstream statistic is exact relative to these bins; the
 *   binned-KS error bound must use the largest true bin mass, max(counts) / Σcounts, which
 *   can exceed 1/K by that margin.
 * - With at most R non-missing values the reservoir holds them all, and edges and percentiles
 *   are exact.
 * - p01 / p50 / p99 are type-7 (NumPy linear) quantiles of the reservoir; count, mean, std,
 *   min and max are exact over all rows. std is the sample standard deviation (ddof = 1, as
 *   pandas `describe()`), 0 for a single value.
 * - Categorical counts are exact. The top-N is exact whenever a column has at most
 *   10 × topCategories distinct values; beyond that, Misra–Gries guarantees every category
 *   with a frequency above 1/(10 × topCategories + 1) is a candidate, so only categories
 *   rarer than that can be missed from the top-N (they then count in `other`, exactly).
 * - `distinct` is exact up to max(DISTINCT_CAP, 10 × topCategories) values and reported as
 *   that cap beyond (a floor). The categorical profile lists every distinct value outside its
 *   top-N in `seen` (sorted), complete (`seenComplete`) below that cap; a window value in
 *   neither list counts as never seen in the baseline (`unseenRatio`). Beyond the cap the list
 *   holds the first values met and `unseenRatio` is an upper bound.
 * - Numeric `distinct` is exact up to DISTINCT_CAP values (a floor beyond): the test choice
 *   needs to know whether a feature has at most 5 values, which the fine edges cannot say
 *   (interpolated edges between atoms make 5 values look like 9 edges).
 * - Numeric `gaps`: per fine bin Σ (upper edge − x) over the baseline values, from the same
 *   sketch as the counts: the baseline's within-bin means, for the binned Wasserstein
 *   estimate, and gap 0 marks a bin whose values all equal its upper edge (a repeated value),
 *   where binned KS hides nothing.
 *
 * Rows: a row is bad (counted, reported with its line, and left out of every column) when a
 * required column is absent, a numeric value is not a number (strings follow `Number()`, so
 * "1e3" and "0x1F" are numbers and "abc" is not; booleans are not), NaN or ±Infinity, or a
 * value is an object/array. `null`, `""` and
 * whitespace-only strings are missing values, not bad. The prediction column is optional:
 * absent → missing, and the profile's `prediction` is null when no row has a value.
 * Because NaN rows are bad rows, a baseline's `nan` count is always 0.
 *
 * Performance: when the file has the configured label column, pass 1 also feeds every valid row
 * with a prediction and a label to `createPerformanceAccumulator` (src/window/performance.ts,
 * the windows' metric names and pair mapping on the streaming sketches of src/stats/metrics.ts),
 * and the profile keeps the model's own metrics on its training data as `performance`. The
 * label is read as text, as label events are compared, and is not profiled.
 */
import { createHash, type Hash } from 'node:crypto';
import type { ModelConfig } from '../config/types.js';
import { BaselineError } from '../errors.js';
import { type PiiKey, piiTransform } from '../privacy/pii.js';
import { coarseBins } from '../stats/psi.js';
import { quantileEdges } from '../stats/quantiles.js';
import { createNumericSketch } from '../stats/sketch.js';
import type { NumericSketch } from '../stats/types.js';
import type {
  BaselineParams,
  BaselineProfile,
  CategoricalProfile,
  FeatureProfile,
  FeatureType,
  NumericProfile,
} from '../types.js';
import {
  createPerformanceAccumulator,
  type PerformanceAccumulator,
} from '../window/performance.js';
import { createCbpeCollector, estimatesPerformance } from './cbpe.js';
import { createSegmentBaselineBuilder } from './segments.js';

/** Version of the profile math; part of the content hash, so a change re-keys baselines. */
export const BASELINE_ALGORITHM = 'driftd-baseline/3';
/** Lower bound on the reservoir the fine edges are computed from. */
export const EDGE_SAMPLE_MIN = 100_000;
/**
 * Distinct values tracked exactly per column: categorical values (every one is kept in the
 * profile's `seen` list, so a window's never-seen share is exact up to this many) and numeric
 * values (the `distinct` count the test choice uses).
 */
export const DISTINCT_CAP = 10_000;
/** Heavy-hitter counters per categorical column, as a multiple of topCategories. */
export const CANDIDATE_FACTOR = 10;
/** Bad rows kept with line, field and reason; the rest are only counted. */
export const BAD_ROW_SAMPLE_LIMIT = 100;

export type BadRowReason =
  | 'csv-syntax'
  | 'field-count'
  | 'invalid-json'
  | 'not-an-object'
  | 'missing-field'
  | 'not-a-number'
  | 'nan'
  | 'non-finite'
  | 'wrong-type';

export interface BadRow {
  /** 1-based line the row starts on (the CSV header is line 1). */
  line: number;
  /** The offending column, null when the whole line is unparseable. */
  field: string | null;
  reason: BadRowReason;
  message: string;
}

export interface BadRowReport {
  total: number;
  byReason: Partial<Record<BadRowReason, number>>;
  /** The first BAD_ROW_SAMPLE_LIMIT bad rows, in file order. */
  first: BadRow[];
}

export interface ProfileColumn {
  /** Feature name, the prediction field or the label field. */
  name: string;
  type: FeatureType;
  /** A label column is read for the baseline's performance, never profiled. */
  role: 'feature' | 'prediction' | 'label';
}

/** Counts bad rows and keeps the first few. */
export class BadRowLog {
  total = 0;
  readonly byReason: Partial<Record<BadRowReason, number>> = {};
  readonly first: BadRow[] = [];

  add(bad: BadRow): void {
    this.total++;
    this.byReason[bad.reason] = (this.byReason[bad.reason] ?? 0) + 1;
    if (this.first.length < BAD_ROW_SAMPLE_LIMIT) this.first.push(bad);
  }

  report(): BadRowReport {
    return { total: this.total, byReason: { ...this.byReason }, first: [...this.first] };
  }
}

/**
 * The configured features, in config order, then the prediction, then the label (read as
 * text, as label events' values are compared; left out when its name is already a column).
 */
export function profileColumns(model: ModelConfig): ProfileColumn[] {
  const columns: ProfileColumn[] = model.features.map((f) => ({
    name: f.name,
    type: f.type,
    role: 'feature' as const,
  }));
  columns.push({ name: model.prediction.field, type: model.prediction.type, role: 'prediction' });
  if (!columns.some((c) => c.name === model.label.field)) {
    columns.push({ name: model.label.field, type: 'categorical', role: 'label' });
  }
  return columns;
}

export function baselineParams(model: ModelConfig): BaselineParams {
  const { bins, psiBuckets, topCategories, sampleSize } = model.drift;
  return { bins, psiBuckets, topCategories, sampleSize };
}

/**
 * The canonical description of what a profile depends on besides the data. It is hashed
 * before the data, on its own line (JSON has no raw newline, so the boundary is unambiguous).
 * Model id and version are part of it so two models never share a baseline id.
 */
export function baselineSpec(
  model: ModelConfig,
  version: string,
  piiKey: PiiKey | null = null,
): string {
  const pii = piiColumns(model);
  return JSON.stringify({
    algorithm: BASELINE_ALGORITHM,
    model: model.id,
    version,
    params: baselineParams(model),
    features: model.features.map((f) => [f.name, f.type]),
    prediction: [model.prediction.field, model.prediction.type],
    // What the baseline's performance depends on (driftd-baseline/3).
    task: model.task,
    label: [model.label.field, String(model.label.positive), model.label.threshold],
    // Hashed columns depend on the key: another key gives another baseline (only for models
    // with PII features, so other baseline ids are unchanged). The key's HMAC of a fixed
    // text identifies it without revealing it.
    ...(pii.size === 0
      ? {}
      : { pii: [...pii], piiKey: piiTransform('driftd baseline key', requireKey(model, piiKey)) }),
    // Only with segments: the ids of other models' baselines are unchanged.
    ...(model.segments === undefined ? {} : { segments: model.segments }),
  });
}

/** A sha256 already fed with the spec line; feed it the data, then `digest('hex')`. */
export function createBaselineHash(
  model: ModelConfig,
  version: string,
  piiKey: PiiKey | null = null,
): Hash {
  return createHash('sha256').update(`${baselineSpec(model, version, piiKey)}\n`);
}

/** The model's features that are PII fields: profiled as their HMACs, never in clear. */
function piiColumns(model: ModelConfig): Set<string> {
  const features = new Set(model.features.map((f) => f.name));
  return new Set(model.piiFields.filter((f) => features.has(f)));
}

function requireKey(model: ModelConfig, key: PiiKey | null): PiiKey {
  if (key === null) {
    throw new BaselineError(
      `model "${model.id}" has PII features, which baselines keep only as HMAC-SHA-256 under the PII key, and no key is configured (DRIFTD_PII_KEY or privacy.piiKeyFile)`,
    );
  }
  return key;
}

/** `bl_` + the first 16 hex digits of the content hash. */
export function baselineId(hash: string): string {
  return `bl_${hash.slice(0, 16)}`;
}

export interface ProfileMeta {
  hash: string;
  /** Where the rows came from (file path), used in errors and stored in the profile. */
  source: string;
  createdAt: number;
  badRows: number;
}

export interface ProfileBuilderStats {
  /** Valid rows observed in pass 1. */
  rows: number;
  /** Rows counted in pass 2. */
  counted: number;
  /** Numbers held in reservoirs (bounded by numeric columns × R). */
  reservoirValues: number;
  /** Heavy-hitter counters held (bounded by categorical columns × 10 × topCategories). */
  candidateKeys: number;
  /** Distinct values tracked (bounded by categorical columns × max(DISTINCT_CAP, candidates)). */
  distinctKeys: number;
  /** Rows with both a prediction and a label, which the baseline's performance is computed on. */
  labeled: number;
  /** Largest possible error of the performance's roc_auc (its score histogram); null without one. */
  rocAucErrorBound: number | null;
}

export interface ProfileBuilder {
  readonly columns: readonly ProfileColumn[];
  readonly phase: 'observe' | 'count' | 'done';
  /**
   * Pass 1. `values` holds the raw values in `columns` order (`undefined` = column absent).
   * Returns why the row is bad, or null when it was taken.
   */
  observe(values: ArrayLike<unknown>, line: number): BadRow | null;
  /** Fixes bin edges and category candidates; call once, after the last `observe`. */
  endObserve(): void;
  /** Pass 2, over the same rows: the same rows come back bad and are skipped. */
  count(values: ArrayLike<unknown>, line: number): BadRow | null;
  /**
   * The profile. Throws a BaselineError naming `meta.source` when there was no valid row,
   * when a numeric feature has no value at all, or when pass 2 did not see pass 1's rows.
   */
  finish(meta: ProfileMeta): BaselineProfile;
  stats(): ProfileBuilderStats;
}

/** Creates the two-pass builder for `model`'s features and prediction. */
/**
 * `piiKey` is required when a feature of the model is a PII field: its values are replaced by
 * `piiTransform` (the live events' transform) before anything keeps them.
 */
export function createProfileBuilder(
  model: ModelConfig,
  version: string,
  piiKey: PiiKey | null = null,
): ProfileBuilder {
  return new Builder(model, version, piiKey);
}

const MISSING = 0;
const VALUE = 1;

class Builder implements ProfileBuilder {
  readonly columns: readonly ProfileColumn[];
  phase: 'observe' | 'count' | 'done' = 'observe';
  private readonly model: ModelConfig;
  private readonly version: string;
  private readonly params: BaselineParams;
  private readonly types: Uint8Array; // 1 = numeric
  private readonly required: Uint8Array;
  // Per-row scratch, filled by parse().
  private readonly state: Uint8Array;
  private readonly nums: Float64Array;
  private readonly strs: string[];
  private rows = 0;
  private counted = 0;
  private readonly missing: Float64Array;
  private readonly numeric: (NumericState | null)[];
  private readonly categorical: (CategoricalState | null)[];
  /** The PII key per column hashed, null for the others. */
  private readonly piiKeys: (PiiKey | null)[];
  /** Columns of the prediction and the label (-1: none), and the performance over pass 1. */
  private readonly predictionAt: number;
  private readonly labelAt: number;
  private readonly performance: PerformanceAccumulator;

  constructor(model: ModelConfig, version: string, piiKey: PiiKey | null) {
    this.model = model;
    this.version = version;
    this.params = baselineParams(model);
    const columns = profileColumns(model);
    this.columns = columns;
    const n = columns.length;
    this.types = Uint8Array.from(columns, (c) => (c.type === 'numeric' ? 1 : 0));
    this.required = Uint8Array.from(columns, (c) => (c.role === 'feature' ? 1 : 0));
    this.state = new Uint8Array(n);
    this.nums = new Float64Array(n);
    this.strs = new Array<string>(n).fill('');
    this.missing = new Float64Array(n);
    const reservoirSize = Math.max(this.params.sampleSize, EDGE_SAMPLE_MIN);
    const candidates = Math.max(1, CANDIDATE_FACTOR * this.params.topCategories);
    this.numeric = columns.map((c) =>
      c.type === 'numeric' && c.role !== 'label'
        ? new NumericState(reservoirSize, seedFor(c.name))
        : null,
    );
    this.categorical = columns.map((c) =>
      c.type === 'categorical' && c.role !== 'label' ? new CategoricalState(candidates) : null,
    );
    this.predictionAt = columns.findIndex((c) => c.role === 'prediction');
    this.labelAt = columns.findIndex((c) => c.role === 'label');
    this.performance = createPerformanceAccumulator(model);
    const pii = piiColumns(model);
    this.piiKeys = columns.map((c) =>
      c.role === 'feature' && pii.has(c.name) ? requireKey(model, piiKey) : null,
    );
    const seen = new Set<string>();
    for (const c of columns) {
      if (seen.has(c.name)) {
        throw new BaselineError(
          `model "${model.id}": column "${c.name}" is configured twice (features and prediction must be distinct)`,
        );
      }
      seen.add(c.name);
    }
  }

  observe(values: ArrayLike<unknown>, line: number): BadRow | null {
    if (this.phase !== 'observe') throw new BaselineError('observe() after endObserve()');
    const bad = this.parse(values, line);
    if (bad !== null) return bad;
    this.rows++;
    const n = this.columns.length;
    for (let c = 0; c < n; c++) {
      const s = this.state[c]!;
      if (s === MISSING) {
        this.missing[c]!++;
        continue;
      }
      if (this.types[c] === 1) this.numeric[c]?.observe(this.nums[c]!);
      else this.categorical[c]?.observe(this.strs[c]!);
    }
    this.observePerformance();
    return null;
  }

  endObserve(): void {
    if (this.phase !== 'observe') throw new BaselineError('endObserve() called twice');
    this.phase = 'count';
    for (let c = 0; c < this.columns.length; c++) {
      this.numeric[c]?.fixEdges(this.params.bins);
      this.categorical[c]?.fixCandidates();
    }
  }

  count(values: ArrayLike<unknown>, line: number): BadRow | null {
    if (this.phase !== 'count') throw new BaselineError('count() outside pass 2');
    const bad = this.parse(values, line);
    if (bad !== null) return bad;
    this.counted++;
    const n = this.columns.length;
    for (let c = 0; c < n; c++) {
      if (this.state[c] === MISSING) continue;
      if (this.types[c] === 1) this.numeric[c]?.count(this.nums[c]!);
      else this.categorical[c]?.count(this.strs[c]!);
    }
    return null;
  }

  /** Pass 1: a row with a prediction and a label counts into the baseline's performance. */
  private observePerformance(): void {
    const p = this.predictionAt;
    const l = this.labelAt;
    if (l < 0 || this.state[p] === MISSING || this.state[l] === MISSING) return;
    this.performance.record({
      prediction: this.types[p] === 1 ? this.nums[p]! : this.strs[p]!,
      label: this.strs[l]!,
    });
  }

  finish(meta: ProfileMeta): BaselineProfile {
    if (this.phase !== 'count') throw new BaselineError('finish() before endObserve()');
    const source = meta.source;
    if (this.rows === 0) {
      throw new BaselineError(
        `${source}: no valid rows (${meta.badRows} bad row${meta.badRows === 1 ? '' : 's'}); nothing to build a baseline from`,
      );
    }
    if (this.counted !== this.rows) {
      throw new BaselineError(
        `${source}: the second pass saw ${this.counted} valid rows, the first ${this.rows}; did the file change during the import?`,
      );
    }
    const features: Record<string, FeatureProfile> = {};
    let prediction: FeatureProfile | null = null;
    for (let c = 0; c < this.columns.length; c++) {
      const column = this.columns[c]!;
      const missing = this.missing[c]!;
      const num = this.numeric[c];
      const cat = this.categorical[c];
      if (column.role === 'label') continue;
      let profile: FeatureProfile | null;
      if (num) {
        if (num.n === 0) {
          if (column.role === 'prediction') continue;
          throw new BaselineError(
            `${source}: numeric feature "${column.name}" has no value in any of the ${this.rows} valid rows`,
          );
        }
        profile = num.profile(missing, this.params);
      } else {
        if (column.role === 'prediction' && cat!.n === 0) continue;
        profile = cat!.profile(missing, this.params.topCategories);
      }
      if (column.role === 'prediction') prediction = profile;
      else features[column.name] = profile;
    }
    this.phase = 'done';
    const performance = this.performance.metrics();
    return {
      id: baselineId(meta.hash),
      hash: meta.hash,
      model: this.model.id,
      version: this.version,
      createdAt: meta.createdAt,
      source,
      rowCount: this.rows,
      badRows: meta.badRows,
      params: { ...this.params },
      features,
      prediction,
      ...(Object.keys(performance).length > 0 ? { performance } : {}),
    };
  }

  stats(): ProfileBuilderStats {
    let reservoirValues = 0;
    let candidateKeys = 0;
    let distinctKeys = 0;
    for (const s of this.numeric) if (s) reservoirValues += s.reservoir.size;
    for (const s of this.categorical) {
      if (s) {
        candidateKeys += s.candidateCount;
        distinctKeys += s.distinctKeys;
      }
    }
    return {
      rows: this.rows,
      counted: this.counted,
      reservoirValues,
      candidateKeys,
      distinctKeys,
      labeled: this.performance.count,
      rocAucErrorBound: this.performance.rocAucErrorBound(),
    };
  }

  /** Validates a whole row into the scratch arrays before any state changes. */
  private parse(values: ArrayLike<unknown>, line: number): BadRow | null {
    const n = this.columns.length;
    for (let c = 0; c < n; c++) {
      const v = values[c];
      if (v === undefined) {
        if (this.required[c] === 1) {
          return badRow(line, this.columns[c]!.name, 'missing-field', 'the column is absent');
        }
        this.state[c] = MISSING;
        continue;
      }
      if (v === null || v === '') {
        this.state[c] = MISSING;
        continue;
      }
      if (this.types[c] === 1) {
        let x: number;
        if (typeof v === 'number') {
          x = v;
        } else if (typeof v === 'string') {
          x = Number(v);
          // Number('  ') is 0: a blank cell is missing, not zero.
          if (x === 0 && v.trim() === '') {
            this.state[c] = MISSING;
            continue;
          }
        } else {
          return badRow(
            line,
            this.columns[c]!.name,
            'wrong-type',
            `expected a number, got ${describe(v)}`,
          );
        }
        if (x - x !== 0) {
          const name = this.columns[c]!.name;
          if (Number.isNaN(x)) {
            return typeof v === 'string' && v.trim().toLowerCase() !== 'nan'
              ? badRow(line, name, 'not-a-number', `not a number: ${JSON.stringify(clip(v))}`)
              : badRow(line, name, 'nan', 'NaN is not a valid baseline value');
          }
          return badRow(line, name, 'non-finite', `${x} is not a finite number`);
        }
        this.nums[c] = x;
        this.state[c] = VALUE;
      } else {
        let s: string;
        if (typeof v === 'string') s = v;
        else if (typeof v === 'number' || typeof v === 'boolean') {
          if (typeof v === 'number' && Number.isNaN(v)) {
            this.state[c] = MISSING;
            continue;
          }
          s = String(v);
        } else {
          return badRow(
            line,
            this.columns[c]!.name,
            'wrong-type',
            `expected a category (string, number or boolean), got ${describe(v)}`,
          );
        }
        const key = this.piiKeys[c];
        this.strs[c] = key ? (piiTransform(s, key) as string) : s;
        this.state[c] = VALUE;
      }
    }
    return null;
  }
}

function badRow(line: number, field: string, reason: BadRowReason, message: string): BadRow {
  return { line, field, reason, message };
}

function describe(v: unknown): string {
  if (Array.isArray(v)) return 'an array';
  if (v === null) return 'null';
  if (typeof v === 'object') return 'an object';
  return `${typeof v} ${clip(String(v))}`;
}

function clip(s: string): string {
  return s.length > 40 ? `${s.slice(0, 40)}…` : s;
}

class NumericState {
  n = 0;
  /** Sums of x − shift and (x − shift)², shifted by the first value against cancellation. */
  private shift = 0;
  private s1 = 0;
  private s2 = 0;
  min = Number.POSITIVE_INFINITY;
  max = Number.NEGATIVE_INFINITY;
  readonly reservoir: Reservoir;
  private readonly rng: () => number;
  private sketch: NumericSketch | null = null;
  private sorted: Float64Array | null = null;
  /** Distinct values, tracked until there are DISTINCT_CAP of them (then a floor). */
  private distinctSet: Set<number> | null = new Set();
  private distinct = 0;

  constructor(capacity: number, seed: number) {
    this.rng = sfc32(seed);
    this.reservoir = new Reservoir(capacity, this.rng);
  }

  observe(x: number): void {
    if (this.n++ === 0) this.shift = x;
    const d = x - this.shift;
    this.s1 += d;
    this.s2 += d * d;
    if (x < this.min) this.min = x;
    if (x > this.max) this.max = x;
    this.reservoir.offer(x);
    const set = this.distinctSet;
    if (set !== null) {
      set.add(x === 0 ? 0 : x); // -0 and 0 are one value
      if (set.size >= DISTINCT_CAP) {
        this.distinct = set.size;
        this.distinctSet = null;
      }
    }
  }

  fixEdges(bins: number): void {
    if (this.n === 0) return;
    const sorted = this.reservoir.values.slice(0, this.reservoir.size).sort();
    this.sorted = sorted;
    this.reservoir.release();
    const edges = quantileEdges(sorted, bins);
    // The sample may miss the extremes; extend to the exact range (an extra point bin at the
    // minimum and a tail bin at the maximum) rather than move an edge that may be an atom.
    if (this.min < edges[0]!) edges.unshift(this.min);
    if (this.max > edges[edges.length - 1]!) edges.push(this.max);
    this.sketch = createNumericSketch(edges);
  }

  count(x: number): void {
    this.sketch!.record(x);
  }

  profile(missing: number, params: BaselineParams): NumericProfile {
    const sketch = this.sketch!;
    const snap = sketch.snapshot();
    if (snap.below !== 0 || snap.above !== 0 || snap.nan !== 0 || snap.total !== this.n) {
      throw new BaselineError('internal: pass 2 values outside the pass 1 range');
    }
    const edges = [...sketch.edges];
    const counts = snap.counts;
    const coarse = coarseBins(edges, counts, params.psiBuckets).fineToCoarse;
    const sorted = this.sorted!;
    return {
      kind: 'numeric',
      edges,
      counts,
      gaps: snap.gaps!,
      gapSquares: snap.gapSquares!,
      distinct: this.distinctSet?.size ?? this.distinct,
      coarse,
      missing,
      nan: 0,
      summary: {
        count: this.n,
        mean: this.shift + this.s1 / this.n,
        std:
          this.n > 1
            ? Math.sqrt(Math.max(0, this.s2 - (this.s1 * this.s1) / this.n) / (this.n - 1))
            : 0,
        min: this.min,
        max: this.max,
        p01: linearQuantile(sorted, 0.01),
        p50: linearQuantile(sorted, 0.5),
        p99: linearQuantile(sorted, 0.99),
      },
      sample: this.subsample(sorted, params.sampleSize),
    };
  }

  /** A uniform subsample (partial Fisher–Yates, same seeded generator), sorted ascending. */
  private subsample(sorted: Float64Array, size: number): number[] {
    if (sorted.length <= size) return Array.from(sorted);
    const pool = sorted.slice();
    for (let i = 0; i < size; i++) {
      const j = i + Math.floor(this.rng() * (pool.length - i));
      const t = pool[i]!;
      pool[i] = pool[j]!;
      pool[j] = t;
    }
    return Array.from(pool.subarray(0, size).sort());
  }
}

/**
 * Li's Algorithm L (ACM TOMS 1994): a uniform sample of `capacity` items in one pass, drawing
 * random numbers only for the O(k·log(n/k)) items that enter the reservoir.
 */
class Reservoir {
  values: Float64Array;
  size = 0;
  private seen = 0;
  private next = 0;
  private w = 0;
  private readonly capacity: number;
  private readonly rng: () => number;

  constructor(capacity: number, rng: () => number) {
    this.capacity = capacity;
    this.rng = rng;
    // Grown by doubling up to the capacity: a small sample (a segment's rows) holds only what it saw.
    this.values = new Float64Array(Math.min(capacity, 1024));
  }

  offer(x: number): void {
    const i = this.seen++;
    const k = this.capacity;
    if (i < k) {
      if (i === this.values.length) {
        const grown = new Float64Array(Math.min(k, this.values.length * 2));
        grown.set(this.values);
        this.values = grown;
      }
      this.values[i] = x;
      this.size++;
      if (this.size === k) {
        this.w = Math.exp(Math.log(this.rng()) / k);
        this.next = i + this.skip() + 1;
      }
      return;
    }
    if (i === this.next) {
      this.values[Math.floor(this.rng() * k)] = x;
      this.w *= Math.exp(Math.log(this.rng()) / k);
      this.next = i + this.skip() + 1;
    }
  }

  /** Drops the storage once the sample has been copied out (pass 2 does not need it). */
  release(): void {
    this.values = new Float64Array(0);
  }

  private skip(): number {
    return Math.floor(Math.log(this.rng()) / Math.log(1 - this.w));
  }
}

class CategoricalState {
  n = 0;
  /** Misra–Gries counters in pass 1; exact counts of the candidates in pass 2. */
  private readonly mg = new Map<string, { n: number }>();
  private readonly capacity: number;
  /**
   * Distinct values, once there are more than the counters hold. Until the first decrement
   * round the counters hold every value seen, so their size is the distinct count.
   */
  private distinctSet: Set<string> | null = null;
  private readonly distinctCap: number;
  private candidates: Map<string, { n: number }> | null = null;
  private distinctCountAtEnd = 0;
  /** Every distinct value seen in pass 1, up to distinctCap (then the first distinctCap). */
  private seenAtEnd: string[] | null = null;
  private exactAfterPass1 = false;

  constructor(capacity: number) {
    this.capacity = capacity;
    this.distinctCap = Math.max(DISTINCT_CAP, capacity);
  }

  get candidateCount(): number {
    return (this.candidates ?? this.mg).size;
  }

  get distinctKeys(): number {
    return this.distinctSet?.size ?? 0;
  }

  get distinct(): number {
    return this.distinctSet?.size ?? this.mg.size;
  }

  observe(s: string): void {
    this.n++;
    const set = this.distinctSet;
    if (set !== null && set.size < this.distinctCap) set.add(s);
    const mg = this.mg;
    const counter = mg.get(s);
    if (counter !== undefined) counter.n++;
    else if (mg.size < this.capacity) mg.set(s, { n: 1 });
    else {
      if (set === null) {
        this.distinctSet = new Set(mg.keys());
        this.distinctSet.add(s);
      }
      // Decrement every counter (and the newcomer): amortised O(1), as each round removes
      // capacity + 1 units of count that were each added once.
      for (const [key, v] of mg) {
        if (v.n === 1) mg.delete(key);
        else v.n--;
      }
    }
  }

  fixCandidates(): void {
    this.distinctCountAtEnd = this.distinct;
    this.seenAtEnd = [...(this.distinctSet ?? this.mg.keys())];
    if (this.distinctSet === null) {
      // The counters never overflowed: they are already the exact counts of every value.
      this.exactAfterPass1 = true;
      this.candidates = new Map(this.mg);
    } else {
      const candidates = new Map<string, { n: number }>();
      for (const key of this.mg.keys()) candidates.set(key, { n: 0 });
      this.candidates = candidates;
    }
    this.mg.clear();
  }

  count(s: string): void {
    if (this.exactAfterPass1) return;
    const counter = this.candidates!.get(s);
    if (counter !== undefined) counter.n++;
  }

  profile(missing: number, topCategories: number): CategoricalProfile {
    const ranked = [...this.candidates!].map(([key, c]) => ({ key, n: c.n }));
    ranked.sort((a, b) => b.n - a.n || (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
    const top = ranked.slice(0, topCategories).filter((r) => r.n > 0);
    const inTop = top.reduce((s, r) => s + r.n, 0);
    const categories = top.map((r) => r.key);
    const inCategories = new Set(categories);
    const all = this.seenAtEnd ?? [];
    const seen = all.filter((v) => !inCategories.has(v)).sort();
    return {
      kind: 'categorical',
      categories,
      counts: top.map((r) => r.n),
      other: this.n - inTop,
      missing,
      distinct: this.distinctCountAtEnd,
      seen,
      // The set stops growing at the cap: a value first seen after that is not in the list.
      seenComplete: all.length < this.distinctCap,
    };
  }
}

/** NumPy `quantile(method='linear')` on a sorted, non-empty array. */
function linearQuantile(sorted: Float64Array, q: number): number {
  const n = sorted.length;
  const h = (n - 1) * q;
  const lo = Math.floor(h);
  if (lo >= n - 1) return sorted[n - 1]!;
  const a = sorted[lo]!;
  const b = sorted[lo + 1]!;
  const t = h - lo;
  return t >= 0.5 ? b - (b - a) * (1 - t) : a + (b - a) * t;
}

/** FNV-1a of the column name: each column gets its own reproducible random stream. */
function seedFor(name: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < name.length; i++) {
    h ^= name.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

/** sfc32 (Chris Doty-Humphrey's small fast counter), uniform in the open interval (0, 1). */
function sfc32(seed: number): () => number {
  let a = 0x9e3779b9;
  let b = 0x243f6a88;
  let c = 0xb7e15162;
  let d = seed >>> 0;
  const next = (): number => {
    const t = (((a + b) | 0) + d) | 0;
    d = (d + 1) | 0;
    a = b ^ (b >>> 9);
    b = (c + (c << 3)) | 0;
    c = (c << 21) | (c >>> 11);
    c = (c + t) | 0;
    return t >>> 0;
  };
  for (let i = 0; i < 15; i++) next();
  return () => (next() + 0.5) / 4294967296;
}

export interface BuildFromRowsOptions {
  /** Required for a model with PII features (see createProfileBuilder). */
  piiKey?: PiiKey | null;
  /** Stored as the profile's source (default "memory"). */
  source?: string;
  /** Default Date.now(). */
  createdAt?: number;
  /**
   * Fit the label-free performance estimator on each row's `label.field` value, as
   * `baseline import` does (binary classifiers with a numeric score). Default false.
   */
  estimator?: boolean;
}

export interface BaselineBuildResult {
  profile: BaselineProfile;
  badRows: BadRowReport;
}

/**
 * The same two-pass profile over in-memory rows (tests, the demo). Each row is an object
 * shaped like a JSONL line: features at the top level or under `features`, the prediction at
 * the top level. The line number of a row is its 1-based index. The hash covers the spec and
 * each row's JSON, so the same rows give the same id.
 */
export function buildProfileFromRows(
  model: ModelConfig,
  version: string,
  rows: Iterable<Record<string, unknown>>,
  options: BuildFromRowsOptions = {},
): BaselineBuildResult {
  const list = Array.isArray(rows) ? (rows as Record<string, unknown>[]) : Array.from(rows);
  const piiKey = options.piiKey ?? null;
  const builder = createProfileBuilder(model, version, piiKey);
  const names = builder.columns.map((c) => c.name);
  const values: unknown[] = new Array(names.length).fill(undefined);
  const hash = createBaselineHash(model, version, piiKey);
  const log = new BadRowLog();
  const load = (row: unknown): boolean => {
    if (row === null || typeof row !== 'object' || Array.isArray(row)) return false;
    for (let c = 0; c < names.length; c++) {
      values[c] = jsonColumnValue(row as Record<string, unknown>, names[c]!);
    }
    return true;
  };
  const segments = createSegmentBaselineBuilder(model, version, names, piiKey);
  if (segments !== null) {
    for (const row of list) if (load(row)) segments.tally(values);
    segments.endTally();
  }
  list.forEach((row, i) => {
    hash.update(`${JSON.stringify(row, jsonSafe) ?? 'undefined'}\n`);
    if (!load(row)) {
      log.add({ line: i + 1, field: null, reason: 'not-an-object', message: 'expected an object' });
      return;
    }
    const bad = builder.observe(values, i + 1);
    if (bad !== null) log.add(bad);
    else segments?.observe(values, i + 1);
  });
  builder.endObserve();
  segments?.endObserve();
  const cbpe = options.estimator && estimatesPerformance(model) ? createCbpeCollector(model) : null;
  const scoreAt = names.indexOf(model.prediction.field);
  list.forEach((row, i) => {
    if (!load(row)) return;
    if (builder.count(values, i + 1) !== null) return;
    segments?.count(values, i + 1);
    if (cbpe !== null) {
      cbpe.add(values[scoreAt], jsonColumnValue(row as Record<string, unknown>, model.label.field));
    }
  });
  const meta = {
    hash: hash.digest('hex'),
    source: options.source ?? 'memory',
    createdAt: options.createdAt ?? Date.now(),
    badRows: log.total,
  };
  const built = builder.finish(meta);
  const estimator = cbpe?.finish().model ?? null;
  const withEstimator = estimator === null ? built : { ...built, cbpe: estimator };
  const profile =
    segments === null ? withEstimator : { ...withEstimator, segments: segments.finish(meta) };
  return { profile, badRows: log.report() };
}

/**
 * Looks a column up in a JSONL / in-memory row: inside its `features` object when that holds
 * the key, else at the top level (where the event contract puts `prediction`). `undefined`
 * means absent; `null` stays `null` (a missing value).
 */
export function jsonColumnValue(row: Record<string, unknown>, name: string): unknown {
  const nested = row.features;
  if (
    nested !== null &&
    typeof nested === 'object' &&
    !Array.isArray(nested) &&
    Object.hasOwn(nested, name)
  ) {
    return (nested as Record<string, unknown>)[name];
  }
  return Object.hasOwn(row, name) ? row[name] : undefined;
}

/** Keeps NaN / ±Infinity / undefined distinguishable from null in the row hash. */
function jsonSafe(_key: string, v: unknown): unknown {
  if (typeof v === 'number' && !Number.isFinite(v)) return `__${v}`;
  if (v === undefined) return '__undefined';
  if (typeof v === 'bigint') return `${v}n`;
  return v;
}
