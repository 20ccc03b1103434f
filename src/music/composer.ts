import { ChordHistory } from './chord-history.ts';
import { Harmony, MIN_CHORD_BARS } from './harmony.ts';
import type { LayerNoteSink } from './layer-sink.ts';
import { MelodyWriter, type MelodyNoteSink } from './melody.ts';
import { PercussionWriter } from './percussion.ts';
import { nextRegion, REGION_MAX_SECONDS, type Region } from './region.ts';
import { Rng } from './rng.ts';
import { TempoMap } from './tempo-map.ts';
import { TextureWriter } from './texture.ts';
import { buildChord, mod, pitchClassIndex, Scale, type Chord } from './theory.ts';
import {
  ENDING_SECONDS,
  type Instrument,
  type Mode,
  type MusicParams,
  type NoteEvent,
  type NowInfo,
  type PitchClass,
} from './types.ts';
import { PadVoicer, PAD_UPPER_VOICES } from './voicing.ts';

export const BEATS_PER_BAR = 4;
/** Most events starting within one beat (pad 4 + drone + melody 2 + texture + percussion 3 ≈ 11). */
export const EVENTS_PER_BEAT_MAX = 32;
/** Parameter changes waiting for their beat or bar; a newer change supersedes later ones. */
export const MAX_PENDING_CHANGES = 8;
/** The pad of one chord keeps sounding this long into the next one, so chords crossfade. */
const PAD_OVERLAP_MIN_BEATS = 1;
const PAD_OVERLAP_MAX_BEATS = 2;
/**
 * Pad and drone notes are held for about this long at most: a longer chord is re-struck with one
 * voice moved (motion inside long, sparse chords). A key or mode change asked for after the notes
 * were handed out releases those not in the new scale at the change (`releaseOutOfScale`).
 * A remainder shorter than this joins the last segment.
 */
const PAD_SEGMENT_BARS = 2;

/** The instruments whose notes a key or mode change releases (texture and percussion are unpitched or short). */
const RELEASED_AT_KEY_CHANGE: readonly Instrument[] = ['pad', 'drone', 'keys'];

/** Sub-stream labels for Rng.fork: each layer draws from its own stream. */
const STREAM_HARMONY = 1;
const STREAM_REGION = 2;
const STREAM_MELODY = 3;
const STREAM_TEXTURE = 4;
const STREAM_PERC = 5;
const STREAM_PAD = 6;

/** A new chord, as the composer decided it (for displays, analysis and tests). */
export interface ChordChange {
  startFrame: number;
  startBeat: number;
  /** Planned length in bars (a key or mode change may cut it short at a bar line). */
  bars: number;
  chord: Chord;
  key: PitchClass;
  mode: Mode;
  region: Region;
}

export interface ComposerObserver {
  onChord?(change: ChordChange): void;
}

export interface ComposerOptions {
  seed: number;
  params: MusicParams;
  sampleRate: number;
  observer?: ComposerObserver;
}

/**
 * The score of one station: seeded and pure. It composes beat by beat in musical time and stamps
 * each event with sample frames through the tempo map only when the beat is composed, which is
 * never before the horizon already handed out; so any chunking of `generate` yields the same
 * events, and changes land at beats and bars that nobody has heard yet.
 */
export class Composer {
  private readonly sampleRate: number;
  private readonly observer: ComposerObserver | null;
  private params: MusicParams;
  private scale: Scale;
  private readonly tempo: TempoMap;
  private readonly harmony: Harmony;
  private readonly regionRng: Rng;
  private readonly padRng: Rng;
  private readonly voicer = new PadVoicer();
  private readonly melody: MelodyWriter;
  private readonly texture: TextureWriter;
  private readonly percussion: PercussionWriter;
  private readonly history = new ChordHistory();

  private readonly pendingBeat = new Float64Array(MAX_PENDING_CHANGES);
  private readonly pendingParams: MusicParams[] = [];
  private pendingCount = 0;

  /** First beat not composed yet, and the frame up to which events were handed out. */
  private nextBeat = 0;
  private horizonFrame = 0;

  private readonly events: NoteEvent[] = [];
  private eventCount = 0;
  private eventCursor = 0;
  private composingBeat = 0;

  private chord: Chord | null = null;
  private chordEndBeat = 0;
  private padSegmentEndBeat = 0;
  private region: Region | null = null;
  private regionStartFrame = 0;
  /** Where the sleep timer's ending began (frame), or −1 (see MusicParams.ending). */
  private endingStartFrame = -1;

  private readonly layerSink: LayerNoteSink;
  private readonly melodySink: MelodyNoteSink;

  constructor(opts: ComposerOptions) {
    this.sampleRate = opts.sampleRate;
    this.observer = opts.observer ?? null;
    this.params = { ...opts.params };
    this.scale = new Scale(pitchClassIndex(this.params.key), this.params.mode);
    this.tempo = new TempoMap(this.params.bpm, this.sampleRate);
    const root = new Rng(opts.seed >>> 0);
    this.harmony = new Harmony(root.fork(STREAM_HARMONY));
    this.regionRng = root.fork(STREAM_REGION);
    this.melody = new MelodyWriter(root.fork(STREAM_MELODY));
    this.texture = new TextureWriter(root.fork(STREAM_TEXTURE));
    this.percussion = new PercussionWriter(root.fork(STREAM_PERC));
    this.padRng = root.fork(STREAM_PAD);
    for (let i = 0; i < EVENTS_PER_BEAT_MAX; i++) {
      this.events.push({
        instrument: 'pad',
        startFrame: 0,
        durationFrames: 0,
        midi: 0,
        velocity: 0,
        kind: 'note',
        keepPitchClasses: 0,
      });
    }
    for (let i = 0; i < MAX_PENDING_CHANGES; i++) this.pendingParams.push({ ...this.params });
    this.layerSink = (instrument, positionBeats, durationBeats, midi, velocity) =>
      this.push(instrument, positionBeats, durationBeats, midi, velocity);
    this.melodySink = (positionBeats, durationBeats, midi, velocity) =>
      this.push('keys', positionBeats, durationBeats, midi, velocity);
  }

  /** Hands every not-yet-emitted event starting before `untilFrame` to the sink, in start order. */
  generate(untilFrame: number, sink: (e: NoteEvent) => void): void {
    for (;;) {
      while (this.eventCursor < this.eventCount) {
        const e = this.events[this.eventCursor]!;
        if (e.startFrame >= untilFrame) {
          if (untilFrame > this.horizonFrame) this.horizonFrame = untilFrame;
          return;
        }
        sink(e);
        this.eventCursor++;
      }
      if (this.tempo.frameOfBeat(this.nextBeat) >= untilFrame) break;
      this.composeBeat(this.nextBeat);
      this.nextBeat++;
    }
    if (untilFrame > this.horizonFrame) this.horizonFrame = untilFrame;
  }

  /**
   * New parameters from `fromFrame` on (never before what was already generated): key and mode at
   * the next bar line, tempo and intensity at the next beat; everything at the bar when key or
   * mode change. Returns the frame where the change takes effect.
   */
  schedule(next: MusicParams, fromFrame: number): number {
    const from = Math.max(fromFrame, this.horizonFrame);
    const beat = Math.max(this.tempo.beatAtOrAfter(from), this.nextBeat);
    const before = this.paramsAt(beat);
    let effectiveBeat = beat;
    if (next.key !== before.key || next.mode !== before.mode) {
      const firstBar = Math.ceil(this.nextBeat / BEATS_PER_BAR) * BEATS_PER_BAR;
      effectiveBeat = Math.max(this.tempo.beatAtOrAfter(from, BEATS_PER_BAR), firstBar);
    }
    // Later pending changes are superseded: `next` is the whole latest wish.
    while (this.pendingCount > 0 && this.pendingBeat[this.pendingCount - 1]! >= effectiveBeat)
      this.pendingCount--;
    // Full queue: the newest waiting change gives way (`next` carries every field anyway).
    if (this.pendingCount === MAX_PENDING_CHANGES) this.pendingCount--;
    const slot = this.pendingCount++;
    this.pendingBeat[slot] = effectiveBeat;
    Object.assign(this.pendingParams[slot]!, next);
    // Slots are reused: a wish without `ending` is one without an ending.
    this.pendingParams[slot]!.ending = next.ending === true;
    this.tempo.setTempo(effectiveBeat, next.bpm);
    return this.tempo.frameOfBeat(effectiveBeat);
  }

  /** What is sounding at a frame (chord, key, mode, section), from the bounded chord history. */
  nowAt(frame: number): NowInfo {
    return (
      this.history.at(frame) ?? { chord: '', key: this.params.key, mode: this.params.mode, section: 'intro' }
    );
  }

  /**
   * The frame where the chord sounding at `frame` gives way to the next one, as far as the composer
   * knows now: the next chord's start when it is composed already; otherwise the end of the current
   * chord (its length is chosen when it starts), or the bar of a waiting key or mode change if that
   * comes first, on the tempo map as it stands (a later tempo or key change can move it). Null
   * before the first chord.
   */
  nextChangeAfter(frame: number): number | null {
    const composed = this.history.startAfter(frame);
    if (composed !== null) return composed;
    if (this.chord === null) return null;
    let beat = this.chordEndBeat;
    let key = this.params.key;
    let mode = this.params.mode;
    for (let i = 0; i < this.pendingCount; i++) {
      const p = this.pendingParams[i]!;
      const b = this.pendingBeat[i]!;
      if (b >= beat) break;
      if (p.key !== key || p.mode !== mode) {
        // A key or mode change starts a new chord on its bar (schedule() puts it on one).
        beat = Math.ceil(b / BEATS_PER_BAR) * BEATS_PER_BAR;
        break;
      }
      key = p.key;
      mode = p.mode;
    }
    const next = this.tempo.frameOfBeat(beat);
    return next >= frame ? next : null;
  }

  private paramsAt(beat: number): MusicParams {
    let p = this.params;
    for (let i = 0; i < this.pendingCount; i++) if (this.pendingBeat[i]! <= beat) p = this.pendingParams[i]!;
    return p;
  }

  /** Applies changes due at this beat; returns whether the key or mode changed. */
  private applyPending(beat: number): boolean {
    let keyChanged = false;
    while (this.pendingCount > 0 && this.pendingBeat[0]! <= beat) {
      const p = this.pendingParams[0]!;
      if (p.key !== this.params.key || p.mode !== this.params.mode) keyChanged = true;
      if (p.ending === true && this.endingStartFrame < 0)
        this.endingStartFrame = this.tempo.frameOfBeat(beat);
      else if (p.ending !== true && this.endingStartFrame >= 0) {
        // Cancelled: the harmony walks on from the next bar.
        this.endingStartFrame = -1;
        this.chordEndBeat = Math.min(this.chordEndBeat, Math.ceil(beat / BEATS_PER_BAR) * BEATS_PER_BAR);
      }
      this.params = { ...p };
      // Shift the queue down; the slot object moves to the end for reuse.
      for (let i = 1; i < this.pendingCount; i++) {
        this.pendingBeat[i - 1] = this.pendingBeat[i]!;
        this.pendingParams[i - 1] = this.pendingParams[i]!;
      }
      this.pendingParams[this.pendingCount - 1] = p;
      this.pendingCount--;
    }
    if (keyChanged) {
      this.scale = new Scale(pitchClassIndex(this.params.key), this.params.mode);
    }
    return keyChanged;
  }

  private composeBeat(beat: number): void {
    this.eventCount = 0;
    this.eventCursor = 0;
    this.composingBeat = beat;
    const keyChanged = this.applyPending(beat);
    if (keyChanged) this.releaseOutOfScale(beat);
    const thin = this.endingLeft(beat);
    const intensity = this.params.intensity * thin;
    if (beat % BEATS_PER_BAR === 0) {
      const toTonic = thin < 1 && this.chord !== null && this.chord.degree !== 0;
      if (this.chord === null || beat >= this.chordEndBeat || keyChanged || toTonic)
        this.startChord(beat, keyChanged);
      else if (beat >= this.padSegmentEndBeat) this.padSegment(beat, true);
      // The first bar belongs to the pad and drone alone: the melody enters on the second. An
      // ending starts no new phrase (the one under way finishes).
      if (beat >= BEATS_PER_BAR && thin === 1 && this.melody.idleAt(beat))
        this.melody.startPhrase(beat, intensity, this.region!, this.scale, this.chord!);
    }
    const chord = this.chord!;
    const region = this.region!;
    this.melody.notesInBeat(beat, this.scale, chord, this.melodySink);
    this.texture.notesInBeat(beat, intensity, region, chord, this.layerSink);
    this.percussion.notesInBeat(beat, intensity, region, this.layerSink);
    this.sortEvents();
  }

  private startChord(beat: number, pivot: boolean): void {
    const frame = this.tempo.frameOfBeat(beat);
    const barSeconds = (BEATS_PER_BAR * 60) / this.tempo.bpmAt(beat);
    let region = this.region;
    let elapsedSeconds = (frame - this.regionStartFrame) / this.sampleRate;
    if (
      region === null ||
      elapsedSeconds >= region.targetSeconds ||
      elapsedSeconds + MIN_CHORD_BARS * barSeconds > REGION_MAX_SECONDS
    ) {
      region = nextRegion(this.regionRng, region);
      this.region = region;
      this.regionStartFrame = frame;
      elapsedSeconds = 0;
    }
    const ending = this.endingStartFrame >= 0;
    // The ending resolves to the tonic triad and stays there (its bars run past the ending).
    const chord = ending
      ? buildChord(this.scale, 0, 'triad')!
      : pivot
        ? this.harmony.pivot(this.scale, this.chord, region)
        : this.harmony.next(this.scale, this.chord, region);
    let bars = ending
      ? Math.ceil((ENDING_SECONDS * this.tempo.bpmAt(beat)) / 60 / BEATS_PER_BAR) + 1
      : this.harmony.barsFor(this.params.intensity, region);
    // A chord never carries its region past the longest region span.
    while (bars > MIN_CHORD_BARS && elapsedSeconds + bars * barSeconds > REGION_MAX_SECONDS - 1) bars--;
    this.chord = chord;
    this.chordEndBeat = beat + bars * BEATS_PER_BAR;

    this.padSegment(beat, false);

    const info: NowInfo = {
      chord: chord.symbol,
      key: this.params.key,
      mode: this.params.mode,
      section: region.name,
    };
    this.history.push(frame, info);
    this.observer?.onChord?.({
      startFrame: frame,
      startBeat: beat,
      bars,
      chord,
      key: this.params.key,
      mode: this.params.mode,
      region,
    });
  }

  /**
   * Pad and drone notes from a bar line for one segment of the chord, plus the crossfade into what follows.
   * A key change asked for later releases the segment's notes that leave the scale at the change
   * (`releaseOutOfScale`); the others ring on into the pivot chord, chosen to share the most tones with it.
   */
  private padSegment(beat: number, revoice: boolean): void {
    const segment = PAD_SEGMENT_BARS * BEATS_PER_BAR;
    const remaining = this.chordEndBeat - beat;
    const length = this.beatsUntilKeyChange(beat, remaining - segment < segment ? remaining : segment);
    this.padSegmentEndBeat = beat + length;
    const rng = this.padRng;
    const overlap = rng.range(PAD_OVERLAP_MIN_BEATS, PAD_OVERLAP_MAX_BEATS);
    if (revoice) this.voicer.revoice(this.chord!, rng.next());
    else this.voicer.voice(this.chord!, this.region!.registerShiftSemitones);
    const v = this.voicer.voices;
    const level = 0.42 + 0.16 * this.params.intensity * this.endingLeft(beat);
    for (let i = 0; i <= PAD_UPPER_VOICES; i++) {
      // The highest voice a little softer: colour, not lead.
      const velocity = level * (i === PAD_UPPER_VOICES ? 0.8 : 1) * rng.range(0.92, 1.04);
      this.push('pad', beat, length + overlap, v[i]!, velocity);
    }
    // The drone re-strikes with the pad. Following the root: an octave below the pad's bass; as a
    // pedal: the tonic just below the bass.
    const bass = v[0]!;
    const droneMidi = this.region!.pedal ? bass - 3 - mod(bass - 3 - this.scale.tonicPc, 12) : bass - 12;
    this.push('drone', beat, length + PAD_OVERLAP_MAX_BEATS, droneMidi, 0.5 + rng.range(-0.05, 0.05));
  }

  /**
   * At a key or mode change (a bar line): release events, first among the beat's events, so that
   * the sustained notes handed out before (pad, drone, and melody notes, which can be long) whose
   * pitch class is not in the new scale start their release right at the change instead of
   * ringing on over the new key. Notes that fit the new scale ring on; the new chord starts at
   * the same frame, voiced in the new scale.
   */
  private releaseOutOfScale(beat: number): void {
    for (let i = 0; i < RELEASED_AT_KEY_CHANGE.length; i++) {
      this.push(RELEASED_AT_KEY_CHANGE[i]!, beat, 0, 0, 0);
      const e = this.events[this.eventCount - 1]!;
      e.kind = 'release';
      e.durationFrames = 0;
      e.keepPitchClasses = this.scale.pitchClassMask;
    }
  }

  /**
   * 1 outside an ending; during one, what is left of it at `beat` (1 → 0 over ENDING_SECONDS): the
   * factor on intensity, so density and levels fall with it.
   */
  private endingLeft(beat: number): number {
    if (this.endingStartFrame < 0) return 1;
    const elapsed = (this.tempo.frameOfBeat(beat) - this.endingStartFrame) / this.sampleRate;
    return Math.max(0, 1 - elapsed / ENDING_SECONDS);
  }

  /** `beats`, or fewer where a key or mode change already waiting cuts in. */
  private beatsUntilKeyChange(beat: number, beats: number): number {
    for (let i = 0; i < this.pendingCount; i++) {
      const p = this.pendingParams[i]!;
      const b = this.pendingBeat[i]!;
      if (b > beat && b - beat < beats && (p.key !== this.params.key || p.mode !== this.params.mode))
        return b - beat;
    }
    return beats;
  }

  private push(
    instrument: Instrument,
    positionBeats: number,
    durationBeats: number,
    midi: number,
    velocity: number,
  ): void {
    if (this.eventCount === EVENTS_PER_BEAT_MAX) return;
    const e = this.events[this.eventCount++]!;
    e.instrument = instrument;
    e.startFrame = this.tempo.frameOfPosition(positionBeats);
    e.durationFrames = Math.max(
      1,
      Math.round(durationBeats * this.tempo.framesPerBeatAt(this.composingBeat)),
    );
    e.midi = Math.min(127, Math.max(0, Math.round(midi)));
    e.velocity = Math.min(1, Math.max(0, velocity));
    e.kind = 'note';
    e.keepPitchClasses = 0;
  }

  /** Stable insertion sort by start frame (a beat holds a handful of events). */
  private sortEvents(): void {
    const ev = this.events;
    for (let i = 1; i < this.eventCount; i++) {
      const e = ev[i]!;
      let j = i - 1;
      while (j >= 0 && ev[j]!.startFrame > e.startFrame) {
        ev[j + 1] = ev[j]!;
        j--;
      }
      ev[j + 1] = e;
    }
  }
}
