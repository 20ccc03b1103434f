import type { Preset, Timbre } from './types.ts';

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
];

const BY_NAME = new Map(PRESETS.map((p) => [p.name, p]));

export function findPreset(name: string): Preset | undefined {
  return BY_NAME.get(name);
}

export function timbreFor(preset: string | null): Timbre {
  return (preset !== null && BY_NAME.get(preset)?.timbre) || DEFAULT_TIMBRE;
}
