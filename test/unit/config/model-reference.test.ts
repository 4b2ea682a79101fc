import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../../src/config/index.js';

const yaml = (extra: string) => `models:
  - id: m
    task: regression
    features: [{ name: x, type: numeric }]
${extra}`;
const load = (extra: string) => parseConfig(yaml(extra), { env: {} }).models[0]!;

describe('models[].reference and models[].timeZone (src/config/schema.ts)', () => {
  it('defaults to the baseline and UTC', () => {
    const m = load('');
    expect(m.reference).toEqual({ kind: 'baseline', windows: 0 });
    expect(m.timeZone).toBe('UTC');
  });

  it('reads previous and rolling', () => {
    expect(load('    reference: { kind: previous }').reference).toEqual({
      kind: 'previous',
      windows: 1,
    });
    expect(load('    reference: { kind: rolling, windows: 7 }').reference).toEqual({
      kind: 'rolling',
      windows: 7,
    });
  });

  it('names the key of every bad value', () => {
    const bad: Array<[string, RegExp]> = [
      ['    reference: { kind: rolling }', /models\[0\]\.reference\.windows/],
      ['    reference: { kind: rolling, windows: 1 }', /models\[0\]\.reference\.windows/],
      ['    reference: { kind: rolling, windows: 61 }', /models\[0\]\.reference\.windows/],
      [
        '    reference: { kind: previous, windows: 3 }',
        /models\[0\]\.reference\.windows: is only for kind "rolling"/,
      ],
      ['    reference: { kind: seasonal }', /models\[0\]\.reference\.kind/],
      [
        '    timeZone: Europe/Atlantis',
        /models\[0\]\.timeZone: "Europe\/Atlantis" is not an IANA time zone/,
      ],
    ];
    for (const [extra, message] of bad) expect(() => load(extra)).toThrow(message);
  });
});
