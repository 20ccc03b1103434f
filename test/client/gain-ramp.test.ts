import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { GainRamp } from '../../client/src/audio/gain-ramp.ts';

const run = (ramp: GainRamp, frames: number) => Array.from({ length: frames }, () => ramp.next());

describe('GainRamp', () => {
  it('moves monotonically to its target in exactly the given frames, then holds', () => {
    const g = new GainRamp(0);
    g.rampTo(1, 480);
    const v = run(g, 600);
    for (let i = 1; i < v.length; i++) assert.ok(v[i] >= v[i - 1]);
    assert.equal(v[479], 1);
    assert.equal(v[599], 1);
    assert.equal(g.ramping, false);
  });

  it('starts and ends a smooth ramp with near-zero slope (no corner to hear)', () => {
    const g = new GainRamp(1);
    g.rampTo(0, 1000);
    const v = [1, ...run(g, 1000)];
    const steps = v.slice(1).map((x, i) => Math.abs(x - v[i]));
    assert.ok(steps[0] < 1e-4 && steps[999] < 1e-4, `${steps[0]} ${steps[999]}`);
    assert.ok(Math.max(...steps) < (Math.PI / 2) * (1 / 1000) + 1e-9, 'peak slope of a raised cosine');
  });

  it('fades in from silence faster at first with easeOut, to the same end', () => {
    const smooth = new GainRamp(0);
    const ease = new GainRamp(0);
    smooth.rampTo(1, 48_000);
    ease.rampTo(1, 48_000, 'easeOut');
    const a = run(smooth, 48_000);
    const b = run(ease, 48_000);
    assert.ok(b[4800] > 5 * a[4800], `after 100 ms: ease ${b[4800]} vs smooth ${a[4800]}`);
    assert.equal(a[47_999], 1);
    assert.equal(b[47_999], 1);
  });

  it('jumps when the length is zero', () => {
    const g = new GainRamp(0.2);
    g.rampTo(0.7, 0);
    assert.equal(g.value, 0.7);
    assert.equal(g.next(), 0.7);
  });
});
