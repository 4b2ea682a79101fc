import { describe, expect, it } from 'vitest';
import { createFinalisedWindows } from '../../../src/cluster/finalised.js';

const w = (version: string, end: number, sizeLabel = '5m') => ({
  model: 'm',
  version,
  sizeLabel,
  end,
});

describe('finalised windows (a window is open until finalised)', () => {
  it('a window is closed once its series has a finalised window ending at or after it', () => {
    const f = createFinalisedWindows({ maxSeries: 10 });
    expect(f.isOpen('m', w('1', 100))).toBe(true);
    expect(f.add(w('1', 200))).toBe(true);
    expect(f.isOpen('m', w('1', 100))).toBe(false);
    expect(f.isOpen('m', w('1', 200))).toBe(false);
    expect(f.isOpen('m', w('1', 201))).toBe(true);
    // Other versions, sizes and models are series of their own.
    expect(f.isOpen('m', w('2', 100))).toBe(true);
    expect(f.isOpen('m', w('1', 100, '1h'))).toBe(true);
    expect(f.isOpen('other', w('1', 100))).toBe(true);
    // An older finalisation seen again moves nothing.
    expect(f.add(w('1', 150))).toBe(false);
    expect(f.series()).toEqual([w('1', 200)]);
  });

  it('keeps at most maxSeries series, forgetting the one updated longest ago', () => {
    const f = createFinalisedWindows({ maxSeries: 2 });
    f.add(w('1', 100));
    f.add(w('2', 100));
    f.add(w('1', 200)); // '1' updated after '2'
    f.add(w('3', 100));
    expect(f.size()).toBe(2);
    expect(f.series().map((s) => s.version)).toEqual(['1', '3']);
    expect(f.isOpen('m', w('2', 50))).toBe(true);
  });
});
