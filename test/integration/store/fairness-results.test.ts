/**
 * fairness_results (migration 14), on both drivers: the embedded engine, and the ClickHouse
 * server driver against the STAND-IN HTTP interface (test/helpers/clickhouse-http.ts; no
 * ClickHouse server can run here). Every computation of a window is kept (append-only), the
 * latest one is what `queryFairness` answers, whole and in the attribute's group order, with
 * its lineage; `latestFairness` gives a restart the newest window of each version and size
 * and the disparity verdicts of each protected group, from each window's latest computation.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { evaluateFairness, type FairnessResult } from '../../../src/stats/index.js';
import { createStore } from '../../../src/store/index.js';
import type { FairnessWindowResult, SqlExecutor, Store } from '../../../src/store/types.js';
import { STORE_DRIVERS } from '../../helpers/store-drivers.js';

const T0 = Date.UTC(2026, 10, 22, 10, 0, 0);
const MIN = 60_000;

const DRIVERS = STORE_DRIVERS;

/**
 * The sex attribute of a window: 200 men selected at 50 %, 200 women at `femaleRate`, and
 * `labelled` outcomes per group (groups in the declared order: male, then female).
 */
function sex(femaleRate: number, labelled = 0): FairnessResult {
  const group = (n: number, rate: number) => {
    const selected = Math.round(n * rate);
    const half = Math.floor(labelled / 2);
    return {
      predictions: n,
      selected,
      tp: Math.min(half, selected),
      fn: half - Math.min(half, selected),
      fp: Math.min(labelled - half, selected),
      tn: labelled - half - Math.min(labelled - half, selected),
    };
  };
  return evaluateFairness(
    { kind: 'fairness-counts', groups: { male: group(200, 0.5), female: group(200, femaleRate) } },
    { reference: 'male' },
  );
}

function computation(
  k: number,
  attributes: Record<string, FairnessResult>,
  over: Partial<FairnessWindowResult> = {},
): FairnessWindowResult {
  const start = T0 + k * 5 * MIN;
  return {
    model: 'credit',
    version: '3',
    size: 5 * MIN,
    sizeLabel: '5m',
    start,
    end: start + 5 * MIN,
    attributes,
    writtenAt: start + 6 * MIN,
    driftdVersion: '9.9.9',
    configHash: 'sha256:aaaa',
    ...over,
  };
}

describe.each(DRIVERS)('fairness_results on the $name', (driver) => {
  let dir: string;
  let store: Store;
  let exec: SqlExecutor;
  let stop: () => Promise<void>;

  beforeEach(async () => {
    dir = mkdtempSync(join(tmpdir(), 'driftd-fairness-results-'));
    const opened = await driver.open(dir);
    stop = opened.stop;
    exec = opened.exec;
    store = createStore(
      opened.exec.kind === 'embedded'
        ? { kind: 'embedded', path: dir, rawEventsTtlDays: 30 }
        : {
            kind: 'clickhouse',
            url: 'http://stand-in.invalid',
            database: 'driftd',
            username: 'default',
            password: '',
            requestTimeoutMs: 10_000,
            rawEventsTtlDays: 30,
          },
      { executor: opened.exec },
    );
    await store.migrate();
  });

  afterEach(async () => {
    await store.close();
    await stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('keeps every computation; the latest of each window is answered whole, with its lineage', async () => {
    const atClose = computation(0, { sex: sex(0.2) });
    // Labels arrived: the same window computed again, later, by another build and config.
    const withLabels = computation(
      0,
      { sex: sex(0.2, 100) },
      { writtenAt: T0 + 60 * MIN, driftdVersion: '9.9.10', configHash: 'sha256:bbbb' },
    );
    const next = computation(1, { sex: sex(0.5) });
    await store.insertFairness([atClose]);
    await store.insertFairness([withLabels, next]);

    const got = await store.queryFairness({
      model: 'credit',
      version: '3',
      from: T0,
      to: T0 + 60 * MIN,
      limit: 100,
    });
    expect(got).toEqual([withLabels, next]);
    // The female group is named, in the attribute's order, with counts, ratios and intervals.
    expect(got[0]!.attributes.sex!.groups.map((g) => g.group)).toEqual(['male', 'female']);
    expect(got[0]!.attributes.sex!.groups[1]!.verdict).toBe('disparity');

    // Append-only: both computations of window 0 are stored (2 groups each), nothing replaced.
    const [count] = await exec.query<{ n: string }>(
      `SELECT count() AS n FROM driftd.fairness_results WHERE window_start = fromUnixTimestamp64Milli({t:Int64}, 'UTC') SETTINGS output_format_json_quote_64bit_integers = 1`,
      { t: T0 },
    );
    expect(Number(count!.n)).toBe(4);
    const [engine] = await exec.query<{ engine: string }>(
      `SELECT engine FROM system.tables WHERE database = {db:String} AND name = 'fairness_results'`,
      { db: 'driftd' },
    );
    expect(engine!.engine).toBe('MergeTree');

    // The range, the size and the cap select windows (the newest kept).
    const only = (q: Partial<Parameters<Store['queryFairness']>[0]>) =>
      store.queryFairness({
        model: 'credit',
        version: '3',
        from: T0,
        to: T0 + 60 * MIN,
        limit: 100,
        ...q,
      });
    expect((await only({ from: T0 + 5 * MIN })).map((r) => r.start)).toEqual([T0 + 5 * MIN]);
    expect((await only({ limit: 1 })).map((r) => r.start)).toEqual([T0 + 5 * MIN]);
    expect(await only({ window: '1h' })).toEqual([]);
    expect(await only({ version: '4' })).toEqual([]);
  });

  it('latestFairness: the newest window per version and size, and each group’s disparity run', async () => {
    // Windows 0..4 of version 3: fair, disparity, (too few: no verdict), disparity, disparity.
    const few = evaluateFairness(
      {
        kind: 'fairness-counts',
        groups: {
          male: { predictions: 200, selected: 100, tp: 0, fp: 0, fn: 0, tn: 0 },
          female: { predictions: 5, selected: 0, tp: 0, fp: 0, fn: 0, tn: 0 },
        },
      },
      { reference: 'male' },
    );
    expect(few.groups[1]!.verdict).toBe('insufficient-data');
    await store.insertFairness([
      computation(0, { sex: sex(0.5) }),
      computation(1, { sex: sex(0.2) }),
      computation(2, { sex: few }),
      computation(3, { sex: sex(0.2) }),
      computation(4, { sex: sex(0.5) }),
      // Version 2: one window.
      computation(0, { sex: sex(0.2) }, { version: '2' }),
    ]);
    // Window 4 recomputed later: a disparity now (its latest computation counts).
    await store.insertFairness([computation(4, { sex: sex(0.2) }, { writtenAt: T0 + 90 * MIN })]);
    const q = {
      model: 'credit',
      windows: ['5m', '1h'],
      versions: ['3', '2'],
      history: 64,
      horizon: 1024,
    };
    const latest = await store.latestFairness(q);
    expect(latest.windows.map((w) => `${w.version} ${w.start} ${w.writtenAt}`).sort()).toEqual([
      `2 ${T0} ${T0 + 6 * MIN}`,
      `3 ${T0 + 20 * MIN} ${T0 + 90 * MIN}`,
    ]);
    const female = latest.verdicts.find((v) => v.version === '3' && v.group === 'female');
    expect(female).toEqual({
      version: '3',
      window: '5m',
      attribute: 'sex',
      group: 'female',
      base: 0,
      truncated: false,
      verdicts: [
        { start: T0, drifted: false },
        { start: T0 + 5 * MIN, drifted: true },
        { start: T0 + 15 * MIN, drifted: true },
        { start: T0 + 20 * MIN, drifted: true },
      ],
    });
    // The reference group has no verdict.
    expect(latest.verdicts.some((v) => v.group === 'male')).toBe(false);
    // History: the newest 2 verdicts, and the run before them.
    const short = await store.latestFairness({ ...q, history: 2 });
    const f2 = short.verdicts.find((v) => v.version === '3' && v.group === 'female');
    expect(f2).toMatchObject({ base: 1, truncated: true });
    expect(f2!.verdicts.map((v) => v.start)).toEqual([T0 + 15 * MIN, T0 + 20 * MIN]);
    // Versions not asked for, and a model without results: nothing.
    expect((await store.latestFairness({ ...q, versions: ['7'] })).windows).toEqual([]);
    expect(await store.latestFairness({ ...q, model: 'other' })).toEqual({
      windows: [],
      verdicts: [],
    });
  });

  it('an empty computation writes nothing; a non-finite value round-trips', async () => {
    await store.insertFairness([computation(0, {})]);
    const r = sex(0.2);
    // Worst values a result can hold: nulls and infinities inside intervals.
    r.groups[1]!.ratios['selection-rate'].interval = {
      lower: 0,
      upper: Number.POSITIVE_INFINITY,
    };
    await store.insertFairness([computation(1, { sex: r })]);
    const got = await store.queryFairness({
      model: 'credit',
      version: '3',
      from: T0,
      to: T0 + 60 * MIN,
      limit: 10,
    });
    expect(got.map((w) => w.start)).toEqual([T0 + 5 * MIN]);
    expect(got[0]!.attributes.sex!.groups[1]!.ratios['selection-rate'].interval?.upper).toBe(
      Number.POSITIVE_INFINITY,
    );
  });
});
