import type { IngestReport, ItemError } from '../api/ports.js';
import { StoreError } from '../errors.js';
import type { EventResult } from '../export/metrics.js';
import { MAX_ITEM_ERRORS } from '../limits.js';
import type { EventBuffer, StoredEvent } from '../store/types.js';
import type { EventSource } from '../types.js';
import { type DecodeOptions, decodePrediction, itemValue } from './decode.js';
import type { DurableInput } from './durable-input.js';
import { fingerprint, type Idempotency, requestTag } from './idempotency.js';
import type { IngestOptions } from './pipeline.js';
import type { ResultWriter } from './result-writer.js';
import {
  createTally,
  type EngineSource,
  RecordError,
  type RowSink,
  type SourcedEvent,
  type Tally,
} from './source.js';
import type { WindowRegistry } from './window-registry.js';

const HTTP_SOURCE = Object.freeze({ kind: 'http' as const });
const REPLAY_SOURCE = Object.freeze({ kind: 'replay' as const });
/** Events handed to the engine at once (see ingestBatch). */
const RECORD_SLICE = 256;

/** What request ingestion needs from the store. */
export interface RequestStore {
  createEventBuffer(sizeHint?: number): EventBuffer;
}

/** Prediction events of the request sources (HTTP, replay): raw items in, a report out. */
export interface RequestIngest {
  ingestEvents(
    items: readonly unknown[],
    source: 'http' | 'replay',
    opts?: IngestOptions,
  ): Promise<IngestReport>;
  /**
   * Records stored HTTP events (ascending positions, all durable) into the windows, as their
   * requests did, without storing them again: the replay after a restart or a failed write.
   */
  replayStored(events: readonly StoredEvent[]): void;
}

/*
 * HTTP and replay: exactly once into the windows.
 *
 * The HTTP and replay source: a request's items are decoded here and delivered to the engine
 * as every source delivers (`EngineSource.record`, source.ts), each counted event taking the
 * next input position as its row is handed over, all in one synchronous step, so statuses
 * (late or not: the raw row carries it) are decided in arrival order against every event
 * accepted before them. Their raw rows then go through the input log (input-log.ts): INSERTs
 * in position order, concurrent requests' rows coalesced, retried on transient errors, and
 * the request is answered only once its rows are stored. What the windows hold becomes visible only through what is written, and
 * that is gated on durability:
 * - a window that closes (by watermark, idle tick or flush) waits in `gated` with the input
 *   position at its close, and is evaluated and written only once every position up to it
 *   is stored: no result ever holds an event that is not durable;
 * - a checkpoint is a synchronous cut (windows + position, `cut`) saved only once its
 *   position is stored (checkpointer.ts);
 * - when a write fails for good, its requests and those queued behind it fail (they were
 *   decided on a state holding the failed events), the log stops taking requests, and the
 *   checkpointer owning the cut (the HTTP one, or the Kafka one when Kafka is configured)
 *   rolls back: the windows of the last checkpoint plus the stored events after it, in
 *   position order — exactly what a restart after a crash does. So a failed request
 *   is counted zero times, and nothing depends on how concurrent inserts complete: the
 *   windows are always the stored events replayed in position order.
 * The sketches are updated before the insert lands (a rebuild undoes that when it fails)
 * rather than after it, because statuses must be decided in arrival order anyway and a
 * deferred update would need the window manager to split decision from addition; the
 * gating above makes the two indistinguishable from outside.
 */
export function createRequestIngest(opts: {
  store: RequestStore;
  /** The engine's way in, as every source's (source.ts). */
  engine: Pick<EngineSource, 'record' | 'declare'>;
  windows: WindowRegistry;
  results: ResultWriter;
  input: DurableInput;
  idempotency: Idempotency;
  decodeOpts: DecodeOptions;
  liveDecodeOpts: DecodeOptions;
  countEvent: (model: string, result: EventResult, n?: number) => void;
}): RequestIngest {
  const { store, engine, windows, results, idempotency } = opts;
  const { decodeOpts, liveDecodeOpts, countEvent } = opts;
  const rawLog = opts.input.log;
  const { released } = opts.input;

  function unavailable(): StoreError {
    return new StoreError('the windows are being rebuilt after a failed store write; retry', {
      retriable: true,
    });
  }

  // Not async, nor is ingestBatch: a suspended async function keeps its arguments, and a
  // batch's items (lines, decoded answers, events) would then live until its insert lands,
  // long enough to reach the old generation: with many batches in flight (replay) that took
  // a major GC about every half second. Only what the answer needs waits for the insert.
  function ingestEvents(
    items: readonly unknown[],
    source: 'http' | 'replay',
    options: IngestOptions = {},
  ): Promise<IngestReport> {
    const key = options.idempotencyKey;
    if (key === undefined) return ingestBatch(items, source, '');
    try {
      const print = fingerprint(items);
      return idempotency.run(
        { key, scope: 'events', fingerprint: print },
        () => ingestBatch(items, source, requestTag(key, print)),
        () => decodeReport(items),
      );
    } catch (err) {
      return Promise.reject(err);
    }
  }

  /** The answer to a batch, from its items alone (a retried request: nothing is counted). */
  function decodeReport(items: readonly unknown[]): IngestReport {
    const errors: ItemError[] = [];
    let rejected = 0;
    for (let i = 0; i < items.length; i++) {
      const d = decodePrediction(items[i], decodeOpts);
      if (d.ok) continue;
      rejected++;
      if (errors.length < MAX_ITEM_ERRORS)
        errors.push({ index: i, reason: d.reason, message: d.message });
    }
    return { accepted: items.length - rejected, rejected, errors };
  }

  function ingestBatch(
    items: readonly unknown[],
    source: 'http' | 'replay',
    /** `requestTag` of the request's key ('' without one). */
    requestKey: string,
  ): Promise<IngestReport> {
    try {
      return settleBatch(recordBatch(items, source, requestKey));
    } catch (err) {
      return Promise.reject(err);
    }
  }

  /** A batch decoded and recorded, its rows submitted: what its answer waits for. */
  interface RecordedBatch {
    report: IngestReport;
    stored: Promise<void>;
    invalid: Map<string, number>;
    tally: Tally;
  }

  async function settleBatch(batch: RecordedBatch): Promise<IngestReport> {
    const written = results.writeLogged([]);
    await batch.stored;
    await written;
    for (const [model, k] of batch.invalid) countEvent(model, 'invalid', k);
    engine.declare(batch.tally);
    await results.writeLogged(released());
    return batch.report;
  }

  /** Synchronous from the first decode to the submit, so positions follow arrival order. */
  function recordBatch(
    items: readonly unknown[],
    source: 'http' | 'replay',
    requestKey: string,
  ): RecordedBatch {
    if (!rawLog.healthy) throw unavailable();
    const errors: ItemError[] = [];
    let rejected = 0;
    const invalid = new Map<string, number>();
    // Encoded as recorded; this request's batch is inserted with those of concurrent requests.
    const encoded = store.createEventBuffer(items.length * 1024);
    const position: EventSource = source === 'http' ? HTTP_SOURCE : REPLAY_SOURCE;
    const itemOpts = source === 'http' ? liveDecodeOpts : decodeOpts;
    // Every counted event gets the next input position as its row is handed over. Only HTTP
    // rows store it: a replay's position is its file's offset (replay-checkpointer.ts).
    let last = 0;
    const rows: RowSink =
      source === 'http'
        ? {
            add(row) {
              last = rawLog.next();
              row.position = last;
              if (requestKey !== '') row.requestKey = requestKey;
              encoded.add(row);
            },
          }
        : {
            add(row) {
              last = rawLog.next();
              encoded.add(row);
            },
          };
    const tally = createTally();
    const recordOpts = { rows, tally };
    // Decoded events go to the engine a slice at a time, in holders reused across slices.
    const slice: SourcedEvent[] = [];
    let n = 0;
    try {
      for (let i = 0; i < items.length; i++) {
        const d = decodePrediction(items[i], itemOpts);
        if (!d.ok) {
          rejected++;
          const raw = itemValue(items[i]) as { model?: unknown } | null;
          const model = typeof raw?.model === 'string' ? raw.model : 'unknown';
          invalid.set(model, (invalid.get(model) ?? 0) + 1);
          if (errors.length < MAX_ITEM_ERRORS)
            errors.push({ index: i, reason: d.reason, message: d.message });
          continue;
        }
        const holder = slice[n];
        if (holder === undefined) slice.push({ event: d.value, source: position });
        else holder.event = d.value;
        if (++n === RECORD_SLICE) {
          engine.record(slice, recordOpts);
          n = 0;
        }
      }
      slice.length = n;
      engine.record(slice, recordOpts);
    } catch (err) {
      // Counted events the store cannot take: the windows are rebuilt without this request.
      if (last > 0) rawLog.abort(err);
      // The request fails whole (it is rolled back): its answer is the cause's.
      throw err instanceof RecordError ? err.cause : err;
    }
    // Raw events are durable before the caller is answered, and before any window holding
    // them is written (see above).
    const accepted = encoded.rows;
    const stored = accepted > 0 ? rawLog.submit(encoded.take(), last) : Promise.resolve();
    windows.updateOpenGauge();
    return { report: { accepted, rejected, errors }, stored, invalid, tally };
  }

  /** Nowhere: a stored event replayed into the windows is not stored again. */
  const stored: RowSink = { add() {} };
  function replayStored(events: readonly StoredEvent[]): void {
    const slice: SourcedEvent[] = [];
    for (const e of events) {
      if (!windows.get(e.model)) continue; // a model no longer configured
      slice.push({ event: e, source: e.source });
    }
    // Counted once already, when their requests were: the tally is not declared again.
    engine.record(slice, { rows: stored, tally: createTally() });
  }

  return { ingestEvents, replayStored };
}
