import { InvalidInputError } from '../errors.js';
import { categoryKey } from './sketch.js';

/*
 * Protected groups: which group an event's protected-attribute value belongs to. The group set
 * is fixed by configuration (declared categories, or bands between numeric edges) plus `other`
 * and `missing`, so counts stay bounded whatever producers send, and every instance assigns
 * the same value to the same group (counts merge by addition).
 */

/** Group of a value outside the declared categories (or a non-number for numeric bands). */
export const OTHER_GROUP = 'other';
/** Group of an absent value: null, undefined or NaN. */
export const MISSING_GROUP = 'missing';

/** A categorical protected attribute: its declared groups (values), the rest is `other`. */
export interface CategoricalAttribute {
  kind: 'categorical';
  groups: readonly string[];
  /**
   * For an attribute whose values arrive keyed-hashed (piiFields): the hash of each group's
   * value → the group, so groups keep their names from the config while no clear value is
   * kept. Absent: values arrive in clear.
   */
  hashed?: Readonly<Record<string, string>>;
}

/**
 * A numeric protected attribute bucketed by strictly increasing edges into edges.length + 1
 * half-open bands: (−∞, e₀), [e₀, e₁), …, [eₖ, +∞). Named `<e₀`, `[e₀,e₁)`, …, `>=eₖ`
 * unless `labels` (one per band) are given.
 */
export interface NumericAttribute {
  kind: 'numeric';
  edges: readonly number[];
  labels?: readonly string[];
}

export type ProtectedAttribute = CategoricalAttribute | NumericAttribute;

/** Every group an attribute can produce, in a stable order: declared/bands, `other`, `missing`. */
export function attributeGroups(attribute: ProtectedAttribute): string[] {
  return [...declaredGroups(attribute), OTHER_GROUP, MISSING_GROUP];
}

/** The groups named by the configuration: the categories, or one name per numeric band. */
export function declaredGroups(attribute: ProtectedAttribute): string[] {
  if (attribute.kind === 'categorical') return [...attribute.groups];
  return attribute.labels === undefined ? bandNames(attribute.edges) : [...attribute.labels];
}

/** Default names of the bands between `edges`: `<25`, `[25,35)`, `>=35`. */
export function bandNames(edges: readonly number[]): string[] {
  const names = [`<${edges[0]}`];
  for (let i = 1; i < edges.length; i++) names.push(`[${edges[i - 1]},${edges[i]})`);
  names.push(`>=${edges[edges.length - 1]}`);
  return names;
}

/**
 * A function mapping an attribute value to its group name.
 *
 * @throws InvalidInputError on an attribute that cannot define groups (no groups, duplicate or
 *   reserved names, edges not finite and strictly increasing, labels of the wrong length)
 */
export function createGroupAssigner(attribute: ProtectedAttribute): (value: unknown) => string {
  checkAttribute(attribute);
  if (attribute.kind === 'categorical') {
    const hashed = attribute.hashed;
    if (hashed !== undefined) {
      return (value) => {
        if (value === null || value === undefined) return MISSING_GROUP;
        return typeof value === 'string' && Object.hasOwn(hashed, value)
          ? (hashed[value] as string)
          : OTHER_GROUP;
      };
    }
    const known = new Set(attribute.groups);
    return (value) => {
      if (value === null || value === undefined || Number.isNaN(value)) return MISSING_GROUP;
      if (typeof value !== 'string' && typeof value !== 'number' && typeof value !== 'boolean') {
        return OTHER_GROUP;
      }
      const key = categoryKey(value);
      return known.has(key) ? key : OTHER_GROUP;
    };
  }
  const edges = attribute.edges;
  const names = declaredGroups(attribute);
  return (value) => {
    if (value === null || value === undefined || Number.isNaN(value)) return MISSING_GROUP;
    if (typeof value !== 'number' || !Number.isFinite(value)) return OTHER_GROUP;
    return names[bandIndex(edges, value)] as string;
  };
}

/** Index of the band holding v: the number of edges ≤ v (binary search). */
function bandIndex(edges: readonly number[], v: number): number {
  let lo = 0;
  let hi = edges.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if ((edges[mid] as number) <= v) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

function checkAttribute(attribute: ProtectedAttribute): void {
  if (attribute.kind === 'numeric') {
    const { edges, labels } = attribute;
    if (edges.length === 0) throw new InvalidInputError('protected attribute: edges is empty');
    for (let i = 0; i < edges.length; i++) {
      const e = edges[i] as number;
      if (!Number.isFinite(e) || (i > 0 && !(e > (edges[i - 1] as number)))) {
        throw new InvalidInputError(
          `protected attribute: edges must be finite and strictly increasing, edges[${i}] = ${e}`,
        );
      }
    }
    if (labels !== undefined && labels.length !== edges.length + 1) {
      throw new InvalidInputError(
        `protected attribute: labels needs ${edges.length + 1} names (one per band), got ${labels.length}`,
      );
    }
  } else if (attribute.groups.length === 0) {
    throw new InvalidInputError('protected attribute: groups is empty');
  }
  const seen = new Set<string>();
  for (const name of declaredGroups(attribute)) {
    if (name === OTHER_GROUP || name === MISSING_GROUP) {
      throw new InvalidInputError(`protected attribute: group name "${name}" is reserved`);
    }
    if (seen.has(name)) {
      throw new InvalidInputError(`protected attribute: group "${name}" is declared twice`);
    }
    seen.add(name);
  }
}
