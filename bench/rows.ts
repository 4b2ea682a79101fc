/**
 * The end-to-end benchmarks' data: `features` features named f0…, every fifth categorical
 * (eight values c0–c7), the others standard normals; seeded, so every run sees the same rows.
 */

/** A 32-bit LCG's uniform draws in (0, 1). */
export function lcg(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return (s + 0.5) / 4294967296;
  };
}

/** Baseline rows: `count` events of `features` features and a score prediction. */
export function baselineRows(count: number, features: number, seed = 99) {
  const u = lcg(seed);
  return Array.from({ length: count }, (_, i) => {
    const f: Record<string, number | string> = {};
    for (let k = 0; k < features; k++) {
      f[`f${k}`] =
        k % 5 === 4
          ? `c${Math.floor(u() * 8)}`
          : Math.sqrt(-2 * Math.log(u())) * Math.cos(2 * Math.PI * u());
    }
    return { id: `b${i}`, features: f, prediction: u() };
  });
}
