import type { NowInfo } from './types.ts';

/**
 * Chords remembered for `nowAt`. A chord lasts at least a bar (2 s at 120 BPM, the fastest tempo)
 * so 128 entries hold well over the ~60 s before the horizon that listeners may lag behind.
 */
export const CHORD_HISTORY_SIZE = 128;

/** A bounded ring of (start frame, what is sounding) in start order. */
export class ChordHistory {
  private readonly startFrames = new Float64Array(CHORD_HISTORY_SIZE);
  private readonly infos: (NowInfo | null)[] = new Array<NowInfo | null>(CHORD_HISTORY_SIZE).fill(null);
  private head = 0;
  private count = 0;

  push(startFrame: number, info: NowInfo): void {
    const i = (this.head + this.count) % CHORD_HISTORY_SIZE;
    this.startFrames[i] = startFrame;
    this.infos[i] = info;
    if (this.count < CHORD_HISTORY_SIZE) this.count++;
    else this.head = (this.head + 1) % CHORD_HISTORY_SIZE;
  }

  /** What was sounding at a frame: the latest entry starting at or before it (the oldest one if none). */
  at(frame: number): NowInfo | null {
    if (this.count === 0) return null;
    for (let n = this.count - 1; n >= 0; n--) {
      const i = (this.head + n) % CHORD_HISTORY_SIZE;
      if (this.startFrames[i]! <= frame) return this.infos[i]!;
    }
    return this.infos[this.head]!;
  }

  /** Start frame of the first remembered chord that starts after a frame, or null (not composed yet). */
  startAfter(frame: number): number | null {
    for (let n = 0; n < this.count; n++) {
      const start = this.startFrames[(this.head + n) % CHORD_HISTORY_SIZE]!;
      if (start > frame) return start;
    }
    return null;
  }
}
