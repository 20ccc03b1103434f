import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Composer, type ChordChange } from '../../src/music/composer.ts';
import { isRelease, type MusicParams, type NoteEvent } from '../../src/music/types.ts';
import { chordAt, fraction, framesPerBeat, params, SAMPLE_RATE, scalePcs } from './score.ts';

const CHUNK = 4800;

/** A composer driven like the renderer: chunk by chunk, a change asked for at a chunk boundary. */
class Session {
  readonly events: NoteEvent[] = [];
  readonly chords: ChordChange[] = [];
  readonly composer: Composer;
  position = 0;

  constructor(p: MusicParams, seed = 21) {
    this.composer = new Composer({
      seed,
      params: p,
      sampleRate: SAMPLE_RATE,
      observer: { onChord: (c) => this.chords.push(c) },
    });
  }

  advance(seconds: number): void {
    const end = this.position + seconds * SAMPLE_RATE;
    while (this.position < end) {
      this.position += CHUNK;
      this.composer.generate(this.position, (e) => this.events.push({ ...e }));
    }
  }

  after(frame: number, instrument: NoteEvent['instrument']): NoteEvent[] {
    return this.events.filter((e) => e.instrument === instrument && e.startFrame >= frame && !isRelease(e));
  }

  before(frame: number, instrument: NoteEvent['instrument']): NoteEvent[] {
    return this.events.filter((e) => e.instrument === instrument && e.startFrame < frame && !isRelease(e));
  }
}

function isGridPoint(frame: number, gridFrames: number, originFrame = 0): boolean {
  const k = Math.round((frame - originFrame) / gridFrames);
  return Math.abs(originFrame + k * gridFrames - frame) <= 1;
}

describe('Composer parameter changes', () => {
  it('changes key and mode at the next bar line, and everything after it is in the new key', () => {
    const s = new Session(params({ key: 'A', mode: 'aeolian', bpm: 70 }));
    s.advance(120);
    const from = s.position + 10_000;
    const at = s.composer.schedule(params({ key: 'D#', mode: 'lydian', bpm: 70 }), from);
    const bar = 4 * framesPerBeat(70);
    assert.ok(at >= from && at < from + bar + 1, `effective ${at} for a change from ${from}`);
    assert.ok(isGridPoint(at, bar), `${at} is not a bar line`);
    s.advance(180);

    const chord = s.chords.find((c) => c.startFrame === at);
    assert.ok(chord, 'a chord starts exactly at the change');
    assert.equal(chord.key, 'D#');
    assert.equal(chord.mode, 'lydian');
    assert.equal(s.composer.nowAt(at).key, 'D#');
    assert.equal(s.composer.nowAt(at - 1).key, 'A');

    const oldPcs = scalePcs('A', 'aeolian');
    const newPcs = scalePcs('D#', 'lydian');
    const before = s.before(at, 'keys');
    const after = s.after(at, 'keys');
    assert.ok(fraction(before.filter((e) => oldPcs.has(e.midi % 12)).length, before.length) >= 0.95);
    assert.ok(after.length > 20, 'the melody goes on after the change');
    assert.ok(fraction(after.filter((e) => newPcs.has(e.midi % 12)).length, after.length) >= 0.95);
    for (const inst of ['pad', 'drone'] as const) {
      for (const e of s.after(at, inst))
        assert.ok(newPcs.has(e.midi % 12), `${inst} ${e.midi} after the change`);
      // Held notes of the old key end within a pad segment's rest (≤ 2 bars) plus the crossfade.
      for (const e of s.before(at, inst)) {
        const beyondBeats = (e.startFrame + e.durationFrames - at) / framesPerBeat(70);
        assert.ok(
          beyondBeats <= 10 + 1e-3,
          `${inst} from the old key held ${beyondBeats} beats into the new`,
        );
      }
    }
  });

  it('releases at a key or mode change the pad, drone and keys notes outside the new scale, and at nothing else', () => {
    const s = new Session(params({ key: 'A', mode: 'aeolian', bpm: 70 }));
    s.advance(60);
    // A tempo and intensity change: no release.
    s.composer.schedule(params({ key: 'A', mode: 'aeolian', bpm: 80, intensity: 0.7 }), s.position);
    s.advance(30);
    assert.equal(s.events.filter(isRelease).length, 0, 'no release without a key or mode change');
    const at = s.composer.schedule(
      params({ key: 'C#', mode: 'phrygian', bpm: 80, intensity: 0.7 }),
      s.position,
    );
    s.advance(30);
    const releases = s.events.filter(isRelease);
    const newPcs = scalePcs('C#', 'phrygian');
    let keep = 0;
    for (const pc of newPcs) keep |= 1 << pc;
    assert.deepEqual(
      releases.map((e) => [e.instrument, e.startFrame, e.keepPitchClasses]),
      ['pad', 'drone', 'keys'].map((i) => [i, at, keep]),
    );
    // First among the events at the change, so the new chord's notes on that frame are not released.
    const first = s.events.findIndex((e) => e.startFrame >= at);
    assert.deepEqual(
      s.events.slice(first, first + 3).map((e) => e.kind),
      ['release', 'release', 'release'],
    );
    // The precondition: notes given out before the change, outside the new scale, held past it.
    const held = s.events.filter(
      (e) =>
        !isRelease(e) &&
        e.instrument !== 'perc' &&
        e.instrument !== 'texture' &&
        e.startFrame < at &&
        e.startFrame + e.durationFrames > at &&
        !newPcs.has(e.midi % 12),
    );
    assert.ok(held.length >= 1, 'out-of-scale notes were held over the change');
  });

  it('changes tempo at the next beat, and later beats and notes follow the new tempo', () => {
    const s = new Session(params({ bpm: 70 }));
    s.advance(60);
    const from = s.position;
    const at = s.composer.schedule(params({ bpm: 100 }), from);
    const oldBeat = framesPerBeat(70);
    const newBeat = framesPerBeat(100);
    assert.ok(at >= from && at < from + oldBeat + 1);
    assert.ok(isGridPoint(at, oldBeat), `${at} is not on a beat`);
    s.advance(120);
    const later = s.chords.filter((c) => c.startFrame > at);
    assert.ok(later.length > 5);
    for (const c of later)
      assert.ok(isGridPoint(c.startFrame, newBeat * 4, at - (Math.round(at / oldBeat) % 4) * newBeat));
    const notes = s.after(at, 'keys');
    assert.ok(notes.length > 20);
    for (const e of notes)
      assert.ok(isGridPoint(e.startFrame, newBeat / 2, at), `note at ${e.startFrame} off the new grid`);
  });

  it('changes intensity at the next beat: percussion stops right there when intensity drops', () => {
    const s = new Session(params({ intensity: 0.9 }));
    s.advance(90);
    const at = s.composer.schedule(params({ intensity: 0.1 }), s.position);
    assert.ok(isGridPoint(at, framesPerBeat(70)));
    s.advance(300);
    assert.ok(s.before(at, 'perc').length > 20, 'percussion at high intensity');
    assert.equal(s.after(at, 'perc').length, 0);
  });

  it('lands a later intensity change with a pending key change at the same bar line', () => {
    const s = new Session(params());
    s.advance(30);
    const first = s.composer.schedule(params({ key: 'E', mode: 'dorian' }), s.position);
    const second = s.composer.schedule(params({ key: 'E', mode: 'dorian', intensity: 0.1 }), s.position);
    assert.equal(second, first);
    s.advance(120);
    const pcs = scalePcs('E', 'dorian');
    for (const e of s.after(first, 'pad')) assert.ok(pcs.has(e.midi % 12));
    assert.equal(s.after(first, 'perc').length, 0);
  });

  it('never schedules a change before what was already generated', () => {
    const s = new Session(params());
    s.advance(45);
    const at = s.composer.schedule(params({ bpm: 90 }), 0);
    assert.ok(at >= s.position);
  });
});

describe('Composer.nowAt', () => {
  it('names the chord, key, mode and section sounding over the last 60 seconds', () => {
    const s = new Session(params({ key: 'F#', mode: 'dorian' }));
    s.advance(600);
    for (let f = s.position - 60 * SAMPLE_RATE; f < s.position; f += SAMPLE_RATE / 2) {
      const now = s.composer.nowAt(f);
      const c = chordAt(s.chords, f);
      assert.equal(now.chord, c.chord.symbol);
      assert.equal(now.section, c.region.name);
      assert.equal(now.key, 'F#');
      assert.equal(now.mode, 'dorian');
      assert.match(now.chord, /^[A-G]#?(m|maj7|m7|maj9|m9|sus2|sus4|add9|madd9)?$/);
    }
  });
});
