import assert from 'node:assert/strict';
import { createServer, type Socket } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { startServer, type AuralisServer } from '../../src/server/server.ts';
import { sleep } from '../server/helpers.ts';

/**
 * The source connection as Icecast sees it, on a scripted server (no icecast2 needed): the request
 * head, and that every connection starts a valid Ogg stream (OpusHead, OpusTags) even when the
 * previous one was cut mid-stream.
 */

interface Connection {
  head: string;
  body: Buffer;
}

describe('Icecast source request (scripted server)', () => {
  const connections: Connection[] = [];
  const sockets = new Set<Socket>();
  let port = 0;
  const ice = createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => {});
    const c: Connection = { head: '', body: Buffer.alloc(0) };
    connections.push(c);
    let raw = Buffer.alloc(0);
    socket.on('data', (d: Buffer) => {
      if (c.head === '') {
        raw = Buffer.concat([raw, d]);
        const end = raw.indexOf('\r\n\r\n');
        if (end < 0) return;
        c.head = raw.toString('latin1', 0, end);
        // What Icecast 2.4.4 answers to a source with Expect: 100-continue, in one write.
        socket.write('HTTP/1.1 100 Continue\r\nContent-Length: 0\r\n\r\nHTTP/1.0 200 OK\r\n\r\n');
        c.body = raw.subarray(end + 4);
        return;
      }
      if (c.body.length < 64 * 1024) c.body = Buffer.concat([c.body, d]);
    });
  });
  let server: AuralisServer;

  before(async () => {
    await new Promise<void>((r) => ice.listen(0, '127.0.0.1', () => r()));
    const a = ice.address();
    port = typeof a === 'object' && a ? a.port : 0;
    server = await startServer({
      host: '127.0.0.1',
      port: 0,
      workers: 1,
      icecast: [`jazz=http://dj:p%40ss@127.0.0.1:${port}/live/jazz.ogg`],
    });
  });

  after(async () => {
    await server?.close();
    for (const s of sockets) s.destroy();
    await new Promise((r) => ice.close(r));
  });

  it('creates the station, sends a PUT with the source credentials and ice headers, then Ogg headers first', async () => {
    assert.ok(server.registry.get('jazz'), 'the station named by --icecast was created');
    for (let i = 0; i < 100 && (connections[0]?.body.length ?? 0) < 8192; i++) await sleep(50);
    const c = connections[0];
    assert.ok(c, 'the push connected');
    const lines = c.head.split('\r\n');
    assert.equal(lines[0], 'PUT /live/jazz.ogg HTTP/1.1');
    const h = new Map(
      lines
        .slice(1)
        .map((l) => [l.slice(0, l.indexOf(':')).toLowerCase(), l.slice(l.indexOf(':') + 1).trim()]),
    );
    assert.equal(h.get('authorization'), `Basic ${Buffer.from('dj:p@ss').toString('base64')}`);
    assert.equal(h.get('content-type'), 'application/ogg');
    assert.equal(h.get('ice-public'), '0');
    assert.equal(h.get('ice-name'), 'Auralis jazz');
    assert.equal(h.get('expect'), '100-continue');
    assert.equal(h.get('transfer-encoding'), undefined, 'a raw body: Icecast 2.4 does not decode chunked');
    assertOggStart(c.body, 'first connection');
  });

  it('every new connection starts a valid stream again after a cut', async () => {
    const before = connections.length;
    for (const s of sockets) s.destroy(); // Icecast drops the source mid-stream
    for (let i = 0; i < 100 && (connections[before]?.body.length ?? 0) < 8192; i++) await sleep(50);
    const c = connections[before];
    assert.ok(c, `the push reconnected (${connections.length} connections)`);
    assertOggStart(c.body, 'after the cut');
  });
});

/** The body starts with the OpusHead page, then the OpusTags page, then audio pages. */
function assertOggStart(body: Buffer, what: string): void {
  assert.ok(body.length >= 8192, `${what}: ${body.length} bytes of stream`);
  assert.equal(body.toString('latin1', 0, 4), 'OggS', `${what}: an Ogg page first`);
  assert.equal(body[5], 0x02, `${what}: the first page begins the stream (BOS)`);
  assert.equal(body.toString('latin1', 28, 36), 'OpusHead', `${what}: OpusHead first`);
  const second = body.indexOf('OggS', 4);
  assert.ok(second > 0, `${what}: a second page`);
  const segments = body[second + 26]!;
  assert.equal(
    body.toString('latin1', second + 27 + segments, second + 27 + segments + 8),
    'OpusTags',
    `${what}: then OpusTags`,
  );
}
