import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { generateDashboards } from '../../export/dashboards.js';
import type { FlagsOf } from '../commands.js';
import type { CliIo } from '../index.js';
import { cliConfig } from '../shared.js';

/** Writes the Grafana dashboards (one JSON file per stable uid) into --out (default ./dashboards). */
export async function run(flags: FlagsOf<'dashboards generate'>, io: CliIo): Promise<number> {
  const config = await cliConfig(flags, { needsPiiKey: false });
  const dir = flags.out ?? 'dashboards';
  await mkdir(dir, { recursive: true });
  for (const [uid, dashboard] of Object.entries(generateDashboards(config))) {
    const file = join(dir, `${uid}.json`);
    await writeFile(file, `${JSON.stringify(dashboard, null, 2)}\n`);
    io.out.write(`wrote ${file}\n`);
  }
  return 0;
}
