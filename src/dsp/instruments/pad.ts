import { DSP_DEFAULTS } from '../config.ts';
import type { Instrument } from '../instrument.ts';
import { Envelope } from '../envelope.ts';
import type { Rng } from '../../music/rng.ts';
import { panLeft, panRight } from '../pan.ts';
import { setSvf } from '../svf.ts';
import { midiToHz } from '../tables.ts';
import type { TimbreGlide } from '../timbre-glide.ts';
import { pitchClassOf } from '../../music/types.ts';
import { allocateVoice, releaseVoices, voicePitchClasses } from '../voice-pool.ts';

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
/**
 * A one-pole low-pass at 1.5 × the cutoff after the SVF (18 dB/oct in all): rounder edges.
 * With the SVF alone a lone low note's saw edges scored 13 on the click detector; with it, 10.
 */
const LP_RATIO = 1.5;
const ATTACK_SECONDS = { min: 1.2, max: 3 };
/**
 * Release (60 dB) range. 3–5 s rather than 4–7 s: the default station averaged 6.9 sounding
 * voices instead of 7.6 and stopped stealing (23 steals in 2 minutes before); the reverb carries
 * the tail.
 */
const RELEASE_SECONDS = { min: 3, max: 5 };
/** Largest pan offset of a voice (−1 … 1 scale); gentle spread. */
const PAN_SPREAD = 0.45;
/** Per-voice level before the instrument level (two saws of ±1 each). */
const VOICE_GAIN = 0.16;

class PadVoice {
  readonly env: Envelope;
  startFrame = 0;
  releaseAtFrame = 0;
  /** Pitch class of the note (0–11), for releases at a key change. */
  pitchClass = 0;
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
  /** One-pole low-pass after the SVF (18 dB/oct in all) and its coefficient. */
  lp = 0;
  lpCoef = 1;
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
 * aliases of the band-limited saws fold into the filter's stop band, and a 4-point half-band
 * interpolator takes it back to full rate. Half-rate samples are
 * computed on alternate frames (`odd`, aligned to absolute positions), so chunking does not
 * change the output; note starts are accurate to two frames (42 µs), under a 1–3 s attack.
 */
export class PadInstrument implements Instrument {
  readonly stereo = true;
  droppedNotes = 0;
  /** Voices faded out early to make room for a new note. */
  voiceSteals = 0;
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
  // The last four half-rate samples per channel (h0 oldest), for the interpolator.
  private h0L = 0;
  private h1L = 0;
  private h2L = 0;
  private h3L = 0;
  private h0R = 0;
  private h1R = 0;
  private h2R = 0;
  private h3R = 0;

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
    const v = allocateVoice(this.voices, this.maxSounding, this);
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
    v.lp = 0;
    v.startFrame = startFrame;
    v.releaseAtFrame = startFrame + Math.max(0, durationFrames);
    v.pitchClass = pitchClassOf(midi);
    const pan = rng.range(-PAN_SPREAD, PAN_SPREAD);
    const level = VOICE_GAIN * (0.45 + 0.55 * velocity);
    v.gainL = panLeft(pan, level);
    v.gainR = panRight(pan, level);
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
  /** A release event: held notes not in `keepPitchClasses` release at `atFrame` (voice-pool.ts). */
  release(keepPitchClasses: number, atFrame: number): void {
    releaseVoices(this.voices, keepPitchClasses, atFrame);
  }

  pitchClasses(startedBefore: number, heldOnly: boolean): number {
    return voicePitchClasses(this.voices, startedBefore, heldOnly);
  }

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
    setSvf(v, cutoff, FILTER_K, this.halfRate);
    v.lpCoef =
      1 - Math.exp((-2 * Math.PI * Math.min(cutoff * LP_RATIO, 0.4 * this.halfRate)) / this.halfRate);
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
    if (
      !any &&
      this.h0L === 0 &&
      this.h1L === 0 &&
      this.h2L === 0 &&
      this.h3L === 0 &&
      this.h0R === 0 &&
      this.h1R === 0 &&
      this.h2R === 0 &&
      this.h3R === 0
    ) {
      // Silent, and the interpolator holds nothing: only the frame parity moves on.
      if ((n & 1) === 1) this.odd = !this.odd;
      return false;
    }
    // Back to full rate: odd frames take the next half-rate sample (two samples late), even
    // frames the 4-point half-band midpoint (−1, 9, 9, −1)/16. Linear interpolation left images
    // near 24 kHz − f only ~25 dB down at 19–21 kHz, enough for the second-difference click
    // detector to hear a low pad note's saw edges as clicks; this midpoint is ~10 dB cleaner.
    let odd = this.odd;
    let h0L = this.h0L;
    let h1L = this.h1L;
    let h2L = this.h2L;
    let h3L = this.h3L;
    let h0R = this.h0R;
    let h1R = this.h1R;
    let h2R = this.h2R;
    let h3R = this.h3R;
    // Frames come in pairs (odd: a new half-rate sample, even: a midpoint), so after at most
    // one even frame to align, each pass takes two frames with no alternating branch.
    let j = 0;
    let i = 0;
    if (!odd && n > 0) {
      busL[0] += 0.5625 * (h1L + h2L) - 0.0625 * (h0L + h3L);
      busR[0] += 0.5625 * (h1R + h2R) - 0.0625 * (h0R + h3R);
      odd = true;
      i = 1;
    }
    for (; i < n; i += 2) {
      h0L = h1L;
      h1L = h2L;
      h2L = h3L;
      h3L = hL[j]!;
      h0R = h1R;
      h1R = h2R;
      h2R = h3R;
      h3R = hR[j]!;
      hL[j] = 0;
      hR[j] = 0;
      j++;
      busL[i] += h1L;
      busR[i] += h1R;
      if (i + 1 === n) {
        odd = false;
        break;
      }
      busL[i + 1] += 0.5625 * (h1L + h2L) - 0.0625 * (h0L + h3L);
      busR[i + 1] += 0.5625 * (h1R + h2R) - 0.0625 * (h0R + h3R);
    }
    this.odd = odd;
    this.h0L = h0L;
    this.h1L = h1L;
    this.h2L = h2L;
    this.h3L = h3L;
    this.h0R = h0R;
    this.h1R = h1R;
    this.h2R = h2R;
    this.h3R = h3R;
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
      let lp = v.lp;
      const lc = v.lpCoef;
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
        lp += lc * (v2 - lp);
        const y = lp * env;
        env += inc;
        hL[i] += y * gl;
        hR[i] += y * gr;
      }
      v.p1 = p1;
      v.p2 = p2;
      v.ic1 = ic1;
      v.ic2 = ic2;
      v.lp = lp;
      v.env.store(env);
    }
    return any;
  }
}
