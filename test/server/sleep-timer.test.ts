import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Controller } from '../../src/server/control.ts';
import { SleepTimers } from '../../src/server/sleep-timers.ts';
import type { Station } from '../../src/server/station.ts';
import { connect, json, sleep, withServer } from './helpers.ts';

describe('the sleep timer of a personal session', () => {
  it('refuses shared stations and bad minutes; starts the ending, and a cancel takes it back', async () => {
    await withServer({}, async (server) => {
      // A shared station: refused over the API and the WebSocket, and it plays on.
      const shared = await json(server, 'POST', '/api/stations/default/sleep', { minutes: 30 });
      assert.equal(shared.status, 403);
      assert.equal((shared.body!.error as Record<string, unknown>).code, 'FORBIDDEN');
      const listener = await connect(server, 'codec=pcm');
      await listener.next('welcome');
      listener.send({ type: 'sleep', minutes: 30 });
      const refused = await listener.next('error');
      assert.equal(refused.code, 'FORBIDDEN');
      assert.match(refused.message as string, /shared station plays on/);
      listener.close();

      const owner = await connect(server, 'personal=1&preset=focus&codec=pcm');
      const welcome = await owner.next('welcome');
      const id = welcome.station as string;
      owner.send({ type: 'sleep', minutes: -3 });
      const bad = await owner.next('error');
      assert.equal(bad.code, 'INVALID_PARAM');
      assert.equal(bad.field, 'minutes');
      assert.match(bad.message as string, /minutes/);
      const badApi = await json(server, 'POST', `/api/stations/${id}/sleep`, { minutes: 'soon' });
      assert.equal(badApi.status, 400);
      assert.equal((badApi.body!.error as Record<string, unknown>).field, 'minutes');

      // One minute: shorter than the ending, so the ending starts now and the music is over in 2 min.
      const before = Date.now();
      owner.send({ type: 'sleep', minutes: 1 });
      const set = await owner.next('sleep');
      assert.equal(set.minutes, 1);
      const endsAtMs = set.endsAtMs as number;
      assert.ok(endsAtMs > before + 100_000 && endsAtMs < Date.now() + 130_000, String(endsAtMs - before));
      // The ending is a parameter change like any other (announced, then heard at its position).
      const change = await owner.next('params');
      assert.equal(change.source, 'listener');

      // Cancelled: the ending is taken back (another change), no end comes.
      owner.texts.length = 0;
      const cancel = await json(server, 'POST', `/api/stations/${id}/sleep`, { minutes: 0 });
      assert.equal(cancel.status, 200);
      assert.deepEqual(cancel.body, { minutes: 0, endsAtMs: null });
      const back = await owner.next('params');
      assert.equal(back.source, 'listener');
      assert.equal(owner.ws.readyState, 1, 'the session goes on');
      owner.close();
    });
  });

  it('a timer set twice, a longer one over the ending, and the welcome of a resumed or recreated session', async () => {
    await withServer({ gracePeriodMs: 1500 }, async (server) => {
      const owner = await connect(server, 'personal=1&codec=pcm');
      const welcome = await owner.next('welcome');
      const id = welcome.station as string;
      assert.equal(welcome.sleep, null, 'no timer yet');
      await owner.waitChunks(3);

      // Twice at once: the second comes while the engine is still answering the first ending.
      const before = Date.now();
      owner.send({ type: 'sleep', minutes: 1 });
      owner.send({ type: 'sleep', minutes: 1 });
      const answers = async (n: number): Promise<Record<string, unknown>[]> => {
        for (let i = 0; i < 100; i++) {
          const got = owner.texts.filter((t) => t.type === 'sleep');
          if (got.length >= n) return got;
          await sleep(50);
        }
        assert.fail(`${n} sleep answers`);
      };
      for (const a of await answers(2)) {
        const endsAtMs = a.endsAtMs as number;
        assert.ok(
          endsAtMs > before + 100_000 && endsAtMs < Date.now() + 130_000,
          `the music ends with the ending, in about 2 min: ${endsAtMs - before} ms`,
        );
      }
      // The session goes on (checks run every 0.5 s).
      await sleep(2000);
      assert.equal(owner.ws.readyState, 1, 'the session goes on');
      assert.ok(!owner.texts.some((t) => t.ended === true), 'no end');

      // A longer timer over the ending: the ending is taken back, the music ends at the new time.
      owner.texts.length = 0;
      owner.send({ type: 'sleep', minutes: 30 });
      const longer = await owner.next('sleep');
      const endsAtMs = longer.endsAtMs as number;
      assert.ok(Math.abs(endsAtMs - (Date.now() + 30 * 60_000)) < 5000, `${endsAtMs - Date.now()} ms`);
      assert.equal((await owner.next('params')).source, 'listener', 'the ending is taken back');

      // The owner reloads the page within the grace period: the same session, its timer in the welcome.
      const token = (await owner.next('params')).resumeToken as string;
      owner.close();
      await owner.closed;
      const back = await connect(server, `personal=1&codec=pcm&resume=${token}`);
      const again = await back.next('welcome');
      assert.equal(again.station, id);
      const state = again.sleep as { minutes: number; endsAtMs: number };
      assert.equal(state.minutes, 30);
      assert.ok(Math.abs(state.endsAtMs - endsAtMs) < 2000, `${state.endsAtMs} vs ${endsAtMs}`);

      // Gone past the grace period, the session (and its timer) ended: recreated from the token, it
      // says no timer runs.
      const last = again.resumeToken as string;
      back.close();
      await back.closed;
      for (let i = 0; i < 100 && (await json(server, 'GET', `/api/stations/${id}`)).status !== 404; i++)
        await sleep(100);
      assert.equal((await json(server, 'GET', `/api/stations/${id}`)).status, 404, 'precondition: ended');
      const recreated = await connect(server, `personal=1&codec=pcm&resume=${last}`);
      const fresh = await recreated.next('welcome');
      assert.equal(fresh.station, id, 'the same session, recreated');
      assert.equal(fresh.sleep, null, 'its timer ended with it');
      recreated.close();
    });
  });

  it('a timer asked for while its session ends sets nothing (no timer left behind)', async () => {
    // The engine's answer to the ending is held back until the session has gone.
    let answer: (r: { effectiveAt: number }) => void = () => {};
    const asked: unknown[] = [];
    const controller = {
      change: (_st: unknown, patch: unknown) => {
        asked.push(patch);
        return new Promise((resolve) => (answer = resolve));
      },
    } as unknown as Controller;
    const log = { info: () => {}, warn: () => {} };
    const st = { id: 'p-0123', peers: new Set(), engine: { startMonoMs: 0 } } as unknown as Station;
    const timers = new SleepTimers(controller, log, () => {});
    try {
      await timers.set(st, 1);
      assert.deepEqual(asked, [{ ending: true }], 'precondition: the ending is being asked for');
      const again = timers.set(st, 5);
      timers.remove(st.id);
      answer({ effectiveAt: 0 });
      assert.equal(await again, null, 'nothing set');
      assert.equal(timers.state(st.id), null, 'no timer left');
      assert.deepEqual(asked, [{ ending: true }], 'nothing more asked of the engine');
    } finally {
      timers.close();
    }
  });
});
