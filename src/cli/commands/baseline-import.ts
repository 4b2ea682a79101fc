import { importBaseline } from '../../baseline/index.js';
import { piiKeyOf } from '../../privacy/pii.js';
import { createStore } from '../../store/index.js';
import type { FlagsOf } from '../commands.js';
import type { CliIo } from '../index.js';
import { createProgress } from '../progress.js';
import { cliConfig, modelOf } from '../shared.js';

export async function run(flags: FlagsOf<'baseline import'>, io: CliIo): Promise<number> {
  const config = await cliConfig(flags);
  const model = modelOf(config, flags.model);
  const version = flags.version;
  const file = flags.file;
  const progress = createProgress(`importing ${file}`);
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
  let created: boolean;
  try {
    await store.migrate();
    created = await store.saveBaseline(profile);
  } finally {
    await store.close();
  }
  if (flags.json) {
    io.out.write(`${JSON.stringify({ created, profile, report }, null, 2)}\n`);
    return 0;
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
  const est = report.cbpe;
  if (est !== null) {
    io.out.write(
      est.skipped === null
        ? `  performance estimate: fitted on ${est.rows} labelled rows (${est.calibration === 'isotonic' ? 'isotonic calibration' : 'scores used as probabilities'})\n`
        : `  performance estimate: none (${est.skipped}; ${est.rows} rows with a label and a score)\n`,
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
  return 0;
}

const fmt = (v: number) =>
  Math.abs(v) >= 1e5 || (Math.abs(v) < 1e-3 && v !== 0)
    ? v.toExponential(3)
    : Number(v.toPrecision(6)).toString();
