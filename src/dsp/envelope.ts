import { DSP_DEFAULTS } from './config.ts';

export const ENV_IDLE = 0;
export const ENV_ATTACK = 1;
export const ENV_DECAY = 2;
export const ENV_RELEASE = 3;
export const ENV_STEAL = 4;
/** The last period ramped to zero; the next tick frees the voice. */
export const ENV_FINAL = 5;

/**
 * A control-rate envelope: at each control tick it computes where the level should be after the
 * next n frames and hands the voice a per-sample increment (`inc`) to get there linearly. The
 * voice adds `inc` per sample in its loop and stores the level back, so the shape does not
 * depend on how a control period is split into segments.
 *
 * Shape: linear attack to `peak`, exponential decay towards `sustain`, exponential release,
 * or a short linear fade when the voice is stolen.
 */
export class Envelope {
  level = 0;
  inc = 0;
  stage = ENV_IDLE;
  private peak = 1;
  private attackPerFrame = 0;
  private decayCoefPerFrame = 1;
  private sustain = 1;
  private releaseCoefPerFrame = 1;
  /** The coefficients raised to the control period, so a full period needs no Math.pow. */
  private decayCoefPerPeriod = 1;
  private releaseCoefPerPeriod = 1;
  private periodFrames = 0;
  private readonly stealPerFrame: number;
  private readonly silence = DSP_DEFAULTS.silenceLevel;

  /** periodFrames: the usual n of tick() (the control period at this envelope's rate). */
  constructor(sampleRate: number, periodFrames: number) {
    this.stealPerFrame = 1 / (DSP_DEFAULTS.stealFadeSeconds * sampleRate);
    this.periodFrames = periodFrames;
  }

  /**
   * Starts a note from the current level (so a retrigger never jumps).
   * decaySeconds and releaseSeconds are times to fall by 60 dB.
   */
  start(
    peak: number,
    attackSeconds: number,
    decaySeconds: number,
    sustain: number,
    releaseSeconds: number,
    sampleRate: number,
  ): void {
    this.peak = peak;
    this.attackPerFrame = peak / Math.max(1, attackSeconds * sampleRate);
    this.decayCoefPerFrame = Math.pow(0.001, 1 / Math.max(1, decaySeconds * sampleRate));
    this.sustain = sustain * peak;
    this.releaseCoefPerFrame = Math.pow(0.001, 1 / Math.max(1, releaseSeconds * sampleRate));
    this.decayCoefPerPeriod = Math.pow(this.decayCoefPerFrame, this.periodFrames);
    this.releaseCoefPerPeriod = Math.pow(this.releaseCoefPerFrame, this.periodFrames);
    this.stage = ENV_ATTACK;
  }

  release(): void {
    if (this.stage === ENV_ATTACK || this.stage === ENV_DECAY) this.stage = ENV_RELEASE;
  }

  steal(): void {
    if (this.stage !== ENV_IDLE && this.stage !== ENV_FINAL) this.stage = ENV_STEAL;
  }

  /** True while the voice makes sound (or is fading out). */
  get active(): boolean {
    return this.stage !== ENV_IDLE;
  }

  /** True when the voice holds a note (not released, not being stolen). */
  get held(): boolean {
    return this.stage === ENV_ATTACK || this.stage === ENV_DECAY;
  }

  /** Plans the next n frames: sets `inc`. Call once per control period (or rest of one). */
  tick(n: number): void {
    const level = this.level;
    let next = level;
    switch (this.stage) {
      case ENV_IDLE:
        this.level = 0;
        this.inc = 0;
        return;
      case ENV_ATTACK:
        next = level + this.attackPerFrame * n;
        if (next >= this.peak) {
          next = this.peak;
          this.stage = ENV_DECAY;
        }
        break;
      case ENV_DECAY:
        next =
          this.sustain +
          (level - this.sustain) *
            (n === this.periodFrames ? this.decayCoefPerPeriod : Math.pow(this.decayCoefPerFrame, n));
        if (next < this.silence) {
          next = 0;
          this.stage = ENV_FINAL;
        }
        break;
      case ENV_RELEASE:
        next =
          level *
          (n === this.periodFrames ? this.releaseCoefPerPeriod : Math.pow(this.releaseCoefPerFrame, n));
        if (next < this.silence) {
          next = 0;
          this.stage = ENV_FINAL;
        }
        break;
      case ENV_STEAL:
        next = level - this.stealPerFrame * n;
        if (next <= 0) {
          next = 0;
          this.stage = ENV_FINAL;
        }
        break;
      case ENV_FINAL:
        // The previous period ramped from near silence to zero: the voice is free now.
        this.stage = ENV_IDLE;
        this.level = 0;
        this.inc = 0;
        return;
    }
    this.inc = (next - level) / n;
  }

  /** Called by the voice after rendering k frames with the local copy of the level. */
  store(levelAfter: number): void {
    this.level = levelAfter;
  }
}
