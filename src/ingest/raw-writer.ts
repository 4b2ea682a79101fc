import type { EncodedEvents, EventBuffer, StoredEvent } from '../store/types.js';
import type { WindowBounds } from '../types.js';
import type { StoreWrites, Write } from './store-writes.js';

/** What the raw writer needs from the store. */
export interface RawStore {
  createEventBuffer(sizeHint?: number): EventBuffer;
  insertEncodedEvents(batches: readonly EncodedEvents[]): Promise<void>;
}

/**
 * The raw rows of the Kafka path (the HTTP and replay sources write theirs through the input
 * log, durable-input.ts): buffered encoded, inserted in the background, never lost — a failed insert
 * puts its rows back, to go first next time. It also tells when a closed window's rows are all
 * stored (`afterStored`), since its performance reads them.
 *
 * A refusal that is not retriable is not quarantined here: every row was checked at decode
 * against what the store accepts (decode.ts: "accepted means storable"), so such a refusal is
 * systemic (a full disk, a dropped table, a schema that does not match), not one row's fault;
 * quarantining would move every later batch to the file too. And the windows already hold
 * these events, so the rows stay queued and the Kafka source retries them (slowly) without
 * committing its offsets: the raw store never misses an event a result counted.
 */
export interface RawWriter {
  add(row: StoredEvent): void;
  /** Rows buffered or waiting to be retried. */
  rows(): number;
  /** Starts inserting the buffered raw rows; resolves when that insert is durable. */
  flush(write: Write): Promise<void>;
  /** Inserts every buffered raw row and waits for every raw insert in flight. */
  flushAll(write: Write): Promise<void>;
  /**
   * Calls `onStored(b)` once every row buffered or in flight now is stored (at once when none
   * is).
   */
  afterStored(b: WindowBounds): void;
  /** Inserts in flight. */
  inFlight(): number;
  /** No row buffered, no insert in flight, no window waiting for its rows. */
  idle(): boolean;
}

export function createRawWriter(opts: {
  store: RawStore;
  writes: StoreWrites;
  bufferRows: number;
  /** A window's rows are all stored. */
  onStored: (b: WindowBounds) => void;
}): RawWriter {
  const { store, writes } = opts;
  // Raw rows are encoded as they are recorded: bytes wait for the insert, not event objects
  // (cheaper to keep, and the encoding is off the insert's critical path). `rawBatches` were
  // taken from the buffer for a write that failed, and go first next time.
  const rawBuffer = store.createEventBuffer(opts.bufferRows * 1024);
  let rawBatches: EncodedEvents[] = [];
  const bufferedRowCount = () => {
    let n = rawBuffer.rows;
    for (const b of rawBatches) n += b.rows;
    return n;
  };
  /** Closed windows whose performance waits for the buffered raw rows to be stored. */
  let awaitingRows: WindowBounds[] = [];

  /**
   * Raw-row inserts run beside the serial chain (persist keeps up to MAX_BACKGROUND_WRITES of
   * them going; settle and label ingestion add theirs): their order does not matter (a row's
   * identity is in its columns), and a second insert uses the CPU the first leaves idle.
   * Windows waiting for their rows (`awaitingRows`) become due for a performance recompute
   * only once no raw insert is in flight, so none of their rows is still on its way.
   */
  const rawInFlight = new Set<Promise<void>>();
  let rowsLanded: WindowBounds[] = [];

  function flushRows(write: Write): Promise<void> {
    if (rawBuffer.rows > 0) rawBatches.push(rawBuffer.take());
    if (rawBatches.length === 0) return Promise.resolve();
    // Take first: rows recorded while the insert runs go to the buffer, not into this write.
    const batches = rawBatches;
    const waiting = awaitingRows;
    rawBatches = [];
    awaitingRows = [];
    const run = (async () => {
      try {
        await writes.timedWrite('events', 'insert_events', write, () =>
          store.insertEncodedEvents(batches),
        );
      } catch (err) {
        rawBatches = batches.concat(rawBatches);
        // Windows waiting on inserts in flight may have had rows in this one: they wait for
        // the next insert that lands instead.
        awaitingRows = waiting.concat(rowsLanded, awaitingRows);
        rowsLanded = [];
        throw err;
      }
      for (const b of waiting) rowsLanded.push(b);
    })();
    const done: Promise<void> = run
      .then(
        () => undefined,
        () => undefined,
      )
      .then(() => {
        rawInFlight.delete(done);
        if (rawInFlight.size === 0) {
          for (const b of rowsLanded) opts.onStored(b);
          rowsLanded = [];
        }
      });
    rawInFlight.add(done);
    return run;
  }

  return {
    add(row) {
      rawBuffer.add(row);
    },
    rows: bufferedRowCount,
    flush: flushRows,
    async flushAll(write) {
      const mine = flushRows(write);
      await Promise.all([...rawInFlight]);
      await mine;
      // A concurrent insert that failed put its rows back: they go now, or this call fails.
      if (rawBatches.length > 0) {
        await flushRows(write);
        await Promise.all([...rawInFlight]);
      }
    },
    afterStored(b) {
      // Its performance reads its raw rows: recompute once the buffered ones and those on
      // their way (an insert running beside this write) are stored.
      if (bufferedRowCount() > 0) awaitingRows.push(b);
      else if (rawInFlight.size > 0) rowsLanded.push(b);
      else opts.onStored(b);
    },
    inFlight: () => rawInFlight.size,
    idle: () => bufferedRowCount() === 0 && rawInFlight.size === 0 && awaitingRows.length === 0,
  };
}
