import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { connect, json, withServer } from './helpers.ts';

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
});
