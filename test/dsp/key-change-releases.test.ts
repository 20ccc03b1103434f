import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  ClickDetector,
  countNonFinite,
  detectClicks,
  LoudnessMeter,
  rms,
} from '../../src/dsp/analysis/index.ts';
import { DSP_DEFAULTS } from '../../src/dsp/config.ts';
import { Synth } from '../../src/dsp/synth.ts';
import { Composer } from '../../src/music/composer.ts';
import { PRESETS, timbreFor } from '../../src/music/presets.ts';
import { Rng } from '../../src/music/rng.ts';
import { Scale } from '../../src/music/theory.ts';
import {
  MODES,
  PITCH_CLASSES,
  pitchClassOf,
  type Instrument,
  type MusicParams,
  type NoteEvent,
} from '../../src/music/types.ts';
import { DRY_TIMBRE, presetParams, renderScore, SR } from './render.ts';
import { DEFAULT_TIMBRE } from '../../src/music/presets.ts';

/**
 * Key and mode changes, through the composer and the synth as a station plays them: 40 seeded
 * changes per preset, each asked for at a random point and heard at the next bar line. At each
 * change frame F, no note that started before F and whose pitch class left the scale may still be
 * held a control period later (its release envelope has begun), and none may still sound once the
 * longest release (60 dB) has run. Notes that fit the new scale ring on.
 */
const CHANGES = 40;
const CHUNK = 4800;
const PERIOD = DSP_DEFAULTS.controlFrames;
/** The release event takes effect at the control tick that reaches F: held no longer after two. */
const HELD_CHECK_FRAMES = 2 * PERIOD;
/** The longest release among pad, drone and keys (pad 3–5 s, drone 5 s, keys 3 s) and a margin. */
const RELEASED_CHECK_FRAMES = Math.round(5 * SR) + 4 * PERIOD;
const SUSTAINED: readonly Instrument[] = ['pad', 'drone', 'keys'];
const LOUDNESS_WINDOW_LUFS = { min: -24, max: -16 };

interface Change {
  at: number;
  mask: number;
  heldChecked: boolean;
  releasedChecked: boolean;
}

function pcs(mask: number): string {
  const out: string[] = [];
  for (let p = 0; p < 12; p++) if ((mask >> p) & 1) out.push(PITCH_CLASSES[p]!);
  return out.join(' ');
}

/** Bit mask of the pitch classes of some MIDI notes. */
function maskOf(...midis: number[]): number {
  let m = 0;
  for (const x of midis) m |= 1 << pitchClassOf(x);
  return m;
}

const note = (instrument: Instrument, atFrame: number, seconds: number, midi: number): NoteEvent => ({
  instrument,
  startFrame: atFrame,
  durationFrames: Math.round(seconds * SR),
  midi,
  velocity: 0.8,
});
const release = (instrument: Instrument, atFrame: number, keep: number): NoteEvent => ({
  instrument,
  startFrame: atFrame,
  durationFrames: 0,
  midi: 0,
  velocity: 0,
  kind: 'release',
  keepPitchClasses: keep,
});

test('a release event ends the held notes outside the kept pitch classes, with their own release, click-free', () => {
  const start = Math.round(0.1 * SR);
  const at = Math.round(4 * SR) + 17;
  const cMajor = new Scale(0, 'ionian').pitchClassMask;
  const events: NoteEvent[] = [
    // Held for 20 s: C E F# on the pad, A and C# on the drone, D and G# on the keys.
    ...[60, 64, 66].map((m) => note('pad', start, 20, m)),
    ...[33, 37].map((m) => note('drone', start, 20, m)),
    ...[74, 68].map((m) => note('keys', start, 20, m)),
    // At 4 s: C major stays on the pad and the drone, everything on the keys ends; texture and
    // percussion releases change nothing. A note starting on the release's frame (after it) stays.
    release('pad', at, cMajor),
    release('drone', at, cMajor),
    release('keys', at, 0),
    release('texture', at, 0),
    release('perc', at, 0),
    note('pad', at, 20, 54),
  ];
  for (const timbre of [DRY_TIMBRE, DEFAULT_TIMBRE]) {
    const probes = new Map<number, Record<string, [number, number]>>();
    const probe = (synth: Synth): Record<string, [number, number]> => {
      const r: Record<string, [number, number]> = {};
      for (const inst of SUSTAINED)
        r[inst] = [synth.pitchClasses(inst, at, true), synth.pitchClasses(inst, at, false)];
      return r;
    };
    const { left, right, synth } = renderScore({
      events,
      seconds: 12,
      timbre,
      before: (s, pos) => probes.set(pos, probe(s)),
    });
    const before = probes.get(3.9 * SR)!;
    const justAfter = probes.get(at - 17 + CHUNK)!;
    const released = probes.get(at - 17 + 5.4 * SR)!;
    // Held before the release (the precondition) ...
    assert.deepEqual(before, {
      pad: [maskOf(60, 64, 66), maskOf(60, 64, 66)],
      drone: [maskOf(33, 37), maskOf(33, 37)],
      keys: [maskOf(74, 68), maskOf(74, 68)],
    });
    // ... released right after it (still sounding: the release envelope) ...
    assert.deepEqual(justAfter, {
      pad: [maskOf(60, 64), maskOf(60, 64, 66)],
      drone: [maskOf(33), maskOf(33, 37)],
      keys: [0, maskOf(74, 68)],
    });
    // ... and silent once the release has run its 60 dB; the kept notes still held.
    assert.deepEqual(released, {
      pad: [maskOf(60, 64), maskOf(60, 64)],
      drone: [maskOf(33), maskOf(33)],
      keys: [0, 0],
    });
    assert.equal(
      synth.pitchClasses('pad', Infinity, true),
      maskOf(60, 64, 54),
      'the note on the release frame stays',
    );
    assert.equal(synth.droppedEvents, 0);
    assert.ok(rms(left.subarray(at, at + SR)) > 1e-3, 'sound goes on after the release');
    assert.deepEqual(detectClicks(left, { sampleRate: SR }), []);
    assert.deepEqual(detectClicks(right, { sampleRate: SR }), []);
  }
});

test('a malformed release event is dropped and counted, nothing else happens', () => {
  const synth = new Synth({ sampleRate: SR, seed: 1, timbre: DRY_TIMBRE, bpm: 70 });
  for (const keep of [-1, 0x1000, 1.5, Number.NaN]) synth.schedule(release('pad', 100, keep));
  synth.schedule({ ...release('pad', 100, 0), startFrame: Number.NaN });
  synth.schedule({ ...release('pad', 100, 0), instrument: 'organ' as Instrument });
  assert.equal(synth.droppedEvents, 6);
  assert.equal(synth.pendingEvents, 0);
});

for (const preset of PRESETS.map((p) => p.name)) {
  test(`${preset}: after ${CHANGES} key and mode changes no note outside the new scale sounds on`, (t) => {
    const seed = 0x5eed + preset.length;
    let params: MusicParams = presetParams(preset);
    const composer = new Composer({ seed, params, sampleRate: SR });
    const synth = new Synth({ sampleRate: SR, seed, timbre: timbreFor(preset), bpm: params.bpm });
    const rng = new Rng(seed);
    const notes: NoteEvent[] = [];
    let releases = 0;
    const changes: Change[] = [];
    const problems: string[] = [];
    let keptRinging = 0;
    const loud = new LoudnessMeter(SR);
    const clicksL = new ClickDetector({ sampleRate: SR });
    const clicksR = new ClickDetector({ sampleRate: SR });
    let nonFinite = 0;
    const L = new Float32Array(CHUNK);
    const R = new Float32Array(CHUNK);
    let askAt = Math.round(20 * SR);
    let pos = 0;
    const sink = (e: NoteEvent): void => {
      if (e.kind === 'release') releases++;
      else if (SUSTAINED.includes(e.instrument)) notes.push({ ...e });
      synth.schedule(e);
    };
    while (changes.length < CHANGES || pos < changes[CHANGES - 1]!.at + RELEASED_CHECK_FRAMES + CHUNK) {
      if (changes.length < CHANGES && pos >= askAt) {
        let key = params.key;
        let mode = params.mode;
        while (key === params.key && mode === params.mode) {
          // Half the changes move the key, a quarter the mode, a quarter both.
          const r = rng.next();
          if (r < 0.75) key = rng.pick(PITCH_CLASSES);
          if (r >= 0.5) mode = rng.pick(MODES);
        }
        params = { ...params, key, mode };
        const at = composer.schedule(params, pos);
        const mask = new Scale(PITCH_CLASSES.indexOf(key), mode).pitchClassMask;
        changes.push({ at, mask, heldChecked: false, releasedChecked: false });
        // The next change after this one's release has run out (and a little more, at random).
        askAt = at + RELEASED_CHECK_FRAMES + Math.round(rng.range(0, 3) * SR);
      }
      composer.generate(pos + CHUNK, sink);
      synth.process(L, R, pos, CHUNK);
      pos += CHUNK;
      nonFinite += countNonFinite(L) + countNonFinite(R);
      loud.push(L, R);
      clicksL.push(L);
      clicksR.push(R);
      // Checks at the first chunk boundary past each check point (the synth is there now).
      for (const c of changes) {
        if (!c.heldChecked && pos >= c.at + HELD_CHECK_FRAMES) {
          c.heldChecked = true;
          let kept = 0;
          for (const inst of SUSTAINED) {
            const held = synth.pitchClasses(inst, c.at, true);
            kept |= held;
            if (held & ~c.mask)
              problems.push(
                `${inst} holds ${pcs(held & ~c.mask)} at ${(pos / SR).toFixed(2)} s, after the change at ${(c.at / SR).toFixed(2)} s to ${pcs(c.mask)}`,
              );
          }
          if (kept !== 0) keptRinging++;
        }
        if (!c.releasedChecked && pos >= c.at + RELEASED_CHECK_FRAMES) {
          c.releasedChecked = true;
          for (const inst of SUSTAINED) {
            const sounding = synth.pitchClasses(inst, c.at, false);
            if (sounding & ~c.mask)
              problems.push(
                `${inst} still sounds ${pcs(sounding & ~c.mask)} at ${(pos / SR).toFixed(2)} s, after the change at ${(c.at / SR).toFixed(2)} s`,
              );
          }
        }
      }
    }
    clicksL.finish();
    clicksR.finish();

    // The precondition: notes handed out before a change, outside the new scale, that were meant
    // to be held past the check points (how the score was before releases existed).
    const outside = (c: Change, until: number): boolean =>
      notes.some(
        (n) =>
          n.startFrame < c.at &&
          n.startFrame + n.durationFrames > until &&
          ((c.mask >> pitchClassOf(n.midi)) & 1) === 0,
      );
    const heldPast = changes.filter((c) => outside(c, c.at + HELD_CHECK_FRAMES)).length;
    const ringPast = changes.filter((c) => outside(c, c.at + RELEASED_CHECK_FRAMES)).length;
    assert.ok(changes.every((c) => c.heldChecked && c.releasedChecked));
    assert.ok(heldPast >= CHANGES / 2, `only ${heldPast} changes had out-of-scale notes held over them`);
    assert.ok(ringPast >= 1, 'no change had out-of-scale notes meant to ring 5 s past it');
    assert.deepEqual(problems, []);
    assert.equal(releases, SUSTAINED.length * CHANGES, 'one release per sustained instrument and change');
    // Notes that fit the new scale ring on: most changes keep something held across.
    assert.ok(keptRinging >= CHANGES / 2, `in-scale notes rang on over only ${keptRinging} changes`);

    assert.equal(nonFinite, 0);
    const at = (c: { frame: number }): string => `${(c.frame / SR).toFixed(3)} s`;
    assert.equal(clicksL.totalClicks, 0, `clicks (left) at ${clicksL.clicks.map(at).join(', ')}`);
    assert.equal(clicksR.totalClicks, 0, `clicks (right) at ${clicksR.clicks.map(at).join(', ')}`);
    const lufs = loud.integratedLufs();
    assert.ok(
      lufs >= LOUDNESS_WINDOW_LUFS.min && lufs <= LOUDNESS_WINDOW_LUFS.max,
      `integrated loudness ${lufs.toFixed(1)} LUFS`,
    );
    t.diagnostic(
      `${preset}: ${changes.length} changes over ${(pos / SR).toFixed(0)} s; out-of-scale notes held over ${heldPast}, ` +
        `meant to ring 5 s past ${ringPast}; in-scale notes rang on over ${keptRinging}`,
    );
  });
}
