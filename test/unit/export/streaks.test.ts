/**
 * Consecutive drifted windows (src/export/streaks.ts): runs, rewrites counted once, windows
 * written out of order, folding into the base, seeding from the store, forgetting a version.
 */
import { describe, expect, it } from 'vitest';
import { createStreaks, type StreakKey } from '../../../src/export/streaks.js';

const key = (series = 'feature:income', version = '3'): StreakKey => ({
  model: 'credit-risk',
  version,
  window: '5m',
  series,
});
const W = 300_000;

describe('consecutive drifted windows', () => {
  it('counts drifted windows in a row up to the newest; a clean one resets', () => {
    const s = createStreaks();
    const seen = [true, true, false, true, true, true].map((d, k) => s.observe(key(), k * W, d));
    expect(seen).toEqual([1, 2, 0, 1, 2, 3]);
  });

  it('a provisional result then the final one of the same window count once', () => {
    const s = createStreaks();
    s.observe(key(), 0, true);
    expect(s.observe(key(), W, true)).toBe(2); // provisional
    expect(s.observe(key(), W, true)).toBe(2); // final, drifted too: not 3
    expect(s.observe(key(), W, false)).toBe(0); // or the final says clean
    expect(s.observe(key(), 2 * W, true)).toBe(1);
  });

  it('a window without a verdict neither extends nor ends a run, and withdraws an earlier one', () => {
    const s = createStreaks();
    s.observe(key(), 0, true);
    expect(s.observe(key(), W, null)).toBe(1); // too few events
    expect(s.observe(key(), 2 * W, true)).toBe(2);
    expect(s.observe(key(), 3 * W, true)).toBe(3); // provisional, drifted
    expect(s.observe(key(), 3 * W, null)).toBe(2); // final: too few values after all
  });

  it('a window written after a newer one (allowed lateness) takes its place in the run', () => {
    const s = createStreaks();
    s.observe(key(), 0, true);
    s.observe(key(), W, false); // provisional of W while window 2W is open too
    expect(s.observe(key(), 2 * W, true)).toBe(1);
    expect(s.observe(key(), W, true)).toBe(3); // final of W: drifted after all
    // A series whose first result came out of order.
    const t = createStreaks();
    t.observe(key(), 2 * W, true);
    expect(t.observe(key(), W, true)).toBe(2);
  });

  it('keeps a bounded history: older verdicts fold into the base; a rewrite older than it is ignored', () => {
    const s = createStreaks(3);
    for (let k = 0; k < 10; k++) s.observe(key(), k * W, true);
    expect(s.observe(key(), 10 * W, true)).toBe(11);
    expect(s.observe(key(), 2 * W, false)).toBe(11); // folded long ago: cannot be placed
    expect(s.observe(key(), 9 * W, false)).toBe(1); // kept: placed
  });

  it('continues a stored run after a restart (seed), the newest window rewritten included', () => {
    const s = createStreaks();
    s.seed(key(), {
      base: 4,
      truncated: true,
      verdicts: [
        { start: 5 * W, drifted: true },
        { start: 6 * W, drifted: true },
      ],
    });
    expect(s.observe(key(), 6 * W, true)).toBe(6); // the restore replays the newest: unchanged
    expect(s.observe(key(), 7 * W, true)).toBe(7);
    expect(s.observe(key(), 4 * W, false)).toBe(7); // before the stored history: ignored
  });

  it('series are per model version, window size and series; forget drops a version', () => {
    const s = createStreaks();
    s.observe(key('dataset'), 0, true);
    s.observe(key('feature:income'), 0, true);
    s.observe(key('dataset', '4'), 0, true);
    s.observe({ ...key('dataset'), window: '1h' }, 0, true);
    expect(s.size()).toBe(4);
    expect(s.observe(key('dataset'), W, true)).toBe(2);
    s.forget('credit-risk', '3');
    expect(s.size()).toBe(1);
    expect(s.observe(key('dataset'), 2 * W, true)).toBe(1);
    expect(s.observe(key('dataset', '4'), W, true)).toBe(2);
  });
});
