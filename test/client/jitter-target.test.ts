import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  DECREASE_HOLD_S,
  DECREASE_MS_PER_S,
  JitterTarget,
  MAX_TARGET_MS,
  MIN_TARGET_MS,
  SAFETY_MS,
} from '../../client/src/audio/jitter-target.ts';

describe('JitterTarget', () => {
  it('starts at chunk + safety, within 100–150 ms for 100 ms chunks', () => {
    const t = new JitterTarget(100);
    assert.equal(t.targetMs, 100 + SAFETY_MS);
    assert.ok(t.targetMs >= 100 && t.targetMs <= 150);
    assert.equal(new JitterTarget(20).targetMs, MIN_TARGET_MS);
  });

  it('rises at once with the jitter and after an underrun', () => {
    const t = new JitterTarget(100);
    t.setJitterMs(120);
    assert.equal(t.targetMs, 100 + 120 + SAFETY_MS);
    const before = t.targetMs;
    t.onUnderrun();
    assert.ok(t.targetMs >= before + 40, `${t.targetMs}`);
    for (let i = 0; i < 50; i++) t.onUnderrun();
    assert.equal(t.targetMs, MAX_TARGET_MS);
  });

  it('falls only after a steady hold, and slowly', () => {
    const t = new JitterTarget(100);
    t.setJitterMs(200);
    const high = t.targetMs;
    t.setJitterMs(0);
    for (let i = 0; i < (DECREASE_HOLD_S - 1) * 10; i++) t.tick(0.1);
    assert.equal(t.targetMs, high, 'no decrease during the hold');
    for (let i = 0; i < 20; i++) t.tick(0.1);
    assert.ok(t.targetMs < high && t.targetMs >= high - 2 * DECREASE_MS_PER_S - 1e-9, `${t.targetMs}`);
    for (let i = 0; i < 3000; i++) t.tick(0.1);
    assert.equal(t.targetMs, 100 + SAFETY_MS, 'back to the floor given by the chunk');
  });

  it('does not decay below what the largest lateness still in the window needs', () => {
    const t = new JitterTarget(100);
    // A recurring 300 ms stall: its p98 says 200 ms, its max 300 ms.
    t.setJitterMs(200, 300);
    assert.equal(t.targetMs, 100 + 200 + SAFETY_MS, 'raised by the p98 only');
    t.onUnderrun(); // the stall emptied the buffer: cover it in full
    assert.ok(t.targetMs >= 100 + 300 + SAFETY_MS, `${t.targetMs}`);
    const covered = t.targetMs;
    for (let i = 0; i < 1200; i++) {
      t.setJitterMs(200, 300);
      t.tick(0.1);
    }
    assert.ok(t.targetMs >= 100 + 300 + SAFETY_MS - 1e-9, `decayed to ${t.targetMs} while the stalls go on`);
    assert.ok(t.targetMs <= covered, `${t.targetMs}`);
    // The stalls stop: the target comes down.
    for (let i = 0; i < 3000; i++) {
      t.setJitterMs(0, 0);
      t.tick(0.1);
    }
    assert.equal(t.targetMs, 100 + SAFETY_MS);
  });

  it('covers in full the late arrivals that follow an underrun', () => {
    const t = new JitterTarget(100);
    t.onUnderrun(); // a stall nobody saw coming
    t.tick(0.5);
    t.setJitterMs(200, 300); // then its chunks arrive, up to 300 ms late
    assert.ok(t.targetMs >= 100 + 300 + SAFETY_MS, `${t.targetMs}`);
  });
});
