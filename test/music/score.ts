import { Composer, type ChordChange } from '../../src/music/composer.ts';
import { MODE_INTERVALS, pitchClassIndex } from '../../src/music/theory.ts';
import type { Instrument, Mode, MusicParams, NoteEvent, PitchClass } from '../../src/music/types.ts';

/** Helpers shared by the composition tests: a score is the composer's output as plain data. */

export const SAMPLE_RATE = 48_000;

export interface Score {
  events: NoteEvent[];
  chords: ChordChange[];
  composer: Composer;
}

export function params(over: Partial<MusicParams> = {}): MusicParams {
  return { key: 'A', mode: 'aeolian', bpm: 70, intensity: 0.5, preset: null, ...over };
}

/** Composes `seconds` of score in chunks of `chunkFrames`, copying every event (the sink's object is reused). */
export function compose(seed: number, p: MusicParams, seconds: number, chunkFrames = 4800): Score {
  const events: NoteEvent[] = [];
  const chords: ChordChange[] = [];
  const composer = new Composer({
    seed,
    params: p,
    sampleRate: SAMPLE_RATE,
    observer: { onChord: (c) => chords.push(c) },
  });
  const end = Math.round(seconds * SAMPLE_RATE);
  for (let f = 0; f < end;) {
    f = Math.min(end, f + chunkFrames);
    composer.generate(f, (e) => events.push({ ...e }));
  }
  return { events, chords, composer };
}

export function only(events: NoteEvent[], instrument: Instrument): NoteEvent[] {
  return events.filter((e) => e.instrument === instrument && e.kind !== 'release');
}

export function scalePcs(key: PitchClass, mode: Mode): Set<number> {
  const t = pitchClassIndex(key);
  return new Set(MODE_INTERVALS[mode].map((i) => (t + i) % 12));
}

export function framesPerBeat(bpm: number): number {
  return (60 * SAMPLE_RATE) / bpm;
}

/** Position of a frame in beats at a constant tempo, quantized to 1/8 beat (frames are rounded). */
export function beatPosition(frame: number, bpm: number): number {
  return Math.round((frame / framesPerBeat(bpm)) * 8) / 8;
}

/** The chord sounding at a frame (chords sorted by start). */
export function chordAt(chords: ChordChange[], frame: number): ChordChange {
  let lo = 0;
  let hi = chords.length - 1;
  while (lo < hi) {
    const mid = (lo + hi + 1) >> 1;
    if (chords[mid]!.startFrame <= frame) lo = mid;
    else hi = mid - 1;
  }
  return chords[lo]!;
}

export function fraction(n: number, d: number): number {
  return d === 0 ? 0 : n / d;
}
