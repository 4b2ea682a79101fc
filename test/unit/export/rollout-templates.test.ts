/**
 * deploy/argo-rollouts and deploy/flagger against the controllers' published CRD schemas
 * (test/fixtures/crds, from the controllers' release modules by scripts/crd-schemas.ts; no
 * network here), with unknown fields refused as `kubectl apply --validate=strict` does, and
 * their queries against what driftd exports. The PromQL itself runs against a real Prometheus
 * in test/integration/rollback-prometheus.test.ts.
 */
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { CRD_SOURCES } from '../../../scripts/crd-schemas.js';
import { METRIC } from '../../../src/export/metrics.js';
import { promqlMetricNames } from '../../helpers/prometheus.js';
import {
  crdValidator,
  ROOT,
  readCrdFixture,
  readYaml,
  renderFlaggerQuery,
  resolveArgoArgs,
} from '../../helpers/rollout-templates.js';

const cases = [
  ['deploy/argo-rollouts/analysis-template.yaml', 'argo-rollouts-analysistemplate.schema.json'],
  ['deploy/flagger/metric-template.yaml', 'flagger-metrictemplate.schema.json'],
  ['deploy/flagger/canary-analysis.example.yaml', 'flagger-canary.schema.json'],
] as const;

describe('rollout controller templates against the published CRD schemas', () => {
  for (const [path, fixture] of cases) {
    it(`${path} is a valid ${fixture.replace('.schema.json', '')}`, () => {
      const crd = readCrdFixture(fixture);
      const doc = readYaml(path);
      expect(doc.apiVersion).toBe(`${crd.source.group}/${crd.source.apiVersion}`);
      expect(doc.kind).toBe(crd.source.kind);
      const validate = crdValidator(crd.openAPIV3Schema);
      expect(validate(doc), JSON.stringify(validate.errors, null, 2)).toBe(true);
    });
  }

  it('the validation refuses what the controllers would (it can fail)', () => {
    const argo = crdValidator(readCrdFixture(cases[0][1]).openAPIV3Schema);
    const doc = readYaml(cases[0][0]);
    const metric = doc.spec.metrics[0];
    const bad = [
      { ...metric, provider: { prometheus: { ...metric.provider.prometheus, qurey: 'x' } } },
      { ...metric, name: undefined },
      { ...metric, failureLimit: [1] },
      { ...metric, provider: { prometheus: { ...metric.provider.prometheus, timeout: '30s' } } },
    ];
    for (const m of bad) {
      expect(argo({ ...doc, spec: { ...doc.spec, metrics: [m] } }), JSON.stringify(m)).toBe(false);
    }
    const flagger = crdValidator(readCrdFixture(cases[1][1]).openAPIV3Schema);
    const mt = readYaml(cases[1][0]);
    expect(
      flagger({ ...mt, spec: { ...mt.spec, provider: { type: 'prometheus' }, query: undefined } }),
    ).toBe(false);
    expect(flagger({ ...mt, spec: { ...mt.spec, provider: { type: 'victoriametrics' } } })).toBe(
      false,
    );
  });

  it('every fixture is one scripts/crd-schemas.ts regenerates, and records where it came from', () => {
    const files = readdirSync(join(ROOT, 'test/fixtures/crds')).sort();
    expect(files).toEqual(CRD_SOURCES.map((s) => s.out).sort());
    for (const s of CRD_SOURCES) {
      const { source } = readCrdFixture(s.out) as unknown as { source: Record<string, string> };
      expect(source).toMatchObject({
        module: s.module,
        version: s.version,
        path: s.path,
        kind: s.kind,
        apiVersion: s.apiVersion,
      });
      expect(source.goSum).toMatch(/^h1:[A-Za-z0-9+/]+=*$/);
      expect(source.zipSha256).toMatch(/^[0-9a-f]{64}$/);
      expect(source.fileSha256).toMatch(/^[0-9a-f]{64}$/);
    }
  });
});

describe('the templates query what driftd exports', () => {
  it('Argo: every argument used is declared; model and challenger must be supplied', () => {
    const doc = readYaml(cases[0][0]);
    const args = doc.spec.args as Array<{ name: string; value?: string }>;
    const text = JSON.stringify(doc.spec.metrics);
    const resolved = JSON.parse(resolveArgoArgs(text, args, { model: 'm', challenger: '2' }));
    const query = resolved[0].provider.prometheus.query as string;
    expect(promqlMetricNames(query)).toEqual([METRIC.rollbackSignalConsecutive]);
    expect(query).toContain('model="m",challenger="2",window=~".+"');
    expect(resolved[0].failureCondition).toBe('result[0] >= 2');
    expect(() => resolveArgoArgs(text, args, { model: 'm' })).toThrow(/args.challenger/);
  });

  it('Flagger: the query renders with the variables model and challenger', () => {
    const doc = readYaml(cases[1][0]);
    const query = renderFlaggerQuery(doc.spec.query, { model: 'm', challenger: '2' });
    expect(promqlMetricNames(query)).toEqual([METRIC.rollbackSignalConsecutive]);
    expect(query).toContain('model="m",challenger="2"');
    expect(() => renderFlaggerQuery(doc.spec.query, { model: 'm' })).toThrow(/challenger/);
    // The example Canary supplies exactly these variables.
    const canary = readYaml(cases[2][0]);
    const metric = canary.spec.analysis.metrics[0];
    expect(metric.templateRef.name).toBe(doc.metadata.name);
    expect(Object.keys(metric.templateVariables).sort()).toEqual(['challenger', 'model']);
  });
});
