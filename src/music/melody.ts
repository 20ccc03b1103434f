import type { Region } from './region.ts';
import type { Rng } from './rng.ts';
import type { Chord, Scale } from './theory.ts';

/** Most notes one phrase may hold (a 4-bar phrase at full intensity uses about 13). */
export const MAX_PHRASE_NOTES = 16;
/** Motifs remembered for varied return; the oldest is forgotten first. */
export const MOTIF_BANK_SIZE = 4;
/** Share of weak-beat notes that become a chromatic approach tone (resolved by step). */
const CHROMATIC_APPROACH_PROBABILITY = 0.035;
/** Probability that a new phrase brings back a remembered motif (always varied). */
const MOTIF_RETURN_PROBABILITY = 0.5;
/** Melody range (MIDI G3–G6) and the preferred centre in scale steps above the tonic reference. */
const MELODY_LOW_MIDI = 55;
const MELODY_HIGH_MIDI = 91;
const CENTRE_STEP = 8;
/** Onset grid in beats: halves, so melodies stay calm (no sixteenth runs). */
const GRID_BEATS = 0.5;
const MAX_GRID_SLOTS = 32;

const FLAG_APPROACH = 1;
/**
 * Phrases remembered to avoid exact repeats: ~2 hashes per phrase, a phrase every ≥ 2 bars, so
 * 1024 entries cover over 60 minutes even at 120 BPM.
 */
export const PHRASE_MEMORY_SIZE = 1024;
/** Re-variations tried before a phrase is accepted anyway (the later half make new motifs). */
const MAX_PLAN_ATTEMPTS = 8;
const HASH_SEED = 0x811c9dc5;

function hashStep(h: number, v: number): number {
  return Math.imul(h ^ (v & 0xffff), 0x01000193) >>> 0;
}

/** A remembered phrase shape: rhythm relative to the phrase start and contour in scale steps. */
class Motif {
  count = 0;
  spanBeats = 0;
  startStepOffset = 0;
  readonly onsetBeats = new Float64Array(MAX_PHRASE_NOTES);
  readonly durationBeats = new Float64Array(MAX_PHRASE_NOTES);
  /** Scale steps from the previous note (entry 0 unused). */
  readonly deltaSteps = new Int32Array(MAX_PHRASE_NOTES);
}

/** Receives one realized melody note: position and length in beats, MIDI note, velocity. */
export type MelodyNoteSink = (
  positionBeats: number,
  durationBeats: number,
  midi: number,
  velocity: number,
) => void;

/**
 * The melody (the `keys` instrument): phrases of 2–4 bars with an arch or falling contour, few
 * long notes, rests between phrases, motifs that return varied. Phrases are planned in scale
 * steps and realized note by note against the chord and scale sounding at that note, so a key
 * change in the middle of a phrase lets it finish in the new key.
 */
export class MelodyWriter {
  private readonly rng: Rng;
  private readonly bank: Motif[] = [];
  private bankNext = 0;
  /** The phrase being played, with absolute positions in beats. */
  private readonly phrase = new Motif();
  private readonly onsetAbs = new Float64Array(MAX_PHRASE_NOTES);
  private readonly plannedStep = new Int32Array(MAX_PHRASE_NOTES);
  private readonly flags = new Uint8Array(MAX_PHRASE_NOTES);
  private readonly gridWeight = new Float64Array(MAX_GRID_SLOTS);
  private noteIndex = 0;
  private active = false;
  private restUntilBeat = 0;
  /** A note already realized as the resolution of a chromatic approach tone. */
  private approachTargetIndex = -1;
  private approachTargetMidi = 0;
  private approachScale: Scale | null = null;
  /** Hashes of recent phrases (planned and as played), a ring. */
  private readonly memory = new Uint32Array(PHRASE_MEMORY_SIZE);
  private memoryNext = 0;
  private playedHash = HASH_SEED;

  constructor(rng: Rng) {
    this.rng = rng;
    for (let i = 0; i < MOTIF_BANK_SIZE; i++) this.bank.push(new Motif());
  }

  /** True when a new phrase may start at this bar line. */
  idleAt(barStartBeat: number): boolean {
    return !this.active && barStartBeat >= this.restUntilBeat;
  }

  /**
   * Plans a phrase starting at a bar line, with density from intensity and the region. A returning
   * motif is varied, and varied again (or replaced) while its realization over the current chord
   * matches a phrase heard in the last PHRASE_MEMORY_SIZE phrases: no long passage repeats exactly.
   */
  startPhrase(barStartBeat: number, intensity: number, region: Region, scale: Scale, chord: Chord): void {
    const rng = this.rng;
    const bars =
      intensity < 0.3 ? rng.pick([2, 2, 3]) : intensity <= 0.7 ? rng.pick([2, 3, 3, 4]) : rng.pick([3, 4, 4]);
    const spanBeats = bars * 4;
    const notesPerBar = (0.75 + 2.1 * intensity) * region.densityScale;
    const count = Math.max(
      2,
      Math.min(MAX_PHRASE_NOTES, Math.round(bars * notesPerBar + rng.range(-0.5, 0.5))),
    );
    const p = this.phrase;
    // Only motifs of about this phrase's density return, so a change of intensity is heard at once.
    const stored = this.bank.filter(
      (m) => m.count > 0 && Math.abs(m.count - count) <= Math.max(2, count / 2),
    );
    const returning = stored.length > 0 && rng.chance(MOTIF_RETURN_PROBABILITY);
    const shiftSteps = Math.round(region.registerShiftSemitones / 2);
    let hash = 0;
    let fresh = false;
    for (let attempt = 0; attempt < MAX_PLAN_ATTEMPTS; attempt++) {
      fresh = !returning || attempt >= MAX_PLAN_ATTEMPTS / 2;
      if (fresh) this.newMotif(p, spanBeats, count);
      else if (attempt === 0) {
        this.copyMotif(rng.pick(stored), p);
        this.vary(p);
      } else this.vary(p);
      this.layOut(p, barStartBeat, CENTRE_STEP + shiftSteps + p.startStepOffset);
      hash = this.dryHash(scale, chord);
      if (!this.memory.includes(hash)) break;
    }
    if (fresh) {
      // New material becomes a motif that may return later (varied).
      this.copyMotif(p, this.bank[this.bankNext]!);
      this.bankNext = (this.bankNext + 1) % MOTIF_BANK_SIZE;
    }
    this.remember(hash);
    this.playedHash = HASH_SEED;
    for (let k = 1; k < p.count - 1; k++) {
      const onset = p.onsetBeats[k]!;
      const weak = onset % 2 !== 0;
      if (weak && p.onsetBeats[k + 1]! - onset <= 1.5 && rng.chance(CHROMATIC_APPROACH_PROBABILITY)) {
        this.flags[k] = FLAG_APPROACH;
      }
    }
    this.noteIndex = 0;
    this.active = true;
    const restBars =
      intensity < 0.3 ? 2 + rng.int(3) : intensity <= 0.7 ? 1 + rng.int(2) : rng.chance(0.5) ? 1 : 0;
    this.restUntilBeat = barStartBeat + p.spanBeats + Math.round(restBars / region.densityScale) * 4;
  }

  /** Realizes the phrase's notes that start in [beat, beat + 1). */
  notesInBeat(beat: number, scale: Scale, chord: Chord, sink: MelodyNoteSink): void {
    if (!this.active) return;
    const p = this.phrase;
    while (this.noteIndex < p.count && this.onsetAbs[this.noteIndex]! < beat + 1) {
      const k = this.noteIndex++;
      const position = this.onsetAbs[k]!;
      const midi = this.realize(k, scale, chord);
      const arch = Math.sin((Math.PI * (k + 0.5)) / p.count);
      const strong = position % 2 === 0 ? 0.05 : 0;
      let velocity = 0.4 + 0.25 * arch + strong + this.rng.range(-0.04, 0.04);
      if (k === p.count - 1) velocity *= 0.85;
      this.playedHash = this.noteHash(this.playedHash, k, midi);
      sink(position, p.durationBeats[k]!, midi, velocity);
    }
    if (this.noteIndex >= p.count) {
      this.active = false;
      this.remember(this.playedHash);
    }
  }

  private noteHash(h: number, k: number, midi: number): number {
    const p = this.phrase;
    h = hashStep(h, Math.round(p.onsetBeats[k]! * 2));
    h = hashStep(h, Math.round(p.durationBeats[k]! * 8));
    return hashStep(h, midi);
  }

  /** The phrase's hash as if every note were realized over the chord sounding now (no chromatic tones). */
  private dryHash(scale: Scale, chord: Chord): number {
    let h = HASH_SEED;
    for (let k = 0; k < this.phrase.count; k++)
      h = this.noteHash(h, k, this.realizeDiatonic(k, scale, chord));
    return h;
  }

  private remember(hash: number): void {
    this.memory[this.memoryNext] = hash;
    this.memoryNext = (this.memoryNext + 1) % PHRASE_MEMORY_SIZE;
  }

  /** Absolute onsets and planned steps of the phrase from its motif. */
  private layOut(p: Motif, barStartBeat: number, startStep: number): void {
    let step = startStep;
    for (let k = 0; k < p.count; k++) {
      if (k > 0) step += p.deltaSteps[k]!;
      this.plannedStep[k] = step;
      this.onsetAbs[k] = barStartBeat + p.onsetBeats[k]!;
      this.flags[k] = 0;
    }
  }

  private realize(k: number, scale: Scale, chord: Chord): number {
    const p = this.phrase;
    if (k === this.approachTargetIndex && scale === this.approachScale) {
      this.approachTargetIndex = -1;
      return this.approachTargetMidi;
    }
    if (this.flags[k] === FLAG_APPROACH && k + 1 < p.count) {
      const target = this.realizeDiatonic(k + 1, scale, chord);
      const below = target - 1;
      const above = target + 1;
      const chromatic = !scale.contains(below) ? below : !scale.contains(above) ? above : -1;
      if (chromatic >= 0) {
        this.approachTargetIndex = k + 1;
        this.approachTargetMidi = target;
        this.approachScale = scale;
        return chromatic;
      }
    }
    return this.realizeDiatonic(k, scale, chord);
  }

  /** A scale tone; on strong beats and at the phrase's ends the nearest chord tone. */
  private realizeDiatonic(k: number, scale: Scale, chord: Chord): number {
    const p = this.phrase;
    let step = this.plannedStep[k]!;
    const position = this.onsetAbs[k]!;
    const strong = position % 2 === 0 || k === 0 || k === p.count - 1;
    if (strong) step = nearestChordStep(scale, chord, step);
    let midi = scale.midiOfStep(step);
    while (midi < MELODY_LOW_MIDI) midi += 12;
    while (midi > MELODY_HIGH_MIDI) midi -= 12;
    return midi;
  }

  private copyMotif(from: Motif, to: Motif): void {
    to.count = from.count;
    to.spanBeats = from.spanBeats;
    to.startStepOffset = from.startStepOffset;
    to.onsetBeats.set(from.onsetBeats);
    to.durationBeats.set(from.durationBeats);
    to.deltaSteps.set(from.deltaSteps);
  }

  /** A fresh motif: weighted onsets on a half-beat grid, arch or falling contour. */
  private newMotif(m: Motif, spanBeats: number, count: number): void {
    const rng = this.rng;
    const slots = Math.min(MAX_GRID_SLOTS, Math.floor((spanBeats - 2) / GRID_BEATS) + 1);
    const first = rng.pick([0, 0, 0, 1, 2]);
    const w = this.gridWeight;
    for (let s = 0; s < slots; s++) {
      const pos = s * GRID_BEATS;
      w[s] = pos <= first ? 0 : pos % 4 === 0 ? 3 : pos % 2 === 0 ? 2.2 : pos % 1 === 0 ? 1.2 : 0.45;
    }
    m.onsetBeats[0] = first;
    let n = 1;
    while (n < count) {
      let total = 0;
      for (let s = 0; s < slots; s++) total += w[s]!;
      if (total <= 0) break;
      let u = rng.next() * total;
      let chosen = 0;
      for (let s = 0; s < slots; s++) {
        u -= w[s]!;
        if (w[s]! > 0) chosen = s;
        if (u < 0 && w[s]! > 0) break;
      }
      w[chosen] = 0;
      // Insertion keeps onsets sorted.
      const pos = chosen * GRID_BEATS;
      let i = n++;
      while (i > 0 && m.onsetBeats[i - 1]! > pos) {
        m.onsetBeats[i] = m.onsetBeats[i - 1]!;
        i--;
      }
      m.onsetBeats[i] = pos;
    }
    m.count = n;
    m.spanBeats = spanBeats;
    this.fillDurations(m);
    const arch = rng.chance(0.6);
    m.startStepOffset = arch ? -2 - rng.int(2) : 2 + rng.int(2);
    this.fillContour(m, 1, arch);
  }

  /** Durations fill the gap to the next note, or leave a breath; the last note rings past the phrase. */
  private fillDurations(m: Motif): void {
    const rng = this.rng;
    for (let k = 0; k < m.count - 1; k++) {
      const gap = m.onsetBeats[k + 1]! - m.onsetBeats[k]!;
      m.durationBeats[k] =
        gap <= GRID_BEATS || rng.chance(0.6) ? gap : Math.max(GRID_BEATS, gap - GRID_BEATS);
    }
    const last = m.count - 1;
    m.durationBeats[last] = Math.max(2, m.spanBeats - m.onsetBeats[last]!) + rng.range(0.5, 1.5);
  }

  /** Step deltas from note `from` on; a leap (a 4th or more) is followed by a step back. */
  private fillContour(m: Motif, from: number, arch: boolean): void {
    const rng = this.rng;
    const peak = Math.round((m.count - 1) * rng.range(0.4, 0.7));
    for (let k = from; k < m.count; k++) {
      const prev = k > 1 ? m.deltaSteps[k - 1]! : 0;
      let d: number;
      if (Math.abs(prev) >= 3) d = prev > 0 ? -1 : 1;
      else {
        const up = arch ? k <= peak : rng.chance(0.15);
        const u = rng.next();
        const size = u < 0.58 ? 1 : u < 0.83 ? 2 : u < 0.93 ? 0 : 3;
        d = up ? size : -size;
      }
      m.deltaSteps[k] = d;
    }
    m.deltaSteps[0] = 0;
  }

  /** Varied return: always transposed, plus a displaced rhythm, a new tail or a new ending. */
  private vary(m: Motif): void {
    const rng = this.rng;
    const shift = (1 + rng.int(3)) * (rng.chance(0.5) ? 1 : -1);
    m.startStepOffset += shift;
    const choice = rng.int(3);
    if (choice === 0) {
      const by = rng.chance(0.5) ? GRID_BEATS : 1;
      if (m.onsetBeats[m.count - 1]! + by <= m.spanBeats - 1.5) {
        for (let k = 0; k < m.count; k++) m.onsetBeats[k]! += by;
      } else if (m.onsetBeats[0]! >= by) {
        for (let k = 0; k < m.count; k++) m.onsetBeats[k]! -= by;
      }
      this.fillDurations(m);
    } else if (choice === 1) {
      this.fillContour(m, Math.max(1, m.count - 2), rng.chance(0.5));
    } else {
      // Augment: the same shape, slower, where it fits the span (else a new tail).
      const last = m.onsetBeats[m.count - 1]!;
      if (last * 1.5 <= m.spanBeats - 1.5) {
        for (let k = 0; k < m.count; k++)
          m.onsetBeats[k] = Math.round((m.onsetBeats[k]! * 1.5) / GRID_BEATS) * GRID_BEATS;
        this.fillDurations(m);
      } else this.fillContour(m, Math.max(1, m.count - 2), false);
    }
  }
}

/** The scale step nearest `step` whose pitch class is a tone of the chord (ties go down: calmer). */
export function nearestChordStep(scale: Scale, chord: Chord, step: number): number {
  for (let d = 0; d <= 3; d++) {
    if (chord.pcs.includes(scale.pcOfStep(step - d))) return step - d;
    if (chord.pcs.includes(scale.pcOfStep(step + d))) return step + d;
  }
  return step;
}
