import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  DriftController,
  MAX_RATIO_OFFSET,
  RATIO_SLEW_PER_S,
} from '../../client/src/audio/drift-controller.ts';

describe('DriftController', () => {
  it('never leaves 1 ± 0.5 % and moves the ratio no faster than its slew limit', () => {
    const d = new DriftController();
    let prev = d.ratio;
    const dt = 128 / 48_000;
    for (let i = 0; i < 20_000; i++) {
      const fill = i < 10_000 ? 2000 : 0; // far above, then far below the target
      const r = d.update(fill, 130, dt);
      assert.ok(Math.abs(r - 1) <= MAX_RATIO_OFFSET + 1e-12, `ratio ${r}`);
      assert.ok(Math.abs(r - prev) <= RATIO_SLEW_PER_S * dt + 1e-12, `step ${r - prev}`);
      prev = r;
    }
  });

  it('settles a closed loop with a +0.3 % sender to zero fill error', () => {
    const d = new DriftController();
    const dt = 128 / 48_000;
    let fillMs = 130;
    for (let i = 0; i < (600 * 48_000) / 128; i++) {
      const r = d.update(fillMs, 130, dt);
      fillMs += (1.003 - r) * dt * 1000;
    }
    assert.ok(Math.abs(fillMs - 130) < 3, `fill ${fillMs}`);
    assert.ok(Math.abs(d.ratio - 1.003) < 0.0002, `ratio ${d.ratio}`);
  });
});
