/**
 * Test certificates made with the machine's `openssl` at test time (nothing committed, nothing
 * fetched): a certificate authority, then server and client certificates it signs. EC P-256
 * keys, so a whole set takes a few hundred milliseconds. Reusable for any TLS test (the
 * ClickHouse stand-in, the API, a Kafka broker): `createTestPki(dir)` for the usual set, or
 * `createCa` + `issueCertificate` for others.
 */
import { execFile } from 'node:child_process';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** PEM files on disk; `read()` gives their contents for node:tls options. */
export interface CertFiles {
  /** PEM certificate. */
  cert: string;
  /** PEM private key (PKCS#8, unencrypted). */
  key: string;
  read(): Promise<{ cert: Buffer; key: Buffer }>;
}

export interface CertAuthority extends CertFiles {
  name: string;
  dir: string;
}

async function openssl(args: string[], cwd: string): Promise<void> {
  try {
    await run('openssl', args, { cwd });
  } catch (err) {
    const e = err as Error & { stderr?: string };
    throw new Error(`openssl ${args[0]} failed: ${e.message}\n${e.stderr ?? ''}`);
  }
}

function files(cert: string, key: string): CertFiles {
  return {
    cert,
    key,
    read: async () => ({ cert: await readFile(cert), key: await readFile(key) }),
  };
}

/** A self-signed certificate authority `<dir>/<name>.{crt,key}`. */
export async function createCa(dir: string, name: string): Promise<CertAuthority> {
  await mkdir(dir, { recursive: true });
  const cert = join(dir, `${name}.crt`);
  const key = join(dir, `${name}.key`);
  await openssl(
    [
      'req',
      '-x509',
      '-new',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:prime256v1',
      '-nodes',
      '-keyout',
      key,
      '-out',
      cert,
      '-days',
      '2',
      '-subj',
      `/CN=${name}`,
      '-addext',
      'basicConstraints=critical,CA:TRUE',
      '-addext',
      'keyUsage=critical,keyCertSign,cRLSign',
    ],
    dir,
  );
  return { name, dir, ...files(cert, key) };
}

export interface IssueOptions {
  /** Subject common name (a client certificate's CN is the user name ClickHouse checks). */
  commonName: string;
  /** subjectAltName entries, e.g. ['IP:127.0.0.1', 'DNS:localhost'] (servers). */
  altNames?: readonly string[];
  /** extendedKeyUsage: serverAuth, clientAuth or both. @default ['serverAuth', 'clientAuth'] */
  usage?: readonly ('serverAuth' | 'clientAuth')[];
  /** Validity in days. @default 2 */
  days?: number;
}

/** A certificate `<ca.dir>/<name>.{crt,key}` signed by `ca`. */
export async function issueCertificate(
  ca: CertAuthority,
  name: string,
  opts: IssueOptions,
): Promise<CertFiles> {
  const dir = ca.dir;
  const cert = join(dir, `${name}.crt`);
  const key = join(dir, `${name}.key`);
  const csr = join(dir, `${name}.csr`);
  const ext = join(dir, `${name}.ext`);
  await openssl(
    [
      'req',
      '-new',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:prime256v1',
      '-nodes',
      '-keyout',
      key,
      '-out',
      csr,
      '-subj',
      `/CN=${opts.commonName}`,
    ],
    dir,
  );
  const lines = [
    'basicConstraints=CA:FALSE',
    'keyUsage=critical,digitalSignature,keyEncipherment',
    `extendedKeyUsage=${(opts.usage ?? ['serverAuth', 'clientAuth']).join(',')}`,
  ];
  if (opts.altNames && opts.altNames.length > 0) {
    lines.push(`subjectAltName=${opts.altNames.join(',')}`);
  }
  await writeFile(ext, `${lines.join('\n')}\n`);
  await openssl(
    [
      'x509',
      '-req',
      '-in',
      csr,
      '-CA',
      ca.cert,
      '-CAkey',
      ca.key,
      '-CAcreateserial',
      '-out',
      cert,
      '-extfile',
      ext,
      '-days',
      String(opts.days ?? 2),
      '-sha256',
    ],
    dir,
  );
  return files(cert, key);
}

/** The usual set: one CA, a server certificate for 127.0.0.1 / localhost, a client certificate. */
export interface TestPki {
  ca: CertAuthority;
  /** Signed by `ca`, for IP 127.0.0.1 and DNS localhost. */
  server: CertFiles;
  /** Signed by `ca`, CN = `clientName` (default "driftd"), clientAuth. */
  client: CertFiles;
  /** Another CA, unrelated to `ca`, with a server certificate for 127.0.0.1 it signed. */
  rogueCa: CertAuthority;
  rogueServer: CertFiles;
  /** A client certificate signed by the rogue CA (a server trusting `ca` must refuse it). */
  rogueClient: CertFiles;
}

/** Makes the usual set of certificates in `dir` (created if missing). */
export async function createTestPki(
  dir: string,
  opts: { clientName?: string } = {},
): Promise<TestPki> {
  const server = { commonName: '127.0.0.1', altNames: ['IP:127.0.0.1', 'DNS:localhost'] };
  const client = { commonName: opts.clientName ?? 'driftd', usage: ['clientAuth'] as const };
  const [ca, rogueCa] = await Promise.all([
    createCa(join(dir, 'ca'), 'test-ca'),
    createCa(join(dir, 'rogue'), 'rogue-ca'),
  ]);
  const [s, c, rs, rc] = await Promise.all([
    issueCertificate(ca, 'server', server),
    issueCertificate(ca, 'client', client),
    issueCertificate(rogueCa, 'server', server),
    issueCertificate(rogueCa, 'client', client),
  ]);
  return { ca, server: s, client: c, rogueCa, rogueServer: rs, rogueClient: rc };
}
