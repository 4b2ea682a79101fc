import { appendFileSync, mkdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { Counter } from 'prom-client';
import type { Logger } from '../logger.js';
import { isRetriable } from './retry.js';

/**
 * Quarantine: what the store refused for a reason retrying cannot fix (the engine rejected the
 * rows themselves, not a full disk or a lost connection). Such an item is never retried and
 * never blocks the items written beside it: it is kept in `<dataDir>/quarantine/<kind>.jsonl`
 * (one JSON line per item: when, why, the item), counted in
 * `driftd_quarantined_total{kind}`, and logged with the reason. An operator can read the file,
 * fix the cause and re-insert. A file stops growing at `maxBytes` (further items are still
 * counted and logged, not kept), so no input can fill the disk through it.
 */
export type QuarantineKind =
  | 'window_result'
  | 'window_partial'
  | 'performance'
  | 'fairness_result'
  | 'version_comparison'
  | 'events'
  | 'labels';

export interface Quarantine {
  put(kind: QuarantineKind, items: readonly unknown[], err: unknown): void;
}

export interface QuarantineOptions {
  dir: string;
  counter: Counter<'kind'>;
  logger: Logger;
  /** Per kind. @default 256 MiB */
  maxBytes?: number;
}

const DEFAULT_MAX_BYTES = 256 * 1024 * 1024;

export function createQuarantine(opts: QuarantineOptions): Quarantine {
  const maxBytes = opts.maxBytes ?? DEFAULT_MAX_BYTES;
  const log = opts.logger.child({ stage: 'quarantine' });
  const sizes = new Map<QuarantineKind, number>();
  return {
    put(kind, items, err) {
      if (items.length === 0) return;
      const reason = err instanceof Error ? err.message : String(err);
      const code = (err as { clickhouseCode?: unknown } | null)?.clickhouseCode;
      opts.counter.inc({ kind }, items.length);
      const file = join(opts.dir, `${kind}.jsonl`);
      let size = sizes.get(kind);
      if (size === undefined) {
        mkdirSync(opts.dir, { recursive: true });
        size = statSync(file, { throwIfNoEntry: false })?.size ?? 0;
      }
      const at = new Date().toISOString();
      const text = items
        .map((item) => `${JSON.stringify({ at, kind, reason, code: code ?? null, item })}\n`)
        .join('');
      const bytes = Buffer.byteLength(text);
      const kept = size + bytes <= maxBytes;
      if (kept) {
        appendFileSync(file, text);
        size += bytes;
      }
      sizes.set(kind, size);
      log.error(
        { kind, items: items.length, reason, file, kept },
        kept
          ? 'the store refused these items for good: quarantined (kept in the file, not retried)'
          : 'the store refused these items for good: counted, not kept (quarantine file full)',
      );
    },
  };
}

/**
 * Inserts `items`; when the store refuses them with an error retrying cannot fix, inserts them
 * one by one and quarantines each one the store refuses alone, so one bad item never holds up
 * the others. A retriable error is thrown to the caller (who retries the call: items already
 * written are written again, which every table's replace key collapses).
 * @returns the items written
 */
export async function insertOrQuarantine<T>(
  items: readonly T[],
  insert: (batch: readonly T[]) => Promise<void>,
  quarantine: Quarantine,
  kind: QuarantineKind,
): Promise<readonly T[]> {
  try {
    await insert(items);
    return items;
  } catch (err) {
    if (isRetriable(err)) throw err;
    if (items.length === 1) {
      quarantine.put(kind, items, err);
      return [];
    }
  }
  const written: T[] = [];
  for (const item of items) {
    try {
      await insert([item]);
      written.push(item);
    } catch (err) {
      if (isRetriable(err)) throw err;
      quarantine.put(kind, [item], err);
    }
  }
  return written;
}
