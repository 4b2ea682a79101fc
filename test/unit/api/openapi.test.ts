import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import SwaggerParser from '@apidevtools/swagger-parser';
import { Ajv } from 'ajv';
import addFormats from 'ajv-formats';
import type { OpenAPIV3 } from 'openapi-types';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { componentSchemas } from '../../../src/api/schemas.js';
import { buildProfileFromRows } from '../../../src/baseline/index.js';
import { validateConfig } from '../../../src/config/index.js';
import { createDaemon, type Daemon } from '../../../src/daemon.js';
import { LABEL_CASES, PREDICTION_CASES } from '../../hostile/cases.js';

/**
 * The OpenAPI document the daemon serves (real chDB, through inject()): valid by a real
 * validator (@apidevtools/swagger-parser), an operationId on every operation, shared shapes as
 * named components, and ingest bodies whose items are typed and agree with the decoder. The
 * generated client is exercised against a listening daemon in
 * test/integration/openapi-client.test.ts.
 */

const T = Date.parse('2026-11-22T10:00:00Z');
const MODEL = {
  id: 'm',
  task: 'binary-classification',
  features: [
    { name: 'x', type: 'numeric' },
    { name: 'c', type: 'categorical' },
  ],
};

type Doc = OpenAPIV3.Document;
const METHODS = ['get', 'put', 'post', 'delete', 'patch', 'head', 'options'] as const;

function operations(doc: Doc): Array<{ name: string; op: OpenAPIV3.OperationObject }> {
  const out = [];
  for (const [path, item] of Object.entries(doc.paths)) {
    for (const method of METHODS) {
      const op = item?.[method];
      if (op) out.push({ name: `${method.toUpperCase()} ${path}`, op });
    }
  }
  return out;
}

/** The documented item schemas as the JSON Schema they are written in (before OpenAPI 3.0 conversion). */
function itemValidators() {
  const ajv = new Ajv({ allErrors: true, strict: false });
  addFormats.default(ajv);
  for (const schema of componentSchemas) ajv.addSchema(schema);
  return {
    prediction: ajv.getSchema('PredictionEvent')!,
    label: ajv.getSchema('LabelEvent')!,
  };
}

describe('OpenAPI document (real chDB, inject)', () => {
  let dir: string;
  let daemon: Daemon;
  let doc: Doc;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'driftd-openapi-'));
    const config = validateConfig(
      {
        dataDir: dir,
        server: { host: '127.0.0.1', port: 0 },
        logLevel: 'silent',
        models: [MODEL],
      },
      { env: {} },
    );
    daemon = createDaemon(config, { listen: false });
    await daemon.start();
    doc = (await daemon.app.inject({ method: 'GET', url: '/openapi.json' })).json() as Doc;
  });
  afterAll(async () => {
    await daemon?.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('is valid OpenAPI 3.0 by @apidevtools/swagger-parser, every $ref resolving', async () => {
    // validate() dereferences in place: give it a copy.
    await expect(SwaggerParser.validate(structuredClone(doc))).resolves.toBeDefined();
    expect(doc.openapi).toBe('3.0.3');
  });

  it('every operation has an operationId, unique and camelCase', () => {
    const ops = operations(doc);
    expect(ops.length).toBeGreaterThanOrEqual(15);
    const missing = ops.filter(({ op }) => !op.operationId).map(({ name }) => name);
    expect(missing, 'operations without an operationId').toEqual([]);
    const ids = ops.map(({ op }) => op.operationId!);
    expect(new Set(ids).size).toBe(ids.length);
    for (const id of ids) expect(id).toMatch(/^[a-z][A-Za-z0-9]*$/);
    expect(doc.paths['/api/v1/events']?.post?.operationId).toBe('ingestEvents');
    expect(doc.paths['/api/v1/labels']?.post?.operationId).toBe('ingestLabels');
  });

  it('shared shapes are named components, referred to by $ref', () => {
    const names = Object.keys(doc.components?.schemas ?? {});
    expect(names).toEqual(
      expect.arrayContaining([
        'Error',
        'IngestReport',
        'ItemError',
        'PredictionEvent',
        'LabelEvent',
        'Timestamp',
        'FeatureValue',
        'FeatureDrift',
        'Reference',
        'WindowResult',
        'Performance',
      ]),
    );
    // No def-N names: every component is named after its $id.
    for (const name of names) expect(name).not.toMatch(/^def-\d+$/);
    const json = (op: OpenAPIV3.OperationObject | undefined, status: string) =>
      (op?.responses[status] as OpenAPIV3.ResponseObject | undefined)?.content?.['application/json']
        ?.schema;
    for (const { name, op } of operations(doc)) {
      expect(json(op, '4XX'), name).toEqual({ $ref: '#/components/schemas/Error' });
      expect(json(op, '5XX'), name).toEqual({ $ref: '#/components/schemas/Error' });
    }
    const drift = json(doc.paths['/api/v1/models/{model}/drift']?.get, '200');
    expect(drift).toEqual({ $ref: '#/components/schemas/DriftWindows' });
    const windows = doc.components!.schemas!.DriftWindows as OpenAPIV3.SchemaObject;
    expect(windows.properties?.windows).toMatchObject({
      items: { $ref: '#/components/schemas/WindowResult' },
    });
  });

  it('ingest bodies are typed: an array of events or labels, or one alone', () => {
    for (const [path, item] of [
      ['/api/v1/events', 'PredictionEvent'],
      ['/api/v1/labels', 'LabelEvent'],
    ] as const) {
      const op = doc.paths[path]!.post!;
      const body = op.requestBody as OpenAPIV3.RequestBodyObject;
      expect(body.required).toBe(true);
      const schema = body.content['application/json']!.schema as OpenAPIV3.SchemaObject;
      const itemRef = { $ref: `#/components/schemas/${item}` };
      expect(schema.anyOf).toEqual([{ type: 'array', items: itemRef, maxItems: 100_000 }, itemRef]);
      expect(json202(op)).toEqual({ $ref: '#/components/schemas/IngestReport' });
      expect(op.parameters).toEqual([
        expect.objectContaining({ in: 'header', name: 'idempotency-key', required: false }),
      ]);
    }
    const event = doc.components!.schemas!.PredictionEvent as OpenAPIV3.SchemaObject;
    expect(event.required).toEqual(['model', 'version', 'id', 'ts', 'features']);
    expect(event.properties?.ts).toEqual({ $ref: '#/components/schemas/Timestamp' });
    const label = doc.components!.schemas!.LabelEvent as OpenAPIV3.SchemaObject;
    expect(label.required).toEqual(['model', 'id', 'label']);
  });

  it('the documented item schemas accept every item the decoder accepts (hostile catalogue)', () => {
    const validate = itemValidators();
    let checked = 0;
    for (const c of [...PREDICTION_CASES, ...LABEL_CASES]) {
      if (c.array !== 'accepted') continue;
      const text = c.make({ ts: T, id: `id-${checked}` });
      const item = JSON.parse(typeof text === 'string' ? text : text.toString('utf8')) as unknown;
      const v = c.kind === 'prediction' ? validate.prediction : validate.label;
      expect(v(item), `${c.name}: ${JSON.stringify(v.errors)}`).toBe(true);
      checked++;
    }
    expect(checked).toBeGreaterThan(20);
  });

  it('the documented item schemas state the limits the decoder applies', () => {
    const { prediction, label } = itemValidators();
    const event = {
      model: 'm',
      version: '1',
      id: 'p-1',
      ts: '2026-11-22T10:00:00Z',
      features: { x: 1.5, c: 'EU', gone: null, flag: true },
      prediction: 0.3,
    };
    expect(prediction(event)).toBe(true);
    expect(prediction({ ...event, version: 3, id: 12345, ts: T })).toBe(true);
    const refused: Array<[string, Record<string, unknown>]> = [
      ['no ts', { ...event, ts: undefined }],
      ['no features', { ...event, features: undefined }],
      ['model too long', { ...event, model: 'm'.repeat(65) }],
      ['version too long', { ...event, version: 'v'.repeat(129) }],
      ['id too long', { ...event, id: 'i'.repeat(513) }],
      ['empty id', { ...event, id: '' }],
      ['id past 2^53', { ...event, id: 2 ** 53 }],
      ['epoch seconds', { ...event, ts: T / 1000 }],
      ['after 2299', { ...event, ts: Date.UTC(2300, 0, 1) }],
      ['no zone', { ...event, ts: '2026-11-22T10:00:00' }],
      ['feature an object', { ...event, features: { x: { v: 1 } } }],
      ['features an array', { ...event, features: [1] }],
    ];
    for (const [what, item] of refused) {
      const clean = JSON.parse(JSON.stringify(item)) as unknown;
      expect(prediction(clean), what).toBe(false);
    }
    expect(label({ model: 'm', id: 'p-1', label: 1 })).toBe(true);
    expect(label({ model: 'm', id: 'p-1', label: 'yes', ts: T })).toBe(true);
    expect(label({ model: 'm', id: 'p-1' })).toBe(false);
    expect(label({ model: 'm', id: 'p-1', label: [1] })).toBe(false);
  });

  it('the decoder stays the validator: an item breaking the documented schema is rejected alone, never its batch', async () => {
    const ok = {
      model: 'm',
      version: '1',
      id: 'ok-1',
      ts: T,
      features: { x: 1, c: 'EU' },
      prediction: 0.5,
    };
    const res = await daemon.app.inject({
      method: 'POST',
      url: '/api/v1/events',
      headers: { 'content-type': 'application/json' },
      payload: JSON.stringify([ok, { ...ok, id: 'bad-1', ts: undefined }, { ...ok, id: 7 }]),
    });
    expect(res.statusCode).toBe(202);
    expect(res.json()).toEqual({
      accepted: 2,
      rejected: 1,
      errors: [{ index: 1, reason: 'missing_field', message: 'missing required field "ts"' }],
    });
    // Stored as sent: the framework coerced nothing (a numeric id stays the id "7").
    const found = await daemon.app.inject({ method: 'GET', url: '/api/v1/predictions?id=7' });
    expect(found.statusCode).toBe(200);
    // A body refused whole is an Error, as the 400 response documents.
    const empty = await daemon.app.inject({
      method: 'POST',
      url: '/api/v1/labels',
      headers: { 'content-type': 'application/json' },
      payload: '7',
    });
    expect(empty.statusCode).toBe(400);
    expect(empty.json()).toMatchObject({ code: 'DRIFTD_ERR_BAD_BODY' });
  });
});

describe('typed responses drop nothing the store gives (real chDB, inject)', () => {
  // fastify serializes a response by its schema and drops the fields the schema does not
  // list: a field added to a store record must be added to its response schema too.
  let dir: string;
  let daemon: Daemon;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'driftd-openapi-fields-'));
    const config = validateConfig(
      { dataDir: dir, server: { host: '127.0.0.1', port: 0 }, logLevel: 'silent', models: [MODEL] },
      { env: {} },
    );
    daemon = createDaemon(config, { listen: false });
    await daemon.start();
    const rows = Array.from({ length: 200 }, (_, i) => ({
      model: 'm',
      version: '1',
      id: `b-${i}`,
      ts: T - 3_600_000,
      features: { x: i % 17, c: ['EU', 'US'][i % 2] },
      prediction: (i % 10) / 10,
    }));
    await daemon.store.saveBaseline(buildProfileFromRows(config.models[0]!, '1', rows).profile);
  });
  afterAll(async () => {
    await daemon?.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('baselines in the model listing, and the audit record, carry every field of the store record', async () => {
    const [stored] = await daemon.store.listBaselines();
    const models = (await daemon.app.inject({ method: 'GET', url: '/api/v1/models' })).json() as {
      models: Array<{ baselines: Array<Record<string, unknown>> }>;
    };
    const listed = models.models[0]!.baselines[0]!;
    expect(Object.keys(listed).sort()).toEqual(Object.keys(stored!).sort());

    const event = {
      model: 'm',
      version: '1',
      id: 'a-1',
      ts: T,
      features: { x: 1, c: 'EU' },
      prediction: 0.5,
    };
    const post = (url: string, payload: unknown) =>
      daemon.app.inject({
        method: 'POST',
        url,
        headers: { 'content-type': 'application/json' },
        payload: JSON.stringify(payload),
      });
    expect((await post('/api/v1/events', [event])).statusCode).toBe(202);
    expect((await post('/api/v1/labels', [{ model: 'm', id: 'a-1', label: 1 }])).statusCode).toBe(
      202,
    );
    const record = (await daemon.store.getPrediction('a-1', { model: 'm' }))!;
    const audit = (
      await daemon.app.inject({ method: 'GET', url: '/api/v1/predictions/a-1' })
    ).json() as Record<string, Record<string, unknown>>;
    expect(Object.keys(audit).sort()).toEqual([...Object.keys(record), 'windows'].sort());
    expect(Object.keys(audit.event!).sort()).toEqual(Object.keys(record.event).sort());
    expect(Object.keys(audit.label!).sort()).toEqual(Object.keys(record.label!).sort());
    expect(audit.event).toMatchObject({ features: event.features, prediction: 0.5 });
  });
});

function json202(op: OpenAPIV3.OperationObject) {
  return (op.responses['202'] as OpenAPIV3.ResponseObject).content?.['application/json']?.schema;
}
