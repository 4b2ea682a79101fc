/**
 * Erasure of one person's prediction (GDPR Art. 17), one function for the API route and the
 * CLI: the id is taken to its stored form (hashed when it is a PII field), every stored copy
 * of the event and its labels are deleted, and one audit line is logged, naming the model, a
 * reference to the id (never the id) and the rows removed. Window aggregates, drift and
 * performance results and baselines hold no event and are left as they are.
 */
import { createHash, createHmac } from 'node:crypto';
import type { ModelConfig } from '../config/types.js';
import type { Logger } from '../logger.js';
import type { ErasureCounts, Store } from '../store/types.js';
import { type PiiKey, storedId } from './pii.js';

export interface ErasureRequest {
  model: ModelConfig;
  /** The id as the producer sent it. */
  id: string;
  piiKey: PiiKey | null;
  store: Pick<Store, 'erasePrediction'>;
  logger: Logger;
  /** Who asked, for the audit line (e.g. "api 10.0.0.7", "cli"). */
  requestedBy: string;
}

export interface ErasureAnswer {
  model: string;
  /** Identifies the request in the audit log without the id (see `erasureRef`). */
  ref: string;
  removed: ErasureCounts;
}

/**
 * 16 hex digits of HMAC-SHA-256 under the PII key (SHA-256 without one) of model and id: an
 * auditor holding an erasure request can recompute it and find its log line; the log itself
 * holds no id.
 */
export function erasureRef(model: string, id: string, key: PiiKey | null): string {
  const text = `driftd erasure\0${model}\0${id}`;
  const mac = key === null ? createHash('sha256') : createHmac('sha256', key);
  return mac.update(text).digest('hex').slice(0, 16);
}

export async function erasePrediction(request: ErasureRequest): Promise<ErasureAnswer> {
  const { model, id, piiKey, logger } = request;
  const ref = erasureRef(model.id, id, piiKey);
  const removed = await request.store.erasePrediction(model.id, storedId(model, id, piiKey));
  logger.info(
    { audit: 'erasure', model: model.id, ref, removed, requestedBy: request.requestedBy },
    'erased one prediction and its labels',
  );
  return { model: model.id, ref, removed };
}
