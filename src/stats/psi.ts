import { InvalidInputError } from '../errors.js';
import type { CoarseBinning, PsiOptions, PsiResult } from './types.js';

/*
 * Population Stability Index, matching Evidently's `psi` stat test exactly
 * (evidentlyai/evidently, src/evidently/legacy/calculations/stattests/psi.py `_psi` with
 * `get_binned_data(..., feel_zeroes=True)` from utils.py), given the same bin proportions:
 *
 *   p_i = count_i / Σ count                 (reference and current separately)
 *   a zero p_i is replaced by ε = 0.0001, or by (smallest non-zero p) / 1e6 when that smallest
 *   non-zero proportion is itself ≤ ε (each side decides separately; no renormalisation)
 *   PSI = Σ_i (ref_i − cur_i) · ln(ref_i / cur_i)
 *
 * Only the binning differs from Evidently, on purpose: Evidently bins numeric features with
 * Sturges' rule over reference ∪ current, which needs both raw samples and moves with every
 * window. driftd uses fixed reference deciles (the credit-risk convention), derived from the
 * baseline's fine quantile bins by `coarseBins`, so the bins are the same for every window
 * and can be computed from merged sketches. The outer coarse bins are open-ended: values
 * below or above the baseline's range count in the first or last bin (`aggregateCounts`).
 */

const EVIDENTLY_EPSILON = 0.0001;

/**
 * Groups the baseline's fine bins into `buckets` coarse bins of ≈ equal reference mass
 * (deciles by default), never splitting a fine bin. Coarse boundary j goes after the fine bin
 * whose cumulative reference count is nearest to j/buckets of the total (the earlier bin on a
 * tie). Boundaries that would leave a coarse bin without reference mass are dropped, so a
 * lumpy (discrete) feature gets fewer coarse bins: an atom never shares its mass across bins.
 *
 * @param fineEdges the baseline's fine edges (`quantileEdges`), one per fine bin
 * @param referenceFineCounts the baseline's counts over those fine bins
 * @param buckets requested number of coarse bins (default 10)
 * @throws InvalidInputError on mismatched lengths, negative counts, or no reference mass
 */
export function coarseBins(
  fineEdges: readonly number[],
  referenceFineCounts: ArrayLike<number>,
  buckets = 10,
): CoarseBinning {
  if (!Number.isInteger(buckets) || buckets < 1) {
    throw new InvalidInputError(`coarseBins: buckets must be a positive integer, got ${buckets}`);
  }
  const m = fineEdges.length;
  if (m === 0) throw new InvalidInputError('coarseBins: fineEdges is empty');
  if (referenceFineCounts.length !== m) {
    throw new InvalidInputError(
      `coarseBins: ${referenceFineCounts.length} reference counts for ${m} fine bins (one per edge)`,
    );
  }
  for (let i = 0; i < m; i++) {
    const e = fineEdges[i] as number;
    if (!Number.isFinite(e) || (i > 0 && !(e > (fineEdges[i - 1] as number)))) {
      throw new InvalidInputError(
        `coarseBins: fineEdges must be finite and strictly increasing (index ${i})`,
      );
    }
  }
  const cumulative = new Float64Array(m);
  let running = 0;
  for (let i = 0; i < m; i++) {
    running += checkCount('coarseBins', 'referenceFineCounts', referenceFineCounts[i], i);
    cumulative[i] = running;
  }
  const total = running;
  if (total <= 0) throw new InvalidInputError('coarseBins: the reference counts are all zero');

  const boundaries: number[] = [];
  let previousMass = 0;
  for (let j = 1; j < buckets; j++) {
    // Compare buckets·C_i with j·N: exact for integer counts, so ties break the same everywhere.
    const target = j * total;
    let best = 0;
    let bestGap = Number.POSITIVE_INFINITY;
    for (let i = 0; i < m; i++) {
      const gap = Math.abs(buckets * (cumulative[i] as number) - target);
      if (gap < bestGap) {
        bestGap = gap;
        best = i;
      }
    }
    const mass = cumulative[best] as number;
    if (mass > previousMass && mass < total) {
      boundaries.push(best);
      previousMass = mass;
    }
  }

  const fineToCoarse = new Array<number>(m);
  const upperEdges: number[] = [];
  let coarse = 0;
  for (let i = 0; i < m; i++) {
    fineToCoarse[i] = coarse;
    if (coarse < boundaries.length && boundaries[coarse] === i) {
      upperEdges.push(fineEdges[i] as number);
      coarse++;
    }
  }
  upperEdges.push(fineEdges[m - 1] as number);
  return { fineToCoarse, count: boundaries.length + 1, upperEdges };
}

/**
 * Sums fine-bin counts into the coarse bins of `binning`. Out-of-range counts (a numeric
 * sketch snapshot's `below` / `above`, so the snapshot itself can be passed) go to the first
 * and last coarse bins; missing values are not part of PSI (they have their own metric).
 *
 * @throws InvalidInputError when the counts do not match the binning or are negative
 */
export function aggregateCounts(
  fineCounts: ArrayLike<number>,
  binning: CoarseBinning,
  outOfRange: { below?: number; above?: number } = {},
): number[] {
  const map = binning.fineToCoarse;
  if (fineCounts.length !== map.length) {
    throw new InvalidInputError(
      `aggregateCounts: ${fineCounts.length} fine counts for a binning of ${map.length} fine bins`,
    );
  }
  const out = new Array<number>(binning.count).fill(0);
  for (let i = 0; i < map.length; i++) {
    const c = map[i] as number;
    out[c] = (out[c] as number) + checkCount('aggregateCounts', 'fineCounts', fineCounts[i], i);
  }
  out[0] = (out[0] as number) + checkCount('aggregateCounts', 'below', outOfRange.below ?? 0);
  const last = out.length - 1;
  out[last] = (out[last] as number) + checkCount('aggregateCounts', 'above', outOfRange.above ?? 0);
  return out;
}

/**
 * PSI between reference and current counts over the same bins, as Evidently computes it (see
 * the module comment for the formula and the zero replacement). Conventional reading: < 0.1
 * stable, 0.1–0.25 moderate shift, > 0.25 major shift (Evidently's default threshold is 0.1).
 *
 * @param referenceCounts reference counts per bin (e.g. `aggregateCounts` of the baseline)
 * @param currentCounts current window counts over the same bins
 * @param options `epsilon`, the zero replacement (default 0.0001, Evidently's)
 * @returns the PSI and each bin's proportions and contribution, for "what moved" ranking
 * @throws InvalidInputError on mismatched lengths, negative counts or an empty side
 */
export function psi(
  referenceCounts: ArrayLike<number>,
  currentCounts: ArrayLike<number>,
  options: PsiOptions = {},
): PsiResult {
  const epsilon = options.epsilon ?? EVIDENTLY_EPSILON;
  if (!(epsilon > 0 && epsilon < 1)) {
    throw new InvalidInputError(`psi: epsilon must be in (0, 1), got ${String(epsilon)}`);
  }
  const n = referenceCounts.length;
  if (n === 0) throw new InvalidInputError('psi: no bins');
  if (currentCounts.length !== n) {
    throw new InvalidInputError(
      `psi: ${n} reference bins but ${currentCounts.length} current bins; both must use the same bins`,
    );
  }
  const ref = proportions('reference', referenceCounts, epsilon);
  const cur = proportions('current', currentCounts, epsilon);
  const bins = new Array<PsiResult['bins'][number]>(n);
  let value = 0;
  for (let i = 0; i < n; i++) {
    const r = ref[i] as number;
    const c = cur[i] as number;
    const contribution = (r - c) * Math.log(r / c);
    bins[i] = { ref: r, cur: c, contribution };
    value += contribution;
  }
  return { value, bins };
}

function proportions(side: string, counts: ArrayLike<number>, epsilon: number): number[] {
  const n = counts.length;
  let total = 0;
  const name = `${side}Counts`;
  for (let i = 0; i < n; i++) total += checkCount('psi', name, counts[i], i);
  if (total <= 0) {
    throw new InvalidInputError(
      `psi: the ${side} counts are all zero; PSI needs data on both sides`,
    );
  }
  const p = new Array<number>(n);
  let smallest = Number.POSITIVE_INFINITY;
  for (let i = 0; i < n; i++) {
    const v = (counts[i] as number) / total;
    p[i] = v;
    if (v !== 0 && v < smallest) smallest = v;
  }
  const fill = smallest <= epsilon ? smallest / 1e6 : epsilon;
  for (let i = 0; i < n; i++) if (p[i] === 0) p[i] = fill;
  return p;
}

/** `index` is formatted into the message only on failure: this runs once per bin. */
function checkCount(where: string, name: string, v: unknown, index?: number): number {
  if (typeof v !== 'number' || !Number.isFinite(v) || v < 0) {
    const at = index === undefined ? name : `${name}[${index}]`;
    throw new InvalidInputError(
      `${where}: ${at} must be a finite non-negative count, got ${String(v)}`,
    );
  }
  return v;
}
