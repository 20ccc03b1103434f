// Memory growth and leak suspicion: RSS and heap used, sampled on a timer, fitted by least squares.
//
// A leak shows as a steady upward slope under the sawtooth of garbage collection, so the rate is the slope of a
// least-squares line over a bounded window of samples taken after a warm-up (start-up allocations, JIT code and
// caches filling are not leaks). Both RSS and heap are watched: audio buffers live outside the JS heap, so a
// leaked Buffer only shows in RSS, while a leaked object graph shows first in the heap.
import { leastSquaresSlope } from './least-squares.ts';
import type { AuralisMetrics } from './metrics.ts';

export interface MemorySample {
  rssBytes: number;
  heapUsedBytes: number;
}

/** The seed's leak detection threshold: 20 MB an hour (MB taken as MiB, the stricter reading). */
export const DEFAULT_LEAK_THRESHOLD_BYTES_PER_HOUR = 20 * 1024 * 1024;
export const DEFAULT_MEMORY_INTERVAL_MS = 10_000;
/** One hour of 10 s samples: long enough to see through GC sawtooth, 3 × 360 doubles of memory. */
export const DEFAULT_MEMORY_WINDOW_SAMPLES = 360;
export const DEFAULT_MEMORY_WARMUP_MS = 60_000;
/** The slope over a few minutes is mostly GC sawtooth: with ±8 MB of heap noise it is only known to ±60 MB/h
 * after 5 min, ±4 MB/h after 30 min, so no rate (and no leak verdict) before the window spans 30 min. */
export const DEFAULT_MIN_FIT_SPAN_MS = 30 * 60_000;
const MS_PER_HOUR = 3_600_000;
const MAX_WINDOW_SAMPLES = 1_000_000;

export interface MemoryMonitorOptions {
  intervalMs?: number;
  windowSamples?: number;
  /** Samples taken within this long of the first one are discarded. */
  warmupMs?: number;
  minFitSpanMs?: number;
  leakThresholdBytesPerHour?: number;
  /** Injected for tests; default process.memoryUsage(). */
  sampler?: () => MemorySample;
  /** Monotonic clock in ms, injected for tests; default performance.now(). */
  nowMs?: () => number;
  /** When given, the growth gauges and the leak flag are kept up to date. */
  metrics?: Pick<AuralisMetrics, 'memoryGrowthBytesPerHour' | 'leakSuspected'>;
}

export interface MemoryGrowthSnapshot {
  /** Samples in the window (after warm-up). */
  samples: number;
  /** Time between the oldest and the newest sample in the window. */
  spanSeconds: number;
  /** True once the window spans minFitSpanMs, i.e. the rates below are meaningful. */
  fitted: boolean;
  rssBytes: number;
  heapUsedBytes: number;
  /** Least-squares slopes; null until fitted. */
  rssGrowthBytesPerHour: number | null;
  heapGrowthBytesPerHour: number | null;
  leakSuspected: boolean;
  leakThresholdBytesPerHour: number;
}

function defaultSampler(): MemorySample {
  const m = process.memoryUsage();
  return { rssBytes: m.rss, heapUsedBytes: m.heapUsed };
}

function positive(name: string, value: number): number {
  if (!Number.isFinite(value) || value <= 0)
    throw new RangeError(`${name} must be a positive number, got ${value}`);
  return value;
}

export class MemoryMonitor {
  readonly intervalMs: number;
  readonly windowSamples: number;
  readonly warmupMs: number;
  readonly minFitSpanMs: number;
  readonly leakThresholdBytesPerHour: number;
  private readonly sampler: () => MemorySample;
  private readonly nowMs: () => number;
  private readonly metrics: MemoryMonitorOptions['metrics'];
  // A ring of samples; the fit does not depend on order, so the ring is fitted as it lies.
  private readonly times: Float64Array;
  private readonly rss: Float64Array;
  private readonly heap: Float64Array;
  private next = 0;
  private count = 0;
  private firstSampleMs: number | undefined;
  private last: MemorySample = { rssBytes: 0, heapUsedBytes: 0 };
  private rssSlope: number | null = null;
  private heapSlope: number | null = null;
  private leak = false;
  private timer: ReturnType<typeof setInterval> | undefined;

  constructor(opts: MemoryMonitorOptions = {}) {
    this.intervalMs = positive('intervalMs', opts.intervalMs ?? DEFAULT_MEMORY_INTERVAL_MS);
    this.windowSamples = opts.windowSamples ?? DEFAULT_MEMORY_WINDOW_SAMPLES;
    if (
      !Number.isInteger(this.windowSamples) ||
      this.windowSamples < 3 ||
      this.windowSamples > MAX_WINDOW_SAMPLES
    ) {
      throw new RangeError(
        `windowSamples must be an integer from 3 to ${MAX_WINDOW_SAMPLES}, got ${this.windowSamples}`,
      );
    }
    this.warmupMs = opts.warmupMs ?? DEFAULT_MEMORY_WARMUP_MS;
    if (!(this.warmupMs >= 0)) throw new RangeError(`warmupMs must be ≥ 0, got ${this.warmupMs}`);
    this.minFitSpanMs = opts.minFitSpanMs ?? DEFAULT_MIN_FIT_SPAN_MS;
    if (!(this.minFitSpanMs >= 0)) throw new RangeError(`minFitSpanMs must be ≥ 0, got ${this.minFitSpanMs}`);
    this.leakThresholdBytesPerHour = positive(
      'leakThresholdBytesPerHour',
      opts.leakThresholdBytesPerHour ?? DEFAULT_LEAK_THRESHOLD_BYTES_PER_HOUR,
    );
    this.sampler = opts.sampler ?? defaultSampler;
    this.nowMs = opts.nowMs ?? (() => performance.now());
    this.metrics = opts.metrics;
    this.times = new Float64Array(this.windowSamples);
    this.rss = new Float64Array(this.windowSamples);
    this.heap = new Float64Array(this.windowSamples);
  }

  get running(): boolean {
    return this.timer !== undefined;
  }

  /** Samples now and every intervalMs; the timer is unref'd, so it never keeps the process alive. Idempotent. */
  start(): void {
    if (this.timer !== undefined) return;
    this.sample();
    this.timer = setInterval(() => this.sample(), this.intervalMs);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer === undefined) return;
    clearInterval(this.timer);
    this.timer = undefined;
  }

  /** Takes one sample and refits (the timer calls this; tests and benchmarks may call it directly). */
  sample(): void {
    let s: MemorySample;
    try {
      s = this.sampler();
    } catch {
      // process.memoryUsage() reads /proc and can fail under fd exhaustion; one missed sample is harmless.
      return;
    }
    if (!Number.isFinite(s.rssBytes) || !Number.isFinite(s.heapUsedBytes)) return;
    const t = this.nowMs();
    this.last = s;
    if (this.firstSampleMs === undefined) this.firstSampleMs = t;
    if (t - this.firstSampleMs < this.warmupMs) return;
    this.times[this.next] = t;
    this.rss[this.next] = s.rssBytes;
    this.heap[this.next] = s.heapUsedBytes;
    this.next = (this.next + 1) % this.windowSamples;
    if (this.count < this.windowSamples) this.count++;
    this.fit();
  }

  snapshot(): MemoryGrowthSnapshot {
    return {
      samples: this.count,
      spanSeconds: this.spanMs() / 1000,
      fitted: this.rssSlope !== null,
      rssBytes: this.last.rssBytes,
      heapUsedBytes: this.last.heapUsedBytes,
      rssGrowthBytesPerHour: this.rssSlope,
      heapGrowthBytesPerHour: this.heapSlope,
      leakSuspected: this.leak,
      leakThresholdBytesPerHour: this.leakThresholdBytesPerHour,
    };
  }

  private spanMs(): number {
    if (this.count < 2) return 0;
    const times = this.times.subarray(0, this.count);
    let min = Infinity;
    let max = -Infinity;
    for (let i = 0; i < times.length; i++) {
      if (times[i] < min) min = times[i];
      if (times[i] > max) max = times[i];
    }
    return max - min;
  }

  private fit(): void {
    if (this.count < 3 || this.spanMs() < this.minFitSpanMs) return;
    const n = this.count;
    const times = this.times.subarray(0, n);
    const rss = leastSquaresSlope(times, this.rss.subarray(0, n)) * MS_PER_HOUR;
    const heap = leastSquaresSlope(times, this.heap.subarray(0, n)) * MS_PER_HOUR;
    if (!Number.isFinite(rss) || !Number.isFinite(heap)) return;
    this.rssSlope = rss;
    this.heapSlope = heap;
    this.leak = Math.max(rss, heap) > this.leakThresholdBytesPerHour;
    if (this.metrics !== undefined) {
      this.metrics.memoryGrowthBytesPerHour.set({ kind: 'rss' }, rss);
      this.metrics.memoryGrowthBytesPerHour.set({ kind: 'heap' }, heap);
      this.metrics.leakSuspected.set(this.leak ? 1 : 0);
    }
  }
}
