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
});
