import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { TempoMap } from '../../src/music/tempo-map.ts';

describe('TempoMap', () => {
  it('places beats at rounded multiples of the beat length without drift', () => {
    const t = new TempoMap(70, 48_000);
    const fpb = (60 * 48_000) / 70;
    for (const beat of [0, 1, 7, 1000, 123_457]) assert.equal(t.frameOfBeat(beat), Math.round(beat * fpb));
    assert.equal(t.frameOfPosition(10.5), Math.round(10 * fpb) + Math.round(0.5 * fpb));
  });

  it('changes tempo from a beat on, keeps earlier beats, and drops superseded changes', () => {
    const t = new TempoMap(60, 48_000);
    t.setTempo(8, 120);
    assert.equal(t.frameOfBeat(8), 8 * 48_000);
    assert.equal(t.frameOfBeat(12), 8 * 48_000 + 4 * 24_000);
    assert.equal(t.frameOfBeat(4), 4 * 48_000);
    t.setTempo(10, 40);
    t.setTempo(9, 120);
    // The change at 10 was superseded by the later call starting earlier.
    assert.equal(t.bpmAt(20), 120);
    assert.equal(t.frameOfBeat(20), 8 * 48_000 + 12 * 24_000);
  });

  it('finds the first beat or bar line at or after a frame', () => {
    const t = new TempoMap(60, 48_000);
    assert.equal(t.beatAtOrAfter(0), 0);
    assert.equal(t.beatAtOrAfter(1), 1);
    assert.equal(t.beatAtOrAfter(48_000), 1);
    assert.equal(t.beatAtOrAfter(48_001, 4), 4);
    assert.equal(t.beatAtOrAfter(4 * 48_000, 4), 4);
    t.setTempo(8, 120);
    assert.equal(t.beatAtOrAfter(8 * 48_000 + 1), 9);
    assert.equal(t.beatAtOrAfter(8 * 48_000 + 24_001, 4), 12);
  });
});
