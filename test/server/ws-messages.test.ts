import assert from 'node:assert/strict';
import net from 'node:net';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import WebSocket from 'ws';
import { closeReason, MAX_CLOSE_REASON_BYTES } from '../../src/server/transports/ws.ts';
import { captureLog, connect, json, sleep, withServer, type Client } from './helpers.ts';

/** Resolves once `count` messages of the given types have arrived. */
async function waitFor(c: Client, count: () => number, n: number, timeoutMs = 15_000): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (count() < n) {
    if (Date.now() > until) throw new Error(`timed out: ${count()} of ${n} outcomes`);
    await sleep(20);
  }
}

describe('every client message gets its effect or an error', () => {
  it('answers each of 60 set messages sent at once on a new personal session', async () => {
    await withServer({}, async (server) => {
      const c = await connect(server, 'personal=1&codec=pcm');
      for (let i = 0; i < 60; i++) c.send({ type: 'set', params: { intensity: (i % 10) / 10 } });
      const outcomes = (): number => c.texts.filter((t) => t.type === 'params' || t.type === 'error').length;
      await waitFor(c, outcomes, 60);
      await sleep(500);
      assert.equal(outcomes(), 60, 'exactly one outcome per message');
      const applied = c.texts.filter((t) => t.type === 'params');
      const errors = c.texts.filter((t) => t.type === 'error');
      assert.ok(applied.length >= 1, 'some changes were applied');
      for (const e of errors)
        assert.ok(['NOT_READY', 'RATE_LIMITED'].includes(e.code as string), String(e.code));
      for (const p of applied) assert.equal(p.source, 'listener');
      assert.equal(c.ws.readyState, WebSocket.OPEN, 'the connection stays open');
      const w = await c.next('welcome');
      assert.equal(w.personal, true);
      c.close();
    });
  });
});

/** A masked client text frame (RFC 6455), payload under 126 bytes. */
function clientFrame(text: string): Buffer {
  const payload = Buffer.from(text);
  assert.ok(payload.length < 126);
  const mask = Buffer.from([1, 2, 3, 4]);
  const masked = Buffer.from(payload.map((b, i) => b ^ mask[i % 4]!));
  return Buffer.concat([Buffer.from([0x81, 0x80 | payload.length]), mask, masked]);
}

/** The text frames in a stream of server frames (unmasked); binary frames are skipped. */
function serverTexts(buf: Buffer): { texts: string[]; rest: Buffer } {
  const texts: string[] = [];
  let at = 0;
  for (;;) {
    if (buf.length - at < 2) break;
    const op = buf[at]! & 0x0f;
    let len = buf[at + 1]! & 0x7f;
    let head = 2;
    if (len === 126) {
      if (buf.length - at < 4) break;
      len = buf.readUInt16BE(at + 2);
      head = 4;
    } else if (len === 127) {
      if (buf.length - at < 10) break;
      len = Number(buf.readBigUInt64BE(at + 2));
      head = 10;
    }
    if (buf.length - at < head + len) break;
    if (op === 1) texts.push(buf.toString('utf8', at + head, at + head + len));
    at += head + len;
  }
  return { texts, rest: buf.subarray(at) };
}

describe('messages sent before the welcome', () => {
  it('answers every one of 60 set messages that arrive with the handshake itself', async () => {
    await withServer({}, async (server) => {
      // The upgrade request and all 60 frames in one write: they are all in before the session exists.
      const frames = Array.from({ length: 60 }, (_, i) =>
        clientFrame(JSON.stringify({ type: 'set', params: { intensity: (i % 10) / 10 } })),
      );
      const sock = net.connect(server.port, '127.0.0.1');
      const texts: Record<string, unknown>[] = [];
      let pending = Buffer.alloc(0);
      let headerDone = false;
      sock.on('data', (d: Buffer) => {
        pending = Buffer.concat([pending, d]);
        if (!headerDone) {
          const end = pending.indexOf('\r\n\r\n');
          if (end < 0) return;
          assert.match(pending.toString('latin1', 0, end), /^HTTP\/1.1 101/);
          pending = pending.subarray(end + 4);
          headerDone = true;
        }
        const r = serverTexts(pending);
        pending = Buffer.from(r.rest);
        for (const t of r.texts) texts.push(JSON.parse(t) as Record<string, unknown>);
      });
      await new Promise((r) => sock.once('connect', r));
      sock.write(
        Buffer.concat([
          Buffer.from(
            'GET /ws?personal=1&codec=pcm HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n' +
              'Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n',
          ),
          ...frames,
        ]),
      );
      try {
        const outcomes = (): number => texts.filter((t) => t.type === 'params' || t.type === 'error').length;
        const until = Date.now() + 15_000;
        while (outcomes() < 60 && Date.now() < until) await sleep(20);
        await sleep(500);
        const count = (pred: (t: Record<string, unknown>) => boolean): number => texts.filter(pred).length;
        assert.equal(
          count((t) => t.type === 'welcome'),
          1,
          'the session started',
        );
        assert.equal(outcomes(), 60, 'exactly one outcome per message');
        const notReady = count((t) => t.type === 'error' && t.code === 'NOT_READY');
        assert.ok(notReady >= 1, 'the early-queue bound was reached');
        assert.ok(count((t) => t.type === 'params') >= 1, 'the held messages were applied');
        assert.equal(
          count((t) => t.type === 'error' && t.code !== 'NOT_READY' && t.code !== 'RATE_LIMITED'),
          0,
          'no other error',
        );
      } finally {
        sock.destroy();
      }
    });
  });
});

describe('close reasons and refusals', () => {
  it('cuts a close reason to at most 123 bytes of UTF-8 without splitting a code point', () => {
    assert.equal(closeReason('short'), 'short');
    assert.equal(Buffer.byteLength(closeReason('é'.repeat(100))), 122);
    assert.equal(closeReason('a'.repeat(200)), 'a'.repeat(123));
    fc.assert(
      fc.property(fc.string({ unit: 'binary', maxLength: 300 }), (s) => {
        const r = closeReason(s);
        const full = Buffer.from(s, 'utf8');
        const cut = Buffer.from(r, 'utf8');
        assert.ok(cut.length <= MAX_CLOSE_REASON_BYTES);
        assert.ok(full.subarray(0, cut.length).equals(cut), 'a prefix of the UTF-8 bytes');
        if (full.length <= MAX_CLOSE_REASON_BYTES) assert.equal(r, s);
        else assert.ok(cut.length > MAX_CLOSE_REASON_BYTES - 4, 'no more than one code point dropped');
        assert.ok(!r.includes('\uFFFD') || s.includes('\uFFFD') || /[\uD800-\uDFFF]/.test(s));
      }),
      { numRuns: 500 },
    );
  });

  it('refuses multi-byte ids, keys, presets, codecs and a Latin-1 Origin with the documented codes', async () => {
    const log = captureLog();
    await withServer(
      { allowedOrigins: 'https://radio.example', logLevel: 'info' },
      async (server) => {
        const ok = { origin: 'https://radio.example' };
        const long = (ch: string): string => encodeURIComponent(ch.repeat(80));
        const cases: [string, Record<string, string>, number, string, string][] = [
          [`station=${long('é')}`, ok, 4404, 'UNKNOWN_STATION', 'station'],
          [`station=${long('🎵')}`, ok, 4404, 'UNKNOWN_STATION', 'station'],
          [`personal=1&key=${long('ü')}`, ok, 1008, 'INVALID_PARAM', 'key'],
          [`personal=1&mode=${long('ø')}`, ok, 1008, 'INVALID_PARAM', 'mode'],
          [`personal=1&preset=${long('夜')}`, ok, 1008, 'INVALID_PARAM', 'preset'],
          [`codec=${long('ö')}`, ok, 1008, 'INVALID_PARAM', 'codec'],
          [`codec=${long('😀')}`, ok, 1008, 'INVALID_PARAM', 'codec'],
          [`personal=1&resume=${long('é')}`, ok, 1008, 'INVALID_PARAM', 'resume'],
          ['codec=pcm&codec=opus', ok, 1008, 'BAD_REQUEST', 'codec'],
          ['', { origin: `https://caf\xe9.example/${'\xe9'.repeat(100)}` }, 1008, 'FORBIDDEN', 'origin'],
        ];
        for (const [query, headers, closeCode, code, field] of cases) {
          const c = await connect(server, query, headers);
          const closed = await c.closed;
          const e = c.texts.find((t) => t.type === 'error');
          assert.ok(e, `${query}: an error message before the close`);
          assert.equal(e.code, code, query);
          assert.equal(e.field, field, query);
          assert.equal(closed.code, closeCode, query);
          assert.ok(Buffer.byteLength(closed.reason) <= 123, `${query}: reason ${closed.reason}`);
          assert.ok(closed.reason.length > 0, `${query}: a reason is given`);
          assert.equal(
            c.texts.filter((t) => t.type === 'error').length,
            1,
            `${query}: one error, no second INTERNAL`,
          );
        }
        // The server and the music go on.
        const after = await connect(server, '', ok);
        await after.waitChunks(2);
        after.close();
      },
      { logStream: log.stream },
    );
    assert.ok(
      log.lines.some((l) => l.level === 30 && /websocket refused/.test(l.msg as string)),
      'refusals are logged at info',
    );
    assert.deepEqual(log.errors(), [], 'no error-level log line');
  });

  it('lets a page from another site listen but not change a shared station', async () => {
    const log = captureLog();
    await withServer(
      { logLevel: 'debug' },
      async (server) => {
        const c = await connect(server, 'codec=pcm', { origin: 'https://evil.example' });
        await c.waitChunks(2);
        c.send({ type: 'set', params: { bpm: 41 } });
        const e = await c.next('error');
        assert.equal(e.code, 'FORBIDDEN');
        assert.equal(e.field, 'origin');
        const st = await json(server, 'GET', '/api/stations/default');
        assert.equal((st.body!.params as Record<string, unknown>).bpm, 70, 'nothing changed');
        // Its own personal session it may steer.
        const p = await connect(server, 'personal=1&codec=pcm', { origin: 'https://evil.example' });
        await p.next('welcome');
        p.send({ type: 'set', params: { bpm: 41 } });
        assert.equal(((await p.next('params')).params as Record<string, unknown>).bpm, 41);
        // Same-origin pages may change the shared station.
        const same = await connect(server, 'codec=pcm', { origin: server.url });
        await same.next('welcome');
        same.send({ type: 'set', params: { bpm: 42 } });
        assert.equal(((await same.next('params')).params as Record<string, unknown>).bpm, 42);
        for (const x of [c, p, same]) x.close();
      },
      { logStream: log.stream },
    );
    assert.ok(
      log.lines.some(
        (l) => l.level === 20 && l.code === 'FORBIDDEN' && /message refused/.test(l.msg as string),
      ),
      'the refused message is logged at debug',
    );
    assert.deepEqual(log.errors(), [], 'no error-level log line');
  });
});
