/**
 * `driftd erase --model M --id ID`: erases one prediction and its labels (GDPR Art. 17)
 * through the configured store directly, as `baseline import` does. The embedded store is
 * one process's at a time: while a daemon runs on it, use its API route
 * (DELETE /api/v1/models/:model/predictions/:id) instead, or stop it first. A ClickHouse
 * server store can be erased from here while daemons run.
 */

import type { DriftdConfig } from '../../config/types.js';
import { ConfigError, StoreError } from '../../errors.js';
import { MAX_ID_LENGTH } from '../../limits.js';
import { createLogger, type Logger } from '../../logger.js';
import { erasePrediction } from '../../privacy/erase.js';
import { piiKeyOf } from '../../privacy/pii.js';
import { createStore, type Store } from '../../store/index.js';
import type { FlagsOf } from '../commands.js';
import type { CliIo } from '../index.js';
import { cliConfig, modelOf } from '../shared.js';

/** Opens and migrates the store; an embedded store held by a running daemon says what to do. */
async function openStore(config: DriftdConfig, logger: Logger): Promise<Store> {
  let store: Store | undefined;
  try {
    store = createStore(config.store, { logger });
    await store.migrate();
    return store;
  } catch (err) {
    await store?.close();
    if (err instanceof StoreError && err.code === 'DRIFTD_ERR_STORE_UNAVAILABLE') {
      if (config.store.kind === 'embedded') {
        throw new StoreError(
          `${err.message}. If a daemon runs on this embedded store, erase through its API (DELETE /api/v1/models/<model>/predictions/<id>) or stop it first`,
          { cause: err, unavailable: true },
        );
      }
    }
    throw err;
  }
}

export async function run(flags: FlagsOf<'erase'>, io: CliIo): Promise<number> {
  const config = await cliConfig(flags);
  const model = modelOf(config, flags.model);
  const id = flags.id;
  if (id.length > MAX_ID_LENGTH) {
    throw new ConfigError(
      `driftd erase: --id is ${id.length} characters long; ids are at most ${MAX_ID_LENGTH}`,
    );
  }
  // The audit line goes to stderr (stdout carries the answer, JSON with --json).
  const logger = createLogger(config.logLevel, io.err);
  const store = await openStore(config, logger);
  let answer: Awaited<ReturnType<typeof erasePrediction>>;
  try {
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
