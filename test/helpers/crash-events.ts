import type { lcgNormals } from './random.js';

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
