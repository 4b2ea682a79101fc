import { expect } from 'vitest';

/**
 * `actual` equals `expected` in shape, strings, booleans and nulls, and every number to a
 * relative `tol` (sums of floats added in another order differ in their last bits: merged
 * partial states against one state holding every event).
 */
export function expectNear(actual: unknown, expected: unknown, tol = 1e-12, path = '$'): void {
  if (typeof expected === 'number' && typeof actual === 'number') {
    if (Number.isNaN(expected)) {
      expect(actual, path).toBeNaN();
      return;
    }
    const scale = Math.max(1, Math.abs(expected));
    expect(Math.abs(actual - expected) <= tol * scale, `${path}: ${actual} vs ${expected}`).toBe(
      true,
    );
    return;
  }
  if (
    typeof expected !== 'object' ||
    expected === null ||
    typeof actual !== 'object' ||
    actual === null
  ) {
    expect(actual, path).toEqual(expected);
    return;
  }
  if (Array.isArray(expected)) {
    expect(Array.isArray(actual), path).toBe(true);
    expect((actual as unknown[]).length, `${path}.length`).toBe(expected.length);
    for (let i = 0; i < expected.length; i++) {
      expectNear((actual as unknown[])[i], expected[i], tol, `${path}[${i}]`);
    }
    return;
  }
  const a = actual as Record<string, unknown>;
  const e = expected as Record<string, unknown>;
  const keys = (o: Record<string, unknown>) =>
    Object.keys(o)
      .filter((k) => o[k] !== undefined)
      .sort();
  expect(keys(a), `${path} keys`).toEqual(keys(e));
  for (const k of keys(e)) expectNear(a[k], e[k], tol, `${path}.${k}`);
}
