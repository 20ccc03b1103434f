/**
 * Reconnect delays: exponential, capped, with "equal jitter" (half fixed, half random) so that
 * many players dropped by the same server restart do not all come back in the same instant.
 */
export const DEFAULT_BASE_MS = 300;
export const DEFAULT_CAP_MS = 10_000;
export const DEFAULT_FACTOR = 1.6;

export class Backoff {
  private attempt = 0;
  private readonly baseMs: number;
  private readonly capMs: number;
  private readonly factor: number;
  private readonly random: () => number;

  /** `random` returns [0, 1); injected so tests are deterministic. */
  constructor(opts: { baseMs?: number; capMs?: number; factor?: number; random: () => number }) {
    this.baseMs = opts.baseMs ?? DEFAULT_BASE_MS;
    this.capMs = opts.capMs ?? DEFAULT_CAP_MS;
    this.factor = opts.factor ?? DEFAULT_FACTOR;
    this.random = opts.random;
  }

  /** The delay before the next attempt; each call backs off further. */
  nextDelayMs(): number {
    const ceiling = Math.min(this.capMs, this.baseMs * this.factor ** this.attempt);
    this.attempt++;
    return ceiling / 2 + (this.random() * ceiling) / 2;
  }

  /** A connection that worked: start again from the base delay. */
  reset(): void {
    this.attempt = 0;
  }

  get attempts(): number {
    return this.attempt;
  }
}
