import { randomBytes } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdir, readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { Transform, type TransformCallback } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { processAlive } from '../daemon-file.js';
import { HttpError } from './errors.js';

/** An upload written to disk: read it as often as needed, then `remove()` it. */
export interface SpooledUpload {
  path: string;
  bytes: number;
  remove(): Promise<void>;
}

export const uploadTooLarge = (maxBytes: number) =>
  new HttpError(
    413,
    'DRIFTD_ERR_BODY_TOO_LARGE',
    `the upload is larger than ${maxBytes} bytes (server.baselineUploadMaxBytes)`,
  );

/**
 * Streams a request body into a new file (mode 0600) under `dir`, a chunk at a time: memory
 * stays one chunk whatever the size. More than `maxBytes` stops the copy with 413 and removes
 * the partial file, as does a client that goes away (the error propagates, nothing is left).
 */
export async function spoolUpload(
  body: NodeJS.ReadableStream,
  opts: { dir: string; extension: string; maxBytes: number },
): Promise<SpooledUpload> {
  await mkdir(opts.dir, { recursive: true, mode: 0o700 });
  const path = join(
    opts.dir,
    `upload-${process.pid}-${randomBytes(8).toString('hex')}.${opts.extension}`,
  );
  const remove = () => rm(path, { force: true });
  let bytes = 0;
  const limit = new Transform({
    transform(chunk: Buffer, _enc: BufferEncoding, done: TransformCallback) {
      bytes += chunk.length;
      if (bytes > opts.maxBytes) done(uploadTooLarge(opts.maxBytes));
      else done(null, chunk);
    },
  });
  try {
    await pipeline(body, limit, createWriteStream(path, { flags: 'wx', mode: 0o600 }));
  } catch (err) {
    await remove();
    if (err instanceof HttpError) throw err;
    // A file-system failure (disk full, permissions) is the daemon's: a 5xx, detail in the log.
    if (typeof (err as NodeJS.ErrnoException).syscall === 'string') {
      throw new Error(`cannot write the upload to ${opts.dir}`, { cause: err });
    }
    throw new HttpError(
      400,
      'DRIFTD_ERR_UPLOAD_INCOMPLETE',
      'the upload did not arrive completely (the client went away or the body was cut short)',
    );
  }
  return { path, bytes, remove };
}

/**
 * Removes uploads a crashed process left in `dir` (`upload-<pid>-…`, the pid gone); those of
 * live processes are theirs.
 */
export async function removeStaleUploads(dir: string): Promise<void> {
  let names: string[];
  try {
    names = await readdir(dir);
  } catch {
    return;
  }
  for (const name of names) {
    const pid = Number(/^upload-(\d+)-/.exec(name)?.[1]);
    if (Number.isSafeInteger(pid) && pid > 0 && !processAlive(pid)) {
      await rm(join(dir, name), { force: true });
    }
  }
}
