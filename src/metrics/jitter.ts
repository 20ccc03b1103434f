// Jitter of a stream of sends: |interval between consecutive sends − chunk duration| (docs/metrics.md).
//
// Keep one tracker per paced stream (a station's broadcast tick, or one listener); only the last send time is
// kept, so it is O(1) in memory.
export class JitterTracker {
  private lastSendMs: number | undefined;

  constructor(private readonly chunkSeconds: number) {
    if (!(chunkSeconds > 0) || !Number.isFinite(chunkSeconds)) {
      throw new RangeError(`chunkSeconds must be a positive number, got ${chunkSeconds}`);
    }
  }

  /** Notes a send at sendMs (monotonic ms); answers its jitter in seconds, or undefined for the first send. */
  onSend(sendMs: number): number | undefined {
    const last = this.lastSendMs;
    this.lastSendMs = sendMs;
    if (last === undefined) return undefined;
    return Math.abs((sendMs - last) / 1000 - this.chunkSeconds);
  }

  /** Forgets the last send: call after a skip or discontinuity, where the interval is not a pacing interval. */
  reset(): void {
    this.lastSendMs = undefined;
  }
}
