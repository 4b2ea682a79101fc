/**
 * What this instance knows has been finalised (by any instance), per (model, version, window
 * size): the latest finalised window end. Finalisation is monotone in window end within a
 * series — a lane that lets a window go (watermark ≥ end, or idle) lets every earlier one go,
 * and the finaliser takes ready windows oldest end first — so one number per series says
 * whether a window is still open: a window is open until finalised, i.e. while its end lies
 * beyond the series' latest finalised end. (A window skipped for a missing baseline and
 * overtaken by a later one counts as closed: a label for it then looks for its stored result,
 * finds none, and its performance comes with its final result.)
 *
 * Bounded by configuration: at most `maxSeries` series (the daemon passes
 * 2 × Σ over models of versions.maxActive × window sizes); beyond it the series updated
 * longest ago is forgotten (its windows count as open again, as before the first
 * finalisation this instance saw).
 */
import type { WindowBounds } from '../types.js';

export interface FinalisedWindows {
  /** Records a finalised window; true when it moved its series' latest end forward. */
  add(w: Pick<WindowBounds, 'model' | 'version' | 'sizeLabel' | 'end'>): boolean;
  /** A window is open until finalised: its end lies beyond its series' latest finalised end. */
  isOpen(model: string, b: Pick<WindowBounds, 'version' | 'sizeLabel' | 'end'>): boolean;
  /** Every series' latest finalised end. */
  series(): Array<{ model: string; version: string; sizeLabel: string; end: number }>;
  size(): number;
}

const seriesKey = (model: string, version: string, sizeLabel: string) =>
  // Model and size label are configured ids; the version (producer-chosen) comes last.
  `${model}\u0000${sizeLabel}\u0000${version}`;

export function createFinalisedWindows(opts: { maxSeries: number }): FinalisedWindows {
  /** Insertion order = update order (a moved series is re-inserted): the first is the stalest. */
  const through = new Map<
    string,
    { model: string; version: string; sizeLabel: string; end: number }
  >();
  return {
    add(w) {
      const k = seriesKey(w.model, w.version, w.sizeLabel);
      const had = through.get(k);
      if (had !== undefined && had.end >= w.end) return false;
      through.delete(k);
      through.set(k, { model: w.model, version: w.version, sizeLabel: w.sizeLabel, end: w.end });
      while (through.size > Math.max(1, opts.maxSeries)) {
        const oldest = through.keys().next().value as string;
        through.delete(oldest);
      }
      return true;
    },
    isOpen(model, b) {
      const t = through.get(seriesKey(model, b.version, b.sizeLabel));
      return t === undefined || b.end > t.end;
    },
    series: () => [...through.values()],
    size: () => through.size,
  };
}
