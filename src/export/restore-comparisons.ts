import type { ModelConfig } from '../config/types.js';
import type { Logger } from '../logger.js';
import type { Store } from '../store/types.js';
import type { Metrics } from './metrics.js';
import { restoreRollbackSignals } from './restore-rollback.js';
import { STREAK_HISTORY } from './streaks.js';

/**
 * Startup: the comparison gauges and the rollback runs from the stored comparisons of every
 * model with `comparison`: the newest STREAK_HISTORY windows of each pair and window size,
 * oldest first, so the gauges end on the newest window and the consecutive-worse counts go on
 * where the last run left them (src/export/restore-rollback.ts). Runs before anything is
 * ingested.
 */
export async function restoreComparisons(opts: {
  store: Pick<Store, 'latestComparisons'>;
  models: readonly ModelConfig[];
  metrics: Metrics;
  logger: Logger;
}): Promise<void> {
  for (const model of opts.models) {
    if (model.comparison === undefined) continue;
    const stored = await opts.store.latestComparisons(model.id, STREAK_HISTORY);
    restoreRollbackSignals(opts.metrics, stored);
    for (const c of stored) opts.metrics.comparison.recordComparison(c);
    if (stored.length > 0) {
      opts.logger.info(
        { model: model.id, comparisons: stored.length },
        'restored the comparison gauges and rollback runs from the store',
      );
    }
  }
}
