// Process CPU use over time for benchmarks: (user + system CPU time, all threads) / wall time, per interval.
//
// 100% is one core fully busy; worker threads count too, so a process can read above 100%.
import { percentile } from './percentile.ts';

export const DEFAULT_CPU_INTERVAL_MS = 1000;
/** 24 hours of 1 s samples (0.7 MB); the oldest are overwritten beyond that. */
export const DEFAULT_CPU_MAX_SAMPLES = 86_400;
const MAX_CPU_SAMPLES_LIMIT = 10_000_000;

export interface CpuUsageMicros {
  user: number;
  system: number;
}

export interface CpuSamplerOptions {
  intervalMs?: number;
  maxSamples?: number;
  /** Injected for tests; default process.cpuUsage(). */
  cpuUsage?: () => CpuUsageMicros;
  /** Monotonic clock in ms, injected for tests; default performance.now(). */
  nowMs?: () => number;
}

export interface CpuSummary {
  samples: number;
  avgPercent: number;
  p95Percent: number;
  maxPercent: number;
}

export class CpuSampler {
  readonly intervalMs: number;
  readonly maxSamples: number;
  private readonly cpuUsage: () => CpuUsageMicros;
  private readonly nowMs: () => number;
  private readonly percents: Float64Array;
  private next = 0;
  private count = 0;
  private lastCpuMicros = 0;
  private lastWallMs = 0;
  private primed = false;
  private timer: ReturnType<typeof setInterval> | undefined;

  constructor(opts: CpuSamplerOptions = {}) {
    this.intervalMs = opts.intervalMs ?? DEFAULT_CPU_INTERVAL_MS;
    if (!Number.isFinite(this.intervalMs) || this.intervalMs <= 0) {
      throw new RangeError(`intervalMs must be a positive number, got ${this.intervalMs}`);
    }
    this.maxSamples = opts.maxSamples ?? DEFAULT_CPU_MAX_SAMPLES;
    if (
      !Number.isInteger(this.maxSamples) ||
      this.maxSamples < 1 ||
      this.maxSamples > MAX_CPU_SAMPLES_LIMIT
    ) {
      throw new RangeError(
        `maxSamples must be an integer from 1 to ${MAX_CPU_SAMPLES_LIMIT}, got ${this.maxSamples}`,
      );
    }
    this.cpuUsage = opts.cpuUsage ?? (() => process.cpuUsage());
    this.nowMs = opts.nowMs ?? (() => performance.now());
    this.percents = new Float64Array(this.maxSamples);
  }

  get running(): boolean {
    return this.timer !== undefined;
  }

  /** Marks the start of the first interval and samples every intervalMs (unref'd timer). Idempotent. */
  start(): void {
    if (this.timer !== undefined) return;
    this.prime();
    this.timer = setInterval(() => this.sample(), this.intervalMs);
    this.timer.unref();
  }

  /** Stops sampling; the samples are kept. The interval in progress is dropped, not counted partially. */
  stop(): void {
    if (this.timer === undefined) return;
    clearInterval(this.timer);
    this.timer = undefined;
    this.primed = false;
  }

  /** Resets the reference point without recording (the timer's first tick then measures from here). */
  prime(): void {
    const u = this.cpuUsage();
    this.lastCpuMicros = u.user + u.system;
    this.lastWallMs = this.nowMs();
    this.primed = true;
  }

  /** Records the CPU use since the previous sample (or prime()); answers it in percent, or undefined. */
  sample(): number | undefined {
    const u = this.cpuUsage();
    const cpuMicros = u.user + u.system;
    const wallMs = this.nowMs();
    if (!this.primed) {
      this.lastCpuMicros = cpuMicros;
      this.lastWallMs = wallMs;
      this.primed = true;
      return undefined;
    }
    const wallMicros = (wallMs - this.lastWallMs) * 1000;
    const usedMicros = cpuMicros - this.lastCpuMicros;
    this.lastCpuMicros = cpuMicros;
    this.lastWallMs = wallMs;
    if (!(wallMicros > 0) || !(usedMicros >= 0)) return undefined;
    const pct = (usedMicros / wallMicros) * 100;
    this.percents[this.next] = pct;
    this.next = (this.next + 1) % this.maxSamples;
    if (this.count < this.maxSamples) this.count++;
    return pct;
  }

  /** The retained samples, oldest first (a copy). */
  samples(): number[] {
    const out: number[] = [];
    const start = this.count < this.maxSamples ? 0 : this.next;
    for (let i = 0; i < this.count; i++) out.push(this.percents[(start + i) % this.maxSamples]);
    return out;
  }

  summary(): CpuSummary {
    const values = this.percents.subarray(0, this.count);
    if (values.length === 0) return { samples: 0, avgPercent: 0, p95Percent: 0, maxPercent: 0 };
    let sum = 0;
    let max = 0;
    for (let i = 0; i < values.length; i++) {
      sum += values[i];
      if (values[i] > max) max = values[i];
    }
    return {
      samples: values.length,
      avgPercent: sum / values.length,
      p95Percent: percentile(values, 95),
      maxPercent: max,
    };
  }

  reset(): void {
    this.next = 0;
    this.count = 0;
  }
}
