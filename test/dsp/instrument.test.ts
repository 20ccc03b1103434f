import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DSP_DEFAULTS } from '../../src/dsp/config.ts';
import { instrumentIndex, type Instrument } from '../../src/dsp/instrument.ts';
import { DroneInstrument } from '../../src/dsp/instruments/drone.ts';
import { KeysInstrument } from '../../src/dsp/instruments/keys.ts';
import { PadInstrument } from '../../src/dsp/instruments/pad.ts';
import { PercInstrument } from '../../src/dsp/instruments/perc.ts';
import { TextureInstrument } from '../../src/dsp/instruments/texture.ts';
import { TimbreGlide } from '../../src/dsp/timbre-glide.ts';
import { DEFAULT_TIMBRE } from '../../src/music/presets.ts';
import { Rng } from '../../src/music/rng.ts';
import { INSTRUMENTS, PERC_KICK } from '../../src/music/types.ts';

const SR = 48_000;
const C = DSP_DEFAULTS.controlFrames;

/** Each instrument, built as the synth builds it, with a note it plays (midi) and its name. */
const FACTORIES: { name: (typeof INSTRUMENTS)[number]; midi: number; make: () => Instrument }[] = [
  { name: 'pad', midi: 57, make: () => new PadInstrument(SR, C, new Rng(1)) },
  { name: 'keys', midi: 69, make: () => new KeysInstrument(SR) },
  { name: 'drone', midi: 45, make: () => new DroneInstrument(SR, C, new Rng(3)) },
  { name: 'texture', midi: 81, make: () => new TextureInstrument(SR, C, new Rng(4)) },
  { name: 'perc', midi: PERC_KICK, make: () => new PercInstrument(SR, new Rng(5)) },
];

/**
 * Runs `periods` control periods from absolute frame `from`: control, then render in two pieces
 * (as the synth splits a period at a note start), into buses that start at `fill`. Returns the
 * energy added, the largest |sample| added, whether busR was touched and whether any render said
 * it sounded.
 */
function run(
  inst: Instrument,
  timbre: TimbreGlide,
  from: number,
  periods: number,
  fill = 0.25,
): { energy: number; peak: number; rightTouched: boolean; sounded: boolean; finite: boolean } {
  const busL = new Float64Array(C);
  const busR = new Float64Array(C);
  let energy = 0;
  let peak = 0;
  let rightTouched = false;
  let sounded = false;
  let finite = true;
  for (let p = 0; p < periods; p++) {
    inst.control(from + p * C, C, timbre);
    busL.fill(fill);
    busR.fill(fill);
    const first = 100;
    const a = inst.render(busL, busR, first);
    const b = inst.render(busL.subarray(first), busR.subarray(first), C - first);
    sounded ||= a || b;
    for (let i = 0; i < C; i++) {
      const dl = busL[i]! - fill;
      const dr = busR[i]! - fill;
      if (!Number.isFinite(dl) || !Number.isFinite(dr)) finite = false;
      if (dr !== 0) rightTouched = true;
      energy += dl * dl + (inst.stereo ? dr * dr : 0);
      peak = Math.max(peak, Math.abs(dl), inst.stereo ? Math.abs(dr) : 0);
    }
  }
  return { energy, peak, rightTouched, sounded, finite };
}

test('instrumentIndex follows INSTRUMENTS and refuses anything else', () => {
  INSTRUMENTS.forEach((name, i) => assert.equal(instrumentIndex(name), i));
  for (const bad of ['PAD', 'piano', '', undefined, 3]) assert.equal(instrumentIndex(bad), -1);
});

for (const { name, midi, make } of FACTORIES) {
  test(`${name}: silent until a note, adds (never overwrites) a finite note, then falls silent again`, () => {
    const timbre = new TimbreGlide(DEFAULT_TIMBRE, SR / C, DSP_DEFAULTS.timbreGlideSeconds);
    const inst = make();
    // Before any note: render says silent and leaves the buses exactly as they were.
    const before = run(inst, timbre, 0, 8);
    assert.equal(before.sounded, false);
    assert.equal(before.energy, 0);
    assert.equal(before.rightTouched, false);

    // A note of 1 s starting on a tick, as the synth calls it (framesToTick = one period).
    const start = 8 * C;
    inst.noteOn(midi, 0.8, start, SR, C, timbre);
    // Its first period's plan came with noteOn; render it, then control from the next tick on.
    const busL = new Float64Array(C).fill(0.25);
    const busR = new Float64Array(C).fill(0.25);
    assert.equal(inst.render(busL, busR, C), true, 'sounds once a note started');
    // Long attacks (pad 1.2–3 s, drone 4 s) need time: 3 s of the note and its release.
    const playing = run(inst, timbre, start + C, Math.round((3 * SR) / C));
    assert.equal(playing.sounded, true);
    assert.ok(playing.finite, 'finite samples');
    assert.ok(playing.energy > 0 && playing.peak > 1e-3, `audible: peak ${playing.peak}`);
    assert.ok(playing.peak < 1, `a single voice stays below full scale: peak ${playing.peak}`);
    assert.equal(
      playing.rightTouched,
      inst.stereo,
      inst.stereo ? 'stereo: adds to both buses' : 'mono: busL only',
    );
    assert.equal(inst.droppedNotes, 0);
    // It adds: a twin playing the same note into empty buses adds the same samples (to rounding)
    // as this one added on top of 0.25.
    const twin = make();
    run(twin, timbre, 0, 8, 0);
    twin.noteOn(midi, 0.8, start, SR, C, timbre);
    twin.render(new Float64Array(C), new Float64Array(C), C);
    const twinPlaying = run(twin, timbre, start + C, Math.round((3 * SR) / C), 0);
    assert.ok(
      Math.abs(twinPlaying.energy - playing.energy) <= 1e-9 * playing.energy,
      `same energy over empty buses: ${twinPlaying.energy} vs ${playing.energy}`,
    );

    // Released at 1 s (one-shot percussion decays by itself): after 12 s more every voice is
    // free again, and render is silent and adds nothing.
    const later = start + C + Math.round((3 * SR) / C) * C;
    run(inst, timbre, later, Math.round((12 * SR) / C));
    const after = run(inst, timbre, later + Math.round((12 * SR) / C) * C, 4);
    assert.equal(after.sounded, false, 'every voice freed after its release');
    assert.equal(after.energy, 0);
  });
}

test('a full pool steals instead of dropping, and drops only when every slot is busy fading', () => {
  const timbre = new TimbreGlide(DEFAULT_TIMBRE, SR / C, DSP_DEFAULTS.timbreGlideSeconds);
  const keys = new KeysInstrument(SR);
  const max = DSP_DEFAULTS.maxVoices.keys;
  // max notes sound; each of the next `spareVoices` takes a spare slot and steals one (which
  // fades); with every slot taken, the last two are dropped rather than cut a voice short.
  for (let i = 0; i < max + DSP_DEFAULTS.spareVoices + 2; i++) keys.noteOn(60 + i, 0.7, i, SR, C, timbre);
  assert.equal(keys.voiceSteals, DSP_DEFAULTS.spareVoices);
  assert.equal(keys.droppedNotes, 2);
});
