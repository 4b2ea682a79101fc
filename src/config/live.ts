import type { DriftdConfig, ModelConfig } from './types.js';

/**
 * The config in force, swapped whole by a reload (src/reload.ts). Consumers read `current` (or
 * `models`) when they act instead of keeping what they were given at start, so a reload
 * reaches all of them at once. The swap is synchronous: no event sees half a config.
 */
export interface LiveConfig {
  readonly current: DriftdConfig;
  /**
   * `current.models` by id: one Map, updated in place by `swap`, so holders of it (decoding,
   * the API, the baseline cache) always see the current models.
   */
  readonly models: ReadonlyMap<string, ModelConfig>;
  swap(next: DriftdConfig): void;
}

export function createLiveConfig(initial: DriftdConfig): LiveConfig {
  let current = initial;
  const models = new Map<string, ModelConfig>(initial.models.map((m) => [m.id, m]));
  return {
    get current() {
      return current;
    },
    models,
    swap(next) {
      current = next;
      models.clear();
      for (const m of next.models) models.set(m.id, m);
    },
  };
}

/**
 * Top-level settings read once at start (ports and TLS of the API, the store, the Kafka client,
 * the PII key, the data directory, the log level, the ingest rules the sources were built
 * with, cluster mode). A reload keeps their running values and reports a change as needing a restart.
 * Everything else (models, thresholds, drift and alert settings) changes live.
 */
export const RESTART_ONLY_KEYS = [
  'dataDir',
  'server',
  'store',
  'kafka',
  'ingest',
  'logLevel',
  'privacy',
  // Lanes, the HTTP lane's name and the finaliser are built once at start.
  'cluster',
] as const satisfies ReadonlyArray<keyof DriftdConfig>;

/** Dotted paths (`server.port`, `server.auth.tokens[0].secret`) where `a` and `b` differ; never values. */
export function changedPaths(a: unknown, b: unknown, path = ''): string[] {
  if (Object.is(a, b)) return [];
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) {
    return [path || '(root)'];
  }
  if (Array.isArray(a) !== Array.isArray(b)) return [path || '(root)'];
  const out: string[] = [];
  if (Array.isArray(a) && Array.isArray(b)) {
    for (let i = 0; i < Math.max(a.length, b.length); i++) {
      out.push(...changedPaths(a[i], b[i], `${path}[${i}]`));
    }
    return out;
  }
  const ra = a as Record<string, unknown>;
  const rb = b as Record<string, unknown>;
  const keys = new Set([...Object.keys(ra), ...Object.keys(rb)]);
  for (const k of keys) {
    // An absent key and an undefined one are the same setting.
    if (ra[k] === undefined && rb[k] === undefined) continue;
    out.push(...changedPaths(ra[k], rb[k], path === '' ? k : `${path}.${k}`));
  }
  return out;
}

/** What a reload would change, sorted by how it can be applied. */
export interface ConfigChanges {
  /** The config to put in force: `next`, with the restart-only settings of `current`. */
  config: DriftdConfig;
  /** Paths of restart-only settings that differ: kept at their running values. */
  needsRestart: string[];
  /** Paths of settings changing live (models, thresholds, alerts…). */
  live: string[];
  /** Models added and removed. */
  added: string[];
  removed: string[];
  /**
   * Why the reload cannot be applied at all (empty when it can): changes the running daemon
   * cannot take without a restart and that cannot be kept back without splitting a model's
   * config (the PII key its fields are hashed with).
   */
  refused: string[];
}

/** Sorts the differences between the running config and a newly loaded one. */
export function configChanges(current: DriftdConfig, next: DriftdConfig): ConfigChanges {
  const needsRestart: string[] = [];
  const kept: Record<string, unknown> = { ...next };
  for (const key of RESTART_ONLY_KEYS) {
    needsRestart.push(...changedPaths(current[key], next[key], key));
    kept[key] = current[key];
    if (current[key] === undefined) delete kept[key];
  }
  const config = Object.freeze(kept) as unknown as DriftdConfig;
  const before = new Map(current.models.map((m) => [m.id, m]));
  const after = new Map(next.models.map((m) => [m.id, m]));
  const added = [...after.keys()].filter((id) => !before.has(id));
  const removed = [...before.keys()].filter((id) => !after.has(id));
  // Models by id (`models["credit-risk"].drift.fdr`), so reordering them changes nothing.
  const skip = Object.fromEntries([...RESTART_ONLY_KEYS, 'models'].map((k) => [k, undefined]));
  const live = changedPaths({ ...current, ...skip }, { ...next, ...skip });
  for (const id of new Set([...before.keys(), ...after.keys()])) {
    live.push(...changedPaths(before.get(id), after.get(id), `models["${id}"]`));
  }
  const refused: string[] = [];
  // The running key stays: a model hashing fields needs the key its baselines were hashed with.
  if (
    changedPaths(current.privacy, next.privacy).length > 0 &&
    next.models.some((m) => m.piiFields.length > 0)
  ) {
    refused.push('privacy: the PII key changes only with a restart (models hash fields with it)');
  }
  // With Kafka, model changes are applied between its batches (KafkaSource.reconfigure).
  return { config, needsRestart, live, added, removed, refused };
}
