/**
 * The alerts a period report lists are runs of K consecutive windows with the verdict, as the
 * alert rules fire them: a gap between windows or a window without a verdict ends a run, a run
 * shorter than K is no alert, and the alert fires at the close of the K-th window.
 */
import { describe, expect, it } from 'vitest';
import { runs } from '../../../src/report/alerts.js';

const H = 3_600_000;
const w = (i: number, hit: boolean | null) => ({ start: i * H, end: (i + 1) * H, hit });

describe('report alert runs', () => {
  it('a run of K or more consecutive hits is one alert, fired at the K-th window', () => {
    const points = [w(0, true), w(1, true), w(2, true), w(3, false), w(4, true)];
    expect(runs(points, 2)).toEqual([{ first: 0, last: 3 * H, firedAt: 2 * H, length: 3 }]);
    expect(runs(points, 4)).toEqual([]);
    expect(runs(points, 1)).toHaveLength(2);
  });

  it('a window without a verdict or a missing window ends a run', () => {
    expect(runs([w(0, true), w(1, null), w(2, true)], 2)).toEqual([]);
    expect(runs([w(0, true), w(2, true)], 2)).toEqual([]);
    expect(runs([w(0, true), w(1, true), w(3, true), w(4, true)], 2)).toEqual([
      { first: 0, last: 2 * H, firedAt: 2 * H, length: 2 },
      { first: 3 * H, last: 5 * H, firedAt: 5 * H, length: 2 },
    ]);
  });
});
