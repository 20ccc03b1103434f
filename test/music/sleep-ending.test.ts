import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { StationRenderer } from '../../src/engine/station-renderer.ts';
import { applyPatch, DEFAULT_PARAMS } from '../../src/music/params.ts';
import { ENDING_SECONDS, SAMPLE_RATE, type NoteEvent } from '../../src/music/types.ts';

const CHUNK = SAMPLE_RATE / 10;

interface Run {
  renderer: StationRenderer;
  notes: NoteEvent[];
  /** RMS of each rendered second. */
  rms: number[];
  /** Largest sample-to-sample step in each rendered second. */
  step: number[];
  /** The chord sounding at the end of each second. */
  chords: string[];
  /** The last sample rendered (left). */
  prev: number;
}

function start(preset: string, seed: number): Run {
  const notes: NoteEvent[] = [];
  const renderer = new StationRenderer({
    seed,
    params: applyPatch(DEFAULT_PARAMS, { preset, key: 'D' }),
    onEvent: (e) => {
      if (e.kind !== 'release') notes.push({ ...e });
    },
  });
  return { renderer, notes, rms: [], step: [], chords: [], prev: 0 };
}

function render(run: Run, seconds: number): void {
  const L = new Float32Array(CHUNK);
  const R = new Float32Array(CHUNK);
  let prev = run.prev;
  for (let s = 0; s < seconds; s++) {
    let sum = 0;
    let step = 0;
    for (let c = 0; c < 10; c++) {
      run.renderer.render(L, R, CHUNK);
      for (let i = 0; i < CHUNK; i++) {
        sum += L[i]! * L[i]! + R[i]! * R[i]!;
        step = Math.max(step, Math.abs(L[i]! - prev));
        prev = L[i]!;
      }
    }
    run.rms.push(Math.sqrt(sum / (2 * SAMPLE_RATE)));
    run.step.push(step);
    run.chords.push(run.renderer.now().chord);
  }
  run.prev = prev;
}

const notesIn = (run: Run, fromS: number, toS: number): number =>
  run.notes.filter((n) => n.startFrame >= fromS * SAMPLE_RATE && n.startFrame < toS * SAMPLE_RATE).length;

const windowRms = (run: Run, fromS: number, toS: number): number =>
  Math.sqrt(run.rms.slice(fromS, toS).reduce((a, r) => a + r * r, 0) / (toS - fromS));

describe('the sleep timer’s musical ending (MusicParams.ending)', () => {
  for (const [preset, seed] of [
    ['focus', 7],
    ['bright', 11],
  ] as const) {
    it(`${preset}: thins, resolves to the tonic and stays, fades smoothly to silence`, () => {
      const run = start(preset, seed);
      const before = 60;
      render(run, before);
      const at = run.renderer.change({ ...run.renderer.params, ending: true });
      const endS = Math.ceil(at / SAMPLE_RATE);
      render(run, endS - before + ENDING_SECONDS + 5);
      const e0 = at / SAMPLE_RATE;

      // Density falls: the last third of the ending has fewer notes than the minute before it and
      // than its first third.
      const normal = notesIn(run, e0 - 40, e0);
      const first = notesIn(run, e0, e0 + 40);
      const last = notesIn(run, e0 + 80, e0 + 120);
      assert.ok(normal > 0, 'precondition: music before the ending');
      assert.ok(
        last < first && last < normal,
        `notes per 40 s: before ${normal}, first ${first}, last ${last}`,
      );

      // The harmony goes to the tonic (D, the key asked for) within a few bars and stays.
      const tonic = run.chords.slice(Math.ceil(e0) + 20, Math.floor(e0) + ENDING_SECONDS);
      assert.ok(tonic.length > 90);
      assert.ok(
        tonic.every((c) => c === tonic[0] && /^D(?![#b])/.test(c)),
        `chords over the ending: ${[...new Set(tonic)].join(', ')}`,
      );

      // The level falls monotonically in 10 s windows over the last minute, to silence.
      const levels: number[] = [];
      for (let w = 0; w < 6; w++) {
        const from = Math.floor(e0) + 60 + w * 10;
        levels.push(windowRms(run, from, from + 10));
      }
      for (let i = 1; i < levels.length; i++)
        assert.ok(
          levels[i]! < levels[i - 1]!,
          `RMS per 10 s: ${levels.map((l) => l.toExponential(2)).join(', ')}`,
        );
      const loud = windowRms(run, Math.floor(e0) - 30, Math.floor(e0));
      assert.ok(loud > 0.01, `precondition: audible before the ending (${loud})`);
      const after = run.rms.slice(Math.ceil(e0) + ENDING_SECONDS + 1);
      assert.ok(after.length >= 3);
      assert.ok(
        after.every((r) => r < 1e-5),
        `silence after the ending: ${after.join(', ')}`,
      );
      // No click: no sample step in the ending larger than the largest before it.
      const maxBefore = Math.max(...run.step.slice(0, Math.floor(e0)));
      const maxDuring = Math.max(...run.step.slice(Math.ceil(e0)));
      assert.ok(maxDuring <= maxBefore, `largest step before ${maxBefore}, during ${maxDuring}`);
    });
  }

  it('cancelled, the music comes back: level, notes and moving harmony', () => {
    const run = start('focus', 7);
    render(run, 40);
    const at = run.renderer.change({ ...run.renderer.params, ending: true });
    render(run, 90);
    const quiet = windowRms(run, run.rms.length - 10, run.rms.length);
    const back = run.renderer.change({ ...run.renderer.params, ending: false });
    render(run, 120);
    const b0 = Math.ceil(back / SAMPLE_RATE);
    const loud = windowRms(run, Math.floor(at / SAMPLE_RATE) - 30, Math.floor(at / SAMPLE_RATE));
    const restored = windowRms(run, b0 + 30, b0 + 120);
    assert.ok(quiet < loud / 3, `precondition: faded (${quiet} vs ${loud})`);
    assert.ok(restored > loud / 2, `the level comes back: ${restored} vs ${loud} before`);
    assert.ok(notesIn(run, b0 + 20, b0 + 60) > notesIn(run, b0 - 40, b0), 'density comes back');
    assert.ok(new Set(run.chords.slice(b0 + 10)).size > 1, 'the harmony walks on');
  });
});
