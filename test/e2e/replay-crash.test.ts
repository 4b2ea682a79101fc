/**
 * The replay crash-consistency proof, end to end: `driftd replay` runs as a real child process
 * into the real embedded ClickHouse and is killed with SIGKILL at random moments three times
 * (each after a checkpoint of its life, at a random delay); every rerun of the same command
 * resumes from the last checkpoint, not from the start. After the run that finishes, the
 * window results (per window and size: counts, every statistic, verdicts) must EQUAL those
 * of an uninterrupted replay of the same file, every event must be stored once, and the
 * summary must count every line once.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { validateConfig } from '../../src/config/index.js';
import type { DriftdConfig } from '../../src/config/types.js';
import { createChdbExecutor, createStore } from '../../src/store/index.js';
import type { WindowResult } from '../../src/types.js';
import {
  CRASH_MODEL,
  crashEvent,
  crashModelConfig,
  prepareCrashStore,
} from '../helpers/crash-events.js';
import { writeConfigFile } from '../helpers/daemon-process.js';
import { lcgNormals } from '../helpers/random.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const T0 = Date.parse('2026-11-20T00:00:00Z');
const MODEL = CRASH_MODEL;
// More events than replay holds in flight (16 batches of 5 000 lines): its first checkpoint
// comes once the batches before it are stored, and a life killed after it must still have
// work left, or nothing is resumed.
const EVENTS = 300_000;
const SPAN_MS = 60 * MINUTE;
const KILLS = 3;

interface Run {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

describe('replay crash consistency: SIGKILL × 3 vs an uninterrupted replay (child processes)', () => {
  let root = '';
  const children = new Set<ChildProcess>();

  beforeAll(async () => {
    root = await mkdtemp(join(tmpdir(), 'driftd-replay-crash-'));
  });
  afterAll(async () => {
    for (const c of children) c.kill('SIGKILL');
    if (root) await rm(root, { recursive: true, force: true });
  });

  function configFor(name: string): Record<string, unknown> {
    return {
      dataDir: join(root, name),
      logLevel: 'debug',
      models: [crashModelConfig('0s')],
    };
  }

  /**
   * `driftd replay` as a child process; `killAfter(stdout)` returns a delay (ms) once it wants
   * the process killed (checked on every stdout chunk).
   */
  function replay(
    configFile: string,
    file: string,
    killAfter?: (stdout: string) => number | undefined,
  ): Promise<Run> {
    const child = spawn(
      process.execPath,
      [
        '--import',
        'tsx',
        join(ROOT, 'src/main.ts'),
        'replay',
        '--config',
        configFile,
        '--file',
        file,
      ],
      {
        cwd: ROOT,
        env: { ...process.env, DRIFTD_REPLAY_CHECKPOINT_INTERVAL_MS: '200' },
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    children.add(child);
    let stdout = '';
    let stderr = '';
    let armed = false;
    child.stdout!.setEncoding('utf8').on('data', (c: string) => {
      stdout += c;
      if (armed || killAfter === undefined) return;
      const delay = killAfter(stdout);
      if (delay === undefined) return;
      armed = true;
      setTimeout(() => child.kill('SIGKILL'), delay);
    });
    child.stderr!.setEncoding('utf8').on('data', (c: string) => {
      stderr += c;
    });
    return new Promise((resolve) => {
      child.once('exit', (code, signal) => {
        children.delete(child);
        resolve({ code, signal, stdout, stderr });
      });
    });
  }

  async function readResults(config: DriftdConfig) {
    const executor = createChdbExecutor({ path: (config.store as { path: string }).path });
    const store = createStore(config.store, { executor });
    try {
      const windows: WindowResult[] = [];
      for (const w of ['1m', '5m']) {
        windows.push(
          ...(await store.queryDrift({
            model: MODEL,
            window: w,
            from: T0 - HOUR,
            to: T0 + 2 * HOUR,
          })),
        );
      }
      const [row] = await executor.query<{ n: string; ids: string; late: string }>(
        `SELECT count() AS n, uniqExact(id) AS ids, countIf(late = 1) AS late
         FROM driftd.events FINAL WHERE model = '${MODEL}'`,
      );
      return {
        windows,
        raw: { n: Number(row!.n), ids: Number(row!.ids), late: Number(row!.late) },
      };
    } finally {
      await store.close();
    }
  }

  it('SIGKILL × 3 at random moments, each rerun resuming from its checkpoint: same windows as an uninterrupted replay, every event stored once', async () => {
    // The file: EVENTS in time order over an hour, the middle 20 minutes drifted, one bad line.
    const r = lcgNormals(42);
    const lines: string[] = [];
    for (let i = 0; i < EVENTS; i++) {
      const ts = T0 + Math.floor((i * SPAN_MS) / EVENTS);
      const shift = ts >= T0 + 20 * MINUTE && ts < T0 + 40 * MINUTE ? 1 : 0;
      lines.push(JSON.stringify(crashEvent(`e-${i}`, ts, r, shift)));
    }
    lines.splice(50_000, 0, '{"model": broken');
    const file = join(root, 'events.jsonl');
    await writeFile(file, `${lines.join('\n')}\n`);

    const crashInput = configFor('crash');
    const refInput = configFor('reference');
    const crash = validateConfig(crashInput, { env: {} });
    const reference = validateConfig(refInput, { env: {} });
    await prepareCrashStore(crash, T0);
    await prepareCrashStore(reference, T0);
    const crashFile = await writeConfigFile(root, crashInput, 'crash.yaml');
    const refFile = await writeConfigFile(root, refInput, 'reference.yaml');

    const ref = await replay(refFile, file);
    expect(ref.code).toBe(1); // the bad line
    expect(ref.stdout).toContain(`replay done: ${EVENTS} events accepted, 1 rejected`);

    // Each life is killed at a random moment after its first checkpoint.
    const seed = Date.now() % 100_000;
    const k = lcgNormals(seed);
    const resumedAt: number[] = [];
    for (let life = 0; life < KILLS; life++) {
      const run = await replay(crashFile, file, (out) =>
        out.includes('replay checkpoint written') ? Math.floor(k.u() * 200) : undefined,
      );
      const m = /resuming an interrupted replay at line (\d+)/.exec(run.stderr);
      if (m) resumedAt.push(Number(m[1]));
      if (run.signal !== 'SIGKILL') {
        // Finished before the kill (a fast machine): the rest of the lives have nothing to do.
        expect(run.stdout, `seed ${seed}`).toContain('replay done');
        break;
      }
    }
    const last = await replay(crashFile, file);
    const m = /resuming an interrupted replay at line (\d+)/.exec(last.stderr);
    if (m) resumedAt.push(Number(m[1]));
    expect(last.code, `seed ${seed}: ${last.stderr.slice(-2000)}`).toBe(1);
    // Counted once, over every life: the summary carries the counts of the lines before the cut.
    expect(last.stdout).toContain(`replay done: ${EVENTS} events accepted, 1 rejected`);
    // Reruns resumed from their checkpoints, further each time.
    expect(resumedAt.length, `seed ${seed}`).toBeGreaterThan(0);
    expect(resumedAt.every((l) => l > 1)).toBe(true);
    expect([...resumedAt].sort((a, b) => a - b)).toEqual(resumedAt);

    const a = await readResults(crash);
    const b = await readResults(reference);
    const strip = (ws: WindowResult[]) => ws.map(({ closedAt: _closedAt, ...rest }) => rest);
    expect(b.windows).toHaveLength(60 + 12);
    expect(b.windows.some((w) => w.datasetDrift || w.features.some((f) => f.drifted))).toBe(true);
    expect(strip(a.windows)).toEqual(strip(b.windows));
    expect(a.raw).toEqual({ n: EVENTS, ids: EVENTS, late: 0 });
    expect(b.raw).toEqual(a.raw);
  }, 600_000);
});
