import type { Rng } from './rng.ts';
import { CHORD_KINDS, type ChordKind } from './theory.ts';

/** Shortest and longest span of a harmonic region, in seconds (issue: a shift every 30–90 s). */
export const REGION_MIN_SECONDS = 30;
export const REGION_MAX_SECONDS = 90;
/** Targets are drawn inside the bounds with margins, so a chord in progress never pushes past them. */
export const REGION_TARGET_MIN_SECONDS = 36;
export const REGION_TARGET_MAX_SECONDS = 75;

export const REGION_NAMES = ['open', 'drift', 'glow', 'deep', 'still', 'bloom', 'haze', 'tide'] as const;

/**
 * A harmonic region: a few chords that belong together, a register and a density.
 * It changes the emphasis, never the key or mode the listener chose.
 */
export interface Region {
  /** Counts regions from 0; display uses `name`. */
  index: number;
  name: string;
  /** Multiplies the Markov weight of moving to each degree: the progression family. */
  degreeEmphasis: Float64Array;
  /** Weight of each chord colour (indexed like CHORD_KINDS). */
  kindWeights: Float64Array;
  /** Semitones added to the pad and melody registers. */
  registerShiftSemitones: number;
  /** Scales melody, texture and percussion density (around 1). */
  densityScale: number;
  /** The drone holds the tonic under changing chords (a pedal point) instead of following roots. */
  pedal: boolean;
  /** Seconds after which the region gives way at the next chord change. */
  targetSeconds: number;
}

const BASE_KIND_WEIGHTS: Record<ChordKind, number> = {
  triad: 0.5,
  sus2: 1.1,
  sus4: 0.7,
  add9: 1.4,
  seventh: 1.4,
  ninth: 1.1,
};

/** The next region: a new family (3–4 favoured degrees), register, density and colour palette. */
export function nextRegion(rng: Rng, previous: Region | null): Region {
  const index = previous === null ? 0 : previous.index + 1;
  let name: string = rng.pick(REGION_NAMES);
  while (previous !== null && name === previous.name) name = rng.pick(REGION_NAMES);
  const degreeEmphasis = new Float64Array(7);
  for (let d = 0; d < 7; d++) degreeEmphasis[d] = 0.35;
  // The tonic stays reachable in every family so the key remains audible.
  degreeEmphasis[0] = 1;
  const favoured = 2 + rng.int(2);
  for (let i = 0; i < favoured; i++) degreeEmphasis[1 + rng.int(6)] = rng.range(1.4, 2.4);
  const kindWeights = new Float64Array(CHORD_KINDS.length);
  CHORD_KINDS.forEach((k, i) => (kindWeights[i] = BASE_KIND_WEIGHTS[k] * rng.range(0.5, 1.6)));
  let shift = rng.int(7) - 3;
  if (previous !== null && shift === previous.registerShiftSemitones)
    shift = shift >= 0 ? shift - 3 : shift + 3;
  return {
    index,
    name,
    degreeEmphasis,
    kindWeights,
    registerShiftSemitones: shift,
    densityScale: rng.range(0.75, 1.25),
    pedal: rng.chance(0.35),
    targetSeconds: rng.range(REGION_TARGET_MIN_SECONDS, REGION_TARGET_MAX_SECONDS),
  };
}
