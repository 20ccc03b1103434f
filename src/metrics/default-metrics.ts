// Node's default metrics (process_*, nodejs_*) on one registry, with a close() that stops them.
//
// prom-client's collectDefaultMetrics() starts an event-loop delay histogram (a libuv timer) and a GC
// PerformanceObserver and gives no way to stop either: every registry made with it left both running
// for the life of the process. Here the metrics without a background part come from prom-client's own
// modules, and those two are built with the same names, help and semantics, owned by the returned handle.
import { createRequire } from 'node:module';
import {
  monitorEventLoopDelay,
  PerformanceObserver,
  constants,
  type PerformanceEntry,
} from 'node:perf_hooks';
import { Gauge, Histogram, type Registry } from 'prom-client';

const require = createRequire(import.meta.url);

/** prom-client's default metric modules that only read the process when scraped (no timer, no observer). */
const POLLED_MODULES = [
  'processCpuTotal',
  'processStartTime',
  'osMemoryHeap',
  'processOpenFileDescriptors',
  'processMaxFileDescriptors',
  'processResources',
  'processHandles',
  'processRequests',
  'heapSizeAndUsed',
  'heapSpacesSizeAndUsed',
  'version',
] as const;

/** prom-client's default resolution of its event-loop histogram, in ms. */
const EVENT_LOOP_RESOLUTION_MS = 10;

const GC_KIND_NAMES = new Map<number, string>([
  [constants.NODE_PERFORMANCE_GC_MAJOR, 'major'],
  [constants.NODE_PERFORMANCE_GC_MINOR, 'minor'],
  [constants.NODE_PERFORMANCE_GC_INCREMENTAL, 'incremental'],
  [constants.NODE_PERFORMANCE_GC_WEAKCB, 'weakcb'],
]);

export interface DefaultMetrics {
  /** True until close(). */
  readonly running: boolean;
  /** Stops the event-loop histogram and the GC observer; the series stay registered. Idempotent. */
  close(): void;
}

export function registerDefaultMetrics(
  registry: Registry,
  opts: { gcDurationBuckets: number[] },
): DefaultMetrics {
  for (const name of POLLED_MODULES) {
    if (name === 'processResources' && typeof process.getActiveResourcesInfo !== 'function') continue;
    const register = require(`prom-client/lib/metrics/${name}`) as (r: Registry, c: object) => void;
    register(registry, {});
  }
  const registers = [registry];

  // nodejs_eventloop_lag_*: as prom-client computes them (the histogram is reset at each scrape).
  const histogram = monitorEventLoopDelay({ resolution: EVENT_LOOP_RESOLUTION_MS });
  histogram.enable();
  let running = true;
  const lag: Gauge = new Gauge({
    name: 'nodejs_eventloop_lag_seconds',
    help: 'Lag of event loop in seconds.',
    registers,
    // Registered first: its collect sets them all, synchronously, before the others are read.
    collect() {
      if (!running) return;
      lagMin.set(histogram.min / 1e9);
      lagMax.set(histogram.max / 1e9);
      lagMean.set(histogram.mean / 1e9);
      lagStddev.set(histogram.stddev / 1e9);
      lagP50.set(histogram.percentile(50) / 1e9);
      lagP90.set(histogram.percentile(90) / 1e9);
      lagP99.set(histogram.percentile(99) / 1e9);
      histogram.reset();
      const start = process.hrtime.bigint();
      setImmediate(() => lag.set(Number(process.hrtime.bigint() - start) / 1e9));
    },
  });
  const gauge = (suffix: string, help: string): Gauge =>
    new Gauge({ name: `nodejs_eventloop_lag_${suffix}seconds`, help, registers });
  const lagMin = gauge('min_', 'The minimum recorded event loop delay.');
  const lagMax = gauge('max_', 'The maximum recorded event loop delay.');
  const lagMean = gauge('mean_', 'The mean of the recorded event loop delays.');
  const lagStddev = gauge('stddev_', 'The standard deviation of the recorded event loop delays.');
  const lagP50 = gauge('p50_', 'The 50th percentile of the recorded event loop delays.');
  const lagP90 = gauge('p90_', 'The 90th percentile of the recorded event loop delays.');
  const lagP99 = gauge('p99_', 'The 99th percentile of the recorded event loop delays.');

  // nodejs_gc_duration_seconds: every entry of each batch (prom-client's observer reads only the first).
  const gcHistogram = new Histogram({
    name: 'nodejs_gc_duration_seconds',
    help: 'Garbage collection duration by kind, one of major, minor, incremental or weakcb.',
    labelNames: ['kind'] as const,
    buckets: opts.gcDurationBuckets,
    registers,
  });
  const record = (entries: readonly PerformanceEntry[]): void => {
    for (const entry of entries) {
      const detail = (entry as PerformanceEntry & { detail?: { kind?: number } | null }).detail;
      const kind = detail?.kind === undefined ? undefined : GC_KIND_NAMES.get(detail.kind);
      if (kind !== undefined) gcHistogram.observe({ kind }, entry.duration / 1000);
    }
  };
  const observer = new PerformanceObserver((list) => record(list.getEntries()));
  observer.observe({ entryTypes: ['gc'] });

  return {
    get running() {
      return running;
    },
    close() {
      if (!running) return;
      running = false;
      histogram.disable();
      record(observer.takeRecords());
      observer.disconnect();
    },
  };
}
