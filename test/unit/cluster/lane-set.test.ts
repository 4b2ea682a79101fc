import { describe, expect, it } from 'vitest';
import { laneSet } from '../../../src/cluster/lane-set.js';
import type { LaneProgressRow, WindowKey } from '../../../src/cluster/types.js';

const NOW = 1_800_000_000_000;
const H = 3_600_000;
const w: WindowKey = {
  model: 'm',
  version: '1',
  sizeLabel: '1h',
  size: H,
  start: NOW - 3 * H,
  end: NOW - 2 * H,
};

function row(lane: string, over: Partial<LaneProgressRow> = {}): LaneProgressRow {
  return {
    lane,
    model: 'm',
    version: '1',
    watermark: null,
    idle: false,
    retired: false,
    position: '0',
    seq: 1,
    instance: 'a',
    writtenAt: NOW - 1000,
    ...over,
  };
}

const set = (
  progress: LaneProgressRow[],
  kafkaLanes?: string[],
  kafka = kafkaLanes !== undefined,
) => laneSet({ progress, kafka, kafkaLanes, now: NOW, laneTimeoutMs: 10 * 60_000 });

describe('lane set (cluster finalisation)', () => {
  it('a lane whose watermark reached the window end lets it go; one short of it holds it', () => {
    const s = set(
      [row('t/0', { watermark: w.end }), row('t/1', { watermark: w.end - 1 })],
      ['t/0', 't/1'],
    );
    expect(s.holds('t/0', w)).toBe(false);
    expect(s.holds('t/1', w)).toBe(true);
    expect(s.holding(w)).toEqual(['t/1']);
    expect(s.ready(w)).toBe(false);
  });

  it('an idle lane does not hold, whatever its watermark', () => {
    const s = set(
      [row('t/0', { watermark: null, idle: true }), row('t/1', { watermark: w.end })],
      ['t/0', 't/1'],
    );
    expect(s.holding(w)).toEqual([]);
    expect(s.ready(w)).toBe(true);
  });

  it('without a row for the version, the lane-level row decides (both ways)', () => {
    const lanePassed = row('t/0', { model: '', version: '', watermark: w.end + 5 });
    const laneBehind = row('t/1', { model: '', version: '', watermark: w.end - 5 });
    const laneIdle = row('t/2', { model: '', version: '', idle: true });
    // A row of another version of the lane does not decide for this one.
    const other = row('t/1', { version: '2', watermark: w.end + 99 });
    const s = set([lanePassed, laneBehind, laneIdle, other], ['t/0', 't/1', 't/2']);
    expect(s.holding(w)).toEqual(['t/1']);
  });

  it("the version's own row wins over the lane-level row", () => {
    const s = set(
      [
        row('t/0', { model: '', version: '', watermark: w.end + 5 }),
        row('t/0', { watermark: w.end - 5 }),
      ],
      ['t/0'],
    );
    expect(s.holds('t/0', w)).toBe(true);
  });

  it('a lane with no row at all holds every window (a partition nobody consumed yet)', () => {
    const s = set([row('t/0', { watermark: w.end })], ['t/0', 't/1']);
    expect(s.lanes).toEqual(['t/0', 't/1']);
    expect(s.holding(w)).toEqual(['t/1']);
  });

  it('the newest row of a (lane, model, version) counts: by seq, then write time', () => {
    const s = set(
      [
        row('t/0', { seq: 2, watermark: w.end - 1 }),
        row('t/0', { seq: 1, watermark: w.end + 1, writtenAt: NOW }),
        row('t/1', { seq: 3, watermark: w.end - 1, writtenAt: NOW - 5 }),
        row('t/1', { seq: 3, watermark: w.end + 1, writtenAt: NOW - 4 }),
      ],
      ['t/0', 't/1'],
    );
    expect(s.holding(w)).toEqual(['t/0']);
  });

  it('Kafka configured and its partitions not known yet: nothing is ready', () => {
    const s = set([row('http:a', { idle: true })], undefined, true);
    expect(s.lanes).toBeNull();
    expect(s.holding(w)).toBeNull();
    expect(s.ready(w)).toBe(false);
  });

  it('without Kafka, only HTTP lanes count: rows of partitions are ignored', () => {
    const s = set([row('http:a', { watermark: w.end }), row('t/0', { watermark: 0 })]);
    expect(s.lanes).toEqual(['http:a']);
    expect(s.ready(w)).toBe(true);
  });

  it('an HTTP lane joins the set by its progress rows; a retired one does not', () => {
    const s = set(
      [
        row('http:a', { watermark: w.end - 1 }),
        row('http:b', { watermark: w.end - 1, retired: true }),
        row('http:b', { model: '', version: '', watermark: w.end - 1, retired: true }),
      ],
      ['t/0'],
    );
    expect(s.lanes).toEqual(['http:a', 't/0']);
    // t/0 has no row: holds; http:a is behind: holds; http:b retired: out of the set.
    expect(s.holding(w)).toEqual(['http:a', 't/0']);
  });

  it('a restarted instance with the id of a retired one resumes its lane (newer lane-level row)', () => {
    const s = set([
      row('http:b', { model: '', version: '', retired: true, seq: 4 }),
      row('http:b', { model: '', version: '', retired: false, seq: 5, watermark: w.end }),
    ]);
    expect(s.lanes).toEqual(['http:b']);
  });

  it('an HTTP lane silent for longer than laneTimeoutMs leaves the set; Kafka lanes never time out', () => {
    const old = NOW - 10 * 60_000 - 1;
    const s = set(
      [
        row('http:gone', { writtenAt: old }),
        row('http:edge', { writtenAt: NOW - 10 * 60_000, watermark: w.end - 1 }),
        row('t/0', { writtenAt: old - 86_400_000, watermark: w.end - 1 }),
      ],
      ['t/0'],
    );
    expect(s.lanes).toEqual(['http:edge', 't/0']);
    expect(s.holding(w)).toEqual(['http:edge', 't/0']);
    // The lane's newest row of any model keeps it in: an old version row does not time it out.
    const t = set([
      row('http:a', { writtenAt: old, watermark: w.end - 1 }),
      row('http:a', { model: '', version: '', writtenAt: NOW, watermark: w.end - 1 }),
    ]);
    expect(t.lanes).toEqual(['http:a']);
    expect(t.holding(w)).toEqual(['http:a']);
  });

  it('with no lanes at all (no Kafka, no HTTP lane registered) every window is ready', () => {
    expect(set([]).ready(w)).toBe(true);
  });
});
