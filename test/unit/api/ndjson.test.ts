import { describe, expect, it } from 'vitest';
import { PendingLine, resolveItem, TextItem, UnparseableItem } from '../../../src/ingest/decode.js';
import { splitNdjson } from '../../../src/ingest/ndjson.js';

const resolved = (body: Buffer) => splitNdjson(body).map((i) => resolveItem(i));

describe('splitNdjson (the HTTP NDJSON body, replay files)', () => {
  it('one item per non-blank line; ASCII lines carry their bytes, exactly the text', () => {
    const body = Buffer.from(' {"a":1}\r\n\n\t{"b":"x y"}  \n{"c":[1,2]}');
    const items = resolved(body) as TextItem[];
    expect(items.map((i) => i.value)).toEqual([{ a: 1 }, { b: 'x y' }, { c: [1, 2] }]);
    for (const item of items) {
      expect(item).toBeInstanceOf(TextItem);
      expect(Buffer.from(item.bytes!).toString('utf8')).toBe(item.text);
    }
    expect(items.map((i) => i.text)).toEqual(['{"a":1}', '{"b":"x y"}', '{"c":[1,2]}']);
  });

  it('lines are found, not parsed: parsing waits until an item is decoded', () => {
    const items = splitNdjson(Buffer.from('{"a":1}\n{not json at all\n'));
    expect(items).toHaveLength(2);
    expect(items.every((i) => i instanceof PendingLine)).toBe(true);
    expect(items.map((i) => [i.start, i.end, i.lineNo])).toEqual([
      [0, 7, 1],
      [8, 24, 2],
    ]);
  });

  it('a valid UTF-8 body is decoded as UTF-8 and each line carries its own bytes', () => {
    const items = resolved(Buffer.from('{"r":"région 🎉"}\n{"s":"ok"}\n')) as TextItem[];
    expect(items.map((i) => i.value)).toEqual([{ r: 'région 🎉' }, { s: 'ok' }]);
    expect(items.map((i) => Buffer.from(i.bytes!).toString('utf8'))).toEqual([
      '{"r":"région 🎉"}',
      '{"s":"ok"}',
    ]);
  });

  it('a line that is not valid UTF-8 is rejected (invalid_utf8), not decoded with U+FFFD; the other lines of its body keep their bytes', () => {
    const body = Buffer.concat([
      Buffer.from('{"r":"a'),
      Buffer.from([0xff]),
      Buffer.from('b"}\n{"s":"région"}\n{"t":"'),
      Buffer.from([0xc0, 0xaf]),
      Buffer.from('"}\n'),
    ]);
    const items = resolved(body);
    expect(items).toHaveLength(3);
    for (const [k, lineNo] of [
      [0, 1],
      [2, 3],
    ] as const) {
      expect(items[k]).toBeInstanceOf(UnparseableItem);
      expect((items[k] as UnparseableItem).reason).toBe('invalid_utf8');
      expect((items[k] as UnparseableItem).message).toMatch(
        new RegExp(`^line ${lineNo}: not valid UTF-8`),
      );
    }
    const ok = items[1] as TextItem;
    expect(ok.value).toEqual({ s: 'région' });
    expect(Buffer.from(ok.bytes!).toString('utf8')).toBe('{"s":"région"}');
  });

  it('a byte-order mark opening the body is dropped (not one opening a later line or chunk)', () => {
    const bom = Buffer.from([0xef, 0xbb, 0xbf]);
    const items = resolved(
      Buffer.concat([bom, Buffer.from('{"a":1}\n'), bom, Buffer.from('{"b":2}\n')]),
    );
    expect((items[0] as TextItem).value).toEqual({ a: 1 });
    expect((items[0] as TextItem).text).toBe('{"a":1}');
    expect(items[1]).toBeInstanceOf(UnparseableItem);
    // A chunk of a file read from line 7 on starts mid-file: its bytes are taken as they are.
    const later = splitNdjson(Buffer.concat([bom, Buffer.from('{"c":3}\n')]), 7).map((i) =>
      resolveItem(i),
    );
    expect(later[0]).toBeInstanceOf(UnparseableItem);
  });

  it('an unparseable line keeps its place and names its line number', () => {
    const items = resolved(Buffer.from('{"a":1}\n\n{oops\n{"b":2}'));
    expect(items).toHaveLength(3);
    expect(items[1]).toBeInstanceOf(UnparseableItem);
    expect((items[1] as UnparseableItem).message).toMatch(/^line 3: not valid JSON/);
    expect((items[2] as TextItem).value).toEqual({ b: 2 });
  });
});
