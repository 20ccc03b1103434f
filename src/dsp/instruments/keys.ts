import { DSP_DEFAULTS } from '../config.ts';
import type { Instrument } from '../instrument.ts';
import { Envelope } from '../envelope.ts';
import { panLeft, panRight } from '../pan.ts';
import { midiToHz, SINE_TABLE, SINE_TABLE_SIZE } from '../tables.ts';
import type { TimbreGlide } from '../timbre-glide.ts';
import { pitchClassOf } from '../../music/types.ts';
import { allocateVoice, releaseVoices, voicePitchClasses } from '../voice-pool.ts';

/** Modulator:carrier ratio from bellness: 1:1 (electric piano) … 1:3.5 (bell). */
const RATIO_MIN = 1;
const RATIO_SPAN = 2.5;
/** Peak modulation index (radians) at full velocity and brightness. */
const INDEX_MAX_RADIANS = 3.2;
/** The index falls by 1/e in this time: much faster than the amplitude, so the tone mellows. */
const INDEX_DECAY_SECONDS = 0.35;
/** Floor the index settles to, as a fraction of its peak, so long notes keep a little shimmer. */
const INDEX_FLOOR = 0.08;
const ATTACK_SECONDS = 0.006;
/** Amplitude falls by 60 dB over this while held (shorter for high notes, like a struck bar). */
const DECAY_T60_SECONDS = 7;
/** Release after note-off: long, into the reverb. */
const RELEASE_T60_SECONDS = 3;
const VOICE_GAIN = 0.2;

class KeysVoice {
  readonly env: Envelope;
  startFrame = 0;
  releaseAtFrame = 0;
  /** Pitch class of the note (0–11), for releases at a key change. */
  pitchClass = 0;
  /** Carrier phase (cycles) and increment: read from the sine table, phase-modulated. */
  pc = 0;
  ic = 0;
  /** Modulator as a rotating phasor (cos, sin): four multiplies, no table read. */
  mCos = 1;
  mSin = 0;
  rotCos = 1;
  rotSin = 0;
  /** Modulation index in cycles (radians / 2π), ramped per sample. */
  idx = 0;
  idxInc = 0;
  idxPeak = 0;
  idxFloor = 0;
  idxCoefPerFrame = 1;
  /** idxCoefPerFrame raised to the control period (a full period needs no Math.pow). */
  idxCoefPerPeriod = 1;
  gainL = 0;
  gainR = 0;

  constructor(sampleRate: number, periodFrames: number) {
    this.env = new Envelope(sampleRate, periodFrames);
  }
}

/**
 * Keys: two-operator FM (sine modulating a sine's phase). Velocity sets level and peak index;
 * brightness scales the index, bellness the ratio. The index decays faster than the amplitude,
 * as in a struck bell or an electric piano's tine.
 */
export class KeysInstrument implements Instrument {
  readonly stereo = true;
  droppedNotes = 0;
  /** Voices faded out early to make room for a new note. */
  voiceSteals = 0;
  private readonly voices: KeysVoice[] = [];
  private readonly maxSounding = DSP_DEFAULTS.maxVoices.keys;
  private readonly controlFrames = DSP_DEFAULTS.controlFrames;

  constructor(private readonly sampleRate: number) {
    for (let i = 0; i < this.maxSounding + DSP_DEFAULTS.spareVoices; i++)
      this.voices.push(new KeysVoice(sampleRate, DSP_DEFAULTS.controlFrames));
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
    const sr = this.sampleRate;
    const hz = midiToHz(midi);
    const ratio = RATIO_MIN + RATIO_SPAN * timbre.bellness;
    v.ic = hz / sr;
    const w = (2 * Math.PI * hz * ratio) / sr;
    v.rotCos = Math.cos(w);
    v.rotSin = Math.sin(w);
    // Both phases start at zero: the first samples are sin(0) = 0, so the onset cannot click.
    v.pc = 0;
    v.mCos = 1;
    v.mSin = 0;
    const peakRadians = INDEX_MAX_RADIANS * (0.25 + 0.75 * velocity) * (0.45 + 0.75 * timbre.brightness);
    // Below one cycle (2π rad), so the phase wrap in render() stays a single step.
    v.idxPeak = Math.min(0.9, peakRadians / (2 * Math.PI));
    v.idxFloor = v.idxPeak * INDEX_FLOOR;
    v.idx = v.idxPeak;
    v.idxCoefPerFrame = Math.exp(-1 / (INDEX_DECAY_SECONDS * sr));
    v.idxCoefPerPeriod = Math.pow(v.idxCoefPerFrame, this.controlFrames);
    v.startFrame = startFrame;
    v.releaseAtFrame = startFrame + Math.max(0, durationFrames);
    v.pitchClass = pitchClassOf(midi);
    const pan = Math.max(-0.5, Math.min(0.5, (midi - 66) / 30)) * 0.7;
    const level = VOICE_GAIN * (0.2 + 0.8 * velocity * velocity);
    v.gainL = panLeft(pan, level);
    v.gainR = panRight(pan, level);
    // Higher notes ring shorter, as real bars and tines do.
    const decay = DECAY_T60_SECONDS * Math.min(1.5, Math.max(0.4, Math.pow(261.6 / hz, 0.5)));
    v.env.start(1, ATTACK_SECONDS, decay, 0, RELEASE_T60_SECONDS, sr);
    this.plan(v, framesToTick);
  }

  /** A release event: held notes not in `keepPitchClasses` release at `atFrame` (voice-pool.ts). */
  release(keepPitchClasses: number, atFrame: number): void {
    releaseVoices(this.voices, keepPitchClasses, atFrame);
  }

  pitchClasses(startedBefore: number, heldOnly: boolean): number {
    return voicePitchClasses(this.voices, startedBefore, heldOnly);
  }

  control(positionFrames: number, n: number): void {
    const voices = this.voices;
    for (let i = 0; i < voices.length; i++) {
      const v = voices[i]!;
      if (!v.env.active) continue;
      if (v.env.held && positionFrames >= v.releaseAtFrame) v.env.release();
      this.plan(v, n);
    }
  }

  private plan(v: KeysVoice, n: number): void {
    // Keep the modulator phasor on the unit circle (first-order Newton step against rounding drift).
    const fix = 1.5 - 0.5 * (v.mCos * v.mCos + v.mSin * v.mSin);
    v.mCos *= fix;
    v.mSin *= fix;
    const decay = n === this.controlFrames ? v.idxCoefPerPeriod : Math.pow(v.idxCoefPerFrame, n);
    const next = v.idxFloor + (v.idx - v.idxFloor) * decay;
    v.idxInc = (next - v.idx) / n;
    v.env.tick(n);
  }

  /** Adds n frames of every sounding voice into busL/busR[0, n); false when silent. */
  render(busL: Float64Array, busR: Float64Array, n: number): boolean {
    let any = false;
    const table = SINE_TABLE;
    const size = SINE_TABLE_SIZE;
    const voices = this.voices;
    for (let k = 0; k < voices.length; k++) {
      const v = voices[k]!;
      if (v.env.stage === 0) continue;
      any = true;
      let pc = v.pc;
      const ic = v.ic;
      let mc = v.mCos;
      let ms = v.mSin;
      const rc = v.rotCos;
      const rs = v.rotSin;
      let idx = v.idx;
      const idxInc = v.idxInc;
      let env = v.env.level;
      const inc = v.env.inc;
      const gl = v.gainL;
      const gr = v.gainR;
      for (let i = 0; i < n; i++) {
        const mc2 = mc * rc - ms * rs;
        ms = ms * rc + mc * rs;
        mc = mc2;
        // |ms·idx| < 1 (the index is capped below one cycle), so one conditional wrap is
        // enough; cheaper than Math.floor here.
        let ph = pc + ms * idx;
        if (ph < 0) ph += 1;
        else if (ph >= 1) ph -= 1;
        pc += ic;
        if (pc >= 1) pc -= 1;
        const x = ph * size;
        const j = x | 0;
        const t0 = table[j]!;
        const y = (t0 + (table[j + 1]! - t0) * (x - j)) * env;
        idx += idxInc;
        env += inc;
        busL[i] += y * gl;
        busR[i] += y * gr;
      }
      v.pc = pc;
      v.mCos = mc;
      v.mSin = ms;
      v.idx = idx;
      v.env.store(env);
    }
    return any;
  }
}
