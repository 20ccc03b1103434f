/**
 * The one clock for scheduling: monotonic milliseconds that are the same in every thread of the
 * process, so a station clock set in an engine worker means the same instant to the pacer on the
 * main thread, and a worker restarted later still agrees with both.
 *
 * `performance.now()` alone is monotonic but counts from each thread's own start
 * (`performance.timeOrigin` differs per worker thread); `process.hrtime` is process-wide but
 * allocates on every call. So each thread measures once, at load, the offset between the two (both
 * read the same monotonic system clock, which NTP slews but never steps) and `monoNowMs()` is
 * `performance.now()` plus that constant: allocation-free, and equal across threads to within a few
 * microseconds.
 *
 * Wall time (Unix ms, `Date.now()`) jumps when the system clock is set; it is read only at the
 * edges: the play time stamped in chunk headers (fixed per station when it is created, see
 * `wallOffsetMs`), `pong.serverTime`, logs. `setWallJumpMs` steps the wall clock of the calling
 * thread to simulate such a jump in tests and fault injection; scheduling never sees it.
 */

/** Offset from this thread's `performance.now()` to the process-wide monotonic clock, in ms. */
const MONO_OFFSET_MS = measureOffset();

function measureOffset(): number {
  // Take the tightest of a few paired reads, so the offset's error is a microsecond or less.
  let best = Infinity;
  let offset = 0;
  for (let i = 0; i < 5; i++) {
    const a = performance.now();
    const hr = Number(process.hrtime.bigint()) / 1e6;
    const b = performance.now();
    if (b - a < best) {
      best = b - a;
      offset = hr - (a + b) / 2;
    }
  }
  return offset;
}

/** The real `Date.now`, kept before any simulated jump replaces it. */
const realDateNow = Date.now; // Date.now ignores `this`; restored as is

/** Simulated wall-clock jump (ms) on this thread; 0 outside tests and fault injection. */
let wallJumpMs = 0;

/** Monotonic ms, process-wide: for every due time, deadline, interval and timeout. Never jumps. */
export function monoNowMs(): number {
  return performance.now() + MONO_OFFSET_MS;
}

/** Unix ms, as the rest of the world sees it (and as a step of the system clock moves it). */
export function wallNowMs(): number {
  return realDateNow() + wallJumpMs;
}

/** Wall minus monotonic time now: add it to a monotonic instant to get the Unix ms it maps to. */
export function wallOffsetMs(): number {
  return wallNowMs() - monoNowMs();
}

/**
 * Simulates a step of the system clock by `ms` on this thread (relative to the real clock; 0 undoes
 * it): `wallNowMs()` and `Date.now()` (for every library on the thread) move by `ms`, as they would
 * after `date -s` or an NTP step; timers and `monoNowMs()` do not, as they would not. Tests and
 * fault injection only.
 */
export function setWallJumpMs(ms: number): void {
  if (!Number.isFinite(ms)) throw new RangeError(`wall clock jump must be finite, got ${ms}`);
  wallJumpMs = ms;
  Date.now = ms === 0 ? realDateNow : () => realDateNow() + wallJumpMs;
}

/** The simulated jump currently applied on this thread. */
export function wallJumpNowMs(): number {
  return wallJumpMs;
}
