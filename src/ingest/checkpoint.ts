/**
 * Checkpoints: one consistent cut of the window state and the input position that produced
 * it, written to the store as one row. The Kafka consumer's (offsets per partition; see
 * kafka/checkpoints.ts for the invariant it carries and the order of writes around it) and the HTTP
 * input's (an ingest position; see checkpointer.ts).
 */
import { InvalidInputError } from '../errors.js';
import type { Logger } from '../logger.js';
import type { StoredCheckpoint } from '../store/types.js';
import type { WindowManager, WindowManagerSnapshot } from '../window/index.js';

/** A partition and the next offset to read from it (Kafka's "committed offset" convention). */
export interface PartitionOffset {
  topic: string;
  partition: number;
  offset: string;
}

export interface KafkaCheckpoint {
  format: 1;
  groupId: string;
  /** Increases by one per checkpoint of the group. */
  seq: number;
  takenAt: number;
  /**
   * Per predictions partition: the windows below hold exactly the events at offsets before
   * `offset` (and none after).
   */
  offsets: PartitionOffset[];
  /**
   * The windows also hold exactly the HTTP events at input positions ≤ this (absent: none is
   * known, every stored HTTP event with a position is replayed). See checkpointer.ts.
   */
  httpPosition?: number;
  /** Window manager snapshot per model id. */
  windows: Record<string, WindowManagerSnapshot>;
}

/** What the checkpoint needs from the store (the full Store satisfies it). */
export interface CheckpointStore {
  saveCheckpoint(checkpoint: StoredCheckpoint): Promise<void>;
  latestCheckpoint(groupId: string): Promise<StoredCheckpoint | null>;
}

export function encodeCheckpoint(cp: KafkaCheckpoint): StoredCheckpoint {
  return { groupId: cp.groupId, seq: cp.seq, takenAt: cp.takenAt, payload: JSON.stringify(cp) };
}

const OFFSET_RE = /^\d{1,19}$/;

/**
 * A stored checkpoint's payload parsed as an object with a `windows` map (every kind has one),
 * and a maker of errors that name the row. The kind's own fields are checked by its decoder.
 * @throws InvalidInputError naming what does not fit
 */
function parsePayload<T>(row: StoredCheckpoint): {
  c: Partial<T> & { windows?: unknown };
  bad: (what: string) => InvalidInputError;
} {
  const bad = (what: string) =>
    new InvalidInputError(`checkpoint ${row.groupId}#${row.seq}: ${what}`);
  let cp: unknown;
  try {
    cp = JSON.parse(row.payload);
  } catch (err) {
    throw new InvalidInputError(`checkpoint ${row.groupId}#${row.seq} is not JSON`, { cause: err });
  }
  if (typeof cp !== 'object' || cp === null) throw bad('not an object');
  const c = cp as Partial<T> & { windows?: unknown };
  if (typeof c.windows !== 'object' || c.windows === null) throw bad('windows missing');
  return { c, bad };
}

/**
 * Parses and checks a stored checkpoint.
 * @throws InvalidInputError naming what does not fit
 */
export function decodeCheckpoint(row: StoredCheckpoint): KafkaCheckpoint {
  const { c, bad } = parsePayload<KafkaCheckpoint>(row);
  if (c.format !== 1) throw bad(`format ${String(c.format)} is not 1`);
  if (c.groupId !== row.groupId) throw bad(`belongs to group ${String(c.groupId)}`);
  if (!Array.isArray(c.offsets)) throw bad('offsets missing');
  for (const o of c.offsets) {
    if (
      typeof o?.topic !== 'string' ||
      !Number.isInteger(o.partition) ||
      o.partition < 0 ||
      typeof o.offset !== 'string' ||
      !OFFSET_RE.test(o.offset)
    ) {
      throw bad(`bad offset entry ${JSON.stringify(o)}`);
    }
  }
  if (
    c.httpPosition !== undefined &&
    (!Number.isSafeInteger(c.httpPosition) || c.httpPosition < 0)
  ) {
    throw bad(`bad httpPosition ${String(c.httpPosition)}`);
  }
  return c as KafkaCheckpoint;
}

export interface RestoreReport {
  restored: string[];
  failed: Array<{ model: string; err: unknown }>;
}

/**
 * Restores every model's windows from the checkpoint (Kafka's or HTTP's) into fresh managers. A model whose
 * snapshot cannot be restored (a window's baseline is no longer stored) starts empty and is reported: its
 * events before the checkpoint are in the raw store, but not in any window.
 */
export function restoreWindows(
  managers: ReadonlyMap<string, WindowManager>,
  cp: Pick<KafkaCheckpoint, 'windows' | 'seq'>,
  log: Logger,
): RestoreReport {
  const report: RestoreReport = { restored: [], failed: [] };
  for (const [model, snapshot] of Object.entries(cp.windows)) {
    const manager = managers.get(model);
    if (manager === undefined) {
      log.warn({ model }, 'checkpoint has windows of a model no longer configured; dropped');
      continue;
    }
    try {
      manager.restore(snapshot);
      report.restored.push(model);
    } catch (err) {
      report.failed.push({ model, err });
      log.error(
        { err, model, seq: cp.seq },
        'could not restore the checkpointed windows of this model; it starts with empty windows',
      );
    }
  }
  return report;
}

/** "topic/partition" → next offset, from a checkpoint. */
export function offsetsByPartition(cp: KafkaCheckpoint): Map<string, string> {
  return new Map(cp.offsets.map((o) => [`${o.topic}/${o.partition}`, o.offset]));
}

/** The checkpoint group of the HTTP input (a name no Kafka consumer group of driftd uses). */
export const HTTP_CHECKPOINT_GROUP = 'driftd:http';

/**
 * The HTTP input's checkpoint: the windows hold exactly the HTTP events at input positions
 * ≤ `position` (events.ingest_seq) and none after; closed windows not written at the cut are
 * in the snapshots' `closed` lists. See checkpointer.ts.
 */
export interface HttpCheckpoint {
  format: 1;
  kind: 'http';
  seq: number;
  takenAt: number;
  position: number;
  /** Window manager snapshot per model id. */
  windows: Record<string, WindowManagerSnapshot>;
}

export function encodeHttpCheckpoint(cp: HttpCheckpoint): StoredCheckpoint {
  return {
    groupId: HTTP_CHECKPOINT_GROUP,
    seq: cp.seq,
    takenAt: cp.takenAt,
    payload: JSON.stringify(cp),
  };
}

/**
 * Parses and checks a stored HTTP checkpoint.
 * @throws InvalidInputError naming what does not fit
 */
export function decodeHttpCheckpoint(row: StoredCheckpoint): HttpCheckpoint {
  const { c, bad } = parsePayload<HttpCheckpoint>(row);
  if (c.format !== 1 || c.kind !== 'http') throw bad('not an HTTP checkpoint of format 1');
  if (!Number.isSafeInteger(c.position) || (c.position as number) < 0)
    throw bad(`bad position ${String(c.position)}`);
  return c as HttpCheckpoint;
}

/** The checkpoint group of `driftd replay` (one per store: the replay in progress). */
export const REPLAY_CHECKPOINT_GROUP = 'driftd:replay';

/**
 * A replay's checkpoint: the windows hold exactly the events of the file's lines before byte
 * `offset` (and none after); closed windows not written at the cut are in the snapshots'
 * `closed` lists. The file is named by its resolved path, size and modification time: a
 * checkpoint of another file, or of this one changed since, is not resumed. `done`: the
 * replay finished (its windows flushed), so a rerun starts from the beginning. See
 * replay-checkpointer.ts.
 */
export interface ReplayCheckpoint {
  format: 1;
  kind: 'replay';
  seq: number;
  takenAt: number;
  file: { path: string; size: number; mtimeMs: number };
  /** The byte where reading resumes, and the number of the line that holds it. */
  offset: number;
  line: number;
  /** Items accepted and rejected before `offset` (the run's summary and exit code count them). */
  accepted: number;
  rejected: number;
  done: boolean;
  /** Window manager snapshot per model id. */
  windows: Record<string, WindowManagerSnapshot>;
}

export function encodeReplayCheckpoint(cp: ReplayCheckpoint): StoredCheckpoint {
  return {
    groupId: REPLAY_CHECKPOINT_GROUP,
    seq: cp.seq,
    takenAt: cp.takenAt,
    payload: JSON.stringify(cp),
  };
}

/**
 * Parses and checks a stored replay checkpoint.
 * @throws InvalidInputError naming what does not fit
 */
export function decodeReplayCheckpoint(row: StoredCheckpoint): ReplayCheckpoint {
  const { c, bad } = parsePayload<ReplayCheckpoint>(row);
  if (c.format !== 1 || c.kind !== 'replay') throw bad('not a replay checkpoint of format 1');
  const count = (v: unknown) => Number.isSafeInteger(v) && (v as number) >= 0;
  if (!count(c.offset) || !count(c.line) || !count(c.accepted) || !count(c.rejected))
    throw bad('bad offset, line or counts');
  if (typeof c.file?.path !== 'string' || !count(c.file.size) || typeof c.file.mtimeMs !== 'number')
    throw bad('bad file');
  if (typeof c.done !== 'boolean') throw bad('done missing');
  return c as ReplayCheckpoint;
}

/**
 * Cluster mode: one input lane's checkpoint (a Kafka partition's, an instance's HTTP input's;
 * src/cluster/types.ts): the lane's windows hold exactly its events before `position` (Kafka:
 * the next offset to read; HTTP: events at ingest positions ≤ `position`) and none after.
 * Written to group `laneCheckpointGroup(groupId, lane)`; `seq` increases per lane across owners
 * (a new owner continues from the restored row's). Any lane checkpoint of the lane is a valid
 * cut (its state depends only on the lane's own events), so the latest one, whoever wrote it,
 * is where the lane resumes.
 */
export interface LaneCheckpoint {
  format: 1;
  kind: 'lane';
  lane: string;
  seq: number;
  takenAt: number;
  /** Decimal: Kafka offsets go beyond 2^53. */
  position: string;
  /** The instance that wrote it. */
  instance: string;
  /** Window manager snapshot per model id (this lane's windows only). */
  windows: Record<string, WindowManagerSnapshot>;
}

export function encodeLaneCheckpoint(group: string, cp: LaneCheckpoint): StoredCheckpoint {
  return { groupId: group, seq: cp.seq, takenAt: cp.takenAt, payload: JSON.stringify(cp) };
}

/**
 * Parses and checks a stored lane checkpoint.
 * @throws InvalidInputError naming what does not fit
 */
export function decodeLaneCheckpoint(row: StoredCheckpoint): LaneCheckpoint {
  const { c, bad } = parsePayload<LaneCheckpoint>(row);
  if (c.format !== 1 || c.kind !== 'lane') throw bad('not a lane checkpoint of format 1');
  if (typeof c.lane !== 'string' || c.lane === '') throw bad('lane missing');
  if (typeof c.position !== 'string' || !OFFSET_RE.test(c.position))
    throw bad(`bad position ${String(c.position)}`);
  if (!Number.isSafeInteger(c.seq) || (c.seq as number) < 0) throw bad(`bad seq ${String(c.seq)}`);
  if (typeof c.instance !== 'string') throw bad('instance missing');
  return c as LaneCheckpoint;
}
