import { describe, expect, it } from 'vitest';
import { validateConfig } from '../../../src/config/index.js';
import { changedPaths, configChanges, createLiveConfig } from '../../../src/config/live.js';

const model = (id: string, extra: Record<string, unknown> = {}) => ({
  id,
  task: 'regression',
  features: [{ name: 'x', type: 'numeric' }],
  ...extra,
});
const config = (input: Record<string, unknown>) =>
  validateConfig({ dataDir: '/tmp/driftd-live', models: [model('m')], ...input }, { env: {} });
const kafka = { brokers: ['127.0.0.1:9092'], groupId: 'g' };

describe('changedPaths', () => {
  it('names the paths that differ, never their values', () => {
    const a = { server: { port: 1, auth: { tokens: [{ secret: 's3cret-one' }] } }, x: [1, 2] };
    const b = { server: { port: 2, auth: { tokens: [{ secret: 's3cret-two' }] } }, x: [1] };
    const paths = changedPaths(a, b);
    expect(paths).toEqual(['server.port', 'server.auth.tokens[0].secret', 'x[1]']);
    expect(JSON.stringify(paths)).not.toContain('s3cret');
  });
  it('treats an absent key and an undefined one alike', () => {
    expect(changedPaths({ a: 1 }, { a: 1, b: undefined })).toEqual([]);
  });
});

describe('configChanges', () => {
  it('sorts live changes from restart-only ones and keeps the running values of the latter', () => {
    const current = config({});
    const next = config({
      server: { port: 9999 },
      logLevel: 'debug',
      models: [model('m', { drift: { fdr: 0.01 } }), model('n')],
    });
    const c = configChanges(current, next);
    expect(c.needsRestart).toEqual(['server.port', 'logLevel']);
    expect(c.live).toContain('models["m"].drift.fdr');
    expect(c.added).toEqual(['n']);
    expect(c.removed).toEqual([]);
    expect(c.refused).toEqual([]);
    expect(c.config.server).toBe(current.server);
    expect(c.config.logLevel).toBe(current.logLevel);
    expect(c.config.models).toBe(next.models);
  });

  it('names models by id: reordering them changes nothing', () => {
    const current = config({ models: [model('a'), model('b')] });
    const next = config({ models: [model('b'), model('a', { drift: { fdr: 0.01 } })] });
    expect(configChanges(current, next).live).toEqual(['models["a"].drift.fdr']);
  });

  it('swaps any other top-level section whole (e.g. one added later, such as alerts)', () => {
    const current = config({});
    const next = { ...config({}), extra: { team: 'risk-ml' } } as typeof current;
    const c = configChanges(current, next);
    expect(c.live).toEqual(['extra']);
    expect((c.config as unknown as { extra: unknown }).extra).toEqual({ team: 'risk-ml' });
  });

  it('with Kafka, takes what its decoder reads (models added/removed, features, allowed versions) live', () => {
    const current = config({ kafka, models: [model('m'), model('old')] });
    const next = config({
      kafka,
      models: [
        model('m', {
          features: [
            { name: 'x', type: 'numeric' },
            { name: 'y', type: 'numeric' },
          ],
          versions: { allow: ['1'] },
          drift: { fdr: 0.01 },
        }),
        model('new'),
      ],
    });
    const c = configChanges(current, next);
    expect(c.refused).toEqual([]);
    expect(c.added).toEqual(['new']);
    expect(c.removed).toEqual(['old']);
    expect(c.live).toEqual(
      expect.arrayContaining(['models["m"].features[1]', 'models["m"].versions.allow']),
    );
    expect(c.needsRestart).toEqual([]);
  });

  it('refuses a PII key change while a model hashes fields with it', () => {
    const key = (k: string) => ({ DRIFTD_PII_KEY: k });
    const pii = {
      models: [
        model('m', {
          features: [{ name: 'region', type: 'categorical' }],
          piiFields: ['region'],
        }),
      ],
    };
    const a = validateConfig({ dataDir: '/tmp/driftd-live', ...pii }, { env: key('a'.repeat(40)) });
    const b = validateConfig({ dataDir: '/tmp/driftd-live', ...pii }, { env: key('b'.repeat(40)) });
    expect(configChanges(a, b).refused).toHaveLength(1);
    expect(configChanges(a, a).refused).toEqual([]);
  });
});

describe('createLiveConfig', () => {
  it('swaps the config and updates the one models Map in place', () => {
    const live = createLiveConfig(config({}));
    const models = live.models;
    const next = config({ models: [model('a'), model('b')] });
    live.swap(next);
    expect(live.current).toBe(next);
    expect(live.models).toBe(models);
    expect([...models.keys()]).toEqual(['a', 'b']);
  });
});
