import { DSP_DEFAULTS } from '../config.ts';
import type { Instrument } from '../instrument.ts';
import { Envelope } from '../envelope.ts';
import type { Rng } from '../../music/rng.ts';
import { PERC_BRUSH, PERC_CLICK, PERC_KICK, PERC_SHAKER } from '../../music/types.ts';
import { panLeft, panRight } from '../pan.ts';
import { setSvf } from '../svf.ts';
import { INT32_TO_UNIT, SINE_TABLE, SINE_TABLE_SIZE } from '../tables.ts';
import { allocateVoice } from '../voice-pool.ts';

/** One percussion sound: a pitched sine part (with a falling pitch) and a band-passed noise part. */
interface PercSound {
  attackSeconds: number;
  /** Time to fall by 60 dB. */
  decaySeconds: number;
  sineLevel: number;
  sineStartHz: number;
  sineEndHz: number;
  /** Time constant of the pitch fall. */
  pitchSeconds: number;
  noiseLevel: number;
  bandHz: number;
  /** Band-pass damping 1/Q. */
  bandK: number;
  pan: number;
}

/**
 * Soft, sparse sounds: a felt kick (sine with a gentle pitch drop, slow 4 ms attack, no beater
 * click), a muted rim click, a shaker and a brush. Attacks of a millisecond or more keep even the
 * click below the click detector's threshold: it is a tick, not a discontinuity.
 */
const SOUNDS: Record<'kick' | 'click' | 'shaker' | 'brush', PercSound> = {
  kick: {
    attackSeconds: 0.004,
    decaySeconds: 0.55,
    sineLevel: 1,
    sineStartHz: 110,
    sineEndHz: 52,
    pitchSeconds: 0.045,
    noiseLevel: 0.08,
    bandHz: 180,
    bandK: 1.2,
    pan: 0,
  },
  click: {
    attackSeconds: 0.0015,
    decaySeconds: 0.07,
    sineLevel: 0.25,
    sineStartHz: 1400,
    sineEndHz: 1250,
    pitchSeconds: 0.02,
    noiseLevel: 0.7,
    bandHz: 2400,
    bandK: 0.5,
    pan: -0.25,
  },
  shaker: {
    attackSeconds: 0.012,
    decaySeconds: 0.16,
    sineLevel: 0,
    sineStartHz: 1000,
    sineEndHz: 1000,
    pitchSeconds: 1,
    noiseLevel: 0.55,
    bandHz: 7000,
    bandK: 0.8,
    pan: 0.3,
  },
  brush: {
    attackSeconds: 0.03,
    decaySeconds: 0.45,
    sineLevel: 0,
    sineStartHz: 1000,
    sineEndHz: 1000,
    pitchSeconds: 1,
    noiseLevel: 0.5,
    bandHz: 3500,
    bandK: 1.4,
    pan: 0.15,
  },
};

const VOICE_GAIN = 0.35;

class PercVoice {
  readonly env: Envelope;
  startFrame = 0;
  sound: PercSound = SOUNDS.shaker;
  noise = 1;
  ic1 = 0;
  ic2 = 0;
  a1 = 0;
  a2 = 0;
  a3 = 0;
  phase = 0;
  /** Current sine frequency (Hz), falling towards sineEndHz at control rate. */
  hz = 0;
  inc = 0;
  pitchCoefPerFrame = 1;
  sineGain = 0;
  noiseGain = 0;
  gainL = 0;
  gainR = 0;

  constructor(sampleRate: number, periodFrames: number) {
    this.env = new Envelope(sampleRate, periodFrames);
  }
}

export class PercInstrument implements Instrument {
  readonly stereo = true;
  droppedNotes = 0;
  /** Voices faded out early to make room for a new note. */
  voiceSteals = 0;
  private readonly voices: PercVoice[] = [];
  private readonly maxSounding = DSP_DEFAULTS.maxVoices.perc;

  constructor(
    private readonly sampleRate: number,
    private readonly rng: Rng,
  ) {
    for (let i = 0; i < this.maxSounding + DSP_DEFAULTS.spareVoices; i++)
      this.voices.push(new PercVoice(sampleRate, DSP_DEFAULTS.controlFrames));
  }

  /**
   * `midi` picks the sound (PERC_* in types.ts); unknown numbers play the shaker. One-shot: the
   * duration does not matter.
   */
  noteOn(
    midi: number,
    velocity: number,
    startFrame: number,
    _durationFrames: number,
    framesToTick: number,
  ): void {
    const v = allocateVoice(this.voices, this.maxSounding, this);
    if (v === null) {
      this.droppedNotes++;
      return;
    }
    const sr = this.sampleRate;
    const s =
      midi === PERC_KICK
        ? SOUNDS.kick
        : midi === PERC_CLICK
          ? SOUNDS.click
          : midi === PERC_BRUSH
            ? SOUNDS.brush
            : midi === PERC_SHAKER
              ? SOUNDS.shaker
              : SOUNDS.shaker;
    v.sound = s;
    v.noise = this.rng.nextU32() | 1 | 0;
    v.ic1 = 0;
    v.ic2 = 0;
    setSvf(v, s.bandHz, s.bandK, sr);
    v.phase = 0;
    v.hz = s.sineStartHz;
    v.inc = v.hz / sr;
    v.pitchCoefPerFrame = Math.exp(-1 / (s.pitchSeconds * sr));
    const level = VOICE_GAIN * (0.25 + 0.75 * velocity);
    v.sineGain = s.sineLevel;
    v.noiseGain = s.noiseLevel * s.bandK;
    v.gainL = panLeft(s.pan, level);
    v.gainR = panRight(s.pan, level);
    v.startFrame = startFrame;
    // One-shot: the sound decays by itself; the note's duration does not matter.
    v.env.start(1, s.attackSeconds, s.decaySeconds, 0, s.decaySeconds, sr);
    v.env.tick(framesToTick);
  }

  /** One-shot sounds decay by themselves: a release event changes nothing. */
  release(_keepPitchClasses: number, _atFrame: number): void {}

  /** Unpitched: no pitch classes. */
  pitchClasses(_startedBefore: number, _heldOnly: boolean): number {
    return 0;
  }

  control(_positionFrames: number, n: number): void {
    const sr = this.sampleRate;
    for (let i = 0; i < this.voices.length; i++) {
      const v = this.voices[i]!;
      if (!v.env.active) continue;
      const end = v.sound.sineEndHz;
      v.hz = end + (v.hz - end) * Math.pow(v.pitchCoefPerFrame, n);
      v.inc = v.hz / sr;
      v.env.tick(n);
    }
  }

  /** Adds n frames of every sounding voice into busL/busR[0, n); false when silent. */
  render(busL: Float64Array, busR: Float64Array, n: number): boolean {
    let any = false;
    const table = SINE_TABLE;
    const size = SINE_TABLE_SIZE;
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
      let phase = v.phase;
      const pinc = v.inc;
      const sineGain = v.sineGain;
      const noiseGain = v.noiseGain;
      let env = v.env.level;
      const einc = v.env.inc;
      const gl = v.gainL;
      const gr = v.gainR;
      for (let i = 0; i < n; i++) {
        noise ^= noise << 13;
        noise ^= noise >>> 17;
        noise ^= noise << 5;
        const v3 = noise * unit - ic2;
        const v1 = a1 * ic1 + a2 * v3;
        const v2 = ic2 + a2 * ic1 + a3 * v3;
        ic1 = 2 * v1 - ic1;
        ic2 = 2 * v2 - ic2;
        phase += pinc;
        if (phase >= 1) phase -= 1;
        const x = phase * size;
        const j = x | 0;
        const s = table[j]! + (table[j + 1]! - table[j]!) * (x - j);
        const y = (s * sineGain + v1 * noiseGain) * env;
        env += einc;
        busL[i] += y * gl;
        busR[i] += y * gr;
      }
      v.noise = noise;
      v.ic1 = ic1;
      v.ic2 = ic2;
      v.phase = phase;
      v.env.store(env);
    }
    return any;
  }
}
