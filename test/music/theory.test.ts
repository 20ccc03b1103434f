import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isAuthenticCadence } from '../../src/music/harmony.ts';
import { buildChord, CHORD_KINDS, Scale, usableDegrees } from '../../src/music/theory.ts';
import { MODES } from '../../src/music/types.ts';

describe('theory', () => {
  it('builds only in-scale chords and never a dominant seventh, in every key and mode', () => {
    let built = 0;
    for (let tonic = 0; tonic < 12; tonic++) {
      for (const mode of MODES) {
        const scale = new Scale(tonic, mode);
        for (let d = 0; d < 7; d++) {
          for (const kind of CHORD_KINDS) {
            const c = buildChord(scale, d, kind);
            if (!c) continue;
            built++;
            for (const pc of c.pcs) assert.ok(scale.contains(pc));
            const has = (i: number): boolean => c.intervals.includes(i);
            assert.ok(!(has(4) && has(10)), `${c.symbol} is a dominant seventh`);
            assert.ok(!has(13), `${c.symbol} has a flat ninth`);
          }
        }
      }
    }
    assert.ok(built > 12 * 6 * 20);
  });

  it('names chords as listeners read them', () => {
    const a = new Scale(9, 'aeolian');
    assert.equal(buildChord(a, 0, 'ninth')!.symbol, 'Am9');
    assert.equal(buildChord(a, 5, 'seventh')!.symbol, 'Fmaj7');
    assert.equal(buildChord(a, 2, 'add9')!.symbol, 'Cadd9');
    assert.equal(buildChord(new Scale(2, 'dorian'), 0, 'sus2')!.symbol, 'Dsus2');
    assert.equal(buildChord(a, 1, 'triad'), null, 'the diminished ii is not used');
  });

  it('leaves out the diminished degree of every mode', () => {
    for (const mode of MODES) assert.equal(usableDegrees(new Scale(0, mode)).length, 6, mode);
  });

  it('recognizes V–I only where V is major or suspended and I is major', () => {
    const c = new Scale(0, 'ionian');
    const g = buildChord(c, 4, 'triad')!;
    assert.ok(isAuthenticCadence(g, buildChord(c, 0, 'add9')!, c));
    assert.ok(isAuthenticCadence(buildChord(c, 4, 'sus4')!, buildChord(c, 0, 'triad')!, c));
    assert.ok(!isAuthenticCadence(buildChord(c, 3, 'triad')!, buildChord(c, 0, 'triad')!, c));
    const mixo = new Scale(0, 'mixolydian');
    assert.ok(!isAuthenticCadence(buildChord(mixo, 4, 'seventh')!, buildChord(mixo, 0, 'triad')!, mixo));
  });
});
