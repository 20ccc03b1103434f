import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ClickDetector, rms } from '../../src/dsp/analysis/index.ts';
import { StationRenderer } from '../../src/engine/station-renderer.ts';
import { applyPatch } from '../../src/music/params.ts';
import { findDefaultSoundFont, loadSoundFont, soundFontProblem } from '../../src/dsp/soundfont.ts';
import { Synth } from '../../src/dsp/synth.ts';
import { PRESETS, presetRequires, sampledFor, timbreFor } from '../../src/music/presets.ts';
import type { NoteEvent } from '../../src/music/types.ts';
import { NO_SOUNDFONT, presetParams, renderScore, renderStation, SR, testSoundFont } from './render.ts';

/**
 * The sampled layer (SoundFont 2 through spessasynth_core): deterministic and independent of how
 * a render is chunked, actually sounding, honouring the score's note ends and release events.
 * The 10-minute loudness, click and ceiling checks of the sampled presets are in presets-long.
 */
const soundfont = testSoundFont();
const skip = soundfont === null ? NO_SOUNDFONT : false;

test('sampled presets say they need a SoundFont; the others do not', () => {
  const sampled = PRESETS.filter((p) => p.sampled);
  assert.deepEqual(
    sampled.map((p) => p.name),
    ['piano', 'strings'],
  );
  for (const p of PRESETS) assert.deepEqual(presetRequires(p), p.sampled ? ['soundfont'] : []);
  assert.equal(sampledFor('focus'), null);
  assert.equal(sampledFor(null), null);
  assert.equal(sampledFor('piano')?.keys?.program, 0);
});

test('a file that is not a SoundFont 2 is named with the reason; a missing one too', () => {
  const dir = mkdtempSync(join(tmpdir(), 'auralis-sf-'));
  try {
    const bad = join(dir, 'bad.sf2');
    writeFileSync(bad, 'RIFF\0\0\0\0WAVEfmt ');
    assert.match(soundFontProblem(bad)!, /bad\.sf2 is not a SoundFont 2 file/);
    assert.throws(() => loadSoundFont(bad), /bad\.sf2 is not a SoundFont 2 file/);
    assert.match(soundFontProblem(join(dir, 'none.sf2'))!, /none\.sf2 cannot be read \(ENOENT\)/);
    assert.match(soundFontProblem(dir)!, /is not a file/);
    assert.equal(findDefaultSoundFont(dir), null);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('the SoundFont is parsed once per thread and shared', { skip }, () => {
  const path = findDefaultSoundFont()!;
  assert.equal(loadSoundFont(path), loadSoundFont(path));
  assert.ok(soundfont!.bytes > 1_000_000);
});

test(
  'piano: same seed and params give the same PCM, however the render is chunked; the layer sounds',
  { skip },
  () => {
    const seconds = 20;
    const grab = (chunkFrames: number, sf: typeof soundfont): Float32Array => {
      const out = new Float32Array(Math.round(seconds * SR) + chunkFrames);
      renderStation({
        preset: 'piano',
        seconds,
        chunkFrames,
        soundfont: sf,
        visit: (L, _R, pos) => out.set(L, pos),
      });
      return out.subarray(0, Math.round(seconds * SR));
    };
    const a = grab(4800, soundfont);
    const b = grab(1000, soundfont);
    const c = grab(4800, soundfont);
    assert.ok(rms(a) > 1e-3, `sampled piano silent: rms ${rms(a)}`);
    let firstDiff = -1;
    for (let i = 0; i < a.length; i++)
      if (a[i] !== b[i] || a[i] !== c[i]) {
        firstDiff = i;
        break;
      }
    assert.equal(firstDiff, -1, `renders differ from frame ${firstDiff}`);
    // Without the SoundFont the built-in keys and pad play these notes: a different sound.
    const builtIn = grab(4800, null);
    const diff = new Float32Array(a.length);
    for (let i = 0; i < a.length; i++) diff[i] = a[i]! - builtIn[i]!;
    assert.ok(rms(diff) > 0.3 * rms(a), 'the sampled layer changed nothing');
  },
);

/** Mean square of x over [from, to) seconds. */
function energy(x: Float32Array, from: number, to: number): number {
  return rms(x, Math.round(from * SR), Math.round(to * SR)) ** 2;
}

test(
  'sampled notes end at their written end, and at a release event (except kept pitch classes)',
  { skip },
  () => {
    const voicing = sampledFor('strings')!;
    const timbre = { ...timbreFor('strings'), reverbMix: 0, delayMix: 0 };
    const synth = (): Synth =>
      new Synth({ sampleRate: SR, seed: 1, timbre, bpm: 60, soundfont, sampled: voicing });
    const held = (midi: number): NoteEvent => ({
      instrument: 'pad',
      startFrame: Math.round(0.5 * SR),
      durationFrames: Math.round(20 * SR),
      midi,
      velocity: 0.8,
    });
    // A held string chord (C E G), 20 s long; in the second render a release at 3 s keeps E only.
    const notes = [held(60), held(64), held(67)];
    const release: NoteEvent = {
      instrument: 'pad',
      startFrame: 3 * SR,
      durationFrames: 0,
      midi: 0,
      velocity: 0,
      kind: 'release',
      keepPitchClasses: 1 << 4,
    };
    const plain = renderScore({ events: notes, seconds: 8, synth: synth() }).left;
    const released = renderScore({ events: [...notes, release], seconds: 8, synth: synth() }).left;
    const s = synth();
    const pcs = { before: 0, after: 0 };
    renderScore({
      events: [...notes, release],
      seconds: 4,
      synth: s,
      before: (sy, pos) => {
        if (pos === 2 * SR) pcs.before = sy.pitchClasses('pad', pos, true);
        if (pos === 3 * SR + 4800) pcs.after = sy.pitchClasses('pad', pos, true);
      },
    });
    assert.equal(pcs.before, (1 << 0) | (1 << 4) | (1 << 7), 'C E G held before the release');
    assert.equal(pcs.after, 1 << 4, 'only E held after it');
    // Identical until the release (plus a control period), then the released render is quieter.
    const until = 3 * SR;
    for (let i = 0; i < until; i++)
      assert.equal(released[i], plain[i], `differ at frame ${i} before the release`);
    const eHeld = energy(plain, 6, 8);
    const eReleased = energy(released, 6, 8);
    assert.ok(eHeld > 1e-5, `held chord silent: ${eHeld}`);
    assert.ok(eReleased < 0.6 * eHeld, `release kept too much: ${eReleased} vs ${eHeld}`);
    assert.ok(eReleased > 0.02 * eHeld, `the kept E went silent too: ${eReleased} vs ${eHeld}`);
    // A written end: a 1 s harp note is silent (−60 dB) within its release.
    const pluck: NoteEvent = {
      instrument: 'keys',
      startFrame: SR / 2,
      durationFrames: SR,
      midi: 72,
      velocity: 1,
    };
    const harp = renderScore({ events: [pluck], seconds: 10, synth: synth() }).left;
    const peak = Math.sqrt(energy(harp, 0.5, 1));
    assert.ok(peak > 1e-3, `harp note silent: ${peak}`);
    assert.ok(Math.sqrt(energy(harp, 9, 10)) < peak * 1e-3, 'the harp note did not end');
  },
);

test(
  'switching into and out of a sampled preset is click-free, and the layer takes the notes only while chosen',
  { skip },
  () => {
    const seconds = 60;
    const params = presetParams('focus');
    const r = new StationRenderer({ seed: 3, params, soundfont });
    const clicksL = new ClickDetector({ sampleRate: SR });
    const clicksR = new ClickDetector({ sampleRate: SR });
    const chunk = 4800;
    const L = new Float32Array(chunk);
    const R = new Float32Array(chunk);
    const active: boolean[] = [];
    for (let pos = 0; pos < seconds * SR; pos += chunk) {
      if (pos === 15 * SR) r.change(applyPatch(r.params, { preset: 'piano' }));
      if (pos === 35 * SR) r.change(applyPatch(r.params, { preset: 'focus' }));
      if (pos === 45 * SR) r.change(applyPatch(r.params, { preset: 'strings' }));
      r.render(L, R, chunk);
      clicksL.push(L);
      clicksR.push(R);
      if (pos % SR === 0) active.push(r.sampledActive);
    }
    clicksL.finish();
    clicksR.finish();
    const at = (c: { frame: number }): string => `${(c.frame / SR).toFixed(3)} s`;
    assert.equal(clicksL.totalClicks, 0, `clicks (left) at ${clicksL.clicks.map(at).join(', ')}`);
    assert.equal(clicksR.totalClicks, 0, `clicks (right) at ${clicksR.clicks.map(at).join(', ')}`);
    // Changes are heard at the next bar: sampled from within a few seconds of each, not before.
    assert.deepEqual(
      [5, 14, 25, 34, 42, 55].map((s) => active[s]),
      [false, false, true, true, false, true],
    );
  },
);
