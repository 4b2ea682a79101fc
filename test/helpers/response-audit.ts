/**
 * Every test file: each driftd answer a test reads through fetch (recognised by the
 * `x-request-id` header every driftd answer carries, src/api/request-id.ts) is searched for
 * what answers must never reveal: file paths of this machine, store exception text, and
 * host:port pairs (a driftd body names no host: not the store's, not the brokers'). A finding
 * fails the test that made the request, with the route and the offending text.
 *
 * The patterns are this file's only knowledge of driftd; the dedicated route walk
 * (test/unit/api/response-hygiene.test.ts) drives the error paths on purpose, this audit
 * covers whatever the rest of the suite happens to see.
 */
import { tmpdir } from 'node:os';
import { afterEach } from 'vitest';

const FORBIDDEN: Array<[string, RegExp]> = [
  ['a ClickHouse exception', /DB::Exception|\(version \d+\.\d+|Code: \d+\./],
  ['a host and port', /\b(?:127\.0\.0\.1|localhost|0\.0\.0\.0|\[::1?\]):\d{2,5}\b/],
  [
    'a file path',
    new RegExp(`(?:${literal(tmpdir())}|${literal(process.cwd())}|/work/|/home/|/root/)`),
  ],
  ['a Node error code of a connection', /\b(?:ECONNREFUSED|ECONNRESET|ENOTFOUND|EHOSTUNREACH)\b/],
];

function literal(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

const findings: string[] = [];
const realFetch = globalThis.fetch;

globalThis.fetch = async function auditedFetch(input, init) {
  const res = await realFetch(input, init);
  if (!res.headers.has('x-request-id')) return res;
  const url = new URL(typeof input === 'string' || input instanceof URL ? input : input.url);
  // /metrics is Prometheus text that names no host either, but a model or feature name a test
  // chose may look like anything: audit the JSON answers.
  if (!(res.headers.get('content-type') ?? '').includes('json')) return res;
  const text = await res.clone().text();
  for (const [what, pattern] of FORBIDDEN) {
    const m = pattern.exec(text);
    if (m) {
      const at = Math.max(0, m.index - 60);
      findings.push(
        `${init?.method ?? 'GET'} ${url.pathname} → ${res.status} reveals ${what}: …${text.slice(at, m.index + m[0].length + 60)}…`,
      );
    }
  }
  return res;
} as typeof fetch;

afterEach(() => {
  if (findings.length === 0) return;
  const found = findings.splice(0);
  throw new Error(`a driftd answer revealed what it must not:\n${found.join('\n')}`);
});
