import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  type ConfigEnv,
  InvalidConfigError,
  parseConfig,
  REDACTED,
  redactConfig,
} from '../../../src/config/index.js';
import { createLogger } from '../../../src/logger.js';

const KEY = 'a-secret-pii-key-of-at-least-32-bytes!';

const model = (extra = '') => `
models:
  - id: credit-risk
    task: binary-classification
    features:
      - name: income
        type: numeric
      - name: postcode
        type: categorical
${extra
  .split('\n')
  .filter((l) => l.trim() !== '')
  .map((l) => `    ${l}`)
  .join('\n')}
`;

function issuesOf(text: string, env: ConfigEnv = {}): readonly string[] {
  try {
    parseConfig(text, { source: 'driftd.yaml', env, cwd: '/srv' });
  } catch (err) {
    expect(err).toBeInstanceOf(InvalidConfigError);
    return (err as InvalidConfigError).issues;
  }
  return [];
}

describe('the PII key', () => {
  it('is required as soon as a model has PII fields, and the error says how to give it', () => {
    const issues = issuesOf(model('piiFields: [postcode]'));
    expect(issues).toHaveLength(1);
    expect(issues[0]).toMatch(/^models\[0\]\.piiFields: model "credit-risk" has PII fields/);
    expect(issues[0]).toContain('no key is configured: set DRIFTD_PII_KEY');
    expect(issues[0]).toContain('privacy.piiKeyFile');
    // Without PII fields no key is needed; nor to generate rules and dashboards.
    expect(issuesOf(model())).toEqual([]);
    const noKey = parseConfig(model('piiFields: [postcode]'), { env: {}, needsPiiKey: false });
    expect(noKey.privacy?.piiKey).toBeNull();
  });

  it('comes from DRIFTD_PII_KEY or a key file (one trailing newline ignored)', () => {
    const withEnv = parseConfig(model('piiFields: [postcode]'), { env: { DRIFTD_PII_KEY: KEY } });
    expect(withEnv.privacy?.piiKey).toBe(KEY);
    const dir = mkdtempSync(join(tmpdir(), 'driftd-pii-'));
    writeFileSync(join(dir, 'pii.key'), `${KEY}\n`, { mode: 0o600 });
    const fromFile = parseConfig(
      `${model('piiFields: [postcode]')}privacy:\n  piiKeyFile: pii.key\n`,
      { env: {}, baseDir: dir },
    );
    expect(fromFile.privacy).toEqual({ piiKey: KEY, piiKeyFile: join(dir, 'pii.key') });
    expect(
      issuesOf(`${model()}privacy:\n  piiKeyFile: /nonexistent/pii.key\n`).join('\n'),
    ).toContain('privacy.piiKeyFile: cannot read /nonexistent/pii.key (ENOENT)');
  });

  it('must be at least 32 bytes, and the message never shows it', () => {
    const issues = issuesOf(model('piiFields: [postcode]'), { DRIFTD_PII_KEY: 'short-secret' });
    expect(issues).toEqual([
      'privacy: the PII key (from DRIFTD_PII_KEY) is 12 bytes long; it must be at least 32 bytes of random data, or the stored hashes can be brute-forced',
    ]);
    expect(issues.join('\n')).not.toContain('short-secret');
  });

  it('is refused when written in the config file itself', () => {
    const issues = issuesOf(`${model()}privacy:\n  piiKey: ${KEY}\n`);
    expect(issues.join('\n')).toContain('privacy.piiKey: must not be written in the config file');
    expect(issues.join('\n')).not.toContain(KEY);
  });

  it('replaces the old salt: DRIFTD_PII_SALT is refused with the way forward', () => {
    const issues = issuesOf(model(), { DRIFTD_PII_SALT: 'pepper' });
    expect(issues).toHaveLength(1);
    expect(issues[0]).toContain('DRIFTD_PII_SALT: is no longer read');
    expect(issues[0]).toContain('set DRIFTD_PII_KEY');
  });

  it('never appears in a config dump or a log line', () => {
    const config = parseConfig(model('piiFields: [postcode]'), { env: { DRIFTD_PII_KEY: KEY } });
    const dumped = JSON.stringify(redactConfig(config));
    expect(dumped).not.toContain(KEY);
    expect(redactConfig(config).privacy?.piiKey).toBe(REDACTED);
    const lines: string[] = [];
    const sink = { write: (s: string) => lines.push(s) } as unknown as NodeJS.WritableStream;
    const logger = createLogger('info', sink);
    logger.info({ config }, 'config');
    logger.info({ privacy: config.privacy }, 'privacy');
    expect(lines.join('')).not.toContain(KEY);
  });
});

describe('piiFields and storeUnlistedFields', () => {
  const env = { DRIFTD_PII_KEY: KEY };

  it('may name any feature key or the id, not only monitored features', () => {
    const config = parseConfig(model('piiFields: [postcode, email, id]'), { env });
    expect(config.models[0]!.piiFields).toEqual(['postcode', 'email', 'id']);
    expect(config.models[0]!.storeUnlistedFields).toBe(false);
  });

  it.each([
    ['piiFields: [income]', 'models[0].piiFields[0]: "income" is a numeric feature'],
    ['piiFields: [prediction]', 'models[0].piiFields[0]: "prediction" is the prediction or label'],
    ['piiFields: [ts]', 'models[0].piiFields[0]: "ts" is an event field driftd needs in clear'],
    ['piiFields: [postcode, postcode]', 'models[0].piiFields[1]: "postcode" is listed twice'],
    ['storeUnlistedFields: yes please', 'models[0].storeUnlistedFields: must be true or false'],
  ])('%s is refused', (yaml, message) => {
    const issues = issuesOf(model(yaml), env);
    expect(issues).toHaveLength(1);
    expect(issues[0]).toContain(message);
  });
});
