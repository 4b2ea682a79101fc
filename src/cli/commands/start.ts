import { createDaemon } from '../../daemon.js';
import { LifecycleError } from '../../errors.js';
import type { FlagsOf } from '../commands.js';
import type { CliIo } from '../index.js';
import { cliConfig } from '../shared.js';

/**
 * `driftd start`: the daemon until a signal. An unreachable store does not end it: the daemon
 * serves /healthz and a not-ready /readyz, and retries the store with backoff (logging what it
 * waits for). A signal during that wait stops it cleanly (exit 0). SIGHUP reloads the config
 * file (src/reload.ts).
 */
export async function run(flags: FlagsOf<'start'>, io: CliIo): Promise<number> {
  const config = await cliConfig(flags);
  const daemon = createDaemon(config, { waitForStore: true, loadConfig: () => cliConfig(flags) });
  let signalled = false;
  // SIGHUP: the reload logs its outcome and counts it (driftd_config_reloads_total).
  io.onReload?.(() => {
    void daemon.reload().catch((err) => {
      if (err instanceof LifecycleError) daemon.logger.warn({ err }, 'SIGHUP: config not reloaded');
    });
  });
  const stopped = io.shutdown.then(async () => {
    signalled = true;
    await daemon.close();
  });
  try {
    await daemon.start();
  } catch (err) {
    if (!signalled) throw err;
  }
  await stopped;
  return 0;
}
