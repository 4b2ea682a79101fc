import { modelConfigHash } from '../config/hash.js';
import type { ModelConfig } from '../config/types.js';
import type { WindowResult } from '../types.js';
import { type EvaluableWindow, evaluateWindow } from './evaluate.js';
import type { WindowState } from './state.js';

/**
 * The drift results of a closed window's segments (src/window/segments.ts), by segment name:
 * the same tests, calibration and thresholds as the whole window, each segment against the
 * baseline's rows of that segment. Always against the baseline: a window reference (previous,
 * rolling) is kept for the whole traffic only.
 */
export function evaluateSegments(
  closed: EvaluableWindow & { state: WindowState },
  model: ModelConfig,
): WindowResult[] {
  const state = closed.state;
  if (state.segments.size === 0) return [];
  const against: ModelConfig = { ...model, reference: { kind: 'baseline', windows: 0 } };
  const out: WindowResult[] = [];
  for (const name of [...state.segments.keys()].sort()) {
    const seg = state.segments.get(name)!;
    const window: EvaluableWindow = {
      state: seg.state,
      closedAt: closed.closedAt,
      ...(closed.reason === undefined ? {} : { reason: closed.reason }),
      ...(closed.revisionReason === undefined ? {} : { revisionReason: closed.revisionReason }),
    };
    // Lineage names the model's effective config, not the baseline-only view judged here.
    out.push({
      ...evaluateWindow(window, seg.baseline, against),
      configHash: modelConfigHash(model),
    });
  }
  return out;
}
