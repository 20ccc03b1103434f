// The CI variant of `npm run soak`: 75 seconds of the real built server with churning WebSocket,
// Ogg and throttled listeners, control changes and personal sessions. 75 seconds cannot measure a
// growth slope (that is what the long runs are for); this checks what a correct server guarantees
// whatever the machine's load: the run completed, every listener received valid audio, nobody was
// lost except by churn or the throttling policy, and the idle server ends with the handles it
// started with.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { runSoak, type SoakResult } from '../../bench/soak.ts';
import { HANDLE_SLACK } from '../../bench/lib/soak-analysis.ts';
import { buildBundle } from '../server/bundle.ts';

describe('soak (75-second CI variant)', () => {
  it('serves churning listeners, control changes and personal sessions for 75 seconds', async (t) => {
    buildBundle();
    const lines: string[] = [];
    const r: SoakResult = await runSoak({
      minutes: 1.25,
      listeners: 8,
      churnSeconds: 10,
      sampleSeconds: 5,
      throttledShare: 0.125,
      intensityEverySeconds: 15,
      personalEverySeconds: 30,
      graceMs: 8000, // the harness resumes a session 3 s after leaving it
      log: (m) => lines.push(m),
    });
    const c = r.counts;
    const a = r.analysis;
    t.diagnostic(
      `samples ${a.samples}, listeners opened ${c.opened}, replaced ${c.replaced}, ws chunks ${c.wsChunks}, ` +
        `ogg pages ${c.oggPages}, gaps ${c.gaps}, flagged ${c.flagged}, bad ${c.badFrames}, lost ${c.lost}, ` +
        `throttled disconnected ${c.throttledDisconnected}, control ${c.controlChanges}/${c.controlFailures} failed, ` +
        `personal ${c.personalCreated} created ${c.personalResumed} resumed, ` +
        `handles idle ${a.idleStart?.handles} -> ${a.idleEnd?.handles}, ` +
        `lateness p99 median ${a.lateness.firstThirdMedianP99Ms.toFixed(1)} -> ${a.lateness.lastThirdMedianP99Ms.toFixed(1)} ms`,
    );

    assert.equal(r.server.diedEarly, false, `the server died during the run: ${r.server.stderrTail}`);
    // It ran for the full time and was sampled throughout (precondition of everything below).
    assert.ok(a.durationSeconds >= 72, `ran ${a.durationSeconds} s`);
    assert.ok(a.samples >= 10, `${a.samples} samples`);
    // Churn happened: listeners were replaced, control changes and personal sessions were made.
    assert.ok(c.replaced >= 3, `${c.replaced} listeners replaced`);
    assert.ok(c.controlChanges >= 3, `${c.controlChanges} control changes`);
    assert.equal(c.controlFailures, 0, 'every control change was accepted');
    assert.ok(c.personalCreated >= 2, `${c.personalCreated} personal sessions`);
    assert.equal(c.personalFailures, 0, 'every personal session worked');
    // Audio arrived, and every frame and page was valid.
    assert.ok(c.wsChunks > 600, `${c.wsChunks} WebSocket chunks`);
    assert.ok(c.oggPages > 60, `${c.oggPages} Ogg pages`);
    assert.equal(c.badFrames, 0, 'no invalid WebSocket frame or Ogg page');
    // Nobody was lost except by churn or the throttling policy.
    assert.equal(c.lost, 0, `listeners lost: ${c.lostReasons.join('; ')}`);
    // The idle server ends with the handles and sockets it started with.
    assert.ok(a.idleStart && a.idleEnd, 'idle snapshots before and after');
    assert.ok(
      a.idleEnd.handles <= a.idleStart.handles + HANDLE_SLACK,
      `handles ${a.idleStart.handles} -> ${a.idleEnd.handles}`,
    );
    assert.ok(
      a.idleEnd.sockets <= a.idleStart.sockets + HANDLE_SLACK,
      `sockets ${a.idleStart.sockets} -> ${a.idleEnd.sockets}`,
    );
    assert.equal(a.idleEnd.stations, a.idleStart.stations, 'personal sessions ended after their grace');
  });
});
