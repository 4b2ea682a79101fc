/**
 * Personal data end to end, with the real daemon (real HTTP, real embedded ClickHouse) and the
 * real CLI in-process: PII fields keyed-hashed the same way in the baseline (`baseline import`)
 * and in live events, so a clean window of a PII feature is not drifted; no clear value in any
 * table of the store, nor in the API, nor on /metrics; fields the config does not name are
 * not stored; a stored hash cannot be matched without the key; the daemon refuses to start
 * with PII fields and no key; erasure by API and CLI.
 */
import { createHash, createHmac } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/index.js';
import { createDaemon, type Daemon } from '../../src/daemon.js';
import { createLogger } from '../../src/logger.js';
import { createChdbExecutor } from '../../src/store/chdb.js';
import { runCliInProcess } from '../helpers/cli.js';

const KEY = 'e2e-pii-key: 0123456789abcdefghijklmnopqrstuvwxyz';
const T0 = Date.parse('2026-11-22T10:00:00Z');
const MINUTE = 60_000;
/** 30 postcodes, the first ones far more frequent (a realistic, skewed categorical). */
const POSTCODES = Array.from({ length: 30 }, (_, i) => `ZIP-75${String(i + 1).padStart(3, '0')}`);

function rng(seed: number) {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return (s + 0.5) / 4294967296;
  };
}

function postcode(u: number): string {
  // Zipf-like: index ~ floor(30 · u²).
  return POSTCODES[Math.min(POSTCODES.length - 1, Math.floor(POSTCODES.length * u * u))]!;
}

const cli = runCliInProcess;

/** Runs `body` with DRIFTD_PII_KEY set (or unset) in this process's environment. */
async function withKey<T>(key: string | undefined, body: () => Promise<T>): Promise<T> {
  const before = process.env.DRIFTD_PII_KEY;
  if (key === undefined) delete process.env.DRIFTD_PII_KEY;
  else process.env.DRIFTD_PII_KEY = key;
  try {
    return await body();
  } finally {
    if (before === undefined) delete process.env.DRIFTD_PII_KEY;
    else process.env.DRIFTD_PII_KEY = before;
  }
}

const CONFIG = (dataDir: string) =>
  [
    `dataDir: ${JSON.stringify(dataDir)}`,
    'server: { host: 127.0.0.1, port: 0, apiTokens: [e2e-pii-test-token-0123] }',
    'logLevel: info',
    'models:',
    '  - id: credit',
    '    task: binary-classification',
    '    features:',
    '      - { name: income, type: numeric }',
    '      - { name: postcode, type: categorical }',
    '    piiFields: [postcode, id]',
    '    windows: { sizes: [1m], allowedLateness: 0s, idleTimeout: 1h }',
    '    drift: { minWindowSize: 100 }',
    '  - id: kept',
    '    task: binary-classification',
    '    features:',
    '      - { name: income, type: numeric }',
    '    piiFields: [email]',
    '    storeUnlistedFields: true',
    '    windows: { sizes: [1m], allowedLateness: 0s, idleTimeout: 1h }',
  ].join('\n');

describe('personal data (real daemon, real embedded store, CLI in-process)', () => {
  let dir: string;
  let configFile: string;
  let daemon: Daemon;
  let url: string;
  const logLines: string[] = [];
  const auth = { authorization: 'Bearer e2e-pii-test-token-0123' };

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'driftd-pii-'));
    configFile = join(dir, 'driftd.yaml');
    await writeFile(configFile, CONFIG(join(dir, 'data')));
    // The training data, imported by the CLI like a user would.
    const u = rng(1);
    const rows = ['income,postcode,prediction'];
    for (let i = 0; i < 4000; i++) rows.push(`${40_000 + 20_000 * u()},${postcode(u())},${u()}`);
    await writeFile(join(dir, 'train.csv'), `${rows.join('\n')}\n`);
    const imported = await withKey(KEY, () =>
      cli(
        'baseline',
        'import',
        '--config',
        configFile,
        '--model',
        'credit',
        '--version',
        '1',
        '--file',
        join(dir, 'train.csv'),
      ),
    );
    // Progress only (stderr), no error.
    expect(imported.stderr).toMatch(/train\.csv done in [\d.]+s: 4000 rows, 0 bad\n$/);
    expect(imported.stderr).not.toContain('driftd baseline import:');
    expect(imported.code).toBe(0);
    // The CLI's own summary shows hashes, never postcodes.
    expect(imported.stdout).toContain('hmac-sha256:');
    for (const p of POSTCODES) expect(imported.stdout).not.toContain(p);

    const config = await loadConfig({ path: configFile, env: { DRIFTD_PII_KEY: KEY } });
    const sink = { write: (s: string) => logLines.push(s) } as unknown as NodeJS.WritableStream;
    daemon = createDaemon(config, { tickMs: 100, logger: createLogger('info', sink) });
    await daemon.start();
    url = daemon.url!;
  }, 120_000);

  afterAll(async () => {
    await daemon?.close();
    await rm(dir, { recursive: true, force: true });
  });

  const send = (path: string, body: unknown, headers: Record<string, string> = auth) =>
    fetch(`${url}${path}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...headers },
      body: JSON.stringify(body),
    });

  it('a clean window of a PII feature is not drifted: live events and baseline hash alike', async () => {
    const u = rng(2);
    const events = Array.from({ length: 600 }, (_, i) => ({
      model: 'credit',
      version: '1',
      id: `customer-${i}`,
      ts: new Date(T0 + (i * MINUTE) / 600).toISOString(),
      features: { income: 40_000 + 20_000 * u(), postcode: postcode(u()), nickname: `nick-${i}` },
      prediction: u(),
      customer_name: `Jane Doe ${i}`,
    }));
    // One event of the next window closes the first (allowed lateness 0s).
    events.push({ ...events[0]!, id: 'closer', ts: new Date(T0 + MINUTE + 1).toISOString() });
    const res = await send('/api/v1/events', events);
    expect(res.status).toBe(202);
    expect(await res.json()).toMatchObject({ accepted: 601, rejected: 0 });
    const labels = await send('/api/v1/labels', [{ model: 'credit', id: 'customer-7', label: 1 }]);
    expect(labels.status).toBe(202);

    let drift: { windows: Array<{ features: Array<Record<string, unknown>> }> } = { windows: [] };
    for (let t = 0; t < 100 && drift.windows.length === 0; t++) {
      drift = (await (
        await fetch(`${url}/api/v1/models/credit/drift?window=1m`, { headers: auth })
      ).json()) as never;
      if (drift.windows.length === 0) await new Promise((r) => setTimeout(r, 100));
    }
    const feature = drift.windows[0]!.features.find((f) => f.feature === 'postcode')!;
    expect(feature.drifted).toBe(false);
    // Every live postcode hash is one the baseline knows (before the fix: unseen 1.0).
    expect(feature.unseenRatio).toBe(0);

    const hist = await (
      await fetch(`${url}/api/v1/models/credit/features/postcode/histogram?window=1m`, {
        headers: auth,
      })
    ).text();
    expect(hist).toContain('hmac-sha256:');
    const metrics = await (await fetch(`${url}/metrics`)).text();
    for (const text of [hist, metrics, JSON.stringify(drift)]) {
      for (const p of POSTCODES) expect(text).not.toContain(p);
    }
  });

  it('finds a prediction by the id the producer sent, hashed the same way, with its label', async () => {
    const res = await fetch(`${url}/api/v1/predictions/customer-7?model=credit`, { headers: auth });
    expect(res.status).toBe(200);
    const body = (await res.json()) as {
      event: { id: string; features: Record<string, unknown> };
      label: { label: number } | null;
      raw: string | null;
    };
    expect(body.event.id).toMatch(/^hmac-sha256:[0-9a-f]{64}$/);
    expect(body.label?.label).toBe(1);
    expect(body.raw).toBeNull();
    // Fields the config does not name were not kept.
    expect(Object.keys(body.event.features).sort()).toEqual(['income', 'postcode']);
    // And without naming the model.
    expect((await fetch(`${url}/api/v1/predictions/customer-7`, { headers: auth })).status).toBe(
      200,
    );
  });

  it('keeps unlisted fields only when asked, an unlisted PII field hashed', async () => {
    const res = await send('/api/v1/events', [
      {
        model: 'kept',
        version: '1',
        id: 'k-1',
        ts: new Date(T0).toISOString(),
        features: { income: 1, email: 'jane@example.org', note: 'kept as sent' },
        prediction: 0.5,
      },
    ]);
    expect(res.status).toBe(202);
    const body = (await (
      await fetch(`${url}/api/v1/predictions/k-1?model=kept`, { headers: auth })
    ).json()) as {
      event: { features: Record<string, unknown> };
      raw: string | null;
    };
    expect(body.event.features.note).toBe('kept as sent');
    expect(body.event.features.email).toMatch(/^hmac-sha256:/);
    expect(body.raw).toBeNull();
  });

  it('erasure: token required, unknown model 404 without listing models, bad id 400', async () => {
    const del = (path: string, headers: Record<string, string> = auth) =>
      fetch(`${url}${path}`, { method: 'DELETE', headers });
    expect((await del('/api/v1/models/credit/predictions/customer-8', {})).status).toBe(401);
    const unknown = await del('/api/v1/models/nope/predictions/customer-8');
    expect(unknown.status).toBe(404);
    const message = ((await unknown.json()) as { message: string }).message;
    expect(message).toBe('model "nope" is not configured');
    expect(message).not.toContain('credit');
    expect((await send('/api/v1/erasure', { model: 'credit', id: '' })).status).toBe(400);
    expect((await send('/api/v1/erasure', { model: 'credit', id: 'x'.repeat(513) })).status).toBe(
      400,
    );
    expect((await send('/api/v1/erasure', { model: 'credit' })).status).toBe(400);
    expect((await send('/api/v1/erasure', [{ model: 'credit', id: 'x' }])).status).toBe(400);
    expect((await send('/api/v1/erasure', { model: 'credit', id: 'x', all: true })).status).toBe(
      400,
    );
    // Odd ids are data, never a 5xx: nothing stored under them.
    for (const id of ['\ud800', '\u0000', "' OR 1=1 --", '..', 'é'.repeat(512)]) {
      const res = await send('/api/v1/erasure', { model: 'credit', id });
      expect(res.status, JSON.stringify(id)).toBe(200);
      expect(((await res.json()) as { removed: unknown }).removed).toEqual({
        events: 0,
        labels: 0,
      });
    }
    const spec = (await (await fetch(`${url}/openapi.json`)).json()) as {
      paths: Record<string, Record<string, unknown>>;
    };
    expect(Object.keys(spec.paths['/api/v1/models/{model}/predictions/{id}'] ?? {})).toContain(
      'delete',
    );
    expect(Object.keys(spec.paths['/api/v1/erasure'] ?? {})).toContain('post');
  });

  it('erasure by API deletes the event and its label by the clear id, and logs it without the id', async () => {
    const res = await fetch(`${url}/api/v1/models/credit/predictions/customer-7`, {
      method: 'DELETE',
      headers: auth,
    });
    expect(res.status).toBe(200);
    const answer = (await res.json()) as { ref: string; removed: unknown };
    expect(answer.removed).toEqual({ events: 1, labels: 1 });
    expect(
      (await fetch(`${url}/api/v1/predictions/customer-7?model=credit`, { headers: auth })).status,
    ).toBe(404);
    const audit = logLines.find((l) => l.includes(`"ref":"${answer.ref}"`));
    expect(audit).toContain('"audit":"erasure"');
    expect(audit).toContain('"removed":{"events":1,"labels":1}');
    expect(audit).not.toContain('customer-7');
    // The window result stays as it was.
    const drift = (await (
      await fetch(`${url}/api/v1/models/credit/drift?window=1m`, { headers: auth })
    ).json()) as {
      windows: Array<{ eventCount: number }>;
    };
    expect(drift.windows[0]!.eventCount).toBe(600);
  });

  it('no clear value in any table; a stored hash matches only HMAC under the key', async () => {
    await daemon.close();
    const exec = createChdbExecutor({ path: join(dir, 'data', 'store') });
    try {
      const tables = await exec.query<{ name: string }>(
        "SELECT name FROM system.tables WHERE database = 'driftd'",
      );
      expect(tables.map((t) => t.name)).toEqual(
        expect.arrayContaining(['events', 'labels', 'baselines', 'window_results']),
      );
      let everything = '';
      for (const { name } of tables) {
        const rows = await exec.query(`SELECT * FROM driftd.\`${name}\``);
        everything += JSON.stringify(rows);
      }
      for (const p of POSTCODES) expect(everything).not.toContain(p);
      for (const clear of ['customer-1', 'nick-1', 'Jane Doe', 'jane@example.org']) {
        expect(everything).not.toContain(clear);
      }
      const baseline = await exec.query<{ profile: string }>(
        "SELECT profile FROM driftd.baselines WHERE model = 'credit'",
      );
      expect(baseline[0]!.profile).toContain('hmac-sha256:');

      // The stored form of customer-3's postcode: without the key, no hash of a candidate
      // (plain, salted with '', the old salted form) matches it; HMAC under the key does.
      const [row] = await exec.query<{ features: string; raw: string }>(
        "SELECT features, raw FROM driftd.events WHERE model = 'credit' LIMIT 1",
      );
      const stored = (JSON.parse(row!.features) as { postcode: string }).postcode;
      expect(row!.raw).toBe('');
      expect(stored).toMatch(/^hmac-sha256:[0-9a-f]{64}$/);
      const hex = stored.slice('hmac-sha256:'.length);
      const unkeyed = (p: string) => [
        createHash('sha256').update(p).digest('hex'),
        createHash('sha256').update('').update('\0').update(p).digest('hex'),
        createHmac('sha256', '').update(p).digest('hex'),
      ];
      for (const p of POSTCODES) expect(unkeyed(p)).not.toContain(hex);
      const keyed = POSTCODES.filter(
        (p) => createHmac('sha256', Buffer.from(KEY)).update(p).digest('hex') === hex,
      );
      expect(keyed).toHaveLength(1);
    } finally {
      await exec.close();
    }
  });

  it('erasure by the CLI on the stopped daemon’s embedded store', async () => {
    const erased = await withKey(KEY, () =>
      cli('erase', '--config', configFile, '--model', 'credit', '--id', 'customer-9', '--json'),
    );
    expect(erased.code).toBe(0);
    expect(JSON.parse(erased.stdout)).toMatchObject({
      model: 'credit',
      removed: { events: 1, labels: 0 },
    });
    expect(erased.stderr).toContain('"audit":"erasure"');
    expect(erased.stderr).not.toContain('customer-9');
    const unknown = await withKey(KEY, () =>
      cli('erase', '--config', configFile, '--model', 'credit'),
    );
    expect(unknown.code).toBe(2); // a usage error, from the declared flags (src/cli/commands.ts)
    expect(unknown.stderr).toContain('--id is required');
  });

  it('the daemon refuses to start (and config check fails) with PII fields and no key', async () => {
    for (const command of [['start'], ['config', 'check']]) {
      const res = await withKey(undefined, () => cli(...command, '--config', configFile));
      expect(res.code).toBe(78);
      expect(res.stderr).toContain('models[0].piiFields: model "credit" has PII fields');
      expect(res.stderr).toContain('set DRIFTD_PII_KEY');
    }
  });
});
