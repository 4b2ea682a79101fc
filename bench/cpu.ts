/**
 * CPU time of this process and of its main (event-loop) thread, from /proc (Linux), so a
 * benchmark can report CPU per event next to its rate: less noisy than the rate on a shared
 * machine, and it tells whether the event loop or the engine threads are the limit.
 */
import { readFileSync } from 'node:fs';

export interface CpuSample {
  /** Main thread user+system seconds (NaN where /proc is unavailable). */
  main: number;
  /** Whole process user+system seconds (every thread: engine, libuv, workers). */
  process: number;
}

const TICKS_PER_SECOND = 100; // USER_HZ on Linux

function mainThreadSeconds(): number {
  try {
    const stat = readFileSync(`/proc/self/task/${process.pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / TICKS_PER_SECOND;
  } catch {
    return Number.NaN;
  }
}

export function cpuSample(): CpuSample {
  const u = process.cpuUsage();
  return { main: mainThreadSeconds(), process: (u.user + u.system) / 1e6 };
}

/** µs of CPU per event between two samples, rounded to 0.1. */
export function cpuPerEvent(
  a: CpuSample,
  b: CpuSample,
  events: number,
): { mainUsPerEvent: number; processUsPerEvent: number } {
  const r = (s: number) => Math.round((s * 1e7) / events) / 10;
  return { mainUsPerEvent: r(b.main - a.main), processUsPerEvent: r(b.process - a.process) };
}
