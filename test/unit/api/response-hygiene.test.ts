import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildProfileFromRows } from '../../../src/baseline/index.js';
import { validateConfig } from '../../../src/config/index.js';
import { createDaemon, type Daemon } from '../../../src/daemon.js';
import { StoreError } from '../../../src/errors.js';
import type { Store } from '../../../src/store/types.js';

/**
 * Responses never reveal hosts, paths or store exception text. Every route is driven through
 * its answers (success, unknown model, bad input, no or a wrong token, store failing with an
 * exception that names its host, port, data directory and ClickHouse code) and every body is
 * searched. Real chDB; the store failures are simulated by a wrapper around the real store.
 */

const TOKEN = 'hygiene-0123456789abcdef';
const STORE_HOST = 'ch-secret-7.bank.internal';
const STORE_FAILURE = `ClickHouse at http://${STORE_HOST}:8123 failed: Code: 243. DB::Exception: Cannot reserve 1.00 MiB, not enough space on /var/lib/clickhouse/store/abc (NOT_ENOUGH_SPACE)`;
const TRAINING_FILE = '/work/data/credit/secret-dir/training-2026.csv';
const REPLAY_FILE = '/work/data/credit/secret-dir/replay-2026.ndjson';
const T = Date.parse('2026-11-22T10:00:00Z');

describe('response hygiene: no host, path or store exception text in any answer (real chDB)', () => {
  let dir: string;
  let daemon: Daemon;
  let failing: 'no' | 'store' | 'unavailable' = 'no';
  const bodies: Array<{ what: string; status: number; body: string }> = [];

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'driftd-hygiene-'));
    const config = validateConfig(
      {
        dataDir: dir,
        server: { host: '127.0.0.1', port: 0 },
        logLevel: 'silent',
        models: [
          { id: 'm', task: 'regression', features: [{ name: 'x', type: 'numeric' }] },
          {
            id: 'other-secret-model',
            task: 'regression',
            features: [{ name: 'y', type: 'numeric' }],
          },
        ],
      },
      { env: { DRIFTD_API_TOKENS: TOKEN } },
    );
    const real = (await import('../../../src/store/index.js')).createStore(config.store);
    // Every read and write fails while `failing` is set, with an error carrying what must not leak.
    const store = new Proxy(real, {
      get(target, key, receiver) {
        const value = Reflect.get(target, key, receiver) as unknown;
        if (typeof value !== 'function' || key === 'close' || key === 'migrate') return value;
        return (...args: unknown[]) => {
          if (failing !== 'no') {
            throw new StoreError(STORE_FAILURE, {
              clickhouseCode: 243,
              unavailable: failing === 'unavailable',
            });
          }
          return (value as (...a: unknown[]) => unknown).apply(target, args);
        };
      },
    }) as Store;
    daemon = createDaemon(config, { store, listen: false, tickMs: 100 });
    await daemon.start();
    const rows = Array.from({ length: 200 }, (_, i) => ({
      features: { x: i % 50 },
      prediction: i,
    }));
    await daemon.store.saveBaseline(
      buildProfileFromRows(config.models[0]!, '1', rows, { source: TRAINING_FILE }).profile,
    );
    await daemon.pipeline.refreshBaselines();
    // A replayed event remembers its file: the audit lookup shows the name, not the directory.
    await daemon.store.insertEvents([
      {
        model: 'm',
        version: '1',
        id: 'replayed-1',
        ts: T - 3_600_000,
        features: { x: 1 },
        prediction: 1,
        late: false,
        source: { kind: 'replay', file: REPLAY_FILE, line: 7 },
        ingestedAt: T,
      },
    ]);
  });
  afterAll(async () => {
    failing = 'no';
    await daemon?.close();
    await rm(dir, { recursive: true, force: true });
  });

  async function drive(
    what: string,
    method: string,
    url: string,
    opts: { payload?: string; auth?: string | null } = {},
  ) {
    const res = await daemon.app.inject({
      method: method as 'GET',
      url,
      headers: {
        ...(opts.auth === null ? {} : { authorization: opts.auth ?? `Bearer ${TOKEN}` }),
        ...(opts.payload === undefined ? {} : { 'content-type': 'application/json' }),
      },
      ...(opts.payload === undefined ? {} : { payload: opts.payload }),
    });
    bodies.push({ what: `${what}: ${method} ${url}`, status: res.statusCode, body: res.body });
    return res;
  }

  const event = (i: number, ts: number) =>
    JSON.stringify({
      model: 'm',
      version: '1',
      id: `h-${i}`,
      ts: new Date(ts).toISOString(),
      features: { x: i % 50 },
      prediction: i,
    });

  /** Every route, with good and bad input. */
  async function walk(phase: string) {
    const model = 'm';
    for (const [method, url, payload] of [
      ['GET', '/api/v1/models'],
      ['GET', `/api/v1/models/${model}/drift`],
      ['GET', `/api/v1/models/${model}/drift?window=7m`],
      ['GET', `/api/v1/models/${model}/drift?from=zzz`],
      ['GET', `/api/v1/models/${model}/drift?feature=nope`],
      ['GET', `/api/v1/models/${model}/summary`],
      ['GET', `/api/v1/models/${model}/features/x/histogram`],
      ['GET', `/api/v1/models/${model}/features/x/histogram?start=${T}`],
      ['GET', `/api/v1/models/${model}/features/nope/histogram`],
      ['GET', `/api/v1/models/${model}/performance`],
      ['GET', '/api/v1/predictions/h-1'],
      ['GET', '/api/v1/predictions/does-not-exist?model=m'],
      ['GET', '/api/v1/predictions?id=h-2'],
      ['GET', '/api/v1/predictions/replayed-1'],
      ['POST', `/api/v1/models/${model}/recompute`, JSON.stringify({ start: T })],
      ['POST', `/api/v1/models/${model}/recompute`, JSON.stringify({ start: 'yesterday' })],
      ['POST', '/api/v1/events', `[${event(1, T)},${event(2, T + 1000)},{"model":"nope"}]`],
      ['POST', '/api/v1/events', `[${event(3, T + 3 * 3_600_000)}]`],
      ['POST', '/api/v1/events', '[{"model":'],
      ['POST', '/api/v1/labels', JSON.stringify([{ model: 'm', id: 'h-1', label: 1 }])],
      ['POST', '/api/v1/labels', '[{"id": 1}]'],
      ['GET', '/api/v1/nope'],
      ['GET', '/healthz'],
      ['GET', '/readyz'],
      ['GET', '/metrics'],
      ['GET', '/openapi.json'],
    ] as const) {
      await drive(phase, method, url, payload === undefined ? {} : { payload });
    }
    // Unknown models: the 404 names the one asked for, never the configured ones.
    for (const url of [
      '/api/v1/models/nope/drift',
      '/api/v1/models/nope/summary',
      '/api/v1/models/nope/performance',
      '/api/v1/models/nope/features/x/histogram',
    ]) {
      const res = await drive(phase, 'GET', url);
      expect(res.statusCode, url).toBe(404);
    }
    const recompute = await drive(phase, 'POST', '/api/v1/models/nope/recompute', {
      payload: '{"start":0}',
    });
    expect(recompute.statusCode).toBe(404);
    // No token, a wrong one.
    await drive(phase, 'GET', '/api/v1/models', { auth: null });
    await drive(phase, 'GET', '/api/v1/models', { auth: 'Bearer wrong-0123456789abcdef' });
  }

  it('drives every route healthy, with the store failing, and with the store unreachable', async () => {
    await walk('healthy');
    for (let i = 0; i < 50 && (await daemon.store.latestWindowResult('m')) === null; i++) {
      await new Promise((r) => setTimeout(r, 100));
    }
    await walk('with windows');
    const models = bodies.find((b) => b.what === 'with windows: GET /api/v1/models')!;
    // The baseline's training file is shown by name, its directory is not.
    expect(models.body).toContain('"source":"training-2026.csv"');
    const replayed = bodies.find((b) => b.what === 'healthy: GET /api/v1/predictions/replayed-1')!;
    expect(JSON.parse(replayed.body).source).toEqual({
      kind: 'replay',
      file: 'replay-2026.ndjson',
      line: 7,
    });
    failing = 'store';
    await walk('store failing');
    failing = 'unavailable';
    await walk('store unreachable');
    failing = 'no';
    const statuses = new Set(bodies.map((b) => b.status));
    // The walk covered successes, client errors, auth refusals and store failures.
    for (const s of [200, 202, 400, 401, 404, 503]) expect(statuses, String(s)).toContain(s);
    expect(
      bodies.filter((b) => b.what.startsWith('store') && b.status === 503).length,
    ).toBeGreaterThan(10);
  });

  it('no body carries the store host or port, a filesystem path, or store exception text', () => {
    expect(bodies.length).toBeGreaterThan(100);
    const forbidden = [
      STORE_HOST,
      ':8123',
      'DB::Exception',
      'Code: ',
      'NOT_ENOUGH_SPACE',
      '/var/lib',
      '/work/',
      '/tmp/',
      tmpdir(),
      dir,
      TRAINING_FILE,
      REPLAY_FILE,
      'secret-dir',
      '.ts:',
      '    at ',
    ];
    const leaks = bodies.flatMap((b) =>
      forbidden
        .filter((f) => b.body.includes(f))
        .map((f) => `${b.what} (${b.status}) contains ${JSON.stringify(f)}`),
    );
    expect(leaks).toEqual([]);
  });

  it('404s never list the configured models', () => {
    const notFound = bodies.filter((b) => b.status === 404);
    expect(notFound.length).toBeGreaterThan(10);
    for (const b of notFound) expect(b.body, b.what).not.toContain('other-secret-model');
  });
});
