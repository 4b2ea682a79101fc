import { createDaemon } from '../../daemon.js';
import type { CliFlags, CliIo } from '../index.js';
import { cliConfig } from '../shared.js';

export async function run(flags: CliFlags, io: CliIo): Promise<number> {
  const config = await cliConfig(flags);
  const daemon = createDaemon(config);
  await daemon.start();
  await io.shutdown;
  await daemon.close();
  return 0;
}
