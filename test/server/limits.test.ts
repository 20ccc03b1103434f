import assert from 'node:assert/strict';
import http from 'node:http';
import net from 'node:net';
import { describe, it } from 'node:test';
import WebSocket from 'ws';
import {
  CONFIG_DEFAULTS,
  CONFIG_TABLE,
  ConfigError,
  configHelp,
  loadConfig,
  parseFlags,
  type ServerConfig,
} from '../../src/server/config.ts';
import { ClientLimits } from '../../src/server/limits.ts';
import { ERRORS } from '../../src/server/errors.ts';
import type { AuralisServer } from '../../src/server/server.ts';
import { connect, json, sleep, withServer } from './helpers.ts';

interface RawResult {
  /** Everything the server sent. */
  text: string;
  /** The status line's code, or 0 if nothing came. */
  status: number;
  /** Parsed JSON body, when there was one. */
  body: Record<string, unknown> | null;
  /** ms from connect until the server closed the connection, or -1 if it was still open at `waitMs`. */
  closedAfterMs: number;
}

/**
 * A raw TCP client: connects, lets `drive` write (possibly slowly), and collects what the server sends
 * until it closes the connection or `waitMs` passes.
 */
function rawClient(
  server: AuralisServer,
  drive: (sock: net.Socket, stopped: () => boolean) => Promise<void> | void,
  waitMs: number,
): Promise<RawResult> {
  return new Promise((resolve) => {
    const t0 = Date.now();
    const sock = net.connect(server.port, '127.0.0.1');
    let text = '';
    let closedAfterMs = -1;
    let done = false;
    const finish = (): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      sock.destroy();
      const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(text)?.[1] ?? 0);
      const sep = text.indexOf('\r\n\r\n');
      let body: Record<string, unknown> | null = null;
      try {
        body = sep >= 0 ? (JSON.parse(text.slice(sep + 4)) as Record<string, unknown>) : null;
      } catch {
        body = null;
      }
      resolve({ text, status, body, closedAfterMs });
    };
    const timer = setTimeout(finish, waitMs);
    sock.setEncoding('latin1');
    sock.on('data', (d: string) => (text += d));
    sock.on('error', () => {});
    sock.on('close', () => {
      closedAfterMs = Date.now() - t0;
      finish();
    });
    sock.once('connect', () => void drive(sock, () => done));
  });
}

/** Writes `text` one byte every `everyMs` while the socket is open. */
async function trickle(
  sock: net.Socket,
  stopped: () => boolean,
  text: string,
  everyMs: number,
): Promise<void> {
  for (const ch of text) {
    if (stopped() || !sock.writable) return;
    sock.write(ch);
    await sleep(everyMs);
  }
}

function errorCode(body: Record<string, unknown> | null): unknown {
  return (body?.error as Record<string, unknown> | undefined)?.code;
}

/** One request on its own connection (no keep-alive pool), so connection counts are exact. */
function request(
  server: AuralisServer,
  path: string,
  opts: { method?: string; headers?: Record<string, string>; body?: string } = {},
): Promise<{ status: number; headers: http.IncomingHttpHeaders; text: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      {
        host: '127.0.0.1',
        port: server.port,
        path,
        method: opts.method ?? 'GET',
        agent: false,
        headers: { connection: 'close', ...opts.headers },
      },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (d: string) => (text += d));
        res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, text }));
      },
    );
    req.on('error', reject);
    req.end(opts.body);
  });
}

/** Opens an endless HTTP stream and counts its bytes until `stop()`. */
function openStream(
  server: AuralisServer,
  path: string,
): { bytes: () => number; closed: () => boolean; stop: () => void } {
  let n = 0;
  let closed = false;
  const sock = net.connect(server.port, '127.0.0.1');
  sock.on('data', (d: Buffer) => (n += d.length));
  sock.on('error', () => {});
  sock.on('close', () => (closed = true));
  sock.write(`GET ${path} HTTP/1.1\r\nhost: 127.0.0.1\r\n\r\n`);
  return { bytes: () => n, closed: () => closed, stop: () => sock.destroy() };
}

describe('timeouts', () => {
  it('times out a slow request body with 408 REQUEST_TIMEOUT, while streams and WebSockets outlive the request timeout', async () => {
    await withServer({ requestTimeoutMs: 1000, headersTimeoutMs: 500 }, async (server) => {
      const ws = await connect(server, 'codec=pcm');
      await ws.next('welcome');
      const ogg = openStream(server, '/stream/default.ogg');
      // A body sent within the timeout is accepted (201), on its own connection.
      const quick = await rawClient(
        server,
        async (sock, stopped) => {
          const body = '{"id":"quick"}';
          sock.write(
            `POST /api/stations HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n` +
              `content-length: ${body.length}\r\nconnection: close\r\n\r\n`,
          );
          await trickle(sock, stopped, body, 20);
        },
        10_000,
      );
      assert.equal(quick.status, 201, quick.text);
      // One byte every 200 ms: the body never completes within the timeout.
      const slow = await rawClient(
        server,
        async (sock, stopped) => {
          sock.write(
            'POST /api/stations HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: 100\r\n\r\n',
          );
          await trickle(sock, stopped, '{' + ' '.repeat(98) + '}', 200);
        },
        15_000,
      );
      assert.equal(slow.status, 408, slow.text);
      assert.equal(errorCode(slow.body), 'REQUEST_TIMEOUT');
      assert.ok(slow.closedAfterMs >= 900, `closed after ${slow.closedAfterMs} ms, before the timeout`);
      assert.ok(
        slow.closedAfterMs > 0 && slow.closedAfterMs < 10_000,
        `closed after ${slow.closedAfterMs} ms`,
      );
      // The stream and the WebSocket, both open for far longer than the request timeout, still get audio.
      await sleep(1500);
      const wsBefore = ws.chunks.length;
      const oggBefore = ogg.bytes();
      await sleep(800);
      assert.ok(ws.chunks.length > wsBefore, 'the WebSocket still receives chunks');
      assert.equal(ws.ws.readyState, WebSocket.OPEN);
      assert.ok(ogg.bytes() > oggBefore, 'the Ogg stream still receives pages');
      assert.equal(ogg.closed(), false);
      ogg.stop();
      ws.close();
    });
  });

  it('closes a slowloris head (one byte at a time) and a WebSocket upgrade that never completes with 408', async () => {
    await withServer({ headersTimeoutMs: 1000, requestTimeoutMs: 30_000 }, async (server) => {
      const head = 'GET /healthz HTTP/1.1\r\nhost: x\r\nx-slow: ' + 'a'.repeat(200) + '\r\n\r\n';
      const [loris, upgrade, silent] = await Promise.all([
        rawClient(server, (sock, stopped) => trickle(sock, stopped, head, 100), 15_000),
        rawClient(
          server,
          (sock) => {
            // The upgrade request's head never ends (no blank line).
            sock.write(
              'GET /ws HTTP/1.1\r\nhost: x\r\nupgrade: websocket\r\nconnection: Upgrade\r\n' +
                'sec-websocket-version: 13\r\nsec-websocket-key: dGhlIHNhbXBsZSBub25jZQ==\r\n',
            );
          },
          15_000,
        ),
        rawClient(server, () => {}, 15_000),
      ]);
      for (const [name, r] of [
        ['slowloris', loris],
        ['upgrade', upgrade],
      ] as const) {
        assert.equal(r.status, 408, `${name}: ${r.text}`);
        assert.equal(errorCode(r.body), 'REQUEST_TIMEOUT', name);
        assert.ok(
          r.closedAfterMs >= 900 && r.closedAfterMs < 10_000,
          `${name} closed after ${r.closedAfterMs} ms`,
        );
      }
      // A connection that never sends a byte is closed too (headers timeout from connect).
      assert.ok(
        silent.closedAfterMs >= 900 && silent.closedAfterMs < 10_000,
        `silent closed after ${silent.closedAfterMs}`,
      );
      // A head sent in full well within the timeout is served.
      const ok = await rawClient(
        server,
        (sock, stopped) => trickle(sock, stopped, head.replace('host: x', 'connection: close\r\nhost: x'), 1),
        10_000,
      );
      assert.equal(ok.status, 200, ok.text);
    });
  });

  it('closes an idle keep-alive connection after the keep-alive timeout, and serves a second request before it', async () => {
    await withServer({ keepAliveTimeoutMs: 1000, headersTimeoutMs: 5000 }, async (server) => {
      const statuses: number[] = [];
      const r = await rawClient(
        server,
        async (sock) => {
          sock.write('GET /healthz HTTP/1.1\r\nhost: x\r\n\r\n');
          await sleep(100);
          sock.write('GET /healthz HTTP/1.1\r\nhost: x\r\n\r\n');
        },
        10_000,
      );
      for (const m of r.text.matchAll(/HTTP\/1\.1 (\d{3})/g)) statuses.push(Number(m[1]));
      assert.deepEqual(statuses, [200, 200], 'both requests on the connection were served');
      // Node adds up to a second to the keep-alive timeout; the connection closes well before 10 s.
      assert.ok(r.closedAfterMs >= 1000 && r.closedAfterMs < 8000, `closed after ${r.closedAfterMs} ms`);
    });
  });
});

describe('per-address caps', () => {
  it('refuses the connection past maxConnectionsPerIp with 429 TOO_MANY_CONNECTIONS over HTTP and WebSocket', async () => {
    await withServer({ maxConnectionsPerIp: 3 }, async (server) => {
      const a = await connect(server);
      const b = await connect(server);
      await a.next('welcome');
      await b.next('welcome');
      // The third connection is at the limit: accepted (a stream).
      const stream = openStream(server, '/stream/default.wav');
      await sleep(300);
      assert.ok(stream.bytes() > 0, 'the third connection (at the limit) is served');
      // The fourth, over HTTP: 429 with the documented code, and the connection is closed.
      const over = await request(server, '/api/status');
      assert.equal(over.status, 429);
      assert.equal(over.headers.connection, 'close');
      assert.equal(over.headers['retry-after'], '1');
      assert.equal(errorCode(JSON.parse(over.text) as Record<string, unknown>), 'TOO_MANY_CONNECTIONS');
      assert.equal(ERRORS.TOO_MANY_CONNECTIONS.status, 429);
      // The fourth, as a WebSocket: the upgrade is answered 429, no WebSocket opens.
      const upgrade = await rawClient(
        server,
        (sock) => {
          sock.write(
            'GET /ws HTTP/1.1\r\nhost: x\r\nupgrade: websocket\r\nconnection: Upgrade\r\n' +
              'sec-websocket-version: 13\r\nsec-websocket-key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n',
          );
        },
        10_000,
      );
      assert.equal(upgrade.status, 429, upgrade.text);
      assert.equal(errorCode(upgrade.body), 'TOO_MANY_CONNECTIONS');
      assert.ok(upgrade.closedAfterMs >= 0, 'the server closes the refused connection');
      // An over-limit connection that sends nothing is dropped within about a second, not the 10 s
      // head timeout.
      const idle = await rawClient(server, () => {}, 15_000);
      assert.ok(
        idle.closedAfterMs >= 0 && idle.closedAfterMs < 5000,
        `idle over-limit closed after ${idle.closedAfterMs} ms`,
      );
      assert.equal(idle.text, '');
      // Music goes on for the connections within the limit.
      const before = a.chunks.length;
      await sleep(500);
      assert.ok(a.chunks.length > before);
      // One closes: a new connection is accepted again.
      b.close();
      await b.closed;
      await sleep(100);
      const again = await request(server, '/healthz');
      assert.equal(again.status, 200);
      stream.stop();
      a.close();
    });
  });

  it('caps control changes per client address across its WebSockets and the HTTP API', async () => {
    await withServer({ controlRatePerIp: 2, controlRatePerSecond: 100 }, async (server) => {
      const sockets = await Promise.all([connect(server), connect(server), connect(server)]);
      for (const s of sockets) await s.next('welcome');
      const t0 = Date.now();
      // Each socket alone is far below its own rate (100/s); together they exceed the address's 2/s.
      for (const s of sockets) {
        s.send({ type: 'set', params: { intensity: 0.4 } });
        s.send({ type: 'set', params: { intensity: 0.6 } });
      }
      await sleep(500);
      const elapsedS = (Date.now() - t0) / 1000;
      const limited = sockets.flatMap((s) =>
        s.texts.filter((t) => t.type === 'error' && t.code === 'RATE_LIMITED'),
      );
      assert.ok(limited.length >= 1, 'some of the 6 changes were refused');
      const accepted = 6 - limited.length;
      assert.ok(accepted >= 2, `the first 2 changes are accepted, got ${accepted}`);
      assert.ok(accepted <= 2 + Math.ceil(elapsedS * 2) + 1, `${accepted} accepted in ${elapsedS} s`);
      assert.match(String(limited[0]!.message), /address/);
      // The HTTP control API shares the address's bucket: a burst of PATCHes is refused too.
      const statuses: number[] = [];
      let body: Record<string, unknown> | null = null;
      for (let i = 0; i < 6; i++) {
        const r = await json(server, 'PATCH', '/api/stations/default', { intensity: 0.5 });
        statuses.push(r.status);
        if (r.status === 429) body = r.body;
      }
      assert.ok(statuses.includes(429), statuses.join(','));
      assert.equal(errorCode(body), 'RATE_LIMITED');
      // Listening is never rate-limited: every socket is still open and receiving.
      for (const s of sockets) assert.equal(s.ws.readyState, WebSocket.OPEN);
      const get = await json(server, 'GET', '/api/stations/default');
      assert.equal(get.status, 200);
      for (const s of sockets) s.close();
    });
  });

  it('takes exactly N control changes from a full bucket and refuses the N+1st', () => {
    const limits = new ClientLimits({ maxConnectionsPerIp: 1, controlRatePerIp: 5 });
    try {
      const t = 1_000_000;
      for (let i = 0; i < 5; i++) assert.equal(limits.takeControl('10.0.0.1', t), true, `change ${i + 1}`);
      assert.equal(limits.takeControl('10.0.0.1', t), false, 'the 6th in the same instant');
      assert.equal(limits.takeControl('10.0.0.2', t), true, 'another address has its own bucket');
      assert.equal(limits.takeControl('10.0.0.1', t + 200), true, 'one token back after 1/5 s');
      assert.equal(limits.takeControl('10.0.0.1', t + 200), false);
      limits.sweep(t + 5000);
      assert.equal(limits.trackedAddresses, 0, 'idle buckets are dropped');
    } finally {
      limits.close();
    }
  });
});

describe('station and session caps', () => {
  it('creates stations up to maxStations and refuses the next with 503 SERVER_FULL', async () => {
    await withServer({ maxStations: 3, maxPersonalSessions: 1 }, async (server) => {
      assert.equal((await json(server, 'POST', '/api/stations', { id: 's1' })).status, 201);
      assert.equal(
        (await json(server, 'POST', '/api/stations', { id: 's2' })).status,
        201,
        'the 3rd station (default + 2)',
      );
      const full = await json(server, 'POST', '/api/stations', { id: 's3' });
      assert.equal(full.status, 503);
      assert.equal(errorCode(full.body), 'SERVER_FULL');
      assert.match(String((full.body!.error as Record<string, unknown>).message), /3 stations/);
    });
  });

  it('opens personal sessions up to maxPersonalSessions and refuses the next with SERVER_FULL and 1013', async () => {
    await withServer({ maxPersonalSessions: 2, gracePeriodMs: 0 }, async (server) => {
      const p1 = await connect(server, 'personal=1');
      const p2 = await connect(server, 'personal=1');
      assert.equal((await p1.next('welcome')).personal, true);
      assert.equal((await p2.next('welcome')).personal, true);
      const p3 = await connect(server, 'personal=1');
      const e = await p3.next('error');
      assert.equal(e.code, 'SERVER_FULL');
      assert.match(String(e.message), /2 personal sessions/);
      assert.equal((await p3.closed).code, 1013);
      // Shared stations are a separate budget.
      assert.equal((await json(server, 'POST', '/api/stations', { id: 'shared' })).status, 201);
      // A session that ends frees its place.
      p1.close();
      await p1.closed;
      for (let i = 0; i < 200 && server.registry.personalSessions > 1; i++) await sleep(50);
      assert.equal(server.registry.personalSessions, 1);
      const p4 = await connect(server, 'personal=1');
      assert.equal((await p4.next('welcome')).personal, true);
      p2.close();
      p4.close();
    });
  });
});

describe('size limits', () => {
  it('accepts a request head of exactly maxHeaderBytes and refuses one byte more with 431 HEADERS_TOO_LARGE', async () => {
    const max = 2048;
    await withServer({ maxHeaderBytes: max }, async (server) => {
      // Counted: the URL plus every header name and value.
      for (const path of ['/healthz', '/healthz?some=query']) {
        const names = ['host', 'x-pad', 'connection'];
        const fixed = path.length + names.join('').length + 'x'.length + 'close'.length;
        const send = (n: number): Promise<RawResult> =>
          rawClient(
            server,
            (sock) => {
              sock.write(
                `GET ${path} HTTP/1.1\r\nhost: x\r\nx-pad: ${'a'.repeat(n - fixed)}\r\nconnection: close\r\n\r\n`,
              );
            },
            10_000,
          );
        const at = await send(max);
        assert.equal(at.status, 200, `${path} at ${max}: ${at.text.slice(0, 80)}`);
        const over = await send(max + 1);
        assert.equal(over.status, 431, `${path} at ${max + 1}`);
        assert.equal(errorCode(over.body), 'HEADERS_TOO_LARGE');
      }
      // The server goes on.
      assert.equal((await request(server, '/healthz')).status, 200);
    });
  });

  it('accepts a body of exactly maxBodyBytes and refuses one byte more with 413 BODY_TOO_LARGE', async () => {
    const max = 256;
    await withServer({ maxBodyBytes: max }, async (server) => {
      const prefix = '{"id":"edge","pad":"';
      const body = (n: number): string => prefix + 'x'.repeat(n - prefix.length - 2) + '"}';
      const at = await json(server, 'POST', '/api/stations', body(max));
      assert.equal(Buffer.byteLength(body(max)), max);
      assert.notEqual(at.status, 413, 'a body at the limit is read');
      assert.equal(errorCode(at.body), 'INVALID_PARAM', 'and validated (pad is not a field)');
      const over = await json(server, 'POST', '/api/stations', body(max + 1));
      assert.equal(over.status, 413);
      assert.equal(errorCode(over.body), 'BODY_TOO_LARGE');
    });
  });
});

describe('security headers', () => {
  it('sends a CSP and hardening headers on the page and the API, and no wildcard CORS except on the audio streams', async () => {
    await withServer({}, async (server) => {
      for (const path of ['/', '/api/status', '/api/stations', '/healthz', '/nowhere']) {
        const r = await request(server, path, { headers: { origin: 'https://elsewhere.example' } });
        const csp = String(r.headers['content-security-policy']);
        assert.match(csp, /default-src 'self'/, path);
        assert.match(csp, /script-src 'self'(;|$)/, `${path}: scripts from the origin only, no inline`);
        assert.match(csp, /connect-src 'self' ws:\/\/127\.0\.0\.1:\d+ wss:\/\/127\.0\.0\.1:\d+/, path);
        assert.match(csp, /frame-ancestors 'none'/, path);
        assert.equal(r.headers['x-content-type-options'], 'nosniff', path);
        assert.equal(r.headers['x-frame-options'], 'DENY', path);
        assert.equal(r.headers['referrer-policy'], 'no-referrer', path);
        assert.match(String(r.headers['permissions-policy']), /microphone=\(\)/, path);
        assert.equal(r.headers['access-control-allow-origin'], undefined, `${path}: no CORS on the API`);
      }
      // A hostile Host header is not echoed into the policy.
      const evil = await request(server, '/', { headers: { host: "x; script-src 'unsafe-inline'" } });
      assert.doesNotMatch(String(evil.headers['content-security-policy']), /unsafe-inline/);
      assert.match(String(evil.headers['content-security-policy']), /connect-src 'self';/);
      // Audio streams: public, no credentials, playable from any site.
      const res = await fetch(`${server.url}/stream/default.ogg`, {
        headers: { origin: 'https://elsewhere.example' },
      });
      assert.equal(res.status, 200);
      assert.equal(res.headers.get('access-control-allow-origin'), '*');
      await res.body!.cancel();
    });
  });
});

describe('limit settings', () => {
  it('has one row per limit with env, flag and unit, listed by --help, and validates them', () => {
    const help = configHelp();
    const rows: [keyof ServerConfig, string, string][] = [
      ['maxHeaderBytes', '--max-header-bytes', 'AURALIS_MAX_HEADER_BYTES'],
      ['headersTimeoutMs', '--headers-timeout-ms', 'AURALIS_HEADERS_TIMEOUT_MS'],
      ['requestTimeoutMs', '--request-timeout-ms', 'AURALIS_REQUEST_TIMEOUT_MS'],
      ['keepAliveTimeoutMs', '--keep-alive-timeout-ms', 'AURALIS_KEEP_ALIVE_TIMEOUT_MS'],
      ['maxConnectionsPerIp', '--max-connections-per-ip', 'AURALIS_MAX_CONNECTIONS_PER_IP'],
      ['controlRatePerIp', '--control-rate-per-ip', 'AURALIS_CONTROL_RATE_PER_IP'],
      ['maxPersonalSessions', '--max-personal-sessions', 'AURALIS_MAX_PERSONAL_SESSIONS'],
    ];
    for (const [key, flag, env] of rows) {
      const row = CONFIG_TABLE.find((s) => s.key === key);
      assert.ok(row, key);
      assert.equal(row.flag, flag);
      assert.equal(row.env, env);
      assert.ok(row.unit.length > 0, `${key} has a unit`);
      assert.match(help, new RegExp(`${flag}\\s+${env}\\s.*default ${CONFIG_DEFAULTS[key]}`));
      const companion = key === 'requestTimeoutMs' ? ['--headers-timeout-ms', String(row.min)] : [];
      assert.equal(loadConfig(parseFlags([flag, String(row.min), ...companion]))[key], row.min);
      assert.throws(
        () => loadConfig({ [key]: row.min! - 1 }),
        (e: unknown) => e instanceof ConfigError && e.setting === key,
      );
    }
    assert.throws(
      () => loadConfig({ headersTimeoutMs: 5000, requestTimeoutMs: 4000 }),
      (e: unknown) => e instanceof ConfigError && e.setting === 'headersTimeoutMs',
    );
    // Lowering maxStations alone is valid: personal sessions count against it too.
    assert.equal(loadConfig({ maxStations: 5 }).maxPersonalSessions, CONFIG_DEFAULTS.maxPersonalSessions);
  });
});
