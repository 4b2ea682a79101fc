/**
 * Prints the calibration tables of the README (test/calibration/harness.ts): false-alarm and
 * detection rates per test and window size on vega-datasets' real data.
 *   npx tsx scripts/calibration-table.ts [--json out.json]
 */
import { writeFile } from 'node:fs/promises';
import { formatTables, runCalibration } from '../test/calibration/harness.js';

const t0 = performance.now();
const result = await runCalibration();
process.stdout.write(`${formatTables(result)}\n`);
process.stderr.write(`calibration: ${((performance.now() - t0) / 1000).toFixed(1)} s\n`);
const at = process.argv.indexOf('--json');
if (at > 0 && process.argv[at + 1])
  await writeFile(process.argv[at + 1]!, JSON.stringify(result, null, 1));
