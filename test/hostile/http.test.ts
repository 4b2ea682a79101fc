/**
 * Hostile input over HTTP: a daemon on the real embedded store, listening on 127.0.0.1, fed
 * through real sockets. Every case of cases.ts alone among valid neighbours (NDJSON and JSON
 * array bodies, predictions and labels), body-level garbage, then a flood of > 100 000 mixed
 * items into one model while another keeps its results flowing. Asserted for each case by
 * name: no 5xx; each invalid item is in the per-item error list with its reason; the valid
 * items of a mixed batch are accepted and counted into their windows exactly; /metrics series
 * and heap stay under the README's bound.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { validateConfig } from '../../src/config/index.js';
import { createDaemon, type Daemon } from '../../src/daemon.js';
import {
  active,
  batch,
  CALM,
  expected,
  FLOOD,
  type Generated,
  type ItemCase,
  isAccepted,
  LABEL_CASES,
  type Outcome,
  PREDICTION_CASES,
  prediction,
} from './cases.js';
import {
  describeOutcome,
  MAX_ACTIVE,
  MINUTE,
  Mismatches,
  malformedLines,
  metricValue,
  modelsConfig,
  reasonMatches,
  SERIES_PER_MODEL,
  saveBaselines,
  seriesCount,
  storedCounts,
  T0,
  tallyWindows,
} from './setup.js';

interface Report {
  accepted: number;
  rejected: number;
  errors: Array<{ index: number; reason: string; message: string }>;
}

/** Flood: batches × items per batch (NDJSON, every 5th a JSON array), then label batches. */
const PREDICTIONS = active(PREDICTION_CASES);
const LABELS = active(LABEL_CASES);
const FLOOD_BATCHES = 50;
const FLOOD_SIZE = 2000;
const LABEL_BATCHES = 10;
const LABEL_SIZE = 1000;
const CALM_SIZE = 200;
/** Where a batch that failed whole is reported (the single-case tests name the case). */
const WHOLE_BATCH = '(a whole batch)';
/** Event time covered by one flood batch (and one calm round). */
const STEP = 20_000;

describe('hostile input over HTTP (real sockets, real embedded store)', () => {
  let dir: string;
  /** Accepted items of the late case sent (FLOOD's driftd_events_total{result="late"}). */
  let lateSent = 0;
  let daemon: Daemon;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'driftd-hostile-http-'));
    const config = validateConfig(
      {
        dataDir: dir,
        server: { host: '127.0.0.1', port: 0, bodyLimitBytes: 64 * 1024 * 1024 },
        logLevel: 'silent',
        models: modelsConfig(),
      },
      { env: {} },
    );
    daemon = createDaemon(config, { tickMs: 100 });
    await daemon.start();
    await saveBaselines(config, daemon.store);
    await daemon.pipeline.refreshBaselines();
  }, 120_000);

  afterAll(async () => {
    await daemon?.close();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  async function post(
    url: string,
    body: Buffer | string,
    contentType: string | undefined,
    extra: Record<string, string> = {},
  ): Promise<{ status: number; text: string }> {
    const res = await fetch(`${daemon.url}${url}`, {
      method: 'POST',
      headers: { ...(contentType ? { 'content-type': contentType } : {}), ...extra },
      body,
    });
    return { status: res.status, text: await res.text() };
  }

  const ndjson = (items: Generated[]) =>
    Buffer.concat(items.flatMap((g) => [g.bytes, Buffer.from('\n')]));
  const jsonArray = (items: Generated[]) =>
    Buffer.concat([
      Buffer.from('['),
      ...items.flatMap((g, k) => (k === 0 ? [g.bytes] : [Buffer.from(','), g.bytes])),
      Buffer.from(']'),
    ]);

  /**
   * Posts `items` as one batch and checks the answer item by item against each case's outcome
   * on `form`, into `mm`. Returns the outcomes (for window tallies).
   */
  async function postBatch(
    items: Generated[],
    form: 'ndjson' | 'array',
    kind: 'prediction' | 'label',
    mm: Mismatches,
    label: string,
  ): Promise<Array<{ g: Generated; outcome: Outcome }>> {
    const url = kind === 'prediction' ? '/api/v1/events' : '/api/v1/labels';
    const res =
      form === 'ndjson'
        ? await post(url, ndjson(items), 'application/x-ndjson')
        : await post(url, jsonArray(items), 'application/json');
    const outcomes = items.map((g) => ({ g, outcome: expected(g, form) }));
    for (const { g } of outcomes) mm.count(g.c.name);
    const cases = [...new Set(items.map((g) => g.c.name))];
    if (res.status >= 500 || (res.status !== 202 && res.status !== 400)) {
      // One entry for the batch, not one per case in it: the single-case tests say which one.
      mm.add(
        WHOLE_BATCH,
        `${label}: answered ${res.status} ${res.text.slice(0, 160)} (heavy cases in it: ${items
          .filter((g) => g.c.heavy)
          .map((g) => g.c.name)
          .join('; ')})`,
      );
      mm.count(WHOLE_BATCH);
      // A failed request is counted zero times: none of its items is expected in a window.
      return outcomes.map(({ g }) => ({ g, outcome: { reason: `batch answered ${res.status}` } }));
    }
    const report = JSON.parse(res.text) as Report;
    lateSent += outcomes.filter((o) => o.g.c.late && isAccepted(o.outcome)).length;
    const errorAt = new Map(report.errors.map((e) => [e.index, e]));
    const wantAccepted = outcomes.filter((o) => isAccepted(o.outcome)).length;
    if (report.accepted !== wantAccepted || report.rejected !== items.length - wantAccepted) {
      // Name the cases that disagree below; this line only if none does.
      const named = outcomes.some(
        ({ outcome }, k) => !reasonMatches(outcome, errorAt.get(k)?.reason),
      );
      if (!named) {
        mm.add(
          cases[0]!,
          `${label}: accepted ${report.accepted}/rejected ${report.rejected}, expected ${wantAccepted}/${items.length - wantAccepted}`,
        );
      }
    }
    outcomes.forEach(({ g, outcome }, k) => {
      const e = errorAt.get(k);
      if (!reasonMatches(outcome, e?.reason)) {
        mm.add(
          g.c.name,
          `${label} item ${k}: expected ${describeOutcome(outcome)}, got ${e ? `rejected (${e.reason}: ${e.message.slice(0, 120)})` : 'accepted'}`,
        );
      } else if (e && e.message.length === 0) {
        mm.add(g.c.name, `${label} item ${k}: rejected with an empty message`);
      }
    });
    return outcomes;
  }

  function assertCases(mm: Mismatches) {
    for (const [name, problems] of mm.entries()) {
      expect.soft(problems, `case "${name}"`).toEqual([]);
    }
  }

  /** Before the flood: each case alone between two plain events, so a failure names one case. */
  let matrixTs = T0 - 2 * 24 * 3_600_000;
  const single = (cases: readonly ItemCase[], form: 'ndjson' | 'array') =>
    cases.filter((c) => c[form] !== null);

  for (const form of ['ndjson', 'array'] as const) {
    it(`each prediction case alone among valid neighbours (${form} body)`, async () => {
      const mm = new Mismatches();
      for (const [k, c] of single(PREDICTIONS, form).entries()) {
        const plain = PREDICTIONS[0]!;
        const items: Generated[] = [plain, c, plain].map((cc, j) => {
          const item = { id: `m-${form}-${k}-${j}`, ts: matrixTs++ };
          const made = cc.make(item);
          return { c: cc, item, bytes: typeof made === 'string' ? Buffer.from(made) : made };
        });
        await postBatch(items, form, 'prediction', mm, `${form} matrix`);
      }
      assertCases(mm);
    }, 60_000);

    it(`each label case alone among valid neighbours (${form} body)`, async () => {
      const mm = new Mismatches();
      for (const [k, c] of single(LABELS, form).entries()) {
        const items: Generated[] = [LABELS[0]!, c, LABELS[0]!].map((cc, j) => {
          const item = { id: `l-${form}-${k}-${j}`, ts: matrixTs++ };
          const made = cc.make(item);
          return { c: cc, item, bytes: typeof made === 'string' ? Buffer.from(made) : made };
        });
        await postBatch(items, form, 'label', mm, `${form} label matrix`);
      }
      assertCases(mm);
    }, 60_000);
  }

  it('body-level garbage answers 4xx with a code and the reason, never 5xx', async () => {
    // After the single-case tests' times and before the flood's: the accepted ones are not late.
    const one = JSON.stringify(prediction({ id: 'body-1', ts: T0 - 36 * 3_600_000 }));
    const deep = (n: number) => '['.repeat(n) + ']'.repeat(n);
    const cases: Array<{
      name: string;
      url?: string;
      body: string | Buffer;
      type?: string;
      headers?: Record<string, string>;
      status: number | number[];
      code?: string;
    }> = [
      {
        name: 'invalid JSON',
        body: '[{"model":',
        type: 'application/json',
        status: 400,
        code: 'DRIFTD_ERR_INVALID_JSON',
      },
      {
        name: 'a NaN literal',
        body: '[{"x":NaN}]',
        type: 'application/json',
        status: 400,
        code: 'DRIFTD_ERR_INVALID_JSON',
      },
      {
        name: 'empty body',
        body: '',
        type: 'application/json',
        status: 400,
        code: 'DRIFTD_ERR_EMPTY_BODY',
      },
      {
        name: 'whitespace body',
        body: ' \n\t ',
        type: 'application/json',
        status: 400,
        code: 'DRIFTD_ERR_EMPTY_BODY',
      },
      {
        name: 'a lone byte-order mark',
        body: '\uFEFF',
        type: 'application/json',
        status: 400,
        code: 'DRIFTD_ERR_EMPTY_BODY',
      },
      {
        name: 'null',
        body: 'null',
        type: 'application/json',
        status: 400,
        code: 'DRIFTD_ERR_BAD_BODY',
      },
      {
        name: 'a bare number',
        body: '1e400',
        type: 'application/json',
        status: 400,
        code: 'DRIFTD_ERR_BAD_BODY',
      },
      {
        name: 'a bare string',
        body: '"events"',
        type: 'application/json',
        status: 400,
        code: 'DRIFTD_ERR_BAD_BODY',
      },
      { name: 'text/plain', body: one, type: 'text/plain', status: 415 },
      { name: 'no content type', body: one, status: [400, 415] },
      {
        name: 'multipart/form-data',
        body: `--x\r\n\r\n${one}\r\n--x--`,
        type: 'multipart/form-data; boundary=x',
        status: 415,
      },
      { name: 'application/xml', body: '<events/>', type: 'application/xml', status: 415 },
      {
        name: 'gzip content-encoding',
        body: one,
        type: 'application/json',
        headers: { 'content-encoding': 'gzip' },
        status: 415,
      },
      {
        name: '"__proto__" key',
        body: `[${one.replace('{', '{"__proto__":{"x":1},')}]`,
        type: 'application/json',
        status: 400,
        code: 'DRIFTD_ERR_FORBIDDEN_KEY',
      },
      {
        name: '"constructor"."prototype" key',
        body: `[${one.replace('{', '{"constructor":{"prototype":{"x":1}},')}]`,
        type: 'application/json',
        status: 400,
        code: 'DRIFTD_ERR_FORBIDDEN_KEY',
      },
      {
        name: '"__proto__" escaped as \\u005f',
        body: `[${one.replace('{', '{"\\u005f_proto__":{"x":1},')}]`,
        type: 'application/json',
        status: 400,
        code: 'DRIFTD_ERR_FORBIDDEN_KEY',
      },
      {
        name: '"__proto__" under 20 000-deep nesting',
        body: `[${one.replace('{', `{"deep":${'{"a":'.repeat(20_000)}{"__proto__":1}${'}'.repeat(20_000)},`)}]`,
        type: 'application/json',
        status: 400,
        code: 'DRIFTD_ERR_FORBIDDEN_KEY',
      },
      { name: '100 000-deep array', body: deep(100_000), type: 'application/json', status: 400 },
      {
        name: '100 000-deep array (NDJSON)',
        body: deep(100_000),
        type: 'application/x-ndjson',
        status: 400,
      },
      {
        name: 'a JSON array of 100 001 items',
        body: `[${'{},'.repeat(100_000)}{}]`,
        type: 'application/json',
        status: 413,
        code: 'DRIFTD_ERR_TOO_MANY_ITEMS',
      },
      {
        name: 'NDJSON of 100 001 lines',
        body: '{}\n'.repeat(100_001),
        type: 'application/x-ndjson',
        status: 413,
        code: 'DRIFTD_ERR_TOO_MANY_ITEMS',
      },
      {
        name: 'a body over server.bodyLimitBytes',
        body: Buffer.alloc(65 * 1024 * 1024, 0x20),
        type: 'application/json',
        status: 413,
        code: 'DRIFTD_ERR_BODY_TOO_LARGE',
      },
      {
        name: 'NDJSON of blank lines only',
        body: '\n\n \r\n\t\n',
        type: 'application/x-ndjson',
        // An empty batch, as `[]` is.
        status: [202, 400],
      },
      {
        name: 'NDJSON body opening with a byte-order mark (one valid event)',
        body: `\uFEFF${one}\n`,
        type: 'application/x-ndjson',
        status: 202,
      },
      {
        name: 'NDJSON of NUL bytes',
        body: Buffer.alloc(1000, 0),
        type: 'application/x-ndjson',
        status: 400,
      },
      {
        name: 'NDJSON of invalid UTF-8',
        body: Buffer.from([0xff, 0xfe, 0x0a, 0xc0, 0xaf, 0x0a]),
        type: 'application/x-ndjson',
        status: 400,
      },
      {
        name: 'JSON body of invalid UTF-8',
        body: Buffer.from([0x5b, 0xff, 0x5d]),
        type: 'application/json',
        status: 400,
        code: 'DRIFTD_ERR_INVALID_UTF8',
      },
      {
        name: 'JSON body with an overlong UTF-8 sequence inside a category',
        body: Buffer.concat([
          Buffer.from(`[${one.replace('"c":"', '"c":"|')}]`.split('|')[0]!),
          Buffer.from([0xc0, 0xaf]),
          Buffer.from(`[${one.replace('"c":"', '"c":"|')}]`.split('|')[1]!),
        ]),
        type: 'application/json',
        status: 400,
        code: 'DRIFTD_ERR_INVALID_UTF8',
      },
      {
        name: 'charset=utf-16 declared',
        body: `[${one}]`,
        type: 'application/json; charset=utf-16',
        status: [202, 400, 415],
      },
      {
        name: 'NDJSON of 100 000 invalid lines',
        body: '{"model":1}\n'.repeat(100_000),
        type: 'application/x-ndjson',
        status: 400,
      },
      {
        name: 'a JSON array of 100 000 empty objects',
        body: `[${'{},'.repeat(99_999)}{}]`,
        type: 'application/json',
        status: 400,
      },
      {
        name: 'NDJSON sent as application/json',
        body: `${one}\n${one}\n`,
        type: 'application/json',
        status: 400,
        code: 'DRIFTD_ERR_INVALID_JSON',
      },
      {
        name: 'latin-1 bytes declared as charset=iso-8859-1',
        body: Buffer.from(`[${one.replace('"c":"', '"c":"caf\u00e9-')}]`, 'latin1'),
        type: 'application/json; charset=iso-8859-1',
        status: [400, 415],
      },
      { name: 'content type in capitals', body: one, type: 'APPLICATION/JSON', status: 202 },
      {
        name: 'NDJSON with charset=utf-8',
        body: `${one}\n`,
        type: 'application/x-ndjson; charset=utf-8',
        status: 202,
      },
      {
        name: 'an Idempotency-Key of 2 000 characters with quotes and separators',
        body: one,
        type: 'application/json',
        headers: { 'idempotency-key': `k "'; ,\\%00${'x'.repeat(2000)}` },
        status: [202, 400],
      },
      {
        name: 'a 100 kB header',
        body: one,
        type: 'application/json',
        headers: { 'x-pad': 'p'.repeat(100_000) },
        status: 431,
      },
      {
        name: 'a garbage Authorization header',
        body: one,
        type: 'application/json',
        headers: { authorization: `Bearer %00%ff ${'a'.repeat(5000)} =` },
        status: [202, 401],
      },
      {
        name: 'labels: invalid JSON',
        url: '/api/v1/labels',
        body: '{',
        type: 'application/json',
        status: 400,
        code: 'DRIFTD_ERR_INVALID_JSON',
      },
      {
        name: 'labels: text/plain',
        url: '/api/v1/labels',
        body: '{}',
        type: 'text/plain',
        status: 415,
      },
      {
        name: 'labels: "__proto__" key',
        url: '/api/v1/labels',
        body: '{"__proto__":{"a":1}}',
        type: 'application/json',
        status: 400,
        code: 'DRIFTD_ERR_FORBIDDEN_KEY',
      },
    ];
    for (const c of cases) {
      const res = await post(c.url ?? '/api/v1/events', c.body, c.type, c.headers);
      const allowed = Array.isArray(c.status) ? c.status : [c.status];
      expect
        .soft(allowed, `body case "${c.name}": status ${res.status} ${res.text.slice(0, 200)}`)
        .toContain(res.status);
      if (res.status >= 400) {
        let body: { code?: string; message?: string; errors?: unknown[] } = {};
        try {
          body = JSON.parse(res.text);
        } catch {}
        // Either an error answer naming the problem, or a per-item report (every line invalid).
        const named =
          (body.code !== undefined && (body.message ?? '').length > 0) ||
          Array.isArray(body.errors);
        expect
          .soft(named, `body case "${c.name}": answer names the problem: ${res.text.slice(0, 200)}`)
          .toBe(true);
        if (c.code) expect.soft(body.code, `body case "${c.name}": code`).toBe(c.code);
      }
    }
    // The daemon still takes events after all that.
    const after = await post('/api/v1/events', one, 'application/json');
    expect(after.status, 'a valid event after the body cases').toBe(202);
  }, 60_000);

  it('an accepted event is found by the id it was sent with, and its label joins it (hostile ids)', async () => {
    const ids = [
      'a/b',
      '%2F',
      'q?x=1#frag',
      ' spaced id ',
      'ünïcødé-東京-😀',
      'nul\u0000byte',
      'tab\there',
      'new\nline',
      'back\\slash',
      `quote'"`,
      '<script>alert(1)</script>',
      'x'.repeat(512),
      '.',
      '..',
    ];
    const ts = T0 - 30 * 3_600_000;
    const lines = ids.map((id, k) =>
      JSON.stringify(prediction({ id, ts: ts + k }, { model: CALM })),
    );
    // An id sent as a JSON number is looked up by its decimal text.
    lines.push(JSON.stringify(prediction({ id: 'n', ts: ts + 99 }, { model: CALM, id: 4242 })));
    const sent = await post('/api/v1/events', lines.join('\n'), 'application/x-ndjson');
    expect(sent.status, sent.text).toBe(202);
    expect(JSON.parse(sent.text).accepted, 'hostile ids accepted').toBe(ids.length + 1);
    const labels = [...ids, '4242'].map((id) =>
      JSON.stringify({ model: CALM, id, ts: ts + 200, label: 1 }),
    );
    const labelled = await post('/api/v1/labels', labels.join('\n'), 'application/x-ndjson');
    expect(labelled.status, labelled.text).toBe(202);
    for (const id of [...ids, '4242']) {
      const what = JSON.stringify(id.slice(0, 40));
      // By path, except '.' and '..': dot segments, which a client resolves away before sending.
      const urls = [`${daemon.url}/api/v1/predictions?id=${encodeURIComponent(id)}&model=${CALM}`];
      if (id !== '.' && id !== '..') {
        urls.push(`${daemon.url}/api/v1/predictions/${encodeURIComponent(id)}?model=${CALM}`);
      }
      for (const url of urls) {
        const how = url.includes('?id=') ? 'query' : 'path';
        const res = await fetch(url);
        const body = (await res.json()) as {
          event?: { id: string };
          label?: { label: number } | null;
        };
        expect.soft(res.status, `lookup of id ${what} by ${how}`).toBe(200);
        expect.soft(body.event?.id, `id ${what} as stored (${how})`).toBe(id);
        expect.soft(body.label?.label, `label of id ${what} (${how})`).toBe(1);
      }
    }
  }, 60_000);

  it(`a flood of ${FLOOD_BATCHES * FLOOD_SIZE + LABEL_BATCHES * LABEL_SIZE} mixed items into one model: every invalid item has its reason, valid ones are counted exactly, the other model keeps its results, series and heap stay bounded`, async () => {
    const started = Date.now();
    const metrics = async () => {
      const res = await fetch(`${daemon.url}/metrics`);
      expect(res.status, '/metrics').toBe(200);
      return res.text();
    };
    // Warm-up: one of every case, so the per-model and per-reason series exist before counting.
    const warm = batch({
      cases: PREDICTIONS,
      on: 'ndjson',
      size: PREDICTIONS.length * 2,
      seed: 1,
      prefix: 'warm',
      from: T0 - 3_600_000,
      span: 1000,
      validShare: 0,
    });
    const warmMm = new Mismatches();
    await postBatch(warm, 'ndjson', 'prediction', warmMm, 'warm-up');
    assertCases(warmMm);
    const seriesBefore = seriesCount(await metrics());
    const heapBefore = process.memoryUsage().heapUsed;

    const mm = new Mismatches();
    const tally = new Map<number, number>();
    const calmSent = new Map<number, number>();
    let calmChecked = 0;
    let items = 0;
    /** Flood batch `b` and CALM's round `b`, posted at once. */
    const round = async (b: number) => {
      const form = b % 5 === 4 ? 'array' : 'ndjson';
      const from = T0 + b * STEP;
      const flood = batch({
        cases: PREDICTIONS,
        on: form,
        size: FLOOD_SIZE,
        seed: 1000 + b,
        prefix: `f${b}`,
        from,
        span: STEP,
        heavyEach: 1,
        // At most ~1 000 invalid items per request: the per-item list is capped there.
        validShare: 0.55,
      });
      const calm = Array.from({ length: CALM_SIZE }, (_, k) =>
        prediction(
          { id: `c${b}-${k}`, ts: from + Math.floor((k * STEP) / CALM_SIZE) },
          { model: CALM },
        ),
      );
      const [outcomes, calmRes] = await Promise.all([
        postBatch(flood, form, 'prediction', mm, `flood batch ${b} (${form})`),
        post('/api/v1/events', JSON.stringify(calm), 'application/json'),
      ]);
      items += flood.length + calm.length;
      tallyWindows(outcomes, tally);
      expect(calmRes.status, `calm batch ${b}`).toBe(202);
      for (const e of calm) {
        const start = Math.floor(Date.parse(e.ts as string) / MINUTE) * MINUTE;
        calmSent.set(start, (calmSent.get(start) ?? 0) + 1);
      }
    };
    // Two rounds at a time: four requests in flight, sharing inserts (group commit). Their
    // event times lie within the allowed lateness of each other.
    for (let b = 1; b < FLOOD_BATCHES; b += 2) {
      await Promise.all([round(b - 1), round(b)]);
      const from = T0 + b * STEP;
      // While the flood goes on, CALM's windows close and their results reach the store:
      // windows ending before the watermark (newest event − 1m lateness) within a few seconds.
      if (b % 10 === 9) {
        const newest = from + Math.floor(((CALM_SIZE - 1) * STEP) / CALM_SIZE);
        const watermark = newest - MINUTE;
        const due = [...calmSent.keys()].filter((s) => s + MINUTE <= watermark);
        const deadline = Date.now() + 10_000;
        let stored = new Map<number, number>();
        while (Date.now() < deadline) {
          stored = await storedCounts(daemon.store, CALM, T0, T0 + 24 * 3_600_000);
          if (due.every((s) => stored.has(s))) break;
          await new Promise((r) => setTimeout(r, 50));
        }
        for (const s of due) {
          expect(
            stored.get(s),
            `CALM window ${new Date(s).toISOString()} during the flood (after batch ${b})`,
          ).toBe(calmSent.get(s));
        }
        calmChecked += due.length;
        expect(
          seriesCount(await metrics()) - seriesBefore,
          `/metrics series after batch ${b}`,
        ).toBeLessThanOrEqual(2 * SERIES_PER_MODEL);
      }
    }
    expect(calmChecked, 'CALM windows checked during the flood').toBeGreaterThan(10);

    // Labels: mixed batches.
    for (let b = 0; b < LABEL_BATCHES; b++) {
      const form = b % 2 ? 'array' : 'ndjson';
      const labels = batch({
        cases: LABELS,
        on: form,
        size: LABEL_SIZE,
        seed: 5000 + b,
        prefix: `fl${b}`,
        from: T0 + b * STEP,
        span: STEP,
        validShare: 0.3,
      });
      await postBatch(labels, form, 'label', mm, `label batch ${b} (${form})`);
      items += labels.length;
    }
    assertCases(mm);

    // Every case of the catalogue went through the flood (heavy ones once per batch).
    for (const c of PREDICTIONS) {
      expect.soft(mm.timesSeen(c.name), `case "${c.name}" in the flood`).toBeGreaterThan(0);
    }

    // Exact counts: every FLOOD window holds exactly the accepted plain events sent for it.
    await daemon.pipeline.flush();
    const stored = await storedCounts(daemon.store, FLOOD, T0, T0 + 24 * 3_600_000);
    expect(Object.fromEntries(stored), 'FLOOD window event counts').toEqual(
      Object.fromEntries(tally),
    );
    const calmStored = await storedCounts(daemon.store, CALM, T0, T0 + 24 * 3_600_000);
    expect(Object.fromEntries(calmStored), 'CALM window event counts').toEqual(
      Object.fromEntries(calmSent),
    );
    expect(
      await metricValue(daemon, 'driftd_events_total', { model: FLOOD, result: 'late' }),
      "FLOOD late events: exactly the late case's",
    ).toBe(lateSent);
    expect(
      await metricValue(daemon, 'driftd_events_total', { model: CALM, result: 'late' }),
      'CALM late events',
    ).toBe(0);

    // Bounds: series (README formula) and heap.
    const text = await metrics();
    expect(seriesCount(text) - seriesBefore, '/metrics series after the flood').toBeLessThanOrEqual(
      2 * SERIES_PER_MODEL,
    );
    expect(malformedLines(text).slice(0, 5), '/metrics lines that do not parse').toEqual([]);
    // Versions from the input were evaluated (FLOOD falls back to the latest baseline), and no
    // more of them have series at once than versions.maxActive.
    const floodResults = await daemon.store.queryDrift({
      model: FLOOD,
      window: '1m',
      from: T0 - 10 * 24 * 3_600_000,
      to: T0 + 24 * 3_600_000,
    });
    expect(
      new Set(floodResults.map((r) => r.version)).size,
      'FLOOD versions with results',
    ).toBeGreaterThan(1);
    const floodVersions = new Set(
      [...text.matchAll(/model="flood",version="((?:[^"\\]|\\.)*)"/g)].map((m) => m[1]),
    );
    expect(floodVersions.size, 'FLOOD versions with series').toBeLessThanOrEqual(MAX_ACTIVE);
    expect(
      new Set([...text.matchAll(/model="([^"]*)"/g)].map((m) => m[1])),
      'model label values',
    ).toEqual(new Set([FLOOD, CALM, 'unknown']));
    expect(process.memoryUsage().heapUsed - heapBefore, 'heap growth').toBeLessThan(
      256 * 1024 * 1024,
    );
    expect(items, 'items sent over HTTP').toBeGreaterThanOrEqual(100_000);
    console.log(
      `hostile HTTP: ${items} items in ${Date.now() - started} ms; heap +${Math.round((process.memoryUsage().heapUsed - heapBefore) / 2 ** 20)} MiB, series +${seriesCount(text) - seriesBefore} (bound ${2 * SERIES_PER_MODEL})`,
    );
  }, 180_000);
});
