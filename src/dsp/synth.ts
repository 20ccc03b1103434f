import { Rng } from '../music/rng.ts';
import {
  ENDING_SECONDS,
  INSTRUMENTS,
  type NoteEvent,
  type SampledVoicing,
  type Timbre,
} from '../music/types.ts';
import { DSP_DEFAULTS } from './config.ts';
import { FdnReverb } from './effects/fdn-reverb.ts';
import { StereoHighPass } from './effects/high-pass.ts';
import { MasterBus } from './effects/master-bus.ts';
import { TempoDelay } from './effects/tempo-delay.ts';
import { EventQueue } from './event-queue.ts';
import { instrumentIndex, type Instrument } from './instrument.ts';
import { DroneInstrument } from './instruments/drone.ts';
import { KeysInstrument } from './instruments/keys.ts';
import { PadInstrument } from './instruments/pad.ts';
import { PercInstrument } from './instruments/perc.ts';
import { TextureInstrument } from './instruments/texture.ts';
import type { SampledLayer, SoundFontBank } from './soundfont.ts';
import { TimbreGlide } from './timbre-glide.ts';

export interface SynthOptions {
  sampleRate: number;
  seed: number;
  timbre: Timbre;
  bpm: number;
  /** Largest piece rendered at once inside process(); default DSP_DEFAULTS.maxBlockFrames. */
  maxBlockFrames?: number;
  /** Pending-queue capacity; default DSP_DEFAULTS.pendingEventCapacity. */
  pendingEventCapacity?: number;
  /**
   * A parsed SoundFont, or what gives one when first needed (parsed once per thread): enables the
   * sampled layer, built when a `sampled` voicing is first set.
   */
  soundfont?: SoundFontBank | (() => SoundFontBank | null) | null;
  /** The sampled voicing to start with (ignored without a SoundFont). */
  sampled?: SampledVoicing | null;
}

// Indices of the instruments (the order of INSTRUMENTS in src/music/types.ts) and of the mix gains.
const PAD = 0;
const KEYS = 1;
const DRONE = 2;
const TEXTURE = 3;
const PERC = 4;
const REVERB = 5;
const DELAY = 6;
/** The sampled layer's level (the last sampled voicing's, kept while its notes ring out). */
const SAMPLED = 7;
const GAINS = 8;

/** Reverb and delay sends per instrument (before the timbre's wet levels). */
const REVERB_SEND = { pad: 0.55, keys: 0.75, drone: 0.12, texture: 0.8, perc: 0.45 };
const DELAY_SEND = { pad: 0.04, keys: 0.45, perc: 0.2 };
/** Return gains that turn timbre.reverbMix / delayMix (0…1) into levels. */
const REVERB_RETURN = 1.6;
const DELAY_RETURN = 1.2;
/** The float outputs processPcm16 passes along (renderSegment writes PCM words instead). */
const NO_FLOATS = new Float32Array(0);
/** How long a cancelled sleep-timer fade takes to come back up (see Synth.setEnding). */
const FADE_RESTORE_SECONDS = 4;
/** Gain into the master bus: sets the station's loudness (−20…−18 LUFS measured over the presets). */
const MASTER_GAIN = 0.6;

/**
 * The synthesizer of a station: five instruments with fixed voice pools, a 40 Hz high-pass on
 * everything but the drone, a tempo-synced delay, an FDN reverb and a master compressor/limiter.
 *
 * A pure buffer engine (no platform APIs): schedule() notes stamped in absolute frames, then
 * process() renders any frame range into caller-owned buffers. Note starts are sample-accurate.
 * Control-rate work (envelopes, LFOs, glides, dynamics) happens on a fixed grid of absolute
 * positions, so the output does not depend on how a render is split into calls.
 */
export class Synth {
  /** Events refused because the pending queue was full (or malformed). */
  droppedEvents = 0;
  readonly sampleRate: number;

  private readonly controlFrames = DSP_DEFAULTS.controlFrames;
  private readonly maxBlockFrames: number;
  private readonly queue: EventQueue;
  private readonly timbre: TimbreGlide;
  private readonly pad: PadInstrument;
  private readonly keys: KeysInstrument;
  private readonly drone: DroneInstrument;
  private readonly texture: TextureInstrument;
  private readonly perc: PercInstrument;
  /** The five, indexed PAD … PERC, for what is the same for all (notes, control ticks, counters). */
  private readonly instruments: readonly Instrument[];
  private readonly reverb: FdnReverb;
  private readonly delay: TempoDelay;
  private readonly highPass: StereoHighPass;
  private readonly master: MasterBus;
  // Buses, one control period long.
  private readonly padL: Float64Array;
  private readonly padR: Float64Array;
  private readonly keysL: Float64Array;
  private readonly keysR: Float64Array;
  private readonly droneBus: Float64Array;
  private readonly texL: Float64Array;
  private readonly texR: Float64Array;
  private readonly percL: Float64Array;
  private readonly percR: Float64Array;
  private readonly musicL: Float64Array;
  private readonly musicR: Float64Array;
  private readonly reverbIn: Float64Array;
  private readonly delayIn: Float64Array;
  private readonly wetL: Float64Array;
  private readonly wetR: Float64Array;
  private readonly echoL: Float64Array;
  private readonly echoR: Float64Array;
  /** The optional SoundFont layer (null without a SoundFont) and its bus. */
  private sampled: SampledLayer | null = null;
  private readonly soundfont: SoundFontBank | (() => SoundFontBank | null) | null;
  private readonly sampledL: Float64Array;
  private readonly sampledR: Float64Array;
  private sampledLevel = 0;
  /**
   * Mix gains (pad, keys, drone, texture, perc, reverb return, delay return, sampled layer; master gain folded
   * in): the value at the last tick, the per-sample increment to the next, and the next target.
   */
  private readonly gainStart = new Float64Array(GAINS);
  private readonly gainInc = new Float64Array(GAINS);
  private readonly gainTarget = new Float64Array(GAINS);
  /** Where renderSegment puts its output while processPcm16 runs (null: the float buffers). */
  private pcmWords: Uint32Array | null = null;
  private pcmWordOffset = 0;
  private nextTickFrame = 0;
  private started = false;
  private lastNonFinite = 0;

  constructor(opts: SynthOptions) {
    const sr = opts.sampleRate;
    this.sampleRate = sr;
    const c = this.controlFrames;
    this.maxBlockFrames = Math.max(1, Math.floor(opts.maxBlockFrames ?? DSP_DEFAULTS.maxBlockFrames));
    this.queue = new EventQueue(opts.pendingEventCapacity ?? DSP_DEFAULTS.pendingEventCapacity);
    this.timbre = new TimbreGlide(opts.timbre, sr / c, DSP_DEFAULTS.timbreGlideSeconds);
    const rng = new Rng(opts.seed >>> 0);
    this.pad = new PadInstrument(sr, c, rng.fork(1));
    this.keys = new KeysInstrument(sr);
    this.drone = new DroneInstrument(sr, c, rng.fork(3));
    this.texture = new TextureInstrument(sr, c, rng.fork(4));
    this.perc = new PercInstrument(sr, rng.fork(5));
    this.instruments = [this.pad, this.keys, this.drone, this.texture, this.perc];
    this.reverb = new FdnReverb(sr, opts.timbre.reverbDecaySeconds, DSP_DEFAULTS.reverbPreDelaySeconds);
    this.delay = new TempoDelay(
      sr,
      opts.bpm,
      DSP_DEFAULTS.maxDelaySeconds,
      DSP_DEFAULTS.delayGlideSeconds,
      c,
    );
    this.highPass = new StereoHighPass(DSP_DEFAULTS.highPassHz, sr);
    this.master = new MasterBus(sr, c, DSP_DEFAULTS.limiterCeilingDb);
    const bus = (): Float64Array => new Float64Array(c);
    this.padL = bus();
    this.padR = bus();
    this.keysL = bus();
    this.keysR = bus();
    this.droneBus = bus();
    this.texL = bus();
    this.texR = bus();
    this.percL = bus();
    this.percR = bus();
    this.musicL = bus();
    this.musicR = bus();
    this.reverbIn = bus();
    this.delayIn = bus();
    this.wetL = bus();
    this.wetR = bus();
    this.echoL = bus();
    this.echoR = bus();
    this.soundfont = opts.soundfont ?? null;
    this.setSampled(opts.sampled ?? null);
    this.sampledL = bus();
    this.sampledR = bus();
    this.targetGains();
    this.gainStart.set(this.gainTarget);
  }

  /**
   * Hands pad and keys notes to the sampled layer (`v`) or back to the built-in instruments
   * (null). Without a SoundFont nothing changes. Notes already sounding end as they would. The
   * layer (a SpessaSynthProcessor) is built at the first voicing, not before.
   */
  setSampled(v: SampledVoicing | null): void {
    if (this.sampled === null && v !== null && this.soundfont !== null) {
      const bank = typeof this.soundfont === 'function' ? this.soundfont() : this.soundfont;
      if (bank !== null) this.sampled = bank.createLayer(this.sampleRate, this.controlFrames);
    }
    this.sampled?.setVoicing(v);
    if (v !== null) this.sampledLevel = v.level;
  }

  /** Whether the sampled layer plays (a SoundFont is loaded and the voicing is sampled). */
  get sampledActive(): boolean {
    return this.sampled?.active != null;
  }

  /** Notes dropped because every voice slot of their instrument was busy fading. */
  get droppedNotes(): number {
    let sum = 0;
    for (const inst of this.instruments) sum += inst.droppedNotes;
    return sum;
  }

  /** Voices faded out early (~8 ms) to make room for new notes, all instruments. */
  get voiceSteals(): number {
    let sum = 0;
    for (const inst of this.instruments) sum += inst.voiceSteals;
    return sum;
  }

  /** Notes waiting to start. */
  get pendingEvents(): number {
    return this.queue.size;
  }

  /** Lowest gain the master limiter has applied (1 = it never had to act). */
  get minLimiterGain(): number {
    return this.master.minLimiterGain;
  }

  /** Queues a note or a release event (its fields are copied; the caller may reuse the object). */
  schedule(e: NoteEvent): void {
    const inst = instrumentIndex(e.instrument);
    if (inst < 0) {
      this.droppedEvents++;
      return;
    }
    const start = e.startFrame;
    if (e.kind === 'release') {
      const keep = e.keepPitchClasses ?? 0;
      if (!Number.isFinite(start) || !Number.isInteger(keep) || keep < 0 || keep > 0xfff) {
        this.droppedEvents++;
        return;
      }
      if (!this.queue.push(inst, Math.ceil(start), 0, 0, 0, keep)) this.droppedEvents++;
      return;
    }
    const midi = e.midi;
    const velocity = e.velocity;
    if (!Number.isFinite(start) || !Number.isFinite(midi) || !Number.isFinite(velocity)) {
      this.droppedEvents++;
      return;
    }
    const duration = Number.isFinite(e.durationFrames) ? Math.max(0, e.durationFrames) : 0;
    const ok = this.queue.push(
      inst,
      Math.ceil(start),
      duration,
      Math.min(127, Math.max(0, midi)),
      Math.min(1, Math.max(0, velocity)),
    );
    if (!ok) this.droppedEvents++;
  }

  /**
   * Pitch classes (bit p for pitch class p) that an instrument's voices started before
   * `startedBefore` hold (`heldOnly`) or still sound (held, releasing or fading): what a key
   * change leaves sounding. 0 for an unknown instrument.
   */
  pitchClasses(instrument: NoteEvent['instrument'], startedBefore: number, heldOnly: boolean): number {
    const i = instrumentIndex(instrument);
    if (i < 0) return 0;
    const own = this.instruments[i]!.pitchClasses(startedBefore, heldOnly);
    return this.sampled === null ? own : own | this.sampled.pitchClasses(instrument, startedBefore);
  }

  /** Glides to a new sound character over ~2 s. */
  setTimbre(t: Timbre): void {
    this.timbre.setTarget(t);
  }

  /** Glides the tempo-synced delay to a new tempo. */
  setBpm(bpm: number): void {
    this.delay.setBpm(bpm);
  }

  /** Where the sleep timer's fade began (frame), or −1; see `setEnding`. */
  private fadeStartFrame = -1;
  /** Where a cancelled fade comes back up from (frame), or −1, and the gain it comes back from. */
  private restoreFrame = -1;
  private restoreFromGain = 1;
  /** The absolute frame of the segment renderSegment is rendering. */
  private segmentFrame = 0;

  /**
   * The sleep timer's master fade (MusicParams.ending): from `atFrame` the output falls to silence
   * over ENDING_SECONDS along cos² (no slope at either end: no click, no sudden drop); `false` at
   * `atFrame` brings it back up from where it is over FADE_RESTORE_SECONDS along sin².
   */
  setEnding(ending: boolean, atFrame: number): void {
    if (ending) {
      if (this.fadeStartFrame < 0) {
        this.fadeStartFrame = atFrame;
        this.restoreFrame = -1;
      }
    } else if (this.fadeStartFrame >= 0) {
      this.restoreFromGain = this.fadeGain(atFrame);
      this.restoreFrame = atFrame;
      this.fadeStartFrame = -1;
    }
  }

  /** The master fade's gain at `frame` (1 without an ending). */
  private fadeGain(frame: number): number {
    if (this.fadeStartFrame >= 0) {
      const t = (frame - this.fadeStartFrame) / (ENDING_SECONDS * this.sampleRate);
      if (t <= 0) return 1;
      if (t >= 1) return 0;
      const c = Math.cos(0.5 * Math.PI * t);
      return c * c;
    }
    if (this.restoreFrame >= 0) {
      const t = (frame - this.restoreFrame) / (FADE_RESTORE_SECONDS * this.sampleRate);
      if (t >= 1) return 1;
      if (t <= 0) return this.restoreFromGain;
      const s = Math.sin(0.5 * Math.PI * t);
      return this.restoreFromGain + (1 - this.restoreFromGain) * s * s;
    }
    return 1;
  }

  /**
   * Renders frames [startFrame, startFrame + count) into outL/outR[0, count), OVERWRITE.
   * Events that start before startFrame start immediately. No allocation, no throw.
   */
  process(outL: Float32Array, outR: Float32Array, startFrame: number, count: number): void {
    const c = this.controlFrames;
    const q = this.queue;
    let pos = startFrame;
    let off = 0;
    if (!this.started || pos - this.nextTickFrame >= c || pos < this.nextTickFrame - c) {
      // First call, or the caller jumped: restart the control grid here.
      this.started = true;
      this.nextTickFrame = pos;
    }
    while (off < count) {
      if (pos >= this.nextTickFrame) {
        this.tick(pos);
        this.nextTickFrame += c;
      }
      // Frame counts are small integers: `| 0` keeps them int32 (positions, which outgrow int32
      // after 12 h, stay doubles), so the optimized code never meets a double where it
      // expected an integer and deoptimizes.
      const toTick = (this.nextTickFrame - pos) | 0;
      while (q.size > 0 && q.nextStart() <= pos) {
        const keep = q.headKeep();
        const inst = q.headInstrument();
        const sampled = this.sampled;
        if (keep >= 0) {
          this.instruments[inst]!.release(keep, pos);
          sampled?.release(INSTRUMENTS[inst]!, keep, pos);
        } else if (sampled !== null && sampled.takes(INSTRUMENTS[inst]!))
          sampled.noteOn(INSTRUMENTS[inst]!, q.headMidi(), q.headVelocity(), pos, q.headDuration());
        else
          this.instruments[inst]!.noteOn(
            q.headMidi(),
            q.headVelocity(),
            pos,
            q.headDuration(),
            toTick,
            this.timbre,
          );
        q.pop();
      }
      let n = (count - off) | 0;
      if (n > toTick) n = toTick;
      if (n > this.maxBlockFrames) n = this.maxBlockFrames;
      const untilNext = q.nextStart() - pos;
      if (untilNext < n) n = untilNext | 0;
      this.segmentFrame = pos;
      this.renderSegment(outL, outR, off, n, c - toTick);
      pos += n;
      off += n;
    }
  }

  /**
   * As `process`, but into 16-bit PCM: frame i goes to words[wordOffset + i] as one 32-bit word
   * (`pcm16Word`), exactly the bytes `process` followed by `encodePcm16` gives on a little-endian
   * platform, without the float buffers and their pass. For the offline render.
   */
  processPcm16(words: Uint32Array, wordOffset: number, startFrame: number, count: number): void {
    this.pcmWords = words;
    this.pcmWordOffset = wordOffset;
    try {
      this.process(NO_FLOATS, NO_FLOATS, startFrame, count);
    } finally {
      this.pcmWords = null;
    }
  }

  private targetGains(): void {
    const t = this.timbre;
    const g = this.gainTarget;
    // The master gain is folded into every level: everything after is linear.
    g[PAD] = t.padLevel * MASTER_GAIN;
    g[KEYS] = t.keysLevel * MASTER_GAIN;
    g[DRONE] = t.droneLevel * MASTER_GAIN;
    g[TEXTURE] = t.textureLevel * MASTER_GAIN;
    g[PERC] = t.percLevel * MASTER_GAIN;
    g[REVERB] = t.reverbMix * REVERB_RETURN;
    g[DELAY] = t.delayMix * DELAY_RETURN;
    g[SAMPLED] = this.sampledLevel * MASTER_GAIN;
  }

  /** Control tick at absolute frame pos: glides, envelopes, LFOs, dynamics for the next period. */
  private tick(pos: number): void {
    const c = this.controlFrames;
    const t = this.timbre;
    t.tick();
    // Called one by one (not through this.instruments): each call site stays monomorphic.
    this.pad.control(pos, c, t);
    this.keys.control(pos, c);
    this.drone.control(pos, c);
    this.texture.control(pos, c);
    this.perc.control(pos, c);
    this.sampled?.control(pos);
    this.reverb.setDecaySeconds(t.reverbDecaySeconds);
    this.delay.control(c);
    this.highPass.flushDenormals();
    this.master.control();
    if (this.master.nonFiniteCount !== this.lastNonFinite) {
      // Something upstream produced NaN/Infinity: clear the recirculating state so it cannot stay.
      this.lastNonFinite = this.master.nonFiniteCount;
      this.reverb.reset();
      this.delay.reset();
      this.highPass.reset();
    }
    // Each period ramps from the last target to the new one.
    this.gainStart.set(this.gainTarget);
    this.targetGains();
    for (let i = 0; i < GAINS; i++) this.gainInc[i] = (this.gainTarget[i]! - this.gainStart[i]!) / c;
  }

  /**
   * Renders n frames (within one control period, `phase` frames after its tick) into
   * outL/outR[off, off + n).
   */
  private renderSegment(outL: Float32Array, outR: Float32Array, off: number, n: number, phase: number): void {
    // The buses are zero here: the mixers clear every sample they read.
    const padOn = this.pad.render(this.padL, this.padR, n);
    const keysOn = this.keys.render(this.keysL, this.keysR, n);
    const droneOn = this.drone.render(this.droneBus, this.droneBus, n);
    const texOn = this.texture.render(this.texL, this.texR, n);
    const percOn = this.perc.render(this.percL, this.percR, n);
    const gi = this.gainInc;
    if (gi[PAD] === 0 && gi[KEYS] === 0 && gi[DRONE] === 0 && gi[TEXTURE] === 0 && gi[PERC] === 0) {
      // Steady levels (no glide in progress, the usual case): one fused pass over all buses.
      this.mixSteady(n);
      // Percussion sounds a few percent of the time: mixed in its own pass only when it does.
      if (percOn)
        this.mixStereo(this.percL, this.percR, PERC, REVERB_SEND.perc, DELAY_SEND.perc, n, phase, false);
    } else {
      this.mixGliding(n, phase, padOn, keysOn, droneOn, texOn, percOn);
    }
    if (this.sampled !== null) this.mixSampled(this.sampled, n, phase);
    this.reverb.process(this.reverbIn, this.wetL, this.wetR, n);
    this.delay.process(this.delayIn, this.echoL, this.echoR, n);
    // Returns added, everything but the drone high-passed (sub-bass rumble), the drone added.
    const g = this.gainStart;
    const inc = this.gainInc;
    this.highPass.processMix(
      this.musicL,
      this.musicR,
      this.wetL,
      this.wetR,
      this.echoL,
      this.echoR,
      this.droneBus,
      g[REVERB]!,
      inc[REVERB]!,
      g[DELAY]!,
      inc[DELAY]!,
      phase,
      n,
    );
    if (this.fadeStartFrame >= 0 || this.restoreFrame >= 0) {
      const f0 = this.segmentFrame;
      const mL = this.musicL;
      const mR = this.musicR;
      for (let i = 0; i < n; i++) {
        const g = this.fadeGain(f0 + i);
        mL[i]! *= g;
        mR[i]! *= g;
      }
      if (this.restoreFrame >= 0 && f0 + n >= this.restoreFrame + FADE_RESTORE_SECONDS * this.sampleRate)
        this.restoreFrame = -1;
    }
    const words = this.pcmWords;
    if (words === null) this.master.process(this.musicL, this.musicR, outL, outR, off, n);
    else this.master.processPcm16(this.musicL, this.musicR, words, this.pcmWordOffset + off, n);
  }

  /**
   * Mixing with constant levels: pad, keys, texture and drone buses (silent ones are zero) ×
   * their levels into the music bus and the sends, the drone scaled in place; clears the buses
   * it reads. Percussion is added separately, when it sounds.
   */
  private mixSteady(n: number): void {
    const padL = this.padL;
    const padR = this.padR;
    const keysL = this.keysL;
    const keysR = this.keysR;
    const texL = this.texL;
    const texR = this.texR;
    const drone = this.droneBus;
    const musicL = this.musicL;
    const musicR = this.musicR;
    const revIn = this.reverbIn;
    const dlyIn = this.delayIn;
    const g = this.gainStart;
    const gPad = g[PAD]!;
    const gKeys = g[KEYS]!;
    const gDrone = g[DRONE]!;
    const gTex = g[TEXTURE]!;
    const rPad = gPad * REVERB_SEND.pad;
    const rKeys = gKeys * REVERB_SEND.keys;
    const rDrone = gDrone * 2 * REVERB_SEND.drone;
    const rTex = gTex * REVERB_SEND.texture;
    const dPad = gPad * DELAY_SEND.pad;
    const dKeys = gKeys * DELAY_SEND.keys;
    for (let i = 0; i < n; i++) {
      const pl = padL[i]!;
      const pr = padR[i]!;
      const kl = keysL[i]!;
      const kr = keysR[i]!;
      const tl = texL[i]!;
      const tr = texR[i]!;
      const d = drone[i]!;
      padL[i] = 0;
      padR[i] = 0;
      keysL[i] = 0;
      keysR[i] = 0;
      texL[i] = 0;
      texR[i] = 0;
      drone[i] = d * gDrone;
      musicL[i] = pl * gPad + kl * gKeys + tl * gTex;
      musicR[i] = pr * gPad + kr * gKeys + tr * gTex;
      const p = pl + pr;
      const k = kl + kr;
      revIn[i] = p * rPad + k * rKeys + d * rDrone + (tl + tr) * rTex;
      dlyIn[i] = p * dPad + k * dKeys;
    }
  }

  /** Mixing while levels glide: per instrument, skipping silent ones (gains in closed form). */
  private mixGliding(
    n: number,
    phase: number,
    padOn: boolean,
    keysOn: boolean,
    droneOn: boolean,
    texOn: boolean,
    percOn: boolean,
  ): void {
    // Gains are closed-form in the period's phase, so skipping a silent instrument (or splitting
    // a period differently) never changes the samples of the others.
    let first = true;
    if (padOn) {
      this.mixStereo(this.padL, this.padR, PAD, REVERB_SEND.pad, DELAY_SEND.pad, n, phase, first);
      first = false;
    }
    if (keysOn) {
      this.mixStereo(this.keysL, this.keysR, KEYS, REVERB_SEND.keys, DELAY_SEND.keys, n, phase, first);
      first = false;
    }
    if (texOn) {
      this.mixStereo(this.texL, this.texR, TEXTURE, REVERB_SEND.texture, 0, n, phase, first);
      first = false;
    }
    if (percOn) {
      this.mixStereo(this.percL, this.percR, PERC, REVERB_SEND.perc, DELAY_SEND.perc, n, phase, first);
      first = false;
    }
    if (first) {
      this.musicL.fill(0, 0, n);
      this.musicR.fill(0, 0, n);
      this.reverbIn.fill(0, 0, n);
      this.delayIn.fill(0, 0, n);
    }
    if (droneOn) this.scaleDrone(n, phase);
  }

  /**
   * One instrument's bus × its level (ramped, closed form) into the music bus and the sends;
   * clears the bus. `first` writes instead of adding.
   */
  private mixStereo(
    busL: Float64Array,
    busR: Float64Array,
    index: number,
    reverbSend: number,
    delaySend: number,
    n: number,
    phase: number,
    first: boolean,
  ): void {
    const musicL = this.musicL;
    const musicR = this.musicR;
    const revIn = this.reverbIn;
    const dlyIn = this.delayIn;
    const g0 = this.gainStart[index]!;
    const gInc = this.gainInc[index]!;
    if (gInc === 0) {
      // Steady level (no glide in progress, the usual case): no per-sample ramp.
      const rs = g0 * reverbSend;
      const ds = g0 * delaySend;
      if (first) {
        for (let i = 0; i < n; i++) {
          const l = busL[i]!;
          const r = busR[i]!;
          busL[i] = 0;
          busR[i] = 0;
          musicL[i] = l * g0;
          musicR[i] = r * g0;
          revIn[i] = (l + r) * rs;
          dlyIn[i] = (l + r) * ds;
        }
      } else {
        for (let i = 0; i < n; i++) {
          const l = busL[i]!;
          const r = busR[i]!;
          busL[i] = 0;
          busR[i] = 0;
          musicL[i] += l * g0;
          musicR[i] += r * g0;
          revIn[i] += (l + r) * rs;
          dlyIn[i] += (l + r) * ds;
        }
      }
      return;
    }
    if (first) {
      for (let i = 0; i < n; i++) {
        const g = g0 + gInc * (phase + i);
        const l = busL[i]! * g;
        const r = busR[i]! * g;
        busL[i] = 0;
        busR[i] = 0;
        musicL[i] = l;
        musicR[i] = r;
        revIn[i] = (l + r) * reverbSend;
        dlyIn[i] = (l + r) * delaySend;
      }
    } else {
      for (let i = 0; i < n; i++) {
        const g = g0 + gInc * (phase + i);
        const l = busL[i]! * g;
        const r = busR[i]! * g;
        busL[i] = 0;
        busR[i] = 0;
        musicL[i] += l;
        musicR[i] += r;
        revIn[i] += (l + r) * reverbSend;
        dlyIn[i] += (l + r) * delaySend;
      }
    }
  }

  /**
   * Adds the sampled layer's period into the music bus and the sends (the same reverb, delay,
   * high-pass and master bus as the built-in instruments), at the voicing's level.
   */
  private mixSampled(layer: SampledLayer, n: number, phase: number): void {
    if (!layer.render(this.sampledL, this.sampledR, n)) return;
    const v = layer.active;
    this.mixStereo(
      this.sampledL,
      this.sampledR,
      SAMPLED,
      v?.reverbSend ?? 0,
      v?.delaySend ?? 0,
      n,
      phase,
      false,
    );
  }

  /** Scales the drone bus by its level in place and sends it to the reverb. */
  private scaleDrone(n: number, phase: number): void {
    const drone = this.droneBus;
    const revIn = this.reverbIn;
    const g0 = this.gainStart[DRONE]!;
    const gInc = this.gainInc[DRONE]!;
    const send = 2 * REVERB_SEND.drone;
    for (let i = 0; i < n; i++) {
      const d = drone[i]! * (g0 + gInc * (phase + i));
      drone[i] = d;
      revIn[i] += d * send;
    }
  }
}
