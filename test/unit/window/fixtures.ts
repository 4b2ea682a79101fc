import { buildProfileFromRows } from '../../../src/baseline/index.js';
import type { ModelConfig } from '../../../src/config/types.js';
import type { BaselineProfile, FeatureValue, PredictionEvent } from '../../../src/types.js';
import type { Clock } from '../../../src/window/index.js';

/** A settable clock: tests move wall-clock time by hand. */
export interface ManualClock extends Clock {
  t: number;
  advance(ms: number): void;
}

export function manualClock(start = 1_000_000): ManualClock {
  const c = {
    t: start,
    now: () => c.t,
    advance(ms: number) {
      c.t += ms;
    },
  };
  return c;
}

import { mulberry32 as rng } from '../../helpers/random.js';

export { rng };

export function normal(r: () => number): () => number {
  return () => {
    const u = 1 - r();
    const v = r();
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
  };
}

export interface RowShift {
  /** Added to income, in multiples of its std (10 000). */
  income?: number;
  /** Probability of region "EU" (baseline 0.5; the rest split over US/APAC). */
  euShare?: number;
  /** Probability that age is missing. */
  ageMissing?: number;
  /** Added to the prediction score. */
  prediction?: number;
}

/** Rows shaped like the test model (income, age numeric; region categorical; prediction). */
export function makeRows(
  n: number,
  seed: number,
  shift: RowShift = {},
): Array<{ features: Record<string, FeatureValue>; prediction: number }> {
  const r = rng(seed);
  const z = normal(r);
  const eu = shift.euShare ?? 0.5;
  const rows: Array<{ features: Record<string, FeatureValue>; prediction: number }> = [];
  for (let i = 0; i < n; i++) {
    const u = r();
    const region = u < eu ? 'EU' : u < eu + (1 - eu) * 0.6 ? 'US' : 'APAC';
    const age = r() < (shift.ageMissing ?? 0) ? null : Math.round(40 + 12 * z());
    rows.push({
      features: {
        income: 50_000 + 10_000 * (z() + (shift.income ?? 0)),
        age,
        region,
      },
      prediction: Math.min(1, Math.max(0, 0.3 + 0.1 * z() + (shift.prediction ?? 0))),
    });
  }
  return rows;
}

export function makeBaseline(
  model: ModelConfig,
  version: string,
  n = 2000,
  seed = 1,
): BaselineProfile {
  return buildProfileFromRows(model, version, makeRows(n, seed), { createdAt: 0 }).profile;
}

/** Events for `rows`, with the given event times. */
export function makeEvents(
  model: ModelConfig,
  version: string,
  rows: ReturnType<typeof makeRows>,
  ts: (i: number) => number,
): PredictionEvent[] {
  return rows.map((row, i) => ({
    model: model.id,
    version,
    id: `p-${version}-${i}`,
    ts: ts(i),
    features: row.features,
    prediction: row.prediction,
  }));
}
