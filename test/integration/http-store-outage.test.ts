import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildProfileFromRows } from '../../src/baseline/index.js';
import { validateConfig } from '../../src/config/index.js';
import { createDaemon, type Daemon } from '../../src/daemon.js';
import { StoreError } from '../../src/errors.js';
import { createStore } from '../../src/store/index.js';
import type { Store } from '../../src/store/types.js';

const T0 = Date.parse('2026-11-22T10:00:00Z');

describe('HTTP ingestion through a store outage (real chDB; outage simulated by a failing wrapper)', () => {
  let dir: string;
  let daemon: Daemon;
  let failuresLeft = 0;
  let attempts = 0;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'driftd-outage-'));
    const config = validateConfig(
      {
        dataDir: dir,
        server: { port: 0 },
        logLevel: 'silent',
        models: [
          {
            id: 'm',
            task: 'regression',
            features: [{ name: 'x', type: 'numeric' }],
            windows: { sizes: ['1m'], allowedLateness: '0s', idleTimeout: '1h' },
            drift: { minWindowSize: 5 },
          },
        ],
      },
      { env: {} },
    );
    const real = createStore(config.store);
    // Only the raw-event insert misbehaves: a retriable engine error (TIMEOUT_EXCEEDED) N times.
    const store: Store = Object.create(real) as Store;
    store.insertEncodedEvents = async (batches) => {
      attempts++;
      if (failuresLeft > 0) {
        failuresLeft--;
        throw new StoreError('simulated timeout', { clickhouseCode: 159, retriable: true });
      }
      return real.insertEncodedEvents(batches);
    };
    daemon = createDaemon(config, { store });
    await daemon.start();
    const rows = Array.from({ length: 200 }, (_, i) => ({
      features: { x: i % 20 },
      prediction: 1,
    }));
    await daemon.store.saveBaseline(buildProfileFromRows(config.models[0]!, '1', rows).profile);
    await daemon.pipeline.refreshBaselines();
  });
  afterAll(async () => {
    await daemon?.close();
    await rm(dir, { recursive: true, force: true });
  });

  const batch = (from: number, n: number, ts: number) =>
    Array.from({ length: n }, (_, i) => ({
      model: 'm',
      version: '1',
      id: `e-${from + i}`,
      ts: new Date(ts + i).toISOString(),
      features: { x: i % 20 },
      prediction: 1,
    }));

  it('retries a retriable insert failure inside the request: 202, stored once, counted once', async () => {
    failuresLeft = 2;
    attempts = 0;
    const res = await daemon.app.inject({
      method: 'POST',
      url: '/api/v1/events',
      payload: batch(0, 30, T0),
    });
    expect(res.statusCode).toBe(202);
    expect(attempts).toBe(3);
    await daemon.app.inject({
      method: 'POST',
      url: '/api/v1/events',
      payload: batch(100, 1, T0 + 60_000),
    });
    const [w] = await daemon.store.queryDrift({ model: 'm', window: '1m', from: T0, to: T0 + 1 });
    expect(w?.eventCount).toBe(30);
    expect((await daemon.store.getPrediction('e-0'))?.event.id).toBe('e-0');
  });

  it('a non-retriable failure fails the request at once with 503, its code and a generic reason (the detail is logged)', async () => {
    attempts = 0;
    const real = daemon.store;
    const original = real.insertEncodedEvents;
    real.insertEncodedEvents = async () => {
      attempts++;
      throw new StoreError('disk full', { clickhouseCode: 243 });
    };
    try {
      const res = await daemon.app.inject({
        method: 'POST',
        url: '/api/v1/events',
        payload: batch(200, 3, T0 + 120_000),
      });
      expect(res.statusCode).toBe(503);
      expect(res.json()).toMatchObject({ code: 'DRIFTD_ERR_STORE' });
      expect(res.json().message).toMatch(/^the store could not complete the request/);
      expect(res.body).not.toContain('disk full');
      expect(attempts).toBe(1);
    } finally {
      real.insertEncodedEvents = original;
    }
  });
});
