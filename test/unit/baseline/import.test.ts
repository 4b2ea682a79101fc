import { once } from 'node:events';
import { appendFileSync, createWriteStream } from 'node:fs';
import { copyFile, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import v8 from 'node:v8';
import vm from 'node:vm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type BaselineProgress, importBaseline } from '../../../src/baseline/import.js';
import { buildProfileFromRows, EDGE_SAMPLE_MIN } from '../../../src/baseline/profile.js';
import { defaultAlerts } from '../../../src/config/alerts.js';
import type { FeatureConfig, ModelConfig } from '../../../src/config/types.js';
import { BaselineError } from '../../../src/errors.js';
import type { CategoricalProfile, NumericProfile } from '../../../src/types.js';

const fixtures = resolve(import.meta.dirname, '../../fixtures/baseline');

function model(
  features: [string, 'numeric' | 'categorical'][],
  drift: Partial<ModelConfig['drift']> = {},
): ModelConfig {
  return {
    id: 'credit-risk',
    task: 'binary-classification',
    features: features.map(
      ([name, type]): FeatureConfig => ({ name, type, test: null, threshold: null }),
    ),
    prediction: { field: 'prediction', type: 'numeric' },
    label: { field: 'label', positive: 1, threshold: 0.5 },
    windows: { sizes: [{ label: '5m', ms: 300_000 }], allowedLatenessMs: 0, idleTimeoutMs: 0 },
    versions: { allow: null, maxActive: 10, baselineFallback: 'none' },
    drift: {
      minWindowSize: 100,
      shareThreshold: 0.5,
      fdr: 0.05,
      bins: 100,
      psiBuckets: 10,
      psiThreshold: 0.2,
      topCategories: 5,
      sampleSize: 1000,
      ...drift,
    },
    piiFields: [],
    alerts: defaultAlerts('binary-classification'),
  };
}

const credit = model([
  ['income', 'numeric'],
  ['age', 'numeric'],
  ['region', 'categorical'],
  ['segment', 'categorical'],
]);

const num = (p: unknown) => p as NumericProfile;
const cat = (p: unknown) => p as CategoricalProfile;

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'driftd-import-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('importBaseline: CSV', () => {
  it('profiles the valid rows and reports each bad row with its line', async () => {
    const file = join(fixtures, 'small.csv');
    const { profile, report } = await importBaseline({
      model: credit,
      version: '3',
      file,
      now: () => 1_700_000_000_000,
    });
    expect(report.badRows.first.map((b) => [b.line, b.field, b.reason])).toEqual([
      [5, 'income', 'not-a-number'],
      [6, 'age', 'nan'],
      [8, 'income', 'non-finite'],
      [11, null, 'field-count'],
    ]);
    expect(report).toMatchObject({ format: 'csv', rows: 7, records: 11, blankLines: 1 });
    expect(profile).toMatchObject({
      model: 'credit-risk',
      version: '3',
      rowCount: 7,
      badRows: 4,
      createdAt: 1_700_000_000_000,
      source: file,
    });
    const income = num(profile.features.income);
    expect(income.summary).toMatchObject({ count: 6, min: 39000, max: 70000 });
    expect(income.summary.mean).toBeCloseTo(
      (52000 + 61000.5 + 70000 + 39000 + 58000 + 53000) / 6,
      9,
    );
    expect(income.missing).toBe(1);
    expect(income.counts.reduce((a, b) => a + b, 0)).toBe(6);
    expect(num(profile.features.age).summary.count).toBe(7);
    expect(cat(profile.features.region)).toMatchObject({
      categories: ['US', 'EU', 'E"U'],
      counts: [3, 2, 1],
      other: 0,
      missing: 1,
      distinct: 3,
    });
    // Quoted commas and a quoted line break are part of the value.
    expect(cat(profile.features.segment)).toMatchObject({
      categories: ['retail', 'corporate', 'multi\nline', 'retail, small'],
      counts: [3, 2, 1, 1],
    });
    expect(num(profile.prediction).summary.count).toBe(6);
    expect(num(profile.prediction).missing).toBe(1);
  });

  it('reads CRLF files with quoted CRLFs inside fields', async () => {
    const file = join(dir, 'crlf.csv');
    await writeFile(
      file,
      'income,age,region,segment,prediction\r\n1,2,"EU","a\r\nb",0.5\r\n3,x,US,b,0.1\r\n5,6,US,b,\r\n',
    );
    const { profile, report } = await importBaseline({ model: credit, version: '1', file });
    expect(profile.rowCount).toBe(2);
    expect(report.badRows.first).toEqual([
      { line: 4, field: 'age', reason: 'not-a-number', message: 'not a number: "x"' },
    ]);
    expect(cat(profile.features.segment).categories).toEqual(['a\r\nb', 'b']);
  });

  it('gives the same id for the same bytes anywhere, another id for other bytes', async () => {
    const a = join(fixtures, 'small.csv');
    const b = join(dir, 'copy.csv');
    await copyFile(a, b);
    const first = (await importBaseline({ model: credit, version: '3', file: a })).profile;
    const copy = (await importBaseline({ model: credit, version: '3', file: b })).profile;
    expect(copy.id).toBe(first.id);
    expect(copy.hash).toBe(first.hash);
    expect({ ...copy, source: '', createdAt: 0 }).toEqual({ ...first, source: '', createdAt: 0 });

    const c = join(dir, 'changed.csv');
    await writeFile(c, (await readFile(a, 'utf8')).replace('52000', '52001'));
    const changed = (await importBaseline({ model: credit, version: '3', file: c })).profile;
    expect(changed.id).not.toBe(first.id);
    const otherVersion = (await importBaseline({ model: credit, version: '4', file: a })).profile;
    expect(otherVersion.id).not.toBe(first.id);
  });

  it('fails naming the file when a configured feature column is absent', async () => {
    const file = join(fixtures, 'missing-column.csv');
    const err = await importBaseline({ model: credit, version: '1', file }).catch(
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(BaselineError);
    expect((err as BaselineError).code).toBe('DRIFTD_ERR_BASELINE');
    expect((err as Error).message).toMatch(
      /missing-column\.csv: the CSV header has no column "age"/,
    );
  });

  it('fails naming the file when no row is valid', async () => {
    const file = join(fixtures, 'all-bad.csv');
    await expect(importBaseline({ model: credit, version: '1', file })).rejects.toThrow(
      /all-bad\.csv: no valid rows \(2 bad rows\)/,
    );
  });

  it('has no prediction profile when the file has no prediction column', async () => {
    const file = join(fixtures, 'no-prediction.csv');
    const { profile, report } = await importBaseline({ model: credit, version: '1', file });
    expect(profile.prediction).toBeNull();
    expect(report.predictionAbsent).toBe(true);
  });

  it('fails when the file changes between the two passes', async () => {
    const file = join(dir, 'growing.csv');
    await copyFile(join(fixtures, 'small.csv'), file);
    let appended = false;
    const run = importBaseline({
      model: credit,
      version: '1',
      file,
      onProgress: (p) => {
        if (p.pass === 1 && !appended) {
          appended = true;
          appendFileSync(file, '12,1,2,EU,retail,0.5\n');
        }
      },
    });
    await expect(run).rejects.toThrow(/growing\.csv: the file changed during the import/);
  });
});

describe('importBaseline: JSONL', () => {
  it('reads features nested or top-level and reports bad lines', async () => {
    const file = join(fixtures, 'small.jsonl');
    const { profile, report } = await importBaseline({ model: credit, version: '1', file });
    expect(report.badRows.first.map((b) => [b.line, b.field, b.reason])).toEqual([
      [4, 'income', 'not-a-number'],
      [5, null, 'invalid-json'],
      [6, null, 'not-an-object'],
      [7, 'income', 'missing-field'],
      [8, 'age', 'wrong-type'],
      [10, 'region', 'wrong-type'],
    ]);
    expect(report).toMatchObject({ format: 'jsonl', rows: 4, blankLines: 1 });
    expect(num(profile.features.income).summary).toMatchObject({
      count: 3,
      min: 47000,
      max: 61000,
    });
    expect(num(profile.features.income).missing).toBe(1);
    expect(cat(profile.features.region)).toMatchObject({
      categories: ['EU', 'US'],
      counts: [3, 1],
    });
    expect(num(profile.prediction).summary.count).toBe(3);
    expect(num(profile.prediction).missing).toBe(1);
  });
});

/** Writes `rows` rows as CSV and JSONL; returns the paths and the rows as objects. */
async function writeDataset(name: string, rows: number, seed: number) {
  let s = seed;
  const rand = () => {
    s = (s + 0x6d2b79f5) | 0;
    let t = Math.imul(s ^ (s >>> 15), 1 | s);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const csv = createWriteStream(join(dir, `${name}.csv`));
  csv.write('income,age,region,segment,prediction\n');
  const lines: string[] = [];
  for (let i = 0; i < rows; i++) {
    const income = rand() < 0.02 ? '' : (Math.exp(9 + 2 * rand()) | 0).toString();
    const age = (18 + rand() * 60).toFixed(1);
    const region = ['EU', 'US', 'APAC', 'LATAM'][Math.floor(rand() ** 2 * 4)]!;
    const segment = `s${Math.floor(rand() * 1e6)}`; // high cardinality
    lines.push(`${income},${age},${region},${segment},${rand().toFixed(4)}`);
    if (lines.length === 5000) {
      if (!csv.write(`${lines.join('\n')}\n`)) await once(csv, 'drain');
      lines.length = 0;
    }
  }
  csv.end(lines.length > 0 ? `${lines.join('\n')}\n` : '');
  await once(csv, 'finish');
  return join(dir, `${name}.csv`);
}

describe('importBaseline: consistency', () => {
  it('gives the same profile from CSV, JSONL and in-memory rows of the same data', async () => {
    const file = await writeDataset('same', 3000, 5);
    const text = await readFile(file, 'utf8');
    const rows = text
      .trim()
      .split('\n')
      .slice(1)
      .map((line) => {
        const [income, age, region, segment, prediction] = line.split(',');
        return {
          features: {
            income: income === '' ? null : Number(income),
            age: Number(age),
            region,
            segment,
          },
          prediction: Number(prediction),
        };
      });
    const jsonl = join(dir, 'same.jsonl');
    await writeFile(jsonl, rows.map((r) => JSON.stringify(r)).join('\n'));
    const fromCsv = (await importBaseline({ model: credit, version: '1', file })).profile;
    const fromJsonl = (await importBaseline({ model: credit, version: '1', file: jsonl })).profile;
    const fromRows = buildProfileFromRows(credit, '1', rows).profile;
    expect(fromJsonl.features).toEqual(fromCsv.features);
    expect(fromJsonl.prediction).toEqual(fromCsv.prediction);
    expect(fromRows.features).toEqual(fromCsv.features);
    expect(fromJsonl.id).not.toBe(fromCsv.id); // other bytes
  });

  it('builds the same segment profiles from a file as from in-memory rows (models[].segments)', async () => {
    const segmented: ModelConfig = { ...credit, segments: { fields: ['region'], maxPerField: 2 } };
    const file = await writeDataset('segments', 3000, 7);
    const text = await readFile(file, 'utf8');
    const rows = text
      .trim()
      .split('\n')
      .slice(1)
      .map((line) => {
        const [income, age, region, segment, prediction] = line.split(',');
        return {
          features: {
            income: income === '' ? null : Number(income),
            age: Number(age),
            region,
            segment,
          },
          prediction: Number(prediction),
        };
      });
    const fromCsv = (await importBaseline({ model: segmented, version: '1', file })).profile;
    const fromRows = buildProfileFromRows(segmented, '1', rows).profile;
    const region = fromCsv.segments?.region;
    expect(region?.values).toHaveLength(2);
    expect(Object.keys(region?.profiles ?? {}).sort()).toEqual(
      [...(region?.values ?? []), '__other__'].sort(),
    );
    expect(fromRows.segments).toEqual(fromCsv.segments);
    // The whole baseline is unchanged by the segments; its id is not (the spec names them).
    const plain = (await importBaseline({ model: credit, version: '1', file })).profile;
    expect(fromCsv.features).toEqual(plain.features);
    expect(fromCsv.id).not.toBe(plain.id);
  });

  it('reports progress over both passes, ending at 1', async () => {
    const file = await writeDataset('progress', 60_000, 9);
    const seen: BaselineProgress[] = [];
    await importBaseline({ model: credit, version: '1', file, onProgress: (p) => seen.push(p) });
    expect(seen.length).toBeGreaterThanOrEqual(4);
    expect(seen[0]?.pass).toBe(1);
    expect(seen.at(-1)).toMatchObject({ pass: 2, fraction: 1 });
    for (let i = 1; i < seen.length; i++) {
      expect(seen[i]!.fraction).toBeGreaterThanOrEqual(seen[i - 1]!.fraction);
    }
    const endOfPass1 = seen.filter((p) => p.pass === 1).at(-1)!;
    expect(endOfPass1.fraction).toBe(0.5);
    expect(endOfPass1.bytesRead).toBe(endOfPass1.totalBytes);
  });
});

describe('importBaseline: streaming', () => {
  it('retains the same memory for a 110k-row and a 300k-row file', async () => {
    v8.setFlagsFromString('--expose-gc');
    const gc = vm.runInNewContext('gc') as () => void;
    const m = model(
      [
        ['income', 'numeric'],
        ['age', 'numeric'],
        ['region', 'categorical'],
        ['segment', 'categorical'],
      ],
      { topCategories: 20 },
    );
    // The JS heap, where rows, strings and maps would pile up if anything were kept. The
    // reservoirs are typed arrays (off-heap), allocated once at their fixed size, and checked
    // through the state sizes below; read buffers make off-heap figures too noisy to compare.
    const retained = () => process.memoryUsage().heapUsed;
    async function peakRetained(file: string) {
      gc();
      const before = retained();
      let peak = 0;
      const { report } = await importBaseline({
        model: m,
        version: '1',
        file,
        onProgress: () => {
          // After every chunk, a full GC leaves only what the import really holds.
          gc();
          peak = Math.max(peak, retained() - before);
        },
      });
      return { peak, report };
    }
    // Enough rows that every reservoir is full (income has 2% missing values).
    const small = await writeDataset('stream-110k', 1.1 * EDGE_SAMPLE_MIN, 1);
    const large = await writeDataset('stream-300k', 3 * EDGE_SAMPLE_MIN, 2);
    const a = await peakRetained(small);
    const b = await peakRetained(large);

    expect(b.report.rows).toBe(300_000);
    // Pass-1 state is the same size: full reservoirs, capped categorical tracking.
    expect(b.report.state.reservoirValues).toBe(a.report.state.reservoirValues);
    expect(b.report.state.reservoirValues).toBe(3 * EDGE_SAMPLE_MIN);
    expect(b.report.state.candidateKeys).toBeLessThanOrEqual(2 * 10 * 20);
    expect(b.report.state.distinctKeys).toBeLessThanOrEqual(10_000);
    // Keeping the 190k extra rows as JS values would take tens of MB (5 values per row).
    expect(b.peak - a.peak).toBeLessThan(2 * 1024 * 1024);
    // The whole retained heap stays small: categorical tracking, one read chunk as text.
    expect(b.peak).toBeLessThan(16 * 1024 * 1024);
  }, 120_000);
});
