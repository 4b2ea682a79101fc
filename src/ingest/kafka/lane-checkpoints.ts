/**
 * Cluster mode's checkpoints of the Kafka source (docs/scale-out.md): one cut per predictions
 * partition, its lane. A lane's window state depends only on the lane's own events (lateness
 * and watermarks are per lane), so each partition is checkpointed on its own, with its position,
 * and moves between instances with it.
 *
 *   (L) The latest lane checkpoint of partition p, C = (windows W, position P), is a consistent
 *       cut of the lane: W is exactly the window state built from p's events at offsets < P;
 *       every window the lane closed before the cut has its final partial in the store; the
 *       raw rows of p's events before P are in the store.
 *
 * How (L) is kept (the single-instance invariant's way, per lane, checkpoints.ts):
 * - Cut, every `checkpointIntervalMs` between batches (under the source's lock) when something
 *   changed (batches, open windows, or a lane's idle flags): `pipeline.settle` until quiet
 *   (raw rows and partials durable); then synchronously, for every owned lane, its snapshot
 *   and next offset as a LaneCheckpoint (seq = the lane's last + 1, across owners), to group
 *   `laneCheckpointGroup(groupId, lane)`; all rows saved; then the lanes' progress rows
 *   (`lane_progress`: watermark and idle per (model, version) and for the lane, idle only with
 *   no lag); then the owned offsets (+ the labels') committed. A crash between leaves the
 *   previous cut of a lane, or Kafka behind the checkpoint: harmless as in single mode.
 * - Assignment (a group join): revoked partitions' lanes are dropped (nothing written: the new
 *   owner redoes what came after their last cut; raw rows collapse, partials are rewritten
 *   identical). A newly assigned partition is pending: its batches are dropped until, under
 *   the lock, its latest lane checkpoint (whoever wrote it) is restored — or, without one, an
 *   empty lane starts at the group's committed offset, else the earliest — the partition is
 *   sought there (batches fetched before are stale: the seek fetches them again) and the lane's
 *   progress row is written (the lane is registered). A partition kept across a rebalance by
 *   the same member keeps its lane: no other member owned it in between. A new member id (the
 *   session expired, others may have taken and advanced the partitions) restores them all.
 * - Graceful close: the final cut of every lane and the commit (source.ts), then the group is
 *   left, so the next owner resumes exactly where this one stopped.
 * - Only an owner cuts: a member (not between generations) whose membership the coordinator
 *   confirmed (a join, an answered heartbeat) within the session timeout. One unheard longer
 *   (its batches or event loop stalled) may have been expired and its partitions restored
 *   elsewhere; it cuts nothing until confirmed again, or told by a join what it lost.
 * - Seq: should a previous owner still write a cut of a lane after the new owner restored it
 *   (same seq, or behind), every lane checkpoint is a valid cut and every progress claim
 *   (watermark ≥ end) was written after the partial it covers, so whichever row wins, the lane
 *   resumes at a consistent cut and no window finalises early.
 */

import type { Admin } from 'kafkajs';
import type { LaneProgress } from '../../cluster/lane-windows.js';
import { progressRows } from '../../cluster/progress.js';
import { kafkaLane, type LaneProgressRow, laneCheckpointGroup } from '../../cluster/types.js';
import type { Metrics } from '../../export/metrics.js';
import {
  decodeLaneCheckpoint,
  encodeLaneCheckpoint,
  type KafkaCheckpoint,
  type LaneCheckpoint,
  type PartitionOffset,
} from '../checkpoint.js';
import { RetryAbortedError } from '../retry.js';
import {
  type Checkpoints,
  type CheckpointsOptions,
  commitOwned,
  scheduleTimer,
  settleQuiet,
} from './checkpoints.js';
import type { Lag } from './lag.js';
import type { KafkaClusterOptions, Tuning } from './options.js';
import { partitionKey as key, PartitionProgress } from './partition-progress.js';

export interface LaneCheckpointsOptions extends Omit<CheckpointsOptions, 'http' | 'metrics'> {
  cluster: KafkaClusterOptions;
  metrics: Pick<Metrics, 'kafkaErrors' | 'clusterLanesOwned'>;
  lag: Pick<Lag, 'of'>;
  /** The admin client, if connected (committed and earliest offsets of a lane without cut). */
  admin: () => Admin | undefined;
  tuning: Pick<Tuning, 'checkpointIntervalMs' | 'sessionTimeoutMs'>;
  /** When the group last confirmed this member (a join, a heartbeat answered), clock ms. */
  confirmedAt: () => number;
}

export interface LaneCheckpoints extends Checkpoints {
  /**
   * A group join's change of predictions partitions (call from the GROUP_JOIN handler, after
   * `progress.assigned` is the new assignment): the added ones turn pending at once; dropping
   * the revoked lanes and restoring the added ones is queued on the lock.
   */
  reassign(added: readonly number[], revoked: readonly number[]): void;
}

export function createLaneCheckpoints(options: LaneCheckpointsOptions): LaneCheckpoints {
  const { groupId, predictionsTopic, pipeline, store, clock, log, progress, write } = options;
  const { exclusive, cluster } = options;
  const { lanes, instanceId } = cluster;
  const { processed, labelsProcessed } = progress;
  /** Lane → seq of its latest cut (restored or written). */
  const seqs = new Map<string, number>();
  /** Lane → what its last written cut said (position + standings): unchanged lanes are skipped. */
  const written = new Map<string, string>();
  let total = 0;
  let lastCheckpointAt = clock.now();
  let openAtCheckpoint = 0;
  let timer: NodeJS.Timeout | undefined;

  const lane = (partition: number) => kafkaLane(predictionsTopic, partition);

  /** Owned predictions partitions whose lane is held (restored or opened). */
  function ready(): number[] {
    return (progress.assigned.get(predictionsTopic) ?? []).filter(
      (p) => !progress.pending.has(key(predictionsTopic, p)) && lanes.has(lane(p)),
    );
  }

  /**
   * The lane's standings, idle only when the partition has no lag (the engine counts a lane's
   * quiet from its opening or restore here, src/cluster/lane-windows.ts).
   */
  function standings(partition: number): LaneProgress[] {
    const caughtUp = options.lag.of(predictionsTopic, partition) === 0;
    return lanes.progress(lane(partition)).map((s) => ({ ...s, idle: s.idle && caughtUp }));
  }

  function position(partition: number): string | undefined {
    return progress.next(predictionsTopic, partition);
  }

  function signature(partition: number): string {
    return `${position(partition) ?? ''} ${JSON.stringify(standings(partition))}`;
  }

  function due(): boolean {
    return clock.now() - lastCheckpointAt >= options.tuning.checkpointIntervalMs;
  }

  function dirty(): boolean {
    if (progress.changes > 0 || pipeline.openWindows() !== openAtCheckpoint) return true;
    // An idle flag turned (no batch needed): the finaliser waits for it.
    return ready().some((p) => written.get(lane(p)) !== signature(p));
  }

  function setOwned(): void {
    options.metrics.clusterLanesOwned.set({ kind: 'kafka' }, ready().length);
  }

  /**
   * Still the owner of what it holds: a member (between generations it is not), confirmed by
   * the coordinator within the session timeout. A member that went unheard longer (its event
   * loop or batches stalled) may have been expired and its partitions given to others, whose
   * cuts a late one of its own would overtake.
   */
  function owner(): boolean {
    return (
      options.joined() && clock.now() - options.confirmedAt() < options.tuning.sessionTimeoutMs
    );
  }

  /** Call under the lock. */
  async function take(): Promise<void> {
    // Not (or maybe no longer) the owner: the partitions' new owners cut their lanes.
    if (!owner()) return;
    if (!(await settleQuiet(pipeline, write, log))) return;
    // The cut: synchronous from the snapshots to the encoded rows.
    const now = clock.now();
    const changed = pipeline.openWindows() !== openAtCheckpoint;
    const rows: ReturnType<typeof encodeLaneCheckpoint>[] = [];
    const progressOut: LaneProgressRow[] = [];
    const cut: Array<{ lane: string; seq: number; sig: string }> = [];
    const offsets: PartitionOffset[] = [];
    for (const p of ready()) {
      const l = lane(p);
      const at = position(p);
      if (at === undefined) continue; // never positioned (restore failed): nothing to cut
      offsets.push({ topic: predictionsTopic, partition: p, offset: at });
      const sig = signature(p);
      if (!changed && written.get(l) === sig) continue;
      const seq = (seqs.get(l) ?? 0) + 1;
      const cp: LaneCheckpoint = {
        format: 1,
        kind: 'lane',
        lane: l,
        seq,
        takenAt: now,
        position: at,
        instance: instanceId,
        windows: lanes.snapshot(l),
      };
      rows.push(encodeLaneCheckpoint(laneCheckpointGroup(groupId, l), cp));
      progressOut.push(
        ...progressRows(l, standings(p), { position: at, seq, instance: instanceId, now }),
      );
      cut.push({ lane: l, seq, sig });
    }
    const labelOffsets = PartitionProgress.positions(labelsProcessed);
    const changesAtCut = progress.changes;
    if (rows.length > 0) {
      await write('save_checkpoint', async () => {
        for (const row of rows) await store.saveCheckpoint(row);
      });
      await write('lane_progress', () => cluster.store.insertLaneProgress(progressOut));
    }
    for (const c of cut) {
      seqs.set(c.lane, c.seq);
      written.set(c.lane, c.sig);
    }
    total++;
    lastCheckpointAt = now;
    progress.changes -= changesAtCut;
    openAtCheckpoint = pipeline.openWindows();
    if (rows.length > 0) {
      log.debug(
        {
          lanes: cut.map((c) => `${c.lane}#${c.seq}`),
          bytes: rows.reduce((n, r) => n + r.payload.length, 0),
        },
        'lane checkpoints written',
      );
    }
    await commitOwned({ ...options, joined: owner }, [...offsets, ...labelOffsets]);
  }

  /**
   * Where a lane without a checkpoint starts: the group's committed offset, else the earliest
   * (what kafkajs itself does, made explicit so the lane's position is known from the start).
   */
  async function startOffset(partition: number): Promise<string> {
    const admin = options.admin();
    if (!admin) throw new Error('Kafka admin client not connected');
    const [committed] = await admin.fetchOffsets({ groupId, topics: [predictionsTopic] });
    const c = committed?.partitions.find((x) => x.partition === partition);
    if (c !== undefined && Number(c.offset) >= 0) return c.offset;
    const all = await admin.fetchTopicOffsets(predictionsTopic);
    const low = all.find((x) => x.partition === partition)?.low;
    return low !== undefined && Number(low) >= 0 ? low : '0';
  }

  /** Restores (or opens) the lane of a newly assigned partition and seeks it. Under the lock. */
  async function restoreLane(partition: number): Promise<void> {
    const k = key(predictionsTopic, partition);
    const l = lane(partition);
    const group = laneCheckpointGroup(groupId, l);
    const row = await write('load_checkpoint', () => store.latestCheckpoint(group));
    let cp: LaneCheckpoint | null = null;
    if (row !== null) {
      try {
        cp = decodeLaneCheckpoint(row);
        if (cp.lane !== l) throw new Error(`lane checkpoint of ${cp.lane} in group ${group}`);
      } catch (err) {
        // Counting on from anywhere else would lose or double the lane's events: the
        // partition stays pending (its lag grows, DriftdKafkaConsumerStuck fires).
        options.metrics.kafkaErrors.inc({ operation: 'lane_restore' });
        log.error(
          { err, lane: l, group, seq: row.seq },
          'unreadable lane checkpoint: the partition is not consumed by this instance until it is fixed or removed',
        );
        return;
      }
    }
    const at = cp?.position ?? (await write('lane_start_offset', () => startOffset(partition)));
    // Revoked while its checkpoint was read: its new owner restores it.
    if (!progress.owns(predictionsTopic, partition)) return;
    // What a lane held before (an earlier ownership) is not this cut's.
    lanes.drop(l);
    if (cp !== null) {
      const report = lanes.restore(l, cp.windows);
      seqs.set(l, cp.seq);
      log.info(
        {
          lane: l,
          seq: cp.seq,
          position: cp.position,
          from: cp.instance,
          restored: report.restored,
          failed: report.failed.map((f) => f.model),
        },
        'restored lane checkpoint: resuming the partition from its position',
      );
    } else {
      lanes.open(l);
      seqs.set(l, 0);
      log.info(
        { lane: l, position: at },
        'no lane checkpoint: the partition starts with empty windows',
      );
    }
    written.delete(l);
    processed.set(k, Number(at) - 1);
    progress.pending.delete(k);
    progress.sought(predictionsTopic, partition);
    progress.resumeAt.set(k, at);
    options.consumer()?.seek({ topic: predictionsTopic, partition, offset: at });
    progress.changes++;
    // The lane is registered: the finaliser waits for it from now on.
    const seq = seqs.get(l) ?? 0;
    const rows = progressRows(l, standings(partition), {
      position: at,
      seq,
      instance: instanceId,
      now: clock.now(),
    });
    await write('lane_progress', () => cluster.store.insertLaneProgress(rows));
  }

  function dropLane(partition: number): void {
    const k = key(predictionsTopic, partition);
    const l = lane(partition);
    lanes.drop(l);
    processed.delete(k);
    progress.pending.delete(k);
    progress.resumeAt.delete(k);
    seqs.delete(l);
    written.delete(l);
  }

  function reassign(added: readonly number[], revoked: readonly number[]): void {
    for (const p of added) progress.pending.add(key(predictionsTopic, p));
    if (added.length === 0 && revoked.length === 0) return;
    void exclusive(async () => {
      for (const p of revoked) if (!progress.owns(predictionsTopic, p)) dropLane(p);
      for (const p of added) {
        if (options.stopping()) return;
        const k = key(predictionsTopic, p);
        if (!progress.owns(predictionsTopic, p) || !progress.pending.has(k)) continue;
        await restoreLane(p);
      }
    })
      .catch((err) => {
        if (!(err instanceof RetryAbortedError)) log.error({ err }, 'lane assignment failed');
      })
      .finally(setOwned);
  }

  return {
    get seq() {
      return total;
    },
    due,
    dirty,
    take,
    reassign,
    async restore(): Promise<KafkaCheckpoint | null> {
      // Lanes are restored one by one as their partitions are assigned.
      return null;
    },
    async rollback() {
      // Cluster mode: the HTTP lane has a checkpointer of its own, which rolls it back.
    },
    schedule() {
      timer = scheduleTimer(options, { due, dirty, take });
    },
    stop() {
      if (timer) clearInterval(timer);
    },
  };
}
