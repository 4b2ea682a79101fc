import { collectDefaultMetrics, type Registry } from 'prom-client';

/**
 * The process and Node.js runtime families prom-client collects (CPU, memory, heap, file
 * descriptors, event-loop lag, GC), under their standard names so the usual Node.js dashboards
 * work too. The ones driftd's own dashboards and rules read are named here.
 */
export const PROCESS_METRIC = {
  cpuSeconds: 'process_cpu_seconds_total',
  residentMemory: 'process_resident_memory_bytes',
  openFds: 'process_open_fds',
  maxFds: 'process_max_fds',
  startTime: 'process_start_time_seconds',
  heapUsed: 'nodejs_heap_size_used_bytes',
  heapTotal: 'nodejs_heap_size_total_bytes',
  /** p99 of the event loop's delay since the previous scrape (perf_hooks histogram). */
  eventLoopLagP99: 'nodejs_eventloop_lag_p99_seconds',
  eventLoopLagMax: 'nodejs_eventloop_lag_max_seconds',
} as const;

/**
 * Registers the default process/runtime metrics on `registry`, measured when it is scraped
 * (the event-loop delay at 10 ms resolution). Once per registry: prom-client refuses a second
 * registration of the same name.
 */
export function collectProcessMetrics(registry: Registry): void {
  collectDefaultMetrics({ register: registry, eventLoopMonitoringPrecision: 10 });
}
