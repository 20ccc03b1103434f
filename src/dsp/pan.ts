/**
 * Equal-power panning, the one pan law of the synth: pan −1 (left) … 0 (centre) … 1 (right) maps
 * to the angle (pan + 1)·π/4, left gain cos, right gain sin, so L² + R² = 1 at every position
 * (the centre is −3 dB on each side).
 */

/** Left gain of an equal-power pan position, times `level`. */
export function panLeft(pan: number, level: number): number {
  return Math.cos(((pan + 1) * Math.PI) / 4) * level;
}

/** Right gain of an equal-power pan position, times `level`. */
export function panRight(pan: number, level: number): number {
  return Math.sin(((pan + 1) * Math.PI) / 4) * level;
}
