/**
 * File → baseline profile: streams the file twice through the profile builder (see
 * profile.ts for the math). Pass 1 also hashes the raw bytes; pass 2 must see the same rows,
 * and the file's size and mtime must not change between the passes. Memory is the builder's
 * fixed-size state plus one read chunk, whatever the file size.
 */
import { stat } from 'node:fs/promises';
import { resolve } from 'node:path';
import type { ModelConfig } from '../config/types.js';
import { BaselineError } from '../errors.js';
import type { PiiKey } from '../privacy/pii.js';
import type { BaselineProfile } from '../types.js';
import { type CbpeFitReport, createCbpeCollector, estimatesPerformance } from './cbpe.js';
import {
  BadRowLog,
  type BadRowReport,
  createBaselineHash,
  createProfileBuilder,
  type ProfileBuilderStats,
} from './profile.js';
import { detectFormat, type RowFormat, readRows } from './read.js';
import { createSegmentBaselineBuilder } from './segments.js';

export interface BaselineProgress {
  pass: 1 | 2;
  bytesRead: number;
  totalBytes: number;
  /** Both passes together, 0..1 (each pass is half the work). */
  fraction: number;
  /** Records read so far in this pass. */
  records: number;
  /** Bad rows found so far (pass 1; final during pass 2). */
  badRows: number;
}

export interface ImportBaselineOptions {
  model: ModelConfig;
  version: string;
  /** A .csv, .jsonl or .ndjson file (read twice, so not a pipe). */
  file: string;
  /** Key of the PII HMAC; required when a feature of the model is a PII field. */
  piiKey?: PiiKey | null;
  /** Overrides the format the extension implies. */
  format?: RowFormat;
  /** After every read chunk (1 MiB). */
  onProgress?: (progress: BaselineProgress) => void;
  /** Clock for `createdAt`; default Date.now. */
  now?: () => number;
  /** Aborts the read; the promise rejects with the abort error. */
  signal?: AbortSignal;
  /** Stored as the profile's source instead of the file's absolute path (an upload's name). */
  source?: string;
  /**
   * Read size, bytes (default 1 MiB). Each chunk's rows are profiled in one turn of the event
   * loop: a daemon importing beside live traffic reads smaller chunks.
   */
  chunkBytes?: number;
}

export interface BaselineImportReport {
  file: string;
  format: RowFormat;
  bytes: number;
  /** Valid rows profiled (= profile.rowCount). */
  rows: number;
  /** Data records in the file, valid or not. */
  records: number;
  blankLines: number;
  badRows: BadRowReport;
  /** Configured prediction field absent from the CSV header (then `profile.prediction` is null). */
  predictionAbsent: boolean;
  /** Configured label field absent from the CSV header (then the profile has no performance). */
  labelAbsent: boolean;
  /** The performance estimator's fit (binary classifiers with a numeric score), else null. */
  cbpe: CbpeFitReport | null;
  /** Bounded pass-1 state, for diagnostics. */
  state: ProfileBuilderStats;
  durationMs: number;
}

export interface BaselineImportResult {
  profile: BaselineProfile;
  report: BaselineImportReport;
}

/**
 * Imports a training file as the baseline of `model` at `version`. Bad rows are counted and
 * reported (first 100 with line, field and reason) and left out; the import fails with a
 * BaselineError naming the file when a configured feature column is absent from the CSV
 * header, when no row is valid, or when the file changes between the passes.
 */
export async function importBaseline(
  options: ImportBaselineOptions,
): Promise<BaselineImportResult> {
  const started = performance.now();
  const { model, version, file } = options;
  const format = options.format ?? detectFormat(file);
  const before = await statOrThrow(file);
  const piiKey = options.piiKey ?? null;
  const builder = createProfileBuilder(model, version, piiKey);
  const columns = builder.columns.map((c) => c.name);
  const optional = builder.columns.filter((c) => c.role !== 'feature').map((c) => c.name);
  // The label column (read by the builder for the baseline's own performance) also feeds the
  // performance estimator, with the score.
  const cbpe = estimatesPerformance(model) ? createCbpeCollector(model) : null;
  const scoreAt = columns.indexOf(model.prediction.field);
  const labelAt = columns.indexOf(model.label.field);
  const numericColumns = builder.columns.filter((c) => c.type === 'numeric').map((c) => c.name);
  const hash = createBaselineHash(model, version, piiKey);
  const log = new BadRowLog();
  const progress = options.onProgress;
  const segments = createSegmentBaselineBuilder(model, version, columns, piiKey);
  if (segments !== null) {
    // Pass 0 (segments only): each segment field's most frequent values.
    await readRows(
      file,
      {
        format,
        columns,
        optional,
        numericColumns,
        ...(options.signal ? { signal: options.signal } : {}),
        ...(options.chunkBytes ? { chunkBytes: options.chunkBytes } : {}),
      },
      (values) => segments.tally(values),
      () => {},
    );
    segments.endTally();
  }

  const first = await readRows(
    file,
    {
      format,
      columns,
      optional,
      numericColumns,
      onBytes: (chunk) => hash.update(chunk),
      ...(options.signal ? { signal: options.signal } : {}),
      ...(options.chunkBytes ? { chunkBytes: options.chunkBytes } : {}),
      ...(progress
        ? {
            onProgress: (p) =>
              progress({
                pass: 1,
                bytesRead: p.bytesRead,
                totalBytes: p.totalBytes,
                fraction: half(p.bytesRead, p.totalBytes, 0),
                records: p.records,
                badRows: log.total,
              }),
          }
        : {}),
    },
    (values, line) => {
      const bad = builder.observe(values, line);
      if (bad !== null) log.add(bad);
      else segments?.observe(values, line);
    },
    (bad) => log.add(bad),
  );
  builder.endObserve();
  segments?.endObserve();

  let secondBad = 0;
  const second = await readRows(
    file,
    {
      format,
      columns,
      optional,
      numericColumns,
      ...(options.signal ? { signal: options.signal } : {}),
      ...(options.chunkBytes ? { chunkBytes: options.chunkBytes } : {}),
      ...(progress
        ? {
            onProgress: (p) =>
              progress({
                pass: 2,
                bytesRead: p.bytesRead,
                totalBytes: p.totalBytes,
                fraction: half(p.bytesRead, p.totalBytes, 1),
                records: p.records,
                badRows: log.total,
              }),
          }
        : {}),
    },
    (values, line) => {
      if (builder.count(values, line) !== null) secondBad++;
      else {
        cbpe?.add(values[scoreAt], values[labelAt]);
        segments?.count(values, line);
      }
    },
    () => {
      secondBad++;
    },
  );

  const after = await statOrThrow(file);
  if (
    after.size !== before.size ||
    after.mtimeMs !== before.mtimeMs ||
    first.bytes !== second.bytes ||
    secondBad !== log.total
  ) {
    throw new BaselineError(
      `${file}: the file changed during the import (size, modification time or rows differ between the two passes); import it again once it is complete`,
    );
  }

  const meta = {
    hash: hash.digest('hex'),
    source: options.source ?? resolve(file),
    createdAt: (options.now ?? Date.now)(),
    badRows: log.total,
  };
  const built = builder.finish(meta);
  const estimator = cbpe?.finish() ?? null;
  const withEstimator: BaselineProfile =
    estimator?.model == null ? built : { ...built, cbpe: estimator.model };
  const profile: BaselineProfile =
    segments === null ? withEstimator : { ...withEstimator, segments: segments.finish(meta) };
  return {
    profile,
    report: {
      file,
      format,
      bytes: first.bytes,
      rows: profile.rowCount,
      records: first.records,
      blankLines: first.blankLines,
      badRows: log.report(),
      predictionAbsent: first.absentColumns.includes(model.prediction.field),
      labelAbsent: first.absentColumns.includes(model.label.field),
      cbpe: estimator?.report ?? null,
      state: builder.stats(),
      durationMs: performance.now() - started,
    },
  };
}

function half(done: number, total: number, pass: 0 | 1): number {
  const f = total > 0 ? Math.min(1, done / total) : 1;
  return (pass + f) / 2;
}

async function statOrThrow(file: string): Promise<{ size: number; mtimeMs: number }> {
  try {
    const s = await stat(file);
    if (!s.isFile()) throw new Error('not a regular file');
    return { size: s.size, mtimeMs: s.mtimeMs };
  } catch (err) {
    throw new BaselineError(
      `${file}: cannot read the file (${err instanceof Error ? err.message : String(err)})`,
      { cause: err },
    );
  }
}
