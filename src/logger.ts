import { type Logger, pino } from 'pino';

export type { Logger };

/** The one root logger; stages take `logger.child({ stage })`. Secrets never reach it. */
export function createLogger(level: string, destination?: NodeJS.WritableStream): Logger {
  return pino(
    {
      level,
      base: { name: 'driftd' },
      redact: {
        paths: [
          '*.password',
          '*.apiTokens',
          '*.secret',
          '*.sasl.password',
          '*.piiKey',
          'config.store.password',
          'config.server.apiTokens',
          'config.server.auth.tokens[*].secret',
          'config.kafka.sasl.password',
          'config.privacy.piiKey',
        ],
        censor: '[redacted]',
      },
    },
    destination ?? process.stdout,
  );
}
