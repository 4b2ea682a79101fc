import type { VersionComparison } from '../window/comparison-types.js';
import type { Metrics } from './metrics.js';

/**
 * Startup: the rollback gauges from the stored comparisons (compare's `version_comparisons`),
 * so a restart neither cancels nor delays DriftdChallengerWorse or a rollout controller's
 * abort. Verdicts are derived again with the current `alerts.rollback` (as performance
 * verdicts are), not read back: a changed threshold applies to the run at once.
 *
 * Input: every stored revision of the last windows of each pair (at least
 * alerts.consecutiveWindows per pair and window size; src/export/streaks.ts STREAK_HORIZON
 * restores runs exactly up to that length), in any order. They are replayed by window start
 * and, within a window, by write time: the newest revision of each window decides its verdict,
 * as it did live.
 */
export function restoreRollbackSignals(
  metrics: Pick<Metrics, 'recordComparison'>,
  stored: Iterable<VersionComparison & { writtenAt?: number }>,
): void {
  const ordered = [...stored].sort(
    (a, b) => a.windowStart - b.windowStart || (a.writtenAt ?? 0) - (b.writtenAt ?? 0),
  );
  for (const c of ordered) metrics.recordComparison(c);
}
