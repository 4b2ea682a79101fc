/**
 * The Kafka decode thread (see decode-batch.ts): takes packed batches, answers with their
 * decoded form, in order. A batch it cannot decode (a bug) is answered with the error, and the
 * event loop decodes that batch itself. A config reload sends the new model list
 * (`ModelsUpdate`); messages are handled in order, so it applies between batches: every batch
 * sent after it is decoded with the new list.
 */
import { parentPort, workerData } from 'node:worker_threads';
import type { ModelConfig } from '../config/types.js';
import type { DecodeOptions } from './decode.js';
import { decodePacked, type PackedValues } from './decode-batch.js';

export interface DecodeWorkerData {
  models: ModelConfig[];
  maxBytes: number;
  /** ingest.maxFutureSkew of the live source; each batch carries its clock reading (`now`). */
  maxFutureSkewMs?: number;
}

export interface DecodeJob {
  seq: number;
  packed: PackedValues;
}

/** The model list of a config reload, for the batches sent after it. */
export interface ModelsUpdate {
  models: ModelConfig[];
}

export type DecodeAnswer = { seq: number; decoded: Uint8Array } | { seq: number; error: string };

const { maxBytes, maxFutureSkewMs } = workerData as DecodeWorkerData;
let models: ModelConfig[] = [];
// No PII key here: items of models with PII fields are answered "decode it yourself".
let opts: DecodeOptions = { models: new Map() };
function setModels(list: ModelConfig[]): void {
  models = list;
  opts = { models: new Map(list.map((m) => [m.id, m] as const)) };
}
setModels((workerData as DecodeWorkerData).models);

parentPort?.on('message', (msg: DecodeJob | ModelsUpdate) => {
  if (!('packed' in msg)) {
    setModels(msg.models);
    return;
  }
  const { seq, packed } = msg;
  let answer: DecodeAnswer;
  try {
    const now = packed.now;
    const batchOpts: DecodeOptions =
      maxFutureSkewMs === undefined || now === undefined
        ? opts
        : { ...opts, live: { now: () => now, maxFutureSkewMs } };
    answer = { seq, decoded: decodePacked(packed, models, batchOpts, maxBytes) };
  } catch (err) {
    answer = { seq, error: err instanceof Error ? (err.stack ?? err.message) : String(err) };
  }
  if ('decoded' in answer) {
    parentPort?.postMessage(answer, [answer.decoded.buffer as ArrayBuffer]);
  } else parentPort?.postMessage(answer);
});
