import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ArrivalStats, WARMUP_MS } from '../../client/src/audio/arrival-stats.ts';
import { mulberry32 } from './network-sim.ts';

const SR = 48_000;
const CHUNK = 4800;

describe('ArrivalStats (jitter from chunk positions)', () => {
  it('reports no jitter for chunks arriving exactly on their positions, whatever the fixed delay', () => {
    const s = new ArrivalStats();
    let j = -1;
    for (let k = 0; k < 100; k++) j = s.add(5000 + 37 + k * 100, k * CHUNK, SR);
    assert.ok(j < 0.001, `jitter ${j}`);
  });

  it('measures uniform 0–100 ms jitter as about its upper half (p98 above the median)', () => {
    const s = new ArrivalStats();
    const rnd = mulberry32(5);
    let j = 0;
    for (let k = 0; k < 90; k++) j = s.add(k * 100 + rnd() * 100, k * CHUNK, SR);
    assert.ok(j > 35 && j < 55, `jitter ${j}`);
  });

  it('reports the largest lateness in the window, which the p98 misses for a rare outage', () => {
    const s = new ArrivalStats();
    // 100 chunks on time, except a 300 ms stall at 5 s: three chunks late by 300, 200, 100 ms.
    let j = 0;
    for (let k = 0; k < 100; k++) {
      const due = k * 100;
      const arrival = due >= 5000 && due < 5300 ? 5300 : due;
      j = s.add(arrival, k * CHUNK, SR);
    }
    assert.ok(j <= 200 + 1e-9, `p98 ${j}`);
    assert.ok(Math.abs(s.maxLatenessMs - 300) < 1e-6, `max ${s.maxLatenessMs}`);
    // Once the stall has left the 10 s window, it is forgotten.
    for (let k = 100; k < 210; k++) s.add(k * 100, k * CHUNK, SR);
    assert.ok(s.maxLatenessMs < 1e-6, `max ${s.maxLatenessMs}`);
  });

  it('is not fooled by the burst of already-due chunks a server sends at connect', () => {
    const s = new ArrivalStats();
    s.reset(0);
    // Ten chunks (1 s of audio, all already due, so "late") arrive at once, then real time.
    for (let k = 0; k < 10; k++) s.add(0, k * CHUNK, SR);
    let j = 0;
    for (let k = 10; k < 60; k++) j = s.add((k - 10) * 100 + 5, k * CHUNK, SR);
    assert.ok(j < 5, `jitter ${j}`);
  });

  it('ignores the warm-up after a reset and forgets arrivals older than its window', () => {
    const s = new ArrivalStats({ windowMs: 2000 });
    s.reset(0);
    // A late start-up (main thread busy) inside the warm-up is not counted.
    assert.equal(s.add(400, 0, SR), 0);
    for (let k = 1; k < 40; k++) s.add(WARMUP_MS + k * 100 + (k === 15 ? 300 : 0), k * CHUNK, SR);
    assert.ok(s.jitterMs(WARMUP_MS + 15 * 100) > 100, 'the spike counts while it is recent');
    // The 300 ms spike at k = 15 is more than 2 s old by k = 39: forgotten.
    assert.ok(s.jitterMs(WARMUP_MS + 39 * 100) < 1, `jitter ${s.jitterMs(WARMUP_MS + 39 * 100)}`);
  });

  it('keeps at most its capacity of arrivals', () => {
    const s = new ArrivalStats({ capacity: 16, windowMs: 1e9 });
    for (let k = 0; k < 15; k++) s.add(k * 100 + (k === 0 ? 500 : 0), k * CHUNK, SR);
    assert.ok(s.jitterMs(1500) > 400, 'the spike is in the history');
    for (let k = 15; k < 40; k++) s.add(k * 100, k * CHUNK, SR);
    assert.ok(s.jitterMs(4000) < 1, 'the spike was overwritten');
  });
});
