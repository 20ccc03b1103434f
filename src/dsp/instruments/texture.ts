import { DSP_DEFAULTS } from '../config.ts';
import type { Instrument } from '../instrument.ts';
import { Envelope } from '../envelope.ts';
import type { Rng } from '../../music/rng.ts';
import { panLeft, panRight } from '../pan.ts';
import { setSvf } from '../svf.ts';
import { INT32_TO_UNIT, midiToHz } from '../tables.ts';
import { pitchClassOf } from '../../music/types.ts';
import { allocateVoice, releaseVoices, voicePitchClasses } from '../voice-pool.ts';

const ATTACK_SECONDS = 2.5;
const RELEASE_T60_SECONDS = 5;
/** Band-pass sweep: rate range (Hz) and depth (octaves, peak). */
const SWEEP_MIN_HZ = 0.01;
const SWEEP_MAX_HZ = 0.05;
const SWEEP_OCTAVES = 1;
/** Band-pass damping 1/Q (Q ≈ 2.5: airy, still pitched). */
const FILTER_K = 0.4;
/** Auto-pan rate (Hz) and width (−1 … 1 scale). */
const PAN_HZ = 0.03;
const PAN_WIDTH = 0.6;
const VOICE_GAIN = 0.5;

class TextureVoice {
  readonly env: Envelope;
  startFrame = 0;
  releaseAtFrame = 0;
  /** Pitch class of the note (0–11), for releases at a key change. */
  pitchClass = 0;
  noise = 1;
  ic1 = 0;
  ic2 = 0;
  a1 = 0;
  a2 = 0;
  a3 = 0;
  centreHz = 0;
  sweepPhase = 0;
  sweepIncPerTick = 0;
  panPhase = 0;
  gainL = 0;
  gainR = 0;
  gainLInc = 0;
  /** Pan gains the ramps head for, set by setPan() at each control tick. */
  targetL = 0;
  targetR = 0;
  gainRInc = 0;
  level = 0;

  constructor(sampleRate: number, periodFrames: number) {
    this.env = new Envelope(sampleRate, periodFrames);
  }
}

/** Texture ("air"): white noise through a slowly sweeping band-pass, drifting across the stereo field. */
export class TextureInstrument implements Instrument {
  readonly stereo = true;
  droppedNotes = 0;
  /** Voices faded out early to make room for a new note. */
  voiceSteals = 0;
  private readonly voices: TextureVoice[] = [];
  private readonly maxSounding = DSP_DEFAULTS.maxVoices.texture;
  private readonly panIncPerTick: number;

  constructor(
    private readonly sampleRate: number,
    private readonly controlFrames: number,
    private readonly rng: Rng,
  ) {
    for (let i = 0; i < this.maxSounding + DSP_DEFAULTS.spareVoices; i++) {
      this.voices.push(new TextureVoice(sampleRate, controlFrames));
    }
    this.panIncPerTick = (PAN_HZ * controlFrames) / sampleRate;
  }

  noteOn(
    midi: number,
    velocity: number,
    startFrame: number,
    durationFrames: number,
    framesToTick: number,
  ): void {
    const v = allocateVoice(this.voices, this.maxSounding, this);
    if (v === null) {
      this.droppedNotes++;
      return;
    }
    const rng = this.rng;
    // xorshift must not start at 0; the seeded draw keeps the noise reproducible.
    v.noise = rng.nextU32() | 1 | 0;
    v.ic1 = 0;
    v.ic2 = 0;
    v.centreHz = midiToHz(midi);
    v.sweepPhase = rng.next();
    v.sweepIncPerTick = (rng.range(SWEEP_MIN_HZ, SWEEP_MAX_HZ) * this.controlFrames) / this.sampleRate;
    v.panPhase = rng.next();
    v.level = VOICE_GAIN * (0.4 + 0.6 * velocity);
    v.startFrame = startFrame;
    v.releaseAtFrame = startFrame + Math.max(0, durationFrames);
    v.pitchClass = pitchClassOf(midi);
    v.env.start(1, ATTACK_SECONDS, 1, 1, RELEASE_T60_SECONDS, this.sampleRate);
    // The gains start at their target: nothing to glide from, the envelope starts at zero anyway.
    this.setPan(v);
    v.gainL = v.targetL;
    v.gainR = v.targetR;
    this.plan(v, framesToTick);
  }

  private setPan(v: TextureVoice): void {
    const pan = PAN_WIDTH * Math.sin(2 * Math.PI * v.panPhase);
    v.targetL = panLeft(pan, v.level);
    v.targetR = panRight(pan, v.level);
  }

  /** A release event: held notes not in `keepPitchClasses` release at `atFrame` (voice-pool.ts). */
  release(keepPitchClasses: number, atFrame: number): void {
    releaseVoices(this.voices, keepPitchClasses, atFrame);
  }

  pitchClasses(startedBefore: number, heldOnly: boolean): number {
    return voicePitchClasses(this.voices, startedBefore, heldOnly);
  }

  control(positionFrames: number, n: number): void {
    for (let i = 0; i < this.voices.length; i++) {
      const v = this.voices[i]!;
      if (!v.env.active) continue;
      if (v.env.held && positionFrames >= v.releaseAtFrame) v.env.release();
      v.sweepPhase += v.sweepIncPerTick;
      if (v.sweepPhase >= 1) v.sweepPhase -= 1;
      v.panPhase += this.panIncPerTick;
      if (v.panPhase >= 1) v.panPhase -= 1;
      this.plan(v, n);
    }
  }

  private plan(v: TextureVoice, n: number): void {
    const hz = v.centreHz * Math.pow(2, SWEEP_OCTAVES * Math.sin(2 * Math.PI * v.sweepPhase));
    setSvf(v, hz, FILTER_K, this.sampleRate);
    this.setPan(v);
    v.gainLInc = (v.targetL - v.gainL) / n;
    v.gainRInc = (v.targetR - v.gainR) / n;
    v.env.tick(n);
  }

  /** Adds n frames of every sounding voice into busL/busR[0, n); false when silent. */
  render(busL: Float64Array, busR: Float64Array, n: number): boolean {
    let any = false;
    for (let k = 0; k < this.voices.length; k++) {
      const v = this.voices[k]!;
      if (v.env.stage === 0) continue;
      any = true;
      let noise = v.noise;
      // Module constants are read once: imported bindings may cost a getter call each time.
      const unit = INT32_TO_UNIT;
      let ic1 = v.ic1;
      let ic2 = v.ic2;
      const a1 = v.a1;
      const a2 = v.a2;
      const a3 = v.a3;
      let env = v.env.level;
      const einc = v.env.inc;
      let gl = v.gainL;
      let gr = v.gainR;
      const glInc = v.gainLInc;
      const grInc = v.gainRInc;
      for (let i = 0; i < n; i++) {
        noise ^= noise << 13;
        noise ^= noise >>> 17;
        noise ^= noise << 5;
        const x = noise * unit;
        // TPT state-variable filter; the band output v1 scaled by k has unity gain at the centre.
        const v3 = x - ic2;
        const v1 = a1 * ic1 + a2 * v3;
        const v2 = ic2 + a2 * ic1 + a3 * v3;
        ic1 = 2 * v1 - ic1;
        ic2 = 2 * v2 - ic2;
        const y = v1 * FILTER_K * env;
        env += einc;
        busL[i] += y * gl;
        busR[i] += y * gr;
        gl += glInc;
        gr += grInc;
      }
      v.noise = noise;
      v.ic1 = ic1;
      v.ic2 = ic2;
      v.gainL = gl;
      v.gainR = gr;
      v.env.store(env);
    }
    return any;
  }
}
