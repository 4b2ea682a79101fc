/**
 * The packages as a user gets them: `npm pack`, then `npm install <tarball>` into an empty
 * project, then use what was installed — the `driftd` bin, `driftd/stats` with its TypeScript
 * types, and the lean `@driftd/stats` library, whose installed size is printed and bounded.
 * Installs come from npm's cache (`--prefer-offline`): the project's own install filled it.
 */
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const run = promisify(execFile);
const ROOT = resolve(import.meta.dirname, '../..');
const TSC = join(ROOT, 'node_modules/typescript/bin/tsc');
/**
 * sha256 of the Apache License 2.0 as the ASF publishes it for inclusion in a repository
 * (apache.org/licenses/LICENSE-2.0.txt without its leading blank line: the copy most packages
 * ship, e.g. node_modules/chdb/LICENSE): the whole text, unedited.
 */
const APACHE_2_SHA256 = 'c71d239df91726fc519c6eb72d318ec65820627232b2f796219e87dcf35d0ab4';
const APACHE_2_SECTIONS = [
  'Apache License',
  'Version 2.0, January 2004',
  'TERMS AND CONDITIONS FOR USE, REPRODUCTION, AND DISTRIBUTION',
  '1. Definitions.',
  '2. Grant of Copyright License.',
  '3. Grant of Patent License.',
  '4. Redistribution.',
  '5. Submission of Contributions.',
  '6. Trademarks.',
  '7. Disclaimer of Warranty.',
  '8. Limitation of Liability.',
  '9. Accepting Warranty or Additional Liability.',
  'END OF TERMS AND CONDITIONS',
];

/** The library alone must stay small enough to add to any project (issue: under 5 MB). */
const LIBRARY_LIMIT_BYTES = 5 * 1024 * 1024;

/** Runs a command; a failure's message carries its output (tsc reports on stdout). */
async function sh(cmd: string, args: string[], cwd: string, env: Record<string, string> = {}) {
  try {
    return await run(cmd, args, {
      cwd,
      maxBuffer: 64 * 1024 * 1024,
      env: { ...process.env, ...env },
    });
  } catch (err) {
    const e = err as Error & { stdout?: string; stderr?: string };
    throw new Error(`${e.message}\n${e.stdout ?? ''}${e.stderr ?? ''}`);
  }
}

/** `npm pack` of the package in `dir` into `dest`; returns the tarball's path. */
async function pack(dir: string, dest: string): Promise<string> {
  const { stdout } = await sh('npm', ['pack', '--json', '--pack-destination', dest], dir);
  const [info] = JSON.parse(stdout) as Array<{ filename: string; files: Array<{ path: string }> }>;
  if (!info) throw new Error(`npm pack printed no package: ${stdout}`);
  packed.set(
    dir,
    info.files.map((f) => f.path),
  );
  return join(dest, info.filename);
}
const packed = new Map<string, string[]>();

/** An empty project with `tarball` installed from it. */
async function installInto(name: string, tarball: string): Promise<string> {
  const project = join(work, name);
  await mkdir(project);
  await writeFile(
    join(project, 'package.json'),
    JSON.stringify({ name: `try-${name}`, private: true, type: 'module' }),
  );
  await sh(
    'npm',
    ['install', '--prefer-offline', '--no-audit', '--no-fund', '--no-package-lock', tarball],
    project,
  );
  return project;
}

async function du(path: string): Promise<number> {
  const s = await stat(path);
  if (!s.isDirectory()) return s.size;
  let total = 0;
  for (const entry of await readdir(path)) total += await du(join(path, entry));
  return total;
}

/** A TypeScript file using the stats API, checked by tsc against the installed types only. */
const USE_STATS = (from: string) => `import { ksTest, psi, type KsTestResult } from '${from}';
const r: KsTestResult = ksTest([1, 2, 3, 4, 5], [3, 4, 5, 6, 7]);
export const misuse = () =>
  // @ts-expect-error: the declarations say ksTest takes numbers (unused, so failing, if types were any)
  ksTest(['not'], ['numbers']);
console.log(JSON.stringify({ statistic: r.statistic, pValue: r.pValue, psi: psi([50, 50], [40, 60]).value }));
`;
const TSCONFIG = JSON.stringify({
  compilerOptions: {
    module: 'NodeNext',
    moduleResolution: 'NodeNext',
    target: 'ES2022',
    strict: true,
    skipLibCheck: false,
    types: [],
  },
  include: ['use.ts'],
});

async function typecheckAndRun(project: string, from: string) {
  await writeFile(join(project, 'use.ts'), USE_STATS(from));
  await writeFile(join(project, 'tsconfig.json'), TSCONFIG);
  await sh(process.execPath, [TSC, '-p', 'tsconfig.json'], project);
  const { stdout } = await sh(process.execPath, ['use.js'], project);
  return JSON.parse(stdout) as { statistic: number; pValue: number; psi: number };
}

let work: string;

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'driftd-pack-'));
});
afterAll(async () => {
  if (work) await rm(work, { recursive: true, force: true });
});

describe('npm package driftd (packed and installed into an empty project)', () => {
  let project: string;

  beforeAll(async () => {
    const tarball = await pack(ROOT, work);
    project = await installInto('driftd', tarball);
  }, 600_000);

  it('carries LICENSE, README, the runbooks the alert rules link to, dashboards and deploy files', () => {
    const files = packed.get(ROOT) ?? [];
    for (const f of [
      'LICENSE',
      'README.md',
      'docs/runbooks/DriftdFeatureDrift.md',
      'dashboards/driftd-model.json',
      'deploy/Dockerfile',
      'deploy/prometheus/rules/driftd.rules.yaml',
      'examples/driftd.yaml',
      'dist/main.js',
      'dist/stats/index.d.ts',
    ]) {
      expect(files, f).toContain(f);
    }
    expect(files.some((f) => f.startsWith('test/') || f.startsWith('src/'))).toBe(false);
  });

  it('LICENSE is the full Apache License 2.0, installed byte for byte as in the repository', async () => {
    const text = await readFile(join(ROOT, 'LICENSE'), 'utf8');
    for (const section of APACHE_2_SECTIONS) expect(text, section).toContain(section);
    expect(createHash('sha256').update(text).digest('hex')).toBe(APACHE_2_SHA256);
    expect(await readFile(join(project, 'node_modules/driftd/LICENSE'), 'utf8')).toBe(text);
    const manifest = JSON.parse(await readFile(join(ROOT, 'package.json'), 'utf8')) as {
      license: string;
    };
    expect(manifest.license).toBe('Apache-2.0');
  });

  it('runs `driftd --version` and `driftd config check` from the installed bin', async () => {
    const bin = join(project, 'node_modules/.bin/driftd');
    const version = await sh(bin, ['--version'], project);
    const expected = (
      JSON.parse(await readFile(join(ROOT, 'package.json'), 'utf8')) as {
        version: string;
      }
    ).version;
    expect(version.stdout.trim()).toContain(expected);
    const check = await sh(
      bin,
      ['config', 'check', '--config', 'node_modules/driftd/examples/driftd.yaml'],
      project,
      // The example model has a PII field: checking it needs the PII key.
      { DRIFTD_PII_KEY: 'npm-pack-test-pii-key-0123456789abcdef' },
    );
    expect(check.stdout).toMatch(/driftd\.yaml: ok/);
  });

  it('imports driftd/stats with its TypeScript types', async () => {
    const r = await typecheckAndRun(project, 'driftd/stats');
    expect(r.statistic).toBeCloseTo(0.4, 12);
    expect(r.pValue).toBeGreaterThan(0);
    expect(r.psi).toBeCloseTo(0.0405465108, 8); // (0.4 - 0.5) ln(0.4 / 0.5) + (0.6 - 0.5) ln(0.6 / 0.5)
  });
  it('names what to install when the embedded engine is missing (last: it removes the engine)', async () => {
    await rm(join(project, 'node_modules/@chdb'), { recursive: true, force: true });
    const config = join(project, 'driftd.yaml');
    await writeFile(
      config,
      `dataDir: ${JSON.stringify(join(project, 'state'))}\nlogLevel: silent\n` +
        'models:\n  - id: m\n    task: binary-classification\n    features:\n' +
        '      - name: x\n        type: numeric\n',
    );
    const bin = join(project, 'node_modules/.bin/driftd');
    const failed = await sh(bin, ['baseline', 'list', '--config', config], project).then(
      () => undefined,
      (err: Error) => err.message,
    );
    expect(failed).toMatch(/embedded store needs ClickHouse in-process.*npm install chdb/);
  });
});

describe('npm package @driftd/stats (the statistics library alone)', () => {
  let project: string;

  beforeAll(async () => {
    const tarball = await pack(join(ROOT, 'packages/stats'), work);
    project = await installInto('stats', tarball);
  }, 300_000);

  it(`installs in under ${LIBRARY_LIMIT_BYTES / 1024 / 1024} MB, without the daemon or its engine`, async () => {
    const bytes = await du(join(project, 'node_modules'));
    process.stdout.write(
      `[npm-pack] @driftd/stats installed alone: ${(bytes / 1024 / 1024).toFixed(2)} MB in node_modules (${(await readdir(join(project, 'node_modules'))).join(', ')})\n`,
    );
    expect(bytes).toBeLessThan(LIBRARY_LIMIT_BYTES);
    const installed = await readdir(join(project, 'node_modules'));
    expect(installed).not.toContain('chdb');
    expect(installed).not.toContain('@chdb');
    expect(packed.get(join(ROOT, 'packages/stats'))).toContain('LICENSE');
    expect(await readFile(join(project, 'node_modules/@driftd/stats/LICENSE'), 'utf8')).toBe(
      await readFile(join(ROOT, 'LICENSE'), 'utf8'),
    );
  });

  it('gives the same answers with the same TypeScript types as driftd/stats', async () => {
    const r = await typecheckAndRun(project, '@driftd/stats');
    expect(r.statistic).toBeCloseTo(0.4, 12);
    expect(r.pValue).toBeGreaterThan(0);
  });
});
