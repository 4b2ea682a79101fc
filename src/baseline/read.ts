/**
 * Streaming row readers for baseline import: CSV (RFC 4180) and JSON Lines. Rows are pushed to
 * a callback synchronously inside each file chunk, so memory is bounded by the chunk size and
 * the longest record, never by the file. Each row reports the physical line it starts on.
 */
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { extname } from 'node:path';
import { StringDecoder } from 'node:string_decoder';
import { BaselineError } from '../errors.js';
import { type BadRow, jsonColumnValue } from './profile.js';

export type RowFormat = 'csv' | 'jsonl';

/**
 * Called once per data row with the configured columns' values, in `columns` order: CSV
 * strings (or numbers, see `numericColumns`), JSON values, `undefined` when absent. The array
 * is reused between calls.
 */
export type RowCallback = (values: readonly unknown[], line: number) => void;
/** Called once per row that cannot be parsed at all (syntax, field count, not an object). */
export type BadRowCallback = (bad: BadRow) => void;

export interface ReadProgress {
  bytesRead: number;
  totalBytes: number;
  /** Records delivered so far (data rows and structurally bad rows). */
  records: number;
}

export interface ReadRowsOptions {
  /** Defaults to the file extension: `.csv` → csv, `.jsonl` / `.ndjson` → jsonl. */
  format?: RowFormat;
  /** Columns to extract, in the order the values array uses. */
  columns: readonly string[];
  /**
   * Columns that may be absent from a CSV header without failing the import; their value is
   * `undefined` on every row. In JSONL an absent key is always `undefined`.
   */
  optional?: readonly string[];
  /**
   * CSV columns whose plain decimal values may be delivered already parsed, as numbers equal
   * to `Number(text)` (a fast path; anything else stays a string).
   */
  numericColumns?: readonly string[];
  /** Every raw byte of the file, in order (for content hashing). */
  onBytes?: (chunk: Buffer) => void;
  /** After each chunk. */
  onProgress?: (progress: ReadProgress) => void;
  signal?: AbortSignal;
  /** Read size; default 1 MiB. */
  chunkBytes?: number;
}

export interface ReadRowsResult {
  format: RowFormat;
  bytes: number;
  /** Data records seen (valid or not), header excluded. */
  records: number;
  /** Empty lines skipped (not rows). */
  blankLines: number;
  /** CSV header fields, `null` for JSONL. */
  header: string[] | null;
  /** Optional columns not in the CSV header (always empty for JSONL). */
  absentColumns: string[];
}

/** `.csv` → csv, `.jsonl` / `.ndjson` → jsonl; anything else needs an explicit format. */
export function detectFormat(file: string): RowFormat {
  const ext = extname(file).toLowerCase();
  if (ext === '.csv') return 'csv';
  if (ext === '.jsonl' || ext === '.ndjson') return 'jsonl';
  throw new BaselineError(
    `${file}: cannot tell the format from the extension "${ext}"; use .csv, .jsonl or .ndjson, or pass the format explicitly`,
  );
}

/**
 * Receives one CSV record: `fields[0..count)` are valid; the array is reused between calls.
 * Fields are strings, except plain decimals in fields marked numeric (see `setNumericFields`).
 */
export type CsvRecordCallback = (fields: (string | number)[], count: number, line: number) => void;

export interface CsvParser {
  push(text: string): void;
  /**
   * Fields (by position) whose unquoted plain-decimal values are delivered as numbers, equal
   * to `Number(text)`; other values of those fields stay strings. Null = all strings.
   */
  setNumericFields(mask: Uint8Array | null): void;
  /** Flushes the last record; reports an unterminated quoted field as a bad row. */
  end(): void;
  /** Line the next record starts on (1-based). */
  readonly line: number;
  readonly blankLines: number;
}

const COMMA = 44;
const QUOTE = 34;
const LF = 10;
const CR = 13;
const MINUS = 45;
const PLUS = 43;
const DOT = 46;
const POWERS_OF_TEN = [
  1, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15,
];

/**
 * Incremental RFC 4180 parser: comma separator, `"` quoting with `""` escapes, quoted fields
 * may hold commas and line breaks, records end in LF, CRLF or a lone CR. Lenient where common
 * tools are (a `"` inside an unquoted field is literal, as in Python's csv and pandas); strict
 * where the data would be ambiguous (text after a closing quote, an unterminated quote), which
 * is reported through `onBad` with the record's first line. Empty lines are skipped.
 */
export function createCsvParser(onRecord: CsvRecordCallback, onBad: BadRowCallback): CsvParser {
  const fields: (string | number)[] = [];
  let numeric: Uint8Array | null = null;
  let carry = '';
  let line = 1;
  let blankLines = 0;

  function countLf(text: string, from: number, to: number): number {
    let n = 0;
    let at = text.indexOf('\n', from);
    while (at !== -1 && at < to) {
      n++;
      at = text.indexOf('\n', at + 1);
    }
    return n;
  }

  /** Parses complete records of `text`; returns the offset of the first incomplete one. */
  function parse(text: string, final: boolean, from = 0): number {
    const n = text.length;
    // Next '"', '\r' and ',' at or after the scan position (n = none left). Cached so that
    // a file with few of them is searched once, not once per line.
    let nextQuote = -1;
    let nextCr = -1;
    let nextComma = -1;
    let i = from;
    while (i < n) {
      const c0 = text.charCodeAt(i);
      // Empty line: not a record.
      if (c0 === LF || c0 === CR) {
        if (c0 === CR) {
          if (i + 1 >= n && !final) return i;
          i += text.charCodeAt(i + 1) === LF ? 2 : 1;
        } else {
          i += 1;
        }
        line++;
        blankLines++;
        continue;
      }

      // Fast path: a complete line without quotes or lone CRs is split with native searches.
      // Everything else (quotes, CR-only line ends, the unfinished last line) takes the state
      // machine.
      let lineEnd = text.indexOf('\n', i);
      if (lineEnd === -1) lineEnd = n;
      if (nextQuote < i) nextQuote = indexOrEnd(text, '"', i);
      if (nextCr < i) nextCr = indexOrEnd(text, '\r', i);
      const contentEnd = lineEnd > i && text.charCodeAt(lineEnd - 1) === CR ? lineEnd - 1 : lineEnd;
      if (nextQuote >= lineEnd && nextCr >= contentEnd && (lineEnd < n || final)) {
        let count = 0;
        let p = i;
        for (;;) {
          if (nextComma < p) nextComma = indexOrEnd(text, ',', p);
          const end = Math.min(nextComma, contentEnd);
          fields[count] =
            numeric !== null && numeric[count] === 1
              ? numberOrText(text, p, end)
              : text.slice(p, end);
          count++;
          if (end === contentEnd) break;
          p = end + 1;
        }
        const recordLine = line++;
        i = lineEnd + 1;
        onRecord(fields, count, recordLine);
        continue;
      }

      const next = parseQuoted(text, i, final);
      if (next === -1) {
        if (!final) return i;
        // Only an unterminated quote can be incomplete at the end of the input.
        onBad({ line, field: null, reason: 'csv-syntax', message: 'unterminated quoted field' });
        line += countLf(text, i, n);
        return n;
      }
      i = next;
    }
    return n;
  }

  /**
   * The general state machine for one record starting at `i` (quotes, embedded line breaks,
   * lone CRs). Returns the offset after the record, or -1 when it is incomplete.
   */
  function parseQuoted(text: string, i: number, final: boolean): number {
    const n = text.length;
    const recordLine = line;
    let extraLines = 0;
    let count = 0;
    let error: string | null = null;
    for (;;) {
      let value: string | number;
      if (text.charCodeAt(i) === QUOTE) {
        let j = i + 1;
        let quoted = '';
        for (;;) {
          const q = text.indexOf('"', j);
          if (q === -1) return -1;
          extraLines += countLf(text, j, q);
          quoted += text.slice(j, q);
          if (q + 1 >= n) {
            // Cannot tell a closing quote from the first half of `""` yet.
            if (!final) return -1;
            j = q + 1;
            break;
          }
          if (text.charCodeAt(q + 1) === QUOTE) {
            quoted += '"';
            j = q + 2;
            continue;
          }
          j = q + 1;
          break;
        }
        value = quoted;
        i = j;
        if (i < n) {
          const c = text.charCodeAt(i);
          if (c !== COMMA && c !== LF && c !== CR && error === null) {
            error = 'text after a closing quote';
            // Skip to the end of this physical line and report the record.
            while (i < n) {
              const d = text.charCodeAt(i);
              if (d === LF || d === CR) break;
              i++;
            }
          }
        }
      } else {
        const start = i;
        while (i < n) {
          const c = text.charCodeAt(i);
          if (c === COMMA || c === LF || c === CR) break;
          i++;
        }
        value =
          numeric !== null && numeric[count] === 1
            ? numberOrText(text, start, i)
            : text.slice(start, i);
      }
      fields[count++] = value;

      if (i >= n) {
        if (!final) return -1;
        break;
      }
      const c = text.charCodeAt(i);
      if (c === COMMA) {
        i++;
        if (i >= n) {
          if (!final) return -1;
          fields[count++] = '';
          break;
        }
        continue;
      }
      // End of record.
      if (c === CR) {
        if (i + 1 >= n && !final) return -1;
        i += text.charCodeAt(i + 1) === LF ? 2 : 1;
      } else {
        i += 1;
      }
      extraLines++;
      break;
    }
    line += extraLines;
    if (error !== null) {
      onBad({ line: recordLine, field: null, reason: 'csv-syntax', message: error });
    } else {
      onRecord(fields, count, recordLine);
    }
    return i;
  }

  return {
    push(text: string): void {
      let from = 0;
      if (carry.length > 0) {
        // Finish the carried record on a small joined string, then scan the chunk itself:
        // charCodeAt on a concatenated (cons) string is several times slower than on a flat one.
        let nl = text.indexOf('\n');
        for (let tries = 0; carry.length > 0 && nl !== -1 && tries < 8; tries++) {
          const head = carry + text.slice(from, nl + 1);
          const at = parse(head, false);
          from = nl + 1;
          carry = at < head.length ? head.slice(at) : '';
          nl = text.indexOf('\n', from);
        }
        if (carry.length > 0) {
          // A record spanning many lines, or CR-only line endings: parse the joined text.
          const input = carry + text.slice(from);
          const at = parse(input, false);
          carry = at < input.length ? input.slice(at) : '';
          checkRecordSize(carry, line);
          return;
        }
      }
      const at = parse(text, false, from);
      carry = at < text.length ? text.slice(at) : '';
      checkRecordSize(carry, line);
    },
    setNumericFields(mask: Uint8Array | null): void {
      numeric = mask;
    },
    end(): void {
      if (carry.length > 0) parse(carry, true);
      carry = '';
    },
    get line() {
      return line;
    },
    get blankLines() {
      return blankLines;
    },
  };
}

/** Longest record kept while waiting for its end: memory stays bounded on a file with no line breaks. */
export const MAX_RECORD_CHARS = 64 * 1024 * 1024;

function checkRecordSize(carry: string, line: number): void {
  if (carry.length > MAX_RECORD_CHARS) {
    throw new RangeError(
      `line ${line}: a record longer than ${MAX_RECORD_CHARS / 1024 / 1024} Mi characters (wrong format, or no line breaks?)`,
    );
  }
}

function indexOrEnd(text: string, char: string, from: number): number {
  const at = text.indexOf(char, from);
  return at === -1 ? text.length : at;
}

/**
 * A plain decimal ([+-]digits[.digits], at most 15 digits) parsed directly: the mantissa is
 * an exact integer < 2^53 and 10^k (k ≤ 15) is exact, so one IEEE division gives the
 * correctly rounded value, bit-identical to `Number()` (Clinger's fast path). Anything else
 * (exponents, hex, spaces, "NaN", empty) is returned as text, for the full rules.
 */
function numberOrText(text: string, start: number, end: number): number | string {
  let i = start;
  let c = text.charCodeAt(i);
  const negative = c === MINUS;
  if (negative || c === PLUS) i++;
  const digitsStart = i;
  let mantissa = 0;
  let dotAt = -1;
  for (; i < end; i++) {
    c = text.charCodeAt(i);
    const d = c - 48;
    if (d >= 0 && d <= 9) mantissa = mantissa * 10 + d;
    else if (c === DOT && dotAt === -1) dotAt = i;
    else return text.slice(start, end);
  }
  const digits = end - digitsStart - (dotAt === -1 ? 0 : 1);
  if (digits === 0 || digits > 15) return text.slice(start, end);
  const x = dotAt === -1 ? mantissa : mantissa / POWERS_OF_TEN[end - dotAt - 1]!;
  return negative ? -x : x;
}

/** Receives one parsed JSONL object (or a bad-row report for lines that are not objects). */
export type JsonLineCallback = (value: Record<string, unknown>, line: number) => void;

export interface JsonLinesParser {
  push(text: string): void;
  end(): void;
  readonly blankLines: number;
}

/** Incremental JSON Lines parser: one JSON object per LF- or CRLF-terminated line. */
export function createJsonLinesParser(
  onObject: JsonLineCallback,
  onBad: BadRowCallback,
): JsonLinesParser {
  let carry = '';
  let line = 1;
  let blankLines = 0;

  function handle(raw: string): void {
    const text = raw.charCodeAt(raw.length - 1) === CR ? raw.slice(0, -1) : raw;
    const current = line++;
    if (text.trim().length === 0) {
      blankLines++;
      return;
    }
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch (err) {
      onBad({
        line: current,
        field: null,
        reason: 'invalid-json',
        message: err instanceof Error ? err.message : String(err),
      });
      return;
    }
    if (value === null || typeof value !== 'object' || Array.isArray(value)) {
      onBad({
        line: current,
        field: null,
        reason: 'not-an-object',
        message: `expected a JSON object, got ${value === null ? 'null' : Array.isArray(value) ? 'an array' : typeof value}`,
      });
      return;
    }
    onObject(value as Record<string, unknown>, current);
  }

  function parse(text: string): number {
    let start = 0;
    let nl = text.indexOf('\n');
    while (nl !== -1) {
      handle(text.slice(start, nl));
      start = nl + 1;
      nl = text.indexOf('\n', start);
    }
    return start;
  }

  return {
    push(text: string): void {
      const input = carry.length === 0 ? text : carry + text;
      const at = parse(input);
      carry = at < input.length ? input.slice(at) : '';
      checkRecordSize(carry, line);
    },
    end(): void {
      if (carry.length > 0) handle(carry);
      carry = '';
    },
    get blankLines() {
      return blankLines;
    },
  };
}

/**
 * Streams `file` once, calling `onRow` for every data row with the configured columns' raw
 * values (CSV: strings; JSONL: JSON values, `undefined` when absent) and `onBad` for rows that
 * cannot be parsed. Fails with a BaselineError naming the file when it is unreadable, has no
 * CSV header, or the header lacks a required column.
 */
export async function readRows(
  file: string,
  options: ReadRowsOptions,
  onRow: RowCallback,
  onBad: BadRowCallback,
): Promise<ReadRowsResult> {
  const format = options.format ?? detectFormat(file);
  const columns = options.columns;
  const optional = new Set(options.optional ?? []);
  const numericColumns = new Set(options.numericColumns ?? []);
  let totalBytes: number;
  try {
    totalBytes = (await stat(file)).size;
  } catch (err) {
    throw new BaselineError(`${file}: cannot read the file (${errorMessage(err)})`, {
      cause: err,
    });
  }

  const values: unknown[] = new Array(columns.length).fill(undefined);
  let records = 0;
  let header: string[] | null = null;
  const absentColumns: string[] = [];
  let headerError: BaselineError | null = null;
  let push: (text: string) => void;
  let end: () => void;
  let blankLines: () => number;

  if (format === 'csv') {
    let indexes: Int32Array | null = null;
    let width = 0;
    const onBadCounted: BadRowCallback = (bad) => {
      if (headerError !== null) return;
      if (header === null) {
        headerError ??= new BaselineError(
          `${file}: line ${bad.line}: cannot parse the CSV header (${bad.message})`,
        );
        return;
      }
      records++;
      onBad(bad);
    };
    const parser = createCsvParser((fields, count, line) => {
      if (indexes === null) {
        if (headerError !== null) return;
        header = fields.slice(0, count).map(String);
        if (line === 1 && header[0]?.charCodeAt(0) === 0xfeff) header[0] = header[0].slice(1);
        const built = resolveHeader(file, header, columns, optional, absentColumns);
        if (built instanceof BaselineError) {
          headerError = built;
          return;
        }
        indexes = built;
        width = count;
        if (numericColumns.size > 0) {
          const mask = new Uint8Array(count);
          for (let c = 0; c < columns.length; c++) {
            if (built[c]! >= 0 && numericColumns.has(columns[c]!)) mask[built[c]!] = 1;
          }
          parser.setNumericFields(mask);
        }
        return;
      }
      records++;
      if (count !== width) {
        onBad({
          line,
          field: null,
          reason: 'field-count',
          message: `expected ${width} fields (as in the header), got ${count}`,
        });
        return;
      }
      for (let c = 0; c < indexes.length; c++) {
        const at = indexes[c]!;
        values[c] = at < 0 ? undefined : fields[at];
      }
      onRow(values, line);
    }, onBadCounted);
    push = (text) => {
      if (headerError === null) parser.push(text);
    };
    end = () => {
      if (headerError === null) parser.end();
      if (headerError === null && header === null) {
        headerError = new BaselineError(`${file}: no CSV header row (the file is empty)`);
      }
    };
    blankLines = () => parser.blankLines;
  } else {
    const parser = createJsonLinesParser(
      (row, line) => {
        records++;
        for (let c = 0; c < columns.length; c++) values[c] = jsonColumnValue(row, columns[c]!);
        onRow(values, line);
      },
      (bad) => {
        records++;
        onBad(bad);
      },
    );
    push = (text) => parser.push(text);
    end = () => parser.end();
    blankLines = () => parser.blankLines;
  }

  const decoder = new StringDecoder('utf8');
  let bytesRead = 0;
  let first = true;
  const stream = createReadStream(file, {
    highWaterMark: options.chunkBytes ?? 1 << 20,
    ...(options.signal ? { signal: options.signal } : {}),
  });
  try {
    for await (const chunk of stream as AsyncIterable<Buffer>) {
      bytesRead += chunk.length;
      options.onBytes?.(chunk);
      let text = decoder.write(chunk);
      if (first && text.length > 0) {
        first = false;
        if (format === 'jsonl' && text.charCodeAt(0) === 0xfeff) text = text.slice(1);
      }
      push(text);
      if (headerError !== null) break;
      options.onProgress?.({ bytesRead, totalBytes, records });
    }
    if (headerError === null) {
      const rest = decoder.end();
      if (rest.length > 0) push(rest);
      end();
    }
  } catch (err) {
    if (err instanceof BaselineError) throw err;
    if (options.signal?.aborted) throw err;
    throw new BaselineError(`${file}: read failed (${errorMessage(err)})`, { cause: err });
  } finally {
    stream.destroy();
  }
  if (headerError !== null) throw headerError;
  return {
    format,
    bytes: bytesRead,
    records,
    blankLines: blankLines(),
    header,
    absentColumns,
  };
}

function resolveHeader(
  file: string,
  header: readonly string[],
  columns: readonly string[],
  optional: ReadonlySet<string>,
  absent: string[],
): Int32Array | BaselineError {
  const positions = new Map<string, number>();
  const duplicates = new Set<string>();
  header.forEach((name, i) => {
    if (positions.has(name)) duplicates.add(name);
    else positions.set(name, i);
  });
  const indexes = new Int32Array(columns.length);
  const missing: string[] = [];
  for (let c = 0; c < columns.length; c++) {
    const name = columns[c]!;
    if (duplicates.has(name)) {
      return new BaselineError(`${file}: column "${name}" appears more than once in the header`);
    }
    const at = positions.get(name);
    if (at === undefined) {
      if (optional.has(name)) absent.push(name);
      else missing.push(name);
      indexes[c] = -1;
    } else {
      indexes[c] = at;
    }
  }
  if (missing.length > 0) {
    return new BaselineError(
      `${file}: the CSV header has no column ${missing.map((m) => `"${m}"`).join(', ')} (configured feature${missing.length > 1 ? 's' : ''}); header: ${header.join(',')}`,
    );
  }
  return indexes;
}

function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
