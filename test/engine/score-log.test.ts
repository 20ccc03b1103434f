import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { NotesBatch, ScoreLog, wsTextFrame } from '../../src/engine/score-log.ts';
import type { NoteEvent } from '../../src/music/types.ts';

const SR = 48_000;
const note = (start: number, midi = 60, durationFrames = SR): NoteEvent => ({
  instrument: 'keys',
  startFrame: start,
  durationFrames,
  midi,
  velocity: 0.5,
});

describe('score log', () => {
  it('grows only as far as the last 600 s need, and windows them on their own clock', () => {
    const log = new ScoreLog(16_384, SR, 64);
    // Four notes a second for 2,000 s: 660 s (the window and its margin) is 2,640 notes.
    for (let i = 0; i < 8000; i++) log.add(note(i * (SR / 4)), 0);
    assert.equal(log.size, 4096, 'doubled to the first size that holds 660 s, no further');
    const to = 8000 * (SR / 4);
    const w = log.window(to - 600 * SR, to);
    // Notes starting in the window, plus the one still sounding at its start (1 s long, 4 a second).
    assert.equal(w.length, 2400 + 3);
    assert.equal(w[0]!.startFrame, 0);
    assert.ok(w.every((n) => n.startFrame >= 0 && n.startFrame < 600 * SR));
    assert.ok(
      w.every((n, i) => i === 0 || n.startFrame >= w[i - 1]!.startFrame),
      'in start order',
    );
  });

  it('applies a release to the notes it ends', () => {
    const log = new ScoreLog(1024, SR, 16);
    log.add(note(0, 60, 10 * SR), 100);
    log.add(note(0, 62, 10 * SR), 100);
    // Keep D (pitch class 2): C ends at 2 s.
    log.add(
      {
        instrument: 'keys',
        startFrame: 2 * SR,
        durationFrames: 0,
        midi: 0,
        velocity: 0,
        kind: 'release',
        keepPitchClasses: 1 << 2,
      },
      100,
    );
    const w = log.window(0, 20 * SR);
    assert.deepEqual(
      w.map((n) => [n.midi, n.startFrame, n.durationFrames]),
      [
        [60, 100, 2 * SR],
        [62, 100, 10 * SR],
      ],
    );
  });

  it('builds one notes frame per batch: a WebSocket text frame of the documented JSON', () => {
    const b = new NotesBatch();
    b.add(note(4800, 57), 9600);
    b.add(
      {
        instrument: 'pad',
        startFrame: 5000,
        durationFrames: 0,
        midi: 0,
        velocity: 0,
        kind: 'release',
        keepPitchClasses: 5,
      },
      9600,
    );
    const json = JSON.parse(b.json(3, 14_400)) as Record<string, unknown>;
    assert.deepEqual(json, {
      type: 'notes',
      seq: 3,
      position: 14_400,
      events: [{ instrument: 'keys', pitch: 57, velocity: 0.5, start: 14_400, frames: SR }],
      releases: [{ instrument: 'pad', start: 14_600, keepPitchClasses: 5 }],
    });
    for (const len of [5, 200, 70_000]) {
      const f = wsTextFrame('x'.repeat(len));
      assert.equal(f[0], 0x81);
      const head = len < 126 ? 2 : len < 65_536 ? 4 : 10;
      assert.equal(f.length, head + len);
      const n =
        len < 126
          ? f[1]
          : len < 65_536
            ? (f[2]! << 8) | f[3]!
            : Number(new DataView(f.buffer).getBigUint64(2));
      assert.equal(n, len);
    }
  });
});
