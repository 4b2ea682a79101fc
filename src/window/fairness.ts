import type { FairnessAttributeConfig, ModelConfig } from '../config/types.js';
import { InvalidInputError } from '../errors.js';
import {
  attributeGroups,
  createFairnessCounts,
  evaluateFairness,
  type FairnessCountsSnapshot,
  type FairnessGroupResult,
  type FairnessResult,
} from '../stats/index.js';
import type { FeatureValue } from '../types.js';
import { toScore } from './performance.js';

/*
 * Fairness per window from the store: the stored predictions and labels of a window, counted
 * per protected group in the store's SQL (the group, selection and label rules pushed down,
 * `storedOutcomeQuery`), become per-attribute counts (`countStoredOutcomes`) and results
 * (`evaluateWindowFairness`). Counting from the store rather than in the window state gives
 * one path for predictions and for labels that arrive after the close, exact across
 * instances (ids are deduplicated in the store), and costs the window state nothing.
 */

interface AttributePlan {
  config: FairnessAttributeConfig;
  groups: string[];
}

const plans = new WeakMap<ModelConfig, AttributePlan[]>();

/** The model's protected attributes with their groups, built once per config. */
function planOf(model: ModelConfig): AttributePlan[] {
  let plan = plans.get(model);
  if (plan === undefined) {
    plan = (model.fairness?.attributes ?? []).map((config) => ({
      config,
      groups: attributeGroups(config),
    }));
    plans.set(model, plan);
  }
  return plan;
}

/**
 * Whether a binary prediction selects (predicts the positive class), by the rule performance
 * uses; undefined for a prediction that is neither a probability nor a class. The store's
 * fairness query applies the same rule in SQL, held equal to this function by
 * test/integration/store/fairness-rows.test.ts.
 */
export function isSelected(model: ModelConfig, prediction: FeatureValue): boolean | undefined {
  const score = toScore(prediction, String(model.label.positive));
  return score === undefined ? undefined : score >= model.label.threshold;
}

/** Fairness counts of a window (or range) per protected attribute (its field). */
export type WindowFairnessSnapshot = Record<string, FairnessCountsSnapshot>;

/**
 * `count` stored predictions of `group` with this selection (null: not a probability or
 * class, not counted) and label class (null: unlabelled).
 */
export interface StoredOutcomes {
  group: string;
  selected: boolean | null;
  positive: boolean | null;
  count: number;
}

/**
 * What the store needs to count `attribute` of `model`: its groups, what selects and what is
 * positive (the rules of `createGroupAssigner`, `isSelected` and performance, applied in the
 * store's SQL).
 */
export function storedOutcomeQuery(model: ModelConfig, attribute: FairnessAttributeConfig) {
  return {
    field: attribute.field,
    attribute,
    threshold: model.label.threshold,
    positive: String(model.label.positive),
    // Rows are per (group, selected ∈ {yes, no, unscorable}, label ∈ {positive, other, none}).
    limit: attributeGroups(attribute).length * 9,
  };
}

/**
 * Counts of the attribute `field` of `model` from stored predictions and labels counted per
 * group (a recompute from stored data): each row counts `count` predictions and, when
 * labelled, as many outcomes.
 *
 * @throws InvalidInputError when `field` is not a protected attribute of the model, or a row
 *   names a group the attribute does not have
 */
export function countStoredOutcomes(
  model: ModelConfig,
  field: string,
  rows: readonly StoredOutcomes[],
): FairnessCountsSnapshot {
  const p = planOf(model).find((x) => x.config.field === field);
  if (p === undefined) {
    throw new InvalidInputError(`"${field}" is not a protected attribute of model ${model.id}`);
  }
  const groups: FairnessCountsSnapshot['groups'] = {};
  for (const g of p.groups) groups[g] = { predictions: 0, selected: 0, tp: 0, fp: 0, fn: 0, tn: 0 };
  for (const row of rows) {
    const selected = row.selected;
    if (selected === null) continue;
    const c = groups[row.group];
    if (c === undefined) {
      throw new InvalidInputError(`stored fairness row of unknown group "${row.group}" (${field})`);
    }
    const n = row.count;
    c.predictions += n;
    if (selected) c.selected += n;
    if (row.positive === null) continue;
    if (row.positive && selected) c.tp += n;
    else if (row.positive) c.fn += n;
    else if (selected) c.fp += n;
    else c.tn += n;
  }
  // Through the counts' own validation: a count that is not a safe integer is refused here.
  return createFairnessCounts(p.groups, { kind: 'fairness-counts', groups }).snapshot();
}

/**
 * The fairness result of each protected attribute that has counts, with the model's reference
 * groups and thresholds (an attribute without counts is left out).
 */
export function evaluateWindowFairness(
  model: ModelConfig,
  counts: WindowFairnessSnapshot,
): Record<string, FairnessResult> {
  const f = model.fairness;
  const out: Record<string, FairnessResult> = {};
  if (f === undefined || f === null) return out;
  for (const a of f.attributes) {
    const c = counts[a.field];
    if (c === undefined) continue;
    out[a.field] = evaluateFairness(c, {
      reference: a.reference,
      confidence: f.confidence,
      ratioBounds: f.ratioBounds,
      maxEqualizedOddsDifference: f.maxEqualizedOddsDifference,
      minGroupSize: f.minGroupSize,
      verdict: f.verdict,
    });
  }
  return out;
}

/**
 * A group's verdict in a run of disparity windows (the consecutive-disparity count and its
 * alert): true when any of its ratios is a disparity, false when none is and at least one was
 * judged fair (a window before any label is judged on its selection rate), null when nothing
 * could be judged (too few predictions, or the reference group itself): such a window neither
 * extends nor ends a run, as a drift window without a verdict (src/export/streaks.ts).
 */
export function groupDisparity(g: FairnessGroupResult): boolean | null {
  const verdicts = Object.values(g.ratios).map((r) => r.verdict);
  if (verdicts.includes('disparity')) return true;
  return verdicts.includes('fair') ? false : null;
}
