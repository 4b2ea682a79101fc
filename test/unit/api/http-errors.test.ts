import { mkdtemp, rm } from 'node:fs/promises';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildProfileFromRows } from '../../../src/baseline/index.js';
import { validateConfig } from '../../../src/config/index.js';
import { createDaemon, type Daemon } from '../../../src/daemon.js';
import { StoreError } from '../../../src/errors.js';
import { MAX_ID_LENGTH } from '../../../src/limits.js';
import { createStore } from '../../../src/store/index.js';
import type { Store } from '../../../src/store/types.js';

/**
 * Whatever a client sends, the API answers 4xx with a code and a reason, never 5xx; a store
 * failure answers 503 with a generic reason, never the store's host or exception text. One
 * daemon on the real embedded store, listening on 127.0.0.1 for the cases that need a socket.
 */

const event = (id: string) => ({
  model: 'm',
  version: '1',
  id,
  ts: new Date().toISOString(),
  features: { x: 1 },
  prediction: 1,
});

interface ErrorBody {
  statusCode: number;
  code: string;
  error: string;
  message: string;
}

/** One raw HTTP exchange over a socket: what was answered (status line and body) and when the server closed. */
function rawExchange(
  port: number,
  chunks: Array<string | { waitMs: number }>,
): Promise<{ response: string; closedAfterMs: number }> {
  return new Promise((resolve, reject) => {
    const started = Date.now();
    const socket = connect(port, '127.0.0.1');
    let response = '';
    let stopped = false;
    socket.setEncoding('utf8');
    socket.on('data', (d: string) => {
      response += d;
    });
    socket.on('error', () => {});
    socket.on('close', () => {
      stopped = true;
      resolve({ response, closedAfterMs: Date.now() - started });
    });
    socket.on('connect', async () => {
      for (const c of chunks) {
        if (stopped) return;
        if (typeof c === 'string') socket.write(c);
        else await new Promise((r) => setTimeout(r, c.waitMs));
      }
    });
    setTimeout(() => {
      socket.destroy();
      reject(new Error(`socket still open after 15 s; answered so far: ${response}`));
    }, 15_000).unref();
  });
}

describe('HTTP answers that name the problem (real chDB; store failures simulated by a wrapper)', () => {
  let dir: string;
  let daemon: Daemon;
  let port: number;
  let failInsert: Error | undefined;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'driftd-http-errors-'));
    const config = validateConfig(
      {
        dataDir: dir,
        server: {
          host: '127.0.0.1',
          port: 0,
          requestTimeoutMs: 1000,
          headersTimeoutMs: 600,
          keepAliveTimeoutMs: 500,
          bodyLimitBytes: 1024 * 1024,
        },
        logLevel: 'silent',
        models: [
          {
            id: 'm',
            task: 'regression',
            features: [{ name: 'x', type: 'numeric' }],
            comparison: { champion: '1' },
          },
        ],
      },
      { env: {} },
    );
    const real = createStore(config.store);
    const store: Store = Object.create(real) as Store;
    for (const method of ['insertEncodedEvents', 'insertLabels'] as const) {
      store[method] = (async (...args: unknown[]) => {
        if (failInsert) throw failInsert;
        return (real[method] as (...a: unknown[]) => Promise<void>)(...args);
      }) as never;
    }
    daemon = createDaemon(config, { store });
    await daemon.start();
    port = Number(new URL(daemon.url!).port);
  });
  afterAll(async () => {
    await daemon?.close();
    await rm(dir, { recursive: true, force: true });
  });

  const post = (url: string, payload: string, contentType?: string) =>
    daemon.app.inject({
      method: 'POST',
      url,
      payload,
      headers: contentType ? { 'content-type': contentType } : {},
    });

  const json = 'application/json';
  const bodyErrors: Array<[string, string, string | undefined, number, string, RegExp]> = [
    ['invalid JSON', '[{"model":', json, 400, 'DRIFTD_ERR_INVALID_JSON', /not valid JSON/],
    ['a NaN literal', '[NaN]', json, 400, 'DRIFTD_ERR_INVALID_JSON', /NaN .* not JSON/],
    ['an empty body', '', json, 400, 'DRIFTD_ERR_EMPTY_BODY', /empty/],
    ['no body and no Content-Type', '', undefined, 400, 'DRIFTD_ERR_EMPTY_BODY', /empty/],
    ['a bare number', '42', json, 400, 'DRIFTD_ERR_BAD_BODY', /got number/],
    ['null', 'null', json, 400, 'DRIFTD_ERR_BAD_BODY', /got null/],
    ['text/plain', '[]', 'text/plain', 415, 'DRIFTD_ERR_UNSUPPORTED_MEDIA_TYPE', /Content-Type/],
    [
      'a __proto__ key',
      '[{"model":"m","__proto__":{"admin":true}}]',
      json,
      400,
      'DRIFTD_ERR_FORBIDDEN_KEY',
      /\$\[0\]\.__proto__/,
    ],
    [
      'an escaped __proto__ key',
      '{"features":{"\\u005f_proto__":1}}',
      json,
      400,
      'DRIFTD_ERR_FORBIDDEN_KEY',
      /\$\.features\.__proto__/,
    ],
    [
      'constructor.prototype',
      '[{"constructor":{"prototype":{"x":1}}}]',
      json,
      400,
      'DRIFTD_ERR_FORBIDDEN_KEY',
      /constructor\.prototype/,
    ],
    [
      'more than 100 000 items',
      `[${'0,'.repeat(100_000)}0]`,
      json,
      413,
      'DRIFTD_ERR_TOO_MANY_ITEMS',
      /100001 items; at most 100000/,
    ],
    [
      'a body over server.bodyLimitBytes',
      `["${'x'.repeat(1100 * 1024)}"]`,
      json,
      413,
      'DRIFTD_ERR_BODY_TOO_LARGE',
      /1048576 bytes/,
    ],
  ];

  for (const route of ['/api/v1/events', '/api/v1/labels']) {
    it.each(bodyErrors)(
      `${route}: %s answers its own status, code and reason`,
      async (_name, payload, type, status, code, reason) => {
        const res = await post(route, payload, type);
        expect(res.statusCode).toBe(status);
        const body = res.json() as ErrorBody;
        expect(body).toMatchObject({ statusCode: status, code });
        expect(body.message).toMatch(reason);
      },
    );
  }

  it('a single JSON object is one event, as JSON and as one NDJSON line', async () => {
    const one = await post('/api/v1/events', JSON.stringify(event('single-1')), json);
    expect(one.statusCode).toBe(202);
    expect(one.json()).toEqual({ accepted: 1, rejected: 0, errors: [] });
    const line = await post(
      '/api/v1/events',
      JSON.stringify(event('single-2')),
      'application/x-ndjson',
    );
    expect(line.json()).toEqual({ accepted: 1, rejected: 0, errors: [] });
    const label = await post(
      '/api/v1/labels',
      JSON.stringify({ model: 'm', id: 'single-1', ts: new Date().toISOString(), label: 1 }),
      json,
    );
    expect(label.json()).toEqual({ accepted: 1, rejected: 0, errors: [] });
    // A byte-order mark before the JSON is allowed, as fastify's own parser allowed it.
    const bom = await post('/api/v1/events', `\ufeff${JSON.stringify([event('single-3')])}`, json);
    expect(bom.json()).toEqual({ accepted: 1, rejected: 0, errors: [] });
    // An invalid single object is reported like an item of a batch: index 0.
    const bad = await post('/api/v1/events', '{"model":"m"}', json);
    expect(bad.statusCode).toBe(400);
    expect(bad.json()).toMatchObject({ accepted: 0, rejected: 1, errors: [{ index: 0 }] });
  });

  it('a prediction id of any accepted length can be looked up (not 414)', async () => {
    // MAX_ID_LENGTH UTF-16 units, non-ASCII: up to 9 URL characters each (fastify's default
    // path-parameter limit is 100 characters).
    const longId = 'é€'.repeat(MAX_ID_LENGTH / 2);
    const stored = await post('/api/v1/events', JSON.stringify(event(longId)), json);
    expect(stored.json()).toEqual({ accepted: 1, rejected: 0, errors: [] });
    const found = await daemon.app.inject({
      method: 'GET',
      url: `/api/v1/predictions/${encodeURIComponent(longId)}`,
    });
    expect(found.statusCode).toBe(200);
    expect(found.json()).toMatchObject({ event: { id: longId } });
  });

  it('no client input yields a 5xx: routes, methods, query strings, URLs, headers', async () => {
    const cases: Array<{
      method: 'GET' | 'POST' | 'DELETE' | 'PUT' | 'OPTIONS';
      url: string;
      headers?: Record<string, string>;
      payload?: string;
    }> = [
      { method: 'GET', url: '/nope' },
      { method: 'DELETE', url: '/api/v1/events' },
      { method: 'PUT', url: '/metrics' },
      { method: 'OPTIONS', url: '/api/v1/models' },
      { method: 'GET', url: '/api/v1/models/%E0%A4%A' },
      { method: 'GET', url: '/api/v1/models/m/drift?from=zzz&limit=-4' },
      { method: 'GET', url: '/api/v1/models/m/drift?from=99999999999999999999' },
      { method: 'GET', url: '/api/v1/models/m/drift?to=-1&window=7m&extra=1' },
      { method: 'GET', url: '/api/v1/models/m/drift?from[a]=1&limit=1e400' },
      { method: 'GET', url: `/api/v1/models/${'m'.repeat(300)}/drift` },
      { method: 'GET', url: '/api/v1/models/zz/performance' },
      { method: 'GET', url: '/api/v1/models/m/features/x/histogram?start=99999999999999999999' },
      { method: 'GET', url: '/api/v1/models/m/summary?window=7m' },
      { method: 'GET', url: '/api/v1/models/m/comparison?from=zzz&to=-1&limit=0' },
      { method: 'GET', url: '/api/v1/predictions/%00?model=%FF' },
      { method: 'GET', url: `/api/v1/predictions/${'x'.repeat(600)}` },
      { method: 'GET', url: '/api/v1/models', headers: { accept: 'application/xml;q=2, */*;q=x' } },
      {
        method: 'POST',
        url: '/api/v1/events',
        headers: { 'content-type': 'application/json', 'content-encoding': 'gzip' },
        payload: '[]',
      },
      {
        method: 'POST',
        url: '/api/v1/events',
        headers: { 'content-type': 'application/json; charset=utf-16' },
        payload: '[]',
      },
      {
        method: 'POST',
        url: '/api/v1/models/m/recompute',
        headers: { 'content-type': 'application/json' },
        payload: '{"feature":"x","start":"yesterday"}',
      },
    ];
    for (const c of cases) {
      const res = await daemon.app.inject(c);
      expect(res.statusCode, `${c.method} ${c.url}: ${res.body}`).toBeLessThan(500);
      // An Accept header driftd cannot honour still gets JSON (no content negotiation).
      if (res.statusCode < 400) continue;
      const body = res.json() as ErrorBody;
      expect(body.code, `${c.method} ${c.url}`).toMatch(/^DRIFTD_ERR_/);
      expect(body.message.length).toBeGreaterThan(0);
    }
  });

  it('no query string yields a 5xx on any read route, with stored windows to read (fuzz: 11 routes × 9 keys × 16 values)', async () => {
    const T = Date.parse('2026-11-22T10:00:00Z');
    const rows = Array.from({ length: 100 }, (_, i) => ({ features: { x: i }, prediction: i }));
    await daemon.store.saveBaseline(
      buildProfileFromRows(daemon.config.models[0]!, '1', rows).profile,
    );
    await daemon.pipeline.refreshBaselines();
    const at = (i: number, ts: number) => ({ ...event(`fz-${i}`), ts: new Date(ts).toISOString() });
    const batch = Array.from({ length: 20 }, (_, i) => at(i, T + i * 1000));
    await post('/api/v1/events', JSON.stringify(batch), json);
    await post('/api/v1/events', JSON.stringify([at(99, T + 3 * 3_600_000)]), json);
    for (let i = 0; i < 50 && (await daemon.store.latestWindowResult('m')) === null; i++) {
      await new Promise((r) => setTimeout(r, 100));
    }
    expect(await daemon.store.latestWindowResult('m')).not.toBeNull();

    const routes = [
      '/api/v1/models',
      '/api/v1/models/m/drift',
      '/api/v1/models/m/summary',
      '/api/v1/models/m/features/x/histogram',
      '/api/v1/models/m/features/prediction/histogram',
      '/api/v1/models/m/performance',
      '/api/v1/models/m/segments',
      '/api/v1/models/m/comparison',
      '/api/v1/predictions/fz-1',
      '/api/v1/models/m/windows/history',
      `/api/v1/models/m/windows/history?start=${T}`,
    ];
    const keys = [
      'from',
      'to',
      'window',
      'limit',
      'feature',
      'start',
      'model',
      'segment',
      'version',
    ];
    const values = [
      '',
      '-1',
      '1e400',
      '99999999999999999999',
      'NaN',
      '%00',
      '%FF',
      '%ED%A0%80',
      encodeURIComponent('\'"'),
      '5m',
      'a'.repeat(3000),
      '2026-11-22T10:00:00Z',
      '1899-01-01T00:00:00Z',
      '9999-12-31T23:59:59Z',
      '0x10',
      '1.5',
    ];
    const fivexx: string[] = [];
    for (const route of routes) {
      for (const key of keys) {
        for (const value of values) {
          const url = `${route}${route.includes('?') ? '&' : '?'}${key}=${value}`;
          const res = await daemon.app.inject({ method: 'GET', url });
          if (res.statusCode >= 500) fivexx.push(`${res.statusCode} ${url.slice(0, 100)}`);
        }
      }
    }
    expect(fivexx).toEqual([]);
  });

  it('OpenAPI documents the error answer on every route (4XX, 5XX)', async () => {
    const doc = (await daemon.app.inject({ method: 'GET', url: '/openapi.json' })).json() as {
      paths: Record<string, Record<string, { responses: Record<string, unknown> }>>;
    };
    const operations = Object.values(doc.paths).flatMap((p) => Object.values(p));
    expect(operations.length).toBeGreaterThan(8);
    for (const op of operations) {
      expect(Object.keys(op.responses)).toEqual(expect.arrayContaining(['4XX', '5XX']));
    }
  });

  it('over a socket: huge headers are 431, a bad Content-Length and a garbage request line 400', async () => {
    const huge = await rawExchange(port, [
      `GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(40_000)}\r\n\r\n`,
    ]);
    expect(huge.response).toMatch(/^HTTP\/1\.1 431 /);
    expect(huge.response).toContain('"code":"DRIFTD_ERR_HEADERS_TOO_LARGE"');
    const badLength = await rawExchange(port, [
      'POST /api/v1/events HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: abc\r\n\r\n[]',
    ]);
    expect(badLength.response).toMatch(/^HTTP\/1\.1 400 /);
    const twoLengths = await rawExchange(port, [
      'POST /api/v1/events HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\n[]',
    ]);
    expect(twoLengths.response).toMatch(/^HTTP\/1\.1 400 /);
    const garbage = await rawExchange(port, ['\x00\x01 nonsense\r\n\r\n']);
    expect(garbage.response).toMatch(/^HTTP\/1\.1 400 /);
    expect(garbage.response).toContain('"code":"DRIFTD_ERR_BAD_HTTP"');
  });

  it('a client trickling its body is answered 408 and cut off at server.requestTimeoutMs', async () => {
    const trickle: Array<string | { waitMs: number }> = [
      'POST /api/v1/events HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n[',
    ];
    for (let i = 0; i < 40; i++) trickle.push({ waitMs: 100 }, ' ');
    const slow = await rawExchange(port, trickle);
    expect(slow.response).toMatch(/^HTTP\/1\.1 408 /);
    expect(slow.response).toContain('"code":"DRIFTD_ERR_REQUEST_TIMEOUT"');
    // requestTimeoutMs is 1000; Node checks deadlines every 250 ms here (a quarter of the tightest).
    expect(slow.closedAfterMs).toBeGreaterThanOrEqual(900);
    expect(slow.closedAfterMs).toBeLessThan(2500);
  });

  it('slow headers are cut off at headersTimeoutMs, an idle keep-alive socket at keepAliveTimeoutMs', async () => {
    const slowHeaders = await rawExchange(port, [
      'GET /healthz HTTP/1.1\r\n',
      { waitMs: 400 },
      'Host: x\r\n',
      { waitMs: 400 },
      'X-A: 1\r\n',
      { waitMs: 3000 },
    ]);
    expect(slowHeaders.response).toMatch(/^HTTP\/1\.1 408 /);
    expect(slowHeaders.closedAfterMs).toBeLessThan(2000);
    const idle = await rawExchange(port, [
      'GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n',
      { waitMs: 5000 },
    ]);
    expect(idle.response).toMatch(/^HTTP\/1\.1 200 /);
    expect(idle.closedAfterMs).toBeLessThan(2000);
  });

  it('a store failure answers 503 with a stable code and a generic reason: no host, no exception text', async () => {
    const secret =
      'ClickHouse at http://ch-prod-7.internal:8123 failed inserting (code 243 NOT_ENOUGH_SPACE): DB::Exception: Cannot reserve 1.00 MiB, not enough space on /var/lib/clickhouse';
    try {
      failInsert = new StoreError(secret, { clickhouseCode: 243 });
      const label = JSON.stringify([
        { model: 'm', id: 'single-1', ts: new Date().toISOString(), label: 1 },
      ]);
      const events = await post('/api/v1/events', JSON.stringify([event('s-1')]), json);
      const labels = await post('/api/v1/labels', label, json);
      // (Label inserts are not retried inside the request; event inserts would be, for seconds.)
      failInsert = new StoreError(secret, { unavailable: true });
      const down = await post('/api/v1/labels', label, json);
      failInsert = new Error(`unexpected: ${secret}`);
      const bug = await post('/api/v1/events', JSON.stringify([event('s-3')]), json);
      for (const [res, status, code] of [
        [events, 503, 'DRIFTD_ERR_STORE'],
        [labels, 503, 'DRIFTD_ERR_STORE'],
        [down, 503, 'DRIFTD_ERR_STORE_UNAVAILABLE'],
        // A raw insert failing for any reason fails the request 503 and rebuilds the windows
        // without it (exactly once into windows): the client retries.
        [bug, 503, 'DRIFTD_ERR_STORE'],
      ] as const) {
        expect(res.statusCode).toBe(status);
        expect(res.json()).toMatchObject({ statusCode: status, code });
        expect(res.body).not.toMatch(/ch-prod|8123|Exception|clickhouse|space/i);
        expect((res.json() as ErrorBody).message).toMatch(/request req-/);
      }
      expect(events.headers['retry-after']).toBe('5');
    } finally {
      failInsert = undefined;
    }
  });
});
