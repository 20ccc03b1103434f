import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Composer, type ChordChange } from '../../src/music/composer.ts';
import { params, SAMPLE_RATE } from './score.ts';

const CHUNK = 4800;

/** Drives a composer chunk by chunk, as the renderer does, and records its forecast at each chunk end. */
function drive(
  seed: number,
  seconds: number,
  change?: { atSeconds: number; key: 'D'; mode: 'lydian' },
): { chords: ChordChange[]; forecasts: { frame: number; next: number | null }[] } {
  const chords: ChordChange[] = [];
  const composer = new Composer({
    seed,
    params: params(),
    sampleRate: SAMPLE_RATE,
    observer: { onChord: (c) => chords.push(c) },
  });
  const forecasts: { frame: number; next: number | null }[] = [];
  let changed = false;
  for (let position = CHUNK; position <= seconds * SAMPLE_RATE; position += CHUNK) {
    composer.generate(position, () => {});
    if (change && !changed && position >= change.atSeconds * SAMPLE_RATE) {
      changed = true;
      composer.schedule(params({ key: change.key, mode: change.mode }), position);
    }
    forecasts.push({ frame: position, next: composer.nextChangeAfter(position) });
  }
  return { chords, forecasts };
}

/** The start of the first chord after `frame`, from what was actually composed. */
function actualNext(chords: ChordChange[], frame: number): number | undefined {
  return chords.find((c) => c.startFrame > frame)?.startFrame;
}

describe('Composer.nextChangeAfter: the forecast of the next chord', () => {
  it('names the frame where the next chord actually starts, when nothing is changed', () => {
    for (const seed of [1, 7, 42]) {
      const { chords, forecasts } = drive(seed, 240);
      assert.ok(chords.length >= 10, `seed ${seed}: ${chords.length} chords in 240 s`);
      let checked = 0;
      for (const f of forecasts) {
        const actual = actualNext(chords, f.frame);
        if (actual === undefined) continue; // the run ended before it
        // A chord that starts exactly at the chunk end is not composed yet: it is "next" and "now".
        assert.ok(f.next !== null, `seed ${seed}: no forecast at frame ${f.frame}`);
        if (f.next === f.frame) continue;
        assert.equal(f.next, actual, `seed ${seed}: forecast at frame ${f.frame}`);
        checked++;
      }
      assert.ok(checked > forecasts.length / 2, `seed ${seed}: ${checked} forecasts checked`);
    }
  });

  it('moves to the bar of a waiting key change, where the new chord starts', () => {
    let cut = 0;
    for (const seed of [1, 2, 3, 4, 5, 6, 7, 8]) {
      const { chords, forecasts } = drive(seed, 40, { atSeconds: 20, key: 'D', mode: 'lydian' });
      const first = chords.find((c) => c.key === 'D' && c.mode === 'lydian');
      assert.ok(first, `seed ${seed}: the key change was composed`);
      const i = forecasts.findIndex((f) => f.frame >= 20 * SAMPLE_RATE);
      const before = forecasts[i - 1]!;
      const after = forecasts[i]!;
      // Right after the change was asked for, the forecast is the next chord actually composed.
      assert.equal(after.next, actualNext(chords, after.frame), `seed ${seed}`);
      if (before.next! > first.startFrame) {
        // The old chord would have gone on: the key change cut it, and the forecast moved with it.
        assert.equal(after.next, first.startFrame, `seed ${seed}`);
        cut++;
      }
    }
    assert.ok(cut > 0, 'in at least one run the key change came before the old chord would have ended');
  });

  it('is null before anything was composed', () => {
    const composer = new Composer({ seed: 1, params: params(), sampleRate: SAMPLE_RATE });
    assert.equal(composer.nextChangeAfter(0), null);
  });
});
