// The load generator's batch clock: every read of one event-loop turn gets the time of the turn's
// first read; the turn's end (a fake scheduler here, setImmediate in the generator) closes the batch.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { setImmediate as nextTurn } from 'node:timers/promises';
import { BatchClock } from '../../bench/lib/batch-clock.ts';

/** A fake loop: `atTurnEnd` queues the closer; `endTurn()` runs what is queued (the check phase). */
function fakeLoop(): { atTurnEnd: (c: () => void) => void; endTurn: () => void; queued: () => number } {
  let pending: (() => void)[] = [];
  return {
    atTurnEnd: (c) => pending.push(c),
    endTurn: () => {
      const run = pending;
      pending = [];
      for (const c of run) c();
    },
    queued: () => pending.length,
  };
}

describe('BatchClock', () => {
  it('stamps every read of a turn with the first read time, and opens a new batch next turn', () => {
    const loop = fakeLoop();
    const clock = new BatchClock(loop.atTurnEnd);
    // Turn 1: three sockets read one after the other, 1.5 ms apart (the generator's own walk).
    assert.equal(clock.stamp(100), 100);
    assert.equal(clock.stamp(101.5), 100);
    assert.equal(clock.stamp(103), 100);
    assert.equal(loop.queued(), 1, 'one closer per batch, not one per read');
    loop.endTurn();
    // Turn 2 starts later: its first read opens a new batch at its own time.
    assert.equal(clock.stamp(200.25), 200.25);
    assert.equal(clock.stamp(240), 200.25);
    loop.endTurn();
    assert.equal(clock.batches, 2);
  });

  it('a turn with a single read is a batch of its own', () => {
    const loop = fakeLoop();
    const clock = new BatchClock(loop.atTurnEnd);
    for (const t of [10, 110, 210]) {
      assert.equal(clock.stamp(t), t);
      loop.endTurn();
    }
    assert.equal(clock.batches, 3);
  });

  it('a turn without reads opens nothing', () => {
    const loop = fakeLoop();
    const clock = new BatchClock(loop.atTurnEnd);
    loop.endTurn();
    assert.equal(loop.queued(), 0);
    assert.equal(clock.batches, 0);
    assert.equal(clock.stamp(5), 5);
    assert.equal(loop.queued(), 1);
  });

  it('by default, the batch closes at the real loop turn (setImmediate)', async () => {
    const clock = new BatchClock();
    // Same turn (one synchronous run, as the poll phase's callbacks are): one batch.
    assert.equal(clock.stamp(1), 1);
    assert.equal(clock.stamp(2), 1);
    await Promise.resolve(); // microtasks run between poll callbacks: still the same turn
    assert.equal(clock.stamp(3), 1);
    await nextTurn();
    assert.equal(clock.stamp(7), 7);
    assert.equal(clock.batches, 2);
    await nextTurn();
    assert.equal(clock.stamp(9), 9);
    assert.equal(clock.batches, 3);
  });
});
