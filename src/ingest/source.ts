/**
 * The source-to-engine interface: what every source (HTTP, Kafka, replay) hands the engine,
 * and what the checkpointer that owns the source's cut drives. One file, so that a new source
 * (the scale-out issue's) has one contract to meet.
 *
 * A source decodes its own input (HTTP: request-ingest.ts; Kafka: kafka/batch.ts; replay: the
 * same decoder as HTTP, without the live clock rule) and delivers decoded events, each with an
 * opaque position (`SourcedEvent.source`: the Kafka coordinates, the HTTP input, a replay
 * file). The engine never interprets a position beyond the lane it names (the window
 * manager's lateness is per lane) and the lineage it stores.
 *
 * Commit and rollback, driven by the source's checkpointer (kafka/checkpoints.ts for Kafka,
 * and for HTTP when Kafka is configured; checkpointer.ts for HTTP alone; replay-checkpointer.ts
 * for replay, whose position, file and byte offset, moves a batch at a time, so its events
 * share one position object and a replay allocates nothing per event for it):
 * - `record` counts events into the windows, atomically by position: it either counts a
 *   delivered prefix and throws a `RecordError` saying how long that prefix is, or counts
 *   them all. A source moves its own position exactly past what was counted (Kafka: the
 *   processed offset; HTTP: positions are handed out per counted event), so a retry never
 *   counts an event twice.
 * - `settle` makes everything counted so far durable (raw rows, closed windows' results);
 *   with `quiescent()` true afterwards, snapshots of `managers` and the source's position
 *   taken in the same synchronous turn are a consistent cut: the commit.
 * - `rollback` is the undo: fresh, empty windows, closed windows not yet released dropped. The
 *   checkpointer then restores its latest cut and has every source deliver again from the
 *   cut's positions. The engine asks for it (`onRollback`) when input it counted can no
 *   longer be stored (a failed HTTP raw write): so a failed request is counted zero times in
 *   every configuration.
 */

import { DriftdError, type DriftdErrorOptions } from '../errors.js';
import type { StoredEvent } from '../store/types.js';
import type { EventSource, LabelEvent, PredictionEvent } from '../types.js';
import type { WindowManager } from '../window/index.js';
import type { WriteOptions } from './store-writes.js';

/** A decoded prediction event and its position in its source (opaque to the engine). */
export interface SourcedEvent {
  event: PredictionEvent;
  source: EventSource;
}

/** Where recorded events' raw rows go (the source's durability: a buffer, the input log). */
export interface RowSink {
  add(row: StoredEvent): void;
}

/** Per-model counts of a recording, for the metrics once the caller declares them counted. */
export interface ModelTally {
  accepted: number;
  late: number;
  no_baseline: number;
  version_limit: number;
  /** Newest on-time event time, epoch ms (-Infinity: none). */
  newest: number;
}

/** What a `record` call counted (see `RecordOptions.tally`). */
export interface Tally {
  readonly models: Map<string, ModelTally>;
  /** An event of a version without a baseline: the baselines are looked up again soon. */
  noBaseline: boolean;
}

export function createTally(): Tally {
  return { models: new Map(), noBaseline: false };
}

export interface RecordOptions {
  /** Where the raw rows go. @default the engine's buffered raw writer (streaming sources) */
  rows?: RowSink;
  /**
   * Collects the counts instead of declaring them at once: the caller declares them (`declare`)
   * when the events are durable (HTTP answers after its rows are stored).
   */
  tally?: Tally;
}

/**
 * `record` counted only the first `recorded` events of its call before `cause` stopped it.
 * Those stay counted, and their rows are in the sink: the source moves its position past them.
 */
export class RecordError extends DriftdError {
  constructor(
    readonly recorded: number,
    cause: unknown,
    options: DriftdErrorOptions = {},
  ) {
    super(
      'DRIFTD_ERR_RECORD',
      `event ${recorded} of the batch could not be recorded: ${cause instanceof Error ? cause.message : String(cause)}`,
      { ...options, cause },
    );
  }
}

/** The engine as every source and its checkpointer see it. */
export interface EngineSource {
  readonly managers: ReadonlyMap<string, WindowManager>;
  /**
   * Synchronous: records decoded events into the windows in order, stamps and hands their raw
   * rows to the sink, and counts them. Windows they close are queued for writing (held back
   * until the rows of the HTTP input before them are stored). Atomic by position: see
   * `RecordError`. Nothing is lost when a later write fails: rows and closed windows stay
   * queued until a write succeeds.
   */
  record(events: readonly SourcedEvent[], options?: RecordOptions): void;
  /** Declares the counts of a `record` made with `tally` (metrics, baseline look-up). */
  declare(tally: Tally): void;
  /**
   * Starts writing what `record` queued — closed windows' results once the oldest has
   * waited `resultDelayMs` (default 1 s, so windows closing together share one INSERT), raw
   * rows once `bufferRows` are buffered — without waiting for it, so the caller decodes the
   * next batches meanwhile. The caller waits only when twice `bufferRows` are buffered.
   * `settle` waits for all of it.
   */
  persist(opts?: WriteOptions & { bufferRows?: number; resultDelayMs?: number }): Promise<void>;
  /**
   * Writes everything queued (rows, closed windows, pending performance recomputes). After it
   * resolves with `quiescent()` true, every window closed so far is durable: snapshots taken
   * now are a consistent cut (the commit).
   */
  settle(opts?: WriteOptions): Promise<void>;
  /** Nothing queued and no write in flight. */
  quiescent(): boolean;
  /**
   * The undo: fresh, empty windows; closed windows not yet released dropped; the HTTP input
   * refused until `resumeInput`. The checkpointer restores its latest cut next.
   */
  rollback(): void;
  /**
   * Who rolls back when counted input can no longer be stored (a failed HTTP raw write): the
   * checkpointer owning the cut. It restores the cut, has the sources deliver again from it,
   * then resumes the HTTP input.
   */
  onRollback(rollback: (err: unknown) => void): void;
  /** Stores decoded labels and marks the closed windows they belong to for recompute. */
  ingestLabelEvents(labels: readonly LabelEvent[], opts?: WriteOptions): Promise<void>;
  openWindows(): number;
}
