import type { LayerNoteSink } from './layer-sink.ts';
import type { Region } from './region.ts';
import type { Rng } from './rng.ts';
import { PERC_BRUSH, PERC_CLICK, PERC_KICK, PERC_SHAKER } from './types.ts';

/** Below this intensity there is no percussion at all (absent at low intensity). */
export const PERC_MIN_INTENSITY = 0.35;
/** Hit length in beats: the sounds are short, the reverb carries them. */
const HIT_BEATS = 0.25;

/**
 * The `perc` instrument: soft, sparse, probabilistic hits (felt kick near downbeats, brushed noise,
 * a shaker on some off-beats, a rare muted click). No hit is certain, so no loop forms: never a
 * driving beat. Probabilities rise with intensity above PERC_MIN_INTENSITY.
 */
export class PercussionWriter {
  private readonly rng: Rng;

  constructor(rng: Rng) {
    this.rng = rng;
  }

  notesInBeat(beat: number, intensity: number, region: Region, sink: LayerNoteSink): void {
    if (intensity < PERC_MIN_INTENSITY) return;
    const rng = this.rng;
    // Percussion stays rare through the middle of the range and fills in only near the top.
    const linear = (intensity - PERC_MIN_INTENSITY) / (1 - PERC_MIN_INTENSITY);
    const d = Math.min(1, linear ** 1.5 * region.densityScale);
    const beatInBar = beat % 4;
    const soft = 0.18 + 0.22 * d;
    if (beatInBar === 0 && rng.chance(0.12 + 0.35 * d))
      sink('perc', beat, HIT_BEATS, PERC_KICK, soft + rng.range(0, 0.1));
    if (beatInBar === 2 && rng.chance(0.03 + 0.27 * d)) {
      sink('perc', beat, HIT_BEATS * 2, PERC_BRUSH, soft * 0.8 + rng.range(0, 0.08));
    }
    if ((beatInBar === 1 || beatInBar === 3) && rng.chance(0.02 + 0.06 * d)) {
      sink('perc', beat, HIT_BEATS, PERC_CLICK, soft * 0.7);
    }
    if (rng.chance(0.03 + 0.27 * d))
      sink('perc', beat + 0.5, HIT_BEATS, PERC_SHAKER, soft * 0.6 + rng.range(0, 0.08));
  }
}
