import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { MelodyWriter } from '../../src/music/melody.ts';
import { nextRegion } from '../../src/music/region.ts';
import { Rng } from '../../src/music/rng.ts';
import { buildChord, Scale, type Chord } from '../../src/music/theory.ts';

interface Note {
  position: number;
  duration: number;
  midi: number;
}

/** Plays phrases one after another (each at the bar after the previous one's rest) over one chord. */
function phrases(
  count: number,
  intensity: number,
  scaleFor: (beat: number) => Scale,
  chordFor: (beat: number) => Chord,
): Note[][] {
  const rng = new Rng(17);
  const melody = new MelodyWriter(rng.fork(1));
  const region = nextRegion(rng.fork(2), null);
  const out: Note[][] = [];
  let beat = 0;
  // One phrase more than asked, so that every returned phrase is complete.
  while (out.length <= count) {
    if (beat % 4 === 0 && melody.idleAt(beat)) {
      melody.startPhrase(beat, intensity, region, scaleFor(beat), chordFor(beat));
      out.push([]);
    }
    melody.notesInBeat(beat, scaleFor(beat), chordFor(beat), (position, duration, midi) =>
      out[out.length - 1]!.push({ position, duration, midi }),
    );
    beat++;
  }
  return out.slice(0, count);
}

const A_AEOLIAN = new Scale(9, 'aeolian');
const AM9 = buildChord(A_AEOLIAN, 0, 'ninth')!;

describe('MelodyWriter', () => {
  it('writes phrases of 2–4 bars that start and end on chord tones, with a falling or arched close', (t) => {
    const all = phrases(
      300,
      0.5,
      () => A_AEOLIAN,
      () => AM9,
    );
    let closesDown = 0;
    let leaps = 0;
    let leapsRecovered = 0;
    for (const p of all) {
      assert.ok(p.length >= 2, 'a phrase has at least two notes');
      const start = p[0]!.position;
      const lastOnset = p[p.length - 1]!.position;
      const barStart = Math.floor(start / 4) * 4;
      assert.ok(lastOnset - barStart < 16, `phrase spans ${lastOnset - barStart} beats`);
      assert.ok(AM9.pcs.includes(p[0]!.midi % 12) && AM9.pcs.includes(p[p.length - 1]!.midi % 12));
      const peak = Math.max(...p.map((n) => n.midi));
      if (p[p.length - 1]!.midi < peak) closesDown++;
      for (let i = 2; i < p.length; i++) {
        const a = p[i - 1]!.midi - p[i - 2]!.midi;
        if (Math.abs(a) >= 5) {
          leaps++;
          if (Math.sign(p[i]!.midi - p[i - 1]!.midi) !== Math.sign(a)) leapsRecovered++;
        }
      }
    }
    t.diagnostic(
      `${all.length} phrases, ${closesDown} close below their peak; ${leapsRecovered}/${leaps} leaps turn back`,
    );
    assert.ok(closesDown / all.length >= 0.8);
    assert.ok(leapsRecovered / leaps >= 0.6);
  });

  it('rings the last note of a phrase and leaves at least a bar of rest before the next one, mostly', () => {
    const all = phrases(
      200,
      0.5,
      () => A_AEOLIAN,
      () => AM9,
    );
    let rests = 0;
    for (let i = 0; i + 1 < all.length; i++) {
      const last = all[i]![all[i]!.length - 1]!;
      assert.ok(last.duration >= 2, `last note ${last.duration} beats`);
      if (all[i + 1]![0]!.position - (last.position + last.duration) >= 2) rests++;
    }
    assert.ok(rests / all.length >= 0.6, `${rests} of ${all.length} phrases followed by a rest`);
  });

  it('finishes a phrase in a new key when the key changes at a bar line inside it', () => {
    const dSharpLydian = new Scale(3, 'lydian');
    const newChord = buildChord(dSharpLydian, 0, 'add9')!;
    // Change at bar 2 of every phrase: beats 8, 24, … are inside phrases that started earlier.
    const all = phrases(
      40,
      0.9,
      (beat) => (beat >= 8 ? dSharpLydian : A_AEOLIAN),
      (beat) => (beat >= 8 ? newChord : AM9),
    );
    const first = all[0]!;
    const before = first.filter((n) => n.position < 8);
    const after = first.filter((n) => n.position >= 8);
    assert.ok(before.length > 0 && after.length > 0, 'the first phrase spans the change');
    const inNew = after.filter((n) => dSharpLydian.contains(n.midi)).length;
    assert.ok(inNew >= after.length - 1, `${inNew} of ${after.length} notes after the change in the new key`);
    for (const n of before) assert.ok(A_AEOLIAN.contains(n.midi) || before.length > 3);
  });

  it('brings motifs back varied: rhythms recur, but no phrase repeats pitch for pitch', () => {
    const all = phrases(
      400,
      0.5,
      () => A_AEOLIAN,
      () => AM9,
    );
    const rel = (p: Note[]): string =>
      p.map((n) => n.position - Math.floor(p[0]!.position / 4) * 4).join(',');
    const rhythms = new Map<string, number>();
    const full = new Set<string>();
    for (const p of all) {
      rhythms.set(rel(p), (rhythms.get(rel(p)) ?? 0) + 1);
      const sig = rel(p) + '|' + p.map((n) => `${n.midi}:${n.duration}`).join(',');
      assert.ok(!full.has(sig), 'a phrase repeated exactly');
      full.add(sig);
    }
    const recurring = [...rhythms.values()].filter((c) => c > 1).length;
    assert.ok(recurring >= 10, `${recurring} recurring rhythms`);
  });
});
