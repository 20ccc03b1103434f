/**
 * Types shared by composition (src/music), synthesis (src/dsp) and the engine.
 * Everything musical is stamped in sample frames (positions) of the station's clock.
 */

export const SAMPLE_RATE = 48_000;
export const CHANNELS = 2;

/** Canonical pitch-class names (sharps). Flats are accepted on input and normalized (see params.ts). */
export const PITCH_CLASSES = ['C', 'C#', 'D', 'D#', 'E', 'F', 'F#', 'G', 'G#', 'A', 'A#', 'B'] as const;
export type PitchClass = (typeof PITCH_CLASSES)[number];

export const MODES = ['ionian', 'dorian', 'phrygian', 'lydian', 'mixolydian', 'aeolian'] as const;
export type Mode = (typeof MODES)[number];

/** The listener-facing musical parameters (PROTOCOL.md "Musical parameters"). */
export interface MusicParams {
  key: PitchClass;
  mode: Mode;
  /** Beats per minute, 40–120. */
  bpm: number;
  /** 0 (sparse) … 1 (dense). */
  intensity: number;
  /** The preset last applied, or null. Sets the sound character (Timbre). */
  preset: string | null;
  /**
   * The musical ending of a sleep timer (not a listener-facing parameter): from the position where
   * it becomes true, over ENDING_SECONDS, the score thins, the harmony goes to the tonic and stays,
   * and the synth fades to silence; back to false, the music comes back. Absent = false.
   */
  ending?: boolean;
}

/** How long the musical ending of a sleep timer lasts (see MusicParams.ending). */
export const ENDING_SECONDS = 120;

/** Sound character, set by presets; the DSP glides between timbres. All values 0…1 unless named. */
export interface Timbre {
  /** Pad low-pass brightness: 0 = dark (~500 Hz cutoff), 1 = bright (~3 kHz). */
  brightness: number;
  /** Wet level of the long reverb. */
  reverbMix: number;
  /** Reverb decay time in seconds (RT60-ish), 3–12. */
  reverbDecaySeconds: number;
  /** Wet level of the tempo-synced delay. */
  delayMix: number;
  padLevel: number;
  keysLevel: number;
  droneLevel: number;
  textureLevel: number;
  percLevel: number;
  /** Keys voice: 0 = electric-piano-like FM (1:1), 1 = bell-like FM (1:3.5). */
  bellness: number;
}

/** The instruments of a station. Each has its own voices in the DSP and its own MIDI track. */
export const INSTRUMENTS = ['pad', 'keys', 'drone', 'texture', 'perc'] as const;
export type Instrument = (typeof INSTRUMENTS)[number];

/**
 * Percussion "notes" use General-MIDI-like numbers to pick a sound:
 * 36 felt kick, 37 muted click (rim), 42 shaker, 44 brushed noise.
 */
export const PERC_KICK = 36;
export const PERC_CLICK = 37;
export const PERC_SHAKER = 42;
export const PERC_BRUSH = 44;

/** One note of the score. Plain data; the composer may reuse objects after the sink returns. */
export interface NoteEvent {
  instrument: Instrument;
  /** Absolute position (sample frames since the station started) of the note's start. */
  startFrame: number;
  /** How long the note is held before its release starts, in frames. */
  durationFrames: number;
  /** MIDI note number (integer, 0–127). For `texture` it is the band's centre pitch. */
  midi: number;
  /** 0…1. Maps to level and brightness. */
  velocity: number;
  /**
   * What the event does: absent or `'note'` starts a note; `'release'` ends notes early (a key or
   * mode change): at `startFrame`, every held note of `instrument` that started before it and
   * whose pitch class is not in `keepPitchClasses` enters its release (the instrument's own
   * release envelope). A release has no pitch of its own: `durationFrames`, `midi` and
   * `velocity` are 0.
   */
  kind?: NoteEventKind;
  /** For a release: the pitch classes that ring on, bit p (`1 << p`, C = 0) for pitch class p; 0 releases all. */
  keepPitchClasses?: number;
}

export type NoteEventKind = 'note' | 'release';

/** Whether an event is a release rather than a note (see `NoteEvent.kind`). */
export function isRelease(e: NoteEvent): boolean {
  return e.kind === 'release';
}

/** Pitch class (0–11, C = 0) of a MIDI note. */
export function pitchClassOf(midi: number): number {
  return ((Math.round(midi) % 12) + 12) % 12;
}

/** Whether a release event's `keepPitchClasses` lets notes of this MIDI note's pitch class ring on. */
export function keepsPitch(keepPitchClasses: number, midi: number): boolean {
  return ((keepPitchClasses >> pitchClassOf(midi)) & 1) === 1;
}

/** What is sounding at a position, for display (`now` messages). */
export interface NowInfo {
  /** Chord symbol, e.g. `Am9`, `Fmaj7`, `Dsus2`. */
  chord: string;
  key: PitchClass;
  mode: Mode;
  /** Harmonic region / section name, e.g. `A`, `B`, or a descriptive word. */
  section: string;
}

export interface Preset {
  name: string;
  /** One line a listener reads to choose (GET /api/presets, the page's chips): what it sounds like. */
  character: string;
  description: string;
  /** Parameters the preset sets (key is usually left as it is). */
  params: Partial<Omit<MusicParams, 'preset'>>;
  timbre: Timbre;
  /**
   * Instruments played by the sampled layer (a SoundFont, `src/dsp/soundfont.ts`) instead of the
   * built-in synth. A preset with it `requires` a SoundFont (see `/api/presets`).
   */
  sampled?: SampledVoicing;
}

/** One part of the sampled layer: a General MIDI program and how the score's notes map onto it. */
export interface SampledPart {
  /** GM program number, 0–127 (bank 0). */
  program: number;
  /** MIDI velocity range the score's velocity 0…1 maps onto (soft felt piano: low numbers). */
  velocity: readonly [number, number];
  /** Channel volume (CC7) 0…1: the balance between the parts. */
  volume: number;
  /** Stereo position −1 (left) … 1 (right); default 0. */
  pan?: number;
  /** Semitones added to every note (register); default 0. */
  transpose?: number;
  /** The score's durations × this (below 1: damped, shorter than written); default 1. */
  hold?: number;
  /**
   * Sound controllers 0–127 (64 = the SoundFont's own): `brightness` (CC74, filter cutoff: low is
   * felt-dark), `attack` (CC73, higher is softer) and `release` (CC72, higher rings longer).
   */
  brightness?: number;
  attack?: number;
  release?: number;
}

/** Which instruments the sampled layer plays (the others stay on the built-in synth). */
export interface SampledVoicing {
  pad?: SampledPart;
  keys?: SampledPart;
  /** Level of the layer into the mix (× the synth's master gain), and its effect sends. */
  level: number;
  reverbSend: number;
  delaySend: number;
}
