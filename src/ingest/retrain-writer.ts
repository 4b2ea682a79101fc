import { modelConfigHash } from '../config/hash.js';
import type { ModelConfig } from '../config/types.js';
import type { Metrics } from '../export/metrics.js';
import type { Logger } from '../logger.js';
import type { Store, StoredRetrainRecommendation } from '../store/types.js';
import type { WindowResult } from '../types.js';
import { VERSION } from '../version.js';
import type { Clock } from '../window/index.js';
import {
  createRetrainEpisodes,
  type JudgeContext,
  type RetrainRecommendation,
  retrainInput,
  storedEstimate,
} from '../window/retrain.js';
import type { PerformanceStore } from './performance-scheduler.js';

export type RetrainStore = Pick<
  Store,
  'insertRetrainRecommendations' | 'retrainRecommendations' | 'latestResults'
> &
  Pick<PerformanceStore, 'queryDrift' | 'queryPerformance'>;

/**
 * Retrain episodes (src/window/retrain.ts) fed by the written window results: each opened or
 * closed episode is appended to `retrain_recommendations` and shown on /metrics. A failed
 * write keeps the transition for the next one (a window result is never failed by it), and a
 * restart derives what was lost from the store (`restore`).
 */
export interface RetrainWriter {
  /** Startup, before anything is ingested: the stored windows and open episodes, reconciled. */
  restore(): Promise<void>;
  /** Window results just written (in the result writer's serial order). */
  observe(results: readonly WindowResult[]): Promise<void>;
  /** A model version retired by its window manager (memory bounded by the live versions). */
  retire(model: string, version: string): void;
}

/** Stored windows read back per version and size at startup beyond the longest run configured. */
const RESTORE_SLACK = 8;
/** Open episodes read back per model at startup (one per version at most). */
const MAX_OPEN = 10_000;

export function createRetrainWriter(opts: {
  store: RetrainStore;
  modelOf: (id: string) => ModelConfig | undefined;
  models: () => readonly ModelConfig[];
  baselinePerformance: (model: string, version: string) => Record<string, number> | undefined;
  metrics: Metrics;
  logger: Logger;
  clock: Clock;
}): RetrainWriter {
  const { store, metrics, clock } = opts;
  const log = opts.logger;
  const episodes = createRetrainEpisodes();
  const pending: StoredRetrainRecommendation[] = [];

  const ctxOf = (model: ModelConfig, version: string): JudgeContext => ({
    baseline: opts.baselinePerformance(model.id, version),
    now: clock.now(),
    configHash: modelConfigHash(model),
  });

  /** Rows of an episode are ordered by written_at: strictly increasing, even within one ms. */
  let lastWrittenAt = 0;
  function queue(rec: RetrainRecommendation): void {
    lastWrittenAt = Math.max(clock.now(), lastWrittenAt + 1);
    pending.push({ ...rec, driftdVersion: VERSION, writtenAt: lastWrittenAt });
    metrics.recordRetrain(rec);
    log.info(
      {
        model: rec.model,
        version: rec.version,
        episode: rec.id,
        triggers: rec.triggers,
        windows: rec.windows.length,
        features: rec.features.slice(0, 10).map((f) => f.feature),
      },
      rec.status === 'open' ? 'retrain recommended' : 'retrain episode closed',
    );
  }

  async function flush(): Promise<void> {
    if (pending.length === 0) return;
    const batch = pending.slice();
    try {
      await store.insertRetrainRecommendations(batch);
      pending.splice(0, batch.length);
    } catch (err) {
      log.warn(
        { err, rows: batch.length },
        'retrain recommendation write failed; retried with the next window result',
      );
    }
  }

  async function restoreModel(model: ModelConfig): Promise<void> {
    for (const rec of await store.retrainRecommendations({
      model: model.id,
      open: true,
      limit: MAX_OPEN,
    })) {
      episodes.restoreOpen(rec);
      metrics.recordRetrain(rec, { restored: true });
    }
    const latest = await store.latestResults({
      model: model.id,
      windows: model.windows.sizes.map((s) => s.label),
      maxVersions: model.versions.maxActive,
      history: 1,
      horizon: 1,
    });
    const { driftWindows, estimatedDegradationWindows } = model.alerts.retrain;
    const span = Math.max(driftWindows, estimatedDegradationWindows) + RESTORE_SLACK;
    for (const newest of latest.windows) {
      const range = {
        model: model.id,
        version: newest.version,
        window: newest.sizeLabel,
        from: Math.max(0, newest.start - span * newest.size),
        to: newest.end,
      };
      const [all, performance] = await Promise.all([
        store.queryDrift(range),
        store.queryPerformance?.(range) ?? [],
      ]);
      const results = all.filter((r) => r.version === newest.version);
      const estimates = new Map(performance.map((p) => [p.start, storedEstimate(p.metrics)]));
      const ctx = ctxOf(model, newest.version);
      for (const r of results) {
        const estimated = estimates.get(r.start);
        const input = retrainInput(
          r,
          estimated !== undefined && Object.keys(estimated).length > 0 ? estimated : null,
        );
        episodes.seed(input, model, ctx);
      }
    }
    for (const t of episodes.reconcile(model, ctxOf(model, ''))) queue(t);
  }

  return {
    async restore() {
      for (const model of opts.models()) {
        try {
          await restoreModel(model);
        } catch (err) {
          log.error(
            { err, model: model.id },
            'could not restore retrain episodes: an episode open before the restart may be recommended again',
          );
        }
      }
      await flush();
    },
    async observe(results) {
      for (const r of results) {
        const model = opts.modelOf(r.model);
        if (model === undefined) continue;
        const t = episodes.observe(retrainInput(r), model, ctxOf(model, r.version));
        if (t !== null) queue(t);
      }
      await flush();
    },
    retire: (model, version) => episodes.retire(model, version),
  };
}
