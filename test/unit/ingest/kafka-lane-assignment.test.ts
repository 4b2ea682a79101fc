/**
 * Cluster mode's partition assignment (src/ingest/kafka/consumer-group.ts +
 * lane-checkpoints.ts), one group join at a time, deterministic: the joins a real group makes
 * rarely on cue (the same member keeping a partition, a member whose session expired coming
 * back with a new id, a restore failing then succeeding). Test doubles, named as such: the
 * consumer, the admin client and the engine's lanes are recording stand-ins, the store an
 * in-memory checkpoint table; the integration test (test/integration/kafka/cluster-lanes.test.ts)
 * runs the same code against the real broker, store and engine.
 */
import type { Admin, Consumer, ConsumerGroupJoinEvent } from 'kafkajs';
import { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import type { LaneProgressRow } from '../../../src/cluster/types.js';
import { kafkaLane, laneCheckpointGroup } from '../../../src/cluster/types.js';
import { createMetrics } from '../../../src/export/metrics.js';
import {
  decodeLaneCheckpoint,
  encodeLaneCheckpoint,
  type LaneCheckpoint,
} from '../../../src/ingest/checkpoint.js';
import { createGroupJoinHandler } from '../../../src/ingest/kafka/consumer-group.js';
import { createLaneCheckpoints } from '../../../src/ingest/kafka/lane-checkpoints.js';
import type { KafkaLanes, KafkaPipeline } from '../../../src/ingest/kafka/options.js';
import { PartitionProgress } from '../../../src/ingest/kafka/partition-progress.js';
import { createLogger } from '../../../src/logger.js';
import type { StoredCheckpoint } from '../../../src/store/types.js';

const TOPIC = 'preds';
const GROUP = 'g';
const lane = (p: number) => kafkaLane(TOPIC, p);

function rig() {
  const calls: string[] = [];
  const held = new Set<string>();
  // Test double: the engine's lanes, recording what the source asks of them.
  const lanes: KafkaLanes = {
    has: (l) => held.has(l),
    open(l) {
      calls.push(`open ${l}`);
      held.add(l);
    },
    restore(l) {
      calls.push(`restore ${l}`);
      held.add(l);
      return { restored: ['m'], failed: [] };
    },
    drop(l) {
      calls.push(`drop ${l}`);
      held.delete(l);
    },
    snapshot: () => ({}),
    progress: () => [
      { model: 'm', version: '1', watermark: 1000, idle: true },
      { model: '', version: '', watermark: 1000, idle: true },
    ],
  };
  // Test double: the checkpoints table (latest seq per group).
  const table = new Map<string, StoredCheckpoint>();
  const saved: StoredCheckpoint[] = [];
  const store = {
    async saveCheckpoint(row: StoredCheckpoint) {
      saved.push(row);
      const prev = table.get(row.groupId);
      if (prev === undefined || prev.seq <= row.seq) table.set(row.groupId, row);
    },
    async latestCheckpoint(group: string) {
      return table.get(group) ?? null;
    },
  };
  const progressRows: LaneProgressRow[] = [];
  // Test doubles: the consumer (seeks, commits) and the admin (committed and earliest offsets).
  const seeks: string[] = [];
  const commits: string[] = [];
  const consumer = {
    seek: (o: { partition: number; offset: string }) => seeks.push(`${o.partition}@${o.offset}`),
    commitOffsets: async (list: Array<{ partition: number; offset: string }>) => {
      commits.push(list.map((o) => `${o.partition}@${o.offset}`).join(','));
    },
  } as unknown as Consumer;
  const admin = {
    fetchOffsets: async () => [{ topic: TOPIC, partitions: [{ partition: 1, offset: '3' }] }],
    fetchTopicOffsets: async () => [0, 1, 2].map((partition) => ({ partition, low: '2' })),
  } as unknown as Admin;
  const lags = new Map<number, number>();
  const registry = new Registry();
  const metrics = createMetrics(registry, { version: 'test' });
  const errors: Array<Record<string, unknown>> = [];
  const logger = createLogger('error', {
    write(line: string) {
      errors.push(JSON.parse(line));
      return true;
    },
  } as unknown as NodeJS.WritableStream);
  let tail: Promise<unknown> = Promise.resolve();
  const exclusive = <T>(fn: () => Promise<T>): Promise<T> => {
    const run = tail.then(fn, fn);
    tail = run.catch(() => undefined);
    return run;
  };
  const progress = new PartitionProgress(TOPIC);
  /** The clock, and when the coordinator last confirmed the member. */
  const now = { at: 5_000, confirmed: 5_000 };
  const pipeline = {
    managers: new Map(),
    settle: async () => undefined,
    quiescent: () => true,
    openWindows: () => 0,
  } as unknown as KafkaPipeline;
  const cps = createLaneCheckpoints({
    groupId: GROUP,
    predictionsTopic: TOPIC,
    pipeline,
    store,
    clock: { now: () => now.at },
    log: logger,
    metrics,
    tuning: { checkpointIntervalMs: 1000, sessionTimeoutMs: 6000 },
    progress,
    write: (_op, fn) => fn(),
    exclusive,
    consumer: () => consumer,
    joined: () => true,
    stopping: () => false,
    cluster: {
      instanceId: 'i-1',
      lanes,
      store: { insertLaneProgress: async (rows) => void progressRows.push(...rows) },
    },
    lag: { of: (_t, p) => lags.get(p) },
    admin: () => admin,
    confirmedAt: () => now.confirmed,
  });
  const onJoin = createGroupJoinHandler({
    groupId: GROUP,
    predictionsTopic: TOPIC,
    pipeline,
    metrics,
    log: logger,
    progress,
    lag: { remove: () => undefined, refresh: () => undefined },
    lanes: cps,
    consumer: () => consumer,
    joined: () => undefined,
  });
  /** A group join, then the lock's queue run dry. */
  async function join(memberId: string, partitions: number[]) {
    onJoin({
      payload: { memberId, memberAssignment: { [TOPIC]: partitions } },
    } as unknown as ConsumerGroupJoinEvent);
    await exclusive(async () => undefined);
  }
  const owned = async () =>
    (await registry.getSingleMetric('driftd_cluster_lanes_owned')?.get())?.values[0]?.value;
  const checkpoint = (l: string, seq: number, position: string): StoredCheckpoint => {
    const cp: LaneCheckpoint = {
      format: 1,
      kind: 'lane',
      lane: l,
      seq,
      takenAt: 1,
      position,
      instance: 'i-0',
      windows: {},
    };
    return encodeLaneCheckpoint(laneCheckpointGroup(GROUP, l), cp);
  };
  return {
    now,
    calls,
    table,
    saved,
    progressRows,
    seeks,
    commits,
    lags,
    errors,
    progress,
    cps,
    join,
    owned,
    checkpoint,
  };
}

describe('Kafka lanes: assignment in cluster mode (test doubles for the consumer, admin, lanes and store)', () => {
  it('restores a lane from its checkpoint, opens one without at the committed offset, and registers both', async () => {
    const r = rig();
    r.table.set(laneCheckpointGroup(GROUP, lane(0)), r.checkpoint(lane(0), 4, '10'));
    await r.join('m1', [0, 1]);
    expect(r.calls).toEqual([
      `drop ${lane(0)}`,
      `restore ${lane(0)}`,
      `drop ${lane(1)}`,
      `open ${lane(1)}`,
    ]);
    expect(r.seeks).toEqual(['0@10', '1@3']);
    expect(r.progress.processed.get(lane(0))).toBe(9);
    expect(r.progress.pending.size).toBe(0);
    expect(await r.owned()).toBe(2);
    // Registered at once: the lane-level rows, with the restored seq (0 without a checkpoint).
    const lanesRows = r.progressRows.filter((x) => x.model === '');
    expect(lanesRows.map((x) => [x.lane, x.seq, x.position])).toEqual([
      [lane(0), 4, '10'],
      [lane(1), 0, '3'],
    ]);
    // Lag unknown: not idle yet, whatever the engine says.
    expect(r.progressRows.every((x) => !x.idle)).toBe(true);
  });

  it('cuts each lane with its seq continued, idle only without lag, and commits the owned offsets', async () => {
    const r = rig();
    r.table.set(laneCheckpointGroup(GROUP, lane(0)), r.checkpoint(lane(0), 4, '10'));
    await r.join('m1', [0, 1]);
    r.progress.processed.set(lane(0), 19);
    r.progress.changes++;
    r.lags.set(0, 5);
    r.lags.set(1, 0);
    r.progressRows.length = 0;
    await r.cps.take();
    const cut = r.saved.map(decodeLaneCheckpoint);
    expect(cut.map((c) => [c.lane, c.seq, c.position, c.instance])).toEqual([
      [lane(0), 5, '20', 'i-1'],
      [lane(1), 1, '3', 'i-1'],
    ]);
    expect(r.commits).toEqual(['0@20,1@3']);
    // The engine says idle for both; only the lane without lag is.
    expect(r.progressRows.filter((x) => x.lane === lane(0)).every((x) => !x.idle)).toBe(true);
    expect(r.progressRows.filter((x) => x.lane === lane(1)).every((x) => x.idle)).toBe(true);
    // Its lag gone, lane 0 turns idle: a cut of it alone (the flag changed, nothing else).
    r.lags.set(0, 0);
    r.saved.length = 0;
    r.progressRows.length = 0;
    expect(r.cps.dirty()).toBe(true);
    await r.cps.take();
    expect(r.saved.map(decodeLaneCheckpoint).map((c) => [c.lane, c.seq])).toEqual([[lane(0), 6]]);
    expect(r.progressRows.every((x) => x.lane === lane(0) && x.idle)).toBe(true);
    // Nothing changed since: no rows (offsets committed again).
    r.saved.length = 0;
    expect(r.cps.dirty()).toBe(false);
    await r.cps.take();
    expect(r.saved).toEqual([]);
    expect(r.commits.at(-1)).toBe('0@20,1@3');
  });

  it('a member the coordinator has not confirmed within the session timeout cuts nothing and commits nothing', async () => {
    const r = rig();
    await r.join('m1', [0]);
    r.progress.processed.set(lane(0), 9);
    r.progress.changes++;
    // Its last heartbeat answered 6 s ago (the session timeout): it may have been expired and
    // partition 0 given to another member, whose cuts a late one of its own would overtake.
    r.now.at = r.now.confirmed + 6000;
    await r.cps.take();
    expect(r.saved).toEqual([]);
    expect(r.commits).toEqual([]);
    // Confirmed again (a heartbeat answered): it cuts.
    r.now.confirmed = r.now.at;
    await r.cps.take();
    expect(r.saved.map(decodeLaneCheckpoint).map((c) => c.position)).toEqual(['10']);
    expect(r.commits).toEqual(['0@10']);
  });

  it('keeps a lane the same member keeps; drops a revoked one; a new member id restores what it kept', async () => {
    const r = rig();
    await r.join('m1', [0, 1]);
    r.progress.processed.set(lane(0), 41);
    r.calls.length = 0;
    r.seeks.length = 0;
    await r.join('m1', [0]);
    // Kept: same windows, sought to where it stands; revoked: dropped, its progress forgotten.
    expect(r.calls).toEqual([`drop ${lane(1)}`]);
    expect(r.seeks).toEqual(['0@42']);
    expect(r.progress.processed.has(lane(1))).toBe(false);
    expect(await r.owned()).toBe(1);
    // The session expired meanwhile (new member id): another member may have advanced
    // partition 0, so its lane is restored from the latest checkpoint, not kept.
    r.table.set(laneCheckpointGroup(GROUP, lane(0)), r.checkpoint(lane(0), 9, '77'));
    r.calls.length = 0;
    r.seeks.length = 0;
    await r.join('m2', [0]);
    expect(r.calls).toEqual([`drop ${lane(0)}`, `restore ${lane(0)}`]);
    expect(r.seeks).toEqual(['0@77']);
  });

  it('an unreadable lane checkpoint leaves the partition pending, counted and logged; the next join tries again', async () => {
    const r = rig();
    // A well-formed checkpoint of another lane in lane 2's group.
    r.table.set(laneCheckpointGroup(GROUP, lane(2)), r.checkpoint(lane(0), 3, '8'));
    await r.join('m1', [0, 2]);
    expect(r.progress.pending.has(lane(2))).toBe(true);
    expect(r.seeks).toEqual(['0@2']); // lane 0 from the earliest offset (none committed)
    expect(r.calls).not.toContain(`restore ${lane(2)}`);
    expect(await r.owned()).toBe(1);
    expect(r.errors.find((e) => e.lane === lane(2))?.msg).toMatch(/unreadable lane checkpoint/);
    await r.cps.take();
    expect(r.saved.map((s) => s.groupId)).toEqual([laneCheckpointGroup(GROUP, lane(0))]);
    // Fixed (the row replaced); the same member's next join restores it.
    r.table.set(laneCheckpointGroup(GROUP, lane(2)), r.checkpoint(lane(2), 3, '8'));
    await r.join('m1', [0, 2]);
    expect(r.calls).toContain(`restore ${lane(2)}`);
    expect(r.progress.pending.size).toBe(0);
    expect(r.seeks.at(-1)).toBe('2@8');
    expect(await r.owned()).toBe(2);
  });
});
