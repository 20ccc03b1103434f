/**
 * The sleep timer: after the chosen time, the music fades out over FADE_OUT_MS and stops.
 * The fade is long on purpose: falling asleep to a sudden silence wakes people up.
 */
export const SLEEP_FADE_OUT_MS = 30_000;

export class SleepTimer {
  private timer: ReturnType<typeof setTimeout> | null = null;
  private endsAtMs = 0;

  constructor(
    private readonly onFadeStart: (fadeMs: number) => void,
    private readonly onEnd: () => void,
    private readonly now: () => number = () => Date.now(),
  ) {}

  /** Starts (or restarts) the timer; 0 cancels it. */
  set(minutes: number): void {
    this.cancel();
    if (!(minutes > 0)) return;
    const totalMs = minutes * 60_000;
    this.endsAtMs = this.now() + totalMs;
    const fadeMs = Math.min(SLEEP_FADE_OUT_MS, totalMs);
    this.timer = setTimeout(() => {
      this.onFadeStart(fadeMs);
      this.timer = setTimeout(() => {
        this.timer = null;
        this.onEnd();
      }, fadeMs);
    }, totalMs - fadeMs);
  }

  cancel(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
  }

  /** Milliseconds until the music stops, or null when no timer runs. */
  remainingMs(): number | null {
    return this.timer ? Math.max(0, this.endsAtMs - this.now()) : null;
  }
}

/**
 * What the page shows for a personal session's sleep timer as its welcome tells it (a reload, or a
 * session resumed or recreated): when the music ends (null: no server timer), and the choice to
 * select (`minutes` when one of `choices` is that, else `'0'`, Off, with the time left beside it).
 * `sleep` absent (an older server): nothing is known, the page keeps what it had (null).
 */
export function welcomeSleep(
  sleep: { minutes: number; endsAtMs: number } | null | undefined,
  choices: readonly string[],
): { endsAtMs: number | null; select: string } | null {
  if (sleep === undefined) return null;
  if (sleep === null) return { endsAtMs: null, select: '0' };
  const minutes = String(sleep.minutes);
  return { endsAtMs: sleep.endsAtMs, select: choices.includes(minutes) ? minutes : '0' };
}
