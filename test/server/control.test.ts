import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { connect, json, sleep, withServer } from './helpers.ts';

describe('control', () => {
  it('applies an HTTP PATCH at a stamped position and announces it to every listener', async () => {
    await withServer({}, async (server) => {
      const a = await connect(server);
      const b = await connect(server, 'codec=pcm');
      const welcome = await a.next('welcome');
      const r = await json(server, 'PATCH', '/api/stations/default', { bpm: 60, mode: 'dorian' });
      assert.equal(r.status, 200);
      const before = Date.now();
      const body = r.body as { params: Record<string, unknown>; effectiveAt: number; effectiveAtMs: number };
      assert.equal(body.params.bpm, 60);
      assert.equal(body.params.mode, 'dorian');
      assert.ok(
        body.effectiveAt >= (welcome.position as number),
        'effective at or after the current position',
      );
      // The same instant as Unix ms on the chunk headers' clock: a `now` message's position plays
      // at its `at`, and the change is heard (effectiveAt - position) frames after it.
      const now = await a.next('now', 8000);
      const audibleMs = (now.at as number) + ((body.effectiveAt - (now.position as number)) * 1000) / 48_000;
      assert.ok(Math.abs(body.effectiveAtMs - audibleMs) <= 2, `${body.effectiveAtMs} vs ${audibleMs}`);
      assert.ok(
        body.effectiveAtMs > before - 5_000 && body.effectiveAtMs < before + 30_000,
        `effectiveAtMs ${body.effectiveAtMs} is a wall-clock time near ${before}`,
      );
      for (const c of [a, b]) {
        const p = await c.next('params');
        assert.equal(p.effectiveAt, body.effectiveAt);
        assert.equal(p.effectiveAtMs, body.effectiveAtMs);
        assert.equal(p.source, 'api');
        assert.deepEqual(p.params, body.params);
      }
      const st = await json(server, 'GET', '/api/stations/default');
      assert.equal((st.body!.params as Record<string, unknown>).bpm, 60);
      a.close();
      b.close();
    });
  });

  it('applies WebSocket set and preset messages with their sources', async () => {
    await withServer({}, async (server) => {
      const a = await connect(server);
      const other = await connect(server);
      await a.next('welcome');
      a.send({ type: 'set', params: { intensity: 0.8, key: 'Eb' } });
      const p1 = await other.next('params');
      assert.equal(p1.source, 'listener');
      assert.equal((p1.params as Record<string, unknown>).key, 'D#');
      assert.equal((p1.params as Record<string, unknown>).intensity, 0.8);
      other.texts.length = 0;
      a.send({ type: 'preset', name: 'sleep' });
      const p2 = await other.next('params');
      assert.equal(p2.source, 'preset');
      const params = p2.params as Record<string, unknown>;
      assert.equal(params.preset, 'sleep');
      assert.equal(params.mode, 'phrygian');
      assert.equal(params.bpm, 40);
      assert.equal(params.key, 'D#', 'a preset keeps the key');
      assert.equal(params.modified, false, 'the preset as it is');
      // A changed tempo: the preset is still named, and marked modified (API and message agree).
      other.texts.length = 0;
      a.send({ type: 'set', params: { bpm: 52 } });
      const p3 = await other.next('params');
      assert.equal((p3.params as Record<string, unknown>).preset, 'sleep');
      assert.equal((p3.params as Record<string, unknown>).modified, true);
      const st = await json(server, 'GET', '/api/stations/default');
      assert.equal((st.body!.params as Record<string, unknown>).modified, true);
      // A key change alone leaves it intact (presets do not fix a key).
      other.texts.length = 0;
      a.send({ type: 'preset', name: 'sleep' });
      await other.next('params');
      other.texts.length = 0;
      a.send({ type: 'set', params: { key: 'C' } });
      const p4 = await other.next('params');
      assert.equal((p4.params as Record<string, unknown>).modified, false);
      a.close();
      other.close();
    });
  });

  it('sends now messages that name the sounding chord', async () => {
    await withServer({}, async (server) => {
      const c = await connect(server);
      const now = await c.next('now', 8000);
      assert.equal(typeof now.chord, 'string');
      assert.match(now.chord as string, /^[A-G]/);
      assert.equal(now.key, 'A');
      assert.equal(now.mode, 'aeolian');
      assert.equal(typeof now.position, 'number');
      c.close();
    });
  });

  it('requires the control token for station changes when configured, never for listening', async () => {
    await withServer({ controlToken: 's3cret' }, async (server) => {
      assert.equal((await json(server, 'PATCH', '/api/stations/default', { bpm: 50 })).status, 401);
      const wrong = await json(
        server,
        'PATCH',
        '/api/stations/default',
        { bpm: 50 },
        { authorization: 'Bearer nope' },
      );
      assert.equal(wrong.status, 403);
      assert.equal((wrong.body!.error as Record<string, unknown>).code, 'FORBIDDEN');
      const ok = await json(
        server,
        'PATCH',
        '/api/stations/default',
        { bpm: 50 },
        { authorization: 'Bearer s3cret' },
      );
      assert.equal(ok.status, 200);
      assert.equal((await json(server, 'POST', '/api/stations', { id: 'x' })).status, 401);
      assert.equal((await json(server, 'DELETE', '/api/stations/x')).status, 401);

      const listener = await connect(server);
      await listener.next('welcome');
      listener.send({ type: 'set', params: { bpm: 90 } });
      const err = await listener.next('error');
      assert.equal(err.code, 'UNAUTHORIZED');
      const before = listener.chunks.length;
      await sleep(400);
      assert.ok(listener.chunks.length > before, 'the music goes on');
      const controller = await connect(server, 'token=s3cret');
      await controller.next('welcome');
      controller.send({ type: 'set', params: { bpm: 90 } });
      const p = await controller.next('params');
      assert.equal((p.params as Record<string, unknown>).bpm, 90);
      listener.close();
      controller.close();
    });
  });

  it('creates, lists, inspects and deletes stations', async () => {
    await withServer({}, async (server) => {
      const created = await json(server, 'POST', '/api/stations', {
        id: 'night',
        preset: 'sleep',
        params: { bpm: 44 },
        seed: 7,
      });
      assert.equal(created.status, 201);
      assert.equal(created.body!.id, 'night');
      assert.equal(created.body!.seed, 7);
      const params = created.body!.params as Record<string, unknown>;
      assert.equal(params.preset, 'sleep');
      assert.equal(params.bpm, 44, 'explicit params override the preset');
      assert.equal(params.mode, 'phrygian');
      const list = await json(server, 'GET', '/api/stations');
      assert.deepEqual((list.body as unknown as { id: string }[]).map((s) => s.id).sort(), [
        'default',
        'night',
      ]);
      const c = await connect(server, 'station=night&codec=pcm');
      assert.equal((await c.next('welcome')).station, 'night');
      await c.waitChunks(3);
      assert.equal((await json(server, 'POST', '/api/stations', { id: 'night' })).status, 409);
      assert.equal((await json(server, 'DELETE', '/api/stations/night')).status, 204);
      const closed = await c.closed;
      assert.equal(closed.code, 4404);
      assert.equal((await json(server, 'GET', '/api/stations/night')).status, 404);
      assert.equal((await json(server, 'DELETE', '/api/stations/default')).status, 403);
    });
  });

  it('gives a personal session to its owner only, resumable within the grace period and recreated after it', async () => {
    await withServer({ gracePeriodMs: 800 }, async (server) => {
      const owner = await connect(server, 'personal=1&preset=bright&bpm=80&codec=pcm');
      const w = await owner.next('welcome');
      assert.equal(w.personal, true);
      assert.equal(typeof w.resumeToken, 'string');
      assert.equal((w.params as Record<string, unknown>).bpm, 80);
      assert.equal((w.params as Record<string, unknown>).mode, 'lydian');
      const id = w.station as string;
      await owner.waitChunks(2);

      const stranger = await connect(server, `station=${id}`);
      await stranger.next('welcome');
      stranger.send({ type: 'set', params: { bpm: 41 } });
      assert.equal((await stranger.next('error')).code, 'FORBIDDEN');
      assert.equal((await json(server, 'PATCH', `/api/stations/${id}`, { bpm: 41 })).status, 403);
      owner.send({ type: 'set', params: { bpm: 100 } });
      const changed = await owner.next('params');
      assert.equal((changed.params as Record<string, unknown>).bpm, 100);
      assert.equal(typeof changed.resumeToken, 'string', 'a token that carries the change');
      const listed = await json(server, 'GET', '/api/stations');
      assert.ok(
        !(listed.body as unknown as { id: string }[]).some((s) => s.id === id),
        'personal sessions are not listed',
      );

      owner.close();
      await owner.closed;
      await sleep(200);
      const back = await connect(server, `personal=1&resume=${w.resumeToken as string}`);
      const w2 = await back.next('welcome');
      assert.equal(w2.station, id, 'same session resumed');
      assert.equal((w2.params as Record<string, unknown>).bpm, 100);
      back.close();
      await back.closed;
      await sleep(1300);
      assert.equal(
        (await json(server, 'GET', `/api/stations/${id}`)).status,
        404,
        'gone after the grace period',
      );
      // The token is self-contained: after the grace period it recreates the session (its id, its
      // parameters, its clock).
      const late = await connect(server, `personal=1&resume=${changed.resumeToken as string}`);
      const w3 = await late.next('welcome');
      assert.equal(w3.station, id, 'the same session recreated');
      assert.equal((w3.params as Record<string, unknown>).bpm, 100);
      // While its owner is connected, nobody else takes it back.
      const thief = await connect(server, `personal=1&resume=${changed.resumeToken as string}`);
      assert.equal((await thief.closed).code, 4404);
      late.close();
      stranger.close();
    });
  });

  it('keeps personal sessions private: unguessable ids, never listed, counted only, no id in metrics', async () => {
    // The shared station renders without a listener here (never idle), so it has metric series.
    await withServer({ idleAfterMs: 0 }, async (server) => {
      const owner = await connect(server, 'personal=1&codec=pcm');
      const w = await owner.next('welcome');
      const id = w.station as string;
      assert.match(id, /^p-[0-9a-f]{30}$/, 'id carries 120 random bits');
      const other = await connect(server, 'personal=1&codec=pcm');
      assert.notEqual((await other.next('welcome')).station, id);
      await owner.waitChunks(2);

      const status = await json(server, 'GET', '/api/status');
      const text = JSON.stringify(status.body);
      assert.ok(!text.includes(id), '/api/status does not name the session');
      assert.deepEqual(
        (status.body!.stations as { id: string }[]).map((s) => s.id),
        ['default'],
        'shared stations only',
      );
      assert.deepEqual(status.body!.personal, { sessions: 2, listeners: 2 }, 'counts only');
      assert.equal(status.body!.listeners, 2);
      const list = await json(server, 'GET', '/api/stations');
      assert.ok(!JSON.stringify(list.body).includes(id), '/api/stations does not name it');
      // The id is a capability: whoever has it may still look the session up.
      assert.equal((await json(server, 'GET', `/api/stations/${id}`)).status, 200);

      // /metrics labels personal sessions together, never by id.
      let metrics = '';
      for (let i = 0; i < 50 && !metrics.includes('station="(personal)"'); i++) {
        await sleep(100);
        metrics = await (await fetch(`${server.url}/metrics`)).text();
      }
      assert.match(metrics, /station="\(personal\)"/, 'personal sessions are measured');
      assert.match(metrics, /station="default"/, 'shared stations keep their id');
      assert.ok(!metrics.includes(id), '/metrics does not name the session');
      assert.ok(!/station="p-/.test(metrics), 'no personal id at all on /metrics');

      // /readyz names a lagging shared station, but not a lagging personal session.
      const st = server.registry.get(id)!;
      st.bufferedMs = () => -500;
      const ready = await fetch(`${server.url}/readyz`);
      assert.equal(ready.status, 503, 'the lagging session is reported');
      const reason = ((await ready.json()) as { reason: string }).reason;
      assert.match(reason, /personal session is 500 ms behind/);
      assert.ok(!reason.includes(id), '/readyz does not name the session');
      owner.close();
      other.close();
    });
  });
});
