import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { COOLDOWN_MS, HOLD_MS, LagWatchdog, MAX_EXCESS_LAG_MS } from '../../client/src/net/lag-watchdog.ts';

/** Feeds one observation every 100 ms from `fromMs` to `toMs`; returns the times it fired. */
function feed(w: LagWatchdog, fromMs: number, toMs: number, lag: (t: number) => number | null, target = 200) {
  const fired: number[] = [];
  for (let t = fromMs; t < toMs; t += 100) if (w.update(t, lag(t), target)) fired.push(t);
  return fired;
}

describe('lag watchdog (catching up with live)', () => {
  it('never fires while the lag stays within target + the allowed excess, however long', () => {
    const w = new LagWatchdog();
    assert.deepEqual(
      feed(w, 0, 600_000, () => 200 + MAX_EXCESS_LAG_MS),
      [],
    );
    assert.equal(w.catchUps, 0);
  });

  it('fires once the lag has stayed too high for HOLD_MS, then not again within the cooldown', () => {
    const w = new LagWatchdog();
    // A link slower than the stream: the lag grows by 0.5 s every second from 0.
    const fired = feed(w, 0, 20_000, (t) => t / 2);
    // Above 2.2 s from t = 4.4 s; fires HOLD_MS later.
    assert.equal(fired.length, 1, `${fired}`);
    assert.ok(fired[0] >= 4400 + HOLD_MS && fired[0] <= 4400 + HOLD_MS + 200, `${fired}`);
    assert.equal(w.catchUps, 1);
    // Still far behind: fires again only after the cooldown.
    const again = feed(w, 20_000, 30_000, () => 10_000);
    assert.equal(again.length, 1);
    assert.ok(again[0] >= fired[0] + COOLDOWN_MS, `${again} after ${fired}`);
  });

  it('ignores brief peaks and unknown lags (buffering) do not restart the hold', () => {
    const w = new LagWatchdog();
    // 2 s above, 1 s below, repeatedly: never HOLD_MS in a row.
    assert.deepEqual(
      feed(w, 0, 60_000, (t) => (t % 3000 < 2000 ? 5000 : 100)),
      [],
    );
    // Unknown (null) samples inside a high episode neither reset nor fire it.
    const w2 = new LagWatchdog();
    const fired = feed(w2, 0, 10_000, (t) => (t % 1000 < 500 ? 5000 : null));
    assert.equal(fired.length, 1);
    assert.ok(fired[0] >= HOLD_MS, `${fired}`);
  });
});
