/**
 * Regenerates the committed assets derived from the example config (examples/driftd.yaml):
 *
 *   dashboards/<uid>.json                       Grafana dashboards (src/export/dashboards.ts)
 *   deploy/prometheus/rules/driftd.rules.yaml   Prometheus rules file (src/export/rules.ts)
 *   deploy/kubernetes/base/prometheusrule.yaml  the same rules as a PrometheusRule resource
 *
 * Run with `npx tsx scripts/generate-assets.ts` after changing the generators or the example
 * config; `--check` exits 1 if a committed file differs instead of writing.
 * test/unit/export/dashboards.test.ts and deploy.test.ts fail when the committed files drift.
 */
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { loadConfig } from '../src/config/index.js';
import type { DriftdConfig } from '../src/config/types.js';
import { dashboardJson, generateDashboards } from '../src/export/dashboards.js';
import {
  DEFAULT_PROMETHEUS_RULE_META,
  generateAlertRules,
  toPrometheusRuleCrd,
  toPrometheusRuleYaml,
} from '../src/export/rules.js';

export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
export const EXAMPLE_CONFIG = 'examples/driftd.yaml';

/** Namespace and labels of the generated PrometheusRule (see deploy/README.md). */
export const PROMETHEUS_RULE_META = DEFAULT_PROMETHEUS_RULE_META;

/** The example config, without the caller's DRIFTD_* environment (output must be reproducible). */
export function exampleConfig(): Promise<DriftdConfig> {
  return loadConfig({ path: EXAMPLE_CONFIG, cwd: ROOT, env: {}, needsPiiKey: false });
}

/** Every generated file: repository-relative path → contents. */
export function generateAssets(config: DriftdConfig): Map<string, string> {
  const files = new Map<string, string>();
  for (const [uid, dashboard] of Object.entries(generateDashboards(config))) {
    files.set(`dashboards/${uid}.json`, dashboardJson(dashboard));
  }
  const rules = generateAlertRules(config);
  files.set('deploy/prometheus/rules/driftd.rules.yaml', toPrometheusRuleYaml(rules));
  files.set(
    'deploy/kubernetes/base/prometheusrule.yaml',
    toPrometheusRuleCrd(rules, PROMETHEUS_RULE_META),
  );
  return files;
}

async function main(): Promise<void> {
  const check = process.argv.includes('--check');
  const files = generateAssets(await exampleConfig());
  let stale = 0;
  let written = 0;
  for (const [path, contents] of files) {
    const target = join(ROOT, path);
    const current = await readFile(target, 'utf8').catch(() => null);
    if (current === contents) continue;
    if (check) {
      stale++;
      console.error(`stale: ${path}`);
      continue;
    }
    await mkdir(dirname(target), { recursive: true });
    await writeFile(target, contents);
    written++;
    console.log(`wrote ${path}`);
  }
  if (check && stale > 0) {
    console.error('run: npx tsx scripts/generate-assets.ts');
    process.exitCode = 1;
  } else if (!check) {
    console.log(`${written} written, ${files.size - written} unchanged`);
  }
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  await main();
}
