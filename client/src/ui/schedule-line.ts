import { describeNextChange, type NextChange } from './schedule-text.ts';

/** After the next change's time, how long to wait before asking for the one after (the server checks once a second). */
export const PASSED_MARGIN_MS = 2000;
/** At most one question a this often (a glide's steps come as often as every 2 s). */
export const MIN_ASK_GAP_MS = 10_000;
/** The countdown's text changes by the minute: redrawn at least this often. */
export const REDRAW_MS = 20_000;

/**
 * When the page's schedule line (the station's next change, PROTOCOL.md "Schedules") must ask the
 * server again: once the next change has passed (PASSED_MARGIN_MS after it), and when a `params`
 * message comes from the schedule (an entry fired, or the schedule was set or replaced), at most
 * once per MIN_ASK_GAP_MS (a question wanted sooner is put off, not dropped). Pure: the page gives
 * it the time, asks when `due()` says so and sets one timer to `delayMs()`.
 */
export class ScheduleLine {
  private next: NextChange | null = null;
  private receivedMs = 0;
  private lastAskMs = -Infinity;
  /** When a question is wanted (a `params` message from the schedule), or null. */
  private wantAt: number | null = null;

  /** The server's answer: the schedule's next change, or null (no schedule). */
  received(next: NextChange | null, nowMs: number): void {
    this.next = next;
    this.receivedMs = nowMs;
  }

  /** A `params` message with this source came. */
  params(source: string | undefined, nowMs: number): void {
    if (source !== 'schedule') return;
    const at = Math.max(nowMs, this.lastAskMs + MIN_ASK_GAP_MS);
    if (this.wantAt === null || at < this.wantAt) this.wantAt = at;
  }

  /** Whether to ask the server now; true also records the question. */
  due(nowMs: number): boolean {
    const passed = this.next !== null && nowMs >= this.passedAt() && nowMs >= this.lastAskMs + MIN_ASK_GAP_MS;
    if (!passed && (this.wantAt === null || nowMs < this.wantAt)) return false;
    this.lastAskMs = nowMs;
    this.wantAt = null;
    return true;
  }

  /** The line to show now, or null (no schedule, or its next change passed and is being asked for). */
  text(nowMs: number): string | null {
    if (this.next === null || nowMs >= this.passedAt()) return null;
    return describeNextChange(this.next, nowMs - this.receivedMs);
  }

  /** Milliseconds until the line needs the page again (to ask, or to redraw its countdown). */
  delayMs(nowMs: number): number {
    let at = nowMs + REDRAW_MS;
    if (this.wantAt !== null) at = Math.min(at, this.wantAt);
    if (this.next !== null) {
      const passed = Math.max(this.passedAt(), this.lastAskMs + MIN_ASK_GAP_MS);
      at = Math.min(at, passed);
    }
    return Math.max(250, at - nowMs);
  }

  private passedAt(): number {
    return this.receivedMs + this.next!.inMs + PASSED_MARGIN_MS;
  }
}
