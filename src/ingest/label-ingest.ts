import type { IngestReport, ItemError } from '../api/ports.js';
import type { ModelConfig } from '../config/types.js';
import type { Metrics } from '../export/metrics.js';
import { MAX_ITEM_ERRORS } from '../limits.js';
import type { LabelEvent } from '../types.js';
import { type DecodeOptions, decodeLabel, itemValue } from './decode.js';
import { fingerprint, type Idempotency } from './idempotency.js';
import type { PerformanceScheduler } from './performance-scheduler.js';
import type { IngestOptions } from './pipeline.js';
import type { RawWriter } from './raw-writer.js';
import { direct, type StoreWrites, type WriteOptions } from './store-writes.js';
import type { WindowRegistry } from './window-registry.js';

/** What label ingestion needs from the store. */
export interface LabelStore {
  insertLabels(rows: readonly LabelEvent[]): Promise<void>;
  /** Model version and event time of stored predictions, for labels that arrive late. */
  predictionTimes(
    model: string,
    ids: readonly string[],
  ): Promise<Array<{ id: string; version: string; ts: number }>>;
}

/**
 * Labels, from every source: decoded (HTTP/replay items; Kafka decodes its own), stored, and
 * the closed windows of their predictions marked for a performance recompute.
 */
export interface LabelIngest {
  ingestLabels(items: readonly unknown[], opts?: IngestOptions): Promise<IngestReport>;
  ingestLabelEvents(labels: readonly LabelEvent[], opts?: WriteOptions): Promise<void>;
}

export function createLabelIngest(opts: {
  store: LabelStore;
  models: ReadonlyMap<string, ModelConfig>;
  metrics: Metrics;
  writes: StoreWrites;
  raw: RawWriter;
  performance: PerformanceScheduler;
  windows: Pick<WindowRegistry, 'isOpen'>;
  idempotency: Idempotency;
  decodeOpts: DecodeOptions;
  liveDecodeOpts: DecodeOptions;
}): LabelIngest {
  const { store, models, metrics, writes, raw, performance, windows, idempotency } = opts;
  const { decodeOpts, liveDecodeOpts } = opts;

  /** Labels are idempotent in the store (latest per id); a keyed retry is still answered once. */
  async function ingestLabels(
    items: readonly unknown[],
    options: IngestOptions = {},
  ): Promise<IngestReport> {
    const key = options.idempotencyKey;
    if (key === undefined) return ingestLabelBatch(items);
    return idempotency.run(
      { key, scope: 'labels', fingerprint: fingerprint(items) },
      () => ingestLabelBatch(items),
      () => labelReport(items),
    );
  }

  function labelReport(items: readonly unknown[]): IngestReport {
    const errors: ItemError[] = [];
    let rejected = 0;
    for (let i = 0; i < items.length; i++) {
      const d = decodeLabel(items[i], decodeOpts);
      if (d.ok) continue;
      rejected++;
      if (errors.length < MAX_ITEM_ERRORS)
        errors.push({ index: i, reason: d.reason, message: d.message });
    }
    return { accepted: items.length - rejected, rejected, errors };
  }

  async function ingestLabelBatch(items: readonly unknown[]): Promise<IngestReport> {
    const errors: ItemError[] = [];
    const labels: LabelEvent[] = [];
    for (let i = 0; i < items.length; i++) {
      // Labels without a time are stamped with the pipeline's clock (no skew rule for labels).
      const d = decodeLabel(items[i], liveDecodeOpts);
      if (!d.ok) {
        const value = itemValue(items[i]) as { model?: unknown } | null;
        const model =
          typeof value?.model === 'string' && models.has(value.model) ? value.model : 'unknown';
        metrics.labelsTotal.inc({ model, result: 'invalid' });
        if (errors.length < MAX_ITEM_ERRORS)
          errors.push({ index: i, reason: d.reason, message: d.message });
        continue;
      }
      labels.push(d.value);
    }
    await ingestLabelEvents(labels);
    return { accepted: labels.length, rejected: items.length - labels.length, errors };
  }

  async function ingestLabelEvents(
    labels: readonly LabelEvent[],
    options: WriteOptions = {},
  ): Promise<void> {
    const write = options.write ?? direct;
    if (labels.length > 0) {
      await writes.timedWrite('labels', 'insert_labels', write, () => store.insertLabels(labels));
      for (const l of labels) performance.labelsStored(l.model);
      const byModel = new Map<string, string[]>();
      for (const l of labels) {
        metrics.labelsTotal.inc({ model: l.model, result: 'accepted' });
        const ids = byModel.get(l.model) ?? [];
        ids.push(l.id);
        byModel.set(l.model, ids);
      }
      // Buffered raw rows first, so a label can find its prediction.
      await raw.flushAll(write);
      // Mark the closed windows these predictions fell in; the next tick recomputes them.
      for (const [modelId, ids] of byModel) {
        const model = models.get(modelId);
        if (model === undefined) continue; // removed by a config reload meanwhile
        const times = await write('prediction_times', () => store.predictionTimes(modelId, ids));
        performance.labelled(model, times, (b) => windows.isOpen(modelId, b));
      }
    }
  }

  return { ingestLabels, ingestLabelEvents };
}
