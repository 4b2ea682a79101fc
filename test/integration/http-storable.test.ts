/**
 * Accepted means storable, end to end over HTTP (fastify app, real embedded ClickHouse): items
 * the store could not hold, or would hold altered, are rejected at decode with their reason;
 * the valid items of the same batch are accepted, stored and counted into their window, and
 * nothing rejected moves the watermark or fails the batch.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildProfileFromRows } from '../../src/baseline/index.js';
import { validateConfig } from '../../src/config/index.js';
import { createDaemon, type Daemon } from '../../src/daemon.js';

/** In the past of the daemon's clock (live sources reject times more than an hour ahead). */
const T0 = Date.parse('2026-11-22T10:00:00Z');

describe('HTTP ingestion: accepted means storable (real chDB)', () => {
  let dir: string;
  let daemon: Daemon;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'driftd-storable-'));
    const config = validateConfig(
      {
        dataDir: dir,
        server: { port: 0 },
        logLevel: 'silent',
        models: [
          {
            id: 'm',
            task: 'regression',
            features: [
              { name: 'x', type: 'numeric' },
              { name: 'c', type: 'categorical' },
            ],
            windows: { sizes: ['1m'], allowedLateness: '0s', idleTimeout: '1h' },
            drift: { minWindowSize: 5 },
          },
        ],
      },
      { env: {} },
    );
    daemon = createDaemon(config);
    await daemon.start();
    const rows = Array.from({ length: 200 }, (_, i) => ({
      features: { x: i % 20, c: i % 2 ? 'a' : 'b' },
      prediction: 1,
    }));
    await daemon.store.saveBaseline(buildProfileFromRows(config.models[0]!, '1', rows).profile);
    await daemon.pipeline.refreshBaselines();
  });
  afterAll(async () => {
    await daemon?.close();
    await rm(dir, { recursive: true, force: true });
  });

  const event = (i: number, over: Record<string, unknown> = {}) => ({
    model: 'm',
    version: '1',
    id: `e-${i}`,
    ts: new Date(T0 + i).toISOString(),
    features: { x: i % 20, c: 'a' },
    prediction: 1,
    ...over,
  });
  const post = (url: string, payload: string | object, ndjson = typeof payload === 'string') =>
    daemon.app.inject({
      method: 'POST',
      url,
      payload,
      headers: { 'content-type': ndjson ? 'application/x-ndjson' : 'application/json' },
    });

  it('rejects each unstorable event with its reason and stores and counts the rest', async () => {
    const valid = Array.from({ length: 10 }, (_, i) => JSON.stringify(event(i)));
    const bad: Array<[string, string]> = [
      [JSON.stringify(event(100, { ts: '1899-12-31T23:59:59Z' })), 'ts_out_of_range'],
      [JSON.stringify(event(101, { ts: '2299-12-31T23:00:00Z' })), 'ts_in_future'],
      [JSON.stringify(event(102, { ts: Math.floor(T0 / 1000) })), 'ts_epoch_seconds'],
      [JSON.stringify(event(103)).replace('"e-103"', '"e-\\ud800"'), 'lone_surrogate'],
      [JSON.stringify(event(104)).replace('"x":', '"x":0,"x":'), 'duplicate_key'],
      [JSON.stringify(event(105, { features: { x: 1, c: 'c'.repeat(300) } })), 'too_long'],
    ];
    // Bad items between the valid ones: each is judged on its own.
    const lines = [...valid.slice(0, 5), ...bad.map(([line]) => line), ...valid.slice(5)];
    const res = await post('/api/v1/events', lines.join('\n'));
    expect(res.statusCode).toBe(202);
    const report = res.json() as {
      accepted: number;
      rejected: number;
      errors: Array<{ index: number; reason: string; message: string }>;
    };
    expect(report.accepted).toBe(10);
    expect(report.rejected).toBe(6);
    expect(report.errors.map((e) => [e.index, e.reason])).toEqual(
      bad.map(([, reason], k) => [5 + k, reason]),
    );
    // The same rules for a JSON array body (items parsed whole, no text at hand).
    const array = await post('/api/v1/events', [
      event(200, { ts: T0 + 200 }),
      event(201, { ts: '1899-12-31T23:59:59Z' }),
      event(202, { id: 'e-\ud800' }),
      event(203, { ts: Math.floor(T0 / 1000) }),
    ]);
    expect(array.statusCode).toBe(202);
    expect(array.json()).toMatchObject({
      accepted: 1,
      rejected: 3,
      errors: [
        { index: 1, reason: 'ts_out_of_range' },
        { index: 2, reason: 'lone_surrogate' },
        { index: 3, reason: 'ts_epoch_seconds' },
      ],
    });
    // A later event closes the window: it holds exactly the 11 accepted events, none late
    // (the far-future event moved no watermark), and each is stored under the id sent.
    await post('/api/v1/events', [event(60_000)]);
    const [w] = await daemon.store.queryDrift({ model: 'm', window: '1m', from: T0, to: T0 + 1 });
    expect(w?.eventCount).toBe(11);
    expect(w?.lateCount).toBe(0);
    expect((await daemon.store.getPrediction('e-9'))?.event.id).toBe('e-9');
    expect(await daemon.store.getPrediction('e-104')).toBeNull();
  });

  it('rejects a label with a lone surrogate or a repeated key instead of failing its batch', async () => {
    const res = await post('/api/v1/labels', [
      { model: 'm', id: 'e-0', label: 1 },
      { model: 'm', id: '\ud800', label: 1 },
      { model: 'm', id: 'e-1', label: 1, ts: '1899-12-31T23:59:59Z' },
    ]);
    expect(res.statusCode).toBe(202);
    expect(res.json()).toMatchObject({
      accepted: 1,
      rejected: 2,
      errors: [
        { index: 1, reason: 'lone_surrogate' },
        { index: 2, reason: 'ts_out_of_range' },
      ],
    });
    const ndjson = await post(
      '/api/v1/labels',
      '{"model":"m","id":"e-2","label":1}\n{"model":"m","id":"e-3","id":"e-4","label":1}',
    );
    expect(ndjson.statusCode).toBe(202);
    expect(ndjson.json()).toMatchObject({
      accepted: 1,
      rejected: 1,
      errors: [{ index: 1, reason: 'duplicate_key' }],
    });
    expect((await daemon.store.getPrediction('e-0'))?.label?.label).toBe(1);
  });
});
