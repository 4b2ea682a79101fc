/**
 * The PII key, checked once at boot with the rest of the config: read from
 * `privacy.piiKeyFile` when given, refused when written in the config file itself, at least
 * MIN_PII_KEY_BYTES long, and required as soon as any model has PII fields. The key is never
 * echoed in a message.
 */
import { isUtf8 } from 'node:buffer';
import { readFileSync } from 'node:fs';
import { MIN_PII_KEY_BYTES, piiKeyOf, piiTransform } from '../privacy/pii.js';
import type { PathSegment, ReadContext } from './schema.js';
import type { DriftdConfig } from './types.js';

const HOW =
  'set DRIFTD_PII_KEY to a random secret of at least 32 bytes (e.g. `openssl rand -base64 48`), or name a file holding it in privacy.piiKeyFile';

/** Reads and checks the key into `config.privacy` (mutable here, frozen after), noting issues. */
export function resolvePrivacy(
  config: DriftdConfig,
  ctx: ReadContext,
  originOf: (path: readonly PathSegment[]) => string,
  needsKey: boolean,
): void {
  const privacy = config.privacy;
  if (privacy === undefined) return;
  if (privacy.piiKey !== null && originOf(['privacy', 'piiKey']) === 'file') {
    // Config files end up in ConfigMaps, repositories and backups; the key must not.
    ctx.issue(
      ['privacy', 'piiKey'],
      `must not be written in the config file (it would be copied wherever the file goes): ${HOW}`,
    );
    privacy.piiKey = null;
  }
  if (privacy.piiKeyFile !== null && privacy.piiKey === null) {
    let bytes: Buffer | undefined;
    try {
      bytes = readFileSync(privacy.piiKeyFile);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code ?? 'error';
      ctx.issue(['privacy', 'piiKeyFile'], `cannot read ${privacy.piiKeyFile} (${code})`);
    }
    if (bytes !== undefined) {
      if (!isUtf8(bytes)) {
        ctx.issue(
          ['privacy', 'piiKeyFile'],
          `${privacy.piiKeyFile} must hold the key as text (e.g. base64 of random bytes)`,
        );
      } else privacy.piiKey = bytes.toString('utf8').replace(/\r?\n$/, '');
    }
  }
  if (privacy.piiKey !== null) {
    const length = Buffer.byteLength(privacy.piiKey);
    if (length < MIN_PII_KEY_BYTES) {
      const from = privacy.piiKeyFile ?? 'DRIFTD_PII_KEY';
      ctx.issue(
        ['privacy'],
        `the PII key (from ${from}) is ${length} bytes long; it must be at least ${MIN_PII_KEY_BYTES} bytes of random data, or the stored hashes can be brute-forced`,
      );
    }
  }
  if (needsKey && privacy.piiKey === null && privacy.piiKeyFile === null) {
    config.models.forEach((model, i) => {
      if (model.piiFields.length === 0) return;
      ctx.issue(
        ['models', i, 'piiFields'],
        `model "${model.id}" has PII fields, which driftd stores only as HMAC-SHA-256 under a secret key, and no key is configured: ${HOW}`,
      );
    });
  }
}

/**
 * Protected attributes that are PII fields arrive keyed-hashed: each gets the hash of its
 * groups' values, so windows and the store assign hashed values to the groups named in the
 * config (display names) without any clear value being kept. Needs the key (checked above).
 */
export function resolveProtectedHashes(config: DriftdConfig): void {
  const key = piiKeyOf(config);
  if (key === null) return;
  for (const model of config.models) {
    for (const a of model.fairness?.attributes ?? []) {
      if (a.kind !== 'categorical' || !model.piiFields.includes(a.field)) continue;
      a.hashed = Object.fromEntries(a.groups.map((g) => [piiTransform(g, key) as string, g]));
    }
  }
}
