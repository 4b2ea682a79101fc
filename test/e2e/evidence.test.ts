/**
 * Results are evidence: a window's result and every performance revision (labels arriving in
 * two batches) stay readable through GET /api/v1/models/:model/windows/history, with the
 * driftd version and the config hash that produced them. A real daemon on the embedded store
 * (real chDB, real HTTP).
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildProfileFromRows } from '../../src/baseline/index.js';
import { modelConfigHash } from '../../src/config/hash.js';
import { validateConfig } from '../../src/config/index.js';
import type { DriftdConfig, ModelConfig } from '../../src/config/types.js';
import { createDaemon, type Daemon } from '../../src/daemon.js';
import { createStore } from '../../src/store/index.js';
import { VERSION } from '../../src/version.js';

/** Deterministic uniforms (32-bit LCG). */
function uniforms(seed: number) {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return (s + 0.5) / 4294967296;
  };
}

const T0 = Date.parse('2026-11-22T10:00:00Z');
const MINUTE = 60_000;

function event(i: number, ts: number, u: () => number) {
  return {
    model: 'credit-risk',
    version: '3',
    id: `p-${i}`,
    ts: new Date(ts).toISOString(),
    features: { income: 40_000 + 20_000 * u() },
    prediction: u(),
  };
}

interface Revision {
  revision: number;
  revisionReason: string | null;
  writtenAt: string;
  driftdVersion: string | null;
  configHash: string | null;
}

describe('window history on a real daemon (embedded store)', () => {
  let dir: string;
  let daemon: Daemon;
  let url: string;
  let model: ModelConfig;
  let config: DriftdConfig;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'driftd-evidence-'));
    config = validateConfig(
      {
        dataDir: dir,
        server: { host: '127.0.0.1', port: 0 },
        logLevel: 'silent',
        models: [
          {
            id: 'credit-risk',
            task: 'binary-classification',
            features: [{ name: 'income', type: 'numeric' }],
            windows: { sizes: ['1m'], allowedLateness: '0s', idleTimeout: '1h' },
            drift: { minWindowSize: 50 },
          },
        ],
      },
      { env: {} },
    );
    model = config.models[0]!;
    daemon = createDaemon(config, { tickMs: 100 });
    await daemon.start();
    url = daemon.url!;
    const u = uniforms(1);
    const rows = Array.from({ length: 2000 }, (_, i) => event(i, T0 - 3_600_000, u));
    const { profile } = buildProfileFromRows(model, '3', rows);
    await daemon.store.saveBaseline(profile);
    await daemon.pipeline.refreshBaselines();
  });

  afterAll(async () => {
    await daemon?.close();
    await rm(dir, { recursive: true, force: true });
  });

  const post = (path: string, body: unknown) =>
    fetch(`${url}${path}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
  const history = (query: string) =>
    fetch(`${url}/api/v1/models/credit-risk/windows/history?${query}`);

  async function until<T>(read: () => Promise<T>, done: (v: T) => boolean): Promise<T> {
    let v = await read();
    for (let i = 0; i < 100 && !done(v); i++) {
      await new Promise((r) => setTimeout(r, 100));
      v = await read();
    }
    return v;
  }

  it('late labels in two batches: both performance revisions, oldest first, with version and config hash', async () => {
    const u = uniforms(2);
    // Window 10:00–10:01 closes when the event at 10:01 moves the watermark past it.
    const events = [
      ...Array.from({ length: 300 }, (_, i) => event(10_000 + i, T0 + (i * MINUTE) / 300, u)),
      event(20_000, T0 + MINUTE + 1, u),
    ];
    expect((await post('/api/v1/events', events)).status).toBe(202);
    const label = (i: number) => ({ model: 'credit-risk', id: `p-${10_000 + i}`, label: i % 2 });
    const start = new Date(T0).toISOString();
    type Body = { results: Revision[]; performance: Array<Revision & { labeled: number }> };
    const read = async () => {
      const res = await history(`window=1m&start=${start}`);
      return res.status === 200 ? ((await res.json()) as Body) : null;
    };
    await until(read, (b) => (b?.results.length ?? 0) > 0);

    expect(
      (
        await post(
          '/api/v1/labels',
          Array.from({ length: 100 }, (_, i) => label(i)),
        )
      ).status,
    ).toBe(202);
    await until(read, (b) => (b?.performance.length ?? 0) >= 1);
    expect(
      (
        await post(
          '/api/v1/labels',
          Array.from({ length: 100 }, (_, i) => label(100 + i)),
        )
      ).status,
    ).toBe(202);
    const body = (await until(read, (b) => (b?.performance.length ?? 0) >= 2))!;

    const lineage = { driftdVersion: VERSION, configHash: modelConfigHash(model) };
    expect(lineage.configHash).toMatch(/^sha256:[0-9a-f]{64}$/);
    expect(body.results).toHaveLength(1);
    expect(body.results[0]).toMatchObject({
      revision: 1,
      revisionReason: 'close',
      eventCount: 300,
      ...lineage,
    });
    expect(body.performance.map((p) => [p.revision, p.revisionReason, p.labeled])).toEqual([
      [1, 'late_labels', 100],
      [2, 'late_labels', 200],
    ]);
    for (const p of body.performance) expect(p).toMatchObject(lineage);
    expect(Date.parse(body.performance[0]!.writtenAt)).toBeLessThan(
      Date.parse(body.performance[1]!.writtenAt),
    );

    // The readers see the latest revision only, with its lineage.
    const perf = (await (
      await fetch(`${url}/api/v1/models/credit-risk/performance?window=1m`)
    ).json()) as { windows: Array<{ labeled: number; configHash: string }> };
    expect(perf.windows.map((w) => [w.labeled, w.configHash])).toEqual([[200, lineage.configHash]]);
  });

  it('answers bad history queries with a 4xx naming the problem', async () => {
    const cases: Array<[string, number, RegExp]> = [
      ['window=1m', 400, /start/],
      ['window=7m&start=2026-11-22T10:00:00Z', 400, /window "7m" is not configured/],
      ['start=yesterday', 400, /"start"/],
      ['start=99999999999999999999', 400, /"start" must be a time/],
      ['start=2026-11-22T10:00:30Z', 404, /no result is stored.*start must be a window's start/],
      ['start=2026-11-22T10:00:00Z&version=9', 404, /version "9"/],
      ['start=2026-11-22T10:00:00Z&extra=1', 400, /additional properties/],
    ];
    for (const [query, status, message] of cases) {
      const res = await history(query);
      const body = (await res.json()) as { message: string };
      expect([query, res.status]).toEqual([query, status]);
      expect(body.message).toMatch(message);
    }
    expect((await fetch(`${url}/api/v1/models/nope/windows/history?start=0`)).status).toBe(404);
  });

  it('a replay of the window (driftd replay) is a new revision, reason replay; the earlier ones stay', async () => {
    await daemon.close();
    // What `driftd replay` runs: no port, no HTTP checkpoint, every window closed at the end.
    const replay = createDaemon(config, {
      listen: false,
      flushOnClose: true,
      revisionReason: 'replay',
      tickMs: 100,
    });
    await replay.start();
    const u = uniforms(3);
    const again = Array.from({ length: 250 }, (_, i) =>
      event(30_000 + i, T0 + (i * MINUTE) / 250, u),
    );
    const res = await replay.app.inject({
      method: 'POST',
      url: '/api/v1/events',
      headers: { 'content-type': 'application/json' },
      payload: JSON.stringify(again),
    });
    expect(res.statusCode).toBe(202);
    await replay.close();

    const store = createStore(config.store);
    await store.migrate();
    try {
      const history = await store.windowHistory({ model: 'credit-risk', window: '1m', start: T0 });
      expect(history.results.map((r) => [r.revisionReason, r.eventCount])).toEqual([
        ['close', 300],
        ['replay', 250],
      ]);
      // The readers see the replay's result.
      const [latest] = await store.queryDrift({ model: 'credit-risk', from: T0, to: T0 + 1 });
      expect(latest).toMatchObject({ eventCount: 250, revisionReason: 'replay' });
    } finally {
      await store.close();
    }
  });
});
