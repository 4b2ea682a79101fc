import { describe, expect, it } from 'vitest';
import { parseNdjson } from '../../../src/api/routes/ingest.js';
import { TextItem, UnparseableItem } from '../../../src/ingest/decode.js';

describe('parseNdjson (the HTTP NDJSON body)', () => {
  it('one item per non-blank line; ASCII lines carry their bytes, exactly the text', () => {
    const body = Buffer.from(' {"a":1}\r\n\n\t{"b":"x y"}  \n{"c":[1,2]}');
    const items = parseNdjson(body);
    expect(items.map((i) => (i as TextItem).value)).toEqual([
      { a: 1 },
      { b: 'x y' },
      { c: [1, 2] },
    ]);
    for (const item of items as TextItem[]) {
      expect(item).toBeInstanceOf(TextItem);
      expect(Buffer.from(item.bytes!).toString('utf8')).toBe(item.text);
    }
    expect((items as TextItem[]).map((i) => i.text)).toEqual([
      '{"a":1}',
      '{"b":"x y"}',
      '{"c":[1,2]}',
    ]);
  });

  it('a body with non-ASCII text is decoded as UTF-8 and carries no bytes', () => {
    const items = parseNdjson(Buffer.from('{"r":"région 🎉"}\n{"s":"ok"}\n')) as TextItem[];
    expect(items.map((i) => i.value)).toEqual([{ r: 'région 🎉' }, { s: 'ok' }]);
    expect(items.every((i) => i.bytes === undefined)).toBe(true);
  });

  it('an unparseable line keeps its place and names its line number', () => {
    const items = parseNdjson(Buffer.from('{"a":1}\n\n{oops\n{"b":2}'));
    expect(items).toHaveLength(3);
    expect(items[1]).toBeInstanceOf(UnparseableItem);
    expect((items[1] as UnparseableItem).message).toMatch(/^line 3: not valid JSON/);
    expect((items[2] as TextItem).value).toEqual({ b: 2 });
  });
});
