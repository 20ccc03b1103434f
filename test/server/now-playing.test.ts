// Now playing: one object (src/server/now-playing.ts) behind the WebSocket `now` message, the JSON
// route GET /api/stations/:id/now and its event stream (Accept: text/event-stream).
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { startServer, type AuralisServer } from '../../src/server/server.ts';
import { connect, json, sleep, withServer, type Client } from './helpers.ts';
import { openSse } from './sse-client.ts';

type Obj = Record<string, unknown>;

const FIELDS = ['station', 'personal', 'preset', 'key', 'mode', 'chord', 'section', 'position', 'at', 'next'];

/** The latest `now` message a WebSocket client got. */
function latestNow(c: Client): Obj | undefined {
  for (let i = c.texts.length - 1; i >= 0; i--) if (c.texts[i]!.type === 'now') return c.texts[i];
  return undefined;
}

/** Waits until the station has announced its first chord (the JSON route says so). */
async function firstChord(server: AuralisServer, id = 'default'): Promise<Obj> {
  for (let i = 0; i < 150; i++) {
    const r = await json(server, 'GET', `/api/stations/${id}/now`);
    assert.equal(r.status, 200, JSON.stringify(r.body));
    if (r.body!.chord !== null) return r.body!;
    await sleep(100);
  }
  throw new Error('no chord announced within 15 s');
}

function without(o: Obj, ...keys: string[]): Obj {
  const out = { ...o };
  for (const k of keys) delete out[k];
  return out;
}

describe('now playing', () => {
  it('GET /api/stations/:id/now has every field and agrees with the WebSocket welcome and now', async () => {
    await withServer({}, async (server) => {
      await firstChord(server);
      const ws = await connect(server, 'codec=pcm');
      try {
        const welcome = await ws.next('welcome');
        const wsNow = await ws.next('now', 15_000);
        // The same moment seen by both: retry if a chord change fell between the two reads.
        let body: Obj | null = null;
        for (let i = 0; i < 10; i++) {
          const r = await json(server, 'GET', '/api/stations/default/now');
          assert.equal(r.status, 200);
          const latest = latestNow(ws)!;
          if (r.body!.position === latest.position) {
            body = r.body;
            // The WebSocket message is the same object with `type: 'now'` (next may have moved on).
            assert.deepEqual(without(latest, 'type', 'next'), without(body!, 'next'));
            break;
          }
          await sleep(200);
        }
        assert.ok(body, 'the JSON route and the WebSocket agreed on the chord sounding');
        assert.deepEqual(Object.keys(body).sort(), [...FIELDS].sort());
        assert.deepEqual(Object.keys(wsNow).sort(), ['type', ...FIELDS].sort());
        // The original `now` fields are still there, with their types (the wire format only grew).
        for (const k of ['chord', 'key', 'mode', 'section']) assert.equal(typeof wsNow[k], 'string', k);
        assert.equal(typeof wsNow.position, 'number');

        assert.equal(body.station, welcome.station);
        assert.equal(body.personal, false);
        const params = welcome.params as Obj;
        // Nothing was changed: what sounds is the welcome's key and mode; no preset was applied.
        assert.equal(body.key, params.key);
        assert.equal(body.mode, params.mode);
        assert.equal(body.preset, params.preset);
        assert.equal(typeof body.chord, 'string');
        assert.ok((body.chord as string).length > 0);
        assert.equal(typeof body.section, 'string');
        const at = body.at as number;
        assert.ok(Math.abs(at - Date.now()) < 120_000, `at ${at} is a Unix time near now`);
        if (body.next !== null) {
          const next = body.next as Obj;
          assert.ok((next.position as number) > (body.position as number));
          assert.ok((next.at as number) > at);
          assert.ok(['scheduled', 'forecast'].includes(next.kind as string));
        }
        // The station's own JSON carries the same object.
        const station = await json(server, 'GET', '/api/stations/default');
        assert.equal((station.body!.now as Obj).station, 'default');
        assert.equal(typeof (station.body!.now as Obj).chord, 'string');
      } finally {
        ws.close();
        await ws.closed;
      }
    });
  });

  it('a preset applied shows its name; a changed tempo makes it null', async () => {
    await withServer({}, async (server) => {
      assert.equal((await json(server, 'PATCH', '/api/stations/default', { preset: 'focus' })).status, 200);
      assert.equal((await json(server, 'GET', '/api/stations/default/now')).body!.preset, 'focus');
      assert.equal((await json(server, 'PATCH', '/api/stations/default', { bpm: 90 })).status, 200);
      assert.equal((await json(server, 'GET', '/api/stations/default/now')).body!.preset, null);
    });
  });

  it('the event stream: initial event, a change event once a new key sounds, heartbeats, ended by close()', async () => {
    // Short request and head timeouts: the stream must outlive them (it is a complete GET).
    const server = await startServer({
      host: '127.0.0.1',
      port: 0,
      workers: 1,
      sseHeartbeatMs: 300,
      headersTimeoutMs: 500,
      requestTimeoutMs: 1000,
      keepAliveTimeoutMs: 500,
    });
    let closed = false;
    try {
      await firstChord(server);
      const ws = await connect(server, 'codec=pcm');
      await ws.next('welcome');
      const openedMs = Date.now();
      const sse = await openSse(server, '/api/stations/default/now');
      assert.equal(sse.status, 200);
      assert.match(String(sse.headers['content-type']), /^text\/event-stream/);
      assert.equal(sse.headers['cache-control'], 'no-cache, no-transform');
      assert.equal(sse.headers['x-content-type-options'], 'nosniff');

      const initial = await sse.next((e) => e.event === 'now', 5000, 'the initial event');
      assert.equal(initial.retry, 3000);
      const first = JSON.parse(initial.data) as Obj;
      assert.deepEqual(Object.keys(first).sort(), [...FIELDS].sort());
      assert.equal(first.station, 'default');
      assert.equal(typeof first.chord, 'string');

      // A key and mode other than the current ones: audible at the next bar.
      const key = first.key === 'F#' ? 'C' : 'F#';
      const mode = first.mode === 'lydian' ? 'dorian' : 'lydian';
      const patched = await json(server, 'PATCH', '/api/stations/default', { key, mode });
      assert.equal(patched.status, 200, JSON.stringify(patched.body));
      const effectiveAt = patched.body!.effectiveAt as number;
      const change = await sse.next(
        (e) => {
          const d = JSON.parse(e.data) as Obj;
          return e.event === 'now' && d.key === key && d.mode === mode;
        },
        20_000,
        `a now event in ${key} ${mode}`,
      );
      const data = JSON.parse(change.data) as Obj;
      assert.ok((data.position as number) >= effectiveAt, `${String(data.position)} >= ${effectiveAt}`);
      // Announced when the pacer sends the chunk (its lead before it plays), not when it was rendered
      // (render-ahead earlier): load can only make it later.
      assert.ok(
        change.atMs >= (data.at as number) - 600,
        `arrived ${(data.at as number) - change.atMs} ms before it plays`,
      );
      // The WebSocket got the very same object for that change.
      // (Sent in the same turn to both sockets; each arrives on its own.)
      let wsChange: Obj | undefined;
      for (let i = 0; i < 100 && !wsChange; i++) {
        wsChange = ws.texts.find((t) => t.type === 'now' && t.position === data.position);
        if (!wsChange) await sleep(50);
      }
      assert.ok(wsChange, 'the WebSocket announced the same change');
      assert.deepEqual(without(wsChange, 'type'), data);

      // Heartbeats, and the stream outlived the head and request timeouts.
      await sse.waitComments(2, 10_000);
      assert.equal(sse.comments[0]!.text, 'keep-alive');
      while (Date.now() - openedMs < 2500) await sleep(100);
      const before = sse.comments.length;
      await sse.waitComments(before + 1, 10_000);
      assert.equal(sse.isEnded(), false, 'the stream is still open past requestTimeoutMs');

      ws.close();
      await ws.closed;
      // close() ends the stream.
      const closing = server.close();
      closed = true;
      await Promise.race([
        sse.ended,
        sleep(5000).then(() => assert.fail('the event stream did not end on close()')),
      ]);
      await closing;
      assert.equal(sse.isEnded(), true);
    } finally {
      if (!closed) await server.close();
    }
  });

  it('an unknown station is 404 UNKNOWN_STATION, as JSON and as an event stream', async () => {
    await withServer({}, async (server) => {
      const r = await json(server, 'GET', '/api/stations/nope/now');
      assert.equal(r.status, 404);
      assert.deepEqual(r.body, {
        error: { code: 'UNKNOWN_STATION', message: 'no station "nope"', field: 'id' },
      });
      const sse = await openSse(server, '/api/stations/nope/now');
      try {
        assert.equal(sse.status, 404);
        assert.match(String(sse.headers['content-type']), /^application\/json/);
        await sse.ended;
        assert.equal(sse.events.length, 0);
      } finally {
        sse.destroy();
      }
    });
  });

  it('event streams count toward the per-address connection cap and maxListeners', async () => {
    await withServer({ maxListeners: 2 }, async (server) => {
      const a = await openSse(server, '/api/stations/default/now');
      const b = await openSse(server, '/api/stations/default/now');
      try {
        assert.equal(a.status, 200);
        assert.equal(b.status, 200);
        // Two streams open: a third is over maxListeners (answered as JSON, not as a stream).
        const full = await json(server, 'GET', '/api/stations/default/now', undefined, {
          accept: 'text/event-stream',
        });
        assert.equal(full.status, 503);
        assert.equal((full.body!.error as Obj).code, 'SERVER_FULL');
        // The plain JSON route still answers.
        const r = await json(server, 'GET', '/api/stations/default/now');
        assert.equal(r.status, 200);
        assert.equal(r.body!.station, 'default');
      } finally {
        a.destroy();
        b.destroy();
      }
    });
    await withServer({ maxConnectionsPerIp: 2 }, async (server) => {
      const a = await openSse(server, '/api/stations/default/now');
      const b = await openSse(server, '/api/stations/default/now');
      try {
        await a.next((e) => e.event === 'now', 5000, 'the first stream');
        await b.next((e) => e.event === 'now', 5000, 'the second stream');
        const over = await json(server, 'GET', '/api/stations/default/now');
        assert.equal(over.status, 429);
        assert.equal((over.body!.error as Obj).code, 'TOO_MANY_CONNECTIONS');
      } finally {
        a.destroy();
        b.destroy();
      }
    });
  });

  it('a personal session answers by its id and is never listed', async () => {
    await withServer({}, async (server) => {
      const owner = await connect(server, 'personal=1');
      try {
        const welcome = await owner.next('welcome');
        const id = welcome.station as string;
        assert.equal(welcome.personal, true);
        const list = await json(server, 'GET', '/api/stations');
        assert.equal(list.status, 200);
        const ids = (list.body as unknown as Obj[]).map((s) => s.id);
        assert.ok(ids.includes('default'), 'the listing works (precondition)');
        assert.ok(!ids.includes(id), 'the personal session is not listed');
        const status = await json(server, 'GET', '/api/status');
        assert.ok(!JSON.stringify(status.body).includes(id), 'nor in /api/status');
        assert.equal((status.body!.personal as Obj).sessions, 1);

        const body = await firstChord(server, id);
        assert.equal(body.station, id);
        assert.equal(body.personal, true);
        const sse = await openSse(server, `/api/stations/${id}/now`);
        try {
          const initial = await sse.next((e) => e.event === 'now', 5000, 'the initial event');
          assert.equal((JSON.parse(initial.data) as Obj).station, id);
        } finally {
          sse.destroy();
        }
      } finally {
        owner.close();
        await owner.closed;
      }
    });
  });
});
