/**
 * The jitter buffer's target fill, from measured arrival jitter.
 *
 * target = chunk duration + jitter (a high percentile of lateness, see arrival-stats.ts) + safety.
 * It rises at once when the jitter rises (so the buffer grows before the late chunks that would
 * empty it), jumps on an underrun, and falls slowly, only after the network has been steady for
 * a while (DECREASE_HOLD_S), at DECREASE_MS_PER_S. It does not fall below what the largest
 * lateness still in the arrival window needs (chunk + max lateness + safety): the p98 misses a
 * rare, periodic outage (a 300 ms stall every 10 s), and without this floor the target grew on
 * each underrun and decayed back into the next one, about once a minute.
 */
export const MIN_TARGET_MS = 80;
export const MAX_TARGET_MS = 2000;
/** Covers the browser's own scheduling noise (main-thread decode, message passing, GC). */
export const SAFETY_MS = 30;
export const DECREASE_HOLD_S = 10;
export const DECREASE_MS_PER_S = 2;
/** On an underrun: at least this much more, and at least UNDERRUN_GROWTH times the old target. */
export const UNDERRUN_STEP_MS = 40;
export const UNDERRUN_GROWTH = 1.3;
/** Late arrivals this soon after an underrun are taken as its cause: the target covers them fully. */
export const UNDERRUN_EXPLAIN_S = 2;

export class JitterTarget {
  private chunkMs: number;
  private jitterMs = 0;
  private maxLatenessMs = 0;
  private targetValueMs: number;
  /** Seconds of steady network since the target last went up. */
  private steadyS = 0;
  /** Seconds since the last underrun. */
  private sinceUnderrunS = Infinity;

  constructor(chunkMs = 100) {
    this.chunkMs = chunkMs;
    this.targetValueMs = this.desiredMs();
  }

  private desiredMs(): number {
    return clampMs(this.chunkMs + this.jitterMs + SAFETY_MS);
  }

  setChunkMs(chunkMs: number): void {
    this.chunkMs = chunkMs;
    this.raiseTo(this.desiredMs());
  }

  /**
   * New jitter estimate from the arrival statistics: the p98 lateness (sets the target) and the
   * largest lateness in the window (keeps the target from decaying below what it needs).
   */
  setJitterMs(jitterMs: number, maxLatenessMs = jitterMs): void {
    this.jitterMs = Math.max(0, jitterMs);
    this.maxLatenessMs = Math.max(this.jitterMs, maxLatenessMs);
    this.raiseTo(this.desiredMs());
    // The late chunks that explain a recent underrun: cover them in full, not just their p98.
    if (this.sinceUnderrunS < UNDERRUN_EXPLAIN_S) this.raiseTo(this.floorMs());
  }

  onUnderrun(): void {
    const grown = Math.max(
      this.targetValueMs * UNDERRUN_GROWTH,
      this.targetValueMs + UNDERRUN_STEP_MS,
      // What the latest outage needs, when it is known already.
      this.floorMs(),
    );
    this.sinceUnderrunS = 0;
    this.targetValueMs = clampMs(grown);
    this.steadyS = 0;
  }

  /** Advances time; lowers the target slowly once the network has been steady. */
  tick(dtS: number): void {
    this.steadyS += dtS;
    this.sinceUnderrunS += dtS;
    const desired = this.desiredMs();
    if (this.steadyS >= DECREASE_HOLD_S && this.targetValueMs > desired) {
      const floor = this.floorMs();
      const lowest = Math.max(desired, Math.min(this.targetValueMs, floor));
      this.targetValueMs = Math.max(lowest, this.targetValueMs - DECREASE_MS_PER_S * dtS);
    }
  }

  /** What the largest lateness in the arrival window needs. */
  private floorMs(): number {
    return clampMs(this.chunkMs + this.maxLatenessMs + SAFETY_MS);
  }

  private raiseTo(ms: number): void {
    if (ms > this.targetValueMs) {
      this.targetValueMs = ms;
      this.steadyS = 0;
    }
  }

  get targetMs(): number {
    return this.targetValueMs;
  }
}

function clampMs(ms: number): number {
  return Math.min(MAX_TARGET_MS, Math.max(MIN_TARGET_MS, ms));
}
