import type { ModelConfig } from '../config/types.js';
import { computePerformance, type LabeledPrediction } from './performance.js';
import { type SegmentField, segmentName, segmentOf } from './segments.js';

/** A labelled prediction with the values of the window's segment fields, in their order. */
export interface SegmentedPrediction extends LabeledPrediction {
  segmentValues?: readonly unknown[];
}

/** One segment's realised performance in a window. */
export interface SegmentPerformance {
  /** "<field>=<value>" (src/window/segments.ts). */
  segment: string;
  labeled: number;
  metrics: Record<string, number>;
}

/**
 * The performance of a window's segments: its labelled predictions split as the window splits
 * its events (per segment field, the baseline's top values and "__other__"; only segments with
 * a baseline profile, the only ones the window has a state for, so that a segment's
 * performance sits beside its drift), each split measured by the same code as the whole
 * window. `pairs[i].segmentValues` holds the values of `fields` in order (the store's
 * `labeledPredictions` with `segmentFields`). Segments without a labelled prediction are left
 * out. Sorted by segment name.
 */
export function evaluateSegmentPerformance(
  model: ModelConfig,
  fields: readonly SegmentField[],
  pairs: readonly SegmentedPrediction[],
): SegmentPerformance[] {
  const bySegment = new Map<string, SegmentedPrediction[]>();
  fields.forEach((f, i) => {
    for (const p of pairs) {
      const value = segmentOf(p.segmentValues?.[i], f.values);
      if (!f.baselines.has(value)) continue;
      const name = segmentName(f.field, value);
      const list = bySegment.get(name);
      if (list === undefined) bySegment.set(name, [p]);
      else list.push(p);
    }
  });
  return [...bySegment.keys()].sort().map((segment) => {
    const list = bySegment.get(segment)!;
    return { segment, labeled: list.length, metrics: computePerformance(model, list) };
  });
}
