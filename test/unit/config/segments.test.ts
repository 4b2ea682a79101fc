import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../../src/config/index.js';

const load = (segments: string) =>
  parseConfig(
    `models:
  - id: credit
    task: binary-classification
    features:
      - { name: income, type: numeric }
      - { name: region, type: categorical }
      - { name: channel, type: categorical }
      - { name: "a=b", type: categorical }
    segments: ${segments}
`,
    { env: {} },
  ).models[0]!;

describe('models[].segments (src/config/schema.ts)', () => {
  it('is absent by default and reads fields with maxPerField 10', () => {
    expect(
      parseConfig(
        'models:\n  - { id: m, task: regression, features: [{ name: x, type: numeric }] }',
        { env: {} },
      ).models[0],
    ).not.toHaveProperty('segments');
    expect(load('{ fields: [region, channel] }').segments).toEqual({
      fields: ['region', 'channel'],
      maxPerField: 10,
    });
    expect(load('{ fields: [region], maxPerField: 3 }').segments?.maxPerField).toBe(3);
  });

  it.each([
    ['{ fields: [income] }', 'models[0].segments.fields[0]', 'numeric feature'],
    ['{ fields: [country] }', 'models[0].segments.fields[0]', 'not a feature of this model'],
    ['{ fields: [] }', 'models[0].segments.fields', ''],
    ['{ fields: [region, region] }', 'models[0].segments.fields[1]', 'listed twice'],
    ['{ fields: [region], maxPerField: 0 }', 'models[0].segments.maxPerField', ''],
    ['{ fields: [region], maxPerField: 101 }', 'models[0].segments.maxPerField', ''],
    ['{ maxPerField: 3 }', 'models[0].segments.fields', ''],
    ['{ fields: [region], cap: 3 }', 'models[0].segments', 'unknown key "cap"'],
    ['[region]', 'models[0].segments', ''],
    ['{ fields: ["a=b"] }', 'models[0].segments.fields[0]', ''],
  ])('refuses %s, naming %s', (segments, path, message) => {
    expect(() => load(segments)).toThrow(path);
    if (message !== '') expect(() => load(segments)).toThrow(message);
  });
});
