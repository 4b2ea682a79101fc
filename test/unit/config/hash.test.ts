import { describe, expect, it } from 'vitest';
import { canonicalJson, modelConfigHash } from '../../../src/config/hash.js';
import { testModel } from '../../helpers/model.js';

describe('modelConfigHash', () => {
  it('is the same for the same meaning, whatever the key order or undefined members', () => {
    expect(canonicalJson({ b: 1, a: [1, { d: undefined, c: 2 }] })).toBe('{"a":[1,{"c":2}],"b":1}');
    const a = testModel();
    const b = JSON.parse(JSON.stringify(a)) as typeof a;
    expect(modelConfigHash(b)).toBe(modelConfigHash(a));
    expect(modelConfigHash(a)).toMatch(/^sha256:[0-9a-f]{64}$/);
  });

  it('changes when anything that judges a window changes', () => {
    const a = testModel();
    const b = { ...a, drift: { ...a.drift, fdr: a.drift.fdr / 2 } };
    expect(modelConfigHash(b)).not.toBe(modelConfigHash(a));
  });
});
