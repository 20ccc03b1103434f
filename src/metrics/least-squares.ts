// Ordinary least-squares slope of y over x, used for memory growth rates (here and in the benchmark report).

/**
 * Slope of the least-squares line through (xs[i], ys[i]), in y units per x unit. Answers NaN with fewer than
 * two points or when every x is the same (no line is defined). Both series are centred on their means first:
 * x is often a timestamp in ms (~1e12), whose square would lose every significant digit of the variance.
 */
export function leastSquaresSlope(xs: ArrayLike<number>, ys: ArrayLike<number>): number {
  const n = Math.min(xs.length, ys.length);
  if (n < 2) return Number.NaN;
  let meanX = 0;
  let meanY = 0;
  for (let i = 0; i < n; i++) {
    meanX += xs[i];
    meanY += ys[i];
  }
  meanX /= n;
  meanY /= n;
  let covXY = 0;
  let varX = 0;
  for (let i = 0; i < n; i++) {
    const dx = xs[i] - meanX;
    covXY += dx * (ys[i] - meanY);
    varX += dx * dx;
  }
  return varX > 0 ? covXY / varX : Number.NaN;
}
