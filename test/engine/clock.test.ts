import assert from 'node:assert/strict';
import { once } from 'node:events';
import { describe, it } from 'node:test';
import { Worker } from 'node:worker_threads';
import { monoNowMs, setWallJumpMs, wallNowMs, wallOffsetMs } from '../../src/engine/clock.ts';

const HOUR_MS = 3_600_000;

describe('engine clock', () => {
  it('is monotonic and advances with real time', async () => {
    let prev = monoNowMs();
    for (let i = 0; i < 10_000; i++) {
      const t = monoNowMs();
      assert.ok(t >= prev, `went back from ${prev} to ${t}`);
      prev = t;
    }
    const m0 = monoNowMs();
    const p0 = performance.now();
    await new Promise((r) => setTimeout(r, 120));
    const dm = monoNowMs() - m0;
    const dp = performance.now() - p0;
    assert.ok(dm >= 100, `advanced ${dm} ms over a 120 ms timer`);
    assert.ok(Math.abs(dm - dp) < 1, `monotonic ms track performance.now(): ${dm} vs ${dp}`);
  });

  it('reads the same instant in a worker thread as on the main thread', async () => {
    const w = new Worker(new URL('./fixtures/clock-worker.mjs', import.meta.url));
    try {
      const [ready] = (await once(w, 'message')) as [string];
      assert.equal(ready, 'ready');
      // A worker's performance.now() counts from the worker's own start, tens of ms after ours: a
      // clock built on it alone would read far below the main thread's bracket.
      for (let i = 0; i < 5; i++) {
        const before = monoNowMs();
        w.postMessage('read');
        const [r] = (await once(w, 'message')) as [{ mono: number; wallOffset: number }];
        const after = monoNowMs();
        assert.ok(
          r.mono >= before - 0.5 && r.mono <= after + 0.5,
          `worker read ${r.mono}, main bracket ${before}…${after}`,
        );
        assert.ok(Math.abs(r.wallOffset - wallOffsetMs()) < 50, 'both threads map to the same wall time');
      }
    } finally {
      w.postMessage('stop');
      await w.terminate();
    }
  });

  it('simulates a wall-clock step that moves Date.now() and wallNowMs() but never monoNowMs()', () => {
    const realDateNow = Date.now;
    for (const jump of [HOUR_MS, -HOUR_MS]) {
      const mono0 = monoNowMs();
      const wall0 = wallNowMs();
      const date0 = Date.now();
      try {
        setWallJumpMs(jump);
        const dWall = wallNowMs() - wall0;
        const dDate = Date.now() - date0;
        const dMono = monoNowMs() - mono0;
        assert.ok(Math.abs(dWall - jump) < 1000, `wallNowMs moved ${dWall} ms`);
        assert.ok(Math.abs(dDate - jump) < 1000, `Date.now moved ${dDate} ms`);
        assert.ok(dMono >= 0 && dMono < 1000, `monoNowMs moved ${dMono} ms`);
      } finally {
        setWallJumpMs(0);
      }
      assert.equal(Date.now, realDateNow, 'undoing the jump restores Date.now itself');
      assert.ok(Math.abs(wallNowMs() - realDateNow()) < 1000);
    }
    assert.throws(() => setWallJumpMs(Number.NaN), RangeError);
  });
});
