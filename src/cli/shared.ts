import { loadConfig } from '../config/index.js';
import type { DriftdConfig, ModelConfig } from '../config/types.js';
import { ConfigError } from '../errors.js';

/**
 * The config named by --config (or $DRIFTD_CONFIG, or ./driftd.yaml). `needsPiiKey: false` for
 * commands that never touch event data (rules, dashboards, baseline list).
 */
export async function cliConfig(
  flags: { readonly config?: string },
  options: { needsPiiKey?: boolean } = {},
): Promise<DriftdConfig> {
  return loadConfig({ ...(flags.config ? { path: flags.config } : {}), ...options });
}

export function modelOf(config: DriftdConfig, id: string): ModelConfig {
  const m = config.models.find((x) => x.id === id);
  if (!m) {
    throw new ConfigError(
      `model "${id}" is not in the config (configured: ${config.models.map((x) => x.id).join(', ') || 'none'})`,
    );
  }
  return m;
}
