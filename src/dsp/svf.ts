/**
 * The state-variable filter every part of the synth uses (pad low-pass, texture and percussion
 * band-passes, the output high-pass): Zavalishin's topology-preserving-transform SVF.
 *
 * Coefficients are computed here, at control rate. The per-sample step stays inline in each
 * voice's loop (a call that returned two states would allocate); it is always, for input x and
 * states ic1, ic2:
 *
 *     v3 = x − ic2;  v1 = a1·ic1 + a2·v3;  v2 = ic2 + a2·ic1 + a3·v3;
 *     ic1 = 2·v1 − ic1;  ic2 = 2·v2 − ic2;
 *     low-pass v2, band-pass v1 (k·v1: unity gain at the centre), high-pass x − k·v1 − v2.
 */

/** Where the coefficients go: a voice or a filter with these three fields. */
export interface SvfCoefficients {
  a1: number;
  a2: number;
  a3: number;
}

/** The `g` of the bilinear transform, with the cutoff kept in 5 Hz … 0.45·sampleRate (where the warp explodes). */
export function svfG(cutoffHz: number, sampleRate: number): number {
  const fc = Math.min(Math.max(cutoffHz, 5), 0.45 * sampleRate);
  return Math.tan((Math.PI * fc) / sampleRate);
}

/** Sets `to`'s a1, a2, a3 for a cutoff (or centre) in Hz and damping k = 1/Q. */
export function setSvf(to: SvfCoefficients, cutoffHz: number, k: number, sampleRate: number): void {
  const g = svfG(cutoffHz, sampleRate);
  const a1 = 1 / (1 + g * (g + k));
  const a2 = g * a1;
  to.a1 = a1;
  to.a2 = a2;
  to.a3 = g * a2;
}
