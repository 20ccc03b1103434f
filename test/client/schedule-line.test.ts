// The page's schedule line (client/src/ui/schedule-line.ts): when it asks the server again for the
// station's next change, and what it shows meanwhile. Pure logic, driven with explicit times.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  MIN_ASK_GAP_MS,
  PASSED_MARGIN_MS,
  REDRAW_MS,
  ScheduleLine,
} from '../../client/src/ui/schedule-line.ts';

const T0 = 1_000_000;
const next = (inMs: number, preset = 'sleep') => ({ localTime: '22:00', preset, inMs });

describe('the schedule line (ScheduleLine)', () => {
  it('counts down, then asks again once the next change has passed (not before)', () => {
    const line = new ScheduleLine();
    line.received(next(5 * 60_000), T0);
    assert.equal(line.text(T0), 'Next: Sleep at 22:00 (in 5 min)');
    assert.equal(line.text(T0 + 2 * 60_000 + 1), 'Next: Sleep at 22:00 (in 2 min)');
    assert.equal(line.due(T0 + 60_000), false);
    // The page's one timer: redraws every REDRAW_MS, and comes back right when the change has passed.
    assert.equal(line.delayMs(T0), REDRAW_MS);
    const passed = T0 + 5 * 60_000 + PASSED_MARGIN_MS;
    assert.equal(line.delayMs(passed - 5000), 5000);
    assert.equal(line.due(passed - 1), false);
    assert.equal(line.text(passed), null, 'a passed change is not shown');
    assert.equal(line.due(passed), true);
    // The answer names the one after; the line shows it.
    line.received(next(9 * 3600_000, 'bright'), passed + 50);
    assert.equal(line.text(passed + 50), 'Next: Bright at 22:00 (in 9 h)');
    assert.equal(line.due(passed + 60_000), false);
  });

  it('asks when an entry fires (a params message from the schedule), at most once per gap, never dropped', () => {
    const line = new ScheduleLine();
    line.received(null, T0);
    assert.equal(line.text(T0), null, 'no schedule: no line');
    assert.equal(line.due(T0 + 3600_000), false, 'no schedule and no message: never asks');
    // Another source does not ask.
    line.params('api', T0 + 1000);
    line.params('listener', T0 + 1000);
    line.params(undefined, T0 + 1000);
    assert.equal(line.due(T0 + 1000), false);
    // The schedule moved the station (a schedule was set meanwhile): ask now.
    line.params('schedule', T0 + 2000);
    assert.equal(line.delayMs(T0 + 2000), 250);
    assert.equal(line.due(T0 + 2000), true);
    line.received(next(60_000), T0 + 2100);
    assert.equal(line.text(T0 + 2100), 'Next: Sleep at 22:00 (in 1 min)');
    // The glide's further steps within the gap: one question, put off to the end of the gap.
    line.params('schedule', T0 + 4000);
    line.params('schedule', T0 + 6000);
    assert.equal(line.due(T0 + 6000), false);
    assert.equal(line.delayMs(T0 + 6000), T0 + 2000 + MIN_ASK_GAP_MS - (T0 + 6000));
    assert.equal(line.due(T0 + 2000 + MIN_ASK_GAP_MS), true);
    assert.equal(line.due(T0 + 2000 + MIN_ASK_GAP_MS + 1), false, 'asked once');
  });

  it('a change that passed while a question was just asked waits for the gap, then asks', () => {
    const line = new ScheduleLine();
    line.params('schedule', T0);
    assert.equal(line.due(T0), true);
    line.received(next(1000), T0);
    const passed = T0 + 1000 + PASSED_MARGIN_MS;
    assert.equal(line.due(passed), false, 'within the gap after the last question');
    assert.equal(line.delayMs(passed), T0 + MIN_ASK_GAP_MS - passed);
    assert.equal(line.due(T0 + MIN_ASK_GAP_MS), true);
  });
});
