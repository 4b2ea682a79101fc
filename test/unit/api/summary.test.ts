/**
 * The summary answers with a window that has a verdict: on the demo's own real data (NOAA
 * weather from vega-datasets, replayed into 30-day windows as `driftd demo` does), the newest
 * window at the end of the record holds a handful of events; the summary passes over it to
 * the newest window with a verdict, and says so. driftingSince skips insufficient windows;
 * severity is one scale (drifted ⇔ ≥ 1) for every test.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { latestWithVerdict, rankFeatures } from '../../../src/api/routes/models.js';
import { buildProfileFromRows } from '../../../src/baseline/index.js';
import { demoConfigInput } from '../../../src/cli/commands/demo.js';
import { validateConfig } from '../../../src/config/index.js';
import type { ModelConfig } from '../../../src/config/types.js';
import { loadWeather, toPredictionEvent, trainWetDayModel } from '../../../src/demo/weather.js';
import type { FeatureDrift, WindowResult } from '../../../src/types.js';
import { createWindowState, evaluateWindow } from '../../../src/window/index.js';
import { severity } from '../../../src/window/verdict.js';

const DAY = 86_400_000;
const SIZE = 30 * DAY;

let model: ModelConfig;
let results: WindowResult[];

beforeAll(async () => {
  const config = validateConfig(demoConfigInput('/tmp/driftd-summary-test', 0));
  model = config.models[0]!;
  const days = await loadWeather();
  const liveFrom = Date.parse('2012-06-01T00:00:00Z');
  const training = days.filter(
    (d) => d.ts >= Date.parse('2012-03-01T00:00:00Z') && d.ts < liveFrom,
  );
  const wet = trainWetDayModel(training);
  const { profile } = buildProfileFromRows(
    model,
    '1',
    training.map((d) => toPredictionEvent(d, wet, '1')),
    { createdAt: 0 },
  );
  const byStart = new Map<number, ReturnType<typeof createWindowState>>();
  for (const d of days.filter((x) => x.ts >= liveFrom)) {
    const start = d.ts - (d.ts % SIZE);
    let state = byStart.get(start);
    if (state === undefined) {
      state = createWindowState({
        bounds: {
          model: model.id,
          version: '1',
          size: SIZE,
          sizeLabel: '30d',
          start,
          end: start + SIZE,
        },
        model,
        baseline: profile,
      });
      byStart.set(start, state);
    }
    state.record({ ...toPredictionEvent(d, wet, '1'), ts: d.ts });
  }
  results = [...byStart.entries()]
    .sort((a, b) => a[0] - b[0])
    .map(([start, state]) => evaluateWindow({ state, closedAt: start + SIZE }, profile, model));
}, 60_000);

describe('summary on the demo data', () => {
  it('never answers with the small last window: it takes the newest with a verdict and says which', () => {
    const newest = results.at(-1)!;
    expect(newest.eventCount).toBeLessThan(model.drift.minWindowSize);
    expect(newest.features.every((f) => f.insufficient)).toBe(true);
    const { latest, skipped } = latestWithVerdict(newest, results.slice(0, -1));
    expect(skipped.map((w) => w.start)).toEqual([newest.start]);
    expect(latest).not.toBeNull();
    expect(latest!.start).toBe(newest.start - SIZE);
    expect(latest!.eventCount).toBeGreaterThanOrEqual(model.drift.minWindowSize);
    expect(latest!.features.some((f) => !f.insufficient)).toBe(true);
  });

  it('has one severity scale: drifted exactly when severity ≥ 1, for every feature and window', () => {
    for (const r of results) {
      for (const f of r.features) {
        if (f.insufficient) expect(severity(f)).toBe(0);
        else expect(severity(f) >= 1).toBe(f.drifted);
        expect(Number.isFinite(severity(f))).toBe(true);
      }
    }
  });
});

function window(start: number, drifted: boolean | 'insufficient'): WindowResult {
  const f: FeatureDrift = {
    feature: 'x',
    type: 'numeric',
    test: 'ks',
    statistic: 0.3,
    pValue: drifted === true ? 1e-6 : 0.5,
    adjustedPValue: drifted === true ? 1e-6 : 0.5,
    threshold: 0.05,
    verdictRule: 'calibrated',
    effect: 0.3,
    effectFloor: 0.1,
    drifted: drifted === true,
    psi: 0,
    ksStatistic: 0.3,
    ksBound: 0.001,
    ksPValue: 1e-6,
    statisticBound: 0.001,
    boundStraddlesThreshold: false,
    count: drifted === 'insufficient' ? 2 : 500,
    missingRatio: 0,
    outOfRangeRatio: 0,
    unseenRatio: 0,
    otherRatio: 0,
    insufficient: drifted === 'insufficient',
  };
  if (drifted === 'insufficient') {
    f.pValue = null;
    f.adjustedPValue = null;
  }
  return {
    model: 'm',
    version: '1',
    size: SIZE,
    sizeLabel: '30d',
    start,
    end: start + SIZE,
    baselineId: 'b',
    baselineHash: 'h',
    eventCount: f.count,
    lateCount: 0,
    closedAt: start + SIZE,
    features: [f],
    prediction: null,
    driftShare: drifted === true ? 1 : 0,
    datasetDrift: drifted === true,
    provisional: false,
  };
}

describe('driftingSince', () => {
  it('skips windows without a verdict for the feature instead of ending the run there', () => {
    const w = [0, 1, 2, 3, 4].map((i) => i * SIZE);
    const history = [
      window(w[0]!, false),
      window(w[1]!, true),
      window(w[2]!, 'insufficient'),
      window(w[3]!, true),
    ];
    const [x] = rankFeatures(window(w[4]!, true), history);
    expect(x!.driftingSince).toBe(new Date(w[1]!).toISOString());
    expect(x!.consecutiveWindows).toBe(3);
  });

  it('still ends the run at a clean window or a gap', () => {
    const [a] = rankFeatures(window(3 * SIZE, true), [window(SIZE, true), window(2 * SIZE, false)]);
    expect(a!.driftingSince).toBe(new Date(3 * SIZE).toISOString());
    const [b] = rankFeatures(window(3 * SIZE, true), [window(SIZE, true)]);
    expect(b!.consecutiveWindows).toBe(1);
  });
});
