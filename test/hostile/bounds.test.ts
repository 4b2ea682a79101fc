/**
 * Bounded by configuration, never by input: 20 000 made-up versions and 1 M distinct category
 * values over real HTTP into a daemon on the real embedded store. Open windows, /metrics
 * series and heap stay under the README's formula for the configured model, and the
 * monitored versions keep their results.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildProfileFromRows } from '../../src/baseline/index.js';
import { validateConfig } from '../../src/config/index.js';
import { createDaemon, type Daemon } from '../../src/daemon.js';

const T0 = Date.parse('2026-11-22T10:00:00Z');
const MAX_ACTIVE = 4;
const FEATURES = 6; // 3 numeric, 3 categorical
const SIZES = 2;
/**
 * The README's bound on series of one model: maxActive × sizes × (14 per feature + 9 per window
 * + 3 per performance metric (at most 11: value, degraded verdict, its run) + 1 label
 * coverage), plus the per-model and process-wide series that exist whatever the input
 * (measured before the hostile input, and not allowed to grow beyond the per-window ones).
 */
const SERIES_PER_VERSION = SIZES * (14 * FEATURES + 9 + 3 * 11 + 1);

function seriesCount(text: string): number {
  return text.split('\n').filter((l) => l !== '' && !l.startsWith('#')).length;
}

describe('bounded by configuration, never by input (real HTTP, real embedded store)', () => {
  let dir: string;
  let daemon: Daemon;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'driftd-bounds-'));
    const config = validateConfig(
      {
        dataDir: dir,
        server: { host: '127.0.0.1', port: 0, bodyLimitBytes: 64 * 1024 * 1024 },
        logLevel: 'silent',
        models: [
          {
            id: 'm',
            task: 'binary-classification',
            features: [
              { name: 'n0', type: 'numeric' },
              { name: 'n1', type: 'numeric' },
              { name: 'n2', type: 'numeric' },
              { name: 'c0', type: 'categorical' },
              { name: 'c1', type: 'categorical' },
              { name: 'c2', type: 'categorical' },
            ],
            windows: { sizes: ['1m', '1h'], allowedLateness: '0s', idleTimeout: '1h' },
            versions: { maxActive: MAX_ACTIVE, baselineFallback: 'latest' },
            drift: { minWindowSize: 10, topCategories: 20 },
          },
        ],
      },
      { env: {} },
    );
    daemon = createDaemon(config, { tickMs: 100 });
    await daemon.start();
    const rows = Array.from({ length: 2000 }, (_, i) => ({
      id: `b${i}`,
      features: {
        n0: i % 97,
        n1: (i * 7) % 89,
        n2: i % 13,
        c0: `a${i % 30}`,
        c1: `b${i % 5}`,
        c2: 'x',
      },
      prediction: (i % 100) / 100,
    }));
    await daemon.store.saveBaseline(buildProfileFromRows(config.models[0]!, '1', rows).profile);
    await daemon.pipeline.refreshBaselines();
  }, 120_000);

  afterAll(async () => {
    await daemon?.close();
    await rm(dir, { recursive: true, force: true });
  });

  async function post(lines: string[]) {
    const res = await fetch(`${daemon.url}/api/v1/events`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-ndjson' },
      body: lines.join('\n'),
    });
    expect(res.status).toBeLessThan(500);
    return (await res.json()) as { accepted: number; rejected: number };
  }

  const line = (i: number, version: string, ts: number, cats: [string, string, string]) =>
    `{"model":"m","version":${JSON.stringify(version)},"id":"e${i}","ts":${ts},"features":{"n0":${i % 97},"n1":${(i * 3) % 89},"n2":${i % 13},"c0":${JSON.stringify(cats[0])},"c1":${JSON.stringify(cats[1])},"c2":${JSON.stringify(cats[2])}},"prediction":0.5}`;

  it('20 000 versions and 1 M distinct categories leave windows, series and heap within the bound', async () => {
    const metrics = async () => (await fetch(`${daemon.url}/metrics`)).text();
    const versionsIn = (text: string) =>
      new Set([...text.matchAll(/model="m",version="([^"]*)"/g)].map((m) => m[1]));
    const before = seriesCount(await metrics());
    const heapBefore = process.memoryUsage().heapUsed;
    // The monitored version first, so it holds one of the places.
    await post(Array.from({ length: 100 }, (_, i) => line(i, '1', T0 + i, ['a1', 'b1', 'x'])));

    // 20 000 distinct versions, 5 000 per request.
    for (let b = 0; b < 4; b++) {
      const lines = Array.from({ length: 5000 }, (_, k) => {
        const i = 1000 + b * 5000 + k;
        return line(i, `made-up-${i}`, T0 + 1000 + i, ['a1', 'b1', 'x']);
      });
      const r = await post(lines);
      expect(r.accepted + r.rejected).toBe(5000);
    }
    // 1 M distinct category values: 3 categorical features × 333 334 events of version 1.
    let n = 0;
    let sent = 0;
    for (let b = 0; n < 1_000_000; b++) {
      const lines: string[] = [];
      for (let k = 0; k < 5000 && n < 1_000_000; k++) {
        const i = 100_000 + b * 5000 + k;
        n += 3;
        lines.push(line(i, '1', T0 + 30_000 + (i % 20_000), [`u${i}a`, `u${i}b`, `u${i}c`]));
      }
      sent += (await post(lines)).accepted;
    }
    expect(daemon.pipeline.openWindows()).toBeLessThanOrEqual(MAX_ACTIVE * SIZES);
    // Heap: per-event garbage is collected; what stays is window state, bounded by the config.
    expect(process.memoryUsage().heapUsed - heapBefore).toBeLessThan(256 * 1024 * 1024);

    // The monitored version is still evaluated, with every event counted.
    const results = await daemon.pipeline.flush();
    const v1 = results.filter((r) => r.version === '1' && r.sizeLabel === '1m');
    expect(v1.reduce((s, r) => s + r.eventCount, 0)).toBe(100 + sent);
    // Categories never seen fold into "other": unseen ratio near 1 for the flooded features.
    const c0 = v1.at(-1)!.features.find((f) => f.feature === 'c0')!;
    expect(c0.unseenRatio).toBeGreaterThan(0.99);
    let text = await metrics();
    expect(seriesCount(text) - before).toBeLessThanOrEqual(MAX_ACTIVE * SERIES_PER_VERSION);
    expect(versionsIn(text).size).toBeLessThanOrEqual(MAX_ACTIVE);
    const limited = /driftd_events_total\{model="m",result="version_limit"\} (\d+)/.exec(text);
    expect(Number(limited?.[1])).toBeGreaterThan(19_000);

    // Versions come and go: each new one retires a quiet one, whose series go with it.
    for (let round = 0; round < 3; round++) {
      const t = T0 + (round + 2) * 3_600_000;
      await post(
        Array.from({ length: 2 * MAX_ACTIVE }, (_, k) =>
          line(900_000 + round * 100 + k, `round-${round}-${k}`, t + k, ['a1', 'b1', 'x']),
        ),
      );
      await daemon.pipeline.flush();
      text = await metrics();
      expect(seriesCount(text) - before).toBeLessThanOrEqual(MAX_ACTIVE * SERIES_PER_VERSION);
      expect(versionsIn(text).size).toBeLessThanOrEqual(MAX_ACTIVE);
      expect(versionsIn(text)).toContain(`round-${round}-0`);
    }
  }, 300_000);
});
