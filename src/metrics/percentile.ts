// Order statistics for small sample sets (CPU samples, benchmark series).

/** Nearest-rank percentile (p in 0…100) of the values; NaN when there are none. Does not modify the input. */
export function percentile(values: ArrayLike<number>, p: number): number {
  const n = values.length;
  if (n === 0) return Number.NaN;
  if (!(p >= 0 && p <= 100)) throw new RangeError(`p must be between 0 and 100, got ${p}`);
  const sorted = Float64Array.from(values).sort();
  // Nearest rank: the smallest value with at least p% of the values at or below it.
  const rank = Math.max(1, Math.ceil((p / 100) * n));
  return sorted[rank - 1];
}
