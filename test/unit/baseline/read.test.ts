import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { BadRow } from '../../../src/baseline/profile.js';
import {
  createCsvParser,
  createJsonLinesParser,
  detectFormat,
  readRows,
} from '../../../src/baseline/read.js';
import { BaselineError } from '../../../src/errors.js';

interface Parsed {
  records: { line: number; fields: (string | number)[] }[];
  bad: BadRow[];
  blankLines: number;
}

function parseCsv(pieces: readonly string[]): Parsed {
  const out: Parsed = { records: [], bad: [], blankLines: 0 };
  const parser = createCsvParser(
    (fields, count, line) => out.records.push({ line, fields: fields.slice(0, count) }),
    (bad) => out.bad.push(bad),
  );
  for (const p of pieces) parser.push(p);
  parser.end();
  out.blankLines = parser.blankLines;
  return out;
}

function split(text: string, size: number): string[] {
  const pieces: string[] = [];
  for (let i = 0; i < text.length; i += size) pieces.push(text.slice(i, i + size));
  return pieces;
}

describe('createCsvParser (RFC 4180)', () => {
  it('splits plain records and keeps empty fields', () => {
    const r = parseCsv(['a,b,c\n1,,3\n,,\n']);
    expect(r.records).toEqual([
      { line: 1, fields: ['a', 'b', 'c'] },
      { line: 2, fields: ['1', '', '3'] },
      { line: 3, fields: ['', '', ''] },
    ]);
  });

  it('handles quoted commas, escaped quotes and quoted empty strings', () => {
    const r = parseCsv(['"a,b","say ""hi""","",x\n']);
    expect(r.records[0]?.fields).toEqual(['a,b', 'say "hi"', '', 'x']);
  });

  it('keeps line breaks inside quotes and numbers lines by where a record starts', () => {
    const r = parseCsv(['h1,h2\n"multi\nline\r\nvalue",2\nnext,3\n']);
    expect(r.records).toEqual([
      { line: 1, fields: ['h1', 'h2'] },
      { line: 2, fields: ['multi\nline\r\nvalue', '2'] },
      { line: 5, fields: ['next', '3'] },
    ]);
  });

  it('accepts CRLF, LF and lone CR line endings, and a missing final newline', () => {
    const r = parseCsv(['a,b\r\n1,2\r3,4\n5,6']);
    expect(r.records.map((x) => [x.line, ...x.fields])).toEqual([
      [1, 'a', 'b'],
      [2, '1', '2'],
      [3, '3', '4'],
      [4, '5', '6'],
    ]);
  });

  it('keeps a trailing empty field at the end of input', () => {
    expect(parseCsv(['a,b,']).records[0]?.fields).toEqual(['a', 'b', '']);
    expect(parseCsv(['a,b,\r\n']).records[0]?.fields).toEqual(['a', 'b', '']);
  });

  it('skips blank lines but counts them in line numbers', () => {
    const r = parseCsv(['a\n\n\r\nb\n']);
    expect(r.records).toEqual([
      { line: 1, fields: ['a'] },
      { line: 4, fields: ['b'] },
    ]);
    expect(r.blankLines).toBe(2);
  });

  it('takes a quote inside an unquoted field literally (as Python csv and pandas do)', () => {
    expect(parseCsv(['5" screen,x\n']).records[0]?.fields).toEqual(['5" screen', 'x']);
  });

  it('keeps only the unfinished record between chunks of a CR-only file', () => {
    const records: string[][] = [];
    const parser = createCsvParser(
      (fields, count) => records.push(fields.slice(0, count).map(String)),
      () => {},
    );
    for (let i = 0; i < 1000; i++) parser.push(`${i},x\r`);
    expect(records).toHaveLength(999);
    parser.end();
    expect(records).toHaveLength(1000);
    expect(records[999]).toEqual(['999', 'x']);
  });

  it('reports text after a closing quote as a bad row and carries on', () => {
    const r = parseCsv(['a,b\n"x"y,2\nc,d\n']);
    expect(r.records.map((x) => x.fields)).toEqual([
      ['a', 'b'],
      ['c', 'd'],
    ]);
    expect(r.bad).toEqual([
      { line: 2, field: null, reason: 'csv-syntax', message: 'text after a closing quote' },
    ]);
  });

  it('reports an unterminated quote at the end of input with the line it opened on', () => {
    const r = parseCsv(['a,b\n1,2\n3,"open\nnever closed\n']);
    expect(r.records).toHaveLength(2);
    expect(r.bad).toEqual([
      { line: 3, field: null, reason: 'csv-syntax', message: 'unterminated quoted field' },
    ]);
  });

  it('gives the same records whatever the chunk boundaries', () => {
    const inputs = [
      'h1,h2,h3\r\n"a,""b""",2,"x\r\ny"\r\n,,\r\n\r\n3,"",4\r\n"end"',
      'a,b\n"q""",""""\n1,2\r3,4\r\n"x"y,1\n5,6,',
      'x\n"\n"\n""""\n\n',
      '"unterminated\n1,2',
      'a,b\r1,2\r3,"x\ry"\r\r5,6\r',
    ];
    for (const text of inputs) {
      const whole = parseCsv([text]);
      for (let size = 1; size <= 9; size++) {
        expect(
          parseCsv(split(text, size)),
          `chunk size ${size} of ${JSON.stringify(text)}`,
        ).toEqual(whole);
      }
    }
  });
});

describe('createCsvParser numeric fields', () => {
  it('delivers plain decimals as numbers bit-identical to Number(), anything else as text', () => {
    let seed = 99;
    const rand = () => {
      seed = (seed * 1103515245 + 12345) % 2147483648;
      return seed / 2147483648;
    };
    const cells = [
      '0',
      '-0',
      '+7',
      '.5',
      '-.5',
      '5.',
      '007',
      '1.0',
      '-12.345',
      '123456789012345',
      '1234567890123456',
      '0.1',
      '0.30000000000000004',
      '9007199254740993',
      '1e3',
      '1E-2',
      '0x1F',
      ' 1',
      '1 ',
      '',
      '-',
      '.',
      '+',
      'abc',
      'NaN',
      'Infinity',
      '1.2.3',
      '--1',
      '٣',
    ];
    for (let i = 0; i < 20_000; i++) {
      const digits = 1 + Math.floor(rand() * 17);
      let s = '';
      for (let d = 0; d < digits; d++) s += String(Math.floor(rand() * 10));
      const dot = Math.floor(rand() * (digits + 2));
      if (dot <= digits) s = `${s.slice(0, dot)}.${s.slice(dot)}`;
      cells.push(rand() < 0.5 ? `-${s}` : s);
    }
    const seen: (string | number)[] = [];
    const parser = createCsvParser(
      (fields) => {
        seen.push(fields[0]!);
      },
      () => {},
    );
    parser.setNumericFields(new Uint8Array([1]));
    parser.push(`${cells.join('\n')}\n`);
    // The same cells through the quoted-record path (a quote elsewhere on the line).
    parser.setNumericFields(new Uint8Array([1, 0]));
    parser.push(`${cells.map((c) => `${c},"q"`).join('\r\n')}\r\n`);
    parser.end();
    // An empty cell alone on a line is a blank line; next to "q" it is an empty field.
    const expected = [...cells.filter((c) => c !== ''), ...cells];
    expect(seen).toHaveLength(expected.length);
    let numbers = 0;
    seen.forEach((v, i) => {
      const text = expected[i]!;
      if (typeof v === 'number') {
        numbers++;
        expect(Object.is(v, Number(text)), text).toBe(true);
      } else {
        expect(v).toBe(text);
      }
    });
    expect(numbers).toBeGreaterThan(30_000);
  });
});

describe('createJsonLinesParser', () => {
  it('parses objects, reports invalid lines with their numbers, skips blank lines', () => {
    const objects: { line: number; value: unknown }[] = [];
    const bad: BadRow[] = [];
    const parser = createJsonLinesParser(
      (value, line) => objects.push({ line, value }),
      (b) => bad.push(b),
    );
    const text = '{"a":1}\r\n\n{oops\n[1]\n"s"\nnull\n{"b":2}';
    for (const piece of split(text, 3)) parser.push(piece);
    parser.end();
    expect(objects).toEqual([
      { line: 1, value: { a: 1 } },
      { line: 7, value: { b: 2 } },
    ]);
    expect(bad.map((b) => [b.line, b.reason])).toEqual([
      [3, 'invalid-json'],
      [4, 'not-an-object'],
      [5, 'not-an-object'],
      [6, 'not-an-object'],
    ]);
    expect(parser.blankLines).toBe(1);
  });
});

describe('readRows', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'driftd-read-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  async function collect(file: string, columns: string[], extra: { chunkBytes?: number } = {}) {
    const rows: { line: number; values: unknown[] }[] = [];
    const bad: BadRow[] = [];
    const result = await readRows(
      file,
      { columns, optional: ['prediction'], ...extra },
      (values, line) => rows.push({ line, values: [...values] }),
      (b) => bad.push(b),
    );
    return { rows, bad, result };
  }

  it('maps CSV columns by header name, strips a BOM, reports field-count mismatches', async () => {
    const file = join(dir, 'bom.csv');
    await writeFile(file, '\uFEFFb,a,prediction\r\n2,1,0.5\r\n4,3\r\n6,5,0.1\r\n');
    const { rows, bad, result } = await collect(file, ['a', 'b', 'prediction']);
    expect(rows).toEqual([
      { line: 2, values: ['1', '2', '0.5'] },
      { line: 4, values: ['5', '6', '0.1'] },
    ]);
    expect(bad).toEqual([
      {
        line: 3,
        field: null,
        reason: 'field-count',
        message: 'expected 3 fields (as in the header), got 2',
      },
    ]);
    expect(result).toMatchObject({ format: 'csv', records: 3, header: ['b', 'a', 'prediction'] });
  });

  it('gives the same rows with tiny read chunks (multi-byte UTF-8 split across chunks)', async () => {
    const file = join(dir, 'utf8.csv');
    await writeFile(file, 'a,b\n"Zürich, CH",日本\n"x""y",ü\n');
    const big = await collect(file, ['a', 'b']);
    const tiny = await collect(file, ['a', 'b'], { chunkBytes: 1 });
    expect(tiny.rows).toEqual(big.rows);
    expect(big.rows.map((r) => r.values)).toEqual([
      ['Zürich, CH', '日本'],
      ['x"y', 'ü'],
    ]);
  });

  it('leaves an optional column absent from the header undefined', async () => {
    const file = join(dir, 'optional.csv');
    await writeFile(file, 'a\n1\n');
    const { rows, result } = await collect(file, ['a', 'prediction']);
    expect(rows).toEqual([{ line: 2, values: ['1', undefined] }]);
    expect(result.absentColumns).toEqual(['prediction']);
  });

  it('fails naming the file and the column when a required column is not in the header', async () => {
    const file = join(dir, 'nocol.csv');
    await writeFile(file, 'a,c\n1,2\n');
    const err = await collect(file, ['a', 'b']).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(BaselineError);
    expect((err as Error).message).toContain(file);
    expect((err as Error).message).toContain('"b"');
  });

  it('fails on an empty CSV, a duplicated column and an unknown extension', async () => {
    const empty = join(dir, 'empty.csv');
    await writeFile(empty, '');
    await expect(collect(empty, ['a'])).rejects.toThrow(/no CSV header/);
    const dup = join(dir, 'dup.csv');
    await writeFile(dup, 'a,a\n1,2\n');
    await expect(collect(dup, ['a'])).rejects.toThrow(/more than once/);
    expect(() => detectFormat('train.parquet')).toThrow(BaselineError);
    await expect(collect(join(dir, 'absent.csv'), ['a'])).rejects.toThrow(/cannot read/);
  });

  it('reads JSONL features nested under "features" or at the top level', async () => {
    const file = join(dir, 'rows.jsonl');
    await writeFile(
      file,
      [
        '{"features":{"a":1,"b":"x"},"prediction":0.2}',
        '{"a":2,"b":"y","prediction":0.3}',
        '{"features":{"a":3},"b":null}',
      ].join('\n'),
    );
    const { rows } = await collect(file, ['a', 'b', 'prediction']);
    expect(rows.map((r) => r.values)).toEqual([
      [1, 'x', 0.2],
      [2, 'y', 0.3],
      [3, null, undefined],
    ]);
  });
});
