/**
 * Cluster mode: a lane's closed windows on their way to the store as partials
 * (`window_partials`, src/cluster/types.ts). It takes the place of the result writer for the
 * lanes' windows (the same `ResultWriter` shape, so the pipeline's settle/persist/quiescent and
 * the HTTP durability gate work unchanged): queued (a failed write leaves them queued for the
 * next attempt), written in one INSERT per write, one write at a time (`serial`). Nothing is
 * evaluated here: the finaliser merges every lane's partials of a window and evaluates once.
 *
 * A window the lane closed (watermark, flush) is its final partial; an idle tick's
 * provisional copy of a still-open window is a provisional one (a final row of the lane
 * always wins over its provisional rows). A row the store refuses for good is quarantined.
 */
import type { Metrics } from '../export/metrics.js';
import { createWindowQueue, type ResultWriter } from '../ingest/result-writer.js';
import type { Serial, StoreWrites, Write } from '../ingest/store-writes.js';
import type { Logger } from '../logger.js';
import type { Clock, ClosedWindow } from '../window/index.js';
import { type ClusterStore, isHttpLane, type PartialRow } from './types.js';

/** "Next offset" of a Kafka lane from the window's offset lineage (last offset + 1). */
function nextOffset(last: string): string {
  return (BigInt(last) + 1n).toString();
}

/** The lane's position the partial was closed at (see PartialRow.position). */
export function partialPosition(c: ClosedWindow, httpPosition: () => number): string {
  const lane = c.lane ?? '';
  if (isHttpLane(lane)) return String(httpPosition());
  const range = c.state.offsets.get(lane);
  return range === undefined ? '0' : nextOffset(range.last);
}

/** A lane's closed window as its partial row. */
export function partialRow(
  c: ClosedWindow,
  at: { instance: string; now: number; position: string },
): PartialRow {
  const b = c.bounds;
  return {
    model: b.model,
    version: b.version,
    sizeLabel: b.sizeLabel,
    size: b.size,
    start: b.start,
    end: b.end,
    lane: c.lane ?? '',
    final: c.reason !== 'idle',
    position: at.position,
    baselineId: c.baseline.id,
    events: c.state.count,
    state: JSON.stringify(c.state.snapshot()),
    instance: at.instance,
    writtenAt: at.now,
  };
}

export function createPartialWriter(opts: {
  store: Pick<ClusterStore, 'insertPartials'>;
  instanceId: string;
  clock: Clock;
  metrics: Metrics;
  logger: Logger;
  writes: StoreWrites;
  serial: Serial;
  /** The HTTP input's recorded position (an HTTP lane's partial position). */
  httpPosition: () => number;
}): ResultWriter {
  const { store, clock, metrics, writes, serial } = opts;
  const log = opts.logger;
  /** Rows built once per window (a retried write sends the same rows). */
  const rows = new WeakMap<ClosedWindow, PartialRow>();

  function rowOf(c: ClosedWindow): PartialRow {
    let r = rows.get(c);
    if (r === undefined) {
      r = partialRow(c, {
        instance: opts.instanceId,
        now: clock.now(),
        position: partialPosition(c, opts.httpPosition),
      });
      rows.set(c, r);
    }
    return r;
  }

  function insert(batch: readonly ClosedWindow[], write: Write): Promise<readonly PartialRow[]> {
    return writes.insertResults(
      'window_partials',
      'insert_partials',
      'window_partial',
      batch.map(rowOf),
      (r) => store.insertPartials(r),
      write,
    );
  }

  /** The partials written: counted and logged (nothing is evaluated here). */
  async function after(written: readonly PartialRow[]): Promise<never[]> {
    for (const r of written) {
      metrics.clusterPartialsWritten.inc({ kind: r.final ? 'final' : 'provisional' });
      log.debug(
        {
          model: r.model,
          version: r.version,
          window: r.sizeLabel,
          start: new Date(r.start).toISOString(),
          lane: r.lane,
          events: r.events,
          final: r.final,
        },
        'window partial written',
      );
    }
    return [];
  }

  return createWindowQueue({ clock, log, serial, what: 'window partial', insert, after });
}
