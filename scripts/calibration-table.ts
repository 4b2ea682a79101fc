/**
 * Prints the calibration tables (test/calibration/harness.ts): false-alarm and detection
 * rates per test and window size on vega-datasets' real data (README), or with --evidently
 * the side-by-side with Evidently and every verdict difference by cause (docs/calibration.md).
 *   npx tsx scripts/calibration-table.ts [--json out.json] [--evidently [--csv out.csv]]
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
  const csvAt = process.argv.indexOf('--csv');
  if (csvAt > 0 && process.argv[csvAt + 1]) {
    const head =
      'dataset,n,window,shifted,feature,test,evidently_value,evidently_drifted,driftd_statistic,driftd_adjusted_p,driftd_effect,driftd_drifted,cause';
    const rows = c.differences.map((d) =>
      [
        d.dataset,
        d.n,
        d.index,
        d.shifted ?? '',
        d.feature,
        d.test,
        d.evidently.value.toPrecision(6),
        d.evidently.drifted,
        d.driftd.statistic.toPrecision(6),
        d.driftd.adjustedPValue?.toPrecision(4) ?? '',
        d.driftd.effect.toPrecision(6),
        d.driftd.drifted,
        d.cause,
      ].join(','),
    );
    await writeFile(process.argv[csvAt + 1]!, `${[head, ...rows].join('\n')}\n`);
  }
} else {
  const result = await runCalibration();
  process.stdout.write(`${formatTables(result)}\n`);
  if (json) await writeFile(json, JSON.stringify(result, null, 1));
}
process.stderr.write(`${((performance.now() - t0) / 1000).toFixed(1)} s\n`);
