import type { Preset, SampledVoicing, Timbre } from './types.ts';

/** The sound character used when no preset has been applied: neutral, like `focus`. */
export const DEFAULT_TIMBRE: Timbre = {
  brightness: 0.45,
  reverbMix: 0.32,
  reverbDecaySeconds: 6,
  delayMix: 0.12,
  padLevel: 0.8,
  keysLevel: 0.55,
  droneLevel: 0.5,
  textureLevel: 0.18,
  percLevel: 0.25,
  bellness: 0.4,
};

/** Presets as characters: each a distinct mood (mode, tempo, density and timbre together), not just other numbers. */
export const PRESETS: readonly Preset[] = [
  {
    name: 'focus',
    character: 'Steady and unobtrusive: a mid-tempo pad and soft keys, a few quiet taps — music to work to.',
    description:
      'Steady, neutral and unobtrusive: dorian, 66 BPM, mid density (a phrase every few bars, a chord every ~3 bars), a few soft percussion hits.',
    params: { mode: 'dorian', bpm: 66, intensity: 0.5 },
    timbre: { ...DEFAULT_TIMBRE },
  },
  {
    name: 'meditation',
    character: 'Open and spacious: slow chords over a forward drone, long reverb, no percussion.',
    description:
      'Open, slow and spacious: aeolian, 50 BPM, sparse melody, chords of 3–4 bars, no percussion, long reverb, drone forward.',
    params: { mode: 'aeolian', bpm: 50, intensity: 0.3 },
    timbre: {
      ...DEFAULT_TIMBRE,
      brightness: 0.35,
      reverbMix: 0.45,
      reverbDecaySeconds: 9,
      delayMix: 0.1,
      droneLevel: 0.8,
      keysLevel: 0.45,
      percLevel: 0.08,
      bellness: 0.6,
    },
  },
  {
    name: 'sleep',
    character: 'The slowest and softest: a few low notes a minute over a drone, nothing sudden.',
    description:
      'Dark, very slow, no surprises: phrygian, 40 BPM, lowest density (a few notes a minute, chords of ~4 bars), no percussion, darker filter.',
    params: { mode: 'phrygian', bpm: 40, intensity: 0.12 },
    timbre: {
      ...DEFAULT_TIMBRE,
      brightness: 0.12,
      reverbMix: 0.42,
      reverbDecaySeconds: 10,
      delayMix: 0.06,
      droneLevel: 0.7,
      keysLevel: 0.35,
      textureLevel: 0.12,
      percLevel: 0,
      bellness: 0.2,
    },
  },
  {
    name: 'bright',
    character: 'Warm and luminous: bells in front, a lydian glow, light percussion, more movement.',
    description:
      'Warm and luminous: lydian, 72 BPM, bells forward, more movement (longer phrases, chords every 2–4 bars, light percussion).',
    params: { mode: 'lydian', bpm: 72, intensity: 0.65 },
    timbre: {
      ...DEFAULT_TIMBRE,
      brightness: 0.8,
      reverbMix: 0.3,
      reverbDecaySeconds: 5,
      delayMix: 0.18,
      keysLevel: 0.75,
      textureLevel: 0.22,
      percLevel: 0.3,
      bellness: 0.85,
    },
  },
  {
    name: 'night',
    character: 'Dark and sparse: low drones, a muffled pad, rare bell-like notes.',
    description:
      'Dark and still: mixolydian, 46 BPM, sparse, the drone and a muffled pad in front, rare bell-like notes, no percussion, a long dark reverb.',
    params: { mode: 'mixolydian', bpm: 46, intensity: 0.16 },
    timbre: {
      ...DEFAULT_TIMBRE,
      brightness: 0,
      reverbMix: 0.48,
      reverbDecaySeconds: 11,
      delayMix: 0.05,
      padLevel: 0.7,
      droneLevel: 0.95,
      keysLevel: 0.3,
      textureLevel: 0.06,
      percLevel: 0,
      bellness: 1,
    },
  },
  {
    name: 'dawn',
    character: 'Slow and luminous: sparse bells over a light pad, a wide, airy echo.',
    description:
      'Slow and luminous: lydian, 42 BPM, sparse, bell-like keys over a light open pad, a wide delay and a long reverb, no percussion.',
    params: { mode: 'lydian', bpm: 42, intensity: 0.25 },
    timbre: {
      ...DEFAULT_TIMBRE,
      brightness: 0.75,
      reverbMix: 0.45,
      reverbDecaySeconds: 8,
      delayMix: 0.22,
      padLevel: 0.7,
      keysLevel: 0.65,
      droneLevel: 0.3,
      textureLevel: 0.2,
      percLevel: 0,
      bellness: 0.9,
    },
  },
  {
    name: 'rain',
    character: 'A soft steady patter: busy percussion and airy noise bands over a quiet pad.',
    description:
      'A soft steady patter: ionian, 52 BPM, the noise-band texture and brushed percussion forward and dense, quiet keys, a short room.',
    params: { mode: 'ionian', bpm: 52, intensity: 0.8 },
    timbre: {
      ...DEFAULT_TIMBRE,
      brightness: 0.4,
      reverbMix: 0.26,
      reverbDecaySeconds: 4,
      delayMix: 0.08,
      padLevel: 0.6,
      keysLevel: 0.35,
      droneLevel: 0.35,
      textureLevel: 0.7,
      percLevel: 0.45,
      bellness: 0.25,
    },
  },
  {
    name: 'pulse',
    character: 'Moving and rhythmic: the fastest and busiest, steady percussion, a tempo-synced echo.',
    description:
      'Moving and rhythmic: mixolydian, 96 BPM, dense, steady percussion forward, a tempo-synced echo, electric-piano keys, a short bright room.',
    params: { mode: 'mixolydian', bpm: 96, intensity: 0.85 },
    timbre: {
      ...DEFAULT_TIMBRE,
      brightness: 0.6,
      reverbMix: 0.22,
      reverbDecaySeconds: 3.5,
      delayMix: 0.24,
      padLevel: 0.65,
      keysLevel: 0.7,
      droneLevel: 0.35,
      textureLevel: 0.2,
      percLevel: 0.7,
      bellness: 0.15,
    },
  },
  {
    name: 'piano',
    character: 'A felt piano in a large room, soft and sparse (needs a SoundFont).',
    description:
      'A felt piano in a large room (needs a SoundFont): ionian, 56 BPM, sparse and soft, damped notes over a quiet warm pad, long reverb.',
    params: { mode: 'ionian', bpm: 56, intensity: 0.28 },
    timbre: {
      ...DEFAULT_TIMBRE,
      brightness: 0.3,
      reverbMix: 0.5,
      reverbDecaySeconds: 9,
      delayMix: 0.06,
      droneLevel: 0.32,
      textureLevel: 0.1,
      percLevel: 0,
      bellness: 0.2,
    },
    sampled: {
      // GM 0 acoustic grand, played softly (felt) and shorter than written (damped).
      keys: {
        program: 0,
        velocity: [24, 60],
        volume: 0.95,
        pan: 0.1,
        hold: 0.7,
        brightness: 54,
        release: 72,
      },
      // GM 89 warm pad, low and quiet under the piano.
      pad: { program: 89, velocity: [28, 48], volume: 0.5, pan: -0.1, brightness: 56 },
      level: 12,
      reverbSend: 0.7,
      delaySend: 0.12,
    },
  },
  {
    name: 'strings',
    character: 'Slow strings and a harp in a deep hall (needs a SoundFont).',
    description:
      'Slow strings and a harp (needs a SoundFont): dorian, 60 BPM, long string chords, plucked phrases, deep reverb.',
    params: { mode: 'dorian', bpm: 60, intensity: 0.4 },
    timbre: {
      ...DEFAULT_TIMBRE,
      brightness: 0.35,
      reverbMix: 0.45,
      reverbDecaySeconds: 8,
      delayMix: 0.1,
      droneLevel: 0.35,
      textureLevel: 0.12,
      percLevel: 0,
      bellness: 0.3,
    },
    sampled: {
      // GM 46 orchestral harp for the phrases, GM 49 slow string ensemble for the chords.
      keys: { program: 46, velocity: [30, 66], volume: 0.7, pan: 0.2, attack: 80, release: 76 },
      pad: { program: 49, velocity: [34, 60], volume: 0.7, pan: -0.15 },
      level: 5.5,
      reverbSend: 0.6,
      delaySend: 0.15,
    },
  },
];

const BY_NAME = new Map(PRESETS.map((p) => [p.name, p]));

export function findPreset(name: string): Preset | undefined {
  return BY_NAME.get(name);
}

/** What a preset needs beyond the built-in synth: `soundfont` for a sampled voicing. */
export function presetRequires(p: Preset): string[] {
  return p.sampled ? ['soundfont'] : [];
}

/**
 * Why a station of `preset` does not sound as its preset says on a server with (`hasSoundFont`)
 * or without a SoundFont, or null when it does: a sampled preset without one plays its score on
 * the built-in instruments (a station restored from the state file; choosing it is refused).
 */
export function soundFontMissing(preset: string | null, hasSoundFont: boolean): string | null {
  if (hasSoundFont || preset === null || !BY_NAME.get(preset)?.sampled) return null;
  return `preset ${preset} needs a SoundFont and this server has none: it plays on the built-in instruments until the server is started with --soundfont PATH`;
}

/** The sampled voicing of a preset (null: none, or no preset). */
export function sampledFor(preset: string | null): SampledVoicing | null {
  return (preset !== null && BY_NAME.get(preset)?.sampled) || null;
}

export function timbreFor(preset: string | null): Timbre {
  return (preset !== null && BY_NAME.get(preset)?.timbre) || DEFAULT_TIMBRE;
}
