import { loadConfig } from '../config/index.js';
import type { DriftdConfig, ModelConfig } from '../config/types.js';
import { ConfigError } from '../errors.js';
import type { CliFlags } from './index.js';

/** `needsPiiKey: false` for commands that never touch event data (rules, dashboards). */
export async function cliConfig(
  flags: CliFlags,
  options: { needsPiiKey?: boolean } = {},
): Promise<DriftdConfig> {
  return loadConfig({ ...(flags.config ? { path: flags.config } : {}), ...options });
}

export function requireFlag(
  flags: CliFlags,
  name: 'model' | 'version' | 'file' | 'id',
  command: string,
): string {
  const v = flags[name];
  if (typeof v !== 'string' || v === '') {
    throw new ConfigError(`driftd ${command}: --${name} is required`);
  }
  return v;
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
