/**
 * SIGHUP reloads the config of a real daemon process (`driftd start`, embedded store): a
 * threshold changes without losing the window open across the reload; an invalid file is
 * logged as an error, counted in driftd_config_reloads_total{result="failure"}, and the old
 * config stays in force; the daemon still shuts down cleanly.
 */
import { mkdtemp, rename, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { buildProfileFromRows } from '../../src/baseline/index.js';
import { validateConfig } from '../../src/config/index.js';
import { createStore } from '../../src/store/index.js';
import { type DaemonProcess, startDaemonProcess } from '../helpers/daemon-process.js';

const MINUTE = 60_000;
const T0 = Math.floor(Date.now() / MINUTE) * MINUTE - 60 * MINUTE;

const input = (dir: string, threshold: number) => ({
  dataDir: dir,
  server: { host: '127.0.0.1', port: 0 },
  logLevel: 'info',
  models: [
    {
      id: 'm',
      task: 'regression',
      features: [{ name: 'x', type: 'numeric', test: 'psi', threshold }],
      windows: { sizes: ['1m'], allowedLateness: '0s', idleTimeout: '1h' },
      drift: { minWindowSize: 5 },
    },
  ],
});

interface Window {
  start: string;
  eventCount: number;
  features: Array<{ feature: string; threshold: number; drifted: boolean }>;
}

describe('SIGHUP reloads the config of a running daemon process', () => {
  let dir = '';
  let file = '';
  let d: DaemonProcess | undefined;
  const writeConfig = async (content: string) => {
    await writeFile(`${file}.tmp`, content);
    await rename(`${file}.tmp`, file);
  };

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'driftd-sighup-'));
    file = join(dir, 'driftd.yaml');
    const config = validateConfig(input(dir, 100), { env: {} });
    const store = createStore(config.store);
    try {
      await store.migrate();
      const rows = Array.from({ length: 400 }, (_, i) => ({
        features: { x: i % 20 },
        prediction: 1,
      }));
      await store.saveBaseline(buildProfileFromRows(config.models[0]!, '1', rows).profile);
    } finally {
      await store.close();
    }
    await writeConfig(stringify(input(dir, 100)));
  });
  afterAll(async () => {
    await d?.kill().catch(() => undefined);
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  let nextId = 0;
  const post = async (n: number, ts: number) => {
    const items = Array.from({ length: n }, (_, i) => ({
      model: 'm',
      version: '1',
      id: `e-${nextId++}`,
      ts: new Date(ts + i).toISOString(),
      features: { x: 15 + (i % 5) },
      prediction: 1,
    }));
    const res = await fetch(`${d!.url}/api/v1/events`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(items),
    });
    expect(res.status, await res.clone().text()).toBe(202);
    return (await res.json()) as { accepted: number };
  };
  const metric = async (line: string) =>
    (await (await fetch(`${d!.url}/metrics`)).text()).split('\n').find((l) => l.startsWith(line));

  it('a threshold changed by SIGHUP applies to the window open across it, with every event; an invalid file is refused and the old config stays', async () => {
    d = await startDaemonProcess({ configFile: file, logFile: join(dir, 'daemon.log') });
    await d.waitReady();
    expect((await post(30, T0)).accepted).toBe(30);

    await writeConfig(stringify(input(dir, 0.1)));
    let from = d.logs.length;
    process.kill(d.pid, 'SIGHUP');
    const applied = await d.waitForLog((e) => e.stage === 'reload', 20_000, from);
    expect(applied.msg).toBe('config reload: applied');
    expect(applied.changed).toEqual(['models["m"].features[0].threshold']);

    expect((await post(20, T0 + 100)).accepted).toBe(20);
    expect((await post(1, T0 + MINUTE)).accepted).toBe(1); // closes [T0, T0 + 1m)
    const range = `from=${new Date(T0).toISOString()}&to=${new Date(T0 + 1).toISOString()}`;
    let w: Window | undefined;
    for (let i = 0; i < 200 && w === undefined; i++) {
      const { windows } = await d.get<{ windows: Window[] }>(
        `/api/v1/models/m/drift?window=1m&${range}`,
      );
      w = windows.find((x) => Date.parse(x.start) === T0);
      if (w === undefined) await new Promise((r) => setTimeout(r, 50));
    }
    expect(w?.eventCount).toBe(50);
    expect(w?.features[0]).toMatchObject({ feature: 'x', threshold: 0.1, drifted: true });

    // Invalid: logged as an error, counted, the old config stays.
    await writeConfig('models:\n  - id: m\n    task: nonsense\n');
    from = d.logs.length;
    process.kill(d.pid, 'SIGHUP');
    const failed = await d.waitForLog((e) => e.stage === 'reload', 20_000, from);
    expect(failed.level).toBe(50);
    expect(failed.msg).toContain('the running config stays in force');
    expect(JSON.stringify(failed.err)).toContain('models[0].task');
    expect(await metric('driftd_config_reloads_total{result="failure"}')).toMatch(/ 1$/);
    expect(await metric('driftd_config_reloads_total{result="success"}')).toMatch(/ 1$/);
    await d.waitReady();
    expect((await post(3, T0 + MINUTE + 10)).accepted).toBe(3);

    expect((await d.stop()).code).toBe(0);
  });
});
