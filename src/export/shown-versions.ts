/**
 * Which results /metrics shows. Two rules, one place:
 *
 * - Latest only: per model version and window size, the gauges show the newest window (by
 *   start). An older window's result written later (the final result of window W after the
 *   provisional one of W+1, a performance recompute for late labels of an old window) is
 *   stored but does not move them back.
 * - At most `versions.maxActive` versions per model have series, the ones with the newest
 *   windows (by end), so /metrics stays within the README's bound after a restart restored
 *   versions the window manager has not seen yet, and when a retired version's last windows
 *   are written after its series were removed.
 */
export interface ShownVersions {
  /**
   * Whether a result of `model`/`version` ending at `end` gets series. At the cap, a version
   * newer than the oldest shown one displaces it: `evicted` names it (its series must go).
   */
  admit(model: string, version: string, end: number, cap: number): Admission;
  /**
   * True when `start` is the newest window start seen for (`kind`, model, version, window),
   * or equals it (a rewrite of the same window), and remembers it.
   */
  latest(kind: 'window' | 'performance', key: SeriesOf, start: number): boolean;
  forget(model: string, version: string): void;
}

export interface Admission {
  admitted: boolean;
  evicted?: string;
}

export interface SeriesOf {
  model: string;
  version: string;
  window: string;
}

interface Shown {
  /** Newest window end recorded. */
  end: number;
  /** Newest window start per kind and window size. */
  starts: Map<string, number>;
}

export function createShownVersions(): ShownVersions {
  const models = new Map<string, Map<string, Shown>>();
  return {
    admit(model, version, end, cap) {
      let versions = models.get(model);
      if (versions === undefined) {
        versions = new Map();
        models.set(model, versions);
      }
      const known = versions.get(version);
      if (known !== undefined) {
        if (end > known.end) known.end = end;
        return { admitted: true };
      }
      let evicted: string | undefined;
      if (versions.size >= cap) {
        let oldest: [string, Shown] | undefined;
        for (const entry of versions)
          if (oldest === undefined || entry[1].end < oldest[1].end) oldest = entry;
        if (oldest === undefined || oldest[1].end >= end) return { admitted: false };
        evicted = oldest[0];
        versions.delete(evicted);
      }
      versions.set(version, { end, starts: new Map() });
      return evicted === undefined ? { admitted: true } : { admitted: true, evicted };
    },
    latest(kind, key, start) {
      const shown = models.get(key.model)?.get(key.version);
      if (shown === undefined) return true;
      const k = `${kind}\u0000${key.window}`;
      const newest = shown.starts.get(k);
      if (newest !== undefined && start < newest) return false;
      shown.starts.set(k, start);
      return true;
    },
    forget(model, version) {
      models.get(model)?.delete(version);
    },
  };
}
