import { setSvf, type SvfCoefficients } from '../svf.ts';

/**
 * Stereo 12 dB/oct high-pass (TPT state-variable filter, Q 0.707): removes sub-bass rumble and
 * DC from everything but the drone, which is the only part meant to live down there.
 */
export class StereoHighPass {
  private readonly coef: SvfCoefficients = { a1: 0, a2: 0, a3: 0 };
  private readonly k = Math.SQRT2;
  private l1 = 0;
  private l2 = 0;
  private r1 = 0;
  private r2 = 0;

  constructor(cutoffHz: number, sampleRate: number) {
    setSvf(this.coef, cutoffHz, this.k, sampleRate);
  }

  /** Filters bufL/bufR[0, n) in place. */
  process(bufL: Float64Array, bufR: Float64Array, n: number): void {
    const a1 = this.coef.a1;
    const a2 = this.coef.a2;
    const a3 = this.coef.a3;
    const k = this.k;
    let l1 = this.l1;
    let l2 = this.l2;
    let r1 = this.r1;
    let r2 = this.r2;
    for (let i = 0; i < n; i++) {
      let x = bufL[i]!;
      let v3 = x - l2;
      let v1 = a1 * l1 + a2 * v3;
      let v2 = l2 + a2 * l1 + a3 * v3;
      l1 = 2 * v1 - l1;
      l2 = 2 * v2 - l2;
      bufL[i] = x - k * v1 - v2;
      x = bufR[i]!;
      v3 = x - r2;
      v1 = a1 * r1 + a2 * v3;
      v2 = r2 + a2 * r1 + a3 * v3;
      r1 = 2 * v1 - r1;
      r2 = 2 * v2 - r2;
      bufR[i] = x - k * v1 - v2;
    }
    this.l1 = l1;
    this.l2 = l2;
    this.r1 = r1;
    this.r2 = r2;
  }

  /**
   * The synth's output stage in one pass (one pass over the buffers instead of three):
   * music += wet·gRev + echo·gDly (gains ramped in closed form from `phase`), high-passed in
   * place, then the drone added (after the filter: it is the one part meant to live below
   * 40 Hz). Clears the drone bus.
   */
  processMix(
    musicL: Float64Array,
    musicR: Float64Array,
    wetL: Float64Array,
    wetR: Float64Array,
    echoL: Float64Array,
    echoR: Float64Array,
    drone: Float64Array,
    rev0: number,
    revInc: number,
    dly0: number,
    dlyInc: number,
    phase: number,
    n: number,
  ): void {
    const a1 = this.coef.a1;
    const a2 = this.coef.a2;
    const a3 = this.coef.a3;
    const k = this.k;
    let l1 = this.l1;
    let l2 = this.l2;
    let r1 = this.r1;
    let r2 = this.r2;
    if (revInc === 0 && dlyInc === 0) {
      // Steady return levels (the usual case): no ramp arithmetic.
      for (let i = 0; i < n; i++) {
        const d = drone[i]!;
        drone[i] = 0;
        let x = musicL[i]! + wetL[i]! * rev0 + echoL[i]! * dly0;
        let v3 = x - l2;
        let v1 = a1 * l1 + a2 * v3;
        let v2 = l2 + a2 * l1 + a3 * v3;
        l1 = 2 * v1 - l1;
        l2 = 2 * v2 - l2;
        musicL[i] = x - k * v1 - v2 + d;
        x = musicR[i]! + wetR[i]! * rev0 + echoR[i]! * dly0;
        v3 = x - r2;
        v1 = a1 * r1 + a2 * v3;
        v2 = r2 + a2 * r1 + a3 * v3;
        r1 = 2 * v1 - r1;
        r2 = 2 * v2 - r2;
        musicR[i] = x - k * v1 - v2 + d;
      }
    } else {
      for (let i = 0; i < n; i++) {
        const gRev = rev0 + revInc * (phase + i);
        const gDly = dly0 + dlyInc * (phase + i);
        const d = drone[i]!;
        drone[i] = 0;
        let x = musicL[i]! + wetL[i]! * gRev + echoL[i]! * gDly;
        let v3 = x - l2;
        let v1 = a1 * l1 + a2 * v3;
        let v2 = l2 + a2 * l1 + a3 * v3;
        l1 = 2 * v1 - l1;
        l2 = 2 * v2 - l2;
        musicL[i] = x - k * v1 - v2 + d;
        x = musicR[i]! + wetR[i]! * gRev + echoR[i]! * gDly;
        v3 = x - r2;
        v1 = a1 * r1 + a2 * v3;
        v2 = r2 + a2 * r1 + a3 * v3;
        r1 = 2 * v1 - r1;
        r2 = 2 * v2 - r2;
        musicR[i] = x - k * v1 - v2 + d;
      }
    }
    this.l1 = l1;
    this.l2 = l2;
    this.r1 = r1;
    this.r2 = r2;
  }

  /** Control tick: flush near-zero states (subnormals after long silence). */
  flushDenormals(): void {
    if (Math.abs(this.l1) < 1e-20) this.l1 = 0;
    if (Math.abs(this.l2) < 1e-20) this.l2 = 0;
    if (Math.abs(this.r1) < 1e-20) this.r1 = 0;
    if (Math.abs(this.r2) < 1e-20) this.r2 = 0;
  }

  reset(): void {
    this.l1 = this.l2 = this.r1 = this.r2 = 0;
  }
}
