import { createStore } from '../../store/index.js';
import type { BaselineSummary } from '../../store/types.js';
import type { FlagsOf } from '../commands.js';
import { daemonFor } from '../daemon-or-store.js';
import type { CliIo } from '../index.js';
import { cliConfig } from '../shared.js';

type Listed = Pick<BaselineSummary, 'id' | 'model' | 'version' | 'rowCount' | 'source'> & {
  createdAt: number | string;
};

/** `driftd baseline list`: from the running daemon when one answers, else from the store. */
export async function run(flags: FlagsOf<'baseline list'>, io: CliIo): Promise<number> {
  const config = await cliConfig(flags, { needsPiiKey: false });
  const daemon = await daemonFor(config, flags, 'read');
  let list: Listed[];
  if (daemon) {
    const query = flags.model ? `?model=${encodeURIComponent(flags.model)}` : '';
    list = (await daemon.request<{ baselines: Listed[] }>(`/api/v1/baselines${query}`)).body
      .baselines;
  } else {
    const store = createStore(config.store);
    try {
      await store.migrate();
      list = await store.listBaselines(flags.model ? { model: flags.model } : {});
    } finally {
      await store.close();
    }
  }
  if (flags.json) {
    io.out.write(`${JSON.stringify(list, null, 2)}\n`);
    return 0;
  }
  if (list.length === 0) {
    io.out.write('no baselines stored\n');
    return 0;
  }
  const rows = list.map((b) => [
    b.id,
    b.model,
    b.version,
    new Date(b.createdAt).toISOString(),
    String(b.rowCount),
    b.source,
  ]);
  const head = ['ID', 'MODEL', 'VERSION', 'CREATED', 'ROWS', 'SOURCE'];
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  for (const r of [head, ...rows])
    io.out.write(`${r.map((c, i) => c.padEnd(widths[i]!)).join('  ')}\n`);
  return 0;
}
