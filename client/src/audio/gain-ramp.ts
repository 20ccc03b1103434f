/**
 * A gain that moves to a target along a raised-cosine curve, one frame at a time.
 * The curve starts and ends with zero slope, so neither end of a fade is audible as a click.
 * Pure and allocation-free: used inside the AudioWorklet's process().
 */
export class GainRamp {
  private fromGain: number;
  private toGain: number;
  private lengthFrames = 0;
  private doneFrames = 0;
  private current: number;
  private easeOut = false;

  constructor(initialGain: number) {
    this.fromGain = initialGain;
    this.toGain = initialGain;
    this.current = initialGain;
  }

  /**
   * Starts a ramp from the current gain to `targetGain` over `lengthFrames` (0 = jump).
   * `easeOut` (a quarter sine) rises fast at first: for fading in from silence, where a slope at
   * zero amplitude cannot click and music should be heard at once.
   */
  rampTo(targetGain: number, lengthFrames: number, shape: 'smooth' | 'easeOut' = 'smooth'): void {
    this.easeOut = shape === 'easeOut';
    this.fromGain = this.current;
    this.toGain = targetGain;
    this.lengthFrames = Math.max(0, Math.round(lengthFrames));
    this.doneFrames = 0;
    if (this.lengthFrames === 0) this.current = targetGain;
  }

  /** The gain for the next frame; advances the ramp by one frame. */
  next(): number {
    if (this.doneFrames < this.lengthFrames) {
      this.doneFrames++;
      const x = this.doneFrames / this.lengthFrames;
      const shape = this.easeOut ? Math.sin(0.5 * Math.PI * x) : 0.5 - 0.5 * Math.cos(Math.PI * x);
      this.current = this.fromGain + (this.toGain - this.fromGain) * shape;
    }
    return this.current;
  }

  get value(): number {
    return this.current;
  }

  get target(): number {
    return this.toGain;
  }

  get ramping(): boolean {
    return this.doneFrames < this.lengthFrames;
  }
}
