/**
 * Every window result records what produced it: the driftd version, the hash of the model's
 * effective config (src/config/hash.ts), and why it was written.
 */
import { describe, expect, it } from 'vitest';
import { modelConfigHash } from '../../../src/config/hash.js';
import type { ModelConfig } from '../../../src/config/types.js';
import type { WindowBounds } from '../../../src/types.js';
import { VERSION } from '../../../src/version.js';
import { createWindowState, evaluateWindow } from '../../../src/window/index.js';
import { testModel } from '../../helpers/model.js';
import { makeBaseline, makeEvents, makeRows } from './fixtures.js';

const BOUNDS: WindowBounds = {
  model: 'credit-risk',
  version: '3',
  size: 300_000,
  sizeLabel: '5m',
  start: 600_000,
  end: 900_000,
};

function evaluate(model: ModelConfig, reason?: 'watermark' | 'idle' | 'flush') {
  const baseline = makeBaseline(model, '3');
  const state = createWindowState({ bounds: BOUNDS, model, baseline });
  for (const e of makeEvents(model, '3', makeRows(300, 7), (i) => BOUNDS.start + i)) {
    state.record(e);
  }
  return evaluateWindow(
    { state, closedAt: BOUNDS.end + 1, ...(reason ? { reason } : {}) },
    baseline,
    model,
  );
}

describe('window result lineage', () => {
  it('records the driftd version and the config hash; the hash changes with the config', () => {
    const model = testModel();
    const result = evaluate(model);
    expect(result.driftdVersion).toBe(VERSION);
    expect(result.configHash).toBe(modelConfigHash(model));
    expect(result.configHash).toMatch(/^sha256:[0-9a-f]{64}$/);

    // Another drift threshold is another config: the same window records another hash.
    const stricter = testModel({ drift: { ...model.drift, shareThreshold: 0.9 } });
    expect(evaluate(stricter).configHash).not.toBe(result.configHash);
    // The same config written again (another object) hashes alike.
    expect(evaluate(testModel()).configHash).toBe(result.configHash);
  });

  it('says why it was written: the close, a provisional result, a flush', () => {
    const model = testModel();
    expect(evaluate(model, 'watermark').revisionReason).toBe('close');
    expect(evaluate(model, 'idle')).toMatchObject({
      provisional: true,
      revisionReason: 'provisional',
    });
    expect(evaluate(model, 'flush').revisionReason).toBe('flush');
  });
});
