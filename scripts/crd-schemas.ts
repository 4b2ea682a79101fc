/**
 * Regenerates test/fixtures/crds/*.schema.json: the published OpenAPI schemas of the rollout
 * controllers' resources that deploy/argo-rollouts and deploy/flagger instantiate, and of
 * KEDA's ScaledObject (deploy/kubernetes/keda), taken from the controllers' own release
 * modules (their CRD manifests ship in the module zips), with provenance (module, version,
 * go.sum hash, sha256 of the zip and of the CRD file), without the schemas' prose
 * (`description`). The tests (test/unit/export/rollout-templates.test.ts,
 * test/unit/export/cluster-manifests.test.ts) read only the committed fixtures: CI needs no
 * network.
 *
 *   npx tsx scripts/crd-schemas.ts           write the fixtures (needs `go` and `unzip`)
 *   npx tsx scripts/crd-schemas.ts --check   exit 1 if a committed fixture differs
 *
 * To move to a newer controller release, change `version` below and run it.
 */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseAllDocuments } from 'yaml';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
export const CRD_FIXTURES = join(ROOT, 'test/fixtures/crds');

interface CrdSource {
  /** Output file in test/fixtures/crds. */
  out: string;
  module: string;
  version: string;
  /** Path of the CRD manifest inside the module. */
  path: string;
  group: string;
  kind: string;
  /** The served version whose schema is kept. */
  apiVersion: string;
}

export const CRD_SOURCES: readonly CrdSource[] = [
  {
    out: 'argo-rollouts-analysistemplate.schema.json',
    module: 'github.com/argoproj/argo-rollouts',
    version: 'v1.10.1',
    path: 'manifests/crds/analysis-template-crd.yaml',
    group: 'argoproj.io',
    kind: 'AnalysisTemplate',
    apiVersion: 'v1alpha1',
  },
  {
    out: 'flagger-metrictemplate.schema.json',
    module: 'github.com/fluxcd/flagger',
    version: 'v1.36.1',
    path: 'artifacts/flagger/crd.yaml',
    group: 'flagger.app',
    kind: 'MetricTemplate',
    apiVersion: 'v1beta1',
  },
  {
    out: 'flagger-canary.schema.json',
    module: 'github.com/fluxcd/flagger',
    version: 'v1.36.1',
    path: 'artifacts/flagger/crd.yaml',
    group: 'flagger.app',
    kind: 'Canary',
    apiVersion: 'v1beta1',
  },
  {
    // v2.21 needs go >= 1.27 to download with GOTOOLCHAIN=local; the ScaledObject's kafka
    // trigger is the same in both.
    out: 'keda-scaledobject.schema.json',
    module: 'github.com/kedacore/keda/v2',
    version: 'v2.20.2',
    path: 'config/crd/bases/keda.sh_scaledobjects.yaml',
    group: 'keda.sh',
    kind: 'ScaledObject',
    apiVersion: 'v1alpha1',
  },
];

/** What a fixture holds: where the schema came from, and the schema. */
export interface CrdFixture {
  source: {
    module: string;
    version: string;
    goSum: string;
    zipSha256: string;
    path: string;
    fileSha256: string;
    group: string;
    kind: string;
    apiVersion: string;
  };
  openAPIV3Schema: Record<string, unknown>;
}

/** The parts of a CustomResourceDefinition read here. */
interface Crd {
  kind?: string;
  spec?: {
    group?: string;
    names?: { kind?: string };
    versions?: Array<{ name?: string; schema?: { openAPIV3Schema?: Record<string, unknown> } }>;
  };
}

const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');

function download(module: string, version: string): { zip: string; goSum: string } {
  // The ordinary client of the module proxy (GOPROXY as configured); GOTOOLCHAIN=local: a
  // module's `go` directive must not trigger a toolchain download.
  const out = execFileSync('go', ['mod', 'download', '-json', `${module}@${version}`], {
    env: { ...process.env, GOTOOLCHAIN: 'local', GOFLAGS: '-mod=mod' },
    cwd: ROOT,
    encoding: 'utf8',
  });
  const info = JSON.parse(out) as { Zip?: string; Sum?: string; Error?: string };
  if (info.Error !== undefined || info.Zip === undefined || info.Sum === undefined) {
    throw new Error(`${module}@${version}: ${info.Error ?? 'no zip'}`);
  }
  return { zip: info.Zip, goSum: info.Sum };
}

export function buildFixture(s: CrdSource): CrdFixture {
  const { zip, goSum } = download(s.module, s.version);
  const file = execFileSync('unzip', ['-p', zip, `${s.module}@${s.version}/${s.path}`], {
    maxBuffer: 64 * 1024 * 1024,
  });
  const docs = parseAllDocuments(indentQuotedContinuations(file.toString('utf8')));
  const errors = docs.flatMap((d) => d.errors);
  if (errors.length > 0) throw new Error(`${s.path}: ${errors[0]!.message}`);
  const crd = docs
    .map((d) => d.toJS() as Crd | null)
    .find(
      (d) =>
        d?.kind === 'CustomResourceDefinition' &&
        d.spec?.group === s.group &&
        d.spec?.names?.kind === s.kind,
    );
  const version = crd?.spec?.versions?.find((v) => v.name === s.apiVersion);
  const schema = version?.schema?.openAPIV3Schema;
  if (schema === undefined) {
    throw new Error(`${s.module}@${s.version}/${s.path}: no ${s.kind} ${s.apiVersion} schema`);
  }
  return {
    source: {
      module: s.module,
      version: s.version,
      goSum,
      zipSha256: sha256(readFileSync(zip)),
      path: s.path,
      fileSha256: sha256(file),
      group: s.group,
      kind: s.kind,
      apiVersion: s.apiVersion,
    },
    openAPIV3Schema: withoutDescriptions(schema) as Record<string, unknown>,
  };
}

/**
 * Some published CRD files (Flagger's) continue a single-quoted description on lines no deeper
 * than its key: Go's YAML reader accepts that, the YAML spec (and `yaml`) does not. Indenting
 * the continuation lines two spaces keeps the value (a quoted scalar folds its line breaks).
 */
export function indentQuotedContinuations(text: string): string {
  const out: string[] = [];
  let open = false;
  for (const line of text.split('\n')) {
    const quotes = (s: string) => (s.replace(/''/g, '').match(/'/g) ?? []).length;
    if (open) {
      out.push(`  ${line}`);
      if (quotes(line) % 2 === 1) open = false;
      continue;
    }
    out.push(line);
    const m = /^\s*(?:- )?[\w$-]+: '(.*)$/.exec(line);
    if (m !== null && quotes(m[1]!) % 2 === 0) open = true;
  }
  return out.join('\n');
}

/** The schema without its prose (`description` strings): the validation is the same, 1/4 the size. */
function withoutDescriptions(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(withoutDescriptions);
  if (typeof v !== 'object' || v === null) return v;
  return Object.fromEntries(
    Object.entries(v)
      .filter(([k, x]) => !(k === 'description' && typeof x === 'string'))
      .map(([k, x]) => [k, withoutDescriptions(x)]),
  );
}

function main(): void {
  const check = process.argv.includes('--check');
  let stale = 0;
  for (const s of CRD_SOURCES) {
    const target = join(CRD_FIXTURES, s.out);
    const text = `${JSON.stringify(buildFixture(s), null, 2)}\n`;
    const current = (() => {
      try {
        return readFileSync(target, 'utf8');
      } catch {
        return null;
      }
    })();
    if (current === text) continue;
    if (check) {
      console.error(`stale: ${target}`);
      stale++;
    } else {
      writeFileSync(target, text);
      console.log(`wrote ${target}`);
    }
  }
  if (stale > 0) process.exit(1);
}

if (process.argv[1] !== undefined && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main();
}
