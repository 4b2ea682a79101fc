import type { ModelConfig } from '../config/types.js';
import { InvalidInputError } from '../errors.js';
import { type CbpeModel, fitCbpe } from '../stats/index.js';

/*
 * The label-free performance estimator's fit at baseline import (src/stats/cbpe.ts): for a
 * binary classifier with a numeric score, the baseline file's label column
 * (`label.field`) and score column give the calibration and the sampling-error spreads.
 * Rows whose score or label is missing are left out of this fit only. Memory is bounded: at
 * most CBPE_REFERENCE_MAX rows are kept, a seeded reservoir sample beyond that, so the same
 * file always gives the same estimator.
 */

/** Rows the estimator is fitted on at most (16 bytes each while importing). */
export const CBPE_REFERENCE_MAX = 1_000_000;

/** Why a baseline has no estimator, for the import report. */
export type CbpeSkipReason =
  | 'not-binary'
  | 'label-absent'
  | 'too-few-rows'
  | 'one-class'
  | 'not-probabilities';

export interface CbpeFitReport {
  /** Rows with both a score and a label (before sampling). */
  rows: number;
  calibration: 'isotonic' | 'none' | null;
  skipped: CbpeSkipReason | null;
}

export interface CbpeCollector {
  /** Adds one valid baseline row's raw score and label cells. */
  add(score: unknown, label: unknown): void;
  finish(): { model: CbpeModel | null; report: CbpeFitReport };
}

/** Whether `model` gets an estimator at all: binary classification with a numeric score. */
export function estimatesPerformance(model: ModelConfig): boolean {
  return model.task === 'binary-classification' && model.prediction.type === 'numeric';
}

/** What the estimator depends on besides the data, for the baseline hash. */
export function cbpeSpec(model: ModelConfig): Record<string, unknown> {
  if (!estimatesPerformance(model)) return {};
  const { field, positive, threshold } = model.label;
  return { cbpe: [field, String(positive), threshold] };
}

/** `max` (default CBPE_REFERENCE_MAX) is the reservoir's size: rows kept at most. */
export function createCbpeCollector(model: ModelConfig, max = CBPE_REFERENCE_MAX): CbpeCollector {
  const positive = String(model.label.positive);
  let s = new Float64Array(Math.min(max, 1024));
  let y = new Uint8Array(s.length);
  let kept = 0;
  let seen = 0;
  let labelSeen = false;
  // mulberry32, fixed seed: the reservoir, hence the fit, depends on the file only.
  let state = 0x5eed;
  const random = (): number => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  return {
    add(score: unknown, label: unknown): void {
      if (label === undefined || label === null || label === '') return;
      labelSeen = true;
      const x =
        typeof score === 'number'
          ? score
          : typeof score === 'string' && score.trim() !== ''
            ? Number(score)
            : Number.NaN;
      if (!Number.isFinite(x)) return;
      const l = String(label) === positive ? 1 : 0;
      seen++;
      let at = kept;
      if (kept === max) {
        at = Math.floor(random() * seen);
        if (at >= max) return;
      } else {
        if (kept === s.length) {
          const grown = Math.min(max, s.length * 2);
          const ns = new Float64Array(grown);
          ns.set(s);
          const ny = new Uint8Array(grown);
          ny.set(y);
          s = ns;
          y = ny;
        }
        kept++;
      }
      s[at] = x;
      y[at] = l;
    },
    finish() {
      const report: CbpeFitReport = { rows: seen, calibration: null, skipped: null };
      if (!labelSeen) return { model: null, report: { ...report, skipped: 'label-absent' } };
      if (kept < 20) return { model: null, report: { ...report, skipped: 'too-few-rows' } };
      const labels = y.subarray(0, kept);
      let positives = 0;
      for (const l of labels) positives += l;
      if (positives === 0 || positives === kept) {
        return { model: null, report: { ...report, skipped: 'one-class' } };
      }
      try {
        const fitted = fitCbpe(s.subarray(0, kept), labels, { threshold: model.label.threshold });
        return { model: fitted, report: { ...report, calibration: fitted.calibration } };
      } catch (err) {
        // Uncalibrated scores outside [0, 1] cannot be read as probabilities.
        if (!(err instanceof InvalidInputError)) throw err;
        return { model: null, report: { ...report, skipped: 'not-probabilities' } };
      }
    },
  };
}
