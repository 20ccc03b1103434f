import { PITCH_CLASSES, type Mode, type PitchClass } from './types.ts';

/** Semitones above the tonic of the seven degrees of each mode. */
export const MODE_INTERVALS: Readonly<Record<Mode, readonly number[]>> = {
  ionian: [0, 2, 4, 5, 7, 9, 11],
  dorian: [0, 2, 3, 5, 7, 9, 10],
  phrygian: [0, 1, 3, 5, 7, 8, 10],
  lydian: [0, 2, 4, 6, 7, 9, 11],
  mixolydian: [0, 2, 4, 5, 7, 9, 10],
  aeolian: [0, 2, 3, 5, 7, 8, 10],
};

/**
 * The degree that gives each mode its colour (I–II in lydian, ♭VII–I in mixolydian …);
 * the chord on it is favoured by the harmony so that a mode sounds like itself.
 */
export const CHARACTERISTIC_DEGREE: Readonly<Record<Mode, number>> = {
  ionian: 3,
  dorian: 3,
  phrygian: 1,
  lydian: 1,
  mixolydian: 6,
  aeolian: 5,
};

export function pitchClassIndex(key: PitchClass): number {
  return PITCH_CLASSES.indexOf(key);
}

export function pitchClassName(pc: number): PitchClass {
  return PITCH_CLASSES[((pc % 12) + 12) % 12]!;
}

export function mod(n: number, m: number): number {
  return ((n % m) + m) % m;
}

/** A scale as a 12-entry membership table plus its degrees, for allocation-free lookups. */
export class Scale {
  readonly tonicPc: number;
  readonly mode: Mode;
  /** Semitones above the tonic of the seven degrees. */
  readonly intervals: readonly number[];
  /** The tonic's reference note for step 0: between F#3 and F4, so melodies centre around C5. */
  readonly tonicMidi: number;
  /** The scale's pitch classes as a bit mask: bit p (`1 << p`) for pitch class p (a release's `keepPitchClasses`). */
  readonly pitchClassMask: number;
  private readonly member: Uint8Array = new Uint8Array(12);

  constructor(tonicPc: number, mode: Mode) {
    this.tonicPc = mod(tonicPc, 12);
    this.mode = mode;
    this.intervals = MODE_INTERVALS[mode];
    this.tonicMidi = 60 + this.tonicPc - (this.tonicPc > 5 ? 12 : 0);
    let mask = 0;
    for (const i of this.intervals) {
      this.member[(this.tonicPc + i) % 12] = 1;
      mask |= 1 << ((this.tonicPc + i) % 12);
    }
    this.pitchClassMask = mask;
  }

  contains(midiOrPc: number): boolean {
    return this.member[mod(midiOrPc, 12)] === 1;
  }

  /** Pitch class of a scale step (step 0 = tonic; steps continue across octaves). */
  pcOfStep(step: number): number {
    return (this.tonicPc + this.intervals[mod(step, 7)]!) % 12;
  }

  /**
   * MIDI note of a scale step, relative to a tonic reference note (by default `tonicMidi`):
   * step 7 is an octave above, step −1 the seventh degree below.
   */
  midiOfStep(step: number, tonicMidi = this.tonicMidi): number {
    return tonicMidi + 12 * Math.floor(step / 7) + this.intervals[mod(step, 7)]!;
  }
}

/**
 * Ambient chord colours. Every kind is built only where all its tones are in the scale, and no
 * kind has a major third with a minor seventh: dominant-seventh tension is avoided by
 * construction: ambient harmony avoids dominant-seventh tension.
 */
export const CHORD_KINDS = ['triad', 'sus2', 'sus4', 'add9', 'seventh', 'ninth'] as const;
export type ChordKind = (typeof CHORD_KINDS)[number];

export interface Chord {
  degree: number;
  rootPc: number;
  kind: ChordKind;
  /** True when the underlying diatonic triad has a minor third. */
  minor: boolean;
  /** Semitones above the root, ascending: the chord's tones (9ths as 14). */
  intervals: readonly number[];
  /** Pitch classes of all tones, root first. */
  pcs: readonly number[];
  /** Display symbol, e.g. `Am9`, `Fmaj7`, `Dsus2`, `Cadd9`. */
  symbol: string;
}

/** Triad quality of a degree: 'major', 'minor', or null where the fifth is not perfect (diminished). */
export function triadQuality(scale: Scale, degree: number): 'major' | 'minor' | null {
  const root = scale.intervals[degree]!;
  const third = mod(scale.intervals[(degree + 2) % 7]! - root, 12);
  const fifth = mod(scale.intervals[(degree + 4) % 7]! - root, 12);
  if (fifth !== 7) return null;
  return third === 4 ? 'major' : third === 3 ? 'minor' : null;
}

function kindIntervals(kind: ChordKind, minor: boolean): number[] {
  const third = minor ? 3 : 4;
  const seventh = minor ? 10 : 11;
  switch (kind) {
    case 'triad':
      return [0, third, 7];
    case 'sus2':
      return [0, 2, 7];
    case 'sus4':
      return [0, 5, 7];
    case 'add9':
      return [0, third, 7, 14];
    case 'seventh':
      return [0, third, 7, seventh];
    case 'ninth':
      return [0, third, 7, seventh, 14];
  }
}

function kindSuffix(kind: ChordKind, minor: boolean): string {
  switch (kind) {
    case 'triad':
      return minor ? 'm' : '';
    case 'sus2':
      return 'sus2';
    case 'sus4':
      return 'sus4';
    case 'add9':
      return minor ? 'madd9' : 'add9';
    case 'seventh':
      return minor ? 'm7' : 'maj7';
    case 'ninth':
      return minor ? 'm9' : 'maj9';
  }
}

/** The chord of a kind on a degree, or null where one of its tones would leave the scale. */
export function buildChord(scale: Scale, degree: number, kind: ChordKind): Chord | null {
  const quality = triadQuality(scale, degree);
  if (quality === null) return null;
  const minor = quality === 'minor';
  const rootPc = scale.pcOfStep(degree);
  const intervals = kindIntervals(kind, minor);
  const pcs: number[] = [];
  for (const i of intervals) {
    const pc = (rootPc + i) % 12;
    if (!scale.contains(pc)) return null;
    pcs.push(pc);
  }
  return {
    degree,
    rootPc,
    kind,
    minor,
    intervals,
    pcs,
    symbol: pitchClassName(rootPc) + kindSuffix(kind, minor),
  };
}

/** Degrees whose triad has a perfect fifth: the chords the harmony may use in this scale. */
export function usableDegrees(scale: Scale): number[] {
  const out: number[] = [];
  for (let d = 0; d < 7; d++) if (triadQuality(scale, d) !== null) out.push(d);
  return out;
}
