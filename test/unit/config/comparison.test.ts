import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../../src/config/index.js';

const yaml = (comparison: string, extra = '') => `models:
  - id: credit
    task: binary-classification
    features:
      - { name: income, type: numeric }
${extra}    comparison: ${comparison}`;
const load = (comparison: string, extra?: string) =>
  parseConfig(yaml(comparison, extra), { env: {} }).models[0]!;

describe('models[].comparison (src/config/schema.ts)', () => {
  it('is absent by default', () => {
    expect(
      parseConfig(
        'models:\n  - { id: m, task: regression, features: [{ name: x, type: numeric }] }',
        {
          env: {},
        },
      ).models[0]?.comparison,
    ).toBeUndefined();
  });

  it('reads the champion; challengers default to every other version, shadow to false', () => {
    expect(load('{ champion: "3" }').comparison).toEqual({
      champion: '3',
      challengers: null,
      shadow: false,
    });
    expect(load('{ champion: "3", challengers: ["4", "5"], shadow: true }').comparison).toEqual({
      champion: '3',
      challengers: ['4', '5'],
      shadow: true,
    });
  });

  it.each([
    ['{}', 'models[0].comparison.champion'],
    ['{ champion: "" }', 'models[0].comparison.champion'],
    ['{ champion: "3", challengers: [] }', 'models[0].comparison.challengers'],
    ['{ champion: "3", challengers: ["3"] }', 'is the champion'],
    ['{ champion: "3", challengers: ["4", "4"] }', 'listed twice'],
    ['{ champion: "3", shadow: "yes" }', 'models[0].comparison.shadow'],
    ['{ champion: "3", challenger: ["4"] }', 'did you mean "challengers"'],
    [
      `{ champion: "3", challengers: [${Array.from({ length: 21 }, (_, i) => `"v${i}"`).join(', ')}] }`,
      'at most 20',
    ],
  ])('refuses %s, naming the key', (comparison, message) => {
    expect(() => load(comparison)).toThrow(message);
  });

  it('refuses versions outside versions.allow: they never have a window', () => {
    const allow = '    versions: { allow: ["3", "4"] }\n';
    expect(load('{ champion: "3", challengers: ["4"] }', allow).comparison?.champion).toBe('3');
    expect(() => load('{ champion: "3", challengers: ["5"] }', allow)).toThrow(
      /challengers\[0\].*"5" is not in versions.allow/,
    );
    expect(() => load('{ champion: "9" }', allow)).toThrow(
      /champion.*"9" is not in versions.allow/,
    );
  });
});
