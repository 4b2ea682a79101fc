import { readFile } from 'node:fs/promises';
import { ConfigError } from '../errors.js';
import type { ApiScope, DriftdConfig } from './types.js';

/**
 * The bearer token a CLI command presents to a running daemon's API, in order: the file
 * `--token-file` names, $DRIFTD_TOKEN, or a token of the config holding `scope` (the CLI on the
 * daemon's host reads the same config and secrets); null = none (an open API). Never a
 * command-line argument: those are visible to every user of the host.
 */
export async function daemonToken(
  config: Pick<DriftdConfig, 'server'>,
  opts: { tokenFile?: string; scope: ApiScope; env?: NodeJS.ProcessEnv },
): Promise<string | null> {
  const env = opts.env ?? process.env;
  if (opts.tokenFile !== undefined) {
    try {
      return (await readFile(opts.tokenFile, 'utf8')).trim();
    } catch (err) {
      throw new ConfigError(
        `--token-file: cannot read ${opts.tokenFile} (${err instanceof Error ? err.message : String(err)})`,
      );
    }
  }
  if (env.DRIFTD_TOKEN !== undefined && env.DRIFTD_TOKEN !== '') return env.DRIFTD_TOKEN;
  // The unnamed DRIFTD_API_TOKENS hold every scope (as src/api/auth.ts reads them).
  const named = config.server.auth.tokens.find((t) => t.scopes.includes(opts.scope));
  return named?.secret ?? config.server.apiTokens[0] ?? null;
}
