/**
 * Prints the calibration tables (test/calibration/harness.ts): false-alarm and detection
 * rates per test and window size on vega-datasets' real data (README), or with --evidently
 * the side-by-side with Evidently and every verdict difference by cause (docs/calibration.md).
 *   npx tsx scripts/calibration-table.ts [--json out.json] [--evidently]
 */
import { writeFile } from 'node:fs/promises';
import { compareWithEvidently, formatComparison } from '../test/calibration/evidently.js';
import { formatTables, runCalibration } from '../test/calibration/harness.js';

const t0 = performance.now();
const at = process.argv.indexOf('--json');
const json = at > 0 ? process.argv[at + 1] : undefined;
if (process.argv.includes('--evidently')) {
  const c = await compareWithEvidently();
  process.stdout.write(`${formatComparison(c)}\n`);
  if (json) await writeFile(json, JSON.stringify(c.differences, null, 1));
} else {
  const result = await runCalibration();
  process.stdout.write(`${formatTables(result)}\n`);
  if (json) await writeFile(json, JSON.stringify(result, null, 1));
}
process.stderr.write(`${((performance.now() - t0) / 1000).toFixed(1)} s\n`);
