import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { readFrameHeader } from '../../src/codec/frame-header.ts';
import { ChunkRing, WS_PREFIX_BYTES } from '../../src/engine/ring.ts';
import { StationRenderer } from '../../src/engine/station-renderer.ts';
import { WAKE_WARMUP_MS, WorkerStation } from '../../src/engine/worker-station.ts';
import { applyPatch, DEFAULT_PARAMS } from '../../src/music/params.ts';
import { pitchClassIndex, Scale } from '../../src/music/theory.ts';
import { pitchClassOf, type NoteEvent } from '../../src/music/types.ts';

const SR = 48_000;
const CHUNK = 4800;
const LEAD_MS = 150;
const START_MONO_MS = 1_000_000;

type Ev = [string, string, number, number, number, number, number];
const copy = (out: Ev[]) => (e: NoteEvent) =>
  out.push([
    e.kind ?? 'note',
    e.instrument,
    e.startFrame,
    e.durationFrames,
    e.midi,
    e.velocity,
    e.keepPitchClasses ?? 0,
  ]);

function rms(l: Float32Array, r: Float32Array): number {
  let s = 0;
  for (let i = 0; i < l.length; i++) s += l[i]! * l[i]! + r[i]! * r[i]!;
  return Math.sqrt(s / (2 * l.length));
}

/**
 * A renderer that runs all along, and one that sleeps from `sleepAt` to `wakeAt` (composing once a
 * second meanwhile, as an idle worker does) and gets the same parameter change while asleep, at
 * the same position: the note events must be identical, and the audio after the warm-up audible.
 */
function compare(opts: { sleepAt: number; wakeAt: number; changeAt: number; until: number; warmup: number }) {
  const seed = 11;
  const params = { ...DEFAULT_PARAMS };
  const change = applyPatch(params, { bpm: 84, mode: 'lydian', intensity: 0.8 });
  const evA: Ev[] = [];
  const evB: Ev[] = [];
  const a = new StationRenderer({ seed, params, onEvent: copy(evA) });
  const b = new StationRenderer({ seed, params, onEvent: copy(evB) });
  const l = new Float32Array(CHUNK);
  const r = new Float32Array(CHUNK);
  let effA = -1;
  let effB = -1;
  const rmsA: number[] = [];
  for (let pos = 0; pos < opts.until; pos += CHUNK) {
    if (pos === opts.changeAt) effA = a.change(change);
    a.render(l, r, CHUNK);
    if (pos >= opts.wakeAt) rmsA.push(rms(l, r));
  }
  for (let pos = 0; pos < opts.sleepAt; pos += CHUNK) b.render(l, r, CHUNK);
  b.sleep();
  for (let pos = opts.sleepAt; pos < opts.wakeAt; pos += SR) {
    if (pos <= opts.changeAt && opts.changeAt < pos + SR) {
      b.skipTo(opts.changeAt);
      effB = b.change(change);
    }
    b.skipTo(pos);
  }
  const warm = b.wake(opts.wakeAt, opts.warmup);
  assert.equal(warm, opts.warmup, 'the warm-up starts where asked');
  for (let f = 0; f < warm; f += CHUNK) b.render(l, r, CHUNK);
  assert.equal(b.positionFrames, opts.wakeAt);
  const rmsB: number[] = [];
  for (let pos = opts.wakeAt; pos < opts.until; pos += CHUNK) {
    b.render(l, r, CHUNK);
    rmsB.push(rms(l, r));
  }
  return { evA, evB, effA, effB, rmsA, rmsB };
}

describe('lazy stations: the score after a sleep', () => {
  it('a station that slept and woke plays exactly the notes of one that never slept, parameter change included', () => {
    const warmup = (WAKE_WARMUP_MS * SR) / 1000;
    const res = compare({ sleepAt: 10 * SR, wakeAt: 40 * SR, changeAt: 25 * SR, until: 55 * SR, warmup });
    assert.ok(res.effA > 25 * SR, 'the change took effect after it was asked for');
    assert.equal(res.effB, res.effA, 'same effective position asleep and awake');
    assert.ok(res.evA.length > 50, `enough notes to compare (${res.evA.length})`);
    // The mode change releases the pad, drone and keys notes that leave the scale: events too.
    const releases = res.evA.filter((e) => e[0] === 'release');
    assert.deepEqual(
      releases.map((e) => [e[1], e[2]]),
      ['pad', 'drone', 'keys'].map((i) => [i, res.effA]),
    );
    assert.deepEqual(res.evB, res.evA);
    // Audio from the wake position on: not silent, and as loud as the continuous station's (the
    // warm-up settled attacks and reverb); samples differ (a fresh synth), the score does not.
    const loud = (x: number[]) => x.slice(0, 10).reduce((s, v) => s + v, 0) / 10;
    assert.ok(loud(res.rmsB) > 0.005, `audible after the warm-up (rms ${loud(res.rmsB)})`);
    assert.ok(loud(res.rmsB) > 0.6 * loud(res.rmsA), `rms ${loud(res.rmsB)} vs ${loud(res.rmsA)}`);
  });

  it('a station woken just after a key change it slept through holds the notes of one that never slept', () => {
    const seed = 11;
    const params = { ...DEFAULT_PARAMS };
    const change = applyPatch(params, { key: 'F#', mode: 'phrygian' });
    const mask = new Scale(pitchClassIndex('F#'), 'phrygian').pitchClassMask;
    const changeAt = 20 * SR;
    const warmup = (WAKE_WARMUP_MS * SR) / 1000;
    const notes: NoteEvent[] = [];
    const a = new StationRenderer({ seed, params });
    const b = new StationRenderer({ seed, params, onEvent: (e) => notes.push({ ...e }) });
    const l = new Float32Array(CHUNK);
    const r = new Float32Array(CHUNK);
    let effA = -1;
    for (let pos = 0; pos < changeAt; pos += CHUNK) b.render(l, r, CHUNK);
    b.sleep();
    const effB = b.change(change);
    // Wake so that the warm-up starts half a second after the change: within the released notes' release.
    const wakeAt = Math.ceil((effB + SR / 2 + warmup) / CHUNK) * CHUNK;
    b.skipTo(wakeAt - warmup - CHUNK);
    assert.equal(b.wake(wakeAt, warmup), warmup);
    b.render(l, r, CHUNK);
    for (let pos = 0; pos < b.positionFrames; pos += CHUNK) {
      if (pos === changeAt) effA = a.change(change);
      a.render(l, r, CHUNK);
    }
    assert.equal(effA, effB);
    assert.equal(a.positionFrames, b.positionFrames);
    const warmStart = wakeAt - warmup;
    // The precondition: pad or drone notes from before the change, outside the new scale, were
    // meant to be held past the warm-up's start.
    const outside = notes.filter(
      (n) =>
        (n.instrument === 'pad' || n.instrument === 'drone') &&
        n.kind !== 'release' &&
        n.startFrame < effB &&
        n.startFrame + n.durationFrames > warmStart + CHUNK &&
        ((mask >> pitchClassOf(n.midi)) & 1) === 0,
    );
    assert.ok(outside.length >= 1, 'out-of-scale notes were meant to ring past the warm-up start');
    for (const inst of ['pad', 'drone'] as const) {
      const held = b.pitchClasses(inst, Infinity, true);
      assert.ok(held !== 0, `${inst} holds notes after the wake-up`);
      assert.equal(held & ~mask, 0, `${inst} holds pitch classes outside the new scale`);
      assert.equal(
        held,
        a.pitchClasses(inst, Infinity, true),
        `${inst}: the same pitch classes as the station that never slept`,
      );
    }
  });

  it('render() refuses to run asleep and skipTo() refuses to run awake', () => {
    const r = new StationRenderer({ seed: 1, params: { ...DEFAULT_PARAMS } });
    assert.throws(() => r.skipTo(CHUNK), /while rendering/);
    r.sleep();
    assert.throws(() => r.render(new Float32Array(CHUNK), new Float32Array(CHUNK), CHUNK), /asleep/);
  });
});

function workerStation(live: boolean): { st: WorkerStation; ring: ChunkRing } {
  const ring = ChunkRing.create(40, CHUNK, 128_000);
  const st = new WorkerStation({
    type: 'add',
    id: 'lazy',
    seed: 5,
    params: { ...DEFAULT_PARAMS },
    chunkFrames: CHUNK,
    startSeq: 0,
    startMonoMs: START_MONO_MS,
    wallOffsetMs: 1_790_000_000_000,
    ring: ring.sab,
    layout: ring.layout,
    discontinuity: false,
    opusBitrate: 96_000,
    opusComplexity: 5,
    mp3Bitrate: 128_000,
    wish: { mp3: false, tiers: 0, live },
  });
  return { st, ring };
}

describe('lazy stations: the engine worker side', () => {
  it('an idle station renders nothing, keeps its clock, and wakes up on the chunk due now', () => {
    const { st, ring } = workerStation(false);
    assert.equal(st.live, false);
    // 30 s of idle ticks, once a second: nothing published, the next chunk follows the clock.
    for (let s = 1; s <= 30; s++) st.idleTick(START_MONO_MS + s * 1000, LEAD_MS);
    assert.equal(ring.published(), 0, 'nothing rendered while idle');
    assert.equal(st.takeStats(START_MONO_MS + 30_000, LEAD_MS).synthSeconds.length, 0);
    const now = START_MONO_MS + 30_040;
    st.setWish({ mp3: false, tiers: 0, live: true }, now, LEAD_MS);
    assert.equal(st.live, true);
    const dueSeq = Math.floor((now + LEAD_MS - START_MONO_MS) / 100);
    assert.equal(st.nextSequence, dueSeq, 'wakes on the chunk due now');
    st.renderNext();
    st.renderNext();
    for (const seq of [dueSeq, dueSeq + 1]) {
      const h = readFrameHeader(ring.bytes.subarray(ring.opusRegion(seq) + WS_PREFIX_BYTES));
      assert.equal(h.sequence, seq);
      assert.equal(h.positionFrames, seq * CHUNK, 'position on the grid');
      assert.equal(h.playTimeMs, START_MONO_MS + 1_790_000_000_000 + seq * 100, 'play time on the clock');
      const page = Buffer.from(ring.sab, ring.oggPageStart(seq), ring.oggPageLength(seq));
      assert.equal(page.readUInt32LE(18), 2 + seq, 'Ogg page numbers follow the grid');
    }
    const stats = st.takeStats(now, LEAD_MS);
    assert.equal(stats.synthSeconds.length, 2);
    assert.ok(stats.wakeSeconds >= 0, 'the wake-up is timed');
    // Idle again: nothing more is rendered (what was rendered stays for a quick wake-up).
    st.setWish({ mp3: false, tiers: 0, live: false }, now + 200, LEAD_MS);
    assert.equal(st.live, false);
    for (let s = 1; s <= 5; s++) st.idleTick(now + 200 + s * 1000, LEAD_MS);
    assert.equal(ring.published(), dueSeq + 2);
    assert.equal(st.takeStats(now + 5200, LEAD_MS).synthSeconds.length, 0);
  });

  it('woken again before the chunks it rendered ahead are due, it goes on after them', () => {
    const { st, ring } = workerStation(true);
    const now = START_MONO_MS + 10_000;
    st.skipLate(now, LEAD_MS, 0);
    for (let i = 0; i < 4; i++) st.renderNext();
    const next = st.nextSequence;
    st.setWish({ mp3: false, tiers: 0, live: false }, now, LEAD_MS);
    st.setWish({ mp3: false, tiers: 0, live: true }, now + 100, LEAD_MS);
    assert.equal(st.nextSequence, next, 'the chunks in the ring are not rendered again');
    st.renderNext();
    assert.equal(ring.published(), next + 1);
    const h = readFrameHeader(ring.bytes.subarray(ring.opusRegion(next) + WS_PREFIX_BYTES));
    assert.equal(h.positionFrames, next * CHUNK);
    assert.equal(h.flags & 1, 0, 'the Opus stream goes on: no discontinuity');
  });

  it('a change made while idle is answered at once and heard from its effective position on', () => {
    const { st } = workerStation(false);
    st.idleTick(START_MONO_MS + 5000, LEAD_MS);
    const { effectiveAt, params } = st.change({ bpm: 100 }, START_MONO_MS + 5500, LEAD_MS);
    assert.equal(params.bpm, 100);
    const dueNow = Math.floor((5500 + LEAD_MS) / 100) * CHUNK;
    assert.ok(
      effectiveAt >= dueNow,
      `effective at ${effectiveAt}, at or after the chunk due now (${dueNow})`,
    );
    assert.ok(effectiveAt < dueNow + 2 * SR, 'within the next beats');
  });

  it('the warm-up is whole chunks', () => {
    assert.equal(((WAKE_WARMUP_MS * SR) / 1000) % CHUNK, 0);
  });
});
