import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildProfileFromRows } from '../../src/baseline/index.js';
import { validateConfig } from '../../src/config/index.js';
import { createStore } from '../../src/store/index.js';
import {
  type DaemonProcess,
  startDaemonProcess,
  writeConfigFile,
} from '../helpers/daemon-process.js';

const T0 = Date.parse('2026-11-22T10:00:00Z');
const MINUTE = 60_000;

const event = (i: number, ts: number) => ({
  model: 'credit-risk',
  version: '3',
  id: `l-${i}`,
  ts: new Date(ts).toISOString(),
  features: { income: 40_000 + (i % 50) * 400, region: i % 2 ? 'EU' : 'US' },
  prediction: (i % 10) / 10,
});

describe('driftd start as a process: SIGTERM shutdown and restart keep open windows (real chDB)', () => {
  let dir: string;
  let configFile: string;
  let d: DaemonProcess | undefined;
  const input = (dataDir: string) => ({
    dataDir,
    server: { host: '127.0.0.1', port: 0 },
    logLevel: 'info',
    models: [
      {
        id: 'credit-risk',
        task: 'binary-classification',
        features: [
          { name: 'income', type: 'numeric' },
          { name: 'region', type: 'categorical' },
        ],
        windows: { sizes: ['1m'], allowedLateness: '0s', idleTimeout: '1h' },
        drift: { minWindowSize: 10 },
      },
    ],
  });

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'driftd-lifecycle-'));
    configFile = await writeConfigFile(dir, input(dir));
    const config = validateConfig(input(dir), { env: {} });
    const store = createStore(config.store);
    await store.migrate();
    const rows = Array.from({ length: 500 }, (_, i) => event(i, T0 - 3_600_000));
    await store.saveBaseline(buildProfileFromRows(config.models[0]!, '3', rows).profile);
    await store.close();
  });
  afterAll(async () => {
    await d?.stop().catch(() => {});
    await rm(dir, { recursive: true, force: true });
  });

  const post = async (url: string, events: unknown[]) => {
    const res = await fetch(`${url}/api/v1/events`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(events),
    });
    expect(res.status).toBe(202);
  };

  it('exits 0 on SIGTERM after checkpointing the open window, and resumes it after a restart', async () => {
    d = await startDaemonProcess({ configFile });
    await d.waitReady();
    // 30 events into the 10:00 window, which stays open (nothing later has arrived).
    await post(
      d.url!,
      Array.from({ length: 30 }, (_, i) => event(i, T0 + i * 1000)),
    );
    const exit = await d.stop();
    expect(exit).toEqual({ code: 0, signal: null });
    expect(d.logs.some((l) => l.msg === 'driftd stopped')).toBe(true);
    const config = validateConfig(input(dir), { env: {} });
    const store = createStore(config.store);
    const row = await store.latestCheckpoint('driftd:http');
    await store.close();
    const checkpoint = JSON.parse(row!.payload) as {
      position: number;
      windows: Record<string, { open: Array<{ bounds: { start: number }; count: number }> }>;
    };
    expect(checkpoint.position).toBe(30);
    expect(checkpoint.windows['credit-risk']!.open.map((w) => [w.bounds.start, w.count])).toEqual([
      [T0, 30],
    ]);

    d = await startDaemonProcess({ configFile });
    await d.waitReady();
    expect(
      d.logs.some(
        (l) =>
          l.msg === 'restored HTTP checkpoint and replayed the events stored after it' &&
          l.openWindows === 1,
      ),
    ).toBe(true);
    // 20 more in the same window, then one in the next window closes it.
    await post(
      d.url!,
      Array.from({ length: 20 }, (_, i) => event(100 + i, T0 + 40_000 + i * 500)),
    );
    await post(d.url!, [event(999, T0 + MINUTE + 1)]);
    const drift = await d.get<{ windows: Array<{ start: string; eventCount: number }> }>(
      '/api/v1/models/credit-risk/drift?window=1m',
    );
    expect(drift.windows.map((w) => [w.start, w.eventCount])).toEqual([
      [new Date(T0).toISOString(), 50],
    ]);
    expect((await d.stop()).code).toBe(0);
  });
});
