import assert from 'node:assert/strict';
import net from 'node:net';
import { describe, it } from 'node:test';
import WebSocket from 'ws';
import { connect, json, sleep, withServer } from './helpers.ts';

function errorOf(body: Record<string, unknown> | null): Record<string, unknown> {
  return (body?.error ?? {}) as Record<string, unknown>;
}

describe('bad input', () => {
  it('rejects every invalid parameter over HTTP with INVALID_PARAM naming the field, applying nothing', async () => {
    await withServer({}, async (server) => {
      const cases: [unknown, string][] = [
        [{ bpm: 500 }, 'bpm'],
        [{ bpm: 39.9 }, 'bpm'],
        [{ bpm: 'fast' }, 'bpm'],
        [{ intensity: -0.1 }, 'intensity'],
        [{ intensity: 2 }, 'intensity'],
        [{ key: 'H' }, 'key'],
        [{ key: 5 }, 'key'],
        [{ mode: 'locrian' }, 'mode'],
        [{ preset: 'loud' }, 'preset'],
        [{ tempo: 60 }, 'tempo'],
        [{ bpm: 60, key: 'H' }, 'key'],
      ];
      for (const [body, field] of cases) {
        const r = await json(server, 'PATCH', '/api/stations/default', body);
        assert.equal(r.status, 400, JSON.stringify(body));
        const e = errorOf(r.body);
        assert.equal(e.code, 'INVALID_PARAM');
        assert.equal(e.field, field);
        assert.match(e.message as string, new RegExp(field));
      }
      const st = await json(server, 'GET', '/api/stations/default');
      assert.equal((st.body!.params as Record<string, unknown>).bpm, 70, 'nothing half-applied');
      const bad = await json(server, 'PATCH', '/api/stations/default', '{"bpm": 6', {
        'content-type': 'application/json',
      });
      assert.equal(bad.status, 400);
      assert.equal(errorOf(bad.body).code, 'BAD_REQUEST');
      const big = await json(server, 'POST', '/api/stations', { id: 'x', pad: 'x'.repeat(40_000) });
      assert.equal(big.status, 413);
      assert.equal(errorOf(big.body).code, 'BODY_TOO_LARGE');
      const unknown = await json(server, 'PATCH', '/api/stations/nowhere', { bpm: 60 });
      assert.equal(unknown.status, 404);
      assert.equal(errorOf(unknown.body).code, 'UNKNOWN_STATION');
      const badId = await json(server, 'POST', '/api/stations', { id: 'Bad Id!' });
      assert.equal(badId.status, 400);
      assert.equal(errorOf(badId.body).field, 'id');
      const stream = await fetch(`${server.url}/stream/nowhere.ogg`);
      assert.equal(stream.status, 404);
      assert.equal(errorOf((await stream.json()) as Record<string, unknown>).code, 'UNKNOWN_STATION');
    });
  });

  it('answers bad WebSocket messages with errors while the connection and the music go on', async () => {
    await withServer({}, async (server) => {
      const c = await connect(server, 'codec=pcm');
      await c.next('welcome');
      const sends: [unknown, string, string | undefined][] = [
        ['{not json', 'BAD_MESSAGE', undefined],
        [[1, 2], 'BAD_MESSAGE', undefined],
        [{ type: 'dance' }, 'BAD_MESSAGE', 'type'],
        [{ type: 'set' }, 'BAD_MESSAGE', 'params'],
        [{ type: 'set', params: { bpm: 500 } }, 'INVALID_PARAM', 'bpm'],
        [{ type: 'set', params: { bpm: 60, mode: 'locrian' } }, 'INVALID_PARAM', 'mode'],
        [{ type: 'set', params: { key: 'X' } }, 'INVALID_PARAM', 'key'],
        [{ type: 'set', params: { intensity: 'lots' } }, 'INVALID_PARAM', 'intensity'],
        [{ type: 'preset', name: 'nope' }, 'INVALID_PARAM', 'name'],
        [{ type: 'stats', bufferedMs: 'x' }, 'BAD_MESSAGE', undefined],
      ];
      for (const [msg, code, field] of sends) {
        c.texts.length = 0;
        c.send(msg);
        const e = await c.next('error');
        assert.equal(e.code, code, JSON.stringify(msg));
        if (field) assert.equal(e.field, field, JSON.stringify(msg));
        assert.equal(typeof e.message, 'string');
      }
      const before = c.chunks.length;
      await sleep(500);
      assert.ok(c.chunks.length >= before + 3, 'chunks keep coming');
      assert.equal(c.ws.readyState, WebSocket.OPEN);
      const st = await json(server, 'GET', '/api/stations/default');
      assert.equal((st.body!.params as Record<string, unknown>).bpm, 70, 'nothing half-applied');
      c.send({ type: 'ping', t: 42 });
      const pong = await c.next('pong');
      assert.equal(pong.t, 42);
      assert.ok(Math.abs((pong.serverTime as number) - Date.now()) < 1000);
      c.close();
    });
  });

  it('closes with 1003 on binary and 1009 on an oversized message', async () => {
    await withServer({}, async (server) => {
      const a = await connect(server);
      a.ws.send(Buffer.from([1, 2, 3]));
      assert.equal((await a.closed).code, 1003);
      const b = await connect(server);
      b.ws.send('x'.repeat(5000));
      assert.equal((await b.closed).code, 1009);
    });
  });

  it('rate-limits a control flood, then closes sustained abuse with 1008', async () => {
    await withServer({}, async (server) => {
      const c = await connect(server);
      await c.next('welcome');
      for (let i = 0; i < 30; i++) c.send({ type: 'set', params: { intensity: (i % 10) / 10 } });
      const e = await c.next('error');
      assert.equal(e.code, 'RATE_LIMITED');
      assert.equal(c.ws.readyState, WebSocket.OPEN, 'a burst alone does not close');
      for (let i = 0; i < 200; i++) c.send({ type: 'set', params: { intensity: 0.5 } });
      assert.equal((await c.closed).code, 1008);
      const other = await connect(server);
      await other.waitChunks(2);
      other.close();
    });
  });

  it('closes an unknown station with 4404 and refuses listeners past the limit with 1013 / 503', async () => {
    await withServer({ maxListeners: 2 }, async (server) => {
      const u = await connect(server, 'station=nowhere');
      assert.equal((await u.next('error')).code, 'UNKNOWN_STATION');
      assert.equal((await u.closed).code, 4404);
      const bad = await connect(server, 'codec=flac');
      assert.equal((await bad.next('error')).field, 'codec');
      assert.equal((await bad.closed).code, 1008);
      const a = await connect(server);
      const b = await connect(server);
      await a.next('welcome');
      await b.next('welcome');
      const c = await connect(server);
      assert.equal((await c.next('error')).code, 'SERVER_FULL');
      assert.equal((await c.closed).code, 1013);
      const res = await fetch(`${server.url}/stream/default.wav`);
      assert.equal(res.status, 503);
      assert.equal(errorOf((await res.json()) as Record<string, unknown>).code, 'SERVER_FULL');
      a.close();
      b.close();
    });
  });

  it('survives a client that sends garbage instead of a WebSocket handshake', async () => {
    await withServer({}, async (server) => {
      const sock = net.connect(server.port, '127.0.0.1');
      await new Promise((r) => sock.once('connect', r));
      sock.write(
        'GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n\x00\x01garbage',
      );
      await sleep(200);
      sock.destroy();
      const c = await connect(server);
      await c.waitChunks(2);
      c.close();
    });
  });

  it('refuses WebSocket origins that are not allowed, and rate-limits the HTTP API with 429', async () => {
    await withServer({ allowedOrigins: 'https://radio.example', apiRatePerSecond: 5 }, async (server) => {
      const stranger = await connect(server, '', { origin: 'https://evil.example' });
      assert.equal((await stranger.next('error')).code, 'FORBIDDEN');
      assert.equal((await stranger.closed).code, 1008);
      const friend = await connect(server, '', { origin: 'https://radio.example' });
      await friend.waitChunks(1);
      friend.close();
      const statuses: number[] = [];
      for (let i = 0; i < 12; i++) statuses.push((await fetch(`${server.url}/api/status`)).status);
      assert.ok(statuses.includes(429), `statuses ${statuses.join(',')}`);
      const limited = await json(server, 'GET', '/api/status');
      if (limited.status === 429) assert.equal(errorOf(limited.body).code, 'RATE_LIMITED');
      const health = await fetch(`${server.url}/healthz`);
      assert.equal(health.status, 200, 'health checks are never rate-limited');
    });
  });
});
