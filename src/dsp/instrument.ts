import { INSTRUMENTS } from '../music/types.ts';
import type { TimbreGlide } from './timbre-glide.ts';

/**
 * What the synth asks of each of its instruments (`src/dsp/instruments/`): a fixed pool of
 * voices that starts notes, plans the next control period, and renders a block of all its
 * sounding voices at once. The synth holds them in one array, in the order of `INSTRUMENTS` (`src/music/types.ts`).
 *
 * Times are absolute frames at the synth's rate. Nothing here allocates: pools, buses and
 * coefficients are sized at construction.
 */
export interface Instrument {
  /** Notes dropped because every voice slot was busy fading. */
  readonly droppedNotes: number;
  /** Voices faded out early (~8 ms) to make room for new notes. */
  readonly voiceSteals: number;
  /** Mono instruments (the drone) render into busL only; the synth gives them a mono bus. */
  readonly stereo: boolean;
  /**
   * Starts a note at `startFrame` lasting `durationFrames` (one-shot instruments ignore it);
   * `framesToTick` frames remain until the next control tick, which the first plan covers.
   */
  noteOn(
    midi: number,
    velocity: number,
    startFrame: number,
    durationFrames: number,
    framesToTick: number,
    timbre: TimbreGlide,
  ): void;
  /**
   * A release event (NoteEvent `kind: 'release'`): held notes that started before `atFrame`, of
   * a pitch class not in `keepPitchClasses` (bit p for pitch class p; 0 = all), start their
   * normal release at `atFrame` (at the control tick that reaches it). One-shot instruments ignore it.
   */
  release(keepPitchClasses: number, atFrame: number): void;
  /**
   * Pitch classes (bit p for pitch class p) of the voices whose note started before
   * `startedBefore`: held ones when `heldOnly`, else all still sounding (0 for unpitched instruments).
   */
  pitchClasses(startedBefore: number, heldOnly: boolean): number;
  /** Control tick at absolute frame `positionFrames`: releases, envelopes, LFOs, filter coefficients for the next n frames. */
  control(positionFrames: number, n: number, timbre: TimbreGlide): void;
  /**
   * Adds the next n frames of every sounding voice into busL/busR[0, n) (mono: busL only).
   * Returns false when silent (nothing was added). n never exceeds a control period.
   */
  render(busL: Float64Array, busR: Float64Array, n: number): boolean;
}

/**
 * Index of a NoteEvent's instrument in INSTRUMENTS (`src/music/types.ts`, the one list of them;
 * the synth's array follows its order), or −1 for anything else.
 */
export function instrumentIndex(name: unknown): number {
  return INSTRUMENTS.indexOf(name as (typeof INSTRUMENTS)[number]);
}
