import { test } from 'node:test';
import assert from 'node:assert/strict';
import v8 from 'node:v8';
import vm from 'node:vm';
import { PerformanceObserver } from 'node:perf_hooks';
import { countSubnormal, detectClicks, peakAbs, rms } from '../../src/dsp/analysis/index.ts';
import { DSP_DEFAULTS } from '../../src/dsp/config.ts';
import { Synth } from '../../src/dsp/synth.ts';
import { decodePcm16, encodePcm16 } from '../../src/codec/pcm16.ts';
import { StationRenderer } from '../../src/engine/station-renderer.ts';
import { applyPatch, DEFAULT_PARAMS } from '../../src/music/params.ts';
import { DEFAULT_TIMBRE } from '../../src/music/presets.ts';
import type { NoteEvent } from '../../src/music/types.ts';
import { DRY_TIMBRE, renderScore, renderStation, SR } from './render.ts';
import { testScore } from './score.ts';

function equalSamples(a: Float32Array, b: Float32Array): number {
  // Index of the first difference, or −1.
  for (let i = 0; i < a.length; i++)
    if (a[i] !== b[i] && !(Number.isNaN(a[i]) && Number.isNaN(b[i]))) return i;
  return a.length === b.length ? -1 : a.length;
}

test('the same seed gives identical samples; another seed gives different ones', () => {
  const events = testScore({ seconds: 20, bpm: 70, seed: 5 });
  const a = renderScore({ events, seconds: 20, seed: 9 });
  const b = renderScore({ events, seconds: 20, seed: 9 });
  const c = renderScore({ events, seconds: 20, seed: 10 });
  assert.equal(equalSamples(a.left, b.left), -1);
  assert.equal(equalSamples(a.right, b.right), -1);
  assert.notEqual(equalSamples(a.left, c.left), -1);
});

test('rendering in 128-, 4800- and 997-frame chunks gives identical samples', () => {
  const events = testScore({ seconds: 20, bpm: 66, seed: 3 });
  const changes = (synth: Synth, pos: number): void => {
    if (pos <= 8 * SR && 8 * SR < pos + 128) synth.setBpm(90);
  };
  const ref = renderScore({ events, seconds: 20, chunkFrames: 128, before: changes });
  for (const chunkFrames of [4800, 997]) {
    // The tempo change must land at the same frame for the comparison to be fair: only when
    // the 128-frame grid and this chunking both start a chunk there; 8 s is a multiple of both
    // 128 and 4800 frames, and for 997 we skip the change.
    const got = renderScore({
      events,
      seconds: 20,
      chunkFrames,
      before: chunkFrames === 4800 ? changes : undefined,
    });
    if (chunkFrames === 4800) {
      assert.equal(equalSamples(ref.left, got.left), -1, `left differs (${chunkFrames}-frame chunks)`);
      assert.equal(equalSamples(ref.right, got.right), -1, `right differs (${chunkFrames}-frame chunks)`);
    } else {
      const plain = renderScore({ events, seconds: 20, chunkFrames: 128 });
      assert.equal(equalSamples(plain.left, got.left), -1, `left differs (${chunkFrames}-frame chunks)`);
    }
  }
});

test('a station rendered through StationRenderer is deterministic and chunk-size invariant', () => {
  const collect = (chunkFrames: number): Float32Array => {
    const out = new Float32Array(15 * SR);
    renderStation({
      preset: 'focus',
      seconds: 15,
      seed: 4,
      chunkFrames,
      visit: (L, _R, pos) => out.set(L.subarray(0, Math.min(L.length, out.length - pos)), pos),
    });
    return out;
  };
  const a = collect(4800);
  assert.ok(rms(a) > 1e-3);
  assert.equal(equalSamples(a, collect(4800)), -1);
  assert.equal(equalSamples(a, collect(128)), -1);
});

test('renderPcm16 gives the bytes of render followed by encodePcm16, in any chunking', () => {
  // A preset change mid-way (timbre and tempo glides) and odd chunk sizes, down to one frame.
  const seconds = 12;
  const params = applyPatch(DEFAULT_PARAMS, { preset: 'bright' });
  const next = applyPatch(DEFAULT_PARAMS, { preset: 'sleep' });
  const viaFloats = new Uint8Array(seconds * SR * 4);
  const viaWords = new Uint32Array(seconds * SR);
  const a = new StationRenderer({ seed: 9, params });
  const b = new StationRenderer({ seed: 9, params });
  const L = new Float32Array(4800);
  const R = new Float32Array(4800);
  const sizes = [4800, 997, 128, 1, 3001];
  for (let pos = 0, k = 0; pos < seconds * SR; k++) {
    const n = Math.min(sizes[k % sizes.length]!, seconds * SR - pos);
    if (pos >= 5 * SR && pos - n < 5 * SR) {
      a.change(next);
      b.change(next);
    }
    a.render(L, R, n);
    encodePcm16(L, R, n, viaFloats, pos * 4);
    b.renderPcm16(viaWords, pos, n);
    pos += n;
  }
  const words = new Uint8Array(viaWords.buffer);
  assert.ok(rms(decodePcm16(viaFloats).l) > 1e-3, 'silent render: nothing compared');
  let firstDiff = -1;
  for (let i = 0; i < words.length && firstDiff < 0; i++) if (words[i] !== viaFloats[i]) firstDiff = i;
  assert.equal(firstDiff, -1, `first different byte at ${firstDiff}`);
});

test('note starts are sample-accurate: moving a note by k frames moves its onset by k frames', () => {
  const onset = (startFrame: number): number => {
    const { left } = renderScore({
      events: [{ instrument: 'keys', startFrame, durationFrames: SR, midi: 72, velocity: 1 }],
      seconds: 1,
      timbre: DRY_TIMBRE,
      chunkFrames: 480,
    });
    return left.findIndex((v) => Math.abs(v) > 1e-6);
  };
  const base = onset(1000);
  assert.ok(base >= 1000, `onset ${base} before the note`);
  for (const k of [1, 7, 100, 333]) assert.equal(onset(1000 + k) - base, k);
});

test('schedule() copies the event; late events start at once; a full queue drops and counts', () => {
  const synth = new Synth({ sampleRate: SR, seed: 1, timbre: DRY_TIMBRE, bpm: 70, pendingEventCapacity: 8 });
  const e: NoteEvent = {
    instrument: 'keys',
    startFrame: 4800,
    durationFrames: 4800,
    midi: 69,
    velocity: 0.9,
  };
  synth.schedule(e);
  e.velocity = 0; // the caller reuses its object; the synth must have copied the fields
  e.startFrame = 1e9;
  const L = new Float32Array(9600);
  const R = new Float32Array(9600);
  synth.process(L, R, 0, 9600);
  assert.ok(peakAbs(L, 4800, 9600) > 0.01, 'the note as scheduled did not sound');
  // An event whose start has passed plays from the next rendered frame.
  synth.schedule({ instrument: 'keys', startFrame: 100, durationFrames: 4800, midi: 76, velocity: 0.9 });
  synth.process(L, R, 9600, 9600);
  const before = rms(L, 0, 2000);
  assert.ok(before > 0.001);
  for (let i = 0; i < 20; i++) synth.schedule({ ...e, startFrame: 1e6 + i, velocity: 0.5 });
  assert.equal(synth.pendingEvents, 8);
  assert.equal(synth.droppedEvents, 12);
  synth.schedule({ ...e, instrument: 'kazoo' as NoteEvent['instrument'] });
  synth.schedule({ ...e, midi: Number.NaN });
  assert.equal(synth.droppedEvents, 14);
});

test('process() overwrites, fills any count, and keeps output finite for odd inputs', () => {
  const synth = new Synth({ sampleRate: SR, seed: 2, timbre: DEFAULT_TIMBRE, bpm: 70, maxBlockFrames: 64 });
  synth.schedule({ instrument: 'pad', startFrame: 0, durationFrames: SR, midi: 57, velocity: 1 });
  synth.schedule({ instrument: 'perc', startFrame: 10, durationFrames: 10, midi: 300, velocity: 5 });
  const L = new Float32Array(10_000).fill(7);
  const R = new Float32Array(10_000).fill(7);
  synth.process(L, R, 0, 10_000);
  assert.ok(peakAbs(L) < 1, 'stale buffer content leaked (process must overwrite)');
  synth.process(L, R, 10_000, 0);
  synth.process(L, R, 10_000, 1);
  // Garbage parameters are ignored rather than let into the audio path.
  synth.setTimbre({ ...DEFAULT_TIMBRE, brightness: Number.NaN, reverbDecaySeconds: Infinity });
  synth.setBpm(Number.NaN);
  synth.schedule({
    instrument: 'keys',
    startFrame: 10_001,
    durationFrames: Number.NaN,
    midi: 64,
    velocity: 1,
  });
  synth.process(L, R, 10_001, 10_000);
  assert.ok(L.every(Number.isFinite) && R.every(Number.isFinite));
  assert.ok(rms(L) > 1e-3, 'silent after odd parameters');
});

test('the limiter holds dense, loud material under the ceiling without clicks', () => {
  const events: NoteEvent[] = [];
  for (let i = 0; i < 200; i++) {
    events.push({
      instrument: 'keys',
      startFrame: i * 1200,
      durationFrames: 24_000,
      midi: 48 + (i % 30),
      velocity: 1,
    });
    if (i % 4 === 0)
      events.push({
        instrument: 'pad',
        startFrame: i * 1200,
        durationFrames: SR,
        midi: 40 + (i % 20),
        velocity: 1,
      });
    if (i % 3 === 0)
      events.push({ instrument: 'perc', startFrame: i * 1200, durationFrames: 10, midi: 36, velocity: 1 });
  }
  const loud = {
    ...DEFAULT_TIMBRE,
    padLevel: 1,
    keysLevel: 1,
    percLevel: 1,
    droneLevel: 1,
    reverbMix: 1,
    delayMix: 1,
  };
  const { left, right, synth } = renderScore({ events, seconds: 6, timbre: loud });
  const ceiling = Math.pow(10, DSP_DEFAULTS.limiterCeilingDb / 20);
  assert.ok(
    synth.minLimiterGain < 0.9,
    `the limiter never acted (min gain ${synth.minLimiterGain}): test too gentle`,
  );
  assert.ok(Math.max(peakAbs(left), peakAbs(right)) <= ceiling + 1e-6);
  assert.equal(detectClicks(left, { sampleRate: SR }).length, 0);
  assert.equal(detectClicks(right, { sampleRate: SR }).length, 0);
});

test('a timbre change glides over about two seconds instead of jumping', () => {
  const events: NoteEvent[] = [];
  for (const m of [45, 52, 57, 64])
    events.push({ instrument: 'pad', startFrame: 0, durationFrames: 20 * SR, midi: m, velocity: 0.8 });
  const quiet = { ...DRY_TIMBRE, padLevel: 0.1 };
  const { left } = renderScore({
    events,
    seconds: 12,
    timbre: DRY_TIMBRE,
    before: (s, pos) => {
      if (pos === 6 * SR) s.setTimbre(quiet);
    },
  });
  const level = (a: number, b: number): number => rms(left, Math.round(a * SR), Math.round(b * SR));
  const before = level(5, 6);
  const first = level(6, 6.1);
  const mid = level(6.9, 7.1);
  const after = level(10, 11);
  assert.ok(after < before * 0.2, `did not reach the new level (${before} → ${after})`);
  assert.ok(first > before * 0.75, 'jumped instead of gliding');
  assert.ok(mid < first && mid > after, 'not moving steadily towards the target');
});

test('no NaN and no denormal slow-down after a minute of silence', () => {
  const synth = new Synth({ sampleRate: SR, seed: 3, timbre: DEFAULT_TIMBRE, bpm: 70 });
  const events = testScore({ seconds: 20, bpm: 70, seed: 8 });
  const L = new Float32Array(4800);
  const R = new Float32Array(4800);
  let pos = 0;
  let e = 0;
  const run = (seconds: number): number => {
    const t0 = process.hrtime.bigint();
    for (const end = pos + seconds * SR; pos < end; pos += 4800) {
      while (e < events.length && events[e]!.startFrame < pos + 4800) synth.schedule(events[e++]!);
      synth.process(L, R, pos, 4800);
    }
    return Number(process.hrtime.bigint() - t0) / 1e6 / seconds;
  };
  run(5); // warm-up
  const active = Math.min(run(5), run(5));
  run(80); // the score ends at 20 s: the tails die, then a minute of silence
  assert.ok(L.every(Number.isFinite));
  assert.equal(countSubnormal(L) + countSubnormal(R), 0);
  const silent = Math.min(run(5), run(5));
  // Generous: silence should cost less than music; a denormal stall would cost 10–100×.
  assert.ok(silent < active * 1.5, `silence ${silent.toFixed(2)} ms/s vs music ${active.toFixed(2)} ms/s`);
});

test('process() does not allocate: heap stays flat over thousands of calls', () => {
  const synth = new Synth({ sampleRate: SR, seed: 4, timbre: DEFAULT_TIMBRE, bpm: 70 });
  const events = testScore({ seconds: 400, bpm: 70, seed: 2 });
  const L = new Float32Array(480);
  const R = new Float32Array(480);
  let pos = 0;
  let e = 0;
  const run = (blocks: number): void => {
    for (let b = 0; b < blocks; b++, pos += 480) {
      while (e < events.length && events[e]!.startFrame < pos + 480) synth.schedule(events[e++]!);
      synth.process(L, R, pos, 480);
    }
  };
  run(2000); // warm-up (JIT, first notes of every instrument)
  v8.setFlagsFromString('--expose-gc');
  const gc = vm.runInNewContext('gc') as () => void;
  gc();
  let collections = 0;
  const observer = new PerformanceObserver((list) => {
    collections += list.getEntries().length;
  });
  observer.observe({ entryTypes: ['gc'] });
  const before = process.memoryUsage().heapUsed;
  run(20_000); // 200 s of audio
  const allocatedGuess = process.memoryUsage().heapUsed - before;
  gc();
  const grown = process.memoryUsage().heapUsed - before;
  observer.disconnect();
  // Generous: retained garbage would grow by megabytes over 20,000 calls (48 bytes a call is 1 MB).
  assert.ok(grown < 256 * 1024, `heap grew by ${(grown / 1024).toFixed(0)} KB`);
  // And little is even allocated: a few KB per second of control-rate boxing at most, so the
  // young generation (≥ 1 MB) fills at most a few times, where per-sample garbage (the bug
  // this guards against, seen at 1.5 MB/s) would collect hundreds of times.
  assert.ok(collections <= 6, `${collections} collections, ${(allocatedGuess / 1024).toFixed(0)} KB net`);
});
