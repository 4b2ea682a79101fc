/**
 * Window references and time-zone windows through a real daemon (embedded ClickHouse, HTTP
 * ingestion through inject()): a New York model with daily windows and a rolling reference of
 * the 2 days before. Its windows run from local midnight to local midnight (events at 23:00
 * local stay in their day), results and the API name the reference, and a restart (the
 * manager snapshot in the store's checkpoint) resumes with the days closed before it.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildProfileFromRows } from '../../src/baseline/index.js';
import { validateConfig } from '../../src/config/index.js';
import type { DriftdConfig } from '../../src/config/types.js';
import { createDaemon, type Daemon } from '../../src/daemon.js';
import { createStore } from '../../src/store/index.js';
import type { WindowResult } from '../../src/types.js';
import { mulberry32 } from '../helpers/random.js';

const HOUR = 3_600_000;
/** 2026-11-21 00:00 in New York (EST, −05:00). */
const DAY0 = Date.parse('2026-11-21T05:00:00Z');
const PER_DAY = 300;

function normals(seed: number) {
  const r = mulberry32(seed);
  return () => Math.sqrt(-2 * Math.log(1 - r())) * Math.cos(2 * Math.PI * r());
}

/** Events spread over local day `d` (from 00:30 to 23:30 local), income shifted by `shift` σ. */
function dayEvents(d: number, n: number, shift = 0) {
  const z = normals(100 + d);
  return Array.from({ length: n }, (_, i) => ({
    model: 'ny',
    version: '1',
    id: `d${d}-${i}`,
    ts: new Date(DAY0 + d * 24 * HOUR + HOUR / 2 + Math.floor((i * 23 * HOUR) / n)).toISOString(),
    features: { income: 50_000 + 10_000 * (z() + shift) },
    prediction: 0.5,
  }));
}

describe('daily windows in America/New_York with a rolling reference, across a restart', () => {
  let dir: string;
  let config: DriftdConfig;
  let daemon: Daemon;

  async function start(): Promise<Daemon> {
    const d = createDaemon(config, {
      store: createStore(config.store),
      listen: false,
      httpCheckpointMs: 100,
      tickMs: 50,
    });
    await d.start();
    return d;
  }

  const send = async (events: unknown[]) => {
    const res = await daemon.app.inject({
      method: 'POST',
      url: '/api/v1/events',
      payload: events as object[],
    });
    expect(res.statusCode).toBe(202);
  };

  async function results(n: number): Promise<WindowResult[]> {
    const deadline = Date.now() + 60_000;
    for (;;) {
      const found = (
        await daemon.store.queryDrift({
          model: 'ny',
          from: DAY0 - 24 * HOUR,
          to: DAY0 + 30 * 24 * HOUR,
        })
      ).filter((r) => !r.provisional);
      if (found.length >= n) return found;
      if (Date.now() > deadline) throw new Error(`${found.length} of ${n} windows closed`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'driftd-reference-'));
    config = validateConfig(
      {
        dataDir: dir,
        server: { host: '127.0.0.1', port: 0 },
        logLevel: 'silent',
        models: [
          {
            id: 'ny',
            task: 'regression',
            timeZone: 'America/New_York',
            reference: { kind: 'rolling', windows: 2 },
            features: [{ name: 'income', type: 'numeric' }],
            windows: { sizes: ['1d'], allowedLateness: '0s', idleTimeout: '1h' },
            drift: { minWindowSize: 100 },
          },
        ],
      },
      { env: {} },
    );
    const store = createStore(config.store);
    await store.migrate();
    const z = normals(1);
    const rows = Array.from({ length: 4000 }, () => ({
      features: { income: 50_000 + 10_000 * z() },
      prediction: 0.5,
    }));
    await store.saveBaseline(buildProfileFromRows(config.models[0]!, '1', rows).profile);
    await store.close();
    daemon = await start();
  }, 60_000);

  afterAll(async () => {
    await daemon?.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('closes local days; the first has no reference, the next names the days it summed', async () => {
    // Day 0 and day 1, plus one event at 00:00:01 of day 2 that closes day 1.
    await send([...dayEvents(0, PER_DAY), ...dayEvents(1, PER_DAY)]);
    // 23:00 local on day 1 is 04:00Z on the next UTC day: still day 1.
    await send([
      {
        ...dayEvents(1, 1)[0]!,
        id: 'late-evening',
        ts: new Date(DAY0 + 24 * HOUR + 23 * HOUR).toISOString(),
      },
    ]);
    await send([
      {
        ...dayEvents(2, 1)[0]!,
        id: 'day2-first',
        ts: new Date(DAY0 + 48 * HOUR + 1000).toISOString(),
      },
    ]);
    const [d0, d1] = await results(2);
    expect([d0!.start, d0!.end, d1!.start, d1!.end]).toEqual([
      DAY0,
      DAY0 + 24 * HOUR,
      DAY0 + 24 * HOUR,
      DAY0 + 48 * HOUR,
    ]);
    expect(d1!.eventCount).toBe(PER_DAY + 1);
    expect(d0!.reference).toMatchObject({ kind: 'rolling', windows: 2, found: 0, eventCount: 0 });
    expect(d0!.features[0]).toMatchObject({
      insufficient: true,
      insufficientReason: 'reference',
      drifted: false,
    });
    expect(d1!.reference).toMatchObject({
      found: 1,
      start: DAY0,
      end: DAY0 + 24 * HOUR,
      eventCount: PER_DAY,
    });
    expect(d1!.reference!.note).toMatch(/1 of 2 windows found/);
    expect(d1!.features[0]!.insufficient).toBe(false);

    // The API shows instants (UTC ISO) and the reference.
    const res = await daemon.app.inject({
      method: 'GET',
      url: `/api/v1/models/ny/drift?from=${new Date(DAY0).toISOString()}&window=1d`,
    });
    expect(res.statusCode).toBe(200);
    const body = res.json() as { windows: Array<Record<string, unknown>> };
    expect(body.windows[1]).toMatchObject({
      start: '2026-11-22T05:00:00.000Z',
      end: '2026-11-23T05:00:00.000Z',
      reference: {
        kind: 'rolling',
        name: 'rolling:2',
        found: 1,
        start: '2026-11-21T05:00:00.000Z',
        end: '2026-11-22T05:00:00.000Z',
        eventCount: PER_DAY,
      },
    });
    const summary = await daemon.app.inject({ method: 'GET', url: '/api/v1/models/ny/summary' });
    expect(
      (summary.json() as { latest: { reference: { name: string } } }).latest.reference.name,
    ).toBe('rolling:2');
  }, 120_000);

  it('a restart resumes with the closed days: the next day is compared with the two before', async () => {
    // Day 2's events, then a restart before day 2 closes.
    await send(dayEvents(2, PER_DAY));
    await daemon.close();
    daemon = await start();
    // Day 3 jumps by 1.5 σ; day 4's first event closes days 2 and 3.
    await send(dayEvents(3, PER_DAY, 1.5));
    await send([
      {
        ...dayEvents(4, 1)[0]!,
        id: 'day4-first',
        ts: new Date(DAY0 + 96 * HOUR + 1000).toISOString(),
      },
    ]);
    const all = await results(4);
    const byStart = new Map(all.map((r) => [r.start, r]));
    const d2 = byStart.get(DAY0 + 48 * HOUR)!;
    const d3 = byStart.get(DAY0 + 72 * HOUR)!;
    expect(d2.eventCount).toBe(PER_DAY + 1);
    expect(d2.reference).toMatchObject({
      found: 2,
      start: DAY0,
      end: DAY0 + 48 * HOUR,
      eventCount: 2 * PER_DAY + 1,
      note: null,
    });
    expect(d2.features[0]!.drifted).toBe(false);
    expect(d3.reference).toMatchObject({
      found: 2,
      start: DAY0 + 24 * HOUR,
      end: DAY0 + 72 * HOUR,
      eventCount: 2 * PER_DAY + 2,
    });
    expect(d3.features[0]!.drifted).toBe(true);
  }, 120_000);
});
