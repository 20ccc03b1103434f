import { DSP_DEFAULTS } from '../config.ts';
import { Envelope } from '../envelope.ts';
import type { Rng } from '../../music/rng.ts';
import { midiToHz, svfG } from '../tables.ts';
import type { TimbreGlide } from '../timbre-glide.ts';
import { allocateVoice } from '../voice-pool.ts';

/** Detune of the outer saws, drawn per note (cents). */
const DETUNE_MIN_CENTS = 5;
const DETUNE_MAX_CENTS = 12;
/** Filter LFO rate range (Hz) and depth (octaves, peak). */
const LFO_MIN_HZ = 0.02;
const LFO_MAX_HZ = 0.1;
const LFO_DEPTH_OCTAVES = 0.4;
/** Filter coefficients are recomputed every this many control periods (a power of two). */
const FILTER_UPDATE_TICKS = 4;
/** Cutoff from brightness: 500 Hz at 0 … 3 kHz at 1 (types.ts), exponential in between. */
const CUTOFF_DARK_HZ = 500;
const CUTOFF_RATIO = 6;
/** Mild resonance: Q 0.8 keeps the low-pass smooth without a peak. */
const FILTER_K = 1 / 0.8;
const ATTACK_SECONDS = { min: 1.2, max: 3 };
const RELEASE_SECONDS = { min: 4, max: 7 };
/** Largest pan offset of a voice (−1 … 1 scale); gentle spread. */
const PAN_SPREAD = 0.45;
/** Per-voice level before the instrument level (two saws of ±1 each). */
const VOICE_GAIN = 0.16;

class PadVoice {
  readonly env: Envelope;
  startFrame = 0;
  releaseAtFrame = 0;
  // Saw phases (cycles) and increments (cycles per half-rate sample).
  p1 = 0;
  p2 = 0;
  i1 = 0;
  i2 = 0;
  // State-variable filter state and coefficients.
  ic1 = 0;
  ic2 = 0;
  a1 = 0;
  a2 = 0;
  a3 = 0;
  gainL = 0;
  gainR = 0;
  lfoPhase = 0;
  lfoIncPerTick = 0;
  cutoffScale = 1;

  constructor(sampleRate: number, periodFrames: number) {
    this.env = new Envelope(sampleRate, periodFrames);
  }
}

/**
 * Pad: two detuned PolyBLEP saws per note through a 12 dB/oct state-variable low-pass whose
 * cutoff follows brightness and a slow per-voice LFO, with slow attack and long release.
 *
 * The voices run at half the sample rate. The pad is the synth's most expensive part (up to
 * eight voices at once, ~13 ns per voice-sample at full rate here, against a budget of ~100 ns
 * per frame for everything), and its low-pass keeps it below ~6 kHz, so 24 kHz is plenty:
 * aliases of the band-limited saws fold into the filter's stop band, and the linear
 * interpolation back to full rate leaves images above 18 kHz, 30 dB down. Half-rate samples are
 * computed on alternate frames (`odd`, aligned to absolute positions), so chunking does not
 * change the output; note starts are accurate to two frames (42 µs), under a 1–3 s attack.
 */
export class PadInstrument {
  droppedNotes = 0;
  private readonly voices: PadVoice[] = [];
  private readonly maxSounding: number;
  private readonly halfRate: number;
  /** Half-rate scratch buffers the voices add into before interpolation to full rate. */
  private readonly halfL: Float64Array;
  private readonly halfR: Float64Array;
  /** Control ticks so far (staggers the voices' filter updates). */
  private ticks = 0;
  /** True when the next full-rate frame computes a new half-rate sample. */
  private odd = false;
  private prevL = 0;
  private prevR = 0;
  private curL = 0;
  private curR = 0;

  constructor(
    private readonly sampleRate: number,
    private readonly controlFrames: number,
    private readonly rng: Rng,
  ) {
    this.maxSounding = DSP_DEFAULTS.maxVoices.pad;
    this.halfRate = sampleRate / 2;
    // Segments never exceed a control period: at most half of it (+1 for an odd start) here.
    this.halfL = new Float64Array((controlFrames >> 1) + 1);
    this.halfR = new Float64Array((controlFrames >> 1) + 1);
    for (let i = 0; i < this.maxSounding + DSP_DEFAULTS.spareVoices; i++) {
      this.voices.push(new PadVoice(this.halfRate, controlFrames >> 1));
    }
  }

  noteOn(
    midi: number,
    velocity: number,
    startFrame: number,
    durationFrames: number,
    framesToTick: number,
    timbre: TimbreGlide,
  ): void {
    const v = allocateVoice(this.voices, this.maxSounding);
    if (v === null) {
      this.droppedNotes++;
      return;
    }
    const rng = this.rng;
    const hr = this.halfRate;
    const hz = midiToHz(midi);
    // The two saws sit symmetrically around the note, ±detune/2 … the beating is the chorus.
    const detune = Math.pow(2, rng.range(DETUNE_MIN_CENTS, DETUNE_MAX_CENTS) / 2400);
    v.i1 = (hz * detune) / hr;
    v.i2 = hz / detune / hr;
    v.p1 = rng.next();
    v.p2 = rng.next();
    v.ic1 = 0;
    v.ic2 = 0;
    v.startFrame = startFrame;
    v.releaseAtFrame = startFrame + Math.max(0, durationFrames);
    const pan = rng.range(-PAN_SPREAD, PAN_SPREAD);
    const angle = ((pan + 1) * Math.PI) / 4;
    const level = VOICE_GAIN * (0.45 + 0.55 * velocity);
    v.gainL = Math.cos(angle) * level;
    v.gainR = Math.sin(angle) * level;
    v.lfoPhase = rng.next();
    v.lfoIncPerTick = (rng.range(LFO_MIN_HZ, LFO_MAX_HZ) * this.controlFrames) / this.sampleRate;
    // Higher and louder notes open the filter a little, as a player's touch would.
    v.cutoffScale = Math.pow(hz / 220, 0.25) * (0.75 + 0.35 * velocity);
    v.env.start(
      1,
      rng.range(ATTACK_SECONDS.min, ATTACK_SECONDS.max),
      1,
      1,
      rng.range(RELEASE_SECONDS.min, RELEASE_SECONDS.max),
      hr,
    );
    this.updateFilter(v, timbre);
    this.planEnvelope(v, this.halfSamplesIn(framesToTick));
  }

  /** Half-rate samples computed in the next `frames` full-rate frames. */
  private halfSamplesIn(frames: number): number {
    return this.odd ? (frames + 1) >> 1 : frames >> 1;
  }

  /** Control tick at absolute frame `positionFrames`, planning the next n frames. */
  control(positionFrames: number, n: number, timbre: TimbreGlide): void {
    const voices = this.voices;
    const half = this.halfSamplesIn(n);
    const tick = this.ticks++;
    for (let i = 0; i < voices.length; i++) {
      const v = voices[i]!;
      if (!v.env.active) continue;
      if (v.env.held && positionFrames >= v.releaseAtFrame) v.env.release();
      // The filter follows a ≤ 0.1 Hz LFO and a ~2 s timbre glide: every fourth period (11 ms)
      // is smooth enough, and the voices take turns, so the tan/pow/sin work is spread evenly.
      if (((tick + i) & (FILTER_UPDATE_TICKS - 1)) === 0) this.updateFilter(v, timbre);
      this.planEnvelope(v, half);
    }
  }

  /** Filter coefficients from brightness, the note and the voice's LFO. */
  private updateFilter(v: PadVoice, timbre: TimbreGlide): void {
    v.lfoPhase += v.lfoIncPerTick * FILTER_UPDATE_TICKS;
    if (v.lfoPhase >= 1) v.lfoPhase -= 1;
    const cutoff =
      CUTOFF_DARK_HZ *
      Math.pow(CUTOFF_RATIO, timbre.brightness) *
      v.cutoffScale *
      Math.pow(2, LFO_DEPTH_OCTAVES * Math.sin(2 * Math.PI * v.lfoPhase));
    const g = svfG(cutoff, this.halfRate);
    v.a1 = 1 / (1 + g * (g + FILTER_K));
    v.a2 = g * v.a1;
    v.a3 = g * v.a2;
  }

  /** Envelope plan for the next `half` half-rate samples. */
  private planEnvelope(v: PadVoice, half: number): void {
    // A note starting one frame before a tick may get no half-rate sample before it.
    if (half > 0) v.env.tick(half);
    else v.env.inc = 0;
  }

  /** Adds n frames of every sounding voice into busL/busR[0, n); false when silent (nothing added). */
  render(busL: Float64Array, busR: Float64Array, n: number): boolean {
    const k = this.halfSamplesIn(n);
    const hL = this.halfL;
    const hR = this.halfR;
    // hL/hR are zero here: the loop below clears each half-rate sample as it takes it.
    const any = k > 0 && this.renderVoices(hL, hR, k);
    if (!any && this.prevL === 0 && this.prevR === 0 && this.curL === 0 && this.curR === 0) {
      // Silent, and the interpolator holds nothing: only the frame parity moves on.
      if ((n & 1) === 1) this.odd = !this.odd;
      return false;
    }
    // Back to full rate: odd frames take the next half-rate sample (one sample late), even
    // frames the midpoint: linear interpolation.
    let odd = this.odd;
    let prevL = this.prevL;
    let prevR = this.prevR;
    let curL = this.curL;
    let curR = this.curR;
    let j = 0;
    for (let i = 0; i < n; i++) {
      if (odd) {
        prevL = curL;
        prevR = curR;
        curL = hL[j]!;
        curR = hR[j]!;
        hL[j] = 0;
        hR[j] = 0;
        j++;
        busL[i] += prevL;
        busR[i] += prevR;
      } else {
        busL[i] += 0.5 * (prevL + curL);
        busR[i] += 0.5 * (prevR + curR);
      }
      odd = !odd;
    }
    this.odd = odd;
    this.prevL = prevL;
    this.prevR = prevR;
    this.curL = curL;
    this.curR = curR;
    return true;
  }

  private renderVoices(hL: Float64Array, hR: Float64Array, n: number): boolean {
    let any = false;
    const voices = this.voices;
    for (let k = 0; k < voices.length; k++) {
      const v = voices[k]!;
      if (v.env.stage === 0) continue;
      any = true;
      let p1 = v.p1;
      let p2 = v.p2;
      const i1 = v.i1;
      const i2 = v.i2;
      let ic1 = v.ic1;
      let ic2 = v.ic2;
      const a1 = v.a1;
      const a2 = v.a2;
      const a3 = v.a3;
      let env = v.env.level;
      const inc = v.env.inc;
      const gl = v.gainL;
      const gr = v.gainR;
      for (let i = 0; i < n; i++) {
        // PolyBLEP saws: the naive ramp, corrected by a two-sample polynomial around each wrap.
        p1 += i1;
        if (p1 >= 1) p1 -= 1;
        let s1 = 2 * p1 - 1;
        if (p1 < i1) {
          const t = p1 / i1;
          s1 -= t + t - t * t - 1;
        } else if (p1 > 1 - i1) {
          const t = (p1 - 1) / i1;
          s1 -= t * t + t + t + 1;
        }
        p2 += i2;
        if (p2 >= 1) p2 -= 1;
        let s2 = 2 * p2 - 1;
        if (p2 < i2) {
          const t = p2 / i2;
          s2 -= t + t - t * t - 1;
        } else if (p2 > 1 - i2) {
          const t = (p2 - 1) / i2;
          s2 -= t * t + t + t + 1;
        }
        // TPT state-variable low-pass.
        const v3 = s1 + s2 - ic2;
        const v1 = a1 * ic1 + a2 * v3;
        const v2 = ic2 + a2 * ic1 + a3 * v3;
        ic1 = 2 * v1 - ic1;
        ic2 = 2 * v2 - ic2;
        const y = v2 * env;
        env += inc;
        hL[i] += y * gl;
        hR[i] += y * gr;
      }
      v.p1 = p1;
      v.p2 = p2;
      v.ic1 = ic1;
      v.ic2 = ic2;
      v.env.store(env);
    }
    return any;
  }
}
