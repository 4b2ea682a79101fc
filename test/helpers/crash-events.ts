import { buildProfileFromRows } from '../../src/baseline/index.js';
import type { DriftdConfig } from '../../src/config/types.js';
import { createStore } from '../../src/store/index.js';
import { lcgNormals } from './random.js';

/** The model the HTTP and replay crash tests feed (income, age, region; version 7). */
export const CRASH_MODEL = 'credit-risk';
const REGIONS = ['EU', 'US', 'APAC'];

/** One prediction event of CRASH_MODEL; `shift` moves income by that many × 15 000. */
export function crashEvent(
  id: string,
  ts: number,
  r: ReturnType<typeof lcgNormals>,
  shift: number,
) {
  return {
    model: CRASH_MODEL,
    version: '7',
    id,
    ts: new Date(ts).toISOString(),
    features: {
      income: Math.round(50_000 + 12_000 * r.z() + shift * 15_000),
      age: Math.round(40 + 10 * r.z()),
      region: REGIONS[Math.floor(r.u() * 3)]!,
    },
    prediction: Math.round(r.u() * 1000) / 1000,
  };
}

/** CRASH_MODEL's config (the input to validateConfig), windows of 1 m and 5 m. */
export function crashModelConfig(allowedLateness: string): Record<string, unknown> {
  return {
    id: CRASH_MODEL,
    task: 'binary-classification',
    features: [
      { name: 'income', type: 'numeric' },
      { name: 'age', type: 'numeric' },
      { name: 'region', type: 'categorical' },
    ],
    windows: { sizes: ['1m', '5m'], allowedLateness, idleTimeout: '1h' },
    drift: { minWindowSize: 100 },
  };
}

/**
 * Migrates a run's store and saves the baseline of version 7 (5 000 clean events an hour
 * before `t0`), then closes it: the daemon or the replay opens it next.
 */
export async function prepareCrashStore(config: DriftdConfig, t0: number): Promise<void> {
  const store = createStore(config.store);
  try {
    await store.migrate();
    const r = lcgNormals(1);
    const rows = Array.from({ length: 5000 }, (_, i) => crashEvent(`b-${i}`, t0 - 3_600_000, r, 0));
    await store.saveBaseline(buildProfileFromRows(config.models[0]!, '7', rows).profile);
  } finally {
    await store.close();
  }
}
