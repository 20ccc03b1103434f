import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  heardAtMs,
  MAX_KEPT_NOTES,
  midiMessagesFor,
  midiReleaseFor,
  NoteTimeline,
  playheadFrames,
  type NotesMessage,
  type ScoreClock,
} from '../../client/src/score/notes.ts';

const clock: ScoreClock = { stationOriginMs: 1_000_000, clockOffsetMs: 250, lagMs: 300, sampleRate: 48_000 };

const msg = (events: NotesMessage['events'], releases: NotesMessage['releases'] = []): NotesMessage => ({
  type: 'notes',
  seq: 1,
  position: 4800,
  events,
  releases,
});

describe('the live score on the page', () => {
  it('places a position on the local clock: server play time, minus the clock offset, plus the lag', () => {
    // Position 48,000 plays at server Unix ms 1,001,000; local clock = server − 250; heard 300 ms later.
    assert.equal(heardAtMs(clock, 48_000), 1_001_000 - 250 + 300);
    assert.equal(playheadFrames(clock, heardAtMs(clock, 96_000)), 96_000);
  });

  it('schedules MIDI note-on and note-off at the heard times, on the instrument’s channel', () => {
    const tl = new NoteTimeline();
    tl.add(msg([{ instrument: 'keys', pitch: 64, velocity: 0.5, start: 48_000, frames: 24_000 }]));
    const now = heardAtMs(clock, 0);
    const m = midiMessagesFor(tl.notes[0]!, clock, now, 5000);
    assert.deepEqual(m, [
      { data: [0x91, 64, 64], at: 5000 + 1000 },
      { data: [0x81, 64, 0], at: 5000 + 1500 },
    ]);
    // A note already sounding starts now; one that has ended is not sent.
    const late = midiMessagesFor(tl.notes[0]!, clock, heardAtMs(clock, 60_000), 5000);
    assert.equal(late[0]!.at, 5000);
    assert.deepEqual(midiMessagesFor(tl.notes[0]!, clock, heardAtMs(clock, 80_000), 5000), []);
    // Percussion goes to channel 10.
    tl.add(msg([{ instrument: 'perc', pitch: 36, velocity: 1, start: 48_000, frames: 4800 }]));
    assert.equal(midiMessagesFor(tl.notes[1]!, clock, now, 0)[0]!.data[0], 0x99);
  });

  it('applies releases and keeps a bounded window of notes', () => {
    const tl = new NoteTimeline();
    tl.add(
      msg([
        { instrument: 'pad', pitch: 60, velocity: 0.4, start: 0, frames: 480_000 },
        { instrument: 'pad', pitch: 62, velocity: 0.4, start: 0, frames: 480_000 },
      ]),
    );
    const ended = tl.add(msg([], [{ instrument: 'pad', start: 96_000, keepPitchClasses: 1 << 2 }]));
    assert.deepEqual(
      ended.map((n) => n.pitch),
      [60],
      'C ended by the release, D kept',
    );
    // Its note-off goes out when the release is heard, on the pad's channel.
    assert.deepEqual(midiReleaseFor(ended[0]!, clock, heardAtMs(clock, 0), 100), {
      data: [0x80, 60, 0],
      at: 2100,
    });
    assert.deepEqual(
      tl.notes.map((n) => [n.pitch, n.end]),
      [
        [60, 96_000],
        [62, 480_000],
      ],
    );
    assert.equal(tl.within(100_000, 200_000).length, 1);
    for (let i = 0; i < MAX_KEPT_NOTES + 10; i++)
      tl.add(msg([{ instrument: 'keys', pitch: 70, velocity: 0.5, start: i, frames: 10 }]));
    assert.equal(tl.notes.length, MAX_KEPT_NOTES);
    assert.equal(tl.received, MAX_KEPT_NOTES + 12);
  });
});
