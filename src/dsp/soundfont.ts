import { readFileSync } from 'node:fs';
import { setFlagsFromString } from 'node:v8';
import { SoundBankLoader, SpessaLog, SpessaSynthProcessor, type BasicSoundBank } from 'spessasynth_core';
import type { SampledVoicing } from '../music/types.ts';
import { pitchClassOf } from '../music/types.ts';
import { soundFontProblem } from './soundfont-file.ts';

/**
 * The optional sampled layer: a SoundFont 2 bank played by spessasynth_core's headless
 * processor inside the synth (one processor per station, the bank parsed once per thread and
 * shared). Presets with a `sampled` voicing route some instruments' notes to it (see
 * docs/ARCHITECTURE.md, "The sampled layer").
 */

/** A parsed bank, shared by every station of a thread. */
export interface SoundFontBank {
  readonly path: string;
  readonly bytes: number;
  readonly bank: BasicSoundBank;
  /**
   * A new layer playing this bank (one per station). Through the bank, so that the synth does not
   * load spessasynth_core unless a SoundFont was loaded (an offline render of a built-in preset
   * never does).
   */
  createLayer(sampleRate: number, periodFrames: number): SampledLayer;
}

const banks = new Map<string, SoundFontBank>();

/**
 * Turns V8's on-stack replacement off for the whole process, before the library first renders.
 * When its per-voice renderer is first optimized by on-stack replacement (entered in the middle
 * of its per-sample filter loop while the regular optimized code is still compiling), the loop
 * keeps its filter and gain state as boxed numbers: a heap number per sample and voice, about
 * 0.9 MB per 100 ms chunk of `piano`, in most processes (a race). Without on-stack replacement
 * hot functions are optimized at their next call instead; the built-in synth renders at the same
 * speed either way and the sampled layer faster (docs/ARCHITECTURE.md, "Allocation"). A V8 flag is
 * process-wide; setting it once more is harmless.
 */
function avoidBoxedLoops(): void {
  setFlagsFromString('--no-use-osr');
}

/**
 * Parses a SoundFont once per thread (later calls return the same bank; one entry per path, and a
 * server names one path). Throws an Error naming the file when it is not a usable SoundFont 2.
 */
export function loadSoundFont(path: string): SoundFontBank {
  const cached = banks.get(path);
  if (cached) return cached;
  const problem = soundFontProblem(path);
  if (problem !== null) throw new Error(problem);
  SpessaLog.setLogLevel(false, false, false);
  avoidBoxedLoops();
  const buf = readFileSync(path);
  let bank: BasicSoundBank;
  try {
    bank = SoundBankLoader.fromArrayBuffer(buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength));
  } catch (err) {
    throw new Error(`${path} is not a valid SoundFont 2 file (${(err as Error).message})`, { cause: err });
  }
  const entry: SoundFontBank = {
    path,
    bytes: buf.byteLength,
    bank,
    createLayer: (sampleRate, periodFrames) => new SampledLayer(entry, sampleRate, periodFrames),
  };
  banks.set(path, entry);
  return entry;
}

/**
 * What a station gives its synth for a SoundFont path: a loader that parses the file the first
 * time a sampled preset plays in this thread (then shares it), or null for no path. A file that
 * cannot be parsed there (the server only checked its header) leaves the built-in instruments
 * playing; the reason is kept in `soundFontFailure`.
 */
export function soundFontLoader(path: string | null | undefined): (() => SoundFontBank | null) | null {
  if (!path) return null;
  return () => {
    if (failed.has(path)) return null;
    try {
      return loadSoundFont(path);
    } catch (err) {
      failed.set(path, (err as Error).message);
      return null;
    }
  };
}
const failed = new Map<string, string>();

/** Why the SoundFont at `path` could not be parsed in this thread, or null. */
export function soundFontFailure(path: string): string | null {
  return failed.get(path) ?? null;
}

/** Notes the layer tracks at once (held or waiting for their note-off); beyond it the oldest is ended. */
const MAX_NOTES = 64;
/** The synth's instruments that the layer can take over, each on its own MIDI channel. */
const CHANNEL_OF = { pad: 0, keys: 1 } as const;
export type SampledInstrument = keyof typeof CHANNEL_OF;
/** MIDI CCs used. */
const CC_VOLUME = 7;
const CC_PAN = 10;
const CC_REVERB = 91;
const CC_CHORUS = 93;
const CC_SUSTAIN = 64;
const CC_RELEASE = 72;
const CC_ATTACK = 73;
const CC_BRIGHTNESS = 74;

/** A sound-controller value, 64 (neutral) when not given. */
function cc(v: number | undefined): number {
  return v === undefined ? 64 : Math.max(0, Math.min(127, Math.round(v)));
}

/**
 * One station's sampled layer: a SpessaSynthProcessor (its own reverb and chorus off: the
 * synth's effects are used) on two channels (pad, keys). Note starts and ends are applied at
 * the synth's control ticks (5.3 ms grid, absolute positions) and each control period is
 * rendered whole at its tick, so the output does not depend on how callers chunk their
 * renders. Deterministic: the processor has no random state, and its clock is the frames rendered.
 */
export class SampledLayer {
  /** Notes ended early because MAX_NOTES were already tracked. */
  noteSteals = 0;
  private readonly proc: SpessaSynthProcessor;
  private readonly periodL: Float32Array;
  private readonly periodR: Float32Array;
  /** processSplit's output pairs (one stereo pair, every channel into it), made once. */
  private readonly outputs: Float32Array[][];
  private readonly periodFrames: number;
  /** Read position in the current period (frames). */
  private readPos = 0;
  /** Whether the last rendered period had any voice. */
  private sounding = false;
  // Tracked notes (struct of arrays): channel (−1 = free), key, start frame, end frame (note-off due).
  private readonly chan = new Int8Array(MAX_NOTES).fill(-1);
  private readonly key = new Uint8Array(MAX_NOTES);
  private readonly start = new Float64Array(MAX_NOTES);
  private readonly end = new Float64Array(MAX_NOTES);
  /** Whether the note-on has been sent (notes wait for the next tick). */
  private readonly on = new Uint8Array(MAX_NOTES);
  private readonly vel = new Uint8Array(MAX_NOTES);
  private voicing: SampledVoicing | null = null;

  constructor(bank: SoundFontBank, sampleRate: number, periodFrames: number) {
    this.periodFrames = periodFrames;
    this.proc = new SpessaSynthProcessor(sampleRate, {
      effectsEnabled: false,
      eventsEnabled: false,
      maxBufferSize: periodFrames,
    });
    this.proc.soundBankManager.addSoundBank(bank.bank, 'auralis');
    this.periodL = new Float32Array(periodFrames);
    this.periodR = new Float32Array(periodFrames);
    this.outputs = [[this.periodL, this.periodR]];
    this.readPos = periodFrames;
  }

  /** The voicing in use (null: the layer takes no notes). */
  get active(): SampledVoicing | null {
    return this.voicing;
  }

  /** Voices the processor is playing (a note may use several: stereo samples, layers). */
  get voiceCount(): number {
    return this.proc.voiceCount;
  }

  /** Whether `instrument`'s notes go to this layer under the current voicing. */
  takes(instrument: string): boolean {
    const v = this.voicing;
    return (
      v !== null &&
      (instrument === 'pad' ? v.pad !== undefined : instrument === 'keys' && v.keys !== undefined)
    );
  }

  /**
   * Sets the voicing (programs, velocity ranges, levels); null hands the notes back to the
   * built-in instruments. Held notes of a part that changes program are released.
   */
  setVoicing(v: SampledVoicing | null): void {
    if (v === this.voicing) return;
    for (const part of ['pad', 'keys'] as const) {
      const ch = CHANNEL_OF[part];
      const next = v?.[part];
      const prev = this.voicing?.[part];
      if (prev !== undefined && (next === undefined || next.program !== prev.program)) this.endChannel(ch);
      if (next === undefined) continue;
      this.proc.programChange(ch, next.program);
      this.proc.controllerChange(ch, CC_VOLUME, Math.round(Math.min(1, Math.max(0, next.volume)) * 127));
      this.proc.controllerChange(ch, CC_PAN, 64 + Math.round((next.pan ?? 0) * 63));
      this.proc.controllerChange(ch, CC_REVERB, 0);
      this.proc.controllerChange(ch, CC_CHORUS, 0);
      this.proc.controllerChange(ch, CC_SUSTAIN, 0);
      this.proc.controllerChange(ch, CC_BRIGHTNESS, cc(next.brightness));
      this.proc.controllerChange(ch, CC_ATTACK, cc(next.attack));
      this.proc.controllerChange(ch, CC_RELEASE, cc(next.release));
    }
    this.voicing = v;
  }

  /** Queues a note of `instrument` (pad or keys) from `startFrame` for `durationFrames`; sounds from the next tick. */
  noteOn(
    instrument: string,
    midi: number,
    velocity: number,
    startFrame: number,
    durationFrames: number,
  ): void {
    const v = this.voicing;
    const part = instrument === 'pad' ? v?.pad : instrument === 'keys' ? v?.keys : undefined;
    if (part === undefined) return;
    const ch = instrument === 'pad' ? CHANNEL_OF.pad : CHANNEL_OF.keys;
    let slot = -1;
    let oldest = 0;
    for (let i = 0; i < MAX_NOTES; i++) {
      if (this.chan[i] === -1) {
        slot = i;
        break;
      }
      if (this.start[i]! < this.start[oldest]!) oldest = i;
    }
    if (slot < 0) {
      this.noteSteals++;
      this.endNote(oldest);
      slot = oldest;
    }
    const [lo, hi] = part.velocity;
    this.chan[slot] = ch;
    this.key[slot] = Math.round(midi) + (part.transpose ?? 0);
    this.vel[slot] = Math.max(1, Math.min(127, Math.round(lo + (hi - lo) * velocity)));
    this.start[slot] = startFrame;
    this.end[slot] = startFrame + Math.max(0, durationFrames) * (part.hold ?? 1);
    this.on[slot] = 0;
  }

  /** A release event: held notes of `instrument` started before `atFrame`, pitch class not kept, end at `atFrame`. */
  release(instrument: string, keepPitchClasses: number, atFrame: number): void {
    const ch = instrument === 'pad' ? CHANNEL_OF.pad : instrument === 'keys' ? CHANNEL_OF.keys : -1;
    if (ch < 0) return;
    for (let i = 0; i < MAX_NOTES; i++) {
      if (this.chan[i] !== ch || this.start[i]! >= atFrame) continue;
      if (keepPitchClasses !== 0 && ((keepPitchClasses >> pitchClassOf(this.key[i]!)) & 1) === 1) continue;
      if (this.end[i]! > atFrame) this.end[i] = atFrame;
    }
  }

  /** Pitch classes (bit p) of tracked notes of `instrument` started before `startedBefore` and still held. */
  pitchClasses(instrument: string, startedBefore: number): number {
    const ch = instrument === 'pad' ? CHANNEL_OF.pad : instrument === 'keys' ? CHANNEL_OF.keys : -1;
    let bits = 0;
    for (let i = 0; i < MAX_NOTES; i++)
      if (this.chan[i] === ch && this.start[i]! < startedBefore) bits |= 1 << pitchClassOf(this.key[i]!);
    return bits;
  }

  /**
   * Control tick at absolute frame `pos`: sends the note-offs due by `pos` and the note-ons
   * waiting, then renders the whole period [pos, pos + periodFrames).
   */
  control(pos: number): void {
    const proc = this.proc;
    this.readPos = 0;
    for (let i = 0; i < MAX_NOTES; i++) {
      if (this.chan[i] === -1) continue;
      if (this.on[i] === 1 && this.end[i]! <= pos) this.endNote(i);
    }
    for (let i = 0; i < MAX_NOTES; i++) {
      const ch = this.chan[i]!;
      if (ch === -1 || this.on[i] === 1) continue;
      // A note already sounding on the same key is ended first (its note-off would end both).
      for (let j = 0; j < MAX_NOTES; j++)
        if (j !== i && this.chan[j] === ch && this.on[j] === 1 && this.key[j] === this.key[i])
          this.endNote(j);
      proc.noteOn(ch, this.key[i]!, this.vel[i]!);
      this.on[i] = 1;
    }
    const l = this.periodL;
    const r = this.periodR;
    // Nothing held and no voice ringing: nothing to render (the processor's clock pauses there,
    // which no voice notices; note-ons are taken in at the next render, so held notes count).
    let tracked = false;
    for (let i = 0; i < MAX_NOTES && !tracked; i++) tracked = this.chan[i] !== -1;
    this.sounding = tracked || proc.voiceCount > 0;
    if (!this.sounding) return;
    l.fill(0);
    r.fill(0);
    proc.processSplit(this.outputs, l, r, 0, this.periodFrames);
  }

  /** Adds the next n frames of the current period into busL/busR. Returns false when silent. */
  render(busL: Float64Array, busR: Float64Array, n: number): boolean {
    const p = this.readPos;
    this.readPos = p + n;
    if (!this.sounding || p + n > this.periodFrames) return false;
    const l = this.periodL;
    const r = this.periodR;
    for (let i = 0; i < n; i++) {
      busL[i] = busL[i]! + l[p + i]!;
      busR[i] = busR[i]! + r[p + i]!;
    }
    return true;
  }

  private endNote(i: number): void {
    if (this.on[i] === 1) this.proc.noteOff(this.chan[i]!, this.key[i]!);
    this.chan[i] = -1;
    this.on[i] = 0;
  }

  private endChannel(ch: number): void {
    for (let i = 0; i < MAX_NOTES; i++) if (this.chan[i] === ch) this.endNote(i);
  }
}

export {
  findDefaultSoundFont,
  soundFontProblem,
  SOUNDFONT_CANDIDATES,
  SOUNDFONT_DIR,
} from './soundfont-file.ts';
