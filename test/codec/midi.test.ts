import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseMidiFile, type MidiTrack } from '../../src/codec/midi-parse.ts';
import { MIDI_CHANNELS, MIDI_PPQ, NoteLog, writeMidiFile } from '../../src/codec/midi.ts';
import type { NoteEvent } from '../../src/music/types.ts';

const SR = 48_000;
const BPM = 60; // one beat = 48 000 frames = 480 ticks: 100 frames a tick

function note(
  instrument: NoteEvent['instrument'],
  beat: number,
  beats: number,
  midi: number,
  velocity = 0.5,
): NoteEvent {
  return { instrument, startFrame: beat * SR, durationFrames: beats * SR, midi, velocity };
}

function noteOns(t: MidiTrack) {
  return t.events.filter((e) => e.kind === 0x90 && e.data2 > 0);
}
function noteOffs(t: MidiTrack) {
  return t.events.filter((e) => e.kind === 0x80 || (e.kind === 0x90 && e.data2 === 0));
}

const score: NoteEvent[] = [
  note('pad', 0, 4, 57),
  note('pad', 0, 4, 60),
  note('keys', 1, 0.5, 69, 1),
  note('keys', 1.5, 0.5, 72, 0.25),
  note('drone', 0, 8, 45),
  note('perc', 2, 0.1, 36),
  note('perc', 3, 0.1, 42),
  note('texture', 0.25, 2, 81),
];

test('writes format 1 at 480 PPQ: a tempo track and one named track per instrument with its channel', () => {
  const file = parseMidiFile(
    writeMidiFile(score, { bpm: BPM, sampleRate: SR, endFrame: 8 * SR, title: 'test' }),
  );
  assert.equal(file.format, 1);
  assert.equal(file.division, MIDI_PPQ);
  assert.deepEqual(
    file.tracks.map((t) => t.name),
    ['test', 'Pad', 'Keys', 'Drone', 'Texture', 'Percussion'],
  );
  const tempo = file.tracks[0]!.events.find((e) => e.metaType === 0x51)!;
  assert.deepEqual([...tempo.metaData!], [0x0f, 0x42, 0x40]); // 1 000 000 µs per quarter = 60 BPM
  const [, pad, keys, drone, texture, perc] = file.tracks as [
    MidiTrack,
    MidiTrack,
    MidiTrack,
    MidiTrack,
    MidiTrack,
    MidiTrack,
  ];
  assert.deepEqual(
    [pad, keys, drone, texture, perc].map((t) => noteOns(t).length),
    [2, 2, 1, 1, 2],
  );
  for (const [t, ch] of [
    [pad, MIDI_CHANNELS.pad],
    [keys, MIDI_CHANNELS.keys],
    [drone, MIDI_CHANNELS.drone],
    [texture, MIDI_CHANNELS.texture],
    [perc, 9],
  ] as const) {
    assert.ok(t.events.filter((e) => e.kind !== 0xff).every((e) => e.channel === ch));
    assert.equal(noteOns(t).length, noteOffs(t).length);
    // Every track ends at the render's end: 8 beats.
    assert.equal(t.events.at(-1)!.tick, 8 * MIDI_PPQ);
  }
  assert.equal(perc.events.filter((e) => e.kind === 0xc0).length, 0);
  const k = noteOns(keys);
  assert.deepEqual(
    k.map((e) => [e.tick, e.data1, e.data2]),
    [
      [480, 69, 127],
      [720, 72, 32],
    ],
  );
  assert.deepEqual(
    noteOffs(keys).map((e) => [e.tick, e.data1]),
    [
      [720, 69],
      [960, 72],
    ],
  );
});

test('same notes in any order give the same bytes; a different note gives different bytes', () => {
  const a = writeMidiFile(score, { bpm: BPM, sampleRate: SR, endFrame: 8 * SR });
  const b = writeMidiFile([...score].reverse(), { bpm: BPM, sampleRate: SR, endFrame: 8 * SR });
  assert.ok(Buffer.from(a).equals(Buffer.from(b)));
  const c = writeMidiFile([...score.slice(1), note('pad', 0, 4, 59)], {
    bpm: BPM,
    sampleRate: SR,
    endFrame: 8 * SR,
  });
  assert.ok(!Buffer.from(a).equals(Buffer.from(c)));
});

test('overlapping notes of the same pitch re-strike cleanly: on/off stay balanced and ordered', () => {
  const notes = [
    note('keys', 0, 2, 60),
    note('keys', 1, 2, 60),
    note('keys', 1, 1, 60),
    note('keys', 5, 1, 60),
  ];
  const file = parseMidiFile(writeMidiFile(notes, { bpm: BPM, sampleRate: SR }));
  const keys = file.tracks[2]!;
  const seq = keys.events.filter((e) => e.kind === 0x80 || e.kind === 0x90).map((e) => [e.kind, e.tick]);
  assert.deepEqual(seq, [
    [0x90, 0],
    [0x80, 480], // cut where the same pitch strikes again
    [0x90, 480], // the two notes at beat 1 merge into the longer one
    [0x80, 1440],
    [0x90, 2400],
    [0x80, 2880],
  ]);
});

test('NoteLog copies reused event objects and converts to the same file as the array', () => {
  const log = new NoteLog();
  const reused: NoteEvent = { instrument: 'pad', startFrame: 0, durationFrames: 0, midi: 0, velocity: 0 };
  for (const n of score) {
    Object.assign(reused, n);
    assert.ok(log.add(reused));
  }
  // Force a few growths.
  for (let i = 0; i < 3000; i++) log.add(note('texture', 8 + i * 0.01, 0.01, 70));
  const ref = [...score, ...Array.from({ length: 3000 }, (_, i) => note('texture', 8 + i * 0.01, 0.01, 70))];
  const opts = { bpm: 72, sampleRate: SR, endFrame: 40 * SR };
  assert.ok(Buffer.from(writeMidiFile(log, opts)).equals(Buffer.from(writeMidiFile(ref, opts))));
  const small = new NoteLog(2);
  assert.ok(small.add(score[0]!) && small.add(score[1]!));
  assert.equal(small.add(score[2]!), false);
  assert.equal(small.count, 2);
});

test('a release event ends the notes it releases (in an array and in a NoteLog) and writes no note of its own', () => {
  const release = (instrument: NoteEvent['instrument'], beat: number, keep: number): NoteEvent => ({
    instrument,
    startFrame: beat * SR,
    durationFrames: 0,
    midi: 0,
    velocity: 0,
    kind: 'release',
    keepPitchClasses: keep,
  });
  const notes: NoteEvent[] = [
    note('pad', 0, 4, 57), // A: kept
    note('pad', 0, 4, 60), // C: released at beat 2
    note('keys', 1, 0.5, 69), // released at 1.25 (keep none)
    release('keys', 1.25, 0),
    release('pad', 2, 1 << 9),
    note('pad', 2, 2, 61), // starts on the release's frame, after it: untouched
    note('keys', 3, 0.5, 72),
  ];
  const log = new NoteLog();
  const reused: NoteEvent = { instrument: 'pad', startFrame: 0, durationFrames: 0, midi: 0, velocity: 0 };
  for (const n of notes) assert.ok(log.add(Object.assign(reused, { kind: 'note', keepPitchClasses: 0 }, n)));
  assert.equal(log.count, 5, 'releases are not recorded as notes');
  const opts = { bpm: BPM, sampleRate: SR, endFrame: 8 * SR };
  const bytes = writeMidiFile(notes, opts);
  assert.ok(Buffer.from(writeMidiFile(log, opts)).equals(Buffer.from(bytes)));
  const file = parseMidiFile(bytes);
  const spans = (t: MidiTrack) => {
    const ons = noteOns(t);
    const offs = noteOffs(t);
    return ons.map((on) => [
      on.data1,
      on.tick,
      offs.find((o) => o.data1 === on.data1 && o.tick > on.tick)!.tick,
    ]);
  };
  assert.deepEqual(spans(file.tracks[1]!), [
    [57, 0, 1920],
    [60, 0, 960],
    [61, 960, 1920],
  ]);
  assert.deepEqual(spans(file.tracks[2]!), [
    [69, 480, 600],
    [72, 1440, 1680],
  ]);
});
