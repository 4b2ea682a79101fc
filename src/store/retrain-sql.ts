import type { RetrainRecommendation } from '../window/retrain.js';
import { formatDateTime64, READ_SETTINGS, tableRef } from './sql.js';

/** SQL of the retrain_recommendations table (migration 17), one concern: its rows. */

/** A stored transition of an episode, with its lineage. */
export interface StoredRetrainRecommendation extends RetrainRecommendation {
  driftdVersion: string;
  /** Wall clock of the row, epoch ms: the newest row of an episode is its state. */
  writtenAt: number;
}

export interface RetrainRecommendationRow {
  status: string;
  closed_at_ms: string | number | null;
  evidence: string;
  driftd_version: string;
  config_hash: string;
  written_at_ms: string | number;
}

const str = JSON.stringify as (v: string) => string;

export function encodeRetrainRecommendation(r: StoredRetrainRecommendation): string {
  const first = r.windows[0];
  const last = r.windows.at(-1);
  const evidence = JSON.stringify(r);
  return `{"model":${str(r.model)},"version":${str(r.version)},"episode_id":${str(r.id)},"status":${str(r.status)},"window":${str(r.window)},"triggers":${JSON.stringify(r.triggers)},"opened_at":"${formatDateTime64(r.openedAt, 'openedAt')}","closed_at":${r.closedAt === null ? 'null' : `"${formatDateTime64(r.closedAt, 'closedAt')}"`},"first_window_start":"${formatDateTime64(first?.start ?? r.openedAt, 'window start')}","last_window_end":"${formatDateTime64(last?.end ?? r.openedAt, 'window end')}","evidence":${str(evidence)},"driftd_version":${str(r.driftdVersion)},"config_hash":${str(r.configHash)},"written_at":"${formatDateTime64(r.writtenAt, 'writtenAt')}"}`;
}

/**
 * The newest row of each episode of a model (optionally one version, only open ones), newest
 * episodes first, at most {limit} of them.
 */
export function retrainRecommendationsSql(db: string, version: boolean, open: boolean): string {
  return `SELECT status, toUnixTimestamp64Milli(closed_at) AS closed_at_ms, evidence, driftd_version,
  config_hash, toUnixTimestamp64Milli(written_at) AS written_at_ms
FROM
(
  SELECT * FROM ${tableRef(db, 'retrain_recommendations')}
  WHERE model = {model:String}${version ? ' AND version = {version:String}' : ''}
  ORDER BY written_at DESC, status = 'closed' DESC
  LIMIT 1 BY version, episode_id
)
${open ? "WHERE status = 'open'\n" : ''}ORDER BY opened_at DESC, version, episode_id
LIMIT {limit:UInt32}
${READ_SETTINGS}`;
}

export function decodeRetrainRecommendation(
  row: RetrainRecommendationRow,
): StoredRetrainRecommendation {
  const rec = JSON.parse(row.evidence) as StoredRetrainRecommendation;
  return {
    ...rec,
    status: row.status === 'closed' ? 'closed' : 'open',
    closedAt: row.closed_at_ms === null ? null : Number(row.closed_at_ms),
    driftdVersion: row.driftd_version,
    configHash: row.config_hash,
    writtenAt: Number(row.written_at_ms),
  };
}
