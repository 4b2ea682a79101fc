import { daemonToken } from '../config/client.js';
import type { ApiScope, DriftdConfig } from '../config/types.js';
import { processAlive, readDaemonFile } from '../daemon-file.js';
import { ConfigError } from '../errors.js';
import { type DaemonClient, findDaemon } from './daemon-client.js';

/**
 * The running daemon a command should go through, or null for the store directly:
 * `--offline` never asks; `--server` must answer; otherwise the daemon that serves the config's
 * data directory (its `<dataDir>/daemon.json` names a live process, which must answer), else
 * none (the direct path, as before).
 */
export async function daemonFor(
  config: DriftdConfig,
  flags: { readonly server?: string; readonly 'token-file'?: string; readonly offline?: boolean },
  scope: ApiScope,
): Promise<DaemonClient | null> {
  if (flags.offline) {
    if (flags.server !== undefined) {
      throw new ConfigError('--offline and --server exclude each other');
    }
    return null;
  }
  const token = () =>
    daemonToken(config, {
      scope,
      ...(flags['token-file'] === undefined ? {} : { tokenFile: flags['token-file'] }),
    });
  if (flags.server !== undefined) {
    const found = await findDaemon(flags.server.replace(/\/+$/, ''), await token());
    if ('unreachable' in found) {
      throw new ConfigError(
        `--server ${flags.server}: no driftd answers there (${found.unreachable})`,
      );
    }
    return found;
  }
  const running = await readDaemonFile(config.dataDir);
  if (running === null || !processAlive(running.pid)) return null;
  const found = await findDaemon(running.url, await token());
  if ('unreachable' in found) {
    // Not the store either: with an embedded one, the daemon's process holds it.
    throw new ConfigError(
      `a daemon (pid ${running.pid}) serves ${config.dataDir} at ${running.url} but does not answer (${found.unreachable}): name its address with --server (with TLS, the certificate's host name), or stop it and use --offline`,
    );
  }
  return found;
}
