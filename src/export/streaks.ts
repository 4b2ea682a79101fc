/**
 * Consecutive drifted windows per series (a feature, the dataset or the prediction of one model
 * version and window size): the number behind `driftd_*_drift_consecutive_windows`, on which
 * the drift alerts fire ("K windows in a row") instead of a long `for:` that a restart cancels.
 *
 * Definition: over the windows of the series that have a verdict, ordered by start, the streak
 * is the number of windows at the end whose verdict was "drifted"; a window judged clean ends
 * the run. A window without a verdict neither extends nor ends a run: no events (no result),
 * too few events or reference values (insufficient), or a still-open window that a provisional
 * result finds clean (it may fill up yet; its final result decides). A provisional result that
 * finds drift counts, so a quiet stream still pages.
 *
 * A window's verdict can be written more than once: a provisional result of a quiet window,
 * then its final one; or, with allowed lateness, the final result of window W after the
 * provisional one of W+1. Each series therefore keeps its last `HISTORY` verdicts by window
 * start (a rewrite replaces its entry, it is never counted twice) and the streak before the
 * oldest of them (`base`); older verdicts are folded into `base`. A rewrite of a window older
 * than the kept ones cannot be placed and leaves the streak as it was (the next restart
 * derives it from the store again, see `verdictHistorySql`).
 *
 * Restarts: nothing here is stored. At startup the same structure is seeded from the stored
 * results (`seed`, fed by src/export/restore.ts), so a restarted daemon continues the
 * count an uninterrupted one would have.
 */

/** Verdicts kept per series: more than the windows of one size that can be open at once. */
export const STREAK_HISTORY = 64;
/**
 * Windows of stored history a restart reads per series: a run is restored exactly up to this
 * length (longer runs as this long, still above any alert's window count, at most 1000).
 */
export const STREAK_HORIZON = 1024;

export interface Verdict {
  /** Window start, epoch ms. */
  start: number;
  drifted: boolean;
}

/** A series as stored: its newest verdicts (ascending starts) and the streak before them. */
export interface VerdictHistory {
  base: number;
  verdicts: Verdict[];
  /** Older verdicts exist than those listed (their run is `base`). */
  truncated: boolean;
}

interface Series {
  base: number;
  verdicts: Verdict[];
  /** Verdicts older than `verdicts[0]` exist (folded into `base`, or not read from the store). */
  truncated: boolean;
}

export interface Streaks {
  /**
   * Records the verdict of the window starting at `start` (null: none, which also withdraws an
   * earlier one of the same window); answers the series' streak.
   */
  observe(key: StreakKey, start: number, drifted: boolean | null): number;
  /** Replaces a series' state by what the store holds (startup). */
  seed(key: StreakKey, history: VerdictHistory): void;
  /** Drops every series of a model version (retired). */
  forget(model: string, version: string): void;
  /** Series held (tests, bounds). */
  size(): number;
}

export interface StreakKey {
  model: string;
  version: string;
  window: string;
  /** `dataset`, `prediction`, or `feature:<name>`. */
  series: string;
}

const versionKey = (model: string, version: string) => `${model}\u0000${version}`;
const seriesKey = (k: StreakKey) => `${k.window}\u0000${k.series}`;

function streakOf(s: Series): number {
  let n = s.base;
  for (const v of s.verdicts) n = v.drifted ? n + 1 : 0;
  return n;
}

export function createStreaks(history = STREAK_HISTORY): Streaks {
  /** Per model version (forget drops one entry), per window size and series. */
  const byVersion = new Map<string, Map<string, Series>>();
  let count = 0;

  function seriesOf(k: StreakKey): Series {
    const vk = versionKey(k.model, k.version);
    let version = byVersion.get(vk);
    if (version === undefined) {
      version = new Map();
      byVersion.set(vk, version);
    }
    const sk = seriesKey(k);
    let s = version.get(sk);
    if (s === undefined) {
      s = { base: 0, verdicts: [], truncated: false };
      version.set(sk, s);
      count++;
    }
    return s;
  }

  return {
    observe(key, start, drifted) {
      const s = seriesOf(key);
      const v = s.verdicts;
      // Usually the newest window (append) or a rewrite of it; walk back for the rest.
      let i = v.length;
      while (i > 0 && v[i - 1]!.start > start) i--;
      if (i > 0 && v[i - 1]!.start === start) {
        if (drifted === null) v.splice(i - 1, 1);
        else v[i - 1] = { start, drifted };
      } else if (drifted === null || (i === 0 && s.truncated)) {
        // Older than every kept verdict, with older ones folded into base: unplaceable.
        return streakOf(s);
      } else {
        v.splice(i, 0, { start, drifted });
        if (v.length > history) {
          const oldest = v.shift()!;
          s.base = oldest.drifted ? s.base + 1 : 0;
          s.truncated = true;
        }
      }
      return streakOf(s);
    },
    seed(key, h) {
      const s = seriesOf(key);
      const verdicts = [...h.verdicts].sort((a, b) => a.start - b.start);
      let base = h.base;
      let truncated = h.truncated;
      while (verdicts.length > history) {
        base = verdicts.shift()!.drifted ? base + 1 : 0;
        truncated = true;
      }
      s.base = base;
      s.verdicts = verdicts;
      s.truncated = truncated;
    },
    forget(model, version) {
      const vk = versionKey(model, version);
      count -= byVersion.get(vk)?.size ?? 0;
      byVersion.delete(vk);
    },
    size: () => count,
  };
}
