/**
 * The replay's checkpointer: owns "window state + file position" as one consistent cut, as
 * the HTTP checkpointer does with its input position (checkpointer.ts), so that a replay
 * killed at any moment resumes where its last cut was instead of starting over.
 *
 * Invariant: the latest `driftd:replay` row C = (windows W, file F, byte offset B), unless
 * `done`, is a consistent cut: W is exactly the window state built from F's lines before B,
 * every one of those events is stored, and every window closed before the cut has its result
 * in the store or is in W's closed lists (restored and written on resume).
 *
 * How:
 * - Cut, at most every `intervalMs`, right after a batch was handed to the pipeline (which
 *   records it synchronously, in file order): `pipeline.cut()` snapshots the windows in the
 *   same turn, and the row is written once every event up to the cut is stored (the input
 *   log's `whenDurable`) and the batches before it have answered (their counts go in the row).
 * - Resume: a rerun on the same file (path, size, modification time) restores W into fresh
 *   window managers, writes the closed windows, and reads on from B. Raw rows a killed run
 *   stored after B are stored again and collapse (a replay row's identity is its event: see
 *   encodeEventRowBinary); windows closed after the cut close again with the same results.
 * - Finish: after the final flush a `done` row, so that the next replay starts afresh.
 *
 * Scope: one replay at a time per store, on a daemon that has no other input (no Kafka).
 */
import type { Logger } from '../logger.js';
import {
  type CheckpointStore,
  decodeReplayCheckpoint,
  encodeReplayCheckpoint,
  REPLAY_CHECKPOINT_GROUP,
  type ReplayCheckpoint,
  restoreWindows,
} from './checkpoint.js';
import type { EngineCheckpointing } from './pipeline.js';

export const DEFAULT_REPLAY_CHECKPOINT_INTERVAL_MS = 2_000;

/** Where a replay stands: the byte and line it reads on from, and the items counted before. */
export interface ReplayPosition {
  offset: number;
  line: number;
  accepted: number;
  rejected: number;
}

export interface ReplayCheckpointer {
  /** The position to start from: a cut of an interrupted replay of this file, or its start. */
  restore(): Promise<ReplayPosition & { resumed: boolean }>;
  /**
   * Call right after a batch was handed to the pipeline, with the file position after it and
   * the counts of every item up to it. Takes a cut when one is due and none is being written.
   */
  cut(
    at: { offset: number; line: number },
    counts: Promise<{ accepted: number; rejected: number }>,
  ): void;
  /** Waits for the cut being written, then writes the `done` row. */
  finish(totals: { accepted: number; rejected: number }): Promise<void>;
}

export function createReplayCheckpointer(opts: {
  pipeline: Pick<EngineCheckpointing, 'managers' | 'cut' | 'input' | 'settle'>;
  store: CheckpointStore;
  logger: Logger;
  file: ReplayCheckpoint['file'];
  /** @default 2000 */
  intervalMs?: number;
  now?: () => number;
}): ReplayCheckpointer {
  const { pipeline, store, file } = opts;
  const log = opts.logger.child({ stage: 'checkpoint' });
  const now = opts.now ?? Date.now;
  const intervalMs = opts.intervalMs ?? DEFAULT_REPLAY_CHECKPOINT_INTERVAL_MS;
  let seq = 0;
  let lastCut = now();
  let writing: Promise<void> | undefined;

  const sameFile = (f: ReplayCheckpoint['file']) =>
    f.path === file.path && f.size === file.size && f.mtimeMs === file.mtimeMs;

  function row(
    at: { offset: number; line: number },
    counts: { accepted: number; rejected: number },
    windows: ReplayCheckpoint['windows'],
    done: boolean,
  ) {
    return encodeReplayCheckpoint({
      format: 1,
      kind: 'replay',
      seq: seq + 1,
      takenAt: now(),
      file,
      offset: at.offset,
      line: at.line,
      accepted: counts.accepted,
      rejected: counts.rejected,
      done,
      windows,
    });
  }

  return {
    async restore() {
      const start = { offset: 0, line: 1, accepted: 0, rejected: 0, resumed: false };
      const stored = await store.latestCheckpoint(REPLAY_CHECKPOINT_GROUP);
      if (stored === null) return start;
      const cp = decodeReplayCheckpoint(stored);
      seq = cp.seq;
      if (cp.done) return start;
      if (!sameFile(cp.file)) {
        log.warn(
          { checkpoint: cp.file, file },
          'an interrupted replay of another file (or of this one, changed since) is not resumed: reading from the start',
        );
        return start;
      }
      restoreWindows(pipeline.managers, cp, log);
      // Windows closed but not written at the cut.
      await pipeline.settle();
      log.info(
        { seq: cp.seq, offset: cp.offset, line: cp.line },
        'resuming an interrupted replay from its checkpoint',
      );
      const { offset, line, accepted, rejected } = cp;
      return { offset, line, accepted, rejected, resumed: true };
    },
    cut(at, counts) {
      if (writing !== undefined || now() - lastCut < intervalMs) return;
      if (!pipeline.input.healthy) return;
      const c = pipeline.cut();
      lastCut = now();
      writing = (async () => {
        await pipeline.input.whenDurable(c.position);
        const r = row(at, await counts, c.windows, false);
        await store.saveCheckpoint(r);
        seq = r.seq;
        log.debug({ seq, offset: at.offset, bytes: r.payload.length }, 'replay checkpoint written');
      })()
        .catch((err) => log.warn({ err }, 'replay checkpoint failed; the next one is tried'))
        .finally(() => {
          writing = undefined;
        });
    },
    async finish(totals) {
      await writing;
      const r = row({ offset: file.size, line: 0 }, totals, {}, true);
      await store.saveCheckpoint(r);
      seq = r.seq;
    },
  };
}
