import type { Region } from './region.ts';
import type { Rng } from './rng.ts';
import { buildChord, CHARACTERISTIC_DEGREE, CHORD_KINDS, mod, type Chord, type Scale } from './theory.ts';

/**
 * Markov weight of a root motion, by scale degrees moved up (0–6). Plagal and modal motions
 * (up or down a fourth, by thirds, by step: IV–I, ♭VII–I, i–♭VI, I–II) all carry weight; the one
 * authentic motion that matters (V–I) is removed separately, see `isAuthenticCadence`.
 */
const ROOT_MOTION_WEIGHT = [0, 1.6, 2.2, 2.6, 2.8, 2.4, 1.8];
const TONIC_WEIGHT = 1.4;
const CHARACTERISTIC_WEIGHT = 1.5;

/**
 * Chord length: uniform whole bars from MIN_CHORD_BARS up, with a mean of about
 * CHORD_BARS_AT_ZERO − CHORD_BARS_SLOPE · intensity (≈ 4 bars sparse, 3 at 0.5, 2 dense).
 */
export const MIN_CHORD_BARS = 2;
const CHORD_BARS_AT_ZERO = 4.4;
const CHORD_BARS_SLOPE = 2.4;

/**
 * V (or a suspended V) going to a major I: the authentic cadence ambient music avoids. A minor v
 * going to I (mixolydian) is modal and allowed.
 */
export function isAuthenticCadence(prev: Chord, next: Chord, scale: Scale): boolean {
  if (next.rootPc !== scale.tonicPc || next.minor) return false;
  if (prev.rootPc !== (scale.tonicPc + 7) % 12) return false;
  return !prev.minor || prev.kind === 'sus2' || prev.kind === 'sus4';
}

/** Chooses chords: a Markov chain over the mode's degrees whose state carries across phrases and regions. */
export class Harmony {
  private readonly rng: Rng;
  private readonly weights = new Float64Array(7);
  private readonly kindWeights = new Float64Array(CHORD_KINDS.length);

  constructor(rng: Rng) {
    this.rng = rng;
  }

  /** Chord length in bars for the current intensity and region. */
  barsFor(intensity: number, region: Region): number {
    const mean = CHORD_BARS_AT_ZERO - CHORD_BARS_SLOPE * intensity;
    const longest = Math.max(MIN_CHORD_BARS, Math.round(2 * mean - MIN_CHORD_BARS));
    let bars = MIN_CHORD_BARS + this.rng.int(longest - MIN_CHORD_BARS + 1);
    // Sparse regions breathe a little slower still.
    if (region.densityScale < 0.85 && this.rng.chance(0.3)) bars++;
    return Math.max(MIN_CHORD_BARS, bars);
  }

  /** The next chord in the same key and mode (never the same degree twice, never V–I). */
  next(scale: Scale, prev: Chord | null, region: Region): Chord {
    const w = this.weights;
    const characteristic = CHARACTERISTIC_DEGREE[scale.mode];
    for (let d = 0; d < 7; d++) {
      // A station opens on the tonic, so the key is heard first; from then on the chain walks.
      let weight = prev === null ? (d === 0 ? 1 : 0) : ROOT_MOTION_WEIGHT[mod(d - prev.degree, 7)]!;
      weight *= region.degreeEmphasis[d]!;
      if (d === 0) weight *= TONIC_WEIGHT;
      if (d === characteristic) weight *= CHARACTERISTIC_WEIGHT;
      w[d] = weight;
    }
    return this.chooseWeighted(scale, prev, region);
  }

  /**
   * The first chord after a key or mode change: the chord of the new scale sharing the most tones
   * with the one sounding, so the pad tail of the old chord blends into it.
   */
  pivot(scale: Scale, prev: Chord | null, region: Region): Chord {
    const w = this.weights;
    for (let d = 0; d < 7; d++) {
      const triad = buildChord(scale, d, 'triad');
      let common = 0;
      if (triad !== null && prev !== null) for (const pc of triad.pcs) if (prev.pcs.includes(pc)) common++;
      w[d] = (1 + common * common) * (d === 0 ? 2 : 1) * region.degreeEmphasis[d]!;
    }
    return this.chooseWeighted(scale, prev, region);
  }

  private chooseWeighted(scale: Scale, prev: Chord | null, region: Region): Chord {
    const w = this.weights;
    let total = 0;
    for (let d = 0; d < 7; d++) {
      const triad = buildChord(scale, d, 'triad');
      const sameChord =
        prev !== null && triad !== null && triad.rootPc === prev.rootPc && triad.minor === prev.minor;
      if (triad === null || sameChord || (prev !== null && isAuthenticCadence(prev, triad, scale))) w[d] = 0;
      total += w[d]!;
    }
    let degree = 0;
    if (total > 0) {
      let u = this.rng.next() * total;
      for (let d = 0; d < 7; d++) {
        u -= w[d]!;
        if (u < 0 && w[d]! > 0) {
          degree = d;
          break;
        }
        if (w[d]! > 0) degree = d;
      }
    }
    return this.chooseKind(scale, degree, region);
  }

  private chooseKind(scale: Scale, degree: number, region: Region): Chord {
    const kw = this.kindWeights;
    let total = 0;
    for (let k = 0; k < CHORD_KINDS.length; k++) {
      kw[k] = buildChord(scale, degree, CHORD_KINDS[k]!) === null ? 0 : region.kindWeights[k]!;
      total += kw[k]!;
    }
    let u = this.rng.next() * total;
    for (let k = 0; k < CHORD_KINDS.length; k++) {
      u -= kw[k]!;
      if (u < 0 && kw[k]! > 0) return buildChord(scale, degree, CHORD_KINDS[k]!)!;
    }
    return buildChord(scale, degree, 'triad')!;
  }
}
