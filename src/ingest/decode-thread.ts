/**
 * The event loop's handle on the Kafka decode thread (decode-worker.ts). `decode` packs a
 * batch's values, sends them, and resolves with the decoded form; it rejects when the thread
 * failed on that batch or is gone, and the caller then decodes the batch itself (nothing is
 * lost, it is only slower). From the sources (tests, `tsx`) the thread loads the TypeScript
 * through tsx; from the build, the compiled file.
 */
import { extname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import type { ModelConfig } from '../config/types.js';
import type { Logger } from '../logger.js';
import type { DecodeOptions } from './decode.js';
import { type PackedValues, packValues } from './decode-batch.js';
import type { DecodeAnswer, DecodeJob, DecodeWorkerData, ModelsUpdate } from './decode-worker.js';

export interface DecodeThread {
  decode(
    values: ReadonlyArray<Uint8Array | null>,
    headers?: (i: number) => { model?: string; version?: string } | undefined,
  ): Promise<Uint8Array>;
  /** The model list for the batches sent from now on (a config reload; see decode-worker.ts). */
  setModels(models: readonly ModelConfig[]): void;
  close(): Promise<void>;
}

function spawn(data: DecodeWorkerData): Worker {
  const here = fileURLToPath(import.meta.url);
  const ext = extname(here);
  const entry = new URL(`./decode-worker${ext}`, import.meta.url);
  if (ext === '.js') return new Worker(entry, { workerData: data });
  const boot = `import('tsx/esm/api').then((m) => { m.register(); return import(${JSON.stringify(entry.href)}); })`;
  return new Worker(boot, { eval: true, workerData: data });
}

export function createDecodeThread(
  models: readonly ModelConfig[],
  /** For a live source, its clock (read once per batch, when packed). No PII key: models with
   * PII fields are decoded on the event loop. */
  opts: Pick<DecodeOptions, 'live'>,
  maxBytes: number,
  logger: Logger,
): DecodeThread {
  const { live } = opts;
  const worker = spawn({
    models: [...models],
    maxBytes,
    ...(live ? { maxFutureSkewMs: live.maxFutureSkewMs } : {}),
  });
  // The thread must not keep the process alive on its own.
  worker.unref();
  let seq = 0;
  let gone: Error | undefined;
  const pending = new Map<
    number,
    { resolve: (b: Uint8Array) => void; reject: (e: Error) => void }
  >();
  const failAll = (err: Error) => {
    gone ??= err;
    for (const p of pending.values()) p.reject(err);
    pending.clear();
  };
  worker.on('message', (a: DecodeAnswer) => {
    const p = pending.get(a.seq);
    if (!p) return;
    pending.delete(a.seq);
    if ('decoded' in a) p.resolve(a.decoded);
    else p.reject(new Error(`decode thread failed on a batch: ${a.error}`));
  });
  worker.on('error', (err) => {
    logger.error({ err }, 'kafka decode thread failed; batches are decoded on the event loop');
    failAll(err);
  });
  worker.on('exit', (code) => failAll(new Error(`kafka decode thread exited (code ${code})`)));

  return {
    decode(values, headers) {
      if (gone) return Promise.reject(gone);
      const packed: PackedValues = packValues(values, headers);
      if (live) packed.now = live.now();
      const job: DecodeJob = { seq: ++seq, packed };
      return new Promise<Uint8Array>((resolve, reject) => {
        pending.set(job.seq, { resolve, reject });
        worker.postMessage(job, [
          packed.bytes.buffer as ArrayBuffer,
          packed.ends.buffer as ArrayBuffer,
        ]);
      });
    },
    setModels(models) {
      if (gone) return;
      const update: ModelsUpdate = { models: [...models] };
      worker.postMessage(update);
    },
    async close() {
      failAll(new Error('kafka decode thread closed'));
      await worker.terminate();
    },
  };
}
