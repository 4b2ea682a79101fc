import { InvalidInputError } from '../errors.js';
import {
  type ConfidenceInterval,
  differenceInterval,
  riskRatioInterval,
  wilsonInterval,
} from './intervals.js';
import { checkCount } from './validate.js';

/*
 * Fairness per protected group, from mergeable counts. Per group: predictions and how many were
 * selected (predicted positive), and for labelled predictions the confusion counts TP, FP, FN,
 * TN. Merging two partial states is addition, so counts stream, merge across instances and sum
 * over windows like the sketches.
 *
 * Metrics follow Fairlearn 0.15 (checked against MetricFrame, demographic_parity_ratio and
 * equalized_odds_difference on real data in test/unit/stats/fairness.test.ts):
 * - selection rate = selected / predictions (all predictions: it needs no label);
 *   TPR = TP / (TP + FN); FPR = FP / (FP + TN) (labelled predictions only).
 * - demographic parity difference / ratio: max − min / min ÷ max of the selection rates over
 *   groups (Fairlearn `method="between_groups"`).
 * - equalised-odds difference: the larger of the TPR and FPR differences (max − min over
 *   groups), Fairlearn's `agg="worst_case"`; the ratio likewise the smaller of the two ratios.
 * One deliberate difference: a rate whose denominator is 0 (a group with no actual positives,
 * say) is undefined, null here, and left out of the between-group aggregates; Fairlearn (through
 * scikit-learn's confusion matrix) scores it 0, which would make the group look maximally unfair.
 *
 * Disparity ratios compare each group's rate with the reference group's (group ÷ reference),
 * with Katz log intervals; rates carry Wilson intervals (src/stats/intervals.ts).
 */

/** Counts of one protected group. */
export interface FairnessGroupCounts {
  /** Predictions seen. */
  predictions: number;
  /** Predictions that selected (predicted the positive class). */
  selected: number;
  /** Labelled predictions: selected with label positive, selected with label negative, … */
  tp: number;
  fp: number;
  fn: number;
  tn: number;
}

export interface FairnessCountsSnapshot {
  kind: 'fairness-counts';
  /** Every group of the attribute, in its stable order, zero counts included. */
  groups: Record<string, FairnessGroupCounts>;
}

/** Mergeable per-group counts over a fixed group set (src/stats/fairness-groups.ts). */
export interface FairnessCounts {
  readonly kind: 'fairness-counts';
  /** Counts one prediction of `group`, selected or not. */
  recordPrediction(group: string, selected: boolean): void;
  /** Counts the outcome of one labelled prediction of `group` (labels may come later). */
  recordOutcome(group: string, selected: boolean, label: 0 | 1): void;
  merge(other: FairnessCounts | FairnessCountsSnapshot): void;
  snapshot(): FairnessCountsSnapshot;
}

const COUNT_FIELDS = ['predictions', 'selected', 'tp', 'fp', 'fn', 'tn'] as const;

/**
 * Counts for the given groups (all zero), optionally starting from a snapshot.
 *
 * @throws InvalidInputError on no or duplicate groups, or a snapshot that does not fit
 */
export function createFairnessCounts(
  groups: readonly string[],
  snapshot?: FairnessCountsSnapshot,
): FairnessCounts {
  if (groups.length === 0) throw new InvalidInputError('createFairnessCounts: no groups');
  const counts = new Map<string, FairnessGroupCounts>();
  for (const g of groups) {
    if (counts.has(g)) {
      throw new InvalidInputError(`createFairnessCounts: group "${g}" is given twice`);
    }
    counts.set(g, { predictions: 0, selected: 0, tp: 0, fp: 0, fn: 0, tn: 0 });
  }
  const at = (where: string, group: string): FairnessGroupCounts => {
    const c = counts.get(group);
    if (c === undefined) throw new InvalidInputError(`${where}: unknown group "${group}"`);
    return c;
  };
  const self: FairnessCounts = {
    kind: 'fairness-counts',
    recordPrediction(group, selected) {
      const c = at('recordPrediction', group);
      c.predictions++;
      if (selected) c.selected++;
    },
    recordOutcome(group, selected, label) {
      const c = at('recordOutcome', group);
      if (label === 1) {
        if (selected) c.tp++;
        else c.fn++;
      } else if (selected) c.fp++;
      else c.tn++;
    },
    merge(other) {
      const s = 'snapshot' in other ? other.snapshot() : other;
      const incoming = checkSnapshot(s);
      // Validate everything before adding anything: a bad snapshot leaves the counts unchanged.
      for (const g of Object.keys(incoming)) at('merge', g);
      for (const [g, add] of Object.entries(incoming)) {
        const c = at('merge', g);
        for (const f of COUNT_FIELDS) c[f] += add[f];
      }
    },
    snapshot() {
      const out: Record<string, FairnessGroupCounts> = {};
      for (const [g, c] of counts) out[g] = { ...c };
      return { kind: 'fairness-counts', groups: out };
    },
  };
  if (snapshot !== undefined) self.merge(snapshot);
  return self;
}

function checkSnapshot(s: FairnessCountsSnapshot): Record<string, FairnessGroupCounts> {
  if (s === null || typeof s !== 'object' || s.kind !== 'fairness-counts') {
    throw new InvalidInputError('fairness counts: not a fairness-counts snapshot');
  }
  if (s.groups === null || typeof s.groups !== 'object') {
    throw new InvalidInputError('fairness counts: groups must be an object');
  }
  for (const [g, c] of Object.entries(s.groups)) {
    if (c === null || typeof c !== 'object') {
      throw new InvalidInputError(`fairness counts: group "${g}" must be an object`);
    }
    for (const f of COUNT_FIELDS) checkCount('fairness counts', `groups["${g}"].${f}`, c[f]);
    if (c.selected > c.predictions) {
      throw new InvalidInputError(
        `fairness counts: groups["${g}"].selected (${c.selected}) exceeds predictions (${c.predictions})`,
      );
    }
  }
  return s.groups;
}

// ---------------------------------------------------------------------------------------------
// Evaluation

export type FairnessMetric = 'selection-rate' | 'true-positive-rate' | 'false-positive-rate';

export const FAIRNESS_METRICS: readonly FairnessMetric[] = [
  'selection-rate',
  'true-positive-rate',
  'false-positive-rate',
];

/**
 * `disparity`: outside the configured bounds (and, with the `significant` rule, statistically
 * distinguishable from parity); `insufficient-data`: a group (or the reference) below the
 * minimum size, or an undefined rate; `reference`: the reference group itself.
 */
export type FairnessVerdict = 'fair' | 'disparity' | 'insufficient-data' | 'reference';

/**
 * `significant` (default): a disparity is flagged only when the point estimate is outside the
 * bounds and its interval excludes parity (ratio 1, difference 0) at the confidence level —
 * the same "practical effect and significant at this sample size" rule as drift verdicts.
 * `point`: the point estimate alone, the literal four-fifths rule.
 */
export type FairnessVerdictRule = 'significant' | 'point';

export interface FairnessOptions {
  /** Group every ratio is taken against. */
  reference: string;
  /** Two-sided confidence level of every interval (default 0.95). */
  confidence?: number;
  /** A ratio below `min` or above `max` is a disparity (default 0.8 and 1.25, four-fifths). */
  ratioBounds?: { min: number; max: number };
  /** An equalised-odds difference above this is a disparity (default 0.1). */
  maxEqualizedOddsDifference?: number;
  /** A rate needs a denominator of at least this many to get a verdict (default 30). */
  minGroupSize?: number;
  verdict?: FairnessVerdictRule;
}

export interface RateEstimate {
  /** null when the denominator is 0. */
  value: number | null;
  /** Numerator: selected, TP or FP. */
  count: number;
  /** Denominator: predictions, actual positives or actual negatives. */
  size: number;
  interval: ConfidenceInterval | null;
}

export interface DisparityRatio {
  /** group rate ÷ reference rate; null when undefined (a rate undefined or the reference 0). */
  value: number | null;
  interval: ConfidenceInterval | null;
  verdict: FairnessVerdict;
}

export interface FairnessGroupResult {
  group: string;
  predictions: number;
  labelled: number;
  rates: Record<FairnessMetric, RateEstimate>;
  ratios: Record<FairnessMetric, DisparityRatio>;
  /** The worst verdict of its ratios: disparity > insufficient-data > fair. */
  verdict: FairnessVerdict;
}

export interface BetweenGroups {
  /** max − min over the groups with a defined rate; null with fewer than one. */
  difference: number | null;
  /** min ÷ max (1 when both are 0); null like `difference`. */
  ratio: number | null;
}

export interface EqualizedOddsResult {
  /** Fairlearn's `equalized_odds_difference` (worst case), over every group with defined rates. */
  difference: number | null;
  /** Fairlearn's `equalized_odds_ratio` (worst case). */
  ratio: number | null;
  truePositiveRate: BetweenGroups;
  falsePositiveRate: BetweenGroups;
  /**
   * The verdict's view: the same difference over the groups large enough for a verdict (both
   * denominators ≥ minGroupSize), which rate and pair of groups define it, and the Newcombe
   * interval of that pair's difference (an interval for this pair, not a simultaneous one).
   */
  verdictDifference: number | null;
  worstRate: 'true-positive-rate' | 'false-positive-rate' | null;
  worstPair: [string, string] | null;
  interval: ConfidenceInterval | null;
  groupsCompared: string[];
  verdict: FairnessVerdict;
}

export interface FairnessResult {
  reference: string;
  confidence: number;
  ratioBounds: { min: number; max: number };
  maxEqualizedOddsDifference: number;
  minGroupSize: number;
  rule: FairnessVerdictRule;
  /** Groups with at least one prediction or labelled outcome, in the counts' order. */
  groups: FairnessGroupResult[];
  /** Fairlearn's `demographic_parity_difference` / `demographic_parity_ratio`. */
  demographicParity: BetweenGroups;
  equalizedOdds: EqualizedOddsResult;
  /** disparity when any group or the equalised odds is; insufficient-data when nothing could be judged. */
  verdict: Exclude<FairnessVerdict, 'reference'>;
}

export const FAIRNESS_DEFAULTS = {
  confidence: 0.95,
  ratioBounds: { min: 0.8, max: 1.25 },
  maxEqualizedOddsDifference: 0.1,
  minGroupSize: 30,
  verdict: 'significant' as FairnessVerdictRule,
} as const;

/**
 * Per-group rates with intervals, disparity ratios against the reference group, Fairlearn's
 * between-group aggregates, and verdicts.
 *
 * @throws InvalidInputError on bad options, an unknown reference group or invalid counts
 */
export function evaluateFairness(
  counts: FairnessCounts | FairnessCountsSnapshot,
  options: FairnessOptions,
): FairnessResult {
  const snap = 'snapshot' in counts ? counts.snapshot() : counts;
  const groups = checkSnapshot(snap);
  const o = resolveOptions(options);
  const ref = groups[o.reference];
  if (ref === undefined) {
    throw new InvalidInputError(
      `evaluateFairness: reference group "${o.reference}" is not a group`,
    );
  }
  const refRates = ratesOf(ref, o.confidence);
  const results: FairnessGroupResult[] = [];
  for (const [group, c] of Object.entries(groups)) {
    const labelled = c.tp + c.fp + c.fn + c.tn;
    if (c.predictions === 0 && labelled === 0) continue;
    const rates = ratesOf(c, o.confidence);
    const isReference = group === o.reference;
    const ratios = {} as Record<FairnessMetric, DisparityRatio>;
    for (const m of FAIRNESS_METRICS) {
      ratios[m] = isReference ? referenceRatio(rates[m]) : ratioOf(rates[m], refRates[m], o);
    }
    results.push({
      group,
      predictions: c.predictions,
      labelled,
      rates,
      ratios,
      verdict: isReference ? 'reference' : worst(FAIRNESS_METRICS.map((m) => ratios[m].verdict)),
    });
  }
  const equalizedOdds = equalizedOddsOf(results, o);
  const verdicts = [...results.map((r) => r.verdict), equalizedOdds.verdict];
  let verdict: FairnessResult['verdict'] = 'insufficient-data';
  if (verdicts.includes('disparity')) verdict = 'disparity';
  else if (verdicts.includes('fair')) verdict = 'fair';
  return {
    reference: o.reference,
    confidence: o.confidence,
    ratioBounds: o.ratioBounds,
    maxEqualizedOddsDifference: o.maxEqualizedOddsDifference,
    minGroupSize: o.minGroupSize,
    rule: o.verdict,
    groups: results,
    demographicParity: betweenGroups(results.map((r) => r.rates['selection-rate'].value)),
    equalizedOdds,
    verdict,
  };
}

type ResolvedOptions = Required<FairnessOptions>;

function resolveOptions(options: FairnessOptions): ResolvedOptions {
  const o: ResolvedOptions = {
    reference: options.reference,
    confidence: options.confidence ?? FAIRNESS_DEFAULTS.confidence,
    ratioBounds: options.ratioBounds ?? { ...FAIRNESS_DEFAULTS.ratioBounds },
    maxEqualizedOddsDifference:
      options.maxEqualizedOddsDifference ?? FAIRNESS_DEFAULTS.maxEqualizedOddsDifference,
    minGroupSize: options.minGroupSize ?? FAIRNESS_DEFAULTS.minGroupSize,
    verdict: options.verdict ?? FAIRNESS_DEFAULTS.verdict,
  };
  if (!(o.confidence > 0 && o.confidence < 1)) {
    throw new InvalidInputError(
      `evaluateFairness: confidence must be in (0, 1), got ${o.confidence}`,
    );
  }
  const { min, max } = o.ratioBounds;
  if (!(min > 0 && min <= 1 && max >= 1 && Number.isFinite(max))) {
    throw new InvalidInputError(
      `evaluateFairness: ratioBounds must satisfy 0 < min ≤ 1 ≤ max < ∞, got [${min}, ${max}]`,
    );
  }
  const d = o.maxEqualizedOddsDifference;
  if (!(d >= 0 && d <= 1)) {
    throw new InvalidInputError(
      `evaluateFairness: maxEqualizedOddsDifference must be in [0, 1], got ${d}`,
    );
  }
  if (!Number.isSafeInteger(o.minGroupSize) || o.minGroupSize < 1) {
    throw new InvalidInputError(
      `evaluateFairness: minGroupSize must be a positive integer, got ${o.minGroupSize}`,
    );
  }
  if (o.verdict !== 'significant' && o.verdict !== 'point') {
    throw new InvalidInputError(
      `evaluateFairness: verdict must be "significant" or "point", got ${String(o.verdict)}`,
    );
  }
  return o;
}

function ratesOf(c: FairnessGroupCounts, level: number): Record<FairnessMetric, RateEstimate> {
  return {
    'selection-rate': rate(c.selected, c.predictions, level),
    'true-positive-rate': rate(c.tp, c.tp + c.fn, level),
    'false-positive-rate': rate(c.fp, c.fp + c.tn, level),
  };
}

function rate(count: number, size: number, level: number): RateEstimate {
  return {
    value: size === 0 ? null : count / size,
    count,
    size,
    interval: wilsonInterval(count, size, level),
  };
}

function referenceRatio(r: RateEstimate): DisparityRatio {
  return { value: r.value === null ? null : 1, interval: null, verdict: 'reference' };
}

function ratioOf(g: RateEstimate, ref: RateEstimate, o: ResolvedOptions): DisparityRatio {
  const value =
    g.value === null || ref.value === null || ref.value === 0 ? null : g.value / ref.value;
  const interval = riskRatioInterval(g.count, g.size, ref.count, ref.size, o.confidence);
  let verdict: FairnessVerdict;
  if (value === null || g.size < o.minGroupSize || ref.size < o.minGroupSize) {
    verdict = 'insufficient-data';
  } else {
    const outside = value < o.ratioBounds.min || value > o.ratioBounds.max;
    const significant =
      o.verdict === 'point' || (interval !== null && (interval.upper < 1 || interval.lower > 1));
    verdict = outside && significant ? 'disparity' : 'fair';
  }
  return { value, interval, verdict };
}

const SEVERITY: Record<FairnessVerdict, number> = {
  reference: 0,
  fair: 1,
  'insufficient-data': 2,
  disparity: 3,
};

function worst(verdicts: FairnessVerdict[]): FairnessVerdict {
  let w: FairnessVerdict = 'fair';
  for (const v of verdicts) if (SEVERITY[v] > SEVERITY[w]) w = v;
  return w;
}

function betweenGroups(values: (number | null)[]): BetweenGroups {
  let min = Number.POSITIVE_INFINITY;
  let max = Number.NEGATIVE_INFINITY;
  for (const v of values) {
    if (v === null) continue;
    if (v < min) min = v;
    if (v > max) max = v;
  }
  if (min === Number.POSITIVE_INFINITY) return { difference: null, ratio: null };
  return { difference: max - min, ratio: max === 0 ? 1 : min / max };
}

interface Extremes {
  difference: number;
  low: FairnessGroupResult;
  high: FairnessGroupResult;
}

function extremes(groups: FairnessGroupResult[], metric: FairnessMetric): Extremes | null {
  let low: FairnessGroupResult | null = null;
  let high: FairnessGroupResult | null = null;
  for (const g of groups) {
    const v = g.rates[metric].value;
    if (v === null) continue;
    if (low === null || v < (low.rates[metric].value as number)) low = g;
    if (high === null || v > (high.rates[metric].value as number)) high = g;
  }
  if (low === null || high === null) return null;
  const difference = (high.rates[metric].value as number) - (low.rates[metric].value as number);
  return { difference, low, high };
}

function equalizedOddsOf(groups: FairnessGroupResult[], o: ResolvedOptions): EqualizedOddsResult {
  const tpr = betweenGroups(groups.map((g) => g.rates['true-positive-rate'].value));
  const fpr = betweenGroups(groups.map((g) => g.rates['false-positive-rate'].value));
  const difference =
    tpr.difference === null || fpr.difference === null
      ? null
      : Math.max(tpr.difference, fpr.difference);
  const ratio = tpr.ratio === null || fpr.ratio === null ? null : Math.min(tpr.ratio, fpr.ratio);

  const eligible = groups.filter(
    (g) =>
      g.rates['true-positive-rate'].size >= o.minGroupSize &&
      g.rates['false-positive-rate'].size >= o.minGroupSize,
  );
  const base = {
    difference,
    ratio,
    truePositiveRate: tpr,
    falsePositiveRate: fpr,
    groupsCompared: eligible.map((g) => g.group),
  };
  const t = extremes(eligible, 'true-positive-rate');
  const f = extremes(eligible, 'false-positive-rate');
  if (eligible.length < 2 || t === null || f === null) {
    return {
      ...base,
      verdictDifference: null,
      worstRate: null,
      worstPair: null,
      interval: null,
      verdict: 'insufficient-data',
    };
  }
  const [worstRate, e] =
    t.difference >= f.difference
      ? (['true-positive-rate', t] as const)
      : (['false-positive-rate', f] as const);
  const hi = e.high.rates[worstRate];
  const lo = e.low.rates[worstRate];
  const interval = differenceInterval(hi.count, hi.size, lo.count, lo.size, o.confidence);
  const significant = o.verdict === 'point' || (interval !== null && interval.lower > 0);
  return {
    ...base,
    verdictDifference: e.difference,
    worstRate,
    worstPair: [e.high.group, e.low.group],
    interval,
    verdict: e.difference > o.maxEqualizedOddsDifference && significant ? 'disparity' : 'fair',
  };
}
