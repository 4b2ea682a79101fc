/**
 * The comparison gauges and the rollback run across a daemon restart (embedded store, real
 * daemon, real HTTP /metrics): comparisons stored by the last run are replayed at startup
 * (src/export/restore-comparisons.ts), so a restart in the middle of a bad canary neither
 * cancels nor delays DriftdChallengerWorse, and the newest revision of a window (rewritten
 * when labels arrived) is the one that counts.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { validateConfig } from '../../src/config/index.js';
import type { DriftdConfig } from '../../src/config/types.js';
import { createDaemon, type Daemon } from '../../src/daemon.js';
import { createStore } from '../../src/store/index.js';
import { comparison, paired } from '../helpers/comparison.js';

const W = 60_000;
const T0 = Date.parse('2026-11-22T10:00:00Z');

function sample(text: string, name: string, labels: Record<string, string>): number | undefined {
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${name}{`)) continue;
    const close = line.lastIndexOf('}');
    const body = line.slice(name.length + 1, close);
    if (Object.entries(labels).every(([k, v]) => body.includes(`${k}="${v}"`))) {
      return Number(line.slice(close + 1));
    }
  }
  return undefined;
}

describe('comparison gauges and the rollback run across a restart', () => {
  let dir: string;
  let config: DriftdConfig;
  let daemon: Daemon | undefined;

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'driftd-compare-restart-'));
    config = validateConfig(
      {
        dataDir: dir,
        server: { host: '127.0.0.1', port: 0 },
        logLevel: 'silent',
        models: [
          {
            id: 'credit',
            task: 'binary-classification',
            features: [{ name: 'income', type: 'numeric' }],
            windows: { sizes: ['1m'] },
            comparison: { champion: '1' },
            alerts: { consecutiveWindows: 3 },
          },
        ],
      },
      { env: {} },
    );
  });

  afterEach(async () => {
    await daemon?.close();
    daemon = undefined;
    await rm(dir, { recursive: true, force: true });
  });

  it('the run of worse windows goes on from the stored comparisons; the newest revision counts', async () => {
    // What the last run stored: challenger 2 worse (estimated AUC 0.15 below) in windows 0..2,
    // window 3 first judged worse, then rewritten with labels that clear it.
    const at = (k: number, challengerAuc: number, writtenAt: number) => ({
      ...comparison({
        model: 'credit',
        window: '1m',
        windowStart: T0 + k * W,
        windowEnd: T0 + (k + 1) * W,
        estimated: { roc_auc: paired(0.82, challengerAuc, 0.02) },
      }),
      driftdVersion: 'test',
      configHash: 'sha256:test',
      writtenAt,
    });
    const store = createStore(config.store);
    await store.migrate();
    await store.insertComparisons([
      at(0, 0.67, T0 + W),
      at(1, 0.66, T0 + 2 * W),
      at(2, 0.65, T0 + 3 * W),
    ]);
    await store.close();

    daemon = createDaemon(config, { tickMs: 100 });
    await daemon.start();
    const pair = { model: 'credit', champion: '1', challenger: '2', window: '1m' };
    let text = await (await fetch(`${daemon.url}/metrics`)).text();
    expect(sample(text, 'driftd_rollback_signal_consecutive_windows', pair)).toBe(3);
    expect(sample(text, 'driftd_rollback_signal', pair)).toBe(1);
    expect(
      sample(text, 'driftd_version_performance_difference', {
        ...pair,
        metric: 'roc_auc',
        source: 'estimated',
      }),
    ).toBeCloseTo(0.65 - 0.82, 12);
    await daemon.close();

    // Window 3: worse first, then the labels' rewrite says not worse (estimate back at 0.81).
    const again = createStore(config.store);
    await again.insertComparisons([at(3, 0.6, T0 + 4 * W), at(3, 0.81, T0 + 9 * W)]);
    await again.close();
    daemon = createDaemon(config, { tickMs: 100 });
    await daemon.start();
    text = await (await fetch(`${daemon.url}/metrics`)).text();
    expect(sample(text, 'driftd_rollback_signal_consecutive_windows', pair)).toBe(0);
    expect(sample(text, 'driftd_rollback_signal', pair)).toBe(0);
  });
});
