import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { generate } from 'openapi-typescript-codegen';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildProfileFromRows } from '../../src/baseline/index.js';
import { validateConfig } from '../../src/config/index.js';
import { createDaemon, type Daemon } from '../../src/daemon.js';

/**
 * A client generated from the OpenAPI document a running daemon serves (openapi-typescript-codegen,
 * fetch client, into the test's temp dir) type-checks against typed ingest bodies and ingests
 * through a real socket: events and labels accepted, then visible through the same client
 * (audit lookup with the label joined, the window's drift result). Real chDB, real HTTP.
 */

const T0 = Date.parse('2026-11-22T10:00:00Z');
const MINUTE = 60_000;
const TOKEN = 'openapi-client-0123456789abcdef';
const TSC = resolve('node_modules/.bin/tsc');

function event(i: number, ts: number) {
  // Deterministic values spread over the baseline's range.
  const u = ((i * 7919) % 1000) / 1000;
  return {
    model: 'credit-risk',
    version: '3',
    id: `c-${i}`,
    ts: new Date(ts).toISOString(),
    features: { income: 40_000 + 20_000 * u, region: ['EU', 'US', 'APAC'][i % 3]! },
    prediction: u,
  };
}

/** What the test program calls: the generated services, typed loosely here (they are checked by tsc). */
interface Generated {
  OpenAPI: { BASE: string; TOKEN?: string };
  ApiError: new (...args: never[]) => Error & { status: number; body: unknown };
  IngestService: {
    ingestEvents(o: { requestBody: unknown; idempotencyKey?: string }): Promise<IngestReport>;
    ingestLabels(o: { requestBody: unknown }): Promise<IngestReport>;
  };
  AuditService: { findPrediction(o: { id: string; model?: string }): Promise<Audit> };
  DriftService: {
    getDrift(o: { model: string }): Promise<{
      windows: Array<{ start: string; eventCount: number; baselineId: string }>;
    }>;
  };
}
interface IngestReport {
  accepted: number;
  rejected: number;
  errors: Array<{ index: number; reason: string; message: string }>;
}
interface Audit {
  event: { id: string; features: Record<string, unknown> };
  label: { label: number } | null;
}

describe('generated OpenAPI client against a running daemon (real chDB, real HTTP)', () => {
  let dir: string;
  let daemon: Daemon;
  let client: Generated;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'driftd-openapi-client-'));
    const config = validateConfig(
      {
        dataDir: join(dir, 'data'),
        server: { host: '127.0.0.1', port: 0, apiTokens: [TOKEN] },
        logLevel: 'silent',
        models: [
          {
            id: 'credit-risk',
            task: 'binary-classification',
            features: [
              { name: 'income', type: 'numeric' },
              { name: 'region', type: 'categorical' },
            ],
            windows: { sizes: ['1m'], allowedLateness: '0s', idleTimeout: '1h' },
            drift: { minWindowSize: 50 },
          },
        ],
      },
      { env: {} },
    );
    daemon = createDaemon(config, { tickMs: 100 });
    await daemon.start();
    const rows = Array.from({ length: 2000 }, (_, i) => event(100_000 + i, T0 - 3_600_000));
    const { profile } = buildProfileFromRows(config.models[0]!, '3', rows);
    await daemon.store.saveBaseline(profile);
    await daemon.pipeline.refreshBaselines();

    // The document as a client sees it: over HTTP, from the running daemon.
    const spec = (await (await fetch(`${daemon.url}/openapi.json`)).json()) as object;
    await generate({
      input: spec,
      output: join(dir, 'client'),
      httpClient: 'fetch',
      useOptions: true,
    });
  });

  afterAll(async () => {
    await daemon?.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('type-checks: ingest bodies are typed items, one item alone is allowed, an item without ts is not', async () => {
    await writeFile(
      join(dir, 'tsconfig.json'),
      JSON.stringify({
        compilerOptions: {
          strict: true,
          noEmit: true,
          target: 'es2022',
          module: 'esnext',
          moduleResolution: 'bundler',
          lib: ['es2022', 'dom'],
          types: [],
        },
        files: ['check.ts'],
      }),
    );
    await writeFile(
      join(dir, 'check.ts'),
      `import { IngestService, type PredictionEvent, type LabelEvent, type IngestReport } from './client';
const e: PredictionEvent = {
  model: 'credit-risk', version: 3, id: 'p-1', ts: '2026-11-22T10:00:00Z',
  features: { income: 1, region: 'EU', missing: null, flag: true }, prediction: 0.5,
};
const l: LabelEvent = { model: 'credit-risk', id: 'p-1', label: 1 };
export const calls: Array<Promise<IngestReport>> = [
  IngestService.ingestEvents({ requestBody: [e, { ...e, ts: 1795341600000 }] }),
  IngestService.ingestEvents({ requestBody: e }),
  IngestService.ingestLabels({ requestBody: [l, { ...l, label: 'yes', ts: 1795341600000 }] }),
  // @ts-expect-error ts is required
  IngestService.ingestEvents({ requestBody: [{ model: 'm', version: '1', id: 'x', features: {} }] }),
  // @ts-expect-error a feature value is a scalar
  IngestService.ingestEvents({ requestBody: { ...e, features: { income: [1] } } }),
  // @ts-expect-error a label is required
  IngestService.ingestLabels({ requestBody: [{ model: 'm', id: 'x' }] }),
];
`,
    );
    const run = promisify(execFile);
    const out = await run(TSC, ['-p', join(dir, 'tsconfig.json')]).catch(
      (err: { stdout?: string; stderr?: string }) => ({
        stdout: `${err.stdout ?? ''}${err.stderr ?? ''}`,
        failed: true,
      }),
    );
    expect('failed' in out ? out.stdout : '', 'tsc on the generated client').toBe('');
  });

  it('ingests events and labels through the generated client; they are visible through the API', async () => {
    client = (await import(pathToFileURL(join(dir, 'client', 'index.ts')).href)) as Generated;
    client.OpenAPI.BASE = daemon.url!;
    client.OpenAPI.TOKEN = TOKEN;

    // Window 10:00–10:01: a batch of 200, one event alone, one invalid item reported by index.
    const w1 = Array.from({ length: 200 }, (_, i) => event(i, T0 + (i * MINUTE) / 200));
    const report = await client.IngestService.ingestEvents({
      requestBody: [...w1, { ...event(900, T0), ts: 1_795_341_600 }],
    });
    expect(report).toMatchObject({ accepted: 200, rejected: 1 });
    expect(report.errors).toEqual([
      expect.objectContaining({ index: 200, reason: 'ts_epoch_seconds' }),
    ]);
    const single = await client.IngestService.ingestEvents({
      requestBody: event(201, T0 + 30_000),
    });
    expect(single).toEqual({ accepted: 1, rejected: 0, errors: [] });

    // Every item rejected: a 400 whose body the client hands over as the report.
    const refused = await client.IngestService.ingestEvents({
      requestBody: [{ ...event(902, T0), model: 'nope' }],
    }).catch((err: unknown) => err);
    expect(refused).toBeInstanceOf(client.ApiError);
    expect((refused as { status: number }).status).toBe(400);
    expect((refused as { body: IngestReport }).body).toMatchObject({
      accepted: 0,
      rejected: 1,
      errors: [{ index: 0, reason: 'unknown_model' }],
    });

    const labels = await client.IngestService.ingestLabels({
      requestBody: [
        { model: 'credit-risk', id: 'c-5', label: 1 },
        { model: 'credit-risk', id: 'c-6', label: false, ts: T0 + MINUTE },
      ],
    });
    expect(labels).toEqual({ accepted: 2, rejected: 0, errors: [] });

    // The next window's events move the watermark past 10:01: the first window closes. Sent
    // twice with one Idempotency-Key (the generated header parameter): counted once.
    const w2 = Array.from({ length: 60 }, (_, i) => event(300 + i, T0 + MINUTE + i * 1000));
    for (let attempt = 0; attempt < 2; attempt++) {
      const again = await client.IngestService.ingestEvents({
        requestBody: w2,
        idempotencyKey: 'window-2 batch 1',
      });
      expect(again).toEqual({ accepted: 60, rejected: 0, errors: [] });
    }
    await client.IngestService.ingestEvents({ requestBody: event(400, T0 + 2 * MINUTE + 1000) });

    const audit = await client.AuditService.findPrediction({ id: 'c-5' });
    expect(audit.event).toMatchObject({ id: 'c-5', features: { region: 'APAC' } });
    expect(audit.label).toMatchObject({ label: 1 });
    const alone = await client.AuditService.findPrediction({ id: 'c-201' });
    expect(alone.event.id).toBe('c-201');

    let windows: Array<{ start: string; eventCount: number; baselineId: string }> = [];
    for (let i = 0; i < 100 && windows.length < 2; i++) {
      windows = (await client.DriftService.getDrift({ model: 'credit-risk' })).windows;
      if (windows.length < 2) await new Promise((r) => setTimeout(r, 100));
    }
    expect(windows.map((w) => [w.start, w.eventCount])).toEqual([
      [new Date(T0).toISOString(), 201],
      [new Date(T0 + MINUTE).toISOString(), 60],
    ]);
  });

  it('the generated client sends the bearer token: without it the daemon refuses', async () => {
    client.OpenAPI.TOKEN = undefined;
    const err = await client.IngestService.ingestEvents({ requestBody: [] }).catch(
      (e: unknown) => e,
    );
    expect((err as { status: number }).status).toBe(401);
    client.OpenAPI.TOKEN = TOKEN;
  });
});
