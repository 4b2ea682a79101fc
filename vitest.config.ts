import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    globalSetup: ['test/global-setup.ts'],
    // Every driftd answer a test reads is searched for hosts, paths and store exception text.
    setupFiles: ['test/helpers/response-audit.ts'],
    testTimeout: 30_000,
    hookTimeout: 120_000,
    // Service-backed suites (Kafka, Prometheus) share one broker; files run in parallel
    // but each test owns its topics, groups and tables.
    pool: 'forks',
  },
});
