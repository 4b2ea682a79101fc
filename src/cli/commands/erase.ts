/**
 * `driftd erase --model M --id ID`: erases one prediction and its labels (GDPR Art. 17)
 * through the configured store directly, as `baseline import` does. The embedded store is
 * one process's at a time: while a daemon runs on it, use its API route
 * (DELETE /api/v1/models/:model/predictions/:id) instead, or stop it first. A ClickHouse
 * server store can be erased from here while daemons run.
 */
import { ConfigError } from '../../errors.js';
import { MAX_ID_LENGTH } from '../../limits.js';
import { createLogger } from '../../logger.js';
import { erasePrediction } from '../../privacy/erase.js';
import { piiKeyOf } from '../../privacy/pii.js';
import { createStore } from '../../store/index.js';
import type { CliFlags, CliIo } from '../index.js';
import { cliConfig, modelOf, requireFlag } from '../shared.js';

export async function run(flags: CliFlags, io: CliIo): Promise<number> {
  const config = await cliConfig(flags);
  const model = modelOf(config, requireFlag(flags, 'model', 'erase'));
  const id = requireFlag(flags, 'id', 'erase');
  if (id.length > MAX_ID_LENGTH) {
    throw new ConfigError(
      `driftd erase: --id is ${id.length} characters long; ids are at most ${MAX_ID_LENGTH}`,
    );
  }
  // The audit line goes to stderr (stdout carries the answer, JSON with --json).
  const logger = createLogger(config.logLevel, io.err);
  const store = createStore(config.store, { logger });
  let answer: Awaited<ReturnType<typeof erasePrediction>>;
  try {
    await store.migrate();
    answer = await erasePrediction({
      model,
      id,
      piiKey: piiKeyOf(config),
      store,
      logger: logger.child({ stage: 'erasure' }),
      requestedBy: 'cli',
    });
  } finally {
    await store.close();
  }
  if (flags.json) {
    io.out.write(`${JSON.stringify(answer, null, 2)}\n`);
    return 0;
  }
  const { events, labels } = answer.removed;
  io.out.write(
    `erased from model ${answer.model}: ${events} event row${events === 1 ? '' : 's'}, ${labels} label row${labels === 1 ? '' : 's'} (audit ref ${answer.ref})\n`,
  );
  if (events === 0 && labels === 0) io.out.write('  (nothing was stored under this id)\n');
  return 0;
}
