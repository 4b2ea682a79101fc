/**
 * The STAND-IN ClickHouse HTTP interface itself (test/helpers/clickhouse-http.ts), spoken to
 * with plain fetch: the protocol details it claims to serve the way a ClickHouse 26.x server
 * does, so that driver tests against it mean something.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ClickHouseStandIn, startClickHouseStandIn } from '../../helpers/clickhouse-http.js';

let dir: string;
let standIn: ClickHouseStandIn;
const AUTH = `Basic ${Buffer.from('driftd:secret').toString('base64')}`;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'driftd-standin-'));
  standIn = await startClickHouseStandIn({ path: dir, users: { driftd: 'secret' } });
});

afterAll(async () => {
  await standIn.close();
  rmSync(dir, { recursive: true, force: true });
});

const post = (qs: string, body: string | Buffer | FormData, headers: Record<string, string> = {}) =>
  fetch(`${standIn.url}/?${qs}`, {
    method: 'POST',
    body,
    headers: { authorization: AUTH, ...headers },
  });

describe('ClickHouse HTTP stand-in (test double of a server, backed by the embedded engine)', () => {
  it('answers /ping and GET / with "Ok.\\n" without credentials', async () => {
    for (const path of ['/ping', '/']) {
      const res = await fetch(`${standIn.url}${path}`);
      expect(res.status).toBe(200);
      expect(await res.text()).toBe('Ok.\n');
    }
  });

  it('runs a query with URL parameters and answers with the ClickHouse headers', async () => {
    const res = await post(
      `query_id=q-1&param_s=${encodeURIComponent("it\\'s\\ta")}&param_a=${encodeURIComponent("['x\\'y',NULL]")}`,
      'SELECT {s:String} AS s, {a:Array(Nullable(String))} AS a FORMAT JSONEachRow',
    );
    expect(res.status).toBe(200);
    expect(res.headers.get('x-clickhouse-query-id')).toBe('q-1');
    expect(res.headers.get('x-clickhouse-format')).toBe('JSONEachRow');
    expect(res.headers.get('x-clickhouse-timezone')).toBe('UTC');
    expect(JSON.parse(res.headers.get('x-clickhouse-summary')!)).toHaveProperty('read_rows');
    expect(JSON.parse(await res.text())).toEqual({ s: "it's\ta", a: ["x'y", null] });
  });

  it('takes the statement and parameters from a multipart/form-data body', async () => {
    const form = new FormData();
    form.set('query', 'SELECT length({v:Array(Float64)}) AS n FORMAT JSONEachRow');
    form.set('param_v', `[${Array.from({ length: 2000 }, (_, i) => i / 3).join(',')}]`);
    const res = await post('', form);
    expect(await res.json()).toEqual({ n: 2000 });
  });

  it('inserts "query param + body" data, applies URL settings, decodes gzip bodies and compresses answers on request', async () => {
    await post('', 'CREATE DATABASE IF NOT EXISTS s');
    await post('', 'CREATE TABLE s.t (a String, b UInt8) ENGINE = MergeTree ORDER BY a');
    const rows = '{"a":{"nested":1},"b":1}\n{"a":"x","b":2}\n';
    const ins = await post(
      `query=${encodeURIComponent('INSERT INTO s.t FORMAT JSONEachRow')}&input_format_json_read_objects_as_strings=1`,
      gzipSync(rows),
      { 'content-encoding': 'gzip' },
    );
    expect(ins.status).toBe(200);
    expect(JSON.parse(ins.headers.get('x-clickhouse-summary')!).written_rows).toBe('2');
    const res = await post(
      'database=s&enable_http_compression=1',
      'SELECT a, b FROM t ORDER BY b FORMAT JSONEachRow',
      { 'accept-encoding': 'gzip' },
    );
    // fetch decodes gzip itself; the header says it was compressed.
    expect(res.headers.get('content-encoding')).toBe('gzip');
    expect(await res.text()).toBe('{"a":"{\\"nested\\":1}","b":1}\n{"a":"x","b":2}\n');
  });

  it('answers errors in the server format with the code header and the HTTP status of the code', async () => {
    const cases: Array<[string, number, number, string]> = [
      ['SELEC 1', 400, 62, 'SYNTAX_ERROR'],
      ['SELECT * FROM nope.nope', 404, 81, 'UNKNOWN_DATABASE'],
      ["SELECT throwIf(1, 'boom')", 500, 395, 'FUNCTION_THROW_IF_VALUE_IS_NON_ZERO'],
    ];
    for (const [sql, status, code, name] of cases) {
      const res = await post('', sql);
      expect(res.status).toBe(status);
      expect(res.headers.get('x-clickhouse-exception-code')).toBe(String(code));
      expect(await res.text()).toMatch(
        new RegExp(
          `^Code: ${code}\\. DB::Exception: .*\\(${name}\\) \\(version [0-9.]+ \\(official build\\)\\)\\n$`,
          's',
        ),
      );
    }
    const unknownSetting = await post('no_such_setting=1', 'SELECT 1');
    expect(unknownSetting.status).toBe(404);
    expect(unknownSetting.headers.get('x-clickhouse-exception-code')).toBe('115');
    const readonly = await fetch(
      `${standIn.url}/?query=${encodeURIComponent('CREATE DATABASE x')}`,
      {
        headers: { authorization: AUTH },
      },
    );
    expect(readonly.headers.get('x-clickhouse-exception-code')).toBe('164');
  });

  it('checks credentials from Basic auth or X-ClickHouse-User/Key: 516 AUTHENTICATION_FAILED, HTTP 403', async () => {
    const wrong = await post('', 'SELECT 1', {
      authorization: `Basic ${Buffer.from('driftd:nope').toString('base64')}`,
    });
    expect(wrong.status).toBe(403);
    expect(wrong.headers.get('x-clickhouse-exception-code')).toBe('516');
    expect(await wrong.text()).toContain('(AUTHENTICATION_FAILED)');
    const viaHeaders = await fetch(`${standIn.url}/`, {
      method: 'POST',
      body: 'SELECT 1',
      headers: { 'x-clickhouse-user': 'driftd', 'x-clickhouse-key': 'secret' },
    });
    expect(viaHeaders.status).toBe(200);
    expect((await fetch(`${standIn.url}/`, { method: 'POST', body: 'SELECT 1' })).status).toBe(403);
  });
});
