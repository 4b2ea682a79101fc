import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { resolve } from 'node:path';
import { Readable } from 'node:stream';
import {
  type BaselineImportReport,
  type BaselineImportResult,
  type BaselineProgress,
  detectFormat,
  importBaseline,
} from '../../baseline/index.js';
import type { DriftdConfig, ModelConfig } from '../../config/types.js';
import { BaselineError } from '../../errors.js';
import { piiKeyOf } from '../../privacy/pii.js';
import { createStore } from '../../store/index.js';
import type { BaselineProfile } from '../../types.js';
import type { FlagsOf } from '../commands.js';
import { DaemonAnswerError, type DaemonClient } from '../daemon-client.js';
import { daemonFor } from '../daemon-or-store.js';
import type { CliIo } from '../index.js';
import { createProgress, type Progress } from '../progress.js';
import { cliConfig, modelOf } from '../shared.js';

interface Imported extends BaselineImportResult {
  created: boolean;
}

/** What the daemon answers for an import. */
interface ImportAnswer {
  created: boolean;
  profile: BaselineProfile;
  report: BaselineImportReport;
}

/**
 * `driftd baseline import`: through the running daemon when one answers (its API streams the
 * file in and imports it exactly as here, so the content hash is the same, and the engine
 * uses it from the next window on), else directly into the configured store.
 */
export async function run(flags: FlagsOf<'baseline import'>, io: CliIo): Promise<number> {
  const config = await cliConfig(flags);
  const model = modelOf(config, flags.model);
  const daemon = await daemonFor(config, flags, 'admin');
  // Progress on stderr (stdout carries the answer, JSON with --json).
  const err = io.err as NodeJS.WriteStream;
  const imported = daemon
    ? await importThroughDaemon(daemon, model, flags.version, flags.file, err)
    : await importDirectly(config, model, flags.version, flags.file, err);
  print(io, imported, flags.file, flags.json === true);
  return 0;
}

async function importDirectly(
  config: DriftdConfig,
  model: ModelConfig,
  version: string,
  file: string,
  err: NodeJS.WriteStream,
): Promise<Imported> {
  const progress = createProgress(`importing ${file}`, err);
  const { profile, report } = await importBaseline({
    model,
    version,
    file,
    piiKey: piiKeyOf(config),
    onProgress: (p) =>
      progress.update(
        Math.round(p.fraction * 1000),
        1000,
        `pass ${p.pass}/2, ${p.records} rows, ${p.badRows} bad`,
      ),
  });
  progress.finish(`${report.records} rows, ${report.badRows.total} bad`);
  const store = createStore(config.store);
  try {
    await store.migrate();
    return { created: await store.saveBaseline(profile), profile, report };
  } finally {
    await store.close();
  }
}

async function importThroughDaemon(
  daemon: DaemonClient,
  model: ModelConfig,
  version: string,
  file: string,
  err: NodeJS.WriteStream,
): Promise<Imported> {
  const format = detectFormat(file);
  let total: number;
  try {
    const s = await stat(file);
    if (!s.isFile()) throw new Error('not a regular file');
    total = s.size;
  } catch (cause) {
    throw new BaselineError(
      `${file}: cannot read the file (${cause instanceof Error ? cause.message : String(cause)})`,
      { cause },
    );
  }
  // The upload, then the daemon's two passes with the same progress as an import here.
  const uploading = createProgress(`uploading ${file} to ${daemon.base}`, err);
  let sent = 0;
  const stream = createReadStream(file);
  stream.on('data', (chunk) => {
    sent += chunk.length;
    uploading.update(sent, total);
  });
  let importing: Progress | undefined;
  let answer: ImportAnswer | undefined;
  let refused: { statusCode: number; code: string; message: string } | undefined;
  const path = `/api/v1/models/${encodeURIComponent(model.id)}/versions/${encodeURIComponent(version)}/baseline?progress=true&source=${encodeURIComponent(resolve(file))}`;
  await daemon.requestLines(
    path,
    {
      method: 'POST',
      headers: { 'content-type': format === 'csv' ? 'text/csv' : 'application/x-ndjson' },
      body: Readable.toWeb(stream) as ReadableStream,
      duplex: 'half',
    } as RequestInit,
    (line) => {
      const l = line as {
        progress?: BaselineProgress;
        result?: ImportAnswer;
        error?: typeof refused;
      };
      if (importing === undefined) {
        uploading.finish(`${sent} bytes`);
        importing = createProgress(`importing ${file}`, err);
      }
      if (l.progress !== undefined) {
        const p = l.progress;
        importing.update(
          Math.round(p.fraction * 1000),
          1000,
          `pass ${p.pass}/2, ${p.records} rows, ${p.badRows} bad`,
        );
      }
      if (l.result !== undefined) answer = l.result;
      if (l.error !== undefined) refused = l.error;
    },
  );
  if (refused !== undefined || answer === undefined) {
    const e = refused ?? { statusCode: 502, code: 'unknown', message: 'no answer' };
    throw new DaemonAnswerError(
      e.statusCode,
      e.code,
      `the daemon at ${daemon.base} answered ${e.statusCode}: ${e.message}`,
    );
  }
  const body = answer;
  const { report } = body;
  importing?.finish(`${report.records} rows, ${report.badRows.total} bad`);
  // The daemon stored the source as sent and answers file names only: the stored value here.
  return {
    created: body.created,
    profile: { ...body.profile, source: resolve(file) },
    report: { ...report, file },
  };
}

function print(io: CliIo, imported: Imported, file: string, json: boolean): void {
  const { created, profile, report } = imported;
  if (json) {
    io.out.write(`${JSON.stringify({ created, profile, report }, null, 2)}\n`);
    return;
  }
  io.out.write(
    `${created ? 'stored' : 'already stored (same data and parameters)'}: baseline ${profile.id}\n`,
  );
  io.out.write(
    `  model ${profile.model} version ${profile.version}, ${profile.rowCount} rows, hash ${profile.hash}\n`,
  );
  for (const [name, f] of Object.entries(profile.features)) {
    if (f.kind === 'numeric') {
      const s = f.summary;
      io.out.write(
        `  ${name.padEnd(20)} numeric      ${f.edges.length - 1} bins  mean ${fmt(s.mean)}  std ${fmt(s.std)}  p01 ${fmt(s.p01)}  p50 ${fmt(s.p50)}  p99 ${fmt(s.p99)}  missing ${f.missing}\n`,
      );
    } else {
      const top = f.categories.slice(0, 5).join(', ');
      io.out.write(
        `  ${name.padEnd(20)} categorical  ${f.distinct} distinct  top: ${top}  missing ${f.missing}\n`,
      );
    }
  }
  if (profile.performance !== undefined) {
    const metrics = Object.entries(profile.performance)
      .map(([k, v]) => `${k} ${fmt(v)}`)
      .join('  ');
    io.out.write(
      `  performance on the training data (${report.state.labeled} labelled rows): ${metrics}\n`,
    );
  }
  if (report.badRows.total > 0) {
    io.out.write(`  ${report.badRows.total} bad rows (counted, not profiled); first ones:\n`);
    for (const b of report.badRows.first.slice(0, 10)) {
      io.out.write(
        `    ${file}:${b.line}${b.field ? ` field ${b.field}` : ''}: ${b.reason}: ${b.message}\n`,
      );
    }
  }
}

const fmt = (v: number) =>
  Math.abs(v) >= 1e5 || (Math.abs(v) < 1e-3 && v !== 0)
    ? v.toExponential(3)
    : Number(v.toPrecision(6)).toString();
