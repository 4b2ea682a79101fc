import type { ModelConfig } from '../config/types.js';
import type { BaselineProfile, SegmentFieldProfile } from '../types.js';

/*
 * Segments (models[].segments): every window of a model is also evaluated per value of each
 * segment field, against the baseline's rows of that value (so a segment's natural difference
 * from the whole population never reads as drift). A field's segments are its `maxPerField`
 * most frequent baseline values plus "__other__", which takes every other value: values the
 * baseline had beyond the top, values it never had, and missing values. The segment set is
 * fixed by the baseline, never by what producers send: per open window at most
 * Σ over fields (maxPerField + 1) segment states.
 */

/** The segment of values beyond a field's top values (and missing ones). */
export const OTHER_SEGMENT = '__other__';

/**
 * A value's segment key, normalised as categorical sketches count values (String(v)); null,
 * NaN and absent values are missing, which count in "__other__".
 */
export function segmentKey(v: unknown): string | null {
  if (typeof v === 'string') return v;
  if (typeof v === 'number') return Number.isNaN(v) ? null : String(v);
  if (typeof v === 'boolean') return String(v);
  return null;
}

/** The segment a value falls in among a field's segment values. */
export function segmentOf(v: unknown, values: ReadonlySet<string>): string {
  const key = segmentKey(v);
  return key !== null && values.has(key) ? key : OTHER_SEGMENT;
}

/** The `segment` label of results and metrics: "<field>=<value>". */
export function segmentName(field: string, value: string): string {
  return `${field}=${value}`;
}

/** One segment field of a window: its values and the baselines of its segments. */
export interface SegmentField {
  field: string;
  values: ReadonlySet<string>;
  /** By segment value: the baseline a segment's state is built on and evaluated against. */
  baselines: ReadonlyMap<string, BaselineProfile>;
}

const derived = new WeakMap<BaselineProfile, SegmentField[]>();

/**
 * The segment fields of a window built on `baseline`: the configured fields the baseline has
 * segment profiles of (a baseline imported before the field was configured has none: import
 * it again). Each segment's baseline is the whole baseline with the segment's own rows,
 * features and prediction, same id and hash (its lineage is the baseline's), no estimator.
 * Built once per profile (profiles are immutable).
 */
export function segmentFields(model: ModelConfig, baseline: BaselineProfile): SegmentField[] {
  const fields = model.segments?.fields ?? [];
  if (fields.length === 0 || baseline.segments === undefined) return [];
  let all = derived.get(baseline);
  if (all === undefined) {
    all = Object.entries(baseline.segments).map(([field, p]) => deriveField(baseline, field, p));
    derived.set(baseline, all);
  }
  return all.filter((f) => fields.includes(f.field));
}

function deriveField(
  baseline: BaselineProfile,
  field: string,
  p: SegmentFieldProfile,
): SegmentField {
  const baselines = new Map<string, BaselineProfile>();
  for (const [value, sp] of Object.entries(p.profiles)) {
    const { cbpe: _cbpe, performance: _performance, segments: _segments, ...rest } = baseline;
    baselines.set(value, {
      ...rest,
      rowCount: sp.rowCount,
      features: sp.features,
      prediction: sp.prediction,
    });
  }
  return { field, values: new Set(p.values), baselines };
}
