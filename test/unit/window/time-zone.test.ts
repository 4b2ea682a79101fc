import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../../src/config/index.js';
import type { BaselineProfile, PredictionEvent } from '../../../src/types.js';
import {
  createWindowManager,
  windowAt,
  windowGrid,
  windowStart,
} from '../../../src/window/index.js';
import { testModel } from '../../helpers/model.js';
import { makeBaseline, manualClock } from './fixtures.js';

const HOUR = 3_600_000;
const DAY = 24 * HOUR;
const NY = 'America/New_York';
const day = { label: '1d', ms: DAY };
const iso = (ms: number) => new Date(ms).toISOString();

describe('windows aligned on local days (src/window/identity.ts)', () => {
  it('a New York event at 23:00 local lands in that local day (04:00Z the next UTC day)', () => {
    // 2026-11-21 23:00 EST = 2026-11-22T04:00Z: the UTC day is the 22nd, the local day the 21st.
    const b = windowAt('m', '1', day, Date.parse('2026-11-22T04:00:00Z'), NY);
    expect(iso(b.start)).toBe('2026-11-21T05:00:00.000Z');
    expect(iso(b.end)).toBe('2026-11-22T05:00:00.000Z');
    // Local midnight opens the next one.
    const next = windowAt('m', '1', day, Date.parse('2026-11-22T05:00:00Z'), NY);
    expect(next.start).toBe(b.end);
    // The same instant in UTC: the epoch-aligned day.
    const utc = windowAt('m', '1', day, Date.parse('2026-11-22T04:00:00Z'));
    expect(iso(utc.start)).toBe('2026-11-22T00:00:00.000Z');
  });

  it('DST days are 23 h (spring forward) and 25 h (fall back) long', () => {
    const spring = windowAt('m', '1', day, Date.parse('2026-03-08T12:00:00Z'), NY);
    expect(iso(spring.start)).toBe('2026-03-08T05:00:00.000Z');
    expect(spring.end - spring.start).toBe(23 * HOUR);
    const fall = windowAt('m', '1', day, Date.parse('2026-11-01T12:00:00Z'), NY);
    expect(iso(fall.start)).toBe('2026-11-01T04:00:00.000Z');
    expect(fall.end - fall.start).toBe(25 * HOUR);
    // Both repeated 01:xx local hours of the fall-back day are in it.
    for (const t of ['2026-11-01T05:30:00Z', '2026-11-01T06:30:00Z']) {
      expect(windowAt('m', '1', day, Date.parse(t), NY).start).toBe(fall.start);
    }
  });

  it('a zone that skips midnight starts that day at 01:00 local', () => {
    // Brazil's DST began at midnight on 2018-11-04: that day began at 01:00 -02 (03:00Z).
    const b = windowAt('m', '1', day, Date.parse('2018-11-04T12:00:00Z'), 'America/Sao_Paulo');
    expect(iso(b.start)).toBe('2018-11-04T03:00:00.000Z');
    expect(b.end - b.start).toBe(23 * HOUR);
  });

  it('tiles time: consecutive windows meet, every instant is in exactly its window', () => {
    for (const zone of [NY, 'Asia/Kolkata', 'Australia/Lord_Howe', 'Pacific/Chatham', 'UTC']) {
      for (const size of [DAY, 7 * DAY]) {
        const grid = windowGrid(size, zone);
        let t = Date.parse('2026-01-01T00:00:00Z');
        let prev = grid.spanAt(t);
        for (let i = 0; i < 800; i++) {
          t += 11 * HOUR + 7 * 60_000;
          const s = grid.spanAt(t);
          expect(t).toBeGreaterThanOrEqual(s.start);
          expect(t).toBeLessThan(s.end);
          if (s.start !== prev.start) expect(s.start).toBe(prev.end);
          prev = s;
        }
      }
    }
  });

  it('UTC and sizes that are not whole days keep the epoch alignment in every zone', () => {
    for (const ts of [0, -1, 1_764_000_123_456]) {
      for (const size of [HOUR, 36 * HOUR, DAY, 7 * DAY]) {
        expect(windowGrid(size, 'UTC').spanAt(ts).start).toBe(windowStart(ts, size));
      }
      // Kolkata (+05:30): a 1 h window runs :30 to :30 local, the same instants as in UTC.
      expect(windowGrid(HOUR, 'Asia/Kolkata').spanAt(ts).start).toBe(windowStart(ts, HOUR));
    }
    // Weeks keep the epoch's phase (Thursday) in local days.
    const w = windowAt(
      'm',
      '1',
      { label: '7d', ms: 7 * DAY },
      Date.parse('2026-12-07T12:00:00Z'),
      NY,
    );
    expect(iso(w.start)).toBe('2026-12-03T05:00:00.000Z');
  });

  it('the window manager opens local-day windows and restores them with the same bounds', () => {
    const model = testModel({
      timeZone: NY,
      windows: { sizes: [day], allowedLatenessMs: 0, idleTimeoutMs: 0 },
    });
    const baseline = makeBaseline(model, '3');
    const baselines = new Map<string, BaselineProfile>([['3', baseline]]);
    const make = () =>
      createWindowManager({ model, baselineFor: (v) => baselines.get(v), clock: manualClock() });
    const m = make();
    let n = 0;
    const ev = (t: string): PredictionEvent => ({
      model: model.id,
      version: '3',
      id: `e${++n}`,
      ts: Date.parse(t),
      features: { income: 50_000, age: 40, region: 'EU' },
      prediction: 0.3,
    });
    // Saturday 2026-03-07 evening in New York, then the 23 h Sunday of the DST change.
    m.record(ev('2026-03-07T23:00:00Z'));
    m.record(ev('2026-03-08T04:59:59Z')); // 23:59:59 EST, still the 7th
    expect(m.openWindows().map((w) => iso(w.start))).toEqual(['2026-03-07T05:00:00.000Z']);
    const restored = make();
    restored.restore(m.snapshot());
    for (const mgr of [m, restored]) {
      mgr.record(ev('2026-03-08T05:00:00Z')); // local midnight: closes the 7th
      const [closed] = mgr.drainClosed();
      expect(closed!.state.view().count).toBe(2);
      expect(iso(closed!.bounds.end)).toBe('2026-03-08T05:00:00.000Z');
      mgr.record(ev('2026-03-09T03:59:59Z')); // 23:59:59 EDT on the 8th
      mgr.record(ev('2026-03-09T04:00:00Z')); // midnight of the 9th
      const [sunday] = mgr.drainClosed();
      expect(sunday!.bounds.end - sunday!.bounds.start).toBe(23 * HOUR);
      expect(sunday!.state.view().count).toBe(2);
    }
  });

  it('config: timeZone is validated at load, naming the key', () => {
    const yaml = (zone: string) => `models:
  - id: m
    task: regression
    timeZone: ${JSON.stringify(zone)}
    features: [{ name: x, type: numeric }]
`;
    expect(parseConfig(yaml(NY), { env: {} }).models[0]!.timeZone).toBe(NY);
    expect(() => parseConfig(yaml('Mars/Olympus'), { env: {} })).toThrow(/models\[0\]\.timeZone/);
  });
});
