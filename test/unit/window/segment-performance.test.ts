/**
 * Performance per segment (src/window/segment-performance.ts): labelled predictions are split
 * as the window splits its events (the baseline's top values, "__other__" for any other value
 * and for missing ones, only segments with a baseline profile), each split measured by the
 * whole window's code.
 */
import { describe, expect, it } from 'vitest';
import type { BaselineProfile } from '../../../src/types.js';
import { computePerformance } from '../../../src/window/performance.js';
import {
  evaluateSegmentPerformance,
  type SegmentedPrediction,
} from '../../../src/window/segment-performance.js';
import type { SegmentField } from '../../../src/window/segments.js';
import { testModel } from '../../helpers/model.js';

const model = testModel({ segments: { fields: ['region', 'channel'], maxPerField: 2 } });
const profile = {} as BaselineProfile;

function field(name: string, values: string[], profiled: string[]): SegmentField {
  return {
    field: name,
    values: new Set(values),
    baselines: new Map(profiled.map((v) => [v, profile])),
  };
}

describe('evaluateSegmentPerformance', () => {
  it('splits as windows do, with the whole window’s metrics per segment', () => {
    const fields = [
      field('region', ['EU', 'US'], ['EU', 'US', '__other__']),
      // "__other__" has no baseline rows: its predictions count in the whole window only.
      field('channel', ['web'], ['web']),
    ];
    const p = (region: unknown, channel: unknown, prediction: number, label: number) =>
      ({ prediction, label, segmentValues: [region, channel] }) as SegmentedPrediction;
    const pairs = [
      p('EU', 'web', 0.9, 1),
      p('EU', 'app', 0.2, 1),
      p('US', 'web', 0.8, 0),
      p('APAC', 'web', 0.1, 0), // beyond the top values
      p(null, null, 0.7, 1), // missing
      p(3, 'web', 0.6, 1), // a number: its String() is not a top value
    ];
    const out = evaluateSegmentPerformance(model, fields, pairs);
    expect(out.map((s) => [s.segment, s.labeled])).toEqual([
      ['channel=web', 4],
      ['region=EU', 2],
      ['region=US', 1],
      ['region=__other__', 3],
    ]);
    const eu = out.find((s) => s.segment === 'region=EU')!;
    expect(eu.metrics).toEqual(computePerformance(model, pairs.slice(0, 2)));
    expect(eu.metrics.accuracy).toBe(0.5);
    const other = out.find((s) => s.segment === 'region=__other__')!;
    expect(other.metrics.accuracy).toBe(1);
  });

  it('no fields or no pairs: no segment', () => {
    expect(evaluateSegmentPerformance(model, [], [{ prediction: 1, label: 1 }])).toEqual([]);
    expect(evaluateSegmentPerformance(model, [field('region', ['EU'], ['EU'])], [])).toEqual([]);
  });
});
