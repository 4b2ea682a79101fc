/**
 * A lane's progress rows (table `lane_progress`, src/cluster/types.ts), written right after
 * each of its checkpoints: one per (model, version) the lane has a stream for, and the
 * lane-level row (model = version = '').
 */
import type { LaneWindows } from './lane-windows.js';
import type { LaneProgressRow } from './types.js';

export function progressRows(
  lane: string,
  p: ReturnType<LaneWindows['progress']>,
  at: { position: string; seq: number; instance: string; now: number },
): LaneProgressRow[] {
  return p.map((v) => ({
    lane,
    model: v.model,
    version: v.version,
    watermark: v.watermark,
    idle: v.idle,
    retired: false,
    position: at.position,
    seq: at.seq,
    instance: at.instance,
    writtenAt: at.now,
  }));
}
