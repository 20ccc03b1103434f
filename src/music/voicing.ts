import { mod, type Chord } from './theory.ts';

/**
 * Upper pad voices above the bass (fifths in the middle, thirds and colours high). Four pad notes
 * per chord, so a chord and the releasing one before it fit the synth's 8 pad voices.
 */
export const PAD_UPPER_VOICES = 3;
/** Bass (chord root) range: low but leaving an octave below it for the drone, MIDI G2–G3. */
const BASS_LOW = 43;
const BASS_HIGH = 55;
/** Upper voices range, MIDI A#3–G5. */
const UPPER_LOW = 52;
const UPPER_HIGH = 79;
/** Thirds and colour tones below G3 (~200 Hz) turn to mud. */
const MUD_MIDI = 57;
/** Intervals doubled (root, fifth) when a chord has fewer tones than upper voices. */
const FILLER_INTERVALS = [0, 7];

const PERMUTATIONS: readonly (readonly number[])[] = (() => {
  const out: number[][] = [];
  const rec = (prefix: number[], rest: number[]): void => {
    if (rest.length === 0) out.push(prefix);
    rest.forEach((v, i) => rec([...prefix, v], [...rest.slice(0, i), ...rest.slice(i + 1)]));
  };
  rec(
    [],
    Array.from({ length: PAD_UPPER_VOICES }, (_, i) => i),
  );
  return out;
})();

function nearest(pc: number, target: number, low: number, high: number): number {
  let m = target + mod(pc - target, 12);
  if (m - target > 6) m -= 12;
  while (m < low) m += 12;
  while (m > high) m -= 12;
  return m;
}

/**
 * Open, voice-led pad voicings: the root low, the other tones spread above it, each upper voice
 * moving to the nearest tone of the next chord (common tones stay where they are).
 */
export class PadVoicer {
  /** The current voicing: [bass, upper voices…] as MIDI notes. */
  readonly voices = new Int32Array(1 + PAD_UPPER_VOICES);
  private readonly candidate = new Int32Array(PAD_UPPER_VOICES);
  private readonly tones = new Int32Array(PAD_UPPER_VOICES);
  private readonly colour = new Uint8Array(PAD_UPPER_VOICES);
  private started = false;

  /** Lowest note for an upper tone: roots and fifths may sit just above the bass, colours above the mud line. */
  private lowFor(tone: number): number {
    return this.colour[tone] === 1 ? MUD_MIDI : Math.max(UPPER_LOW, this.voices[0]! + 7);
  }

  /** Voices a chord with minimal movement from the previous voicing; returns total semitones moved. */
  voice(chord: Chord, registerShiftSemitones: number): number {
    const v = this.voices;
    const bassCentre = 48 + registerShiftSemitones;
    const upperCentre = 64 + registerShiftSemitones;
    if (!this.started) {
      v[0] = nearest(chord.rootPc, bassCentre, BASS_LOW, BASS_HIGH);
      for (let j = 0; j < PAD_UPPER_VOICES; j++) v[1 + j] = upperCentre - 6 + j * 5;
    }
    // The bass follows the root by the smallest move, pulled gently toward the region's register.
    const bassTarget = Math.round((v[0]! * 2 + bassCentre) / 3);
    const prevBass = v[0]!;
    v[0] = nearest(chord.rootPc, bassTarget, BASS_LOW, BASS_HIGH);
    let moved = this.started ? Math.abs(v[0]! - prevBass) : 0;

    // Tones above the bass: everything but the root (a ninth chord leaves out its fifth, the
    // least coloured tone), then the root and fifth doubled as needed.
    let n = 0;
    const dropFifth = chord.intervals.length - 1 > PAD_UPPER_VOICES;
    for (let i = 1; i < chord.intervals.length && n < PAD_UPPER_VOICES; i++) {
      const interval = chord.intervals[i]!;
      if (dropFifth && interval === 7) continue;
      this.tones[n] = (chord.rootPc + interval) % 12;
      // Fifths sit well in the middle; thirds, ninths, sevenths and fourths belong above the mud line.
      this.colour[n] = interval === 7 ? 0 : 1;
      n++;
    }
    for (let f = 0; n < PAD_UPPER_VOICES; f++, n++) {
      this.tones[n] = (chord.rootPc + FILLER_INTERVALS[f]!) % 12;
      this.colour[n] = 0;
    }

    let bestCost = Number.POSITIVE_INFINITY;
    let best = 0;
    for (let p = 0; p < PERMUTATIONS.length; p++) {
      const perm = PERMUTATIONS[p]!;
      let cost = 0;
      for (let j = 0; j < PAD_UPPER_VOICES; j++) {
        const t = perm[j]!;
        const prev = this.started ? v[1 + j]! : upperCentre;
        const m = nearest(this.tones[t]!, prev, this.lowFor(t), UPPER_HIGH);
        this.candidate[j] = m;
        cost += Math.abs(m - prev);
      }
      // Unisons waste a voice; clusters of seconds below middle C sound muddy.
      for (let a = 0; a < PAD_UPPER_VOICES; a++) {
        for (let b = a + 1; b < PAD_UPPER_VOICES; b++) {
          const d = Math.abs(this.candidate[a]! - this.candidate[b]!);
          if (d === 0) cost += 8;
          else if (d <= 2 && Math.min(this.candidate[a]!, this.candidate[b]!) < 60) cost += 4;
        }
      }
      let mean = 0;
      for (let j = 0; j < PAD_UPPER_VOICES; j++) mean += this.candidate[j]!;
      cost += Math.abs(mean / PAD_UPPER_VOICES - upperCentre) * 0.5;
      if (cost < bestCost) {
        bestCost = cost;
        best = p;
      }
    }
    const perm = PERMUTATIONS[best]!;
    for (let j = 0; j < PAD_UPPER_VOICES; j++) {
      const prev = this.started ? v[1 + j]! : upperCentre;
      const m = nearest(this.tones[perm[j]!]!, prev, this.lowFor(perm[j]!), UPPER_HIGH);
      if (this.started) moved += Math.abs(m - prev);
      v[1 + j] = m;
    }
    this.started = true;
    return moved;
  }

  /**
   * The same chord with one upper voice moved to a neighbouring chord tone (a step or a third
   * away, never onto another voice): motion inside a long chord when the pad is re-struck.
   * `choice` in [0, 1) picks among the smallest such moves. Returns the semitones moved (0 if none fits).
   */
  revoice(chord: Chord, choice: number): number {
    const v = this.voices;
    let count = 0;
    let smallest = Number.POSITIVE_INFINITY;
    for (let pass = 0; pass < 2; pass++) {
      let index = 0;
      for (let j = 1; j <= PAD_UPPER_VOICES; j++) {
        for (let dir = -1; dir <= 1; dir += 2) {
          const m = this.neighbourTone(chord, v[j]!, dir);
          if (m < 0) continue;
          const size = Math.abs(m - v[j]!);
          if (pass === 0) {
            if (size < smallest) {
              smallest = size;
              count = 0;
            }
            if (size === smallest) count++;
          } else if (size === smallest && index++ === Math.floor(choice * count)) {
            v[j] = m;
            return size;
          }
        }
      }
      if (count === 0) return 0;
    }
    return 0;
  }

  /** The nearest chord tone above (dir 1) or below (dir −1) a note that may take an upper voice, or −1. */
  private neighbourTone(chord: Chord, from: number, dir: number): number {
    const v = this.voices;
    for (let m = from + dir, steps = 1; steps <= 5; m += dir, steps++) {
      const interval = mod(m - chord.rootPc, 12);
      if (!chord.pcs.includes(m % 12)) continue;
      const low = interval === 0 || interval === 7 ? Math.max(UPPER_LOW, v[0]! + 7) : MUD_MIDI;
      if (m < low || m > UPPER_HIGH) return -1;
      for (let j = 1; j <= PAD_UPPER_VOICES; j++) if (v[j] === m) return -1;
      return m;
    }
    return -1;
  }
}
