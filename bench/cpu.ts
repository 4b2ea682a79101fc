/**
 * CPU time of this process and of its main (event-loop) thread, from /proc (Linux), so a
 * benchmark can report CPU per event next to its rate: less noisy than the rate on a shared
 * machine, and it tells whether the event loop or the engine threads are the limit.
 */
import { readdirSync, readFileSync } from 'node:fs';

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

/**
 * CPU seconds per group of threads of this process, from /proc/self/task (Linux; empty
 * elsewhere): `main` (the event loop), `engineQueries` (chDB threads running inserts and
 * queries), `engineMerges` (chDB background merges), `engineOther` (chDB's other pools),
 * Node's own threads (V8's GC and compiler helpers, libuv's pool, worker threads: the HTTP load
 * generator, the Kafka decode thread) are kept one by one as `node:<tid>`: `threadCpuPerEvent`
 * tells the busiest of them (the worker thread) from the rest. A thread that ended between two
 * samples is missing from the later one, so the groups can sum to less than `process`.
 */
export function threadSample(): Map<string, number> {
  const out = new Map<string, number>();
  let tids: string[];
  try {
    tids = readdirSync('/proc/self/task');
  } catch {
    return out;
  }
  for (const tid of tids) {
    let stat: string;
    let comm: string;
    try {
      stat = readFileSync(`/proc/self/task/${tid}/stat`, 'utf8');
      comm = readFileSync(`/proc/self/task/${tid}/comm`, 'utf8').trim();
    } catch {
      continue; // ended meanwhile
    }
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const seconds = (Number(fields[11]) + Number(fields[12])) / TICKS_PER_SECOND;
    const group =
      Number(tid) === process.pid
        ? 'main'
        : comm === 'node'
          ? `node:${tid}`
          : comm.startsWith('Merge')
            ? 'engineMerges'
            : comm === 'ThreadPool' || comm.startsWith('Query')
              ? 'engineQueries'
              : 'engineOther';
    out.set(group, (out.get(group) ?? 0) + seconds);
  }
  return out;
}

/**
 * µs of CPU per event per thread group between two `threadSample`s, rounded to 0.1 (the main
 * thread is left out: `cpuPerEvent` reports it). Of Node's threads the busiest is reported as
 * `nodeBusiest` (the Kafka decode thread, the HTTP load generator), the others together as
 * `nodeOther` (mostly V8's garbage-collection helpers).
 */
export function threadCpuPerEvent(
  a: Map<string, number>,
  b: Map<string, number>,
  events: number,
): Record<string, number> {
  const seconds = new Map<string, number>();
  let busiest = 0;
  for (const [group, s] of b) {
    if (group === 'main') continue;
    const d = s - (a.get(group) ?? 0);
    if (group.startsWith('node:')) {
      busiest = Math.max(busiest, d);
      seconds.set('nodeOther', (seconds.get('nodeOther') ?? 0) + d);
    } else seconds.set(group, d);
  }
  if (seconds.has('nodeOther')) {
    seconds.set('nodeOther', seconds.get('nodeOther')! - busiest);
    seconds.set('nodeBusiest', busiest);
  }
  const out: Record<string, number> = {};
  for (const [group, d] of seconds) out[`${group}UsPerEvent`] = Math.round((d * 1e7) / events) / 10;
  return out;
}
