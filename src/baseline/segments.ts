/**
 * The segment profiles of a baseline (models[].segments, src/window/segments.ts): a tally pass
 * finds each segment field's `maxPerField` most frequent values, then every valid row is also
 * profiled by the builder of its segment in each field (same two passes, same algorithm as the
 * whole baseline), so a segment is compared with the baseline's rows of that segment alone.
 */
import type { ModelConfig } from '../config/types.js';
import { BaselineError } from '../errors.js';
import { type PiiKey, piiTransform } from '../privacy/pii.js';
import type { SegmentFieldProfile } from '../types.js';
import { OTHER_SEGMENT, segmentKey, segmentOf } from '../window/segments.js';
import { createProfileBuilder, type ProfileBuilder, type ProfileMeta } from './profile.js';

/** Distinct values a segment field may have in a baseline: segments are for low cardinality. */
export const SEGMENT_TALLY_CAP = 100_000;
/**
 * Longest value that may be a segment (it becomes a metric label); longer values count in
 * "__other__", in the baseline as in windows (which only match the baseline's values).
 */
export const SEGMENT_VALUE_MAX_LENGTH = 256;

export interface SegmentBaselineBuilder {
  /** Pass 0, over every row (in the builder's `columns` order). */
  tally(values: ArrayLike<unknown>): void;
  /** Fixes each field's segment values; call once, after the last `tally`. */
  endTally(): void;
  /** Pass 1: a row the whole baseline's builder took. */
  observe(values: ArrayLike<unknown>, line: number): void;
  endObserve(): void;
  /** Pass 2: a row the whole baseline's builder counted. */
  count(values: ArrayLike<unknown>, line: number): void;
  finish(meta: ProfileMeta): Record<string, SegmentFieldProfile>;
}

interface FieldState {
  field: string;
  /** Index in the builder's columns. */
  at: number;
  pii: PiiKey | null;
  tally: Map<string, number>;
  values: string[];
  set: Set<string>;
  builders: Map<string, ProfileBuilder>;
}

/** Null when the model has no segments. `columns` are the whole builder's column names. */
export function createSegmentBaselineBuilder(
  model: ModelConfig,
  version: string,
  columns: readonly string[],
  piiKey: PiiKey | null,
): SegmentBaselineBuilder | null {
  const config = model.segments;
  if (config === undefined || config.fields.length === 0) return null;
  const fields: FieldState[] = config.fields.map((field) => ({
    field,
    at: columns.indexOf(field),
    pii: model.piiFields.includes(field) ? piiKey : null,
    tally: new Map(),
    values: [],
    set: new Set(),
    builders: new Map(),
  }));
  const keyOf = (f: FieldState, values: ArrayLike<unknown>): string | null => {
    const key = segmentKey(f.at < 0 ? undefined : values[f.at]);
    return key === null || f.pii === null ? key : (piiTransform(key, f.pii) as string);
  };
  const builderOf = (f: FieldState, values: ArrayLike<unknown>): ProfileBuilder | undefined =>
    f.builders.get(segmentOf(keyOf(f, values), f.set));

  return {
    tally(values) {
      for (const f of fields) {
        const key = keyOf(f, values);
        if (key === null || key.length > SEGMENT_VALUE_MAX_LENGTH) continue;
        const n = f.tally.get(key);
        if (n !== undefined) f.tally.set(key, n + 1);
        else if (f.tally.size >= SEGMENT_TALLY_CAP) {
          throw new BaselineError(
            `segment field "${f.field}" of model "${model.id}" has more than ${SEGMENT_TALLY_CAP} distinct values in the baseline: segments are for fields of few values (region, channel)`,
          );
        } else f.tally.set(key, 1);
      }
    },
    endTally() {
      for (const f of fields) {
        f.values = [...f.tally]
          .sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0))
          .slice(0, config.maxPerField)
          .map(([v]) => v);
        f.set = new Set(f.values);
        f.tally.clear();
        for (const v of [...f.values, OTHER_SEGMENT]) {
          f.builders.set(v, createProfileBuilder(model, version, piiKey));
        }
      }
    },
    observe(values, line) {
      for (const f of fields) builderOf(f, values)?.observe(values, line);
    },
    endObserve() {
      for (const f of fields) for (const b of f.builders.values()) b.endObserve();
    },
    count(values, line) {
      for (const f of fields) builderOf(f, values)?.count(values, line);
    },
    finish(meta) {
      const out: Record<string, SegmentFieldProfile> = {};
      for (const f of fields) {
        const profiles: SegmentFieldProfile['profiles'] = {};
        for (const [value, b] of f.builders) {
          let p: ReturnType<ProfileBuilder['finish']>;
          try {
            p = b.finish(meta);
          } catch (err) {
            // No rows (a field with at most maxPerField values has no "other"), or a numeric
            // feature with no value in the segment: no reference, so no segment windows.
            if (err instanceof BaselineError) continue;
            throw err;
          }
          const { [f.field]: _own, ...features } = p.features;
          profiles[value] = { rowCount: p.rowCount, features, prediction: p.prediction };
        }
        out[f.field] = { values: f.values, profiles };
      }
      return out;
    },
  };
}
