import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { defaultAlerts, defaultPipelineAlerts } from '../../../src/config/alerts.js';
import {
  type ConfigEnv,
  describeConfigIssues,
  InvalidConfigError,
  loadConfig,
  type ParseConfigOptions,
  parseConfig,
  redactConfig,
  validateConfig,
} from '../../../src/config/index.js';
import { ConfigError } from '../../../src/errors.js';

const root = fileURLToPath(new URL('../../../', import.meta.url));
const fixture = (name: string) => join(root, 'test/fixtures/config', name);
const noEnv: ConfigEnv = {};

const MODEL = `
models:
  - id: credit-risk
    task: binary-classification
    features:
      - name: income
        type: numeric
      - name: region
        type: categorical
`;

function issuesOf(text: string, options: ParseConfigOptions = {}): readonly string[] {
  try {
    parseConfig(text, { source: 'driftd.yaml', env: noEnv, cwd: '/srv', ...options });
  } catch (err) {
    expect(err).toBeInstanceOf(InvalidConfigError);
    return (err as InvalidConfigError).issues;
  }
  throw new Error('expected the config to be rejected');
}

/** A config with `extra` YAML merged into the first model. */
function withModel(extra: string): string {
  const indented = extra
    .trim()
    .split('\n')
    .map((line) => `    ${line}`)
    .join('\n');
  return `${MODEL}${indented}\n`;
}

describe('parseConfig defaults', () => {
  it('fills every default from a minimal file', () => {
    const config = parseConfig(MODEL, { source: '/etc/driftd/driftd.yaml', env: noEnv });
    expect(config).toEqual({
      dataDir: '/etc/driftd/.driftd',
      server: {
        host: '127.0.0.1',
        port: 8080,
        apiTokens: [],
        auth: { tokens: [], metrics: 'open' },
        bodyLimitBytes: 10 * 1024 * 1024,
        baselineUploadMaxBytes: 4 * 1024 ** 3,
        requestTimeoutMs: 60_000,
        headersTimeoutMs: 10_000,
        keepAliveTimeoutMs: 72_000,
        tls: null,
      },
      store: {
        kind: 'embedded',
        path: '/etc/driftd/.driftd/store',
        rawEventsTtlDays: 30,
        resultsTtlDays: 0,
      },
      kafka: null,
      ingest: { maxFutureSkewMs: 3_600_000 },
      logLevel: 'info',
      models: [
        {
          id: 'credit-risk',
          task: 'binary-classification',
          features: [
            {
              name: 'income',
              type: 'numeric',
              test: null,
              threshold: null,
              alpha: null,
              effectFloor: null,
            },
            {
              name: 'region',
              type: 'categorical',
              test: null,
              threshold: null,
              alpha: null,
              effectFloor: null,
            },
          ],
          prediction: { field: 'prediction', type: 'numeric' },
          label: { field: 'label', positive: 1, threshold: 0.5 },
          windows: {
            sizes: [
              { label: '5m', ms: 300_000 },
              { label: '1h', ms: 3_600_000 },
            ],
            allowedLatenessMs: 60_000,
            idleTimeoutMs: 120_000,
          },
          versions: { allow: null, maxActive: 10, baselineFallback: 'none' },
          drift: {
            minWindowSize: 100,
            shareThreshold: 0.5,
            fdr: 0.05,
            bins: 1000,
            psiBuckets: 10,
            psiThreshold: 0.2,
            verdict: 'calibrated',
            effectFloor: {
              ks: 0.1,
              'chi-square': 0.1,
              psi: 0.2,
              'jensen-shannon': 0.1,
              wasserstein: 0.1,
            },
            topCategories: 100,
            sampleSize: 10_000,
          },
          piiFields: [],
          storeUnlistedFields: false,
          timeZone: 'UTC',
          reference: { kind: 'baseline', windows: 0 },
          alerts: defaultAlerts('binary-classification'),
        },
      ],
      privacy: { piiKey: null, piiKeyFile: null },
      alerts: defaultPipelineAlerts(),
    });
  });

  it('reads ingest.maxFutureSkew as a duration (default 1h, not zero)', () => {
    expect(parseConfig(`${MODEL}ingest:\n  maxFutureSkew: 5m\n`, { env: noEnv }).ingest).toEqual({
      maxFutureSkewMs: 300_000,
    });
    expect(issuesOf(`${MODEL}ingest:\n  maxFutureSkew: 0s\n`)).toEqual([
      'ingest.maxFutureSkew: "0s" must be greater than zero',
    ]);
  });

  it('fills kafka and clickhouse defaults when the sections are present', () => {
    const config = parseConfig(
      `${MODEL}kafka:\n  brokers: [localhost:9092]\nstore:\n  clickhouse:\n    url: http://ch:8123\n`,
      { env: noEnv },
    );
    expect(config.kafka).toEqual({
      brokers: ['localhost:9092'],
      clientId: 'driftd',
      groupId: 'driftd',
      predictionsTopic: 'driftd.predictions',
      labelsTopic: 'driftd.labels',
      deadLetterTopic: 'driftd.dlq',
      maxMessageBytes: 1024 * 1024,
      messageKey: 'none',
      ssl: null,
      sasl: null,
    });
    expect(config.store).toEqual({
      kind: 'clickhouse',
      url: 'http://ch:8123',
      database: 'driftd',
      username: 'default',
      password: '',
      requestTimeoutMs: 30_000,
      rawEventsTtlDays: 30,
      resultsTtlDays: 0,
      tls: null,
    });
  });

  it('defaults the prediction type to categorical for multiclass models', () => {
    const config = parseConfig(MODEL.replace('binary-classification', 'multiclass'), {
      env: noEnv,
    });
    expect(config.models[0]?.prediction.type).toBe('categorical');
  });

  it('resolves relative paths against the config file directory, absolute paths as is', () => {
    const config = parseConfig(`${MODEL}dataDir: state\nstore:\n  embedded:\n    path: ../db\n`, {
      source: 'conf/driftd.yaml',
      cwd: '/home/me',
      env: noEnv,
    });
    expect(config.dataDir).toBe('/home/me/conf/state');
    expect(config.store).toMatchObject({ kind: 'embedded', path: '/home/me/db' });
    const absolute = parseConfig(`${MODEL}dataDir: /var/lib/driftd\n`, { env: noEnv });
    expect(absolute.dataDir).toBe('/var/lib/driftd');
    expect(absolute.store).toMatchObject({ path: '/var/lib/driftd/store' });
  });

  it('keeps per-feature test and threshold overrides', () => {
    const config = parseConfig(
      MODEL.replace('type: numeric', 'type: numeric\n        test: ks\n        threshold: 0.01'),
      { env: noEnv },
    );
    expect(config.models[0]?.features[0]).toEqual({
      name: 'income',
      type: 'numeric',
      test: 'ks',
      threshold: 0.01,
      alpha: null,
      effectFloor: null,
    });
  });

  it('reads calibrated-verdict settings per model and feature, and refuses them with a fixed threshold', () => {
    const config = parseConfig(
      MODEL.replace(
        'type: numeric',
        'type: numeric\n        alpha: 0.01\n        effectFloor: 0.3',
      ),
      { env: noEnv },
    );
    expect(config.models[0]?.features[0]).toMatchObject({ alpha: 0.01, effectFloor: 0.3 });
    expect(config.models[0]?.drift.verdict).toBe('calibrated');
    expect(() =>
      parseConfig(
        MODEL.replace(
          'type: numeric',
          'type: numeric\n        test: ks\n        threshold: 0.01\n        alpha: 0.01',
        ),
        { env: noEnv },
      ),
    ).toThrow(/alpha/);
  });

  it('ignores x- keys at the top level, so anchors can be shared between models', () => {
    const config = parseConfig(readFileSync(fixture('anchors.yaml'), 'utf8'), { env: noEnv });
    expect(config.models.map((m) => [m.drift.bins, m.drift.psiBuckets, m.drift.fdr])).toEqual([
      [500, 20, 0.1],
      [500, 20, 0.05],
    ]);
  });
});

describe('parseConfig errors', () => {
  it('reports the exact messages, every one at once, in file order', () => {
    const text = readFileSync(fixture('many-errors.yaml'), 'utf8');
    expect(issuesOf(text)).toEqual([
      'server.port: must be an integer between 0 and 65535',
      'unknown key "windw" at models[0] (did you mean "windows"?)',
      'models[0].features[3].type: must be numeric or categorical',
      'models[1].windows.sizes[0]: "5x" is not a duration (use e.g. 30s, 5m, 1h, 1d)',
    ]);
  });

  it('describes the problems for the CLI with file:line:column', () => {
    try {
      parseConfig(readFileSync(fixture('many-errors.yaml'), 'utf8'), {
        source: 'driftd.yaml',
        env: noEnv,
      });
      expect.unreachable();
    } catch (err) {
      expect(err).toBeInstanceOf(ConfigError);
      expect((err as ConfigError).code).toBe('DRIFTD_ERR_CONFIG');
      expect(describeConfigIssues(err)).toBe(
        [
          'driftd.yaml: 4 problems:',
          '  driftd.yaml:2:9: server.port: must be an integer between 0 and 65535',
          '  driftd.yaml:6:5: unknown key "windw" at models[0] (did you mean "windows"?)',
          '  driftd.yaml:16:15: models[0].features[3].type: must be numeric or categorical',
          '  driftd.yaml:23:15: models[1].windows.sizes[0]: "5x" is not a duration (use e.g. 30s, 5m, 1h, 1d)',
        ].join('\n'),
      );
      expect((err as InvalidConfigError).details[0]).toEqual({
        text: 'server.port: must be an integer between 0 and 65535',
        path: 'server.port',
        origin: 'file',
        line: 2,
        column: 9,
      });
    }
  });

  it('reports YAML syntax errors with file:line:column', () => {
    const issues = issuesOf(readFileSync(fixture('syntax-error.yaml'), 'utf8'));
    expect(issues).toHaveLength(1);
    expect(issues[0]).toMatch(/^driftd\.yaml:6:5: \S/);
    expect(issuesOf(`server:\n  port: 1\n  port: 2\n${MODEL}`)).toEqual([
      'driftd.yaml:3:3: Map keys must be unique',
    ]);
  });

  it.each([
    ['server: {port: -1}', 'server.port: must be an integer between 0 and 65535'],
    ['server: {port: "8080"}', 'server.port: must be an integer between 0 and 65535'],
    ['server: {port: 80.5}', 'server.port: must be an integer between 0 and 65535'],
    ['server: {host: ""}', 'server.host: must not be empty'],
    ['server: {apiTokens: "abc"}', 'server.apiTokens: must be a list'],
    [
      'server: {apiTokens: ["a b 0123456789abcdef"]}',
      'server.apiTokens[0]: must be printable ASCII without whitespace or commas',
    ],
    [
      'server: {bodyLimitBytes: 10}',
      'server.bodyLimitBytes: must be an integer between 1024 and 1073741824',
    ],
    [
      'server: {baselineUploadMaxBytes: 0}',
      'server.baselineUploadMaxBytes: must be an integer between 1024 and 1099511627776',
    ],
    [
      'server: {requestTimeoutMs: 0}',
      'server.requestTimeoutMs: must be an integer between 100 and 3600000',
    ],
    [
      'server: {requestTimeoutMs: 5000, headersTimeoutMs: 6000}',
      'server.headersTimeoutMs: must not exceed server.requestTimeoutMs (5000)',
    ],
    [
      'server: {keepAliveTimeoutMs: 1.5}',
      'server.keepAliveTimeoutMs: must be an integer between 100 and 3600000',
    ],
    ['server: 8080', 'server: must be a mapping (key: value), not a number'],
    [
      'logLevel: verbose',
      'logLevel: must be one of fatal, error, warn, info, debug, trace or silent',
    ],
    [
      'kafka: {brokers: [k:9092], messageKey: id}',
      'kafka.messageKey: must be none, model or model:version',
    ],
    ['dataDir: 5', 'dataDir: must be a string (quote it: "5")'],
    [
      'store: {embedded: {}, clickhouse: {url: "http://x"}}',
      'store: set exactly one of "embedded" or "clickhouse"',
    ],
    ['store: {clickhouse: {}}', 'store.clickhouse.url: is required'],
    [
      'store: {clickhouse: {url: "ftp://x"}}',
      'store.clickhouse.url: must be an http:// or https:// URL (e.g. http://localhost:8123)',
    ],
    [
      'store: {clickhouse: {url: "http://x", database: "my-db"}}',
      'store.clickhouse.database: "my-db" is not a ClickHouse identifier (letters, digits and _, not starting with a digit)',
    ],
    [
      'store: {rawEventsTtlDays: 0}',
      'store.rawEventsTtlDays: must be an integer between 1 and 36500',
    ],
    [
      'store: {rawEventsTtlDays: 30, resultsTtlDays: 29}',
      'store.resultsTtlDays: must be 0 (keep forever) or at least store.rawEventsTtlDays (30), got 29: results may not expire before the raw events they were computed from',
    ],
    [
      'store: {resultsTtlDays: 7}',
      'store.resultsTtlDays: must be 0 (keep forever) or at least store.rawEventsTtlDays (30), got 7: results may not expire before the raw events they were computed from',
    ],
    ['store: {resultsTtlDays: -1}', 'store.resultsTtlDays: must be an integer between 0 and 36500'],
    ['kafka: {clientId: x}', 'kafka.brokers: is required'],
    ['kafka: {brokers: []}', 'kafka.brokers: must not be empty'],
    [
      'kafka: {brokers: [localhost]}',
      'kafka.brokers[0]: "localhost" must be host:port (e.g. localhost:9092)',
    ],
    [
      'kafka: {brokers: ["a:1"], labelsTopic: "bad topic"}',
      'kafka.labelsTopic: "bad topic" is not a Kafka topic name (letters, digits, ".", "_" and "-", at most 249 characters)',
    ],
    [
      'kafka: {brokers: ["a:1"], deadLetterTopic: driftd.labels}',
      'kafka.deadLetterTopic: "driftd.labels" is also the labelsTopic',
    ],
  ])('%s', (yaml, message) => {
    expect(issuesOf(`${MODEL}${yaml}\n`)).toEqual([message]);
  });

  it.each([
    ['prediction: {field: income}', 'models[0].prediction.field: "income" is also a feature name'],
    [
      'label: {field: prediction}',
      'models[0].label.field: "prediction" is also the prediction field',
    ],
    ['label: {threshold: 1.5}', 'models[0].label.threshold: must be a number between 0 and 1'],
    ['label: {positive: true}', 'models[0].label.positive: must be a number or a non-empty string'],
    ['windows: {sizes: []}', 'models[0].windows.sizes: must not be empty'],
    [
      'windows: {sizes: [500ms]}',
      'models[0].windows.sizes[0]: "500ms" is shorter than the minimum of 1s',
    ],
    ['windows: {sizes: [1h, 60m]}', 'models[0].windows.sizes[1]: is the same window size as "1h"'],
    ['windows: {sizes: 5m}', 'models[0].windows.sizes: must be a list'],
    [
      'windows: {allowedLateness: 60}',
      'models[0].windows.allowedLateness: 60 is not a duration (use e.g. 30s, 5m, 1h, 1d)',
    ],
    ['windows: {idleTimeout: 0s}', 'models[0].windows.idleTimeout: "0s" must be greater than zero'],
    ['drift: {bins: 5}', 'models[0].drift.bins: must be an integer between 10 and 100000'],
    [
      'drift: {bins: 10, psiBuckets: 20}',
      'models[0].drift.psiBuckets: must not exceed drift.bins (10)',
    ],
    ['drift: {fdr: 1}', 'models[0].drift.fdr: must be a number greater than 0 and less than 1'],
    [
      'drift: {shareThreshold: 0}',
      'models[0].drift.shareThreshold: must be a number greater than 0 and at most 1',
    ],
    [
      'drift: {psiThreshold: -0.1}',
      'models[0].drift.psiThreshold: must be a number greater than 0',
    ],
    [
      'drift: {minWindowSize: 0}',
      'models[0].drift.minWindowSize: must be an integer of at least 1',
    ],
  ])('models[0] %s', (yaml, message) => {
    expect(issuesOf(withModel(yaml))).toEqual([message]);
  });

  it('checks the model id and task', () => {
    expect(issuesOf(MODEL.replace('id: credit-risk', 'id: Credit Risk'))).toEqual([
      'models[0].id: "Credit Risk" is not a valid id (lowercase letters, digits, "-" and "_", starting with a letter or digit, at most 64 characters)',
    ]);
    expect(issuesOf(MODEL.replace('task: binary-classification', 'task: classification'))).toEqual([
      'models[0].task: must be binary-classification, multiclass or regression',
    ]);
  });

  it('reads the version policy: allowlist, cap on active versions, baseline fallback', () => {
    const config = parseConfig(
      withModel('versions: { allow: ["3", "4"], maxActive: 3, baselineFallback: latest }'),
      { env: noEnv },
    );
    expect(config.models[0]?.versions).toEqual({
      allow: ['3', '4'],
      maxActive: 3,
      baselineFallback: 'latest',
    });
    expect(
      issuesOf(withModel('versions: { allow: [], maxActive: 0, baselineFallback: newest }')),
    ).toEqual([
      'models[0].versions.allow: must not be empty',
      'models[0].versions.maxActive: must be an integer between 1 and 1000',
      'models[0].versions.baselineFallback: must be none or latest',
    ]);
  });

  it('allows zero allowed lateness', () => {
    const config = parseConfig(withModel('windows: {allowedLateness: "0"}'), { env: noEnv });
    expect(config.models[0]?.windows.allowedLatenessMs).toBe(0);
  });

  it('checks features: names unique, type known, test fits the type, threshold needs a test', () => {
    const text = `
models:
  - id: m
    task: regression
    features:
      - name: a
        type: numeric
      - name: a
        type: categorical
        test: ks
      - type: numeric
        threshold: 0.1
      - name: d
        type: numeric
        test: ks
        threshold: 1.5
      - name: e
        type: categorical
        test: anova
      - notAMapping
`;
    expect(issuesOf(text)).toEqual([
      'models[0].features[1].name: duplicate feature name "a" (also at features[0])',
      'models[0].features[1].test: "ks" does not apply to categorical features (use chi-square, psi or jensen-shannon)',
      'models[0].features[2].name: is required',
      'models[0].features[2].threshold: needs "test" too (the threshold is a p-value for ks and chi-square, a distance otherwise)',
      'models[0].features[3].threshold: must be a number greater than 0 and less than 1 (a p-value for ks)',
      'models[0].features[4].test: must be one of ks, chi-square, psi, jensen-shannon or wasserstein',
      'models[0].features[5]: must be a mapping (key: value), not a string',
    ]);
  });

  it('requires models, ids unique', () => {
    expect(issuesOf('')).toEqual(['models: is required']);
    expect(issuesOf('models: []')).toEqual(['models: must not be empty']);
    expect(issuesOf('- a\n- b\n')).toEqual([
      'the file must hold a mapping of settings (dataDir, server, store, kafka, logLevel, models), not a list',
    ]);
    expect(issuesOf(`${MODEL}${MODEL.replace('models:\n', '')}`)).toEqual([
      'models[1].id: duplicate model id "credit-risk" (also at models[0])',
    ]);
    expect(issuesOf('models:\n  - {}\n')).toEqual([
      'models[0].id: is required',
      'models[0].task: is required (binary-classification, multiclass or regression)',
      'models[0].features: is required',
    ]);
  });

  it('reports unknown keys everywhere, suggesting the closest known key', () => {
    const text = `
sever: {}
dataDir: x
data_dir: y
server:
  prot: 1
store:
  embeded: {}
kafka:
  brokers: ["a:1"]
  topic: t
models:
  - id: m
    task: regression
    features:
      - {name: a, type: numeric, tset: ks}
    drift: {bin: 10, whatever: 1}
    label: {Threshold: 0.2}
`;
    expect(issuesOf(text)).toEqual([
      'unknown key "sever" at the top level (did you mean "server"?)',
      'unknown key "data_dir" at the top level (did you mean "dataDir"?)',
      'unknown key "prot" at server (did you mean "port"?)',
      'unknown key "embeded" at store (did you mean "embedded"?)',
      'unknown key "topic" at kafka',
      'unknown key "tset" at models[0].features[0] (did you mean "test"?)',
      'unknown key "bin" at models[0].drift (did you mean "bins"?)',
      'unknown key "whatever" at models[0].drift',
      'unknown key "Threshold" at models[0].label (did you mean "threshold"?)',
    ]);
  });
});

describe('env overrides', () => {
  const parse = (env: ConfigEnv, extra = '') =>
    parseConfig(`${MODEL}${extra}`, { env, cwd: '/run', source: '/etc/driftd.yaml' });

  it('overrides host, port, tokens, data dir and brokers (env paths resolve against cwd)', () => {
    const config = parse(
      {
        DRIFTD_HOST: '0.0.0.0',
        DRIFTD_PORT: '9090',
        DRIFTD_API_TOKENS: ' t1-0123456789abcdef, t2-0123456789abcdef ,,',
        DRIFTD_DATA_DIR: 'state',
        DRIFTD_KAFKA_BROKERS: 'k1:9092,k2:9092',
      },
      'server: {port: 1, apiTokens: [file-0123456789abcdef]}\n',
    );
    expect(config.server).toMatchObject({
      host: '0.0.0.0',
      port: 9090,
      apiTokens: ['t1-0123456789abcdef', 't2-0123456789abcdef'],
    });
    expect(config.dataDir).toBe('/run/state');
    expect(config.store).toMatchObject({ path: '/run/state/store' });
    expect(config.kafka).toMatchObject({ brokers: ['k1:9092', 'k2:9092'], groupId: 'driftd' });
  });

  it('overrides the ClickHouse URL and password, and switches to ClickHouse', () => {
    const config = parse({
      DRIFTD_CLICKHOUSE_URL: 'https://ch.internal:8443',
      DRIFTD_CLICKHOUSE_PASSWORD: 's3cret',
    });
    expect(config.store).toMatchObject({
      kind: 'clickhouse',
      url: 'https://ch.internal:8443',
      password: 's3cret',
      database: 'driftd',
    });
    const fromFile = parse(
      { DRIFTD_CLICKHOUSE_PASSWORD: 'env' },
      'store: {clickhouse: {url: "http://ch:8123", password: file}}\n',
    );
    expect(fromFile.store).toMatchObject({ url: 'http://ch:8123', password: 'env' });
  });

  it('ignores empty variables', () => {
    expect(parse({ DRIFTD_PORT: '', DRIFTD_API_TOKENS: '' }).server).toMatchObject({
      port: 8080,
      apiTokens: [],
    });
  });

  it('names the variable in errors', () => {
    expect(() => parse({ DRIFTD_PORT: 'http' })).toThrow(InvalidConfigError);
    const issues = (env: ConfigEnv, extra?: string) => {
      try {
        parse(env, extra);
      } catch (err) {
        return (err as ConfigError).issues;
      }
      return [];
    };
    expect(issues({ DRIFTD_PORT: 'http' })).toEqual([
      'server.port (from DRIFTD_PORT): must be an integer between 0 and 65535',
    ]);
    expect(issues({ DRIFTD_KAFKA_BROKERS: 'nohost' })).toEqual([
      'kafka.brokers[0] (from DRIFTD_KAFKA_BROKERS): "nohost" must be host:port (e.g. localhost:9092)',
    ]);
    expect(issues({ DRIFTD_CLICKHOUSE_PASSWORD: 'x' })).toEqual([
      'DRIFTD_CLICKHOUSE_PASSWORD: is set but store.clickhouse is not configured (set it in the file or set DRIFTD_CLICKHOUSE_URL)',
    ]);
    expect(issues({ DRIFTD_CLICKHOUSE_URL: 'http://ch' }, 'store: {embedded: {}}\n')).toEqual([
      'DRIFTD_CLICKHOUSE_URL: is set but store.embedded is configured: a store is either embedded or clickhouse',
    ]);
  });

  it('applies overrides last, over file and env', () => {
    const config = parseConfig(MODEL, {
      env: { DRIFTD_PORT: '9090' },
      overrides: { server: { port: 7070, host: undefined }, logLevel: 'debug' },
    });
    expect(config.server).toMatchObject({ port: 7070, host: '127.0.0.1' });
    expect(config.logLevel).toBe('debug');
    expect(() => parseConfig(MODEL, { env: noEnv, overrides: { server: { port: -1 } } })).toThrow(
      'server.port (from overrides): must be an integer between 0 and 65535',
    );
  });
});

describe('result', () => {
  it('is deeply frozen', () => {
    const config = parseConfig(MODEL, { env: noEnv });
    expect(Object.isFrozen(config)).toBe(true);
    expect(() => {
      (config.server as { port: number }).port = 1;
    }).toThrow(TypeError);
    expect(() => {
      config.models[0]?.features.push({ name: 'x', type: 'numeric', test: null, threshold: null });
    }).toThrow(TypeError);
    expect(() => {
      (config.models[0]!.windows.sizes[0] as { ms: number }).ms = 1;
    }).toThrow(TypeError);
  });

  it('redacts secrets for logging without touching the original', () => {
    const config = parseConfig(
      `${MODEL}server: {apiTokens: [a-0123456789abcdef, b-0123456789abcdef]}\nstore: {clickhouse: {url: "http://u:pw@ch:8123/?password=pw2&x=1", password: pw}}\n`,
      { env: noEnv },
    );
    const redacted = redactConfig(config);
    expect(redacted.server.apiTokens).toEqual(['[redacted]', '[redacted]']);
    expect(redacted.store).toMatchObject({
      password: '[redacted]',
      url: 'http://u:[redacted]@ch:8123/?password=[redacted]&x=1',
    });
    expect(JSON.stringify(redacted)).not.toMatch(/pw/);
    expect(config.server.apiTokens).toEqual(['a-0123456789abcdef', 'b-0123456789abcdef']);
    expect(Object.isFrozen(redacted)).toBe(true);
  });

  it('validateConfig accepts a config built in code', () => {
    const config = validateConfig(
      { models: [{ id: 'm', task: 'regression', features: [{ name: 'x', type: 'numeric' }] }] },
      { env: noEnv, cwd: '/tmp/demo' },
    );
    expect(config.dataDir).toBe('/tmp/demo/.driftd');
    expect(() => validateConfig({ models: [{ id: 'm' }] }, { env: noEnv })).toThrow(
      InvalidConfigError,
    );
  });
});

describe('loadConfig', () => {
  it('loads the example config', async () => {
    // Its model has a PII field, so it needs the PII key.
    const env = { DRIFTD_PII_KEY: 'example-key-0123456789abcdefghijklmnop' };
    const config = await loadConfig({ path: join(root, 'examples/driftd.yaml'), env });
    const model = config.models[0]!;
    expect(model.id).toBe('credit-risk');
    expect(model.features.map((f) => f.type)).toContain('categorical');
    expect(model.piiFields).toEqual(['postcode']);
    expect(config.dataDir).toBe(join(root, 'examples/.driftd'));
  });

  it('finds the file through DRIFTD_CONFIG, relative to cwd', async () => {
    const config = await loadConfig({
      env: { DRIFTD_CONFIG: 'test/fixtures/config/clickhouse.yaml' },
      cwd: root,
    });
    expect(config.store).toMatchObject({ kind: 'clickhouse', rawEventsTtlDays: 7 });
  });

  it('says which file is missing and how to name another', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'driftd-config-'));
    await expect(loadConfig({ env: noEnv, cwd: dir })).rejects.toThrow(
      `driftd.yaml: 1 problem:\n  file not found: ${join(dir, 'driftd.yaml')} (pass --config <file> or set DRIFTD_CONFIG)`,
    );
  });

  it('reports the file name given by the user', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'driftd-config-'));
    writeFileSync(join(dir, 'bad.yaml'), `${MODEL}logLevel: loud\n`);
    await expect(loadConfig({ path: 'bad.yaml', env: noEnv, cwd: dir })).rejects.toThrow(
      'bad.yaml: 1 problem:\n  bad.yaml:10:11: logLevel: must be one of',
    );
  });
});
