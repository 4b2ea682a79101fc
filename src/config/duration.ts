import { ConfigError } from '../errors.js';

/**
 * Durations in the config are one integer and one unit: `250ms`, `30s`, `5m`, `1h`, `1d`.
 * No compound forms ("1h30m": write "90m"), no decimals, no uppercase (`M` could mean month),
 * no bare numbers (a unitless 60 is ambiguous). The string as written becomes the `window`
 * metric label, so it is kept next to the parsed milliseconds.
 */
const UNIT_MS = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 } as const;
type Unit = keyof typeof UNIT_MS;

const DURATION = /^(\d+)(ms|s|m|h|d)$/;
const HINT = 'use e.g. 30s, 5m, 1h, 1d';

export interface DurationOptions {
  /** Accept a zero duration ("0s", or "0"). Default false. */
  allowZero?: boolean;
  /** Smallest accepted duration in ms (checked after parsing). */
  minMs?: number;
}

export type DurationCheck = { ok: true; ms: number } | { ok: false; message: string };

/** Parses without throwing; the message is what the config validator prints after the path. */
export function checkDuration(value: unknown, options: DurationOptions = {}): DurationCheck {
  const shown = typeof value === 'string' ? JSON.stringify(value) : String(value);
  const notDuration = { ok: false, message: `${shown} is not a duration (${HINT})` } as const;
  if (options.allowZero && (value === '0' || value === 0)) return { ok: true, ms: 0 };
  if (typeof value !== 'string') return notDuration;
  const match = DURATION.exec(value);
  if (match === null) return notDuration;
  const ms = Number(match[1]) * UNIT_MS[match[2] as Unit];
  if (!Number.isSafeInteger(ms)) return notDuration;
  if (ms === 0 && !options.allowZero) {
    return { ok: false, message: `${shown} must be greater than zero` };
  }
  if (options.minMs !== undefined && ms < options.minMs) {
    return {
      ok: false,
      message: `${shown} is shorter than the minimum of ${formatDuration(options.minMs)}`,
    };
  }
  return { ok: true, ms };
}

/** Milliseconds in `text` (e.g. "5m" → 300000); throws ConfigError on anything else. */
export function parseDuration(text: string, options: DurationOptions = {}): number {
  const result = checkDuration(text, options);
  if (!result.ok) throw new ConfigError(result.message, [result.message]);
  return result.ms;
}

/** Shortest exact rendering in the largest unit that divides `ms`: 300000 → "5m", 1500 → "1500ms". */
export function formatDuration(ms: number): string {
  if (!Number.isSafeInteger(ms) || ms < 0) {
    throw new ConfigError(`cannot format ${ms} as a duration`);
  }
  if (ms === 0) return '0s';
  for (const unit of ['d', 'h', 'm', 's'] as const) {
    if (ms % UNIT_MS[unit] === 0) return `${ms / UNIT_MS[unit]}${unit}`;
  }
  return `${ms}ms`;
}
