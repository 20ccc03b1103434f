import type { LayerNoteSink } from './layer-sink.ts';
import type { Region } from './region.ts';
import type { Rng } from './rng.ts';
import type { Chord } from './theory.ts';

/** Noise-band centres stay in the air above the pad (MIDI C5–C8). */
const TEXTURE_LOW_MIDI = 72;
const TEXTURE_HIGH_MIDI = 108;
/** Bands per bar at intensity 0 and 1: sparse air, never a wash. */
const BANDS_PER_BAR_AT_ZERO = 0.12;
const BANDS_PER_BAR_AT_ONE = 1.1;

/**
 * The `texture` instrument: sparse filtered-noise bands, centred on chord tones high above the
 * pad, long and quiet; their density follows intensity.
 */
export class TextureWriter {
  private readonly rng: Rng;
  /** One band at a time (plus the previous one's release): the synth has 3 texture voices. */
  private busyUntilBeat = 0;

  constructor(rng: Rng) {
    this.rng = rng;
  }

  notesInBeat(beat: number, intensity: number, region: Region, chord: Chord, sink: LayerNoteSink): void {
    if (beat < this.busyUntilBeat) return;
    const rng = this.rng;
    const perBar =
      (BANDS_PER_BAR_AT_ZERO + (BANDS_PER_BAR_AT_ONE - BANDS_PER_BAR_AT_ZERO) * intensity) *
      region.densityScale;
    if (!rng.chance(perBar / 4)) return;
    const pc = rng.pick(chord.pcs);
    const octave = 6 + rng.int(3);
    const midi = Math.min(TEXTURE_HIGH_MIDI, Math.max(TEXTURE_LOW_MIDI, octave * 12 + pc));
    const offsetBeats = rng.chance(0.5) ? 0 : 0.5;
    const durationBeats = rng.range(3, 9);
    this.busyUntilBeat = beat + offsetBeats + durationBeats;
    sink('texture', beat + offsetBeats, durationBeats, midi, rng.range(0.12, 0.3 + 0.15 * intensity));
  }
}
