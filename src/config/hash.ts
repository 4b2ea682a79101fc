import { createHash } from 'node:crypto';
import type { ModelConfig } from './types.js';

/*
 * The identity of a model's effective configuration: what every stored result records, so an
 * auditor can tell which configuration produced it and whether two results were judged alike.
 * The hash covers the resolved ModelConfig (defaults applied, alert settings merged), written
 * as canonical JSON: object keys sorted, undefined members dropped, so two configs that mean
 * the same thing hash alike however their files were written. A ModelConfig holds no secret
 * (the PII key and credentials live outside it), so hashing it reveals nothing.
 */

const hashes = new WeakMap<ModelConfig, string>();

/** Canonical JSON text of a config value (sorted keys, no undefined members). */
export function canonicalJson(value: unknown): string {
  if (value === null || typeof value !== 'object') {
    // Non-finite numbers have no JSON form: JSON.stringify writes null for them, as here.
    return JSON.stringify(value) ?? 'null';
  }
  if (Array.isArray(value)) return `[${value.map((v) => canonicalJson(v ?? null)).join(',')}]`;
  const keys = Object.keys(value)
    .filter((k) => (value as Record<string, unknown>)[k] !== undefined)
    .sort();
  return `{${keys
    .map((k) => `${JSON.stringify(k)}:${canonicalJson((value as Record<string, unknown>)[k])}`)
    .join(',')}}`;
}

/** `sha256:` + hex digest of the model's canonical effective config; computed once per object. */
export function modelConfigHash(model: ModelConfig): string {
  let hash = hashes.get(model);
  if (hash === undefined) {
    hash = `sha256:${createHash('sha256').update(canonicalJson(model)).digest('hex')}`;
    hashes.set(model, hash);
  }
  return hash;
}
