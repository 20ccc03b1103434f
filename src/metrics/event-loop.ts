// Event-loop delay percentiles for benchmarks, from perf_hooks.monitorEventLoopDelay.
//
// Node's histogram records the whole interval between its timer's ticks, so an idle loop reads about the
// resolution (p50 ≈ 10.1 ms at 10 ms, measured here). The snapshot subtracts the resolution to report the delay
// itself; prom-client's nodejs_eventloop_lag_p*_seconds do not, which the alert rules allow for.
import { monitorEventLoopDelay, type IntervalHistogram } from 'node:perf_hooks';

export const DEFAULT_EVENT_LOOP_RESOLUTION_MS = 10;

export interface EventLoopDelaySnapshot {
  /** Timer ticks measured. */
  count: number;
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
  meanMs: number;
  resolutionMs: number;
}

export class EventLoopDelayMonitor {
  readonly resolutionMs: number;
  private readonly histogram: IntervalHistogram;
  private enabled = false;

  constructor(opts: { resolutionMs?: number } = {}) {
    this.resolutionMs = opts.resolutionMs ?? DEFAULT_EVENT_LOOP_RESOLUTION_MS;
    if (!Number.isInteger(this.resolutionMs) || this.resolutionMs < 1) {
      throw new RangeError(`resolutionMs must be an integer ≥ 1, got ${this.resolutionMs}`);
    }
    this.histogram = monitorEventLoopDelay({ resolution: this.resolutionMs });
  }

  get running(): boolean {
    return this.enabled;
  }

  /** Idempotent. The histogram's timer does not keep the process alive. */
  start(): void {
    if (this.enabled) return;
    this.histogram.enable();
    this.enabled = true;
  }

  stop(): void {
    if (!this.enabled) return;
    this.histogram.disable();
    this.enabled = false;
  }

  reset(): void {
    this.histogram.reset();
  }

  snapshot(): EventLoopDelaySnapshot {
    const h = this.histogram;
    const count = h.count;
    const delayMs = (ns: number): number => (count === 0 ? 0 : Math.max(0, ns / 1e6 - this.resolutionMs));
    return {
      count,
      p50Ms: delayMs(h.percentile(50)),
      p99Ms: delayMs(h.percentile(99)),
      maxMs: delayMs(h.max),
      meanMs: delayMs(h.mean),
      resolutionMs: this.resolutionMs,
    };
  }
}
