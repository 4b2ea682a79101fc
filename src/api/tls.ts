/**
 * `server.tls`: the API over HTTPS. Read when the server is built, so a renewed certificate is
 * picked up by a restart. With `ca`, a client must present a certificate that CA signed: the
 * handshake refuses it otherwise, before any HTTP (and before API tokens are looked at).
 */
import type { ServerOptions } from 'node:https';
import { checkTlsFiles, readPemFile } from '../config/tls.js';
import type { ServerTlsConfig } from '../config/types.js';

export function httpsOptions(tls: ServerTlsConfig): ServerOptions {
  const files = {
    cert: readPemFile(tls.cert, 'server.tls.cert'),
    key: readPemFile(tls.key, 'server.tls.key'),
    ...(tls.ca !== null ? { ca: readPemFile(tls.ca, 'server.tls.ca') } : {}),
  };
  checkTlsFiles(files, 'server.tls');
  return {
    ...files,
    minVersion: 'TLSv1.2',
    ...(tls.ca !== null ? { requestCert: true, rejectUnauthorized: true } : {}),
  };
}
