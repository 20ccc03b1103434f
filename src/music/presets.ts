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
    description:
      'Steady, neutral and unobtrusive: dorian, 66 BPM, mid density (a phrase every few bars, a chord every ~3 bars), a few soft percussion hits.',
    params: { mode: 'dorian', bpm: 66, intensity: 0.5 },
    timbre: { ...DEFAULT_TIMBRE },
  },
  {
    name: 'meditation',
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
    name: 'piano',
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

/** The sampled voicing of a preset (null: none, or no preset). */
export function sampledFor(preset: string | null): SampledVoicing | null {
  return (preset !== null && BY_NAME.get(preset)?.sampled) || null;
}

export function timbreFor(preset: string | null): Timbre {
  return (preset !== null && BY_NAME.get(preset)?.timbre) || DEFAULT_TIMBRE;
}
