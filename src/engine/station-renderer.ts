import { Composer } from '../music/composer.ts';
import { sampledFor, timbreFor } from '../music/presets.ts';
import type { MusicParams, NoteEvent, NowInfo } from '../music/types.ts';
import { keepsPitch, SAMPLE_RATE } from '../music/types.ts';
import type { SoundFontBank } from '../dsp/soundfont.ts';
import { Synth } from '../dsp/synth.ts';

/**
 * Notes remembered for a wake-up (see `wake`): the newest notes still sounding. A pad chord, the
 * drone, a melody note and a texture band sound at once, well under this; when full, the note that
 * ends first gives way.
 */
const SOUNDING_MAX = 128;

/**
 * Parameter changes a renderer remembers for its history (see `history`); past this the history is
 * incomplete and no moment of the station can be reproduced (`RenderHistory.complete` false).
 */
export const MAX_HISTORY_CHANGES = 100;

/**
 * What makes a renderer's audio reproducible (src/engine/moment.ts replays it): its seed and
 * starting parameters, every change with the position (frames, the renderer's own clock) where it
 * was asked for, and where its synth was last built (a wake-up). Renders between them are chunks of
 * the caller's size; sleeping and composing without synthesis (`skipTo`) leave the same composer,
 * the same table of sounding notes and the same parameters as rendering would have, so a replay
 * composes without synthesis up to the last wake-up and synthesizes only from there.
 */
export interface RenderHistory {
  seed: number;
  params: MusicParams;
  /** Each change in order: asked for at renderer position `at`, with the whole parameters then. */
  changes: { at: number; params: MusicParams }[];
  /**
   * The last wake-up (`wake`), or null when the synth has run since position 0: it came after the
   * first `afterChanges` changes, when the composer was at `composerAt`, for `frame` with
   * `warmupFrames` of warm-up.
   */
  wake: { afterChanges: number; composerAt: number; frame: number; warmupFrames: number } | null;
  /** False when more than MAX_HISTORY_CHANGES changes were made: the history cannot be replayed. */
  complete: boolean;
}

/**
 * One station's audio: the composer's score played by the synth, chunk after chunk.
 * Pure and deterministic: the same seed, parameters and change positions give the same samples.
 * Used by the engine worker (real time), the offline renderer and the benchmarks.
 */
export class StationRenderer {
  readonly seed: number;
  readonly sampleRate: number;
  private readonly composer: Composer;
  /** Null while the station sleeps (see `sleep`): no synthesis, no voices, no reverb memory. */
  private synth: Synth | null;
  /** The parameters whose timbre and tempo the synth has (to build a fresh one at a wake-up). */
  private synthParams: MusicParams;
  private positionFramesValue = 0;
  /** Notes handed out lately that may still sound (ring of copies, no allocation per note). */
  private readonly sounding: NoteEvent[] = [];
  private readonly skipSink: (e: NoteEvent) => void;
  private readonly scratch: NoteEvent = {
    instrument: 'pad',
    startFrame: 0,
    durationFrames: 0,
    midi: 0,
    velocity: 0,
  };
  private paramsValue: MusicParams;
  /** Where the sleep timer's ending began (frame), or −1 (MusicParams.ending). */
  private endingFrame = -1;
  /** A parameter change waiting for its effective position (the composer already knows it). */
  private pendingTimbre: { atFrame: number; params: MusicParams } | null = null;
  private readonly sink: (e: NoteEvent) => void;
  private readonly observer: ((e: NoteEvent) => void) | null;
  private readonly originParams: MusicParams;
  private readonly changeLog: { at: number; params: MusicParams }[] = [];
  private historyComplete = true;
  private lastWake: RenderHistory['wake'] = null;
  /** The SoundFont of the sampled layer (parsed once per thread), or null: built-in synth only. */
  private readonly soundfont: SoundFontBank | (() => SoundFontBank | null) | null;

  constructor(opts: {
    seed: number;
    params: MusicParams;
    sampleRate?: number;
    onEvent?: (e: NoteEvent) => void;
    /** Enables the sampled layer for presets that have a sampled voicing (a function: parsed when first needed). */
    soundfont?: SoundFontBank | (() => SoundFontBank | null) | null;
  }) {
    this.soundfont = opts.soundfont ?? null;
    this.seed = opts.seed >>> 0;
    this.sampleRate = opts.sampleRate ?? SAMPLE_RATE;
    this.paramsValue = { ...opts.params };
    this.originParams = this.paramsValue;
    this.composer = new Composer({ seed: this.seed, params: this.paramsValue, sampleRate: this.sampleRate });
    this.synthParams = this.paramsValue;
    this.synth = this.newSynth();
    for (let i = 0; i < SOUNDING_MAX; i++)
      this.sounding.push({ instrument: 'pad', startFrame: 0, durationFrames: -1, midi: 0, velocity: 0 });
    this.observer = opts.onEvent ?? null;
    this.sink = (e) => {
      this.observer?.(e);
      this.remember(e);
      this.synth?.schedule(e);
    };
    this.skipSink = (e) => {
      this.observer?.(e);
      this.remember(e);
    };
  }

  private newSynth(): Synth {
    return new Synth({
      sampleRate: this.sampleRate,
      seed: this.seed,
      timbre: timbreFor(this.synthParams.preset),
      bpm: this.synthParams.bpm,
      soundfont: this.soundfont,
      sampled: sampledFor(this.synthParams.preset),
    });
  }

  /**
   * Copies a note into the sounding table, over one that has ended or else the one ending first.
   * A release event ends the notes it releases there instead (so `wake` schedules them as heard).
   */
  private remember(e: NoteEvent): void {
    const t = this.sounding;
    if (e.kind === 'release') {
      const at = e.startFrame;
      const keep = e.keepPitchClasses ?? 0;
      for (let i = 0; i < t.length; i++) {
        const n = t[i]!;
        if (n.durationFrames < 0 || n.instrument !== e.instrument || n.startFrame >= at) continue;
        if (n.startFrame + n.durationFrames > at && !keepsPitch(keep, n.midi))
          n.durationFrames = at - n.startFrame;
      }
      return;
    }
    let slot = 0;
    let slotEnd = Infinity;
    for (let i = 0; i < t.length; i++) {
      const n = t[i]!;
      const end = n.durationFrames < 0 ? -Infinity : n.startFrame + n.durationFrames;
      if (end < slotEnd) {
        slot = i;
        slotEnd = end;
        if (end <= e.startFrame) break;
      }
    }
    const n = t[slot]!;
    n.instrument = e.instrument;
    n.startFrame = e.startFrame;
    n.durationFrames = e.durationFrames;
    n.midi = e.midi;
    n.velocity = e.velocity;
  }

  /**
   * A renderer that continues a history's score at `frame` (its own positions): composes it without
   * synthesis, asking for each change where it was asked for, then wakes at `frame` with
   * `warmupFrames` of warm-up, which the caller renders (in its chunks) before `frame`. The same
   * score as the history's renderer from `frame` on; the samples differ (a fresh synth, as a lazy
   * station's wake-up). Returns the renderer and the warm-up frames to render.
   */
  static resume(
    h: RenderHistory,
    frame: number,
    warmupFrames: number,
    onEvent?: (e: NoteEvent) => void,
    soundfont?: SoundFontBank | (() => SoundFontBank | null) | null,
  ): { renderer: StationRenderer; warmupFrames: number } {
    const r = new StationRenderer({ seed: h.seed, params: h.params, onEvent, soundfont });
    r.sleep();
    for (const c of h.changes) {
      r.skipTo(c.at);
      r.change(c.params);
    }
    return { renderer: r, warmupFrames: r.wake(frame, warmupFrames) };
  }

  /** Whether the station is asleep (no synth: `sleep` was called, `wake` not yet). */
  get asleep(): boolean {
    return this.synth === null;
  }

  /**
   * Stops synthesis: the synth (voices, reverb and delay memory) is dropped. The score goes on
   * through `skipTo`, and `wake` builds a fresh synth.
   */
  sleep(): void {
    this.synth = null;
  }

  /**
   * Composes up to `frame` without synthesis (asleep only): the composer hands out exactly the
   * notes it would have played, parameter changes take effect where they were due, and the notes
   * that may still sound are remembered for `wake`. Cheap (a few µs per beat). Never goes back.
   */
  skipTo(frame: number): void {
    if (this.synth !== null) throw new Error('skipTo() while rendering: call sleep() first');
    if (frame <= this.positionFramesValue) return;
    const pending = this.pendingTimbre;
    if (pending !== null && pending.atFrame < frame) {
      this.synthParams = pending.params;
      this.pendingTimbre = null;
      this.endingFrame =
        pending.params.ending !== true ? -1 : this.endingFrame >= 0 ? this.endingFrame : pending.atFrame;
    }
    this.composer.generate(frame, this.skipSink);
    this.positionFramesValue = frame;
  }

  /**
   * Wakes a sleeping renderer so that `render` goes on at `frame` (at or after the composer's
   * position): composes up to `frame − warmupFrames` without synthesis, builds a fresh synth with
   * the notes still sounding there (their start clamped to it), and moves the position back to
   * that point, so that the caller renders the warm-up (`warmupFrames`, whole chunks) before
   * `frame`: attacks, reverb and delay are settled when `frame` is heard. Returns the frames to
   * render before `frame` (less than asked only when the composer is already past the warm-up's
   * start: never more notes than the score has).
   */
  wake(frame: number, warmupFrames: number): number {
    if (this.synth !== null) return 0;
    const warmStart = Math.max(0, frame - warmupFrames);
    this.lastWake = {
      afterChanges: this.changeLog.length,
      composerAt: this.positionFramesValue,
      frame,
      warmupFrames,
    };
    this.skipTo(warmStart);
    const synth = this.newSynth();
    // A sleep timer's fade goes on where it is.
    if (this.endingFrame >= 0) synth.setEnding(true, this.endingFrame);
    this.synth = synth;
    const s = this.scratch;
    for (const n of this.sounding) {
      if (n.durationFrames < 0) continue;
      const end = n.startFrame + n.durationFrames;
      if (end <= warmStart && n.startFrame < warmStart) continue;
      s.instrument = n.instrument;
      s.startFrame = Math.max(n.startFrame, warmStart);
      s.durationFrames = end - s.startFrame;
      s.midi = n.midi;
      s.velocity = n.velocity;
      synth.schedule(s);
    }
    this.positionFramesValue = warmStart;
    return frame - warmStart;
  }

  get positionFrames(): number {
    return this.positionFramesValue;
  }

  /**
   * The history that reproduces this renderer's audio (see RenderHistory). Asleep, the synth a
   * listener would hear is the one a wake-up at `wakeAt` would build (`warmupFrames` of warm-up), so
   * the history says that.
   */
  history(wakeAt: number, warmupFrames: number): RenderHistory {
    const wake =
      this.synth === null
        ? {
            afterChanges: this.changeLog.length,
            composerAt: this.positionFramesValue,
            frame: wakeAt,
            warmupFrames,
          }
        : this.lastWake;
    return {
      seed: this.seed,
      params: this.originParams,
      changes: this.changeLog.slice(),
      wake: wake && { ...wake },
      complete: this.historyComplete,
    };
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
    if (this.changeLog.length < MAX_HISTORY_CHANGES)
      this.changeLog.push({ at: this.positionFramesValue, params: this.paramsValue });
    else this.historyComplete = false;
    this.pendingTimbre = { atFrame: effectiveAt, params: this.paramsValue };
    return effectiveAt;
  }

  /**
   * Pitch classes (bit p for pitch class p) the synth's voices of `instrument` whose notes started
   * before `startedBefore` hold (`heldOnly`) or still sound; 0 while asleep (see Synth.pitchClasses).
   */
  pitchClasses(instrument: NoteEvent['instrument'], startedBefore: number, heldOnly: boolean): number {
    return this.synth === null ? 0 : this.synth.pitchClasses(instrument, startedBefore, heldOnly);
  }

  /** Whether the synth's sampled layer plays (a SoundFont and a sampled preset; false while asleep). */
  get sampledActive(): boolean {
    return this.synth?.sampledActive ?? false;
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
    this.prepare(start + count).process(outL, outR, start, count);
    this.positionFramesValue = start + count;
  }

  /**
   * Renders the next `count` frames as 16-bit PCM, one 32-bit word per frame into
   * words[wordOffset, wordOffset + count): on a little-endian platform the bytes of
   * `render` followed by `encodePcm16`, with one pass less (see `Synth.processPcm16`).
   */
  renderPcm16(words: Uint32Array, wordOffset: number, count: number): void {
    const start = this.positionFramesValue;
    this.prepare(start + count).processPcm16(words, wordOffset, start, count);
    this.positionFramesValue = start + count;
  }

  /** Applies a due parameter change and composes up to `end`; returns the synth to render with. */
  private prepare(end: number): Synth {
    const pending = this.pendingTimbre;
    const synth = this.synth;
    if (synth === null) throw new Error('render() while asleep: call wake() first');
    if (pending !== null && pending.atFrame < end) {
      // Timbre and delay time glide inside the synth from here on; the composer switches itself.
      synth.setTimbre(timbreFor(pending.params.preset));
      synth.setBpm(pending.params.bpm);
      synth.setSampled(sampledFor(pending.params.preset));
      synth.setEnding(pending.params.ending === true, pending.atFrame);
      this.endingFrame =
        pending.params.ending !== true ? -1 : this.endingFrame >= 0 ? this.endingFrame : pending.atFrame;
      this.synthParams = pending.params;
      this.pendingTimbre = null;
    }
    this.composer.generate(end, this.sink);
    return synth;
  }
}
