import type { NoteEvent } from '../music/types.ts';
import type { SoundFontBank } from '../dsp/soundfont.ts';
import { MomentTokenError, type Moment } from './moment.ts';
import { StationRenderer, type RenderHistory } from './station-renderer.ts';

/**
 * Plays a moment: rebuilds the station's renderer from its history (composing without synthesis
 * up to the last wake-up, synthesizing from there in chunks of the station's size, each change
 * asked for where it was) and hands out the audio from the moment's position on, sample for
 * sample what the station rendered. Costs the synthesis from the last wake-up (or the station's
 * start) to the moment: `synthFrames` says how much.
 */
export class MomentSource {
  readonly moment: Moment;
  /** Frames synthesized before the moment's first frame (the replay's cost beyond the output). */
  readonly synthFrames: number;
  private readonly renderer: StationRenderer;
  private readonly chunkL: Float32Array;
  private readonly chunkR: Float32Array;
  /** Frames of the current chunk already handed out (chunkFrames: none left). */
  private used: number;
  private nextChange: number;
  private readonly changes: RenderHistory['changes'];

  /** `soundfont`: the sampled layer's SoundFont, the server's (a moment of a sampled preset needs it). */
  constructor(
    moment: Moment,
    onEvent?: (e: NoteEvent) => void,
    soundfont?: SoundFontBank | (() => SoundFontBank | null) | null,
  ) {
    this.moment = moment;
    const h = moment.history;
    const cf = moment.chunkFrames;
    this.changes = h.changes;
    this.chunkL = new Float32Array(cf);
    this.chunkR = new Float32Array(cf);
    this.used = cf;
    const target = moment.position - moment.baseFrames;
    // Events go to the caller from the moment on, on the moment's clock (0 = the moment's first frame).
    const shifted: NoteEvent = { instrument: 'pad', startFrame: 0, durationFrames: 0, midi: 0, velocity: 0 };
    const r = new StationRenderer({
      seed: h.seed,
      params: h.params,
      soundfont,
      onEvent: (e) => {
        const to = this.observer;
        if (to === null) return;
        shifted.instrument = e.instrument;
        shifted.startFrame = e.startFrame - target;
        shifted.durationFrames = e.durationFrames;
        shifted.midi = e.midi;
        shifted.velocity = e.velocity;
        shifted.kind = e.kind;
        shifted.keepPitchClasses = e.keepPitchClasses;
        to(shifted);
      },
    });
    this.renderer = r;
    const wake = h.wake;
    let i = 0;
    if (wake) {
      // Before the last wake-up only the score matters: compose without synthesis.
      r.sleep();
      for (; i < wake.afterChanges; i++) {
        const c = h.changes[i]!;
        r.skipTo(c.at);
        r.change(c.params);
      }
      r.skipTo(wake.composerAt);
      r.wake(wake.frame, wake.warmupFrames);
    }
    this.nextChange = i;
    this.synthFrames = target - r.positionFrames;
    // Synthesize up to the moment, discarding (changes are asked for on the way, as live).
    while (r.positionFrames < target) this.renderChunk();
    // The moment's own events are the caller's from here on.
    this.observer = onEvent ?? null;
    this.used = cf;
  }

  private observer: ((e: NoteEvent) => void) | null = null;

  private renderChunk(): void {
    const r = this.renderer;
    while (this.nextChange < this.changes.length && this.changes[this.nextChange]!.at <= r.positionFrames) {
      const c = this.changes[this.nextChange++]!;
      if (c.at !== r.positionFrames)
        throw new MomentTokenError(`change at ${c.at} is not on the replay's chunk grid`);
      r.change(c.params);
    }
    r.render(this.chunkL, this.chunkR, this.moment.chunkFrames);
    this.used = 0;
  }

  /** The next `count` frames from the moment on into outL/outR (overwrite), like StationRenderer.render. */
  render(outL: Float32Array, outR: Float32Array, count: number): void {
    const cf = this.moment.chunkFrames;
    let done = 0;
    while (done < count) {
      if (this.used === cf) this.renderChunk();
      const n = Math.min(cf - this.used, count - done);
      outL.set(this.chunkL.subarray(this.used, this.used + n), done);
      outR.set(this.chunkR.subarray(this.used, this.used + n), done);
      this.used += n;
      done += n;
    }
  }
}
