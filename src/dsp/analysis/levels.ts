/**
 * Sample-level measurements: RMS, peak, decibels, non-finite counts.
 * All functions take an optional frame range [start, end) so callers can measure views
 * without copying. Pure, allocation-free.
 */

/** Linear amplitude → dBFS (−Infinity for 0). */
export function toDb(linear: number): number {
  return 20 * Math.log10(linear);
}

/** dBFS → linear amplitude. */
export function fromDb(db: number): number {
  return Math.pow(10, db / 20);
}

/** Root mean square of x[start, end). Returns 0 for an empty range. */
export function rms(x: ArrayLike<number>, start = 0, end = x.length): number {
  let sum = 0;
  for (let i = start; i < end; i++) sum += x[i]! * x[i]!;
  return end > start ? Math.sqrt(sum / (end - start)) : 0;
}

/** RMS of x[start, end) in dBFS (a full-scale sine is −3.01 dBFS). */
export function rmsDb(x: ArrayLike<number>, start = 0, end = x.length): number {
  return toDb(rms(x, start, end));
}

/** Largest |sample| of x[start, end) (sample peak, not true peak: see true-peak.ts). */
export function peakAbs(x: ArrayLike<number>, start = 0, end = x.length): number {
  let p = 0;
  for (let i = start; i < end; i++) {
    const a = Math.abs(x[i]!);
    if (a > p) p = a;
  }
  return p;
}

/** How many samples of x[start, end) are NaN or ±Infinity. */
export function countNonFinite(x: ArrayLike<number>, start = 0, end = x.length): number {
  let n = 0;
  for (let i = start; i < end; i++) if (!Number.isFinite(x[i]!)) n++;
  return n;
}

/**
 * How many samples of x[start, end) are subnormal (0 < |v| < 2^-126, the float32 range where
 * CPUs slow down). A DSP graph that leaves subnormals in its state costs time after silence.
 */
export function countSubnormal(x: ArrayLike<number>, start = 0, end = x.length): number {
  const minNormal = 1.1754943508222875e-38;
  let n = 0;
  for (let i = start; i < end; i++) {
    const a = Math.abs(x[i]!);
    if (a > 0 && a < minNormal) n++;
  }
  return n;
}
