// A standby origin takes a station over on the same clock with its parameter history (see
// src/cluster/origin.ts): the engine, given the station's seed, the parameters it started with and
// its changes where they took effect, plays the same score from the chunk due now as the station it
// takes over. Here both run side by side in one engine and what sounds (chord, key, mode, section)
// is compared at the same positions.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { EngineHost, type NowEvent } from '../../src/engine/engine-host.ts';
import { DEFAULT_PARAMS } from '../../src/music/params.ts';
import { sleep } from '../server/helpers.ts';

test('a station resumed with its history plays the same score as the original', async () => {
  const host = new EngineHost({
    workers: 1,
    chunkFrames: 4800,
    ringSlots: 80,
    leadMs: 150,
    renderAheadMs: 400,
    opusBitrate: 96_000,
    opusComplexity: 5,
  });
  await host.start();
  const seen = new Map<string, NowEvent[]>([
    ['a', []],
    ['b', []],
  ]);
  host.on('now', (e: NowEvent) => seen.get(e.id)?.push(e));
  try {
    const a = await host.addStation('a', 7, { ...DEFAULT_PARAMS, bpm: 110 });
    await sleep(1000);
    const r1 = await host.change('a', { key: 'D', mode: 'dorian' });
    await sleep(1200);
    const r2 = await host.change('a', { bpm: 130, intensity: 0.8 });
    await sleep(1000);
    const b = await host.addStation(
      'b',
      7,
      { ...DEFAULT_PARAMS, bpm: 110 },
      {
        resume: { startMonoMs: a.startMonoMs, wallOffsetMs: a.wallOffsetMs, history: [r1, r2] },
      },
    );
    assert.deepEqual(b.params, r2.params, 'the host reports the parameters playing now');
    await sleep(8000);
    const fromA = seen.get('a')!;
    const fromB = seen.get('b')!;
    // What sounded on `a` at a position: its last report at or before it.
    const soundingOnA = (position: number): NowEvent | undefined =>
      fromA.filter((e) => e.position <= position).pop();
    assert.ok(fromB.length >= 2, `b reported ${fromB.length} changes of what sounds`);
    fromB.forEach((e, i) => {
      const other = soundingOnA(e.position)!;
      // After the first report (what sounds at the wake-up), every change falls where a's did.
      if (i > 0)
        assert.equal(other.position, e.position, `b changed at ${e.position}, a at ${other.position}`);
      assert.deepEqual(
        { chord: e.chord, key: e.key, mode: e.mode, section: e.section },
        { chord: other.chord, key: other.key, mode: other.mode, section: other.section },
        `position ${e.position}`,
      );
    });
    assert.equal(fromB[fromB.length - 1]!.key, 'D');
  } finally {
    await host.close();
  }
});
