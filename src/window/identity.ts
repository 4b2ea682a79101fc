import type { WindowBounds } from '../types.js';

/*
 * Window assignment and window identity, in one place: every part of driftd that asks "which
 * window holds this event" or "is this the same window" (the window manager, label-driven
 * recomputes, the audit route, the reference windows) asks here.
 *
 * Alignment. A window whose size is a whole number of days (1d, 7d, …) is aligned on local
 * midnight in its model's IANA time zone (`models[].timeZone`, default UTC): day number D
 * counts local calendar days since 1970-01-01, a window of d days holds the days
 * [⌊D/d⌋·d, ⌊D/d⌋·d + d) and runs from the first instant of its first local day to the first
 * instant of the day after its last, so a daily window is 23 h or 25 h long on a DST change
 * (and starts at 01:00 where a zone skips midnight). Weeks keep the epoch's phase (they start
 * on a Thursday, as 1970-01-01 did), in every zone. In UTC this is exactly the epoch alignment.
 * Every other size (hours, minutes, 36 h) is aligned on the epoch, whatever the zone: an hour
 * window in Asia/Kolkata (+05:30) runs from :30 to :30 local time. Such windows are the same
 * instants for every observer, and a 1 h window around a DST change stays 1 h long.
 * Bounds are instants (epoch ms); a window's `size` is its configured nominal size, and its
 * length is `end − start`.
 */

/** One day in ms. */
export const DAY_MS = 86_400_000;

/** The IANA name of UTC, the default time zone. */
export const UTC = 'UTC';

/**
 * The start of the epoch-aligned window of `size` ms holding time `ts` (ms since the epoch):
 * `ts` rounded down to a multiple of `size`, before 1970 as after.
 */
export function windowStart(ts: number, size: number): number {
  return ts - (((ts % size) + size) % size);
}

/** An instant's window: [start, end). */
export interface WindowSpan {
  start: number;
  end: number;
}

/** Whether windows of `sizeMs` are aligned on local days (module comment). */
export function isCalendarSize(sizeMs: number): boolean {
  return sizeMs % DAY_MS === 0;
}

/**
 * @throws RangeError when `timeZone` is not an IANA zone this runtime knows
 */
export function checkTimeZone(timeZone: string): void {
  calendarOf(timeZone);
}

/**
 * The window grid of one configured size in one zone: the window holding any instant, with
 * the last few answers memoised (most events fall in the window of the event before).
 */
export interface WindowGrid {
  readonly sizeMs: number;
  spanAt(ts: number): WindowSpan;
}

export function windowGrid(sizeMs: number, timeZone: string = UTC): WindowGrid {
  if (!isCalendarSize(sizeMs) || timeZone === UTC) {
    return {
      sizeMs,
      spanAt(ts) {
        const start = windowStart(ts, sizeMs);
        return { start, end: start + sizeMs };
      },
    };
  }
  const calendar = calendarOf(timeZone);
  const days = sizeMs / DAY_MS;
  let last: WindowSpan = { start: 0, end: 0 };
  return {
    sizeMs,
    spanAt(ts) {
      if (ts >= last.start && ts < last.end) return last;
      const day = calendar.dayOf(ts);
      const first = Math.floor(day / days) * days;
      last = { start: calendar.dayStart(first), end: calendar.dayStart(first + days) };
      return last;
    },
  };
}

/** The bounds of the window of a configured size (`ms`, `label`) holding `ts`. */
export function windowAt(
  model: string,
  version: string,
  size: { ms: number; label: string },
  ts: number,
  timeZone: string = UTC,
): WindowBounds {
  const { start, end } = windowGrid(size.ms, timeZone).spanAt(ts);
  return { model, version, size: size.ms, sizeLabel: size.label, start, end };
}

/**
 * The window just before `b` in its grid (the previous day for a daily window, whatever the
 * length of either), as `windowAt` would give for the instant before `b.start`.
 */
export function previousWindow(b: WindowBounds, timeZone: string = UTC): WindowBounds {
  return windowAt(b.model, b.version, { ms: b.size, label: b.sizeLabel }, b.start - 1, timeZone);
}

/**
 * A window's identity, as a map key: model, size label, start, version. The version (the only
 * part producers choose) comes last and the others are configured ids and a number, so two
 * windows never share a key whatever a version contains.
 */
export function windowKey(
  b: Pick<WindowBounds, 'model' | 'version' | 'sizeLabel' | 'start'>,
): string {
  return `${b.model}\u0000${b.sizeLabel}\u0000${b.start}\u0000${b.version}`;
}

/** A window's name in log lines and messages, within its model: "version/sizeLabel/start". */
export function windowName(b: Pick<WindowBounds, 'version' | 'sizeLabel' | 'start'>): string {
  return `${b.version}/${b.sizeLabel}/${b.start}`;
}

/** Local calendar days of one zone. */
interface Calendar {
  /** The local day (days since 1970-01-01 local) whose window holds `ts`: the last D with dayStart(D) ≤ ts. */
  dayOf(ts: number): number;
  /** The first instant whose local date is day `day` or later. */
  dayStart(day: number): number;
}

const calendars = new Map<string, Calendar>();
/** Memoised day starts per zone, dropped wholesale beyond this (bounded by configuration anyway). */
const MAX_MEMO_DAYS = 4096;
/** UTC offsets lie within ±18 h (ECMAScript's range): the local day boundary is within this. */
const MAX_OFFSET_MS = 18 * 3_600_000;

function calendarOf(timeZone: string): Calendar {
  const hit = calendars.get(timeZone);
  if (hit !== undefined) return hit;
  // Throws RangeError for a zone the runtime does not know.
  const format = new Intl.DateTimeFormat('en-US', {
    timeZone,
    hourCycle: 'h23',
    era: 'short',
    year: 'numeric',
    month: 'numeric',
    day: 'numeric',
    hour: 'numeric',
    minute: 'numeric',
    second: 'numeric',
  });
  /** The local day number of instant `t` (its local calendar date). */
  const localDay = (t: number): number => {
    let y = 0;
    let mo = 0;
    let d = 0;
    let bc = false;
    for (const p of format.formatToParts(t)) {
      if (p.type === 'year') y = Number(p.value);
      else if (p.type === 'month') mo = Number(p.value);
      else if (p.type === 'day') d = Number(p.value);
      else if (p.type === 'era') bc = p.value === 'BC' || p.value === 'B';
    }
    const date = new Date(0);
    date.setUTCFullYear(bc ? 1 - y : y, mo - 1, d);
    return Math.floor(date.getTime() / DAY_MS);
  };
  const starts = new Map<number, number>();
  const dayStart = (day: number): number => {
    const memo = starts.get(day);
    if (memo !== undefined) return memo;
    // First instant with localDay ≥ day, by bisection around UTC midnight of that date, in
    // whole seconds (offsets are whole seconds, so the day starts on a second).
    let lo = day * DAY_MS - MAX_OFFSET_MS; // localDay(lo) < day
    let hi = day * DAY_MS + MAX_OFFSET_MS; // localDay(hi) ≥ day
    while (hi - lo > 1000) {
      const mid = lo + Math.floor((hi - lo) / 2000) * 1000;
      if (localDay(mid) >= day) hi = mid;
      else lo = mid;
    }
    if (starts.size >= MAX_MEMO_DAYS) starts.clear();
    starts.set(day, hi);
    return hi;
  };
  const calendar: Calendar = {
    dayStart,
    dayOf(ts) {
      const day = localDay(ts);
      // A zone whose clock goes back over midnight repeats local times of the previous day
      // after the next one began: the window is the last day started at or before ts.
      if (dayStart(day + 1) <= ts) return day + 1;
      if (dayStart(day) > ts) return day - 1;
      return day;
    },
  };
  calendars.set(timeZone, calendar);
  return calendar;
}
