import type { ParamsPatch } from '../protocol/messages.ts';

/**
 * Merges quick successive control changes (a slider dragged with the keyboard) into one `set`
 * every MIN_INTERVAL_MS at most, always ending with the latest values: the server allows 20
 * control messages a second and a change only takes effect at the next bar anyway.
 */
export const MIN_INTERVAL_MS = 250;

export class PatchCoalescer {
  private pending: ParamsPatch | null = null;
  private lastSentMs = -Infinity;
  private timer: ReturnType<typeof setTimeout> | null = null;

  constructor(
    private readonly send: (patch: ParamsPatch) => void,
    private readonly now: () => number,
    private readonly minIntervalMs = MIN_INTERVAL_MS,
  ) {}

  change(patch: ParamsPatch): void {
    this.pending = { ...this.pending, ...patch };
    if (this.timer) return;
    const waitMs = this.lastSentMs + this.minIntervalMs - this.now();
    if (waitMs <= 0) this.flush();
    else this.timer = setTimeout(() => this.flush(), waitMs);
  }

  /** Drops a pending change (e.g. a preset replaced it). */
  cancel(): void {
    this.pending = null;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
  }

  private flush(): void {
    this.timer = null;
    if (!this.pending) return;
    const patch = this.pending;
    this.pending = null;
    this.lastSentMs = this.now();
    this.send(patch);
  }
}
