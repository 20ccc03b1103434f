/** Tempo segments kept; older ones are dropped (only positions near the horizon are ever asked). */
export const TEMPO_MAP_MAX_SEGMENTS = 64;

/**
 * Beat positions in sample frames under a tempo that changes only on beats. Beat `i` starts at
 * frame `round(segmentStartFrame + (i − segmentStartBeat) · framesPerBeat)` of the segment holding
 * it, so rounding never accumulates and any chunking of the clock sees the same beat frames.
 */
export class TempoMap {
  private readonly sampleRate: number;
  private readonly startBeat = new Float64Array(TEMPO_MAP_MAX_SEGMENTS);
  private readonly startFrame = new Float64Array(TEMPO_MAP_MAX_SEGMENTS);
  private readonly framesPerBeat = new Float64Array(TEMPO_MAP_MAX_SEGMENTS);
  private readonly bpmOf = new Float64Array(TEMPO_MAP_MAX_SEGMENTS);
  private count = 1;

  constructor(bpm: number, sampleRate: number) {
    this.sampleRate = sampleRate;
    this.startBeat[0] = 0;
    this.startFrame[0] = 0;
    this.framesPerBeat[0] = (60 * sampleRate) / bpm;
    this.bpmOf[0] = bpm;
  }

  private segmentOf(beat: number): number {
    let s = this.count - 1;
    while (s > 0 && this.startBeat[s]! > beat) s--;
    return s;
  }

  /** Frame where an integer beat starts. */
  frameOfBeat(beat: number): number {
    const s = this.segmentOf(beat);
    return Math.round(this.startFrame[s]! + (beat - this.startBeat[s]!) * this.framesPerBeat[s]!);
  }

  /** Frame of a fractional beat position (the fraction is scaled by that beat's tempo). */
  frameOfPosition(positionBeats: number): number {
    const beat = Math.floor(positionBeats);
    const s = this.segmentOf(beat);
    return this.frameOfBeat(beat) + Math.round((positionBeats - beat) * this.framesPerBeat[s]!);
  }

  framesPerBeatAt(beat: number): number {
    return this.framesPerBeat[this.segmentOf(beat)]!;
  }

  bpmAt(beat: number): number {
    return this.bpmOf[this.segmentOf(beat)]!;
  }

  /** The first integer beat (≥ 0) starting at or after a frame, optionally a multiple of `multiple`. */
  beatAtOrAfter(frame: number, multiple = 1): number {
    const s = this.segmentOf(Number.POSITIVE_INFINITY);
    // Find the segment containing the frame, then step from an estimate (rounding can shift it by one).
    let seg = s;
    while (seg > 0 && this.startFrame[seg]! > frame) seg--;
    let beat =
      Math.floor(this.startBeat[seg]! + (frame - this.startFrame[seg]!) / this.framesPerBeat[seg]!) - 1;
    if (beat < 0) beat = 0;
    beat = Math.ceil(beat / multiple) * multiple;
    while (this.frameOfBeat(beat) < frame) beat += multiple;
    return beat;
  }

  /** From `fromBeat` on the tempo is `bpm`; later segments (changes superseded) are dropped. */
  setTempo(fromBeat: number, bpm: number): void {
    while (this.count > 1 && this.startBeat[this.count - 1]! >= fromBeat) this.count--;
    if (this.bpmOf[this.count - 1] === bpm) return;
    const frame = this.frameOfBeat(fromBeat);
    if (this.count === TEMPO_MAP_MAX_SEGMENTS) {
      this.startBeat.copyWithin(0, 1);
      this.startFrame.copyWithin(0, 1);
      this.framesPerBeat.copyWithin(0, 1);
      this.bpmOf.copyWithin(0, 1);
      this.count--;
    }
    const s = this.count++;
    this.startBeat[s] = fromBeat;
    this.startFrame[s] = frame;
    this.framesPerBeat[s] = (60 * this.sampleRate) / bpm;
    this.bpmOf[s] = bpm;
  }
}
