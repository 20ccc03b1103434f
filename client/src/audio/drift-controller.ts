/**
 * Corrects clock drift between the station (sender) and the sound card (receiver) by playing
 * slightly faster or slower: a PI controller from buffer-fill error to a resampling ratio.
 *
 * ratio > 1 consumes the buffer faster (fill above target), < 1 slower. The ratio never leaves
 * 1 ± MAX_RATIO_OFFSET (0.5 %, about 8.6 cents: inaudible on slow ambient material) and moves at
 * most RATIO_SLEW_PER_S per second so that the pitch never wobbles audibly.
 *
 * Loop design (fill F in ms, target T, drift d): dF/dt = 1000·(d − kp·e − I), dI/dt = ki·e.
 * With kp = 1e-4/ms and ki = 5e-6/(ms·s) the natural frequency is ~0.07 rad/s with damping ~0.7:
 * a 50 ms error saturates the correction, and a steady 0.3 % drift is absorbed by the integral
 * term with no steady-state error (test/client/drift-controller.test.ts).
 */
export const MAX_RATIO_OFFSET = 0.005;
export const MAX_INTEGRAL_OFFSET = 0.004;
export const RATIO_SLEW_PER_S = 0.002;
export const DEFAULT_KP_PER_MS = 1e-4;
export const DEFAULT_KI_PER_MS_S = 5e-6;
/** Time constant of the fill smoothing; averages the saw-tooth of chunk arrivals. */
export const FILL_SMOOTHING_S = 1;

export class DriftController {
  private integral = 0;
  private ratioValue = 1;
  private smoothedFillMs = -1;
  private readonly kpPerMs: number;
  private readonly kiPerMsS: number;

  constructor(opts: { kpPerMs?: number; kiPerMsS?: number } = {}) {
    this.kpPerMs = opts.kpPerMs ?? DEFAULT_KP_PER_MS;
    this.kiPerMsS = opts.kiPerMsS ?? DEFAULT_KI_PER_MS_S;
  }

  /** Forget the fill history (after an underrun or a new stream); keeps the learnt drift (integral). */
  resetFill(): void {
    this.smoothedFillMs = -1;
  }

  /** Call once per audio block with the current fill; returns the ratio to use for this block. */
  update(fillMs: number, targetMs: number, dtS: number): number {
    if (this.smoothedFillMs < 0) this.smoothedFillMs = fillMs;
    else this.smoothedFillMs += (fillMs - this.smoothedFillMs) * (1 - Math.exp(-dtS / FILL_SMOOTHING_S));
    const errorMs = this.smoothedFillMs - targetMs;
    const proportional = this.kpPerMs * errorMs;
    const wanted = proportional + this.integral;
    // Anti-windup: integrate only while the output is not saturated in the same direction.
    if (Math.abs(wanted) < MAX_RATIO_OFFSET || Math.sign(errorMs) !== Math.sign(wanted)) {
      this.integral = clamp(this.integral + this.kiPerMsS * errorMs * dtS, MAX_INTEGRAL_OFFSET);
    }
    const desired = 1 + clamp(proportional + this.integral, MAX_RATIO_OFFSET);
    const maxStep = RATIO_SLEW_PER_S * dtS;
    this.ratioValue += clamp(desired - this.ratioValue, maxStep);
    return this.ratioValue;
  }

  get ratio(): number {
    return this.ratioValue;
  }

  get fillMs(): number {
    return Math.max(0, this.smoothedFillMs);
  }
}

function clamp(x: number, limit: number): number {
  return x > limit ? limit : x < -limit ? -limit : x;
}
