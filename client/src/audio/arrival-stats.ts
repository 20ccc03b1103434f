/**
 * Measures network jitter from chunk arrivals, using the chunks' positions as the clock.
 *
 * For each chunk, transit = arrival time − position / sampleRate (an unknown constant offset plus
 * the network and scheduling delay). What empties the buffer is a chunk arriving later than the
 * typical one, so lateness is measured against the median transit of a recent window, and the
 * jitter is a high percentile of it. The median (not the minimum) keeps a burst of early chunks,
 * e.g. the server's pre-roll at connect, from making every later chunk look late.
 */
export const DEFAULT_WINDOW_MS = 10_000;
/** Bounded history: 512 arrivals cover 10 s even with 20 ms chunks. */
export const DEFAULT_CAPACITY = 512;
export const JITTER_PERCENTILE = 0.98;
/** Fewer samples than this give no estimate. */
export const MIN_SAMPLES = 8;
/**
 * Arrivals in the first second of a connection are not counted: they carry the server's burst
 * and the page's own start-up (worklet compilation, decoder set-up), which delayed handling by
 * up to ~200 ms in headless Chromium here and would otherwise hold the target high for a minute.
 */
export const WARMUP_MS = 1000;

export class ArrivalStats {
  private readonly arrivalsMs: Float64Array;
  private readonly transitsMs: Float64Array;
  private readonly scratch: Float64Array;
  private count = 0;
  private head = 0;
  private readonly windowMs: number;
  private ignoreBeforeMs = -Infinity;
  private maxLatenessValue = 0;

  constructor(opts: { windowMs?: number; capacity?: number } = {}) {
    const capacity = opts.capacity ?? DEFAULT_CAPACITY;
    this.windowMs = opts.windowMs ?? DEFAULT_WINDOW_MS;
    this.arrivalsMs = new Float64Array(capacity);
    this.transitsMs = new Float64Array(capacity);
    this.scratch = new Float64Array(capacity);
  }

  /** Forget everything (a new connection has a new transit offset); `nowMs` starts the warm-up. */
  reset(nowMs = -Infinity): void {
    this.count = 0;
    this.head = 0;
    this.ignoreBeforeMs = nowMs + WARMUP_MS;
    this.maxLatenessValue = 0;
  }

  /** Records one chunk; returns the current jitter estimate in ms (0 until MIN_SAMPLES). */
  add(arrivalMs: number, positionFrames: number, sampleRate: number): number {
    if (arrivalMs < this.ignoreBeforeMs) return 0;
    const capacity = this.arrivalsMs.length;
    this.arrivalsMs[this.head] = arrivalMs;
    this.transitsMs[this.head] = arrivalMs - (positionFrames / sampleRate) * 1000;
    this.head = (this.head + 1) % capacity;
    if (this.count < capacity) this.count++;
    return this.jitterMs(arrivalMs);
  }

  /** p98 of (transit − median transit) over the window ending at `nowMs`. */
  jitterMs(nowMs: number): number {
    const capacity = this.arrivalsMs.length;
    let n = 0;
    for (let i = 0; i < this.count; i++) {
      const idx = (this.head - 1 - i + capacity) % capacity;
      if (nowMs - this.arrivalsMs[idx] > this.windowMs) break;
      this.scratch[n++] = this.transitsMs[idx];
    }
    if (n < MIN_SAMPLES) {
      this.maxLatenessValue = 0;
      return 0;
    }
    const sorted = this.scratch.subarray(0, n).sort();
    const median = sorted[Math.floor((n - 1) / 2)];
    const high = sorted[Math.min(n - 1, Math.ceil(JITTER_PERCENTILE * (n - 1)))];
    this.maxLatenessValue = Math.max(0, sorted[n - 1] - median);
    return Math.max(0, high - median);
  }

  /**
   * The largest lateness in the window at the last estimate, ms. A rare outage (a 300 ms Wi-Fi
   * stall every 10 s is 1 chunk in 100) is above the p98 but shows here.
   */
  get maxLatenessMs(): number {
    return this.maxLatenessValue;
  }
}
