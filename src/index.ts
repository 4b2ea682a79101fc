/**
 * driftd as a library: the daemon, its config loader, and the pieces a platform team may
 * embed. The statistics core is also published on its own as `driftd/stats`.
 */
export type { ApiDeps, IngestReport, ItemError } from './api/ports.js';
export { buildServer } from './api/server.js';
export {
  type BaselineImportResult,
  buildProfileFromRows,
  importBaseline,
} from './baseline/index.js';
export {
  describeConfigIssues,
  loadConfig,
  parseConfig,
  redactConfig,
  validateConfig,
} from './config/index.js';
export type { DriftdConfig, ModelConfig } from './config/types.js';
export { createDaemon, type Daemon, type DaemonOverrides } from './daemon.js';
export * from './errors.js';
export { generateDashboards } from './export/dashboards.js';
export { createMetrics, METRIC, type Metrics } from './export/metrics.js';
export { generateAlertRules, toPrometheusRuleCrd, toPrometheusRuleYaml } from './export/rules.js';
export { createStore } from './store/index.js';
export type { Store } from './store/types.js';
export type * from './types.js';
export { VERSION } from './version.js';
