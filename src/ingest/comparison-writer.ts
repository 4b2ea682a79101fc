import { modelConfigHash } from '../config/hash.js';
import type { ModelConfig } from '../config/types.js';
import type { Metrics } from '../export/metrics.js';
import type { Logger } from '../logger.js';
import type { StoredComparison } from '../store/comparison-sql.js';
import type { Store } from '../store/types.js';
import type { PerformanceResult, WindowResult } from '../types.js';
import { VERSION } from '../version.js';
import {
  type ComparisonTracker,
  createComparisonTracker,
  isChallenger,
  pairRealised,
} from '../window/comparison.js';
import type { VersionComparison } from '../window/comparison-types.js';
import type { Clock, ClosedWindow } from '../window/index.js';
import type { StoreWrites, Write } from './store-writes.js';

/** What the comparison writer reads from and writes to the store. */
export type ComparisonStore = Pick<
  Store,
  'insertComparisons' | 'queryComparisons' | 'shadowAgreement' | 'queryPerformance'
>;

/*
 * Comparisons on their way to the store (src/window/comparison.ts says what they are):
 * - a version's final window is written: the tracker pairs it with its partner's window of the
 *   same span, shadow agreement is read from the stored predictions (after the raw rows are
 *   flushed), the comparison is appended to version_comparisons, the gauges set and
 *   `onComparison` called;
 * - a version's performance is written (labels arrived): the newest stored comparison of each
 *   of its pairs for that window is written again with both versions' realised metrics.
 * A comparison is derived data: a failed write is logged and does not fail the window write
 * (the Kafka path's `write` retries it until it is stored).
 */
export interface ComparisonWriter {
  /** Final windows just stored, each with the closed window it came from. */
  windowsWritten(
    written: ReadonlyArray<{ closed: ClosedWindow; result: WindowResult }>,
    write: Write,
  ): Promise<void>;
  /** Performance records just stored. */
  performanceWritten(rows: readonly PerformanceResult[], write: Write): Promise<void>;
}

export function createComparisonWriter(opts: {
  store: ComparisonStore;
  modelOf: (model: string) => ModelConfig | undefined;
  clock: Clock;
  metrics: Metrics;
  logger: Logger;
  writes: StoreWrites;
  /** Stores every raw row buffered so far (shadow agreement reads them). */
  flushRaw: (write: Write) => Promise<void>;
  /** Called after each comparison is stored (the rollback signal judges it). */
  onComparison?: ((c: VersionComparison) => void) | undefined;
  tracker?: ComparisonTracker;
}): ComparisonWriter {
  const { store, modelOf, clock, metrics, writes } = opts;
  const log = opts.logger.child({ stage: 'comparison' });
  const tracker = opts.tracker ?? createComparisonTracker();

  /**
   * Appends comparisons one by one, so one that cannot be written (a retriable failure outside
   * the Kafka path, whose `write` retries it) costs only itself: logged, the others stored.
   * One the store refuses for good is quarantined (insertResults).
   */
  async function append(rows: readonly VersionComparison[], write: Write): Promise<void> {
    for (const c of rows) {
      const model = modelOf(c.model);
      if (model === undefined) continue;
      const row: StoredComparison = {
        ...c,
        driftdVersion: VERSION,
        configHash: modelConfigHash(model),
        writtenAt: clock.now(),
      };
      let written: readonly StoredComparison[];
      try {
        written = await writes.insertResults(
          'version_comparisons',
          'insert_comparisons',
          'version_comparison',
          [row],
          (batch) => store.insertComparisons(batch),
          write,
        );
      } catch (err) {
        log.warn(
          {
            err,
            model: c.model,
            champion: c.champion,
            challenger: c.challenger,
            window: c.window,
            start: new Date(c.windowStart).toISOString(),
          },
          'version comparison not stored; the windows are',
        );
        continue;
      }
      for (const w of written) {
        metrics.comparison.recordComparison(w);
        log.info(
          {
            model: w.model,
            champion: w.champion,
            challenger: w.challenger,
            window: w.window,
            start: new Date(w.windowStart).toISOString(),
            challengerShare: w.challengerShare,
            predictionDrift: w.prediction?.drifted ?? null,
            realised: Object.keys(w.realised).length > 0,
          },
          'version comparison',
        );
        opts.onComparison?.(w);
      }
    }
  }

  async function withShadow(
    model: ModelConfig,
    c: VersionComparison,
    write: Write,
  ): Promise<VersionComparison> {
    if (model.comparison?.shadow !== true) return c;
    // Without its shadow part (logged) rather than not at all.
    const shadow = await write('shadow_agreement', () =>
      store.shadowAgreement({
        model: c.model,
        champion: c.champion,
        challenger: c.challenger,
        from: c.windowStart,
        to: c.windowEnd,
        classes:
          model.task === 'regression'
            ? 'none'
            : model.task === 'binary-classification'
              ? 'binary'
              : 'category',
        threshold: model.label.threshold,
        positive: String(model.label.positive),
      }),
    ).catch((err: unknown) => {
      log.warn(
        { err, model: c.model },
        'shadow agreement not read; the comparison is stored without it',
      );
      return null;
    });
    return { ...c, shadow };
  }

  return {
    async windowsWritten(written, write) {
      try {
        const out: Array<[ModelConfig, VersionComparison]> = [];
        for (const { closed, result } of written) {
          if (result.provisional) continue;
          const model = modelOf(result.model);
          if (model === undefined) continue;
          // One window that cannot be compared costs only its own comparisons.
          try {
            const { comparisons, shares } = tracker.add(
              {
                bounds: closed.bounds,
                state: closed.state,
                baseline: closed.baseline,
                closedAt: closed.closedAt,
                estimate: result.estimate,
              },
              model,
            );
            for (const s of shares) metrics.comparison.recordTrafficShare(s);
            for (const c of comparisons) out.push([model, c]);
          } catch (err) {
            log.warn(
              {
                err,
                model: result.model,
                version: result.version,
                start: new Date(result.start).toISOString(),
              },
              'window not compared',
            );
          }
        }
        if (out.length === 0) return;
        let rawStored = true;
        if (out.some(([m]) => m.comparison?.shadow === true)) {
          await opts.flushRaw(write).catch((err: unknown) => {
            rawStored = false;
            log.warn(
              { err },
              'raw rows not flushed: comparisons are stored without shadow agreement',
            );
          });
        }
        const rows: VersionComparison[] = [];
        for (const [model, c] of out) rows.push(rawStored ? await withShadow(model, c, write) : c);
        await append(rows, write);
      } catch (err) {
        log.warn({ err }, 'version comparison failed; the windows are stored');
      }
    },

    async performanceWritten(rows, write) {
      try {
        const updates: VersionComparison[] = [];
        for (const p of rows) {
          const model = modelOf(p.model);
          const cfg = model?.comparison;
          if (cfg === undefined) continue;
          const champion = p.version === cfg.champion;
          if (!champion && !isChallenger(cfg, p.version)) continue;
          const stored = await write('query_comparisons', () =>
            store.queryComparisons({
              model: p.model,
              window: p.sizeLabel,
              from: p.start,
              to: p.start + 1,
              ...(champion ? { champion: p.version } : { challenger: p.version }),
            }),
          );
          for (const c of stored) {
            const other = champion ? c.challenger : c.champion;
            const [theirs] = await write('query_performance', () =>
              store.queryPerformance({
                model: p.model,
                window: p.sizeLabel,
                version: other,
                from: p.start,
                to: p.start + 1,
              }),
            );
            const realised = champion
              ? pairRealised(p.metrics, theirs?.metrics)
              : pairRealised(theirs?.metrics, p.metrics);
            if (JSON.stringify(realised) === JSON.stringify(c.realised)) continue;
            const { driftdVersion: _v, configHash: _h, writtenAt: _w, ...comparison } = c;
            updates.push({ ...comparison, realised });
          }
        }
        await append(updates, write);
      } catch (err) {
        log.warn({ err }, 'version comparison update (realised performance) failed');
      }
    },
  };
}
