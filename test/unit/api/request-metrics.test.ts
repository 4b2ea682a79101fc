import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { validateConfig } from '../../../src/config/index.js';
import { createDaemon, type Daemon } from '../../../src/daemon.js';

/**
 * The daemon observes itself: every answered request is counted by method, route pattern and
 * status code and timed by status class, and the process/runtime families (CPU, memory,
 * event-loop lag) are on /metrics. One daemon on the real embedded store, real HTTP on
 * 127.0.0.1.
 */

const TOKEN = 'request-metrics-token';

/** `name{labels} value` lines of one family, as label text → value. */
function samples(text: string, name: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split('\n')) {
    const m = /^(\w+)(\{[^}]*\})? (\S+)$/.exec(line);
    if (m?.[1] === name) out.set(m[2] ?? '', Number(m[3]));
  }
  return out;
}

describe('HTTP request and process metrics on /metrics', () => {
  let dir: string;
  let daemon: Daemon;
  let url: string;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'driftd-request-metrics-'));
    const config = validateConfig(
      {
        dataDir: dir,
        server: { host: '127.0.0.1', port: 0, apiTokens: [TOKEN] },
        logLevel: 'silent',
        models: [{ id: 'm', task: 'regression', features: [{ name: 'x', type: 'numeric' }] }],
      },
      { env: {} },
    );
    daemon = createDaemon(config);
    await daemon.start();
    url = daemon.url!;
  });
  afterAll(async () => {
    await daemon?.close();
    await rm(dir, { recursive: true, force: true });
  });

  const auth = { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' };

  it('counts requests by route pattern and status code, unknown paths as one route', async () => {
    const answers = await Promise.all([
      fetch(`${url}/healthz`),
      fetch(`${url}/healthz`),
      fetch(`${url}/api/v1/events`, { method: 'POST', headers: auth, body: '[{"model":' }),
      fetch(`${url}/api/v1/events`, { method: 'POST', body: '[]' }),
      fetch(`${url}/no/such/path-1`),
      fetch(`${url}/no/such/path-2?x=${'y'.repeat(100)}`),
      fetch(`${url}/api/v1/models/unknown-model/summary`, { headers: auth }),
    ]);
    expect(answers.map((r) => r.status)).toEqual([200, 200, 400, 401, 404, 404, 404]);
    await Promise.all(answers.map((r) => r.arrayBuffer()));

    const text = await (await fetch(`${url}/metrics`)).text();
    const counts = samples(text, 'driftd_http_requests_total');
    expect(counts.get('{method="GET",route="/healthz",code="200"}')).toBe(2);
    expect(counts.get('{method="POST",route="/api/v1/events",code="400"}')).toBe(1);
    expect(counts.get('{method="POST",route="/api/v1/events",code="401"}')).toBe(1);
    expect(counts.get('{method="GET",route="unmatched",code="404"}')).toBe(2);
    // A known route answering 404 keeps its pattern, never the model id it was asked for.
    expect(counts.get('{method="GET",route="/api/v1/models/:model/summary",code="404"}')).toBe(1);
    expect(text).not.toContain('path-1');
    expect(text).not.toContain('unknown-model');

    const durations = samples(text, 'driftd_http_request_duration_seconds_count');
    expect(durations.get('{method="GET",route="/healthz",status_class="2xx"}')).toBe(2);
    expect(durations.get('{method="POST",route="/api/v1/events",status_class="4xx"}')).toBe(2);
    expect(durations.get('{method="GET",route="unmatched",status_class="4xx"}')).toBe(2);
  });

  it('exports the process and runtime families (CPU, memory, event-loop lag)', async () => {
    const text = await (await fetch(`${url}/metrics`)).text();
    for (const name of [
      'process_cpu_seconds_total',
      'process_resident_memory_bytes',
      'process_open_fds',
      'nodejs_heap_size_used_bytes',
      'nodejs_eventloop_lag_seconds',
      'nodejs_eventloop_lag_p99_seconds',
    ]) {
      expect(samples(text, name).size, name).toBeGreaterThan(0);
    }
    const lag = [...samples(text, 'nodejs_eventloop_lag_p99_seconds').values()][0]!;
    expect(lag).toBeGreaterThanOrEqual(0);
    expect(lag).toBeLessThan(10);
  });
});
