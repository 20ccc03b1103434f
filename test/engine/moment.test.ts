import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { decodeMoment, encodeMoment, MomentTokenError, type Moment } from '../../src/engine/moment.ts';
import { MomentSource } from '../../src/engine/moment-source.ts';
import { StationRenderer } from '../../src/engine/station-renderer.ts';
import { applyPatch, DEFAULT_PARAMS } from '../../src/music/params.ts';

const CHUNK = 4800;
const SECRET = 'a-test-secret-of-some-length';

/** Rendered chunks by position: left and right. */
type Rendered = Map<number, [Float32Array, Float32Array]>;

/** Renders the next chunk, as the engine worker does, into `out`. */
function renderChunk(r: StationRenderer, out: Rendered): void {
  const at = r.positionFrames;
  const l = new Float32Array(CHUNK);
  const rr = new Float32Array(CHUNK);
  r.render(l, rr, CHUNK);
  out.set(at, [l, rr]);
}

/** Drives a renderer as the engine worker does: chunks, changes between chunks, sleep, idle ticks, wake. */
function liveRun(): { renderer: StationRenderer; out: Rendered } {
  const r = new StationRenderer({ seed: 77, params: DEFAULT_PARAMS });
  const out: Rendered = new Map();
  const chunk = (): void => renderChunk(r, out);
  for (let i = 0; i < 30; i++) chunk();
  r.change(applyPatch(r.params, { bpm: 90, intensity: 0.8 }));
  for (let i = 0; i < 25; i++) chunk();
  // Nobody listens: asleep, the score goes on once a second.
  r.sleep();
  for (let s = 6; s <= 14; s++) r.skipTo(s * 48_000);
  r.skipTo(14 * 48_000 + 3 * CHUNK);
  r.change(applyPatch(r.params, { key: 'D', mode: 'lydian', preset: 'bright' }));
  for (let s = 15; s <= 20; s++) r.skipTo(s * 48_000);
  // Woken at 20.5 s with 2 s of warm-up, rendered at once (not heard).
  const frame = 20 * 48_000 + 5 * CHUNK;
  const warm = r.wake(frame, 20 * CHUNK);
  for (let i = 0; i < warm / CHUNK; i++) chunk();
  for (let i = 0; i < 40; i++) chunk();
  r.change(applyPatch(r.params, { mode: 'dorian', bpm: 60 }));
  for (let i = 0; i < 60; i++) chunk();
  return { renderer: r, out };
}

describe('moments', () => {
  it('replays a history of changes, sleep and wake-up sample for sample', () => {
    const { renderer, out } = liveRun();
    const wakeFrame = 20 * 48_000 + 5 * CHUNK;
    // A moment 3 s after the wake-up (the later change is already in the history, as the worker renders ahead).
    const position = wakeFrame + 30 * CHUNK;
    const moment: Moment = {
      station: 'default',
      position,
      chunkFrames: CHUNK,
      baseFrames: 0,
      at: 1_800_000_000_000,
      history: renderer.history(0, 0),
    };
    assert.equal(moment.history.changes.length, 3);
    assert.ok(moment.history.wake, 'the wake-up is in the history');
    const token = encodeMoment(moment, SECRET);
    const decoded = decodeMoment(token, SECRET);
    assert.deepEqual(decoded, moment);
    const src = new MomentSource(decoded);
    assert.equal(src.synthFrames, 50 * CHUNK, 'synthesis starts at the warm-up, not at position 0');
    // Odd block sizes: the replay's own chunking must not matter to the caller.
    const frames = 70 * CHUNK;
    const l = new Float32Array(frames);
    const r = new Float32Array(frames);
    for (let done = 0; done < frames;) {
      const n = Math.min(3001, frames - done);
      const bl = new Float32Array(n);
      const br = new Float32Array(n);
      src.render(bl, br, n);
      l.set(bl, done);
      r.set(br, done);
      done += n;
    }
    let energy = 0;
    for (let i = 0; i < frames / CHUNK; i++) {
      const live = out.get(position + i * CHUNK);
      assert.ok(live, `live chunk ${i}`);
      for (let k = 0; k < CHUNK; k++) {
        const a = l[i * CHUNK + k]!;
        if (a !== live[0][k] || r[i * CHUNK + k] !== live[1][k])
          assert.fail(`sample ${i * CHUNK + k} differs: ${a} vs ${live[0][k]}`);
        energy += a * a;
      }
    }
    assert.ok(energy / frames > 1e-6, 'the compared audio is not silence');
  });

  it('refuses altered, foreign and malformed tokens', () => {
    const { renderer } = liveRun();
    const moment: Moment = {
      station: 'default',
      position: 20 * 48_000 + 25 * CHUNK,
      chunkFrames: CHUNK,
      baseFrames: 0,
      at: 1,
      history: renderer.history(0, 0),
    };
    const token = encodeMoment(moment, SECRET);
    assert.throws(() => decodeMoment(token, 'another-secret-0123456789'), MomentTokenError);
    const [payload, sig] = token.split('.') as [string, string];
    const body = JSON.parse(Buffer.from(payload, 'base64url').toString()) as Record<string, unknown>;
    body.s = 78;
    const altered = `${Buffer.from(JSON.stringify(body)).toString('base64url')}.${sig}`;
    assert.throws(() => decodeMoment(altered, SECRET), /signature/);
    // Without the secret the format is still checked.
    assert.equal(decodeMoment(altered, null).history.seed, 78);
    assert.throws(() => decodeMoment('not-a-token', null), /payload/);
    body.p = 12345;
    const offGrid = `${Buffer.from(JSON.stringify(body)).toString('base64url')}.${sig}`;
    assert.throws(() => decodeMoment(offGrid, null), /chunk grid/);
  });

  it("carries the sleep timer's ending: a moment inside one, and after a cancelled one, replays sample for sample", () => {
    // The engine's way: chunks, the ending asked for between two of them, later taken back.
    const r = new StationRenderer({ seed: 31, params: applyPatch(DEFAULT_PARAMS, { preset: 'sleep' }) });
    const out: Rendered = new Map();
    const chunk = (): void => renderChunk(r, out);
    for (let i = 0; i < 20; i++) chunk();
    r.change(applyPatch(r.params, { ending: true }));
    for (let i = 0; i < 150; i++) chunk();
    const cancelAt = r.positionFrames;
    r.change(applyPatch(r.params, { ending: false }));
    for (let i = 0; i < 120; i++) chunk();
    const history = r.history(0, 0);
    assert.deepEqual(
      history.changes.map((c) => c.params.ending),
      [true, false],
      'the history holds the ending and its cancel',
    );
    // Inside the ending (8 s in, the fade under way; its 6 s end before the cancel), then 5 s after
    // the cancel (the level coming back).
    for (const position of [100 * CHUNK, cancelAt + 50 * CHUNK]) {
      const inEnding = position < cancelAt;
      const moment: Moment = {
        station: null,
        position,
        chunkFrames: CHUNK,
        baseFrames: 0,
        at: 1,
        // What the engine knew then: changes after the moment are not in its token.
        history: { ...history, changes: history.changes.slice(0, inEnding ? 1 : 2) },
      };
      const decoded = decodeMoment(encodeMoment(moment, SECRET), SECRET);
      assert.equal(decoded.history.changes[0]!.params.ending, true, 'the token carries the ending');
      if (!inEnding) assert.notEqual(decoded.history.changes[1]!.params.ending, true, 'and its cancel');
      const src = new MomentSource(decoded);
      const frames = 60 * CHUNK;
      const l = new Float32Array(frames);
      const rr = new Float32Array(frames);
      src.render(l, rr, frames);
      let energy = 0;
      for (let i = 0; i < frames / CHUNK; i++) {
        const live = out.get(position + i * CHUNK)!;
        for (let k = 0; k < CHUNK; k++) {
          const a = l[i * CHUNK + k]!;
          if (a !== live[0][k] || rr[i * CHUNK + k] !== live[1][k])
            assert.fail(
              `${inEnding ? 'in the ending' : 'after the cancel'}: sample ${i * CHUNK + k} differs: ${a} vs ${live[0][k]}`,
            );
          energy += a * a;
        }
      }
      assert.ok(energy / frames > 1e-7, 'the compared audio is not silence');
    }
  });
});
