/**
 * The live score on the page (PROTOCOL.md, "The live score"): the `notes` messages of `events=1`
 * kept for the visualizer, and the timing that places a note on the listener's own clock, for the
 * display and for a Web MIDI output. Pure: no DOM, no Web MIDI (tested in test/client/notes.test.ts).
 */

export interface ScoreNote {
  instrument: string;
  pitch: number;
  velocity: number;
  /** Station position (frames) where it starts. */
  start: number;
  /** Frames it is held (a release may end it earlier: `end`). */
  frames: number;
  /** Station position where it ends: start + frames, or a release's position. */
  end: number;
}

export interface ScoreRelease {
  instrument: string;
  start: number;
  keepPitchClasses: number;
}

export interface NotesMessage {
  type: 'notes';
  seq: number;
  position: number;
  events: Omit<ScoreNote, 'end'>[];
  releases: ScoreRelease[];
}

/** Notes kept for display (a few minutes of the densest score); the oldest go first. */
export const MAX_KEPT_NOTES = 512;

/** The notes received lately, in arrival order (which is start order), bounded. */
export class NoteTimeline {
  readonly notes: ScoreNote[] = [];
  received = 0;

  /**
   * Adds a message's notes and applies its releases (to the notes already kept); returns the
   * notes a release ended early (their `end` is the release's position now).
   */
  add(msg: NotesMessage): ScoreNote[] {
    for (const e of msg.events) {
      this.notes.push({ ...e, end: e.start + e.frames });
      this.received++;
    }
    const ended: ScoreNote[] = [];
    for (const r of msg.releases) {
      for (const n of this.notes) {
        if (n.instrument === r.instrument && n.start < r.start && n.end > r.start && !keeps(r, n.pitch)) {
          n.end = r.start;
          ended.push(n);
        }
      }
    }
    if (this.notes.length > MAX_KEPT_NOTES) this.notes.splice(0, this.notes.length - MAX_KEPT_NOTES);
    return ended;
  }

  /** Notes sounding at some point of [from, to) (station positions). */
  within(from: number, to: number): ScoreNote[] {
    return this.notes.filter((n) => n.start < to && n.end > from);
  }

  clear(): void {
    this.notes.length = 0;
  }
}

function keeps(r: ScoreRelease, pitch: number): boolean {
  return ((r.keepPitchClasses >> (((pitch % 12) + 12) % 12)) & 1) === 1;
}

/**
 * What ties station positions to the listener's clock: the station's origin (Unix ms on the
 * server's clock at which position 0 plays: a chunk header's play time minus its position), the
 * server-minus-local clock offset (from ping/pong), and how far behind live the page plays (its
 * lag: the jitter buffer; 0 when unknown).
 */
export interface ScoreClock {
  stationOriginMs: number;
  clockOffsetMs: number;
  lagMs: number;
  sampleRate: number;
}

/** Local Unix ms (`Date.now()`) at which station position `frame` is heard on this page. */
export function heardAtMs(c: ScoreClock, frame: number): number {
  return c.stationOriginMs + (frame / c.sampleRate) * 1000 - c.clockOffsetMs + c.lagMs;
}

/** The station position being heard at local Unix ms `nowMs`. */
export function playheadFrames(c: ScoreClock, nowMs: number): number {
  return ((nowMs + c.clockOffsetMs - c.lagMs - c.stationOriginMs) / 1000) * c.sampleRate;
}

/** MIDI channel per instrument (General MIDI: percussion on channel 10, index 9). */
export const MIDI_CHANNELS: Record<string, number> = { pad: 0, keys: 1, drone: 2, texture: 3, perc: 9 };

/** The note-off (a `performance.now()` timestamp) that ends a note a release cut short, on time. */
export function midiReleaseFor(
  note: ScoreNote,
  c: ScoreClock,
  nowMs: number,
  perfNowMs: number,
): { data: [number, number, number]; at: number } {
  const channel = MIDI_CHANNELS[note.instrument] ?? 0;
  const at = Math.max(perfNowMs, heardAtMs(c, note.end) - nowMs + perfNowMs);
  return { data: [0x80 | channel, Math.max(0, Math.min(127, Math.round(note.pitch))), 0], at };
}

/**
 * The MIDI messages (with `performance.now()` timestamps, as `MIDIOutput.send` takes them) that
 * play `note` on the listener's synthesizer in step with the audio; empty when its end has
 * already passed (a note whose start has passed starts now). `nowMs`/`perfNowMs`: `Date.now()` and
 * `performance.now()` read together.
 */
export function midiMessagesFor(
  note: ScoreNote,
  c: ScoreClock,
  nowMs: number,
  perfNowMs: number,
): { data: [number, number, number]; at: number }[] {
  const channel = MIDI_CHANNELS[note.instrument] ?? 0;
  const on = heardAtMs(c, note.start) - nowMs + perfNowMs;
  const off = heardAtMs(c, note.end) - nowMs + perfNowMs;
  if (off <= perfNowMs) return [];
  const pitch = Math.max(0, Math.min(127, Math.round(note.pitch)));
  const velocity = Math.max(1, Math.min(127, Math.round(note.velocity * 127)));
  return [
    { data: [0x90 | channel, pitch, velocity], at: Math.max(on, perfNowMs) },
    { data: [0x80 | channel, pitch, 0], at: off },
  ];
}
