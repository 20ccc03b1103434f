import { INSTRUMENTS, keepsPitch, type NoteEvent } from '../music/types.ts';

/**
 * The score as data (docs/ARCHITECTURE.md, "The live score as data"): what a station's composer
 * handed out, kept by its engine worker.
 *
 * - `ScoreLog`: the last notes handed out (a ring of typed arrays, no allocation per note), with
 *   the releases applied, for `GET /api/stations/:id/score.mid`.
 * - `NotesBatch`: the notes and releases handed out while one chunk was rendered, turned into one
 *   WebSocket text frame (`{"type":"notes",…}`) for every `?events=1` listener.
 */

/** Notes kept per station: 600 s at intensity 1 and 120 BPM hands out at most about 2,300 (3 seeds, every preset). */
export const SCORE_LOG_NOTES = 16_384;
/** Longest window of `score.mid` (s). */
export const MAX_SCORE_SECONDS = 600;
/** Events of one chunk's batch (a chunk of the densest score holds a handful); more are left out. */
export const MAX_BATCH_EVENTS = 256;
/** A release looks this far back among the notes handed out (those it ends are among the latest). */
const RELEASE_LOOKBACK = 256;

export class ScoreLog {
  /** Most notes kept; the arrays start small and double while the last 600 s need more room. */
  readonly maxCapacity: number;
  private capacity: number;
  private count = 0;
  private instrument: Uint8Array;
  private midi: Uint8Array;
  private velocity: Float32Array;
  private start: Float64Array;
  private duration: Float64Array;
  /** A note older than this (frames before the newest) may be overwritten rather than the log grow. */
  private readonly keepFrames: number;

  constructor(maxCapacity = SCORE_LOG_NOTES, sampleRate = 48_000, initial = 512) {
    this.maxCapacity = maxCapacity;
    this.capacity = Math.min(initial, maxCapacity);
    this.keepFrames = (MAX_SCORE_SECONDS + 60) * sampleRate;
    this.instrument = new Uint8Array(this.capacity);
    this.midi = new Uint8Array(this.capacity);
    this.velocity = new Float32Array(this.capacity);
    this.start = new Float64Array(this.capacity);
    this.duration = new Float64Array(this.capacity);
  }

  /** Notes the log has room for now. */
  get size(): number {
    return this.capacity;
  }

  /** Records a note (its start moved by `offset`: station positions), or applies a release. */
  add(e: NoteEvent, offset: number): void {
    const inst = INSTRUMENTS.indexOf(e.instrument);
    if (e.kind === 'release') {
      const at = e.startFrame + offset;
      const keep = e.keepPitchClasses ?? 0;
      const cap = this.capacity;
      for (let k = 1; k <= Math.min(this.count, RELEASE_LOOKBACK, cap); k++) {
        const j = (this.count - k) % cap;
        const s = this.start[j]!;
        if (this.instrument[j] !== inst || s >= at) continue;
        if (s + this.duration[j]! > at && !keepsPitch(keep, this.midi[j]!)) this.duration[j] = at - s;
      }
      return;
    }
    const start = e.startFrame + offset;
    // Full, and the note to be overwritten is still within the window score.mid may ask for: grow.
    if (
      this.count >= this.capacity &&
      this.capacity < this.maxCapacity &&
      start - this.start[this.count % this.capacity]! < this.keepFrames
    )
      this.grow();
    const i = this.count % this.capacity;
    this.instrument[i] = inst;
    this.midi[i] = Math.max(0, Math.min(127, Math.round(e.midi)));
    this.velocity[i] = e.velocity;
    this.start[i] = start;
    this.duration[i] = e.durationFrames;
    this.count++;
  }

  /** Doubles the arrays, oldest note first (so `count` indexes them as before, from 0). */
  private grow(): void {
    const cap = this.capacity;
    const next = Math.min(cap * 2, this.maxCapacity);
    const order = <T extends Uint8Array | Float32Array | Float64Array>(a: T, b: T): T => {
      const first = this.count % cap;
      b.set(a.subarray(first), 0);
      b.set(a.subarray(0, first), cap - first);
      return b;
    };
    this.instrument = order(this.instrument, new Uint8Array(next));
    this.midi = order(this.midi, new Uint8Array(next));
    this.velocity = order(this.velocity, new Float32Array(next));
    this.start = order(this.start, new Float64Array(next));
    this.duration = order(this.duration, new Float64Array(next));
    this.count = cap;
    this.capacity = next;
  }

  /**
   * The notes sounding in [from, to) (station positions), on a clock where `from` is 0: a note
   * that started before is cut to start at 0, one that ends after `to` keeps its length.
   */
  window(from: number, to: number): NoteEvent[] {
    const out: NoteEvent[] = [];
    const n = Math.min(this.count, this.capacity);
    for (let k = n; k >= 1; k--) {
      const j = (this.count - k) % this.capacity;
      const s = this.start[j]!;
      const end = s + this.duration[j]!;
      if (s >= to || end <= from) continue;
      const start = Math.max(s, from);
      out.push({
        instrument: INSTRUMENTS[this.instrument[j]!]!,
        startFrame: start - from,
        durationFrames: end - start,
        midi: this.midi[j]!,
        velocity: this.velocity[j]!,
      });
    }
    return out;
  }
}

/**
 * The events handed out while one chunk is rendered, as one `notes` message. Collected into
 * preallocated records (no allocation per event); `frame()` builds the message once per chunk,
 * for all subscribers.
 */
export class NotesBatch {
  private n = 0;
  private dropped = 0;
  private readonly inst = new Uint8Array(MAX_BATCH_EVENTS);
  private readonly release = new Uint8Array(MAX_BATCH_EVENTS);
  private readonly pitch = new Uint8Array(MAX_BATCH_EVENTS);
  private readonly keep = new Uint16Array(MAX_BATCH_EVENTS);
  private readonly vel = new Float32Array(MAX_BATCH_EVENTS);
  private readonly start = new Float64Array(MAX_BATCH_EVENTS);
  private readonly frames = new Float64Array(MAX_BATCH_EVENTS);

  get size(): number {
    return this.n;
  }

  add(e: NoteEvent, offset: number): void {
    const i = this.n;
    if (i === MAX_BATCH_EVENTS) {
      this.dropped++;
      return;
    }
    this.n++;
    this.inst[i] = INSTRUMENTS.indexOf(e.instrument);
    this.release[i] = e.kind === 'release' ? 1 : 0;
    this.pitch[i] = Math.max(0, Math.min(127, Math.round(e.midi)));
    this.keep[i] = e.keepPitchClasses ?? 0;
    this.vel[i] = e.velocity;
    this.start[i] = e.startFrame + offset;
    this.frames[i] = e.durationFrames;
  }

  clear(): void {
    this.n = 0;
    this.dropped = 0;
  }

  /** The batch's JSON (PROTOCOL.md, "The live score"): chunk `seq` at `position`. */
  json(seq: number, position: number): string {
    let events = '';
    let releases = '';
    for (let i = 0; i < this.n; i++) {
      const instrument = INSTRUMENTS[this.inst[i]!]!;
      if (this.release[i] === 1) {
        releases += `${releases === '' ? '' : ','}{"instrument":"${instrument}","start":${this.start[i]},"keepPitchClasses":${this.keep[i]}}`;
      } else {
        events += `${events === '' ? '' : ','}{"instrument":"${instrument}","pitch":${this.pitch[i]},"velocity":${Math.round(this.vel[i]! * 1000) / 1000},"start":${this.start[i]},"frames":${this.frames[i]}}`;
      }
    }
    return `{"type":"notes","seq":${seq},"position":${position},"events":[${events}],"releases":[${releases}]${this.dropped > 0 ? `,"dropped":${this.dropped}` : ''}}`;
  }

  /** The batch as one unmasked WebSocket text frame (server to client), ready to write to sockets. */
  frame(seq: number, position: number): Uint8Array {
    return wsTextFrame(this.json(seq, position));
  }
}

/** One final, unmasked WebSocket text frame holding `text` (RFC 6455 §5.2). */
export function wsTextFrame(text: string): Uint8Array {
  const payload = Buffer.from(text, 'utf8');
  const len = payload.length;
  const head = len < 126 ? 2 : len < 65_536 ? 4 : 10;
  const out = new Uint8Array(head + len);
  out[0] = 0x81;
  if (len < 126) out[1] = len;
  else if (len < 65_536) {
    out[1] = 126;
    out[2] = len >> 8;
    out[3] = len & 0xff;
  } else {
    out[1] = 127;
    new DataView(out.buffer).setBigUint64(2, BigInt(len));
  }
  out.set(payload, head);
  return out;
}
