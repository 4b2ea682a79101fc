/**
 * External binaries tests need (promtool, prometheus, prometheus-alertmanager, amtool).
 *
 *   const promtool = requireBinary('promtool');
 *   describe.skipIf(!promtool.available)('... (real promtool)', () => { ... promtool.path ... });
 *
 * A missing binary skips the suite locally, and makes `requireBinary` throw (the test file
 * fails) when `CI=true` or `DRIFTD_REQUIRE_SERVICES=1`, like requireKafkaOrSkip().
 */
import { accessSync, constants } from 'node:fs';
import { delimiter, join } from 'node:path';
import { servicesRequired } from './kafka.js';

export const BINARIES_HINT =
  'Install them with: apt-get install prometheus prometheus-alertmanager ' +
  '(provides promtool, prometheus, prometheus-alertmanager and amtool).';

export type BinaryCheck = { available: true; path: string } | { available: false; path: null };

/** Absolute path of the first of `names` found on PATH, or null. */
export function findBinary(...names: string[]): string | null {
  const dirs = (process.env.PATH ?? '').split(delimiter).filter((d) => d !== '');
  for (const name of names) {
    for (const dir of dirs) {
      const candidate = join(dir, name);
      try {
        accessSync(candidate, constants.X_OK);
        return candidate;
      } catch {
        // not here
      }
    }
  }
  return null;
}

export class BinaryUnavailableError extends Error {
  constructor(names: readonly string[]) {
    super(
      `${names.join(' or ')} not found on PATH and services are required ` +
        `(CI=${process.env.CI ?? ''}, DRIFTD_REQUIRE_SERVICES=${process.env.DRIFTD_REQUIRE_SERVICES ?? ''}). ` +
        BINARIES_HINT,
    );
    this.name = 'BinaryUnavailableError';
  }
}

/**
 * `{ available: true, path }` when one of `names` (alternatives, e.g. the Debian and the
 * upstream name of Alertmanager) is on PATH; otherwise skip, or throw when services are required.
 */
export function requireBinary(...names: [string, ...string[]]): BinaryCheck {
  const path = findBinary(...names);
  if (path !== null) return { available: true, path };
  if (servicesRequired()) throw new BinaryUnavailableError(names);
  console.warn(`[test] ${names.join(' or ')} not found on PATH; skipping. ${BINARIES_HINT}`);
  return { available: false, path: null };
}
