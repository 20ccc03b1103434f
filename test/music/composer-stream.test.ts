import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Composer, EVENTS_PER_BEAT_MAX } from '../../src/music/composer.ts';
import { Rng } from '../../src/music/rng.ts';
import { PAD_UPPER_VOICES } from '../../src/music/voicing.ts';
import { DSP_DEFAULTS } from '../../src/dsp/config.ts';
import { INSTRUMENTS, type MusicParams, type NoteEvent } from '../../src/music/types.ts';
import { beatPosition, compose, params, SAMPLE_RATE } from './score.ts';

function serialize(events: NoteEvent[]): string {
  return events
    .map(
      (e) =>
        `${e.kind ?? 'note'} ${e.instrument}@${e.startFrame}+${e.durationFrames}:${e.midi}:${e.velocity}:${e.keepPitchClasses ?? 0}`,
    )
    .join('\n');
}

/**
 * Composes with chunk sizes from `nextChunk`, applying `changes` at given frames exactly as the
 * renderer does (between chunks), and checks the stream contract on the way.
 */
function run(
  seed: number,
  seconds: number,
  nextChunk: () => number,
  changes: { atFrame: number; params: MusicParams }[] = [],
): { events: NoteEvent[]; effective: number[] } {
  const c = new Composer({ seed, params: params(), sampleRate: SAMPLE_RATE });
  const events: NoteEvent[] = [];
  const effective: number[] = [];
  const end = seconds * SAMPLE_RATE;
  let pos = 0;
  let last = 0;
  const pending = [...changes];
  while (pos < end) {
    let next = Math.min(end, pos + nextChunk());
    if (pending.length > 0 && pending[0]!.atFrame < next && pending[0]!.atFrame >= pos)
      next = pending[0]!.atFrame;
    if (pending.length > 0 && pending[0]!.atFrame === pos)
      effective.push(c.schedule(pending.shift()!.params, pos));
    if (next === pos) continue;
    const horizon = pos;
    c.generate(next, (e) => {
      assert.ok(e.startFrame >= horizon, `event at ${e.startFrame} before the previous horizon ${horizon}`);
      assert.ok(e.startFrame < next, `event at ${e.startFrame} not before untilFrame ${next}`);
      assert.ok(e.startFrame >= last, 'events out of order');
      assert.ok(Number.isInteger(e.midi) && e.midi >= 0 && e.midi <= 127, `midi ${e.midi}`);
      if (e.kind === 'release') {
        // A release (at a key or mode change) keeps the new scale's seven pitch classes.
        const keep = e.keepPitchClasses ?? 0;
        assert.equal(e.durationFrames, 0);
        assert.ok(Number.isInteger(keep) && keep > 0 && keep <= 0xfff, `keep ${keep}`);
        let bits = 0;
        for (let pc = 0; pc < 12; pc++) bits += (keep >> pc) & 1;
        assert.equal(bits, 7, 'a seven-note scale');
      } else {
        assert.ok(
          e.velocity >= 0 && e.velocity <= 1 && e.durationFrames >= 1,
          `velocity ${e.velocity} duration ${e.durationFrames}`,
        );
      }
      last = e.startFrame;
      events.push({ ...e });
    });
    pos = next;
  }
  return { events, effective };
}

describe('Composer event stream', () => {
  it('is identical for the same seed and different across seeds', () => {
    const a = compose(5, params(), 600).events;
    const b = compose(5, params(), 600).events;
    const c = compose(6, params(), 600).events;
    assert.equal(serialize(a), serialize(b));
    const keysA = a.filter((e) => e.instrument === 'keys').map((e) => e.midi);
    const keysC = c.filter((e) => e.instrument === 'keys').map((e) => e.midi);
    const n = Math.min(keysA.length, keysC.length);
    const same = keysA.slice(0, n).filter((m, i) => m === keysC[i]).length;
    assert.notEqual(serialize(a), serialize(c));
    assert.ok(same / n < 0.5, `seeds 5 and 6 share ${same} of ${n} melody pitches in place`);
  });

  it('does not depend on how generate() is chunked, with parameter changes at the same frames', () => {
    const changes = [
      { atFrame: 48_000 * 60, params: params({ intensity: 0.9, bpm: 84 }) },
      { atFrame: 48_000 * 120, params: params({ intensity: 0.9, bpm: 84, key: 'C#', mode: 'lydian' }) },
      { atFrame: 48_000 * 150, params: params({ intensity: 0.2, bpm: 50, key: 'C#', mode: 'lydian' }) },
    ];
    const reference = serialize(run(11, 240, () => 4800, changes).events);
    const rng = new Rng(99);
    assert.equal(serialize(run(11, 240, () => 1 + rng.int(20_000), changes).events), reference);
    assert.equal(serialize(run(11, 240, () => 480, changes).events), reference);
    assert.equal(serialize(run(11, 240, () => 48_000 * 30, changes).events), reference);
    assert.ok(reference.split('\n').length > 300, `${reference.split('\n').length} events`);
    assert.equal(
      reference.split('\n').filter((l) => l.startsWith('release ')).length,
      3,
      'the key change released',
    );
  });

  it('holds per-frame chunking (generate called for every 7 frames) to the same stream', () => {
    const reference = serialize(run(3, 90, () => 4800).events);
    assert.equal(serialize(run(3, 90, () => 7).events), reference);
  });

  it('emits every instrument; pad segments of 2–3 bars crossfade by 1–2 beats, long chords move one voice', () => {
    const { events, chords } = compose(8, params({ intensity: 0.2 }), 900);
    for (const inst of ['pad', 'keys', 'drone', 'texture'] as const) {
      assert.ok(
        events.some((e) => e.instrument === inst),
        `no ${inst}`,
      );
    }
    const fpb = (60 * SAMPLE_RATE) / 70;
    const segments = new Map<number, NoteEvent[]>();
    for (const e of events)
      if (e.instrument === 'pad') segments.set(e.startFrame, [...(segments.get(e.startFrame) ?? []), e]);
    const starts = [...segments.keys()];
    for (const c of chords) assert.ok(segments.has(c.startFrame), 'every chord starts a pad segment');
    let revoiced = 0;
    for (let i = 0; i + 1 < starts.length; i++) {
      const pad = segments.get(starts[i]!)!;
      assert.equal(pad.length, 1 + PAD_UPPER_VOICES);
      const lengthBars = (starts[i + 1]! - starts[i]!) / fpb / 4;
      assert.ok(lengthBars >= 2 - 1e-4 && lengthBars <= 3 + 1e-4, `segment of ${lengthBars} bars`);
      for (const e of pad) {
        const overlapBeats = (e.startFrame + e.durationFrames - starts[i + 1]!) / fpb;
        assert.ok(overlapBeats >= 0.99 && overlapBeats <= 2.01, `overlap ${overlapBeats} beats`);
      }
      const next = segments.get(starts[i + 1]!)!;
      if (!chords.some((c) => c.startFrame === starts[i + 1]!)) {
        // Same chord, re-struck: exactly one voice moves.
        const a = pad.map((e) => e.midi).sort((x, y) => x - y);
        const b = next.map((e) => e.midi).sort((x, y) => x - y);
        const moved = a.filter((m) => !b.includes(m)).length;
        assert.ok(moved <= 1, `${moved} voices moved inside a chord`);
        revoiced += moved;
      }
      const chordStart = chords.find((c) => c.startFrame === starts[i]!);
      if (chordStart) {
        const drone = events.find((e) => e.instrument === 'drone' && e.startFrame === starts[i]!)!;
        assert.ok(drone.midi < Math.min(...pad.map((e) => e.midi)), 'the drone sits below the pad');
        assert.ok(drone.durationFrames >= 8 * fpb, 'drone notes last at least 2 bars');
      }
    }
    assert.ok(revoiced > 10, `${revoiced} re-voicings`);
  });
});

describe('Composer cost and bounds', () => {
  it('composes an hour of the densest score quickly, never filling a beat to its event bound', (t) => {
    const t0 = performance.now();
    const { events, chords } = compose(12, params({ bpm: 120, intensity: 1 }), 3600, 4800);
    const ms = performance.now() - t0;
    t.diagnostic(`1 h at 120 BPM, intensity 1: ${events.length} events in ${ms.toFixed(0)} ms`);
    assert.ok(ms < 10_000, `${ms} ms`);
    const perBeat = new Map<number, number>();
    for (const e of events) {
      const beat = Math.floor(beatPosition(e.startFrame, 120));
      perBeat.set(beat, (perBeat.get(beat) ?? 0) + 1);
    }
    assert.ok(Math.max(...perBeat.values()) < EVENTS_PER_BEAT_MAX);
    assert.equal(chords[0]!.chord.degree, 0, 'a station opens on the tonic');
  });
});

describe('Composer and the synth voice budget', () => {
  it("never holds more notes at once than the synth's voices per instrument", (t) => {
    for (const [bpm, intensity] of [
      [40, 0.1],
      [70, 0.5],
      [120, 1],
    ] as const) {
      const { events } = compose(5, params({ bpm, intensity }), 1800);
      const held: Record<string, number> = {};
      for (const inst of INSTRUMENTS) {
        const edges: [number, number][] = [];
        for (const e of events) {
          if (e.instrument !== inst) continue;
          edges.push([e.startFrame, 1], [e.startFrame + e.durationFrames, -1]);
        }
        edges.sort((a, b) => a[0] - b[0] || a[1] - b[1]);
        let now = 0;
        let most = 0;
        for (const [, d] of edges) most = Math.max(most, (now += d));
        held[inst] = most;
        assert.ok(
          most <= DSP_DEFAULTS.maxVoices[inst],
          `${inst}: ${most} held at ${bpm} BPM, intensity ${intensity}`,
        );
      }
      t.diagnostic(`${bpm} BPM, intensity ${intensity}: most held notes ${JSON.stringify(held)}`);
      // Two pad chords (the crossfade), a monophonic melody with its ringing last note, one band.
      assert.ok(held.pad! <= 2 * (1 + PAD_UPPER_VOICES) && held.keys! <= 2 && held.texture! <= 1);
    }
  });
});
