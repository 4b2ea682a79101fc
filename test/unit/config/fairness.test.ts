import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../../src/config/index.js';
import { createPiiKey, piiTransform } from '../../../src/privacy/pii.js';

const yaml = (fairness: string, task = 'binary-classification', extra = '') => `models:
  - id: credit
    task: ${task}
    features:
      - { name: income, type: numeric }
      - { name: region, type: categorical }
      - { name: sex, type: categorical }
      - { name: age, type: numeric }
${extra}    fairness:
${fairness}`;
const load = (fairness: string, task?: string, extra?: string) =>
  parseConfig(yaml(fairness, task, extra), { env: {} }).models[0]!;

const ATTRIBUTES = `      attributes:
        - { field: sex, groups: [female, male], reference: male }
        - { field: age, edges: [25, 35, 50], reference: "[35,50)" }
`;

describe('models[].fairness (src/config/schema.ts)', () => {
  it('a PII attribute keeps its group names: the groups are matched by their keyed hash', () => {
    const key = 'a-test-pii-key-of-at-least-32-bytes-0123456789';
    const config = parseConfig(yaml(ATTRIBUTES, undefined, '    piiFields: [sex]\n'), {
      env: { DRIFTD_PII_KEY: key },
    });
    const sex = config.models[0]?.fairness?.attributes[0];
    const hash = (v: string) => piiTransform(v, createPiiKey(key)) as string;
    expect(sex).toMatchObject({
      kind: 'categorical',
      groups: ['female', 'male'],
      hashed: { [hash('female')]: 'female', [hash('male')]: 'male' },
    });
    // A clear model has no hashes.
    expect(load(ATTRIBUTES).fairness?.attributes[0]).not.toHaveProperty('hashed');
  });

  it('is absent by default', () => {
    expect(
      parseConfig(
        'models:\n  - { id: m, task: regression, features: [{ name: x, type: numeric }] }',
        { env: {} },
      ).models[0]?.fairness,
    ).toBeUndefined();
  });

  it('reads categorical and numeric attributes with the four-fifths defaults', () => {
    expect(load(ATTRIBUTES).fairness).toEqual({
      attributes: [
        { kind: 'categorical', field: 'sex', groups: ['female', 'male'], reference: 'male' },
        { kind: 'numeric', field: 'age', edges: [25, 35, 50], reference: '[35,50)' },
      ],
      confidence: 0.95,
      minGroupSize: 30,
      ratioBounds: { min: 0.8, max: 1.25 },
      maxEqualizedOddsDifference: 0.1,
      verdict: 'significant',
    });
  });

  it('reads band labels and every threshold', () => {
    const f = load(`      attributes:
        - { field: age, edges: [30], labels: [young, older], reference: older }
      confidence: 0.9
      minGroupSize: 100
      ratioBounds: { min: 0.9, max: 1.1 }
      maxEqualizedOddsDifference: 0.05
      verdict: point
`).fairness;
    expect(f).toMatchObject({
      attributes: [
        { kind: 'numeric', edges: [30], labels: ['young', 'older'], reference: 'older' },
      ],
      confidence: 0.9,
      minGroupSize: 100,
      ratioBounds: { min: 0.9, max: 1.1 },
      maxEqualizedOddsDifference: 0.05,
      verdict: 'point',
    });
  });

  it('names the key of every bad value', () => {
    const attr = (a: string) => `      attributes:\n        - ${a}\n`;
    const bad: Array<[string, RegExp, string?, string?]> = [
      ['      attributes: []\n', /fairness\.attributes: needs at least one/],
      [attr('{ field: sex, reference: male }'), /attributes\[0\]: needs "groups".*or "edges"/],
      [
        attr('{ field: sex, groups: [a], edges: [1], reference: a }'),
        /attributes\[0\]\.edges: give either/,
      ],
      [
        attr('{ field: sex, groups: [a, b], reference: c }'),
        /reference: "c" is not one of the groups \("a", "b"\)/,
      ],
      [attr('{ field: sex, groups: [a, b] }'), /attributes\[0\]\.reference: is required/],
      [attr('{ groups: [a], reference: a }'), /attributes\[0\]\.field: is required/],
      [
        attr('{ field: sex, groups: [a, other], reference: a }'),
        /groups\[1\]: "other" is reserved/,
      ],
      [attr('{ field: sex, groups: [a, a], reference: a }'), /groups\[1\]: "a" is listed twice/],
      [
        attr('{ field: sex, groups: [a], labels: [x], reference: a }'),
        /labels: is only for numeric/,
      ],
      [
        attr('{ field: age, edges: [30, 30], reference: "<30" }'),
        /edges\[1\]: must be greater than edges\[0\]/,
      ],
      [attr('{ field: age, edges: [30, .inf], reference: "<30" }'), /edges\[1\]: must be a number/],
      [attr('{ field: age, edges: [30], labels: [a], reference: a }'), /labels: needs 2 names/],
      [
        attr('{ field: age, edges: [30], labels: [a, missing], reference: a }'),
        /labels\[1\]: "missing" is reserved/,
      ],
      [
        attr('{ field: age, edges: [30], reference: young }'),
        /"young" is not one of the groups \("<30", ">=30"\)/,
      ],
      [
        attr('{ field: region, edges: [30], reference: "<30" }'),
        /field: "region" is a categorical feature/,
      ],
      [
        attr('{ field: income, groups: [a], reference: a }'),
        /field: "income" is a numeric feature: give "edges"/,
      ],
      [
        attr('{ field: label, groups: [a], reference: a }'),
        /field: "label" is not a feature of this model: add it to features \(type categorical\)/,
      ],
      [
        `${attr('{ field: sex, groups: [a], reference: a }')}        - { field: sex, groups: [b], reference: b }\n`,
        /attributes\[1\]\.field: "sex" is listed twice/,
      ],
      [`${ATTRIBUTES}      confidence: 1\n`, /fairness\.confidence: must be a number/],
      [`${ATTRIBUTES}      minGroupSize: 0\n`, /fairness\.minGroupSize/],
      [`${ATTRIBUTES}      ratioBounds: { min: 1.2 }\n`, /fairness\.ratioBounds\.min/],
      [`${ATTRIBUTES}      ratioBounds: { max: 0.9 }\n`, /fairness\.ratioBounds\.max/],
      [`${ATTRIBUTES}      maxEqualizedOddsDifference: 2\n`, /maxEqualizedOddsDifference/],
      [`${ATTRIBUTES}      verdict: strict\n`, /fairness\.verdict/],
      [`${ATTRIBUTES}      thresholds: {}\n`, /unknown key "thresholds" at models\[0\]\.fairness/],
      [ATTRIBUTES, /fairness: needs task "binary-classification"/, 'regression'],
      [
        ATTRIBUTES,
        /piiFields: model "credit" has PII fields.*no key/,
        undefined,
        '    piiFields: [sex]\n',
      ],
    ];
    for (const [fairness, message, task, extra] of bad) {
      expect(() => load(fairness, task, extra)).toThrow(message);
    }
  });
});
