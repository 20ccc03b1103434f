import { Composer } from '../music/composer.ts';
import { timbreFor } from '../music/presets.ts';
import type { MusicParams, NoteEvent, NowInfo } from '../music/types.ts';
import { SAMPLE_RATE } from '../music/types.ts';
import { Synth } from '../dsp/synth.ts';

/**
 * One station's audio: the composer's score played by the synth, chunk after chunk.
 * Pure and deterministic: the same seed, parameters and change positions give the same samples.
 * Used by the engine worker (real time), the offline renderer and the benchmarks.
 */
export class StationRenderer {
  readonly seed: number;
  readonly sampleRate: number;
  private readonly composer: Composer;
  private readonly synth: Synth;
  private positionFramesValue = 0;
  private paramsValue: MusicParams;
  /** A parameter change waiting for its effective position (the composer already knows it). */
  private pendingTimbre: { atFrame: number; params: MusicParams } | null = null;
  private readonly sink: (e: NoteEvent) => void;
  private readonly observer: ((e: NoteEvent) => void) | null;

  constructor(opts: {
    seed: number;
    params: MusicParams;
    sampleRate?: number;
    onEvent?: (e: NoteEvent) => void;
  }) {
    this.seed = opts.seed >>> 0;
    this.sampleRate = opts.sampleRate ?? SAMPLE_RATE;
    this.paramsValue = { ...opts.params };
    this.composer = new Composer({ seed: this.seed, params: this.paramsValue, sampleRate: this.sampleRate });
    this.synth = new Synth({
      sampleRate: this.sampleRate,
      seed: this.seed,
      timbre: timbreFor(this.paramsValue.preset),
      bpm: this.paramsValue.bpm,
    });
    this.observer = opts.onEvent ?? null;
    this.sink = (e) => {
      this.observer?.(e);
      this.synth.schedule(e);
    };
  }

  get positionFrames(): number {
    return this.positionFramesValue;
  }

  /** The parameters most recently asked for (they may not be audible until their effective position). */
  get params(): MusicParams {
    return this.paramsValue;
  }

  /**
   * Asks for new parameters from the current position on. Key and mode change at the next bar,
   * tempo and intensity at the next beat (the composer decides); returns that effective position.
   */
  change(next: MusicParams): number {
    const effectiveAt = this.composer.schedule(next, this.positionFramesValue);
    this.paramsValue = { ...next };
    this.pendingTimbre = { atFrame: effectiveAt, params: this.paramsValue };
    return effectiveAt;
  }

  /** What is sounding at the current position. */
  now(): NowInfo {
    return this.composer.nowAt(this.positionFramesValue);
  }

  /** Where what is sounding at the current position is expected to change (frame), or null. */
  nextChange(): number | null {
    return this.composer.nextChangeAfter(this.positionFramesValue);
  }

  /** Renders the next `count` frames into outL/outR from index 0 (OVERWRITE). */
  render(outL: Float32Array, outR: Float32Array, count: number): void {
    const start = this.positionFramesValue;
    const end = start + count;
    const pending = this.pendingTimbre;
    if (pending !== null && pending.atFrame < end) {
      // Timbre and delay time glide inside the synth from here on; the composer switches itself.
      this.synth.setTimbre(timbreFor(pending.params.preset));
      this.synth.setBpm(pending.params.bpm);
      this.pendingTimbre = null;
    }
    this.composer.generate(end, this.sink);
    this.synth.process(outL, outR, start, count);
    this.positionFramesValue = end;
  }
}
