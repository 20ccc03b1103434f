import assert from 'node:assert/strict';
import { get, type ClientRequest, type IncomingMessage } from 'node:http';
import { describe, it } from 'node:test';
import { ConfigError, loadConfig } from '../../src/server/config.ts';
import { proxyMatcher } from '../../src/server/trust-proxy.ts';
import type { AuralisServer } from '../../src/server/server.ts';
import { connect, json, sleep, withServer } from './helpers.ts';

interface Opened {
  status: number;
  body: string;
  req: ClientRequest;
  res: IncomingMessage;
}

/** Opens `path` with X-Forwarded-For `client` (a new connection each time): its status and first bytes. */
function open(server: AuralisServer, path: string, client: string | null): Promise<Opened> {
  return new Promise((resolve, reject) => {
    const req = get(
      `${server.url}${path}`,
      { agent: false, headers: client ? { 'x-forwarded-for': client } : {} },
      (res) => {
        let body = '';
        res.once('data', (d: Buffer) => {
          body = d.toString('latin1');
          resolve({ status: res.statusCode ?? 0, body, req, res });
        });
        res.once('end', () => resolve({ status: res.statusCode ?? 0, body, req, res }));
      },
    );
    req.on('error', reject);
  });
}

describe('--trust-proxy', () => {
  it('validates its entries: addresses and CIDR ranges, IPv4 and IPv6', () => {
    assert.deepEqual(loadConfig({ trustProxy: '127.0.0.1, 10.0.0.0/8,::1,fd00::/8' }).trustProxy, [
      '127.0.0.1',
      '10.0.0.0/8',
      '::1',
      'fd00::/8',
    ]);
    for (const bad of ['localhost', '10.0.0.0/33', '1.2.3.4/8/9', '::1/129', '300.1.1.1']) {
      assert.throws(
        () => loadConfig({ trustProxy: bad }),
        (e: unknown) => e instanceof ConfigError && e.setting === 'trustProxy' && e.message.includes(bad),
        bad,
      );
    }
    const m = proxyMatcher(['127.0.0.1', '10.0.0.0/8', 'fd00::/8']);
    assert.equal(m('127.0.0.1'), true);
    assert.equal(m('::ffff:127.0.0.1'), true, 'an IPv4 peer on a dual-stack socket');
    assert.equal(m('10.200.3.4'), true);
    assert.equal(m('fd12::1'), true);
    assert.equal(m('127.0.0.2'), false);
    assert.equal(m('11.0.0.1'), false);
    assert.equal(m(undefined), false);
    assert.equal(proxyMatcher([])('127.0.0.1'), false, 'nothing is trusted by default');
  });

  it('behind a trusted proxy, limits count each forwarded client, not the proxy', async () => {
    await withServer(
      { trustProxy: '127.0.0.1', maxConnectionsPerIp: 2, controlRatePerIp: 2 },
      async (server) => {
        const opened: Opened[] = [];
        try {
          // Two streams of client A: at its limit, both served.
          for (let i = 0; i < 2; i++) {
            const s = await open(server, '/stream/default.wav', '203.0.113.5');
            opened.push(s);
            assert.equal(s.status, 200);
          }
          // A third for A: refused with the documented code.
          const over = await open(server, '/stream/default.wav', '203.0.113.5');
          assert.equal(over.status, 429);
          assert.match(over.body, /TOO_MANY_CONNECTIONS/);
          // Client B, through the same proxy address: its own budget (stream and WebSocket).
          const b = await open(server, '/stream/default.wav', '198.51.100.7');
          opened.push(b);
          assert.equal(b.status, 200);
          const ws = await connect(server, '', { 'x-forwarded-for': '198.51.100.7' });
          const welcome = await ws.next('welcome');
          assert.equal(welcome.type, 'welcome');
          // B is now at its limit too: a third connection of B is refused ...
          const bOver = await open(server, '/stream/default.wav', '198.51.100.7');
          assert.equal(bOver.status, 429);
          // ... until its WebSocket closes.
          ws.close();
          await ws.closed;
          await sleep(200);
          const bAgain = await open(server, '/stream/default.wav', '198.51.100.7');
          opened.push(bAgain);
          assert.equal(bAgain.status, 200);
          // A stream of A ends: A may open one again.
          opened[0]!.req.destroy();
          await sleep(200);
          const aAgain = await open(server, '/stream/default.wav', '203.0.113.5');
          opened.push(aAgain);
          assert.equal(aAgain.status, 200);

          // Control changes: C's bucket (2/s) runs out, D's does not.
          const patch = (client: string) =>
            json(server, 'PATCH', '/api/stations/default', { intensity: 0.4 }, { 'x-forwarded-for': client });
          const c = [await patch('192.0.2.9'), await patch('192.0.2.9'), await patch('192.0.2.9')];
          assert.deepEqual(
            c.map((r) => r.status),
            [200, 200, 429],
          );
          assert.equal((c[2]!.body!.error as Record<string, unknown>).code, 'RATE_LIMITED');
          assert.equal((await patch('192.0.2.10')).status, 200);
        } finally {
          for (const s of opened) s.req.destroy();
        }
      },
    );
  });

  it('without it, X-Forwarded-For is ignored: every connection counts for its real peer', async () => {
    await withServer({ maxConnectionsPerIp: 2 }, async (server) => {
      const opened: Opened[] = [];
      try {
        opened.push(await open(server, '/stream/default.wav', '203.0.113.1'));
        opened.push(await open(server, '/stream/default.wav', '203.0.113.2'));
        assert.deepEqual(
          opened.map((o) => o.status),
          [200, 200],
        );
        // A third "client" is the same peer (127.0.0.1): over its limit, whatever the header says.
        const third = await open(server, '/stream/default.wav', '203.0.113.3');
        assert.equal(third.status, 429);
      } finally {
        for (const s of opened) s.req.destroy();
      }
    });
  });
});
