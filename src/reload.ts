import { type ConfigChanges, configChanges, type LiveConfig } from './config/live.js';
import type { DriftdConfig } from './config/types.js';
import { ConfigError } from './errors.js';
import type { Metrics } from './export/metrics.js';
import type { Logger } from './logger.js';

/** What a reload did. */
export interface ReloadReport {
  /** `applied`: the new config is in force; `unchanged`: the file says what already runs. */
  result: 'applied' | 'unchanged';
  /** Models added and removed (a removed model's open windows were closed and written). */
  added: string[];
  removed: string[];
  /** Paths of the settings that changed live (`models["credit-risk"].drift.fdr`, `alerts.labels.team`). */
  changed: string[];
  /**
   * Paths of settings the file changes that only a restart applies (`server.port`): still
   * running with their old values. Empty when none.
   */
  needsRestart: string[];
}

/**
 * A reload refused: the file is invalid (InvalidConfigError, `issues` = its problems) or
 * changes what the running daemon cannot take (this, `issues` = what and why). The running
 * config stays in force either way.
 */
export class ConfigReloadRefusedError extends ConfigError {}

export interface Reloader {
  /**
   * Reads the config file again and puts it in force. Calls run one at a time, in call order;
   * each reads the file when its turn comes.
   * @throws InvalidConfigError or ConfigReloadRefusedError (nothing changed), or the
   *   pipeline's error if putting it in force failed
   */
  reload(): Promise<ReloadReport>;
}

export function createReloader(opts: {
  /** Loads and validates the config file, as at start (same path, env and flags). */
  load: () => Promise<DriftdConfig>;
  live: LiveConfig;
  /** The engine taking the new config (pipeline.reconfigure). */
  apply: (next: DriftdConfig) => Promise<void>;
  metrics: Metrics;
  logger: Logger;
}): Reloader {
  const log = opts.logger.child({ stage: 'reload' });
  let tail: Promise<unknown> = Promise.resolve();

  async function run(): Promise<ReloadReport> {
    let changes: ConfigChanges;
    try {
      const next = await opts.load();
      changes = configChanges(opts.live.current, next);
      if (changes.refused.length > 0) {
        throw new ConfigReloadRefusedError(
          'config reload refused: it changes what only a restart applies (nothing was changed; restart driftd to apply it)',
          changes.refused,
        );
      }
    } catch (err) {
      opts.metrics.configReloads.inc({ result: 'failure' });
      log.error({ err }, 'config reload failed: the running config stays in force');
      throw err;
    }
    const { added, removed, live, needsRestart } = changes;
    const report: ReloadReport = {
      result: live.length === 0 ? 'unchanged' : 'applied',
      added,
      removed,
      changed: live,
      needsRestart,
    };
    if (live.length > 0) {
      try {
        await opts.apply(changes.config);
      } catch (err) {
        opts.metrics.configReloads.inc({ result: 'failure' });
        log.error({ err }, 'config reload failed while being applied');
        throw err;
      }
    }
    opts.metrics.configReloads.inc({ result: 'success' });
    opts.metrics.configRestartRequired.set(needsRestart.length > 0 ? 1 : 0);
    log.info({ added, removed, changed: live }, `config reload: ${report.result}`);
    if (needsRestart.length > 0) {
      log.warn(
        { needsRestart },
        'config reload: these settings changed in the file but only a restart applies them; they keep their running values',
      );
    }
    return report;
  }

  return {
    reload() {
      const mine = tail.then(run, run);
      tail = mine.catch(() => undefined);
      return mine;
    },
  };
}
