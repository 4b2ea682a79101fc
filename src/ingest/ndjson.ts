import { isAscii, isUtf8 } from 'node:buffer';
import { PendingLine } from './decode.js';

function isSpace(c: number): boolean {
  return c === 0x20 || c === 0x09 || c === 0x0d || c === 0x0a;
}

/**
 * NDJSON bytes → one item per non-blank line: a PendingLine, parsed when the pipeline decodes
 * it (an unparseable line is then rejected with its line number). Lines are found on the bytes:
 * newline and blanks are the same bytes in UTF-8, so no text is made of the whole body. The
 * first line of `body` is line `firstLineNo` (a file read in chunks numbers lines across them).
 * A UTF-8 byte-order mark opening the body (line 1; Windows tools write one) is dropped, as the
 * JSON body parser drops it: it is not part of the first item.
 */
export function splitNdjson(body: Buffer, firstLineNo = 1): PendingLine[] {
  const ascii = isAscii(body);
  const source = { bytes: body, ascii, utf8: ascii || isUtf8(body) };
  const items: PendingLine[] = [];
  let lineNo = firstLineNo - 1;
  const bom = firstLineNo === 1 && body[0] === 0xef && body[1] === 0xbb && body[2] === 0xbf;
  for (let start = bom ? 3 : 0; start < body.length; ) {
    let end = body.indexOf(0x0a, start);
    if (end === -1) end = body.length;
    lineNo++;
    let s = start;
    let e = end;
    while (s < e && isSpace(body[s]!)) s++;
    while (e > s && isSpace(body[e - 1]!)) e--;
    start = end + 1;
    if (s < e) items.push(new PendingLine(source, s, e, lineNo));
  }
  return items;
}

/** Newlines in `bytes` (the line count a chunk of complete lines adds). */
export function countNewlines(bytes: Buffer): number {
  let n = 0;
  for (let i = bytes.indexOf(0x0a); i !== -1; i = bytes.indexOf(0x0a, i + 1)) n++;
  return n;
}
