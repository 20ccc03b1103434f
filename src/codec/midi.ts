import { INSTRUMENTS, keepsPitch, type Instrument, type NoteEvent } from '../music/types.ts';
import { CodecError } from './codec-error.ts';

/**
 * Standard MIDI File writer (format 1) for the score of a render: a tempo track, then one track
 * per instrument in INSTRUMENTS order (always all of them, so track numbers are stable), each on
 * its own channel, percussion on channel 10. The same notes give the same bytes: events are sorted
 * by a total order and no running status or optional meta events depend on anything else.
 */
export const MIDI_PPQ = 480;
/** MIDI channel (0-based) per instrument; 9 is General MIDI's percussion channel (10). */
export const MIDI_CHANNELS: Record<Instrument, number> = { pad: 0, keys: 1, drone: 2, texture: 3, perc: 9 };
/** General MIDI programs (0-based) closest to each synth voice, so a GM player sounds similar. */
export const MIDI_PROGRAMS: Record<Instrument, number> = {
  pad: 89, // Pad 2 (warm)
  keys: 4, // Electric Piano 1 (FM keys)
  drone: 48, // String Ensemble 1
  texture: 94, // Pad 7 (halo)
  perc: 0, // ignored on channel 10
};
const TRACK_NAMES: Record<Instrument, string> = {
  pad: 'Pad',
  keys: 'Keys',
  drone: 'Drone',
  texture: 'Texture',
  perc: 'Percussion',
};
/**
 * A release event (a key change) shortens the notes it ends among this many latest ones of the
 * log: the longest notes (pad and drone, ≤ 2 bars and 2 beats) started at most ~15 s earlier,
 * and the densest station hands out under 12 notes a beat.
 */
const RELEASE_LOOKBACK_NOTES = 512;
/** Notes the log keeps at most: about 24 h of the densest station, ~100 MB of columns. */
export const MIDI_MAX_NOTES = 4_000_000;

/**
 * The notes of a render in compact columns (not one object per note), copied out of the
 * composer's reused NoteEvent objects. Grows by doubling up to `maxNotes`.
 */
export class NoteLog {
  readonly maxNotes: number;
  private countValue = 0;
  private instrument = new Uint8Array(1024);
  private midi = new Uint8Array(1024);
  private velocity = new Float32Array(1024);
  private start = new Float64Array(1024);
  private duration = new Float64Array(1024);

  constructor(maxNotes = MIDI_MAX_NOTES) {
    this.maxNotes = maxNotes;
  }

  get count(): number {
    return this.countValue;
  }

  /**
   * Records a copy of `e`. Returns false (and records nothing) once maxNotes is reached. A
   * release event is not recorded: it ends the notes it releases (the score's order: notes
   * arrive in start order, so those it releases are among the latest).
   */
  add(e: NoteEvent): boolean {
    if (e.kind === 'release') {
      const inst = INSTRUMENTS.indexOf(e.instrument);
      const at = e.startFrame;
      const keep = e.keepPitchClasses ?? 0;
      for (let j = this.countValue - 1; j >= Math.max(0, this.countValue - RELEASE_LOOKBACK_NOTES); j--) {
        const start = this.start[j]!;
        if (this.instrument[j] !== inst || start >= at) continue;
        if (start + this.duration[j]! > at && !keepsPitch(keep, this.midi[j]!)) this.duration[j] = at - start;
      }
      return true;
    }
    const i = this.countValue;
    if (i >= this.maxNotes) return false;
    if (i === this.start.length) this.grow();
    this.instrument[i] = INSTRUMENTS.indexOf(e.instrument);
    this.midi[i] = Math.max(0, Math.min(127, Math.round(e.midi)));
    this.velocity[i] = e.velocity;
    this.start[i] = e.startFrame;
    this.duration[i] = e.durationFrames;
    this.countValue = i + 1;
    return true;
  }

  at(i: number): NoteEvent {
    return {
      instrument: INSTRUMENTS[this.instrument[i]!]!,
      startFrame: this.start[i]!,
      durationFrames: this.duration[i]!,
      midi: this.midi[i]!,
      velocity: this.velocity[i]!,
    };
  }

  private grow(): void {
    const n = Math.min(this.start.length * 2, this.maxNotes);
    const grow = <T extends Uint8Array | Float32Array | Float64Array>(a: T, make: (n: number) => T): T => {
      const b = make(n);
      b.set(a);
      return b;
    };
    this.instrument = grow(this.instrument, (k) => new Uint8Array(k));
    this.midi = grow(this.midi, (k) => new Uint8Array(k));
    this.velocity = grow(this.velocity, (k) => new Float32Array(k));
    this.start = grow(this.start, (k) => new Float64Array(k));
    this.duration = grow(this.duration, (k) => new Float64Array(k));
  }
}

export interface MidiFileOptions {
  bpm: number;
  sampleRate: number;
  /** The render's length in frames: every track ends here (and notes are cut here). */
  endFrame?: number;
  /** Sequence name in the tempo track. */
  title?: string;
}

interface TimedEvent {
  tick: number;
  /** 0 = note off, 1 = note on: offs sort first at the same tick so a repeated pitch re-strikes. */
  order: number;
  note: number;
  velocity: number;
}

/**
 * Builds the file. `notes` may be a NoteLog or an array of NoteEvents, in any order; a release
 * event in an array ends the notes before it that it releases, as in the synth.
 */
export function writeMidiFile(notes: NoteLog | readonly NoteEvent[], opts: MidiFileOptions): Uint8Array {
  if (Array.isArray(notes)) {
    const log = new NoteLog(notes.length + 1);
    for (const n of notes as readonly NoteEvent[]) log.add(n);
    notes = log;
  }
  if (!(opts.bpm > 0) || !(opts.sampleRate > 0)) {
    throw new CodecError(
      'BAD_ARGUMENT',
      `midi: bpm and sampleRate must be positive, got ${opts.bpm}, ${opts.sampleRate}`,
    );
  }
  const ticksPerFrame = (opts.bpm / 60 / opts.sampleRate) * MIDI_PPQ;
  const toTick = (frame: number): number => Math.round(frame * ticksPerFrame);
  const endTick = opts.endFrame !== undefined ? toTick(opts.endFrame) : Infinity;

  const byInstrument = new Map<Instrument, NoteEvent[]>(INSTRUMENTS.map((i) => [i, []]));
  const count = Array.isArray(notes) ? notes.length : (notes as NoteLog).count;
  for (let i = 0; i < count; i++) {
    const n = Array.isArray(notes) ? (notes as readonly NoteEvent[])[i]! : (notes as NoteLog).at(i);
    byInstrument.get(n.instrument)!.push(n);
  }

  const tracks: Uint8Array[] = [tempoTrack(opts, Number.isFinite(endTick) ? endTick : 0)];
  for (const instrument of INSTRUMENTS) {
    tracks.push(noteTrack(instrument, byInstrument.get(instrument)!, toTick, endTick));
  }

  const header = new ByteWriter();
  header.ascii('MThd');
  header.u32(6);
  header.u16(1); // format 1: simultaneous tracks
  header.u16(tracks.length);
  header.u16(MIDI_PPQ);
  const parts = [header.bytes(), ...tracks];
  const out = new Uint8Array(parts.reduce((a, p) => a + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

function tempoTrack(opts: MidiFileOptions, endTick: number): Uint8Array {
  const w = new ByteWriter();
  w.delta(0);
  w.meta(0x03, new TextEncoder().encode(opts.title ?? 'Auralis'));
  w.delta(0);
  const usPerQuarter = Math.round(60_000_000 / opts.bpm);
  w.meta(0x51, Uint8Array.of((usPerQuarter >> 16) & 0xff, (usPerQuarter >> 8) & 0xff, usPerQuarter & 0xff));
  w.delta(0);
  w.meta(0x58, Uint8Array.of(4, 2, 24, 8)); // 4/4, 24 clocks per click, 8 32nds per quarter
  w.delta(endTick);
  w.meta(0x2f, new Uint8Array(0));
  return chunk(w);
}

function noteTrack(
  instrument: Instrument,
  notes: NoteEvent[],
  toTick: (frame: number) => number,
  endTick: number,
): Uint8Array {
  const channel = MIDI_CHANNELS[instrument];
  const sorted = notes
    .map((n) => ({ on: toTick(n.startFrame), off: toTick(n.startFrame + Math.max(0, n.durationFrames)), n }))
    .filter((x) => x.on < endTick)
    .sort((a, b) => a.on - b.on || a.n.midi - b.n.midi || a.off - b.off || a.n.velocity - b.n.velocity);

  // A pitch sounding again before its previous note ended cuts the previous one there, so that
  // every note-on has its own note-off and none is released early by another's note-off.
  const events: TimedEvent[] = [];
  const lastOn = new Map<number, { on: number; off: number; index: number }>();
  for (const x of sorted) {
    const note = x.n.midi;
    const off = Math.min(Math.max(x.off, x.on + 1), endTick);
    const prev = lastOn.get(note);
    if (prev !== undefined && prev.on === x.on) {
      // Same pitch struck twice at the same tick (e.g. two layers): one note, the longer one.
      prev.off = Math.max(prev.off, off);
      events[prev.index]!.tick = prev.off;
      continue;
    }
    if (prev !== undefined && prev.off > x.on) events[prev.index]!.tick = x.on;
    const velocity = Math.max(1, Math.min(127, Math.round(x.n.velocity * 127)));
    events.push({ tick: x.on, order: 1, note, velocity });
    events.push({ tick: off, order: 0, note, velocity: 0 });
    lastOn.set(note, { on: x.on, off, index: events.length - 1 });
  }
  events.sort((a, b) => a.tick - b.tick || a.order - b.order || a.note - b.note);

  const w = new ByteWriter();
  w.delta(0);
  w.meta(0x03, new TextEncoder().encode(TRACK_NAMES[instrument]));
  if (channel !== 9) {
    w.delta(0);
    w.byte(0xc0 | channel);
    w.byte(MIDI_PROGRAMS[instrument]);
  }
  let tick = 0;
  for (const e of events) {
    w.delta(e.tick - tick);
    tick = e.tick;
    w.byte((e.order === 1 ? 0x90 : 0x80) | channel);
    w.byte(e.note);
    w.byte(e.order === 1 ? e.velocity : 64);
  }
  w.delta(Number.isFinite(endTick) ? Math.max(0, endTick - tick) : 0);
  w.meta(0x2f, new Uint8Array(0));
  return chunk(w);
}

function chunk(track: ByteWriter): Uint8Array {
  const body = track.bytes();
  const w = new ByteWriter();
  w.ascii('MTrk');
  w.u32(body.length);
  w.raw(body);
  return w.bytes();
}

/** A small growable byte buffer for building the file (not an audio path). */
class ByteWriter {
  private buf = new Uint8Array(256);
  private length = 0;

  byte(v: number): void {
    if (this.length === this.buf.length) {
      const b = new Uint8Array(this.buf.length * 2);
      b.set(this.buf);
      this.buf = b;
    }
    this.buf[this.length++] = v & 0xff;
  }
  raw(bytes: Uint8Array): void {
    for (const b of bytes) this.byte(b);
  }
  ascii(s: string): void {
    for (let i = 0; i < s.length; i++) this.byte(s.charCodeAt(i));
  }
  u16(v: number): void {
    this.byte(v >> 8);
    this.byte(v);
  }
  u32(v: number): void {
    this.byte(v >>> 24);
    this.byte(v >>> 16);
    this.byte(v >>> 8);
    this.byte(v);
  }
  /** Variable-length quantity (7 bits a byte, high bit = more follows), at most 0x0FFFFFFF. */
  delta(ticks: number): void {
    if (ticks < 0 || ticks > 0x0fff_ffff)
      throw new CodecError('BAD_ARGUMENT', `midi delta out of range: ${ticks}`);
    let v = ticks >>> 0;
    const stack = [v & 0x7f];
    while ((v >>>= 7) > 0) stack.push((v & 0x7f) | 0x80);
    for (let i = stack.length - 1; i >= 0; i--) this.byte(stack[i]!);
  }
  meta(type: number, data: Uint8Array): void {
    this.byte(0xff);
    this.byte(type);
    this.delta(data.length);
    this.raw(data);
  }
  bytes(): Uint8Array {
    return this.buf.slice(0, this.length);
  }
}
