import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ClickDetector, detectClicks, peakAbs, rms } from '../../src/dsp/analysis/index.ts';
import { DEFAULT_TIMBRE, PRESETS } from '../../src/music/presets.ts';
import type { Instrument, NoteEvent } from '../../src/music/types.ts';
import { PERC_BRUSH, PERC_CLICK, PERC_KICK, PERC_SHAKER } from '../../src/music/types.ts';
import type { Synth } from '../../src/dsp/synth.ts';
import { DRY_TIMBRE, renderScore, SR } from './render.ts';

function clicksIn(left: Float32Array, right: Float32Array): string[] {
  const found: string[] = [];
  for (const [name, x] of [
    ['L', left],
    ['R', right],
  ] as const) {
    const d = new ClickDetector({ sampleRate: SR });
    d.push(x);
    d.finish();
    for (const c of d.clicks)
      found.push(`${name} ${(c.frame / SR).toFixed(4)} s ratio ${c.ratio.toFixed(1)}`);
  }
  return found;
}

function note(
  instrument: Instrument,
  atSeconds: number,
  seconds: number,
  midi: number,
  velocity = 0.8,
): NoteEvent {
  return {
    instrument,
    startFrame: Math.round(atSeconds * SR),
    durationFrames: Math.round(seconds * SR),
    midi,
    velocity,
  };
}

test('note starts and ends of every instrument are click-free, dry and with effects', () => {
  const events: NoteEvent[] = [];
  // Each instrument alone in its own stretch, notes at odd frame offsets, short and long.
  let t = 0.1;
  for (const [inst, midis] of [
    ['keys', [60, 67, 72, 84, 96]],
    ['pad', [45, 57, 64, 71]],
    ['drone', [33, 40]],
    ['texture', [84, 96]],
    ['perc', [PERC_KICK, PERC_CLICK, PERC_SHAKER, PERC_BRUSH, 50]],
  ] as const) {
    for (const m of midis) {
      events.push({ ...note(inst, t, 0.4, m), startFrame: Math.round(t * SR) + 17 });
      events.push(note(inst, t + 0.9, 2.5, m, 1));
      t += 1.3;
    }
    t += 6; // let releases finish
  }
  for (const timbre of [DRY_TIMBRE, DEFAULT_TIMBRE]) {
    const { left, right, synth } = renderScore({ events, seconds: t + 4, timbre });
    assert.ok(rms(left) > 1e-3, 'the score made sound');
    assert.deepEqual(clicksIn(left, right), []);
    assert.equal(synth.droppedNotes, 0);
  }
});

test('voice steals under heavy overlap fade out without clicks', () => {
  const events: NoteEvent[] = [];
  // 48 pad notes in 3 s and 60 keys notes in 2 s against pools of 8: dozens of steals.
  for (let i = 0; i < 48; i++) events.push(note('pad', 0.2 + i * 0.0625, 4, 48 + ((i * 7) % 24), 0.9));
  for (let i = 0; i < 60; i++) events.push(note('keys', 4 + i * 0.033, 1.5, 60 + ((i * 5) % 24), 1));
  for (let i = 0; i < 30; i++)
    events.push(note('perc', 7 + i * 0.05, 0.1, [PERC_KICK, PERC_SHAKER][i % 2]!, 1));
  const { left, right, synth } = renderScore({ events, seconds: 12, timbre: DRY_TIMBRE });
  assert.ok(synth.voiceSteals >= 40, `only ${synth.voiceSteals} steals: the test did not force stealing`);
  assert.deepEqual(clicksIn(left, right), []);
  assert.ok(peakAbs(left) <= 1 && peakAbs(right) <= 1);
});

test('timbre and tempo changes mid-stream glide without clicks', () => {
  const events: NoteEvent[] = [];
  for (let s = 0; s < 24; s += 4) {
    for (const m of [45, 52, 57, 60, 64]) events.push(note('pad', s, 4.5, m, 0.7));
    events.push(note('drone', s, 4.5, 33, 0.7));
    for (let k = 0; k < 8; k++) events.push(note('keys', s + k * 0.5 + 0.01, 0.4, 64 + ((k * 3) % 12), 0.8));
  }
  const changeList: [number, (s: Synth) => void][] = [
    [Math.round(3 * SR), (s) => s.setTimbre(PRESETS.find((p) => p.name === 'bright')!.timbre)],
    [Math.round(6 * SR), (s) => s.setBpm(120)],
    [Math.round(9 * SR), (s) => s.setTimbre(PRESETS.find((p) => p.name === 'sleep')!.timbre)],
    [Math.round(12 * SR), (s) => s.setBpm(40)],
    [
      Math.round(15 * SR),
      (s) => s.setTimbre({ ...DEFAULT_TIMBRE, padLevel: 0, keysLevel: 1, reverbMix: 0.8 }),
    ],
    [Math.round(18 * SR), (s) => s.setTimbre(DEFAULT_TIMBRE)],
  ];
  /** Renders with the first `applied` changes; returns the output and the positions where they fired. */
  const render = (applied: number, seconds: number) => {
    const changes = new Map(changeList.slice(0, applied));
    const fired: number[] = [];
    // 480-frame chunks so every change lands where asked.
    const out = renderScore({
      events,
      seconds,
      chunkFrames: 480,
      before: (synth, pos) => {
        const change = changes.get(pos);
        if (change) {
          change(synth);
          fired.push(pos);
        }
      },
    });
    return { ...out, fired };
  };
  const { left, right, fired } = render(changeList.length, 24);
  // Every change fired, once, at its position ...
  assert.deepEqual(
    fired,
    changeList.map(([pos]) => pos),
  );
  // ... and was heard: with change k left out, the output is the same up to change k's position
  // and differs within the second after it.
  for (let k = 0; k < changeList.length; k++) {
    const at = changeList[k]![0];
    const without = render(k, at / SR + 1);
    const same = maxAbsDiff(left, without.left, 0, at);
    const after = rmsDiff(left, without.left, at, at + SR);
    assert.equal(same, 0, `before change ${k} the renders are identical`);
    assert.ok(after > 1e-4, `change ${k} at ${at / SR} s is audible: rms difference ${after}`);
  }
  assert.deepEqual(clicksIn(left, right), []);
});

function maxAbsDiff(a: Float32Array, b: Float32Array, from: number, to: number): number {
  let m = 0;
  for (let i = from; i < to; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}

function rmsDiff(a: Float32Array, b: Float32Array, from: number, to: number): number {
  let sum = 0;
  for (let i = from; i < to; i++) sum += (a[i]! - b[i]!) ** 2;
  return Math.sqrt(sum / (to - from));
}

test('the click detector used above does catch a real click in synth output (the tests can fail)', () => {
  const { left } = renderScore({ events: [note('pad', 0, 3, 57, 0.8)], seconds: 3, timbre: DRY_TIMBRE });
  assert.equal(detectClicks(left, { sampleRate: SR }).length, 0);
  // Cut the output dead for a moment, as a voice stolen without a fade would.
  for (let i = 2 * SR; i < 2 * SR + 200; i++) left[i] = 0;
  assert.ok(detectClicks(left, { sampleRate: SR }).length >= 1);
});
