/** Deterministic test signals and measurements for the codec tests. */

/** A 440 Hz sine of `amplitude` plus seeded white noise of `noiseAmplitude` (peak), 48 kHz. */
export function sinePlusNoise(
  frames: number,
  hz = 440,
  amplitude = 0.5,
  noiseAmplitude = 0.02,
  seed = 1,
): Float32Array {
  const out = new Float32Array(frames);
  let s = seed >>> 0;
  for (let i = 0; i < frames; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    out[i] = amplitude * Math.sin((2 * Math.PI * hz * i) / 48_000) + noiseAmplitude * (s / 2 ** 32 - 0.5) * 2;
  }
  return out;
}

export function rms(x: Float32Array, start = 0, end = x.length): number {
  let sum = 0;
  for (let i = start; i < end; i++) sum += x[i]! * x[i]!;
  return Math.sqrt(sum / Math.max(1, end - start));
}

/** Magnitude of the DFT of x[start…start+n) at `hz` (Goertzel), normalised so a sine of amplitude A gives A. */
export function toneMagnitude(
  x: Float32Array,
  hz: number,
  start: number,
  n: number,
  sampleRate = 48_000,
): number {
  const w = (2 * Math.PI * hz) / sampleRate;
  const c = 2 * Math.cos(w);
  let s1 = 0;
  let s2 = 0;
  for (let i = 0; i < n; i++) {
    // Hann window against leakage from the block edges.
    const win = 0.5 - 0.5 * Math.cos((2 * Math.PI * i) / (n - 1));
    const s0 = x[start + i]! * win + c * s1 - s2;
    s2 = s1;
    s1 = s0;
  }
  const power = s1 * s1 + s2 * s2 - c * s1 * s2;
  return (Math.sqrt(Math.max(0, power)) * 2) / (n * 0.5);
}

/** The frequency (in `stepHz` steps over [loHz, hiHz]) with the largest magnitude. */
export function peakFrequency(
  x: Float32Array,
  start: number,
  n: number,
  loHz = 50,
  hiHz = 4000,
  stepHz = 5,
): number {
  let best = 0;
  let bestHz = loHz;
  for (let hz = loHz; hz <= hiHz; hz += stepHz) {
    const m = toneMagnitude(x, hz, start, n);
    if (m > best) {
      best = m;
      bestHz = hz;
    }
  }
  return bestHz;
}
