import type { WindowBounds } from '../types.js';

/*
 * Window assignment and window identity, in one place: every part of driftd that asks "which
 * window holds this event" or "is this the same window" (the window manager, label-driven
 * recomputes, the audit route) asks here.
 */

/**
 * The start of the tumbling window of `size` ms holding time `ts` (ms since the epoch):
 * windows are aligned on the epoch, so the start is `ts` rounded down to a multiple of `size`,
 * before 1970 as after.
 */
export function windowStart(ts: number, size: number): number {
  return ts - (((ts % size) + size) % size);
}

/** The bounds of the window of a configured size (`ms`, `label`) holding `ts`. */
export function windowAt(
  model: string,
  version: string,
  size: { ms: number; label: string },
  ts: number,
): WindowBounds {
  const start = windowStart(ts, size.ms);
  return { model, version, size: size.ms, sizeLabel: size.label, start, end: start + size.ms };
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
