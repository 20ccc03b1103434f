import { DSP_DEFAULTS } from '../config.ts';
import type { Instrument } from '../instrument.ts';
import { Envelope } from '../envelope.ts';
import type { Rng } from '../../music/rng.ts';
import { midiToHz } from '../tables.ts';
import { pitchClassOf } from '../../music/types.ts';
import { allocateVoice, releaseVoices, voicePitchClasses } from '../voice-pool.ts';

const ATTACK_SECONDS = 4;
const RELEASE_T60_SECONDS = 5;
/** Slow amplitude drift: rate range (Hz) and depth (fraction of the level, peak). */
const DRIFT_MIN_HZ = 0.015;
const DRIFT_MAX_HZ = 0.045;
const DRIFT_DEPTH = 0.25;
/** A little second harmonic, so a 40–60 Hz sub stays audible on small speakers. */
const SECOND_HARMONIC = 0.22;
const VOICE_GAIN = 0.2;

class DroneVoice {
  readonly env: Envelope;
  startFrame = 0;
  releaseAtFrame = 0;
  /** Pitch class of the note (0–11), for releases at a key change. */
  pitchClass = 0;
  /** The oscillator is a rotating phasor (cos, sin): four multiplies a sample, no table reads. */
  cos = 1;
  sin = 0;
  rotCos = 1;
  rotSin = 0;
  gain = 0;
  /** Drift gain (per sample ramp between control ticks). */
  drift = 1;
  driftInc = 0;
  driftPhase = 0;
  driftIncPerTick = 0;

  constructor(sampleRate: number, periodFrames: number) {
    this.env = new Envelope(sampleRate, periodFrames);
  }
}

/** Drone: a sine sub (plus a soft second harmonic) with very slow amplitude drift, centred. */
export class DroneInstrument implements Instrument {
  /** Centred: one mono bus. */
  readonly stereo = false;
  droppedNotes = 0;
  /** Voices faded out early to make room for a new note. */
  voiceSteals = 0;
  private readonly voices: DroneVoice[] = [];
  private readonly maxSounding = DSP_DEFAULTS.maxVoices.drone;

  constructor(
    private readonly sampleRate: number,
    private readonly controlFrames: number,
    private readonly rng: Rng,
  ) {
    for (let i = 0; i < this.maxSounding + DSP_DEFAULTS.spareVoices; i++)
      this.voices.push(new DroneVoice(sampleRate, controlFrames));
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
    const sr = this.sampleRate;
    const w = (2 * Math.PI * midiToHz(midi)) / sr;
    v.rotCos = Math.cos(w);
    v.rotSin = Math.sin(w);
    // Starting at phase 0 (sin = 0): the first sample is silent, so the onset cannot click.
    v.cos = 1;
    v.sin = 0;
    v.gain = VOICE_GAIN * (0.5 + 0.5 * velocity);
    v.driftPhase = this.rng.next();
    v.driftIncPerTick = (this.rng.range(DRIFT_MIN_HZ, DRIFT_MAX_HZ) * this.controlFrames) / sr;
    v.drift = 1 + DRIFT_DEPTH * Math.sin(2 * Math.PI * v.driftPhase);
    v.startFrame = startFrame;
    v.releaseAtFrame = startFrame + Math.max(0, durationFrames);
    v.pitchClass = pitchClassOf(midi);
    v.env.start(1, ATTACK_SECONDS, 1, 1, RELEASE_T60_SECONDS, sr);
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
    for (let i = 0; i < this.voices.length; i++) {
      const v = this.voices[i]!;
      if (!v.env.active) continue;
      if (v.env.held && positionFrames >= v.releaseAtFrame) v.env.release();
      v.driftPhase += v.driftIncPerTick;
      if (v.driftPhase >= 1) v.driftPhase -= 1;
      this.plan(v, n);
    }
  }

  private plan(v: DroneVoice, n: number): void {
    // Rounding makes the phasor's radius wander; pull it back to 1 (first-order Newton step).
    const r2 = v.cos * v.cos + v.sin * v.sin;
    const fix = 1.5 - 0.5 * r2;
    v.cos *= fix;
    v.sin *= fix;
    const next = 1 + DRIFT_DEPTH * Math.sin(2 * Math.PI * v.driftPhase);
    v.driftInc = (next - v.drift) / n;
    v.env.tick(n);
  }

  /** Adds n frames into the mono bus[0, n) (the drone sits in the centre); `_busR` is not used. */
  render(bus: Float64Array, _busR: Float64Array, n: number): boolean {
    let any = false;
    for (let k = 0; k < this.voices.length; k++) {
      const v = this.voices[k]!;
      if (v.env.stage === 0) continue;
      any = true;
      let c = v.cos;
      let s = v.sin;
      const rc = v.rotCos;
      const rs = v.rotSin;
      let env = v.env.level;
      const einc = v.env.inc;
      let drift = v.drift;
      const dinc = v.driftInc;
      const gain = v.gain;
      for (let i = 0; i < n; i++) {
        const c2 = c * rc - s * rs;
        s = s * rc + c * rs;
        c = c2;
        // sin θ plus a little sin 2θ = 2·sin θ·cos θ.
        const y = s * (1 + 2 * SECOND_HARMONIC * c) * env * drift * gain;
        env += einc;
        drift += dinc;
        bus[i] += y;
      }
      v.cos = c;
      v.sin = s;
      v.drift = drift;
      v.env.store(env);
    }
    return any;
  }
}
