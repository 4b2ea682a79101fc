import { describe, expect, it } from 'vitest';
import {
  type ConfigEnv,
  InvalidConfigError,
  type ParseConfigOptions,
  parseConfig,
} from '../../../src/config/index.js';
import { configChanges, RESTART_ONLY_KEYS } from '../../../src/config/live.js';

const STORE = 'store:\n  clickhouse: { url: "http://127.0.0.1:8123" }\n';
const MODEL = `models:
  - id: credit
    task: binary-classification
    features:
      - { name: income, type: numeric }
`;
const CLUSTER = 'cluster:\n  enabled: true\n  instanceId: driftd-0\n';

const parse = (text: string, env: ConfigEnv = {}, options: ParseConfigOptions = {}) =>
  parseConfig(text, { source: 'driftd.yaml', env, cwd: '/srv', ...options });

function issuesOf(text: string, env: ConfigEnv = {}): readonly string[] {
  try {
    parse(text, env);
  } catch (err) {
    expect(err).toBeInstanceOf(InvalidConfigError);
    return (err as InvalidConfigError).issues;
  }
  throw new Error('expected the config to be rejected');
}

describe('cluster: (src/config/cluster.ts)', () => {
  it('is absent without the key: a single instance, the config shape unchanged', () => {
    expect('cluster' in parse(MODEL)).toBe(false);
  });

  it('reads every key with its default', () => {
    expect(parse(`${STORE}${CLUSTER}${MODEL}`).cluster).toEqual({
      enabled: true,
      instanceId: 'driftd-0',
      finaliseIntervalMs: 1000,
      laneTimeoutMs: 600_000,
    });
    expect(
      parse(
        `${STORE}cluster: { enabled: true, instanceId: a.b_c-9, finaliseInterval: 250ms, laneTimeout: 30m }\n${MODEL}`,
      ).cluster,
    ).toEqual({
      enabled: true,
      instanceId: 'a.b_c-9',
      finaliseIntervalMs: 250,
      laneTimeoutMs: 1_800_000,
    });
  });

  it('enabled: false needs no instance id and refuses nothing', () => {
    const config = parse(
      `cluster: { enabled: false }\n${MODEL}    comparison: { champion: "2" }\n`,
    );
    expect(config.cluster).toEqual({
      enabled: false,
      instanceId: '',
      finaliseIntervalMs: 1000,
      laneTimeoutMs: 600_000,
    });
  });

  it.each([
    ['cluster: { enabled: true }', 'cluster.instanceId: is required when cluster.enabled is true'],
    ['cluster: { enabled: yes }', 'cluster.enabled: must be true or false'],
    [
      'cluster: { enabled: true, instanceId: "a/b" }',
      'cluster.instanceId: "a/b" is not an instance id',
    ],
    [`cluster: { enabled: true, instanceId: "${'x'.repeat(64)}" }`, 'cluster.instanceId: "xxx'],
    [
      'cluster: { enabled: true, instanceId: a, finaliseInterval: 50ms }',
      'cluster.finaliseInterval: "50ms" is shorter than the minimum of 100ms',
    ],
    [
      'cluster: { enabled: true, instanceId: a, laneTimeout: 10s }',
      'cluster.laneTimeout: "10s" is shorter than the minimum of 30s',
    ],
    [
      'cluster: { enabled: true, instanceId: a, laneTimeout: 10 }',
      'cluster.laneTimeout: 10 is not a duration',
    ],
    ['cluster: { enabled: true, instanceId: a, leader: true }', 'unknown key "leader" at cluster'],
    ['cluster: true', 'cluster: must be a mapping'],
  ])('refuses %s', (cluster, issue) => {
    const issues = issuesOf(`${STORE}${cluster}\n${MODEL}`);
    expect(
      issues.some((i) => i.startsWith(issue)),
      issues.join('\n'),
    ).toBe(true);
  });

  it('env: DRIFTD_CLUSTER_ENABLED and DRIFTD_CLUSTER_INSTANCE_ID override the file', () => {
    const env = { DRIFTD_CLUSTER_ENABLED: 'true', DRIFTD_CLUSTER_INSTANCE_ID: 'driftd-2' };
    expect(parse(`${STORE}${MODEL}`, env).cluster).toMatchObject({
      enabled: true,
      instanceId: 'driftd-2',
    });
    expect(
      parse(`${STORE}${CLUSTER}${MODEL}`, { DRIFTD_CLUSTER_ENABLED: 'false' }).cluster,
    ).toMatchObject({ enabled: false, instanceId: 'driftd-0' });
    expect(issuesOf(`${STORE}${MODEL}`, { DRIFTD_CLUSTER_ENABLED: '1' })).toContain(
      'cluster.enabled (from DRIFTD_CLUSTER_ENABLED): must be true or false',
    );
    expect(issuesOf(`${STORE}${MODEL}`, { DRIFTD_CLUSTER_ENABLED: 'true' })).toContain(
      "cluster.instanceId: is required when cluster.enabled is true (a stable name per instance, e.g. the pod's name: set DRIFTD_CLUSTER_INSTANCE_ID)",
    );
    expect(
      issuesOf(`${STORE}${MODEL}`, {
        DRIFTD_CLUSTER_ENABLED: 'true',
        DRIFTD_CLUSTER_INSTANCE_ID: 'pod 1',
      }).some((i) => i.startsWith('cluster.instanceId (from DRIFTD_CLUSTER_INSTANCE_ID): "pod 1"')),
    ).toBe(true);
  });

  describe('refusals when enabled, each naming its key', () => {
    it('the embedded store', () => {
      expect(issuesOf(`${CLUSTER}${MODEL}`)).toContainEqual(
        expect.stringMatching(
          /^store: the embedded store is one process's: cluster mode needs the ClickHouse server store/,
        ),
      );
    });

    it.each([
      [
        '    reference: { kind: previous }\n',
        'models[0].reference.kind: "previous" is not supported in cluster mode yet',
      ],
      [
        '    reference: { kind: rolling, windows: 3 }\n',
        'models[0].reference.kind: "rolling" is not supported in cluster mode yet',
      ],
      [
        '    comparison: { champion: "2" }\n',
        'models[0].comparison: is not supported in cluster mode yet',
      ],
      [
        '    alerts: { retrain: { driftWindows: 3 } }\n',
        'models[0].alerts.retrain: is not supported in cluster mode yet',
      ],
    ])('%s', (extra, issue) => {
      const issues = issuesOf(`${STORE}${CLUSTER}${MODEL}${extra}`);
      expect(
        issues.some((i) => i.startsWith(issue)),
        issues.join('\n'),
      ).toBe(true);
      // The same model is fine on one instance.
      expect(() => parse(`${MODEL}${extra}`)).not.toThrow();
    });

    it('top-level alerts.retrain', () => {
      const issues = issuesOf(
        `${STORE}${CLUSTER}alerts:\n  retrain: { driftWindows: 4 }\n${MODEL}`,
      );
      expect(
        issues.some((i) => i.startsWith('alerts.retrain: is not supported in cluster mode yet')),
      ).toBe(true);
    });

    it('a baseline reference is fine', () => {
      expect(() =>
        parse(`${STORE}${CLUSTER}${MODEL}    reference: { kind: baseline }\n`),
      ).not.toThrow();
    });
  });

  it('is restart-only: a reload keeps the running cluster settings', () => {
    expect(RESTART_ONLY_KEYS).toContain('cluster');
    const running = parse(`${STORE}${CLUSTER}${MODEL}`);
    const next = parse(`${STORE}cluster: { enabled: true, instanceId: other }\n${MODEL}`);
    const changes = configChanges(running, next);
    expect(changes.needsRestart).toEqual(['cluster.instanceId']);
    expect(changes.config.cluster).toBe(running.cluster);
    expect(changes.live).toEqual([]);
    // Turning it on (absent before) needs a restart too.
    expect(configChanges(parse(`${STORE}${MODEL}`), running).needsRestart).toEqual(['cluster']);
  });
});
