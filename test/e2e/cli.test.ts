import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { runCliInProcess } from '../helpers/cli.js';

const cli = runCliInProcess;

describe('driftd CLI (in-process, real embedded store)', () => {
  let dir: string;
  let config: string;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'driftd-cli-'));
    config = join(dir, 'driftd.yaml');
    await writeFile(
      config,
      [
        `dataDir: ${JSON.stringify(join(dir, 'data'))}`,
        'logLevel: silent',
        'models:',
        '  - id: credit-risk',
        '    task: binary-classification',
        '    features:',
        '      - { name: income, type: numeric }',
        '      - { name: age, type: numeric }',
        '      - { name: region, type: categorical }',
        '    windows: { sizes: [1m], allowedLateness: 0s }',
        '    drift: { minWindowSize: 5 }',
      ].join('\n'),
    );
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('config check accepts a valid file and reports every problem of a bad one with its path', async () => {
    const ok = await cli('config', 'check', '--config', config);
    expect(ok.code).toBe(0);
    expect(ok.stdout).toContain('credit-risk (3 features, windows 1m)');
    expect(ok.stdout).toContain('api tokens: open (no tokens)');
    const bad = await cli('config', 'check', '--config', 'test/fixtures/config/many-errors.yaml');
    expect(bad.code).toBe(78);
    expect(bad.stderr).toMatch(/many-errors\.yaml: \d+ problems:/);
    expect(bad.stderr).toMatch(/models\[0\]/);
  });

  it('rejects unknown commands and flags with a one-line reason naming them (exit 2)', async () => {
    const unknown = await cli('frobnicate');
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toBe(
      'driftd: unknown command "frobnicate"; driftd --help lists the commands\n',
    );
    const r = await cli('start', '--bogus');
    expect(r.code).toBe(2);
    expect(r.stderr).toBe(
      'driftd start: unknown option --bogus (driftd start --help lists its options)\n',
    );
    // A flag of another command is not silently ignored either.
    const port = await cli('start', '--config', config, '--port', '23456');
    expect(port.code).toBe(2);
    expect(port.stderr).toContain('unknown option --port');
  });

  it('baseline import stores a content-hashed profile once; list shows it; bad rows are reported', async () => {
    const first = await cli(
      'baseline',
      'import',
      '--config',
      config,
      '--model',
      'credit-risk',
      '--version',
      '3',
      '--file',
      'test/fixtures/baseline/small.csv',
    );
    expect(first.code).toBe(0);
    const id = /baseline (bl_[0-9a-f]{16})/.exec(first.stdout)?.[1];
    expect(id).toBeDefined();
    expect(first.stdout).toMatch(/^stored: baseline/m);
    // A binary classifier's file without a label column: no performance estimate, said so.
    expect(first.stdout).toContain('performance estimate: none (label-absent; 0 rows');
    const again = await cli(
      'baseline',
      'import',
      '--config',
      config,
      '--model',
      'credit-risk',
      '--version',
      '3',
      '--file',
      'test/fixtures/baseline/small.csv',
    );
    expect(again.stdout).toContain(`already stored (same data and parameters): baseline ${id}`);
    const list = await cli('baseline', 'list', '--config', config, '--json');
    const rows = JSON.parse(list.stdout) as Array<{ id: string; version: string }>;
    expect(rows.map((r) => [r.id, r.version])).toEqual([[id, '3']]);
    const bad = await cli(
      'baseline',
      'import',
      '--config',
      config,
      '--model',
      'credit-risk',
      '--version',
      '4',
      '--file',
      'test/fixtures/baseline/all-bad.csv',
    );
    expect(bad.code).toBe(1);
    expect(bad.stderr).toContain('all-bad.csv');
  });

  it('replay feeds a file through the pipeline, names bad lines, and closes the windows', async () => {
    const t0 = Date.parse('2026-11-22T10:00:00Z');
    const lines: string[] = [];
    for (let i = 0; i < 40; i++) {
      lines.push(
        JSON.stringify({
          model: 'credit-risk',
          version: '3',
          id: `r-${i}`,
          ts: new Date(t0 + i * 3000).toISOString(),
          features: { income: 50000 + i * 100, age: 30 + (i % 20), region: i % 2 ? 'EU' : 'US' },
          prediction: 0.5,
        }),
      );
    }
    lines.splice(5, 0, '{not json');
    const file = join(dir, 'events.jsonl');
    await writeFile(file, `${lines.join('\n')}\n`);
    const r = await cli('replay', '--config', config, '--file', file);
    expect(r.stdout).toContain('replay done: 40 events accepted, 1 rejected, 2 windows closed');
    expect(r.stderr).toContain(`${file}:6: invalid_json`);
    expect(r.code).toBe(1);
  });

  it('replay reads a file of many batches in chunks, in file order, naming bad lines by number', async () => {
    // 30 000 events over 10 one-minute windows (~6 MB: several 1 MiB read chunks, six batches,
    // all of them in the pipeline at once). Batches out of order would make events late.
    const t0 = Date.parse('2026-11-23T10:00:00Z');
    const parts: string[] = [];
    for (let i = 0; i < 30_000; i++) {
      const event = JSON.stringify({
        model: 'credit-risk',
        version: '3',
        id: `big-${i}`,
        ts: new Date(t0 + i * 20).toISOString(),
        features: { income: 40000 + (i % 977) * 37, age: 20 + (i % 50), region: `r${i % 7}` },
        prediction: (i % 100) / 100,
        note: 'x'.repeat(i % 300), // lines of varied length, so lines straddle chunk ends
      });
      parts.push(i % 3 === 0 ? `${event}\r` : event); // some CRLF line ends
    }
    parts.splice(12_344, 0, '{"model": broken'); // line 12 345
    parts.splice(20_000, 0, '   '); // a blank line is skipped, and still counted as a line
    parts.splice(25_000, 0, JSON.stringify({ model: 'credit-risk', version: '3', id: 'no-ts' }));
    const file = join(dir, 'big.jsonl');
    await writeFile(file, parts.join('\n')); // no newline after the last line
    const r = await cli('replay', '--config', config, '--file', file);
    expect(r.stdout).toContain('replay done: 30000 events accepted, 2 rejected, 10 windows closed');
    expect(r.stderr).toContain(`${file}:12345: invalid_json`);
    expect(r.stderr).toMatch(
      new RegExp(`${file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}:25001: \\w+`),
    );
    const { loadConfig } = await import('../../src/config/index.js');
    const { createStore } = await import('../../src/store/index.js');
    const store = createStore((await loadConfig({ path: config })).store);
    try {
      await store.migrate();
      const results = await store.queryDrift({
        model: 'credit-risk',
        window: '1m',
        from: t0,
        to: t0 + 10 * 60_000,
      });
      expect(results.map((w) => w.eventCount)).toEqual(Array(10).fill(3000));
      expect(results.map((w) => w.lateCount)).toEqual(Array(10).fill(0));
    } finally {
      await store.close();
    }
  });

  it('a replay that fails halfway (a line over 64 MiB) ends with the error, not waiting on rows held for a larger INSERT', async () => {
    // Two full batches go into the pipeline first; their rows are fewer than one INSERT holds.
    const t0 = Date.parse('2026-11-24T10:00:00Z');
    const parts: string[] = [];
    for (let i = 0; i < 12_000; i++) {
      parts.push(
        JSON.stringify({
          model: 'credit-risk',
          version: '3',
          id: `held-${i}`,
          ts: new Date(t0 + i * 10).toISOString(),
          features: { income: 40000 + (i % 977) * 37, age: 20 + (i % 50), region: 'EU' },
          prediction: 0.5,
        }),
      );
    }
    parts.push('x'.repeat(65 * 1024 * 1024));
    const file = join(dir, 'too-long.jsonl');
    await writeFile(file, `${parts.join('\n')}\n`);
    const r = await cli('replay', '--config', config, '--file', file);
    expect(r.stderr).toContain(`${file}:12001: line longer than`);
    expect(r.code).not.toBe(0);
  }, 60_000);

  it('rules generate and dashboards generate write what Prometheus and Grafana load', async () => {
    const rules = await cli('rules', 'generate', '--config', config);
    expect(rules.code).toBe(0);
    const parsed = parse(rules.stdout) as { groups: Array<{ rules: Array<{ alert?: string }> }> };
    const alerts = parsed.groups.flatMap((g) => g.rules.map((x) => x.alert));
    expect(alerts).toEqual(
      expect.arrayContaining(['DriftdFeatureDrift', 'DriftdDatasetDrift', 'DriftdDown']),
    );
    // The config sets no alerts.runbookBaseUrl: the pages would carry no runbook link.
    expect(rules.stderr).toContain('warning: alerts.runbookBaseUrl is not set');
    const crd = await cli('rules', 'generate', '--config', config, '--format', 'crd');
    expect(crd.stdout).toContain('kind: PrometheusRule');
    const out = join(dir, 'dash');
    const d = await cli('dashboards', 'generate', '--config', config, '--out', out);
    expect(d.code).toBe(0);
    const files = (await readdir(out)).sort();
    expect(files).toEqual(['driftd-fleet.json', 'driftd-model.json', 'driftd-pipeline.json']);
    const model = JSON.parse(await readFile(join(out, 'driftd-model.json'), 'utf8')) as {
      uid: string;
    };
    expect(model.uid).toBe('driftd-model');
  });
});
