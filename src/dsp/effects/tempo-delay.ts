/**
 * Tempo-synced ping-pong delay: a dotted-eighth echo that alternates left and right, with a
 * band-limited feedback path (one-pole low-pass and high-pass) so repeats get darker and thinner,
 * as tape echoes do. The delay time glides (per-sample linear ramps, fractional read with linear
 * interpolation) when the tempo changes: the echoes bend in pitch briefly instead of clicking.
 */

const FEEDBACK = 0.42;
const FEEDBACK_LOWPASS_HZ = 2800;
const FEEDBACK_HIGHPASS_HZ = 180;
/** Echo length in beats (a dotted eighth). */
export const DELAY_BEATS = 0.75;
const DENORMAL_GUARD = 1e-12;

export class TempoDelay {
  private readonly bufL: Float32Array;
  private readonly bufR: Float32Array;
  private readonly mask: number;
  private readonly maxFrames: number;
  private readonly lpCoef: number;
  private readonly hpCoef: number;
  private readonly glideCoef: number;
  private write = 0;
  /** Delay time now (frames, fractional) and its per-sample change until the next control tick. */
  private delayFrames: number;
  private delayInc = 0;
  private targetFrames: number;
  private lpL = 0;
  private lpR = 0;
  private hpL = 0;
  private hpR = 0;

  constructor(
    private readonly sampleRate: number,
    bpm: number,
    maxDelaySeconds: number,
    glideSeconds: number,
    controlFrames: number,
  ) {
    let size = 1;
    while (size < maxDelaySeconds * sampleRate + 4) size <<= 1;
    this.bufL = new Float32Array(size);
    this.bufR = new Float32Array(size);
    this.mask = size - 1;
    this.maxFrames = maxDelaySeconds * sampleRate;
    this.lpCoef = 1 - Math.exp((-2 * Math.PI * FEEDBACK_LOWPASS_HZ) / sampleRate);
    this.hpCoef = 1 - Math.exp((-2 * Math.PI * FEEDBACK_HIGHPASS_HZ) / sampleRate);
    this.glideCoef = 1 - Math.exp(-controlFrames / (glideSeconds * sampleRate));
    this.targetFrames = this.framesFor(bpm);
    this.delayFrames = this.targetFrames;
  }

  private framesFor(bpm: number): number {
    const b = Number.isFinite(bpm) && bpm > 0 ? bpm : 70;
    return Math.round(Math.min(this.maxFrames, Math.max(1, ((DELAY_BEATS * 60) / b) * this.sampleRate)));
  }

  setBpm(bpm: number): void {
    this.targetFrames = this.framesFor(bpm);
  }

  /** Control tick: plans the delay-time ramp over the next n frames and flushes tiny states. */
  control(n: number): void {
    const next = this.delayFrames + (this.targetFrames - this.delayFrames) * this.glideCoef;
    if (Math.abs(next - this.targetFrames) < 1e-3) {
      // Settled: snap to the (whole-frame) target so the fast path without interpolation runs.
      this.delayFrames = this.targetFrames;
      this.delayInc = 0;
    } else {
      this.delayInc = (next - this.delayFrames) / n;
    }
    if (Math.abs(this.lpL) < 1e-20) this.lpL = 0;
    if (Math.abs(this.lpR) < 1e-20) this.lpR = 0;
    if (Math.abs(this.hpL) < 1e-20) this.hpL = 0;
    if (Math.abs(this.hpR) < 1e-20) this.hpR = 0;
  }

  reset(): void {
    this.bufL.fill(0);
    this.bufR.fill(0);
    this.lpL = this.lpR = this.hpL = this.hpR = 0;
  }

  /** Echoes of input[0, n) (mono send) into outL/outR[0, n), OVERWRITE. */
  process(input: Float64Array, outL: Float64Array, outR: Float64Array, n: number): void {
    const bufL = this.bufL;
    const bufR = this.bufR;
    const mask = this.mask;
    const lpc = this.lpCoef;
    const hpc = this.hpCoef;
    let w = this.write;
    let d = this.delayFrames;
    const dInc = this.delayInc;
    let lpL = this.lpL;
    let lpR = this.lpR;
    let hpL = this.hpL;
    let hpR = this.hpR;
    if (dInc === 0 && d === Math.floor(d)) {
      // Fast path: a whole-frame delay that is not gliding needs no interpolation.
      for (let i = 0; i < n; i++) {
        const j = (w - d) & mask;
        const yL = bufL[j]!;
        const yR = bufR[j]!;
        lpL += lpc * (yL - lpL);
        lpR += lpc * (yR - lpR);
        hpL += hpc * (lpL - hpL);
        hpR += hpc * (lpR - hpR);
        bufL[w] = input[i]! + (lpR - hpR) * FEEDBACK + DENORMAL_GUARD - DENORMAL_GUARD;
        bufR[w] = (lpL - hpL) * FEEDBACK + DENORMAL_GUARD - DENORMAL_GUARD;
        w = (w + 1) & mask;
        outL[i] = yL;
        outR[i] = yR;
      }
      this.write = w;
      this.lpL = lpL;
      this.lpR = lpR;
      this.hpL = hpL;
      this.hpR = hpR;
      return;
    }
    for (let i = 0; i < n; i++) {
      const pos = w - d;
      const p0 = Math.floor(pos);
      const frac = pos - p0;
      const j0 = p0 & mask;
      const j1 = (p0 + 1) & mask;
      const yL = bufL[j0]! + (bufL[j1]! - bufL[j0]!) * frac;
      const yR = bufR[j0]! + (bufR[j1]! - bufR[j0]!) * frac;
      d += dInc;
      // Feedback path: low-pass then high-pass (the one-pole's low band subtracted).
      lpL += lpc * (yL - lpL);
      lpR += lpc * (yR - lpR);
      hpL += hpc * (lpL - hpL);
      hpR += hpc * (lpR - hpR);
      // Ping-pong: the input enters on the left; each channel's echo feeds the other.
      bufL[w] = input[i]! + (lpR - hpR) * FEEDBACK + DENORMAL_GUARD - DENORMAL_GUARD;
      bufR[w] = (lpL - hpL) * FEEDBACK + DENORMAL_GUARD - DENORMAL_GUARD;
      w = (w + 1) & mask;
      outL[i] = yL;
      outR[i] = yR;
    }
    this.write = w;
    this.delayFrames = d;
    this.lpL = lpL;
    this.lpR = lpR;
    this.hpL = hpL;
    this.hpR = hpR;
  }
}
