import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { PERC_MIN_INTENSITY } from '../../src/music/percussion.ts';
import { PERC_BRUSH, PERC_CLICK, PERC_KICK, PERC_SHAKER } from '../../src/music/types.ts';
import { beatPosition, compose, framesPerBeat, only, params, type Score } from './score.ts';

const MINUTES = 30;
const LEVELS = [0.1, 0.3, 0.5, 0.7, 0.9];

const scores = new Map<number, Score>();
function at(intensity: number): Score {
  let s = scores.get(intensity);
  if (!s) {
    s = compose(31, params({ intensity, mode: 'dorian', key: 'D' }), MINUTES * 60, 9600);
    scores.set(intensity, s);
  }
  return s;
}

function meanChordBars(s: Score): number {
  const c = s.chords;
  return (c[c.length - 1]!.startBeat - c[0]!.startBeat) / 4 / (c.length - 1);
}

describe(`density by intensity over ${MINUTES} minutes`, () => {
  it('grows monotonically in melody, texture, percussion and total notes', (t) => {
    let prev: Record<string, number> | null = null;
    for (const intensity of LEVELS) {
      const { events } = at(intensity);
      const counts = {
        keys: only(events, 'keys').length,
        texture: only(events, 'texture').length,
        total: events.length,
      };
      t.diagnostic(
        `intensity ${intensity}: ${(counts.keys / MINUTES).toFixed(1)} melody notes/min, ` +
          `${(counts.texture / MINUTES).toFixed(1)} texture/min, ${(only(events, 'perc').length / MINUTES).toFixed(1)} perc/min, ` +
          `${(counts.total / MINUTES).toFixed(1)} events/min, chords ${meanChordBars(at(intensity)).toFixed(2)} bars`,
      );
      if (prev)
        for (const k of Object.keys(counts) as (keyof typeof counts)[])
          assert.ok(counts[k] > prev[k]!, `${k} at ${intensity}`);
      prev = counts;
    }
    const perc = LEVELS.map((i) => only(at(i).events, 'perc').length);
    for (let i = 1; i < perc.length; i++)
      if (LEVELS[i]! > PERC_MIN_INTENSITY) assert.ok(perc[i]! > perc[i - 1]!);
  });

  it('has no percussion at low intensity, and sparse, soft percussion at the top', () => {
    for (const intensity of LEVELS.filter((i) => i < PERC_MIN_INTENSITY)) {
      assert.equal(only(at(intensity).events, 'perc').length, 0, `percussion at ${intensity}`);
    }
    const perc = only(at(0.9).events, 'perc');
    const beats = (MINUTES * 60 * 70) / 60;
    // Never a driving beat: far fewer hits than beats, and no hit on most downbeats.
    assert.ok(perc.length < beats * 0.8, `${perc.length} hits over ${beats} beats`);
    const kicks = perc.filter((e) => e.midi === PERC_KICK).length;
    assert.ok(kicks < (beats / 4) * 0.6, `${kicks} kicks over ${beats / 4} bars`);
    for (const e of perc) {
      assert.ok([PERC_KICK, PERC_CLICK, PERC_SHAKER, PERC_BRUSH].includes(e.midi));
      assert.ok(e.velocity <= 0.6, `velocity ${e.velocity}`);
    }
  });

  it('slows the harmonic rhythm when sparse', () => {
    const sparse = meanChordBars(at(0.1));
    const medium = meanChordBars(at(0.5));
    const dense = meanChordBars(at(0.9));
    assert.ok(sparse > medium + 0.5 && medium > dense, `${sparse} / ${medium} / ${dense} bars`);
  });

  it('writes few, long melody notes with rests between phrases at the default intensity', (t) => {
    const keys = only(at(0.5).events, 'keys');
    const fpb = framesPerBeat(70);
    const meanBeats = keys.reduce((s, e) => s + e.durationFrames, 0) / keys.length / fpb;
    const bars = (MINUTES * 60 * 70) / 60 / 4;
    const barsWithNotes = new Set(keys.map((e) => Math.floor(beatPosition(e.startFrame, 70) / 4))).size;
    const silentShare = 1 - barsWithNotes / bars;
    t.diagnostic(
      `mean melody note ${meanBeats.toFixed(2)} beats, ${(silentShare * 100).toFixed(0)}% of bars without a melody onset`,
    );
    assert.ok(meanBeats >= 1, `mean note length ${meanBeats} beats`);
    assert.ok(keys.length / bars <= 3, 'at most 3 notes per bar on average');
    assert.ok(silentShare >= 0.2 && silentShare <= 0.7, `silent bars ${silentShare}`);
  });
});
