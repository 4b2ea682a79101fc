/**
 * `driftd report --model M --from T --to T [--format html|json] [--out FILE]`: the period report
 * (src/report, docs/report.md) through the running daemon when one answers (POST
 * /api/v1/admin/reports, admin token), else from the store directly. Both build the same bytes.
 */

import { writeFile } from 'node:fs/promises';
import { ConfigError } from '../../errors.js';
import {
  buildReport,
  periodProblem,
  REPORT_FORMATS,
  type ReportFormat,
  renderReport,
  reportTime,
} from '../../report/index.js';
import { createStore } from '../../store/index.js';
import { VERSION } from '../../version.js';
import type { FlagsOf } from '../commands.js';
import { daemonFor } from '../daemon-or-store.js';
import type { CliIo } from '../index.js';
import { cliConfig, modelOf } from '../shared.js';

function timeFlag(name: 'from' | 'to', v: string): number {
  const ms = reportTime(v);
  if (ms === undefined) {
    throw new ConfigError(
      `--${name} must be ISO-8601 with a zone or epoch ms, got "${v.slice(0, 64)}"`,
    );
  }
  return ms;
}

export async function run(flags: FlagsOf<'report'>, io: CliIo): Promise<number> {
  const format = (flags.format ?? 'html') as ReportFormat;
  if (!REPORT_FORMATS.includes(format)) {
    throw new ConfigError(`--format must be html or json, got "${flags.format}"`);
  }
  const config = await cliConfig(flags, { needsPiiKey: false });
  const model = modelOf(config, flags.model);
  const from = timeFlag('from', flags.from);
  const to = timeFlag('to', flags.to);
  const problem = periodProblem(from, to);
  if (problem !== null) throw new ConfigError(problem);
  const daemon = await daemonFor(config, flags, 'admin');
  let text: string;
  if (daemon) {
    text = (
      await daemon.requestText('/api/v1/admin/reports', {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ model: model.id, from: String(from), to: String(to), format }),
      })
    ).text;
  } else {
    const store = createStore(config.store);
    try {
      await store.migrate();
      text = renderReport(await buildReport({ store, model, from, to, version: VERSION }), format);
    } finally {
      await store.close();
    }
  }
  if (flags.out === undefined) io.out.write(text);
  else {
    await writeFile(flags.out, text);
    io.err.write(
      `report of ${model.id} from ${new Date(from).toISOString()} to ${new Date(to).toISOString()} written to ${flags.out}\n`,
    );
  }
  return 0;
}
