/**
 * The test broker's secure listeners (scripts/kafka.sh, KAFKA_SECURE=1, the default): SASL_SSL
 * with a PLAIN and a SCRAM user, and MTLS (TLS, client certificate required), with a test CA
 * made at the broker's first start. scripts/kafka.sh describes them in
 * `$KAFKA_DATA_DIR/security.json`; `DRIFTD_TEST_KAFKA_SECURITY` names another such file.
 */
import { readFile } from 'node:fs/promises';
import { Socket } from 'node:net';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { KAFKA_START_HINT, requireKafkaOrSkip, servicesRequired } from './kafka.js';

export interface KafkaSecurityInfo {
  saslSslBrokers: string[];
  mtlsBrokers: string[];
  /** The test CA (signed the broker's and the client's certificates). */
  ca: string;
  /** A CA that signed nothing the broker shows. */
  untrustedCa: string;
  clientCert: string;
  clientKey: string;
  plainUser: string;
  scramUser: string;
  /** Both users' password. */
  passwordFile: string;
}

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

export function securityInfoPath(): string {
  const explicit = process.env.DRIFTD_TEST_KAFKA_SECURITY?.trim();
  if (explicit) return explicit;
  const dataDir = process.env.KAFKA_DATA_DIR?.trim() || join(ROOT, '.cache/kafka/run');
  return join(dataDir, 'security.json');
}

function answers(hostPort: string, timeoutMs = 1_000): Promise<boolean> {
  const i = hostPort.lastIndexOf(':');
  return new Promise((resolve) => {
    const s = new Socket();
    const done = (ok: boolean) => {
      s.destroy();
      resolve(ok);
    };
    s.setTimeout(timeoutMs, () => done(false));
    s.once('error', () => done(false));
    s.connect(Number(hostPort.slice(i + 1)), hostPort.slice(0, i), () => done(true));
  });
}

/**
 * The secure listeners' description when the broker answers on them; skips (undefined) when
 * not, or throws when services are required (CI), like requireKafkaOrSkip.
 */
export async function requireSecureKafkaOrSkip(): Promise<KafkaSecurityInfo | undefined> {
  const { available } = await requireKafkaOrSkip();
  if (!available) return undefined;
  const path = securityInfoPath();
  let problem: string;
  try {
    const info = JSON.parse(await readFile(path, 'utf8')) as KafkaSecurityInfo;
    const down = [];
    for (const b of [...info.saslSslBrokers, ...info.mtlsBrokers]) {
      if (!(await answers(b))) down.push(b);
    }
    if (down.length === 0) return info;
    problem = `the secure listeners ${down.join(', ')} of ${path} do not answer`;
  } catch (err) {
    problem = `no secure listeners described at ${path} (${(err as Error).message})`;
  }
  const hint = `${problem}. A broker started by scripts/kafka.sh with KAFKA_SECURE=1 (the default) has them; ${KAFKA_START_HINT}`;
  if (servicesRequired()) throw new Error(hint);
  console.warn(`[test] ${hint}; skipping`);
  return undefined;
}
