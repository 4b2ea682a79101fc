import { createDaemon } from '../../daemon.js';
import type { FlagsOf } from '../commands.js';
import type { CliIo } from '../index.js';
import { cliConfig } from '../shared.js';

/**
 * `driftd start`: the daemon until a signal. An unreachable store does not end it: the daemon
 * serves /healthz and a not-ready /readyz, and retries the store with backoff (logging what it
 * waits for). A signal during that wait stops it cleanly (exit 0).
 */
export async function run(flags: FlagsOf<'start'>, io: CliIo): Promise<number> {
  const config = await cliConfig(flags);
  const daemon = createDaemon(config, { waitForStore: true });
  let signalled = false;
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
