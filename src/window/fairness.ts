import type { FairnessAttributeConfig, ModelConfig } from '../config/types.js';
import { InvalidInputError } from '../errors.js';
import {
  attributeGroups,
  createFairnessCounts,
  createGroupAssigner,
  evaluateFairness,
  type FairnessCounts,
  type FairnessCountsSnapshot,
  type FairnessResult,
} from '../stats/index.js';
import type { FeatureValue } from '../types.js';
import { toScore } from './performance.js';

/*
 * Fairness counts of one window: per protected attribute of the model (models[].fairness),
 * mergeable per-group counts (src/stats/fairness.ts). Predictions are counted when the window
 * records the event (selection rates need no label); outcomes (TP/FP/FN/TN) are counted from
 * labelled predictions, which arrive later. Memory: attributes × (groups + 2) × 6 counters.
 */

interface AttributePlan {
  config: FairnessAttributeConfig;
  groups: string[];
  assign: (value: unknown) => string;
}

const plans = new WeakMap<ModelConfig, AttributePlan[]>();

/** The model's protected attributes with their group assigners, built once per config. */
function planOf(model: ModelConfig): AttributePlan[] {
  let plan = plans.get(model);
  if (plan === undefined) {
    plan = (model.fairness?.attributes ?? []).map((config) => ({
      config,
      groups: attributeGroups(config),
      assign: createGroupAssigner(config),
    }));
    plans.set(model, plan);
  }
  return plan;
}

/**
 * Whether a binary prediction selects (predicts the positive class), by the rule performance
 * uses; undefined for a prediction that is neither a probability nor a class.
 */
export function isSelected(model: ModelConfig, prediction: FeatureValue): boolean | undefined {
  const score = toScore(prediction, String(model.label.positive));
  return score === undefined ? undefined : score >= model.label.threshold;
}

export type WindowFairnessSnapshot = Record<string, FairnessCountsSnapshot>;

export interface WindowFairness {
  /** Counts one prediction per attribute (nothing for a prediction that is not a score or class). */
  record(features: Readonly<Record<string, FeatureValue>>, prediction: FeatureValue): void;
  /** Counts the outcome of one labelled prediction per attribute. */
  recordOutcome(
    features: Readonly<Record<string, FeatureValue>>,
    prediction: FeatureValue,
    label: number | string,
  ): void;
  /**
   * Adds another partial state. An attribute the other state lacks, or counted over other
   * groups (the config changed between snapshot and restore), is left as it is.
   */
  merge(other: WindowFairnessSnapshot): void;
  snapshot(): WindowFairnessSnapshot;
}

/** Fairness counts for one window of `model`; null when the model monitors no fairness. */
export function createWindowFairness(model: ModelConfig): WindowFairness | null {
  const plan = planOf(model);
  if (plan.length === 0) return null;
  const counts = new Map<string, { plan: AttributePlan; counts: FairnessCounts }>();
  for (const p of plan) {
    counts.set(p.config.field, { plan: p, counts: createFairnessCounts(p.groups) });
  }
  const positive = String(model.label.positive);
  const threshold = model.label.threshold;
  // isSelected, without building the positive class's text again for every event.
  const select = (prediction: FeatureValue): boolean | undefined => {
    const score = toScore(prediction, positive);
    return score === undefined ? undefined : score >= threshold;
  };
  return {
    record(features, prediction) {
      const selected = select(prediction);
      if (selected === undefined) return;
      for (const { plan: p, counts: c } of counts.values()) {
        c.recordPrediction(p.assign(features[p.config.field]), selected);
      }
    },
    recordOutcome(features, prediction, label) {
      const selected = select(prediction);
      if (selected === undefined) return;
      const y = String(label) === positive ? 1 : 0;
      for (const { plan: p, counts: c } of counts.values()) {
        c.recordOutcome(p.assign(features[p.config.field]), selected, y);
      }
    },
    merge(other) {
      for (const [field, snap] of Object.entries(other)) {
        const mine = counts.get(field);
        if (mine === undefined || !sameGroups(mine.plan.groups, snap)) continue;
        mine.counts.merge(snap);
      }
    },
    snapshot() {
      const out: WindowFairnessSnapshot = {};
      for (const [field, { counts: c }] of counts) out[field] = c.snapshot();
      return out;
    },
  };
}

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
 * What the store needs to count `attribute` of `model` as the live windows do: its groups,
 * what selects and what is positive (the rules of `createGroupAssigner`, `isSelected` and
 * performance, applied in the store's SQL).
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

function sameGroups(groups: readonly string[], snap: FairnessCountsSnapshot): boolean {
  if (snap === null || typeof snap !== 'object' || snap.groups === null) return false;
  const names = Object.keys(snap.groups);
  return names.length === groups.length && groups.every((g) => Object.hasOwn(snap.groups, g));
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
