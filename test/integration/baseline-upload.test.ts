import { createReadStream } from 'node:fs';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { importBaseline } from '../../src/baseline/index.js';
import { validateConfig } from '../../src/config/index.js';
import type { DriftdConfig } from '../../src/config/types.js';
import { createDaemon, type Daemon } from '../../src/daemon.js';
import { runCliInProcess } from '../helpers/cli.js';
import { lcgNormals } from '../helpers/random.js';

/**
 * Baselines imported into a running daemon on the embedded store (real chDB, real HTTP): the
 * upload route streams the training file, stores the same baseline the offline import builds
 * (same content hash), and the next window of the version is evaluated against it without a
 * restart. Hostile uploads answer 4xx, leave nothing behind and stop nothing.
 */

const T0 = Date.parse('2026-11-22T10:00:00Z');
const MINUTE = 60_000;
const MAX_UPLOAD = 1024 * 1024;
const TOKENS = {
  admin: 'bl-admin-0123456789abcdef',
  reader: 'bl-read-0123456789abcdefg',
  writer: 'bl-write-0123456789abcdef',
};

/** A labelled training file: income around `mean`, a score that ranks the label fairly well. */
function trainingCsv(seed: number, mean: number, rows = 3000): string {
  const { z, u } = lcgNormals(seed);
  const lines = ['income,age,region,prediction,label'];
  for (let i = 0; i < rows; i++) {
    const label = u() < 0.3 ? 1 : 0;
    const score = 1 / (1 + Math.exp(-(label * 1.5 + z() - 0.5)));
    lines.push(
      `${(mean + 10_000 * z()).toFixed(2)},${(40 + 10 * z()).toFixed(1)},${['EU', 'US', 'APAC'][i % 3]},${score.toFixed(6)},${label}`,
    );
  }
  return `${lines.join('\n')}\n`;
}

function events(from: number, n: number, start: number, mean: number, seed: number) {
  const { z } = lcgNormals(seed);
  return Array.from({ length: n }, (_, i) => ({
    model: 'credit-risk',
    version: '3',
    id: `p-${from + i}`,
    ts: new Date(start + (i * MINUTE) / n).toISOString(),
    features: { income: mean + 10_000 * z(), age: 40 + 10 * z(), region: 'EU' },
    prediction: 0.5,
  }));
}

describe('baselines through a running daemon (real chDB, real HTTP)', () => {
  let dir: string;
  let config: DriftdConfig;
  let daemon: Daemon;
  let url: string;
  let fileA: string;
  let fileB: string;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'driftd-baseline-upload-'));
    config = validateConfig(
      {
        dataDir: dir,
        server: {
          host: '127.0.0.1',
          port: 0,
          baselineUploadMaxBytes: MAX_UPLOAD,
          auth: {
            tokens: [
              { name: 'admin', scopes: ['admin', 'read'], secretEnv: 'T_ADMIN' },
              { name: 'reader', scopes: ['read'], secretEnv: 'T_READER' },
              { name: 'writer', scopes: ['write'], secretEnv: 'T_WRITER' },
            ],
          },
        },
        logLevel: 'silent',
        models: [
          {
            id: 'credit-risk',
            task: 'binary-classification',
            features: [
              { name: 'income', type: 'numeric' },
              { name: 'age', type: 'numeric' },
              { name: 'region', type: 'categorical' },
            ],
            windows: { sizes: ['1m'], allowedLateness: '0s', idleTimeout: '1h' },
            drift: { minWindowSize: 100 },
          },
        ],
      },
      { env: { T_ADMIN: TOKENS.admin, T_READER: TOKENS.reader, T_WRITER: TOKENS.writer } },
    );
    fileA = join(dir, 'train-a.csv');
    fileB = join(dir, 'train-b.csv');
    await writeFile(fileA, trainingCsv(1, 50_000));
    await writeFile(fileB, trainingCsv(2, 80_000));
    // What a daemon killed mid-upload left (its pid is gone), and one of a live process.
    await mkdir(join(dir, 'uploads'));
    await writeFile(join(dir, 'uploads', `upload-${2 ** 22 + 7}-0123456789abcdef.csv`), 'x');
    await writeFile(join(dir, 'uploads', `upload-${process.ppid}-0123456789abcdef.csv`), 'x');
    daemon = createDaemon(config, { tickMs: 100 });
    await daemon.start();
    url = daemon.url!;
    expect(await readdir(join(dir, 'uploads'))).toEqual([
      `upload-${process.ppid}-0123456789abcdef.csv`,
    ]);
    await rm(join(dir, 'uploads', `upload-${process.ppid}-0123456789abcdef.csv`));
  });

  afterAll(async () => {
    await daemon?.close();
    await rm(dir, { recursive: true, force: true });
  });

  const upload = (
    body: RequestInit['body'],
    opts: { token?: string; type?: string | null; model?: string; query?: string } = {},
  ) => {
    const headers: Record<string, string> = {};
    if (opts.token !== '') headers.authorization = `Bearer ${opts.token ?? TOKENS.admin}`;
    if (opts.type !== null) headers['content-type'] = opts.type ?? 'text/csv';
    return fetch(
      `${url}/api/v1/models/${opts.model ?? 'credit-risk'}/versions/3/baseline${opts.query ?? ''}`,
      { method: 'POST', headers, body, duplex: 'half' } as RequestInit,
    );
  };
  const streamOf = (file: string) =>
    Readable.toWeb(createReadStream(file, { highWaterMark: 16 * 1024 })) as ReadableStream;
  const get = (path: string, token = TOKENS.admin) =>
    fetch(`${url}${path}`, { headers: { authorization: `Bearer ${token}` } });
  const postEvents = async (items: unknown[]) => {
    const res = await fetch(`${url}/api/v1/events`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${TOKENS.writer}` },
      body: JSON.stringify(items),
    });
    expect(res.status).toBe(202);
  };
  async function windows(count: number) {
    const deadline = Date.now() + 30_000;
    for (;;) {
      const res = await get('/api/v1/models/credit-risk/drift?window=1m');
      const body = (await res.json()) as {
        windows: Array<{ start: string; baselineId: string; eventCount: number }>;
      };
      if (body.windows.length >= count || Date.now() > deadline) return body.windows;
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  const uploadsLeft = async () => readdir(join(dir, 'uploads')).catch(() => [] as string[]);

  it('imports a streamed upload with the offline hash, and the next window is evaluated on it without a restart', async () => {
    const res = await upload(streamOf(fileA), { query: `?source=${encodeURIComponent(fileA)}` });
    expect(res.status).toBe(201);
    const a = (await res.json()) as {
      created: boolean;
      profile: { id: string; hash: string; source: string; performance?: Record<string, number> };
      report: { rows: number; file: string };
    };
    const offline = await importBaseline({
      model: config.models[0]!,
      version: '3',
      file: fileA,
    });
    expect(a.created).toBe(true);
    expect(a.profile.hash).toBe(offline.profile.hash);
    expect(a.profile.id).toBe(offline.profile.id);
    expect(a.profile.performance).toEqual(offline.profile.performance);
    expect(a.profile.performance!.roc_auc).toBeGreaterThan(0.6);
    expect(a.report).toMatchObject({ rows: 3000, file: 'train-a.csv' });
    expect(a.profile.source).toBe('train-a.csv');
    // Same bytes again: already stored, 200.
    const again = await upload(await readFile(fileA));
    expect(again.status).toBe(200);
    expect(((await again.json()) as { created: boolean }).created).toBe(false);
    expect(await uploadsLeft()).toEqual([]);

    // Window 1 on baseline A; the event that closes it opens window 2 (still on A).
    await postEvents([
      ...events(0, 300, T0, 50_000, 3),
      ...events(1000, 1, T0 + MINUTE, 50_000, 4),
    ]);
    const first = await windows(1);
    expect(first.map((w) => w.baselineId)).toEqual([a.profile.id]);

    const resB = await upload(streamOf(fileB));
    expect(resB.status).toBe(201);
    const b = (await resB.json()) as {
      profile: { id: string; performance: Record<string, number> };
    };
    expect(b.profile.id).not.toBe(a.profile.id);

    // Window 2 was open before the import and keeps A; window 3 opens after it: B. No restart.
    await postEvents([
      ...events(2000, 300, T0 + MINUTE + 10, 80_000, 5),
      ...events(3000, 300, T0 + 2 * MINUTE, 80_000, 6),
      ...events(4000, 1, T0 + 3 * MINUTE, 80_000, 7),
    ]);
    const all = await windows(3);
    expect(all.map((w) => [w.start, w.baselineId])).toEqual([
      [new Date(T0).toISOString(), a.profile.id],
      [new Date(T0 + MINUTE).toISOString(), a.profile.id],
      [new Date(T0 + 2 * MINUTE).toISOString(), b.profile.id],
    ]);

    const listed = (await (
      await get('/api/v1/baselines?model=credit-risk', TOKENS.reader)
    ).json()) as {
      baselines: Array<{ id: string; source: string }>;
    };
    // Newest first; a file name, never a path of the client's or the daemon's.
    expect(listed.baselines.map((x) => [x.id, x.source])).toEqual([
      [b.profile.id, 'upload'],
      [a.profile.id, 'train-a.csv'],
    ]);

    const metrics = await (await fetch(`${url}/metrics`)).text();
    const auc =
      /driftd_model_baseline_performance\{model="credit-risk",version="3",metric="roc_auc"\} (\S+)/.exec(
        metrics,
      );
    expect(Number(auc?.[1])).toBeCloseTo(b.profile.performance.roc_auc!, 12);
    expect(metrics).toMatch(
      /driftd_feature_baseline_missing_ratio\{model="credit-risk",version="3",feature="income"\} 0/,
    );

    // Labels for window 1: its performance is shown next to its baseline's own.
    const labels = Array.from({ length: 300 }, (_, i) => ({
      model: 'credit-risk',
      id: `p-${i}`,
      ts: new Date(T0 + 5 * MINUTE).toISOString(),
      label: i % 2,
    }));
    const labelled = await fetch(`${url}/api/v1/labels`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${TOKENS.writer}` },
      body: JSON.stringify(labels),
    });
    expect(labelled.status).toBe(202);
    type Perf = {
      start: string;
      labeled: number;
      metrics: Record<string, number>;
      baseline: { id: string; metrics: Record<string, number> | null } | null;
    };
    let perf: Perf[] = [];
    for (const deadline = Date.now() + 20_000; Date.now() < deadline; ) {
      const res = await get('/api/v1/models/credit-risk/performance?window=1m');
      perf = ((await res.json()) as { windows: Perf[] }).windows.filter((w) => w.labeled > 0);
      if (perf.length > 0) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    expect(perf[0]).toMatchObject({
      start: new Date(T0).toISOString(),
      labeled: 300,
      baseline: { id: a.profile.id, metrics: a.profile.performance },
    });
    expect(typeof perf[0]!.metrics.accuracy).toBe('number');
  });

  it('answers hostile uploads with a 4xx naming the problem, keeping nothing and stopping nothing', async () => {
    const cases: Array<[string, () => Promise<Response>, number, RegExp]> = [
      ['no token', () => upload('x', { token: '' }), 401, /Bearer/],
      ['a read-only token', () => upload('x', { token: TOKENS.reader }), 403, /admin/],
      ['a write token', () => upload('x', { token: TOKENS.writer }), 403, /admin/],
      ['an unknown model', () => upload('income\n1\n', { model: 'nope' }), 404, /nope/],
      ['an empty body', () => upload(''), 400, /empty/],
      ['JSON', () => upload('[]', { type: 'application/json' }), 415, /text\/csv/],
      ['no content type', () => upload('a,b\n', { type: null }), 415, /text\/csv/],
      [
        'a declared size over the limit',
        () => upload(Buffer.alloc(MAX_UPLOAD + 1, 0x61)),
        413,
        /baselineUploadMaxBytes/,
      ],
      [
        'a streamed size over the limit',
        () =>
          upload(
            Readable.toWeb(
              Readable.from(
                (function* () {
                  for (let i = 0; i < 40; i++) yield Buffer.alloc(64 * 1024, 0x61);
                })(),
              ),
            ) as ReadableStream,
          ),
        413,
        /baselineUploadMaxBytes/,
      ],
      [
        'a header without a configured feature',
        () => upload('income,region\n1,EU\n'),
        422,
        /"age".*configured feature/,
      ],
      [
        'only malformed rows',
        () => upload('income,age,region\nabc,1,EU\n1,2\n"unterminated,1,EU\n'),
        422,
        /no valid rows/,
      ],
      [
        'only malformed rows, from a path of the client',
        () =>
          upload('income,age,region\nabc,1,EU\n', {
            query: `?source=${encodeURIComponent('/home/ml/data/train.csv')}`,
          }),
        422,
        /^train\.csv: no valid rows/,
      ],
      [
        'binary garbage as NDJSON',
        () => upload(Buffer.from([0xff, 0xfe, 0x00, 0x7b, 0x0a]), { type: 'application/x-ndjson' }),
        422,
        /no valid rows/,
      ],
    ];
    for (const [name, send, status, message] of cases) {
      const res = await send();
      const body = (await res.json()) as { code: string; message: string };
      expect(res.status, name).toBe(status);
      expect(body.message, name).toMatch(message);
      // The spool path never reaches a client.
      expect(body.message, name).not.toContain(dir);
    }
    expect(await uploadsLeft()).toEqual([]);
    expect((await fetch(`${url}/healthz`)).status).toBe(200);
  });

  it('answers ?progress=true in NDJSON: the import progress, then the result or the error', async () => {
    const lines = async (res: Response) =>
      (await res.text())
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l) as Record<string, { fraction?: number; statusCode?: number }>);
    const ok = await upload(await readFile(fileB), { query: '?progress=true' });
    expect(ok.status).toBe(200);
    expect(ok.headers.get('content-type')).toContain('application/x-ndjson');
    const got = await lines(ok);
    expect(got.at(-1)).toHaveProperty('result.created', false);
    const progress = got.filter((l) => l.progress !== undefined).map((l) => l.progress!.fraction);
    expect(progress.at(-1)).toBe(1);
    // A bad file: the error line has the status and message the plain answer has.
    const bad = await upload('income,region\n1,EU\n', { query: '?progress=true' });
    expect(bad.status).toBe(200);
    expect((await lines(bad)).at(-1)).toMatchObject({
      error: { statusCode: 422, code: 'DRIFTD_ERR_BASELINE' },
    });
    // Refusals before the import keep their status.
    expect((await upload('', { query: '?progress=true' })).status).toBe(400);
  });

  it('runs one import at a time: a second upload meanwhile is answered 409', async () => {
    let push!: (chunk: Uint8Array | null) => void;
    const slow = new ReadableStream<Uint8Array>({
      start(controller) {
        push = (chunk) => (chunk === null ? controller.close() : controller.enqueue(chunk));
      },
    });
    const text = await readFile(fileA);
    push(text.subarray(0, 1000));
    const first = upload(slow);
    // The first upload is being spooled (its first bytes are on disk) when the second comes.
    for (const deadline = Date.now() + 10_000; (await uploadsLeft()).length === 0; ) {
      if (Date.now() > deadline) throw new Error('the first upload never started');
      await new Promise((r) => setTimeout(r, 20));
    }
    const second = await upload(await readFile(fileB));
    expect(second.status).toBe(409);
    expect(((await second.json()) as { code: string }).code).toBe('DRIFTD_ERR_IMPORT_RUNNING');
    push(text.subarray(1000));
    push(null);
    expect((await first).status).toBe(200); // baseline A, already stored
    expect(await uploadsLeft()).toEqual([]);
  });

  it('`driftd baseline import` and `list` go through the daemon serving the data directory', async () => {
    const cfg = join(dir, 'cli.yaml');
    await writeFile(
      cfg,
      [
        `dataDir: ${JSON.stringify(dir)}`,
        'logLevel: silent',
        'models:',
        '  - id: credit-risk',
        '    task: binary-classification',
        '    features:',
        '      - { name: income, type: numeric }',
        '      - { name: age, type: numeric }',
        '      - { name: region, type: categorical }',
        '    windows: { sizes: [1m], allowedLateness: 0s, idleTimeout: 1h }',
        '    drift: { minWindowSize: 100 }',
      ].join('\n'),
    );
    const adminToken = join(dir, 'admin.token');
    const readToken = join(dir, 'read.token');
    await writeFile(adminToken, `${TOKENS.admin}\n`);
    await writeFile(readToken, `${TOKENS.reader}\n`);
    const imported = await runCliInProcess(
      'baseline',
      'import',
      '--config',
      cfg,
      '--token-file',
      adminToken,
      '--model',
      'credit-risk',
      '--version',
      '4',
      '--file',
      fileA,
      '--json',
    );
    expect(imported.stderr).toContain(`uploading ${fileA} to ${url} done in`);
    expect(imported.stderr).toMatch(
      /importing \S+train-a\.csv done in [\d.]+s: 3000 rows, 0 bad\n$/,
    );
    expect(imported.code).toBe(0);
    const answer = JSON.parse(imported.stdout) as {
      created: boolean;
      profile: { id: string; hash: string; source: string; performance: Record<string, number> };
    };
    // The same baseline the offline import builds, source included (the path the CLI sent).
    const offline = await importBaseline({ model: config.models[0]!, version: '4', file: fileA });
    expect(answer.created).toBe(true);
    expect(answer.profile.hash).toBe(offline.profile.hash);
    expect(answer.profile.source).toBe(offline.profile.source);
    expect(answer.profile.performance).toEqual(offline.profile.performance);

    const listed = await runCliInProcess(
      'baseline',
      'list',
      '--config',
      cfg,
      '--token-file',
      readToken,
      '--model',
      'credit-risk',
    );
    expect(listed.code).toBe(0);
    expect(listed.stdout).toContain(answer.profile.id);
    expect(listed.stdout).toMatch(/credit-risk\s+4\s/);

    // A token without the scope: the daemon's refusal, with what to do.
    const refused = await runCliInProcess(
      'baseline',
      'import',
      '--config',
      cfg,
      '--token-file',
      readToken,
      '--model',
      'credit-risk',
      '--version',
      '5',
      '--file',
      fileA,
    );
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/answered 403: .*scope "admin".*--token-file/);
  });

  it('a restart keeps an open window on the baseline it was opened on, after a newer import', async () => {
    // Window 3 (T0+3m) is open on baseline B since the first test; C becomes version 3's now.
    const fileC = join(dir, 'train-c.csv');
    await writeFile(fileC, trainingCsv(3, 60_000));
    const c = (await (await upload(streamOf(fileC))).json()) as { profile: { id: string } };
    await postEvents(events(5000, 99, T0 + 3 * MINUTE + 100, 80_000, 8));
    await daemon.close(); // final checkpoint: window 3 open on B, holding 100 events (1 + 99)
    daemon = createDaemon(config, { tickMs: 100 });
    await daemon.start();
    url = daemon.url!;
    await postEvents([
      ...events(6000, 100, T0 + 3 * MINUTE + 200, 80_000, 9),
      ...events(7000, 1, T0 + 4 * MINUTE + 10, 80_000, 10),
    ]);
    const all = await windows(4);
    const third = all.find((w) => w.start === new Date(T0 + 3 * MINUTE).toISOString());
    const b = all.find((w) => w.start === new Date(T0 + 2 * MINUTE).toISOString())!.baselineId;
    // Nothing lost at the restart, and evaluated on B, as without a restart.
    expect(third).toMatchObject({ baselineId: b, eventCount: 200 });
    expect(b).not.toBe(c.profile.id);
  });
});
