import { describe, expect, it } from 'vitest';
import { buildProfileFromRows } from '../../../src/baseline/index.js';
import type { FeatureValue, WindowBounds } from '../../../src/types.js';
import { createWindowState } from '../../../src/window/index.js';
import { testModel } from '../../helpers/model.js';

const BOUNDS: WindowBounds = {
  model: 'credit-risk',
  version: '3',
  size: 300_000,
  sizeLabel: '5m',
  start: 600_000,
  end: 900_000,
};

describe('window state: an event recorded into its features by name', () => {
  it('reads every feature by its own name, whatever characters the name holds', () => {
    // Names a generated reader must quote right: quotes, backslashes, a line separator, code.
    const names = ['in"come', 'a\\b', 'line\u2028sep', '"]); throw 1; ("', 'region'];
    const model = testModel({
      features: names.map((name, i) => ({
        name,
        type: i === names.length - 1 ? 'categorical' : 'numeric',
        test: null,
        threshold: null,
      })),
    });
    const rows = Array.from({ length: 200 }, (_, r) => {
      const features: Record<string, FeatureValue> = {};
      names.forEach((n, i) => {
        features[n] = i === names.length - 1 ? `c${r % 3}` : r + 10 * i;
      });
      return { features, prediction: (r % 10) / 10 };
    });
    const baseline = buildProfileFromRows(model, '3', rows, { createdAt: 0 }).profile;
    const state = createWindowState({ bounds: BOUNDS, model, baseline });
    // One event with each numeric feature at its own value; one missing `a\b`.
    const features: Record<string, FeatureValue> = {};
    names.forEach((n, i) => {
      features[n] = i === names.length - 1 ? 'c1' : 50 + 10 * i;
    });
    const event = { model: 'credit-risk', version: '3', id: 'x', ts: 600_001, prediction: 0.5 };
    state.record({ ...event, features });
    state.record({ ...event, id: 'y', features: { ...features, 'a\\b': null } });
    const snap = state.snapshot();
    names.slice(0, -1).forEach((n, i) => {
      const s = snap.features[n];
      if (s?.kind !== 'numeric') throw new Error(`no numeric sketch for ${n}`);
      expect(s.total).toBe(2);
      expect(s.missing).toBe(n === 'a\\b' ? 1 : 0);
      expect(s.sum).toBe((50 + 10 * i) * (n === 'a\\b' ? 1 : 2));
    });
    const region = snap.features.region;
    if (region?.kind !== 'categorical') throw new Error('no categorical sketch for region');
    expect([...region.counts].sort()).toEqual([0, 0, 2]); // both events in one category
  });
});
