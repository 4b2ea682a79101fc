import { readdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { exampleConfig, generateAssets } from '../../../scripts/generate-assets.js';
import { parseConfig } from '../../../src/config/index.js';
import {
  DASHBOARD_UIDS,
  type DashboardJson,
  dashboardQueries,
  generateDashboards,
} from '../../../src/export/dashboards.js';
import { METRIC } from '../../../src/export/metrics.js';
import { PROCESS_METRIC } from '../../../src/export/process-metrics.js';
import { generateAlertRules } from '../../../src/export/rules.js';
import { promqlMetricNames } from '../../helpers/prometheus.js';

const ROOT = resolve(import.meta.dirname, '../../..');

/** Metric families as selected in PromQL: histograms only through their series suffixes. */
const HISTOGRAMS = new Set<string>([
  METRIC.storeWriteSeconds,
  METRIC.httpRequestSeconds,
  METRIC.clusterFinalisationDelay,
]);
const SELECTABLE = new Set<string>([
  ...Object.values(METRIC).filter((m) => !HISTOGRAMS.has(m)),
  ...Object.values(PROCESS_METRIC),
  ...[...HISTOGRAMS].flatMap((m) => [`${m}_bucket`, `${m}_sum`, `${m}_count`]),
  'ALERTS',
  'up',
]);

interface Panel {
  id?: number;
  type: string;
  title?: string;
  datasource?: { type?: string; uid?: string };
  targets?: { expr?: string; datasource?: { uid?: string }; refId?: string }[];
  panels?: Panel[];
}

function panels(d: DashboardJson): Panel[] {
  const out: Panel[] = [];
  const visit = (ps: Panel[] | undefined) => {
    for (const p of ps ?? []) {
      out.push(p);
      visit(p.panels);
    }
  };
  visit(d.panels as Panel[]);
  return out;
}

/** Grafana's reference to the `datasource` template variable. */
const DATASOURCE_VAR = '$' + '{datasource}';

const variables = (d: DashboardJson) => (d.templating?.list ?? []).map((v) => v.name);

describe('generateDashboards', () => {
  const dashboards = generateDashboards();
  const entries = Object.entries(dashboards);

  it('builds the fleet, model and pipeline dashboards with stable uids', () => {
    expect(Object.keys(dashboards)).toEqual(['driftd-fleet', 'driftd-model', 'driftd-pipeline']);
    expect(Object.values(DASHBOARD_UIDS)).toEqual(Object.keys(dashboards));
    for (const [uid, d] of entries) {
      expect(d.uid).toBe(uid);
      expect(d.title).toMatch(/^driftd \/ /);
      expect(d.tags).toContain('driftd');
      expect(d.id ?? null).toBeNull();
    }
  });

  it('is deterministic', () => {
    expect(JSON.stringify(generateDashboards())).toBe(JSON.stringify(dashboards));
  });

  it('has the template variables on-call needs', () => {
    expect(variables(dashboards['driftd-fleet'])).toEqual(['datasource', 'model', 'window']);
    expect(variables(dashboards['driftd-model'])).toEqual([
      'datasource',
      'model',
      'version',
      'window',
      'feature',
    ]);
    expect(variables(dashboards['driftd-pipeline'])).toEqual(['datasource', 'instance']);
    for (const [, d] of entries) {
      const ds = d.templating?.list?.[0];
      expect(ds?.type).toBe('datasource');
      expect(ds?.query).toBe('prometheus');
    }
  });

  it('queries the selected data source in every panel and target', () => {
    for (const [uid, d] of entries) {
      for (const p of panels(d).filter((x) => x.type !== 'row')) {
        expect(p.datasource, `${uid}: ${p.title}`).toEqual({
          type: 'prometheus',
          uid: DATASOURCE_VAR,
        });
        expect(p.targets?.length, `${uid}: ${p.title}`).toBeGreaterThan(0);
        for (const t of p.targets ?? []) expect(t.datasource?.uid).toBe(DATASOURCE_VAR);
      }
    }
  });

  it('numbers panels uniquely and gives multi-query panels distinct refIds', () => {
    for (const [uid, d] of entries) {
      const ids = panels(d).map((p) => p.id);
      expect(new Set(ids).size, uid).toBe(ids.length);
      expect(ids.every((id) => typeof id === 'number' && id > 0)).toBe(true);
      for (const p of panels(d)) {
        const refs = (p.targets ?? []).map((t) => t.refId ?? '');
        if (refs.length > 1 && refs.some((r) => r !== '')) {
          expect(new Set(refs).size, `${uid}: ${p.title}`).toBe(refs.length);
        }
      }
    }
  });

  it('covers what the issue asks for', () => {
    const titles = (uid: keyof typeof dashboards) => panels(dashboards[uid]).map((p) => p.title);
    expect(titles('driftd-fleet')).toEqual(
      expect.arrayContaining([
        'Models (latest closed window)',
        'Drift share by model',
        'Performance by model',
        'Firing driftd alerts',
      ]),
    );
    expect(titles('driftd-model')).toEqual(
      expect.arrayContaining([
        'PSI per feature',
        'Top movers',
        'Top movers over time',
        'Prediction PSI',
        'Performance',
        'Label coverage',
        'Missing ratio',
      ]),
    );
    expect(titles('driftd-pipeline')).toEqual(
      expect.arrayContaining([
        'Events/s by result',
        'Consumer lag by topic',
        'Dead letters/s by reason',
        'Window closes/min',
        'Store write latency',
        'Kafka errors/s by operation',
        'Requests/s by route and status',
        'Error ratio by status class',
        'Request latency by route',
        'Event-loop lag',
        'CPU',
        'Memory',
        // Cluster mode (issue 18).
        'Lanes owned per instance',
        'Partials written/s',
        'Windows finalised/min by instance',
        'Finalisation delay',
        'Pending windows',
      ]),
    );
    // Every cluster metric is on the pipeline dashboard; the delay as p50 and p95.
    const pipeline = dashboardQueries(dashboards['driftd-pipeline']).join('\n');
    for (const name of [
      METRIC.clusterLanesOwned,
      METRIC.clusterPartialsWritten,
      METRIC.clusterWindowsFinalised,
      METRIC.clusterWindowsPending,
    ]) {
      expect(pipeline).toContain(name);
    }
    for (const q of ['0.5', '0.95']) {
      expect(pipeline).toContain(
        `histogram_quantile(${q}, sum by (le) (rate(${METRIC.clusterFinalisationDelay}_bucket`,
      );
    }
    expect(dashboardQueries(dashboards['driftd-model'])).toContainEqual(
      expect.stringMatching(/^topk\(/),
    );
  });
});

describe('dashboardQueries', () => {
  const dashboards = generateDashboards();

  it('finds every target expression and the selectors of variable queries', () => {
    const model = dashboardQueries(dashboards['driftd-model']);
    const targets = panels(dashboards['driftd-model']).flatMap((p) =>
      (p.targets ?? []).map((t) => t.expr),
    );
    expect(model.slice(0, targets.length)).toEqual(targets);
    expect(model.slice(targets.length)).toEqual([
      'driftd_window_events',
      'driftd_window_events{model="$model"}',
      'driftd_window_events{model="$model"}',
      'driftd_feature_psi{model="$model"}',
    ]);
  });

  it.each(Object.keys(dashboards))('%s names only metrics the daemon exports', (uid) => {
    const queries = dashboardQueries(dashboards[uid as keyof typeof dashboards]);
    expect(queries.length).toBeGreaterThan(5);
    for (const q of queries) {
      const names = promqlMetricNames(q);
      expect(names.length, q).toBeGreaterThan(0);
      for (const name of names) expect(SELECTABLE, `${uid}: ${q}`).toContain(name);
      // Cheap well-formedness checks; the real parse is in dashboards-prometheus.test.ts.
      for (const [open, close] of ['()', '{}', '[]']) {
        expect(q.split(open!).length, q).toBe(q.split(close!).length);
      }
      if (names.includes('ALERTS')) expect(q).toContain('alertname=~"Driftd.*"');
    }
  });

  it('uses most of what the daemon exports (the rest only alert rules read)', () => {
    const used = new Set(
      Object.values(dashboards).flatMap((d) => dashboardQueries(d).flatMap(promqlMetricNames)),
    );
    const config = parseConfig(
      readFileSync(join(ROOT, 'test/fixtures/rules/driftd.yaml'), 'utf8'),
      {
        env: {},
      },
    );
    const rules = generateAlertRules(config).groups.flatMap((g) => g.rules);
    for (const name of rules.flatMap((r) => promqlMetricNames(r.expr))) used.add(name);
    // Annotations query values too (e.g. the baseline's performance in the text).
    for (const r of rules) {
      for (const [name] of r.annotations.description.matchAll(/driftd_[a-z_]+/g)) used.add(name);
    }
    const unused = Object.values(METRIC).filter(
      (m) => !used.has(m) && !used.has(`${m}_bucket`) && !used.has(`${m}_count`),
    );
    // The raw KS p-value is shown through driftd_feature_drift_score (test="ks").
    expect(unused).toEqual([METRIC.featureKsPValue]);
  });
});

describe('config defaults', () => {
  it('preselects the first model and window and uses its thresholds', async () => {
    const config = await exampleConfig();
    const d = generateDashboards(config)['driftd-model'];
    const current = (name: string) =>
      d.templating?.list?.find((v) => v.name === name)?.current?.value;
    expect(current('model')).toBe(config.models[0]!.id);
    expect(current('window')).toBe(config.models[0]!.windows.sizes[0]!.label);
    expect(JSON.stringify(d)).toContain(`"value":${config.models[0]!.drift.psiThreshold}`);
  });
});

describe('committed dashboards/*.json', () => {
  it('equal the generator output for examples/driftd.yaml (run scripts/generate-assets.ts)', async () => {
    const files = generateAssets(await exampleConfig());
    const generated = [...files.keys()].filter((p) => p.startsWith('dashboards/')).sort();
    const committed = readdirSync(join(ROOT, 'dashboards'))
      .filter((f) => f.endsWith('.json'))
      .map((f) => `dashboards/${f}`)
      .sort();
    expect(committed).toEqual(generated);
    for (const path of generated) {
      expect(readFileSync(join(ROOT, path), 'utf8'), `${path} is stale`).toBe(files.get(path));
    }
  });
});
