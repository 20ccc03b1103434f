/** The next change of a station's schedule, as `GET /api/stations/:id` gives it (PROTOCOL.md "Schedules"). */
export interface NextChange {
  /** `HH:MM`, the station's local time. */
  localTime: string;
  preset: string | null;
  /** Milliseconds until it, when the answer was made. */
  inMs: number;
}

const capitalize = (word: string) => word.charAt(0).toUpperCase() + word.slice(1);

/** "in 2 h 5 min", "in 12 min", "in under a minute". */
export function untilText(ms: number): string {
  const minutes = Math.floor(Math.max(0, ms) / 60_000);
  if (minutes < 1) return 'in under a minute';
  const h = Math.floor(minutes / 60);
  const m = minutes % 60;
  return `in ${h > 0 ? `${h} h` : ''}${h > 0 && m > 0 ? ' ' : ''}${m > 0 || h === 0 ? `${m} min` : ''}`;
}

/** The line under the mood: "Next: Sleep at 22:00 (in 2 h 5 min)"; `elapsedMs` since the answer. */
export function describeNextChange(next: NextChange, elapsedMs: number): string {
  const what = next.preset === null ? 'new settings' : capitalize(next.preset);
  return `Next: ${what} at ${next.localTime} (${untilText(next.inMs - elapsedMs)})`;
}
