import { configuredTokens } from '../../api/auth.js';
import { redactConfig, resolveConfigPath } from '../../config/index.js';
import type { FlagsOf } from '../commands.js';
import type { CliIo } from '../index.js';
import { cliConfig } from '../shared.js';

export async function run(flags: FlagsOf<'config check'>, io: CliIo): Promise<number> {
  const config = await cliConfig(flags);
  const path = resolveConfigPath(flags.config ? { path: flags.config } : {});
  if (flags.json) {
    io.out.write(`${JSON.stringify(redactConfig(config), null, 2)}\n`);
  } else {
    const models = config.models.map(
      (m) =>
        `${m.id} (${m.features.length} features, windows ${m.windows.sizes.map((s) => s.label).join('/')})`,
    );
    // Tokens by name and scopes, never their secrets.
    const tokens = configuredTokens(config.server);
    const api =
      tokens.length === 0
        ? 'open (no tokens)'
        : `${tokens.map((t) => `${t.name} [${t.scopes.join(',')}]`).join('; ')}; /metrics ${config.server.auth.metrics}`;
    io.out.write(
      `${path}: ok\n  store: ${config.store.kind}\n  kafka: ${config.kafka ? config.kafka.brokers.join(',') : 'off'}\n  api tokens: ${api}\n  models: ${models.join('; ')}\n`,
    );
  }
  return 0;
}
