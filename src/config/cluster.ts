import type { MapReader, PathSegment, ReadContext } from './schema.js';
import type { ClusterConfig, DriftdConfig } from './types.js';

/**
 * The top-level `cluster:` key (docs/scale-out.md) and what cluster mode refuses. One file, so
 * the rule "what cannot run on several instances" has one place.
 */

/** The `cluster:` mapping as written. */
export interface ClusterInput {
  /** Several instances share one ClickHouse store and consumer group. Env: DRIFTD_CLUSTER_ENABLED. @default false */
  enabled?: boolean;
  /**
   * This instance's stable name, [A-Za-z0-9._-] 1–63 (a StatefulSet pod's name): names its
   * HTTP lane, so a restart resumes it. Required when enabled. Env: DRIFTD_CLUSTER_INSTANCE_ID.
   */
  instanceId?: string;
  /** How often an instance looks for windows ready to finalise, at least 100ms. @default "1s" */
  finaliseInterval?: string;
  /**
   * An HTTP lane whose instance wrote no progress for this long stops holding windows back (its
   * instance is gone), at least 30s: a live lane writes progress every checkpoint interval.
   * @default "10m"
   */
  laneTimeout?: string;
}

export const INSTANCE_ID = /^[A-Za-z0-9._-]{1,63}$/;
export const MIN_FINALISE_INTERVAL_MS = 100;
/**
 * A live HTTP lane writes progress with every checkpoint (5 s by default): a timeout of a few
 * intervals would finalise windows without a lane that is merely slow to write.
 */
export const MIN_LANE_TIMEOUT_MS = 30_000;

export function readCluster(r: MapReader): ClusterConfig {
  const enabled = r.read('enabled', false, (ctx, path, value) => {
    if (typeof value === 'boolean') return value;
    ctx.issue(path, 'must be true or false');
    return false;
  });
  const instanceId = r.string('instanceId', {
    default: '',
    allowEmpty: true,
    check: (id) =>
      INSTANCE_ID.test(id)
        ? undefined
        : `${JSON.stringify(id)} is not an instance id (1 to 63 of A-Z a-z 0-9 . _ -; a StatefulSet pod's name)`,
  });
  if (enabled && instanceId === '' && r.isValid(['instanceId'])) {
    r.issue(
      ['instanceId'],
      "is required when cluster.enabled is true (a stable name per instance, e.g. the pod's name: set DRIFTD_CLUSTER_INSTANCE_ID)",
    );
  }
  return {
    enabled,
    instanceId,
    finaliseIntervalMs: r.duration('finaliseInterval', '1s', { minMs: MIN_FINALISE_INTERVAL_MS })
      .ms,
    laneTimeoutMs: r.duration('laneTimeout', '10m', { minMs: MIN_LANE_TIMEOUT_MS }).ms,
  };
}

const NOT_YET = 'is not supported in cluster mode yet';

/**
 * What cluster mode refuses, each naming its key: state kept per process today (a previous or
 * rolling reference, champion/challenger comparison, retrain episodes) and the embedded store.
 * `input` is the document as written (before defaults), to tell a written key from a default.
 */
export function checkClusterMode(ctx: ReadContext, config: DriftdConfig, input: unknown): void {
  if (config.cluster?.enabled !== true) return;
  const why = '(its state is kept per process; see docs/scale-out.md)';
  if (config.store.kind !== 'clickhouse') {
    ctx.issue(
      ['store'],
      "the embedded store is one process's: cluster mode needs the ClickHouse server store (store.clickhouse, or DRIFTD_CLICKHOUSE_URL)",
    );
  }
  const doc = asRecord(input);
  if (asRecord(asRecord(doc?.alerts)?.retrain) !== undefined) {
    ctx.issue(['alerts', 'retrain'], `${NOT_YET} ${why}`);
  }
  const models = Array.isArray(doc?.models) ? (doc.models as unknown[]) : [];
  config.models.forEach((model, i) => {
    const at: PathSegment[] = ['models', i];
    if (model.reference !== undefined && model.reference.kind !== 'baseline') {
      ctx.issue(
        [...at, 'reference', 'kind'],
        `"${model.reference.kind}" ${NOT_YET} (only "baseline") ${why}`,
      );
    }
    if (model.comparison !== undefined && model.comparison !== null) {
      ctx.issue([...at, 'comparison'], `${NOT_YET} ${why}`);
    }
    if (asRecord(asRecord(asRecord(models[i])?.alerts)?.retrain) !== undefined) {
      ctx.issue([...at, 'alerts', 'retrain'], `${NOT_YET} ${why}`);
    }
  });
}

function asRecord(value: unknown): Record<string, unknown> | undefined {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
    ? (value as Record<string, unknown>)
    : undefined;
}
