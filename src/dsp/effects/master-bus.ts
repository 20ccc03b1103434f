/**
 * The master bus: a gentle feed-forward compressor (slow RMS detector, soft knee, 2:1) that
 * evens out density changes, then a look-ahead peak limiter that keeps every sample below the
 * ceiling. Both work on control periods at absolute positions (the synth calls control() on its
 * ticks), and both apply their gain as per-sample linear ramps: no block-by-block normalisation,
 * no steps.
 *
 * Limiter: the signal is delayed by two control periods. When period i leaves the delay, the
 * peaks of periods i and i+1 are known, and the gain ramps over period i from its current value
 * to min(release(g), ceiling/peak_i, ceiling/peak_{i+1}). Both ends of the ramp are at most
 * ceiling/peak_i, and a linear ramp between them stays below it, so no sample of period i can
 * exceed the ceiling; and the gain is already down when a peak arrives (look-ahead), so the
 * limiter never clips a waveform.
 */

import { pcm16Word } from '../../codec/pcm16.ts';

/** The float outputs processPcm16 passes to the shared loop (it writes words instead). */
const NO_FLOATS = new Float32Array(0);
const COMP_THRESHOLD_DB = -24;
const COMP_RATIO = 2;
const COMP_KNEE_DB = 10;
const COMP_ATTACK_SECONDS = 0.08;
const COMP_RELEASE_SECONDS = 0.8;
const LIMITER_RELEASE_SECONDS = 0.15;

export class MasterBus {
  private readonly periodFrames: number;
  private readonly ceiling: number;
  private readonly compAttack: number;
  private readonly compRelease: number;
  private readonly limRelease: number;
  // Compressor.
  private sumSq = 0;
  private levelDb = -120;
  private compGain = 1;
  private compInc = 0;
  // Limiter: a delay of two periods, and the peaks of the two periods inside it.
  private readonly delayL: Float64Array;
  private readonly delayR: Float64Array;
  private readonly delayMask: number;
  private readonly delayFrames: number;
  private delayPos = 0;
  private peakNow = 0;
  private peakPrev = 0;
  private limGain = 1;
  private limInc = 0;
  /** Times a non-finite sample reached the bus (the synth resets its effects when this grows). */
  nonFiniteCount = 0;
  /** Lowest limiter gain reached (1 = never limited), for diagnostics and tests. */
  minLimiterGain = 1;

  constructor(sampleRate: number, controlFrames: number, ceilingDb: number) {
    this.periodFrames = controlFrames;
    this.ceiling = Math.pow(10, ceilingDb / 20);
    const periodsPerSecond = sampleRate / controlFrames;
    this.compAttack = 1 - Math.exp(-1 / (COMP_ATTACK_SECONDS * periodsPerSecond));
    this.compRelease = 1 - Math.exp(-1 / (COMP_RELEASE_SECONDS * periodsPerSecond));
    this.limRelease = 1 - Math.exp(-1 / (LIMITER_RELEASE_SECONDS * periodsPerSecond));
    this.delayFrames = 2 * controlFrames;
    let size = 1;
    while (size < this.delayFrames + 1) size <<= 1;
    this.delayL = new Float64Array(size);
    this.delayR = new Float64Array(size);
    this.delayMask = size - 1;
  }

  /** Static compressor curve: gain (dB) for a level (dB), soft knee around the threshold. */
  private static compGainDb(levelDb: number): number {
    const over = levelDb - COMP_THRESHOLD_DB;
    const slope = 1 / COMP_RATIO - 1;
    if (2 * over <= -COMP_KNEE_DB) return 0;
    if (2 * over >= COMP_KNEE_DB) return slope * over;
    const x = over + COMP_KNEE_DB / 2;
    return (slope * x * x) / (2 * COMP_KNEE_DB);
  }

  /**
   * Control tick at a period boundary: the period just completed is measured, and the gains for
   * the next one are planned.
   */
  control(): void {
    const n = this.periodFrames;
    const ms = this.sumSq / n;
    this.sumSq = 0;
    if (!Number.isFinite(ms) || !Number.isFinite(this.peakNow)) {
      this.nonFiniteCount++;
      this.reset();
      return;
    }
    // Compressor: level follower in dB (attack when rising, release when falling).
    const db = ms > 1e-12 ? 10 * Math.log10(ms) : -120;
    this.levelDb += (db - this.levelDb) * (db > this.levelDb ? this.compAttack : this.compRelease);
    const targetComp = Math.pow(10, MasterBus.compGainDb(this.levelDb) / 20);
    this.compInc = (targetComp - this.compGain) / n;
    // Limiter: the period leaving the delay next has peak peakPrev; the one after it, peakNow.
    // Peaks are measured after the compressor gain, which is applied before the delay.
    const c = this.ceiling;
    let target = this.limGain + (1 - this.limGain) * this.limRelease;
    if (this.peakPrev * target > c) target = c / this.peakPrev;
    if (this.peakNow * target > c) target = c / this.peakNow;
    this.limInc = (target - this.limGain) / n;
    if (target < this.minLimiterGain) this.minLimiterGain = target;
    this.peakPrev = this.peakNow;
    this.peakNow = 0;
  }

  reset(): void {
    this.delayL.fill(0);
    this.delayR.fill(0);
    this.sumSq = 0;
    this.peakNow = this.peakPrev = 0;
    this.levelDb = -120;
    this.compGain = 1;
    this.compInc = 0;
    this.limGain = 1;
    this.limInc = 0;
  }

  /** Processes inL/inR[0, n) into outL/outR[offset, offset + n), OVERWRITE. n ≤ one period. */
  process(
    inL: Float64Array,
    inR: Float64Array,
    outL: Float32Array,
    outR: Float32Array,
    offset: number,
    n: number,
  ): void {
    this.run(inL, inR, outL, outR, offset, null, n);
  }

  /**
   * As `process`, but the output goes straight to 16-bit PCM: one 32-bit word per frame (see
   * `pcm16Word`; native byte order, s16le on the little-endian platforms this is used on) into
   * words[wordOffset, wordOffset + n). Each sample is rounded to float32 first, so the words are
   * exactly what `process` followed by `encodePcm16` gives, without the float buffers between.
   */
  processPcm16(
    inL: Float64Array,
    inR: Float64Array,
    words: Uint32Array,
    wordOffset: number,
    n: number,
  ): void {
    this.run(inL, inR, NO_FLOATS, NO_FLOATS, wordOffset, words, n);
  }

  /** The bus itself: into outL/outR at `offset`, or into `words` at `offset` when given. */
  private run(
    inL: Float64Array,
    inR: Float64Array,
    outL: Float32Array,
    outR: Float32Array,
    offset: number,
    words: Uint32Array | null,
    n: number,
  ): void {
    const dl = this.delayL;
    const dr = this.delayR;
    const mask = this.delayMask;
    const lag = this.delayFrames;
    let pos = this.delayPos;
    let sumSq = this.sumSq;
    let peak = this.peakNow;
    let cg = this.compGain;
    const cInc = this.compInc;
    let lg = this.limGain;
    const lInc = this.limInc;
    for (let i = 0; i < n; i++) {
      const il = inL[i]!;
      const ir = inR[i]!;
      // Feed-forward: the detector hears the bus before the compressor's gain.
      sumSq += 0.5 * (il * il + ir * ir);
      const l = il * cg;
      const r = ir * cg;
      cg += cInc;
      peak = Math.max(peak, Math.abs(l), Math.abs(r));
      dl[pos] = l;
      dr[pos] = r;
      const j = (pos - lag) & mask;
      // No clamp needed: both ends of the gain ramp keep this period's peak at or under the
      // ceiling (see the class comment); rounding adds ~1e-16 relative, far below the 1.6 dB
      // margin to full scale. (The limiter test checks the output never exceeds the ceiling.)
      // The branch goes the same way for a whole call: predicted, about a cycle a frame.
      if (words === null) {
        outL[offset + i] = dl[j]! * lg;
        outR[offset + i] = dr[j]! * lg;
      } else {
        words[offset + i] = pcm16Word(Math.fround(dl[j]! * lg), Math.fround(dr[j]! * lg));
      }
      lg += lInc;
      pos = (pos + 1) & mask;
    }
    this.delayPos = pos;
    this.sumSq = sumSq;
    this.peakNow = peak;
    this.compGain = cg;
    this.limGain = lg;
  }
}
