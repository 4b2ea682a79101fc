import { InvalidInputError } from '../errors.js';

/**
 * Validation shared by the sketches' and metric sketches' snapshot restore. `index` is
 * formatted into the message only on failure: this runs once per bin.
 */
export function checkCount(where: string, name: string, v: unknown, index?: number): number {
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) {
    const at = index === undefined ? name : `${name}[${index}]`;
    throw new InvalidInputError(`${where}: ${at} must be a non-negative integer, got ${String(v)}`);
  }
  return v;
}

/** Plain-array copy; a loop is several times faster than `Array.from` on a typed array. */
export function toArray(a: Float64Array): number[] {
  const out = new Array<number>(a.length);
  for (let i = 0; i < a.length; i++) out[i] = a[i] as number;
  return out;
}
